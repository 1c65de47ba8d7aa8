"""Benchmark: a mixed load on the whole service (issue 7, "Proof").

gunicorn (2 workers, gthread) on 127.0.0.1 serves the production app over 1,000,000 active
stamps and a catalogue of published products, first on SQLite, then on PostgreSQL (when
``BENCH_PG_URL`` or the test database at 127.0.0.1:5432 answers).  ``wrk`` sends, for 60 s at
64 connections, a shuffled mix of 80 % stamp scans (``/s/<SERIAL>``, random valid serials,
recording on), 15 % catalogue pages (home, search, product and producer pages) and 5 % API
reads with a personal access token (``/api/v1/products``, ``/api/v1/batches/…/events``,
``/api/v1/catalogue``).  Each wrk thread drives one connection and times its own requests
(LuaJIT's clock), so p50/p99 are per kind.  Prints requests/s, p50/p99 and errors per kind
and in all, and PostgreSQL's throughput as a share of SQLite's (target >= 0.8x); exit
status 1 on any error.

Then, on the same server, each kind alone for BENCH_ALONE_DURATION seconds (stamps not yet
scanned, the same catalogue and API paths): what each kind costs on PostgreSQL compared with
SQLite by itself, so the mixed ratio can be read against its parts.

Run: ``.venv/bin/python bench/mixed.py`` (needs ``wrk``; about 7 minutes on 2 cores).  Knobs
(environment): BENCH_STAMPS (1000000), BENCH_DURATION (60), BENCH_ALONE_DURATION (15), BENCH_CONNECTIONS (64),
BENCH_THREADS (4 per worker), BENCH_PG_URL (postgresql+psycopg://postgres@127.0.0.1:5432/test,
"" to skip PostgreSQL).  On PostgreSQL the benchmark works in a schema of its own, dropped at
the end.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

os.environ.setdefault("BENCH_SERIALS", "200000")
os.environ.setdefault("BENCH_THREADS", "4")
import scan  # noqa: E402  (the stamp benchmark's database builder and server)

DURATION = int(os.environ.get("BENCH_DURATION", "60"))
ALONE_DURATION = int(os.environ.get("BENCH_ALONE_DURATION", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MIX = (("stamp", 80), ("catalogue", 15), ("api", 5))
PG_TARGET = 0.8  # PostgreSQL's throughput as a share of SQLite's on the same machine (issue 19, point 2)
PRODUCTS = 60

WRK_SCRIPT = r"""
-- args: [1] file of "kind<TAB>path" lines; one connection per wrk thread, so each thread
-- times its own requests (request() then response(), strictly in turn)
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } timespec_t;
int clock_gettime(int clk_id, timespec_t *tp);
]]
local ts = ffi.new("timespec_t")
local function now_us()
  ffi.C.clock_gettime(1, ts)  -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

local threads = {}
local lines, kinds, count, index = {}, {}, 0, 0
local started, current = 0, nil
-- flat tables and numbers only: wrk copies those from a thread to done() (nested tables crash it)
lat_stamp, lat_catalogue, lat_api = {}, {}, {}
err_stamp, err_catalogue, err_api = 0, 0, 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    local kind, path = line:match("^(%S+)\t(.*)$")
    count = count + 1
    kinds[count], lines[count] = kind, path
  end
  index = (id * 7919) % count
end

function request()
  index = index % count + 1
  current = kinds[index]
  started = now_us()
  if current == "api" then
    return wrk.format("GET", lines[index], {["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")})
  end
  return wrk.format("GET", lines[index])
end

function response(status, headers, body)
  local us = math.floor(now_us() - started)
  local bad = status >= 400 and 1 or 0
  if current == "stamp" then
    lat_stamp[#lat_stamp + 1] = us; err_stamp = err_stamp + bad
  elseif current == "catalogue" then
    lat_catalogue[#lat_catalogue + 1] = us; err_catalogue = err_catalogue + bad
  else
    lat_api[#lat_api + 1] = us; err_api = err_api + bad
  end
end

function done(summary, latency, requests)
  local out = {}
  for _, t in ipairs(threads) do
    for _, kind in ipairs({"stamp", "catalogue", "api"}) do
      local values = t:get("lat_" .. kind)
      out[#out + 1] = string.format('{"kind": "%s", "errors": %d, "us": [%s]}', kind, t:get("err_" .. kind),
                                    table.concat(values, ","))
    end
  end
  local x = summary.errors
  io.write(string.format('BENCHJSON {"duration_us": %d, "requests": %d, "socket_errors": %d, "threads": [%s]}\n',
    summary.duration, summary.requests, x.connect + x.read + x.write + x.timeout, table.concat(out, ",")))
end
"""


def add_catalogue(url: str) -> tuple[list[str], str]:
    """Published products of several producers, a diary to read, and an API token; returns
    the mixed paths (catalogue and API) and the token."""
    from decimal import Decimal

    from marketplace import create_app
    from marketplace.catalogue.service import create_producer, create_product, publish_product, submit_product
    from marketplace.extensions import db
    from marketplace.models import ApiToken, Batch, Product, ProductGroup, User

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    names = ("Gạo nếp cái hoa vàng", "Mật ong hoa nhãn", "Nem chua Thanh Hóa", "Chè lam Phủ Quảng",
             "Bưởi Luận Văn", "Rượu làng Quần", "Mắm tôm Hậu Lộc", "Cam Vân Du")
    with app.app_context():
        s = db.session
        groups = s.scalars(db.select(ProductGroup).where(ProductGroup.parent_id.is_not(None))).all()
        wards = (15724, 15667, 15670, 15673)
        producers = []
        for i in range(6):
            p = create_producer(s, {"kind": "household", "name": f"Hộ sản xuất số {i + 1}", "representative": "Bench",
                                    "phone": "0912345678", "province_code": 38, "ward_code": wards[i % 4]})
            p.status = "approved"
            producers.append(p)
        s.flush()
        for i in range(PRODUCTS):
            product = create_product(s, producers[i % 6], {
                "name": f"{names[i % len(names)]} {i + 1}", "group_id": groups[i % len(groups)].id,
                "net_quantity": Decimal("1"), "unit": "kg", "price_vnd": 50000 + 1000 * i, "stock": 10})
            submit_product(product)
            publish_product(product)
        bench_producer = s.scalar(db.select(Product).order_by(Product.id)).producer
        user = User(email="api@bench.vn", name="API", role="producer", producer=bench_producer,
                    producer_role="owner", password_hash="x")
        token, secret = ApiToken.issue(user, "bench")
        s.add_all([user, token])
        s.commit()
        slugs = list(s.scalars(db.select(Product.slug).where(Product.status == "published")))
        producer_slugs = [p.slug for p in producers]
        batch_id = s.scalar(db.select(Batch.id))
        s.remove()
        db.engine.dispose()
    catalogue = (["/", "/?q=gao", "/?q=mat+ong", "/?stars=3", "/?page=2"] + [f"/p/{slug}" for slug in slugs]
                 + [f"/producers/{slug}" for slug in producer_slugs])
    api = ["/api/v1/products?limit=20", f"/api/v1/batches/{batch_id}/events", "/api/v1/catalogue?limit=20",
           f"/api/v1/batches/{batch_id}", "/api/v1/producers"]
    return catalogue + ["api\t" + p for p in api], secret


def mixed_paths(serials: list[str], extra: list[str], n: int, mix=MIX) -> list[str]:
    """``n`` "kind<TAB>path" lines drawn by the weights of ``mix``, each stamp line a serial of
    ``serials`` in turn (each scanned once)."""
    catalogue = [p for p in extra if not p.startswith("api\t")]
    api = [p.split("\t", 1)[1] for p in extra if p.startswith("api\t")]
    rng = random.Random(7)
    lines = []
    stamps = iter(serials)
    for _ in range(n):
        kind = rng.choices([k for k, _w in mix], weights=[w for _k, w in mix])[0]
        if kind == "stamp":
            lines.append(f"stamp\t/s/{next(stamps)}")
        elif kind == "catalogue":
            lines.append(f"catalogue\t{rng.choice(catalogue)}")
        else:
            lines.append(f"api\t{rng.choice(api)}")
    return lines


def ms(values_us: list[int], p: float) -> float:
    return scan.percentile(sorted(values_us), p) / 1000 if values_us else 0.0


def load(wrk: str, port: int, script: str, lines: list[str], paths_file: str, seconds: int, env: dict) -> dict:
    """``wrk`` on ``lines`` for ``seconds``: per kind (and in all) requests, req/s, p50, p99
    and errors, and the socket errors."""
    Path(paths_file).write_text("\n".join(lines) + "\n")
    out = subprocess.run([wrk, "-t", str(CONNECTIONS), "-c", str(CONNECTIONS), "-d", f"{seconds}s",
                          "--timeout", "5s", "-s", script, f"http://127.0.0.1:{port}", "--", paths_file],
                         capture_output=True, text=True, env=env)
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}{out.stderr}")
    data = json.loads(line[len("BENCHJSON "):])
    seconds = data["duration_us"] / 1e6
    kinds: dict[str, dict] = {}
    for t in data["threads"]:
        k = kinds.setdefault(t["kind"], {"us": [], "errors": 0})
        k["us"] += t["us"]
        k["errors"] += t["errors"]
    every = [v for k in kinds.values() for v in k["us"]]
    result = {"seconds": seconds, "socket_errors": data["socket_errors"], "kinds": {}}
    for kind, _w in MIX + (("all", 100),):
        values = every if kind == "all" else kinds.get(kind, {"us": []})["us"]
        errors = sum(k["errors"] for k in kinds.values()) if kind == "all" else kinds.get(kind, {}).get("errors", 0)
        result["kinds"][kind] = {"requests": len(values), "rps": len(values) / seconds, "errors": errors,
                                 "p50": ms(values, 50), "p99": ms(values, 99)}
    return result


def run_one(label: str, url: str, wrk: str, tmp: str) -> dict:
    """The mixed load, then each kind alone, on one server over a database built for it."""
    started = time.perf_counter()
    serials, _setup = scan.build_database(url)
    extra, secret = add_catalogue(url)
    print(f"[{label}] {scan.STAMPS:,} active stamps, {PRODUCTS} published products: built in "
          f"{time.perf_counter() - started:.0f} s")
    warm, serials = serials[:400], serials[400:]
    # the stamps alone get serials of their own (the last third), so they too are first scans
    mixed_serials, alone_serials = serials[:2 * len(serials) // 3], serials[2 * len(serials) // 3:]
    script = f"{tmp}/mixed.lua"
    Path(script).write_text(WRK_SCRIPT)
    env = dict(os.environ, DATABASE_URL=url, UPLOAD_DIR=f"{tmp}/uploads", SECRET_KEY="bench", SCAN_RECORDING="1",
               BENCH_TOKEN=secret, API_RATE_LIMIT="1000000 per minute")
    env.pop("SCAN_FLUSH_SECONDS", None)
    paths_file = f"{tmp}/mixed-{label}.txt"
    with scan.serving(env) as port:
        scan.warm_up(port, [f"/s/{s}" for s in warm] + [p for p in extra if not p.startswith("api\t")] * 4)
        result = load(wrk, port, script, mixed_paths(mixed_serials, extra, len(mixed_serials)), paths_file,
                      DURATION, env)
        result["alone"] = {}
        if ALONE_DURATION > 0:
            for kind, _w in MIX:
                lines = mixed_paths(alone_serials, extra, len(alone_serials), mix=((kind, 1),))
                found = load(wrk, port, script, lines, paths_file, ALONE_DURATION, env)
                result["alone"][kind] = {**found["kinds"][kind], "socket_errors": found["socket_errors"]}
    return result


def pg_available(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


def main() -> int:
    wrk = shutil.which(scan.WRK)
    if wrk is None:
        print("wrk is not installed (apt-get install wrk): the mixed benchmark needs it for per-kind latencies")
        return 1
    print(f"Mixed load: {DURATION} s at {CONNECTIONS} connections ({scan.wrk_version(wrk)}, one connection per "
          f"thread), {', '.join(f'{w} % {k}' for k, w in MIX)}; gunicorn {scan.WORKERS} workers × gthread "
          f"{scan.THREADS} threads on 127.0.0.1, {os.cpu_count()} CPUs, scan recording on")
    print(f"machine load average before: {os.getloadavg()[0]:.2f}")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = run_one("SQLite", f"sqlite:///{tmp}/mixed.db", wrk, tmp)
        if PG_URL and pg_available(PG_URL):
            import sqlalchemy as sa

            schema = f"bench_{uuid.uuid4().hex[:8]}"
            engine = sa.create_engine(PG_URL)
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            sep = "&" if "?" in PG_URL else "?"
            url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
            try:
                results["PostgreSQL"] = run_one("PostgreSQL", url, wrk, tmp)
            finally:
                with engine.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                engine.dispose()
        else:
            print(f"PostgreSQL: skipped ({'BENCH_PG_URL is empty' if not PG_URL else 'not reachable at ' + PG_URL})")
    print(f"{'database':<12}{'kind':<11}{'requests':>10}{'share':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    failed = False
    for db_name, r in results.items():
        total = r["kinds"]["all"]["requests"] or 1
        for kind, k in r["kinds"].items():
            print(f"{db_name:<12}{kind:<11}{k['requests']:>10}{100 * k['requests'] / total:>7.1f}%{k['rps']:>9.0f}"
                  f"{k['p50']:>9.1f}{k['p99']:>9.1f}{k['errors']:>8}")
        if r["socket_errors"] or r["kinds"]["all"]["errors"]:
            failed = True
        print(f"{db_name:<12}socket errors (connect/read/write/timeout): {r['socket_errors']}")
    alone = {name: r["alone"] for name, r in results.items() if r["alone"]}
    if alone:
        print(f"each kind alone, {ALONE_DURATION} s each, same servers and connections:")
        print(f"{'database':<12}{'kind':<11}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
        for db_name, kinds in alone.items():
            for kind, k in kinds.items():
                print(f"{db_name:<12}{kind:<11}{k['rps']:>9.0f}{k['p50']:>9.1f}{k['p99']:>9.1f}{k['errors']:>8}")
                failed = failed or bool(k["errors"] or k["socket_errors"])
    print(f"errors in all: {'0 (target 0: met)' if not failed else 'SOME (target 0: MISSED)'}")
    if {"SQLite", "PostgreSQL"} <= results.keys() and results["SQLite"]["kinds"]["all"]["rps"]:
        ratio = results["PostgreSQL"]["kinds"]["all"]["rps"] / results["SQLite"]["kinds"]["all"]["rps"]
        print(f"PostgreSQL / SQLite throughput: {ratio:.2f}x (issue 19's target >= {PG_TARGET}x: "
              f"{'met' if ratio >= PG_TARGET else 'MISSED'}; a missed one does not fail the run)")
        if {"SQLite", "PostgreSQL"} <= alone.keys():
            parts = ", ".join(f"{kind} {alone['PostgreSQL'][kind]['rps'] / alone['SQLite'][kind]['rps']:.2f}x"
                              for kind in alone["SQLite"] if alone["SQLite"][kind]["rps"])
            print(f"PostgreSQL / SQLite throughput, each kind alone: {parts}")
    print(f"machine load average after: {os.getloadavg()[0]:.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
