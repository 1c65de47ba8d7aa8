"""Benchmark: the stamp page ``/s/<SERIAL>`` beside a bare ``/hello`` of the same app (issue 4).

Builds a temporary SQLite database through the migrations with one producer, product and
batch and 1,000,000 active stamps, then serves ``bench/scan_app.py`` (the production app plus
``/hello``) with gunicorn (2 workers, gthread) on 127.0.0.1 twice: scan recording off, then on
(at its default flush interval).  Each server gets its own random valid serials and each path
is loaded for 10 s at 32 connections, in 5 slices of 2 s alternating with the other path (the
machine's speed drifts; alternating keeps the ratio fair): ``wrk`` when installed (a Lua
script walks the shuffled serials, one serial per request), otherwise a Python load
generator (processes × threads of keep-alive ``http.client`` connections).  Prints
requests/s, p50, p99 and errors of every run, the ratio stamp/hello with recording on against
the targets (≥ 0.5× hello, p99 ≤ 50 ms, 0 errors), what recording costs (p99 off → on), and
checks that every scan was recorded.

Run: ``.venv/bin/python bench/scan.py`` (about 2 minutes on 2 cores).  Knobs (environment):
BENCH_STAMPS (1000000), BENCH_DURATION (10), BENCH_ROUNDS (5), BENCH_CONNECTIONS (32),
BENCH_THREADS (4 per worker), BENCH_SERIALS (random serials drawn, 60000), BENCH_LOAD_PROCS (Python generator
processes, 4), BENCH_WRK (the wrk executable looked up, "wrk").

Exit status 1 on request errors or scans not recorded; a missed performance target is
printed (MISSED) but does not fail the run.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import http.client
import io
import json
import multiprocessing as mp
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WRK = os.environ.get("BENCH_WRK", "wrk")
STAMPS = int(os.environ.get("BENCH_STAMPS", "1000000"))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))  # hello and stamp alternate in DURATION/ROUNDS slices
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "32"))
WORKERS = 2
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
SERIALS = int(os.environ.get("BENCH_SERIALS", "60000"))
LOAD_PROCS = int(os.environ.get("BENCH_LOAD_PROCS", "4"))
WARMUP = 400  # requests per path before measuring (templates, caches, pools of both workers)
RUN = 100_000  # stamps per issue_run (its maximum)
TARGET_RATIO, TARGET_P99_MS = 0.5, 50.0
# A phone browser, so the recorder classifies a realistic user agent.
USER_AGENT = ("Mozilla/5.0 (Linux; Android 13; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Mobile Safari/537.36")

WRK_SCRIPT = r"""
-- args: [1] file of request paths (one a line, optional), [2] number of wrk threads
local paths, index, count = {}, 0, 0
local threads = {}
wrk.headers["User-Agent"] = os.getenv("BENCH_UA")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  if args[1] then
    for line in io.lines(args[1]) do paths[#paths + 1] = line end
    count = #paths
    -- each wrk thread walks its own stretch of the shuffled list: one serial per request
    index = id * math.floor(count / tonumber(args[2] or 1))
  end
end

function request()
  if count == 0 then return wrk.request() end
  index = index % count + 1
  return wrk.format(nil, paths[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  -- the latency distribution as 1,000 quantiles, so slices of a run can be merged
  local q = {}
  for i = 1, 1000 do q[i] = string.format("%d", latency:percentile(i / 10)) end
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "q_us": [%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(q, ",")))
end
"""


# ---- database ------------------------------------------------------------------------------

def build_database(url: str) -> tuple[list[str], float]:
    """Migrate, then one producer/product/batch (with a diary) and STAMPS active stamps."""
    import datetime as dt
    from decimal import Decimal

    from flask_migrate import upgrade

    from marketplace import create_app
    from marketplace.catalogue.service import create_producer, create_product, publish_product, submit_product
    from marketplace.extensions import db
    from marketplace.models import ProductGroup
    from marketplace.stamps.service import activate_run, issue_run
    from marketplace.trace.service import LOCAL_TZ, append_event, create_batch

    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    log = io.StringIO()
    with app.app_context():
        try:
            with contextlib.redirect_stderr(log):  # Alembic's INFO lines (logging.ini → stderr)
                upgrade()
        except BaseException:
            sys.stderr.write(log.getvalue())
            raise
        s = db.session
        producer = create_producer(s, {"kind": "cooperative", "name": "HTX Nông nghiệp Thọ Xuân",
                                       "representative": "Lê Văn Bench", "phone": "0912345678",
                                       "province_code": 38, "ward_code": 15724})
        producer.status = "approved"
        group = s.scalars(db.select(ProductGroup)).first()
        product = create_product(s, producer, {"name": "Gạo nếp cái hoa vàng", "group_id": group.id,
                                               "net_quantity": Decimal("2"), "unit": "kg",
                                               "price_vnd": 90000, "stock": 100})
        submit_product(product)
        publish_product(product)
        batch = create_batch(s, product, lot_code="BENCH-2025", quantity=Decimal("5000"), unit="kg",
                             production_date=dt.date(2025, 10, 1))
        s.flush()
        for day, kind, place in ((1, "harvest", "Cánh đồng xã Thọ Dân"), (3, "processing", "Xưởng HTX"),
                                 (5, "packing", "Xưởng HTX")):
            append_event(s, batch, kind=kind, occurred_at=dt.datetime(2025, 10, day, 8, 0, tzinfo=LOCAL_TZ),
                         place=place)
        s.commit()
        done = 0
        while done < STAMPS:
            run = issue_run(s, batch, min(RUN, STAMPS - done))
            activate_run(s, run)
            s.commit()
            done += run.count
        serials = list(s.scalars(db.text("SELECT serial FROM stamp ORDER BY random() LIMIT :n"),
                                 {"n": min(SERIALS, STAMPS)}))
        s.remove()
        db.engine.dispose()
    return serials, time.perf_counter() - started


def recorded_scans(path: str) -> tuple[int, int]:
    import sqlite3

    conn = sqlite3.connect(path, timeout=30)
    try:
        total = conn.execute("SELECT COALESCE(SUM(scan_count), 0) FROM stamp").fetchone()[0]
        rows = conn.execute("SELECT COUNT(*) FROM scan").fetchone()[0]
    finally:
        conn.close()
    return total, rows


# ---- HTTP helpers --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(port: int, path: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"User-Agent": USER_AGENT})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def warm_up(port: int, paths: list[str]) -> int:
    """Concurrent requests so both workers compile templates and fill their caches; returns
    the number of 200s (stamp requests are recorded scans too)."""
    with cf.ThreadPoolExecutor(8) as pool:
        return sum(status == 200 for status, _ in pool.map(lambda p: get(port, p), paths))


def percentile(ordered, p: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


# ---- load: wrk -----------------------------------------------------------------------------

def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    return (out.stdout + out.stderr).split("Copyright")[0].strip() or "wrk"


def load_wrk(wrk: str, port: int, path: str, paths_file: str | None, script: str) -> dict:
    threads = 1  # one wrk thread drives 32 connections easily and leaves the 2 cores to the server
    cmd = [wrk, "-t", str(threads), "-c", str(CONNECTIONS), "-d", f"{DURATION // ROUNDS}s", "--timeout", "5s",
           "-s", script, f"http://127.0.0.1:{port}{path}"]
    if paths_file:
        cmd += ["--", paths_file, str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, BENCH_UA=USER_AGENT))
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCHJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}{out.stderr}")
    r = json.loads(line.split(" ", 1)[1])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    seconds = r["duration_us"] / 1e6
    # wrk counts a completed response in "requests" and, if its status is ≥ 400, in "status" too;
    # socket errors and timeouts are requests that never completed.
    return {"requests": r["requests"], "ok": r["requests"] - r["status"],
            "errors": errors, "seconds": seconds, "q": [v / 1000 for v in r["q_us"]]}


# ---- load: Python fallback -----------------------------------------------------------------

def _load_process(port: int, paths: list[str], threads: int, first: int, total_threads: int,
                  duration: float, barrier, results) -> None:
    """One generator process: ``threads`` keep-alive connections, each walking its own
    stretch of ``paths`` (thread ``first + k`` of ``total_threads``)."""
    import threading

    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    headers = {"User-Agent": USER_AGENT}
    conns = []
    for _ in range(threads):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.connect()
        conns.append(conn)
    barrier.wait()
    deadline = time.monotonic() + duration

    def run(k: int, conn) -> None:
        mine: list[float] = []
        ok = errors = 0
        step = max(1, len(paths) // total_threads)
        i = (first + k) * step
        clock = time.perf_counter
        while True:
            path = paths[i % len(paths)]
            i += 1
            start = clock()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            end = clock()
            if time.monotonic() > deadline:
                break  # like wrk: a response that arrives after the window is not counted
            mine.append(end - start)
            if status == 200:
                ok += 1
            else:
                errors += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            counts["ok"] += ok
            counts["errors"] += errors

    workers = [threading.Thread(target=run, args=(k, c)) for k, c in enumerate(conns)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put((array("d", latencies).tobytes(), counts["ok"], counts["errors"]))


def load_python(port: int, path: str, paths: list[str] | None) -> dict:
    ctx = mp.get_context("spawn")  # children import this module only, not the app
    procs = max(1, min(LOAD_PROCS, CONNECTIONS))
    per = [CONNECTIONS // procs + (1 if i < CONNECTIONS % procs else 0) for i in range(procs)]
    barrier, results = ctx.Barrier(procs + 1), ctx.Queue()
    children, first = [], 0
    for n in per:
        child = ctx.Process(target=_load_process, args=(port, paths or [path], n, first, CONNECTIONS,
                                                        float(DURATION // ROUNDS), barrier, results))
        child.start()
        children.append(child)
        first += n
    barrier.wait(timeout=60)
    started = time.monotonic()
    latencies, ok, errors = array("d"), 0, 0
    for _ in children:
        data, o, e = results.get(timeout=DURATION // ROUNDS + 60)
        latencies.frombytes(data)
        ok, errors = ok + o, errors + e
    elapsed = max(time.monotonic() - started, DURATION // ROUNDS)
    for child in children:
        child.join()
    ordered = sorted(latencies)
    return {"requests": len(ordered), "ok": ok, "errors": errors, "seconds": elapsed,
            "q": [percentile(ordered, i / 10) * 1000 for i in range(1, 1001)]}


def combine(slices: list[dict]) -> dict:
    """One result from the slices of a path: counts add up, req/s over their total time,
    p50/p99 from the slices' latency quantiles weighted by their requests."""
    total = sum(r["requests"] for r in slices)
    points = sorted((v, r["requests"] / len(r["q"])) for r in slices for v in r["q"])

    def quantile(p: float) -> float:
        seen = 0.0
        for value, weight in points:
            seen += weight
            if seen >= p / 100 * total:
                return value
        return points[-1][0] if points else float("nan")

    return {"requests": total, "ok": sum(r["ok"] for r in slices), "errors": sum(r["errors"] for r in slices),
            "rps": total / sum(r["seconds"] for r in slices), "p50": quantile(50), "p99": quantile(99),
            "slices": [r["requests"] / r["seconds"] for r in slices]}


# ---- main ----------------------------------------------------------------------------------

@contextlib.contextmanager
def serving(env: dict):
    """gunicorn with ``bench/scan_app.py`` on a free port; stopped gracefully (each worker
    flushes the scans it holds) on exit."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", str(WORKERS), "--worker-class", "gthread",
         "--threads", str(THREADS), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "--pythonpath", str(ROOT / "bench"), "scan_app:app"], cwd=ROOT, env=env)
    try:
        for _ in range(150):
            try:
                if get(port, "/hello")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not start")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure(port: int, wrk: str | None, warm: list[str], paths: list[str], tmp: str, script: str) -> dict:
    """Warm both paths up, then load /hello and the stamp page in alternating slices (this
    machine's speed drifts from one second to the next: alternating keeps the ratio fair).
    Each stamp slice walks its own share of the serials, so every request is a first scan."""
    warm_ok = warm_up(port, ["/hello"] * WARMUP)
    stamp_warm_ok = warm_up(port, [f"/s/{s}" for s in warm])
    if warm_ok != WARMUP or stamp_warm_ok != len(warm):
        print(f"warm-up errors: /hello {WARMUP - warm_ok}, stamp {len(warm) - stamp_warm_ok}")
    hello, stamp = [], []
    share = len(paths) // ROUNDS
    for k in range(ROUNDS):
        mine = paths[k * share:(k + 1) * share]
        if wrk:
            paths_file = f"{tmp}/paths-{port}-{k}.txt"
            Path(paths_file).write_text("\n".join(mine) + "\n")
            hello.append(load_wrk(wrk, port, "/hello", None, script))
            stamp.append(load_wrk(wrk, port, "/s/", paths_file, script))
        else:
            hello.append(load_python(port, "/hello", None))
            stamp.append(load_python(port, "/s/", mine))
    return {"hello": combine(hello), "stamp": combine(stamp), "stamp_warm_ok": stamp_warm_ok}


def main() -> int:
    sys.path.insert(0, str(ROOT))
    wrk = shutil.which(WRK)
    with tempfile.TemporaryDirectory() as tmp:
        db_path = f"{tmp}/bench.db"
        url = f"sqlite:///{db_path}"
        serials, setup_seconds = build_database(url)
        script = f"{tmp}/bench.lua"
        Path(script).write_text(WRK_SCRIPT)
        # Two servers, recording off then on, each with its own serials (all first scans).
        half = len(serials) // 2
        runs = {}
        if wrk:
            loader = f"{wrk_version(wrk)}, 1 thread"
        else:
            print(f"{WRK} is absent (not on PATH): using the Python load generator instead "
                  f"(slower than wrk: it shares the {os.cpu_count()} CPUs with the server, so req/s are lower "
                  f"and the ratio less telling)")
            loader = f"Python generator ({LOAD_PROCS} processes × keep-alive http.client threads)"
        print(f"Stamp page benchmark: gunicorn {WORKERS} workers × gthread {THREADS} threads on 127.0.0.1, "
              f"{os.cpu_count()} CPUs; SQLite with {STAMPS:,} active stamps (built in {setup_seconds:.1f} s)")
        print(f"load: {loader}, {CONNECTIONS} connections, {DURATION} s per path in {ROUNDS} slices alternating "
              f"with the other path; "
              f"{half - WARMUP:,} distinct random valid serials per server, one per request")
        print(f"machine load average before the run: {os.getloadavg()[0]:.2f} "
              f"(other work on the {os.cpu_count()} CPUs skews the numbers)")
        for name, recording, chunk in (("off", "0", serials[:half]), ("on", "1", serials[half:])):
            warm, measured = chunk[:WARMUP], chunk[WARMUP:]
            paths = [f"/s/{s}" for s in measured]
            env = dict(os.environ, DATABASE_URL=url, UPLOAD_DIR=f"{tmp}/uploads", SECRET_KEY="bench",
                       SCAN_RECORDING=recording)
            env.pop("SCAN_FLUSH_SECONDS", None)  # the default interval: recording as in production
            with serving(env) as port:
                runs[name] = measure(port, wrk, warm, paths, tmp, script)
            if name == "on":  # the server has stopped: every worker flushed its last scans
                recorded = recorded_scans(db_path)

        print(f"{'scan recording':<16}{'path':<14}{'requests':>10}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
              f"{'ratio':>8}   req/s by slice")
        for name, run in runs.items():
            for path, r in (("/hello", run["hello"]), ("/s/<SERIAL>", run["stamp"])):
                ratio = f"{r['rps'] / run['hello']['rps']:.2f}×" if path != "/hello" and run["hello"]["rps"] else ""
                print(f"{name:<16}{path:<14}{r['requests']:>10}{r['errors']:>8}{r['rps']:>9.0f}{r['p50']:>9.1f}"
                      f"{r['p99']:>9.1f}{ratio:>8}   {' '.join(f'{v:.0f}' for v in r['slices'])}")
        on, off = runs["on"], runs["off"]
        ratio = on["stamp"]["rps"] / on["hello"]["rps"] if on["hello"]["rps"] else 0.0
        errors = sum(r[k]["errors"] for r in runs.values() for k in ("hello", "stamp"))
        checks = [
            (f"stamp/hello {ratio:.2f}× with recording on (target ≥ {TARGET_RATIO}×)", ratio >= TARGET_RATIO),
            (f"stamp p99 {on['stamp']['p99']:.1f} ms with recording on (target ≤ {TARGET_P99_MS:g} ms)",
             on["stamp"]["p99"] <= TARGET_P99_MS),
            (f"errors {errors} (target 0)", errors == 0),
        ]
        for label, ok in checks:
            print(f"{label:<58}{'met' if ok else 'MISSED'}")
        print(f"recording's cost: stamp p99 {off['stamp']['p99']:.1f} ms off → {on['stamp']['p99']:.1f} ms on, "
              f"p50 {off['stamp']['p50']:.1f} → {on['stamp']['p50']:.1f} ms, "
              f"req/s {off['stamp']['rps']:.0f} → {on['stamp']['rps']:.0f} "
              f"(hello p99 in the same runs: {off['hello']['p99']:.1f} / {on['hello']['p99']:.1f} ms)")
        print(f"machine load average after the run: {os.getloadavg()[0]:.2f} "
              f"(the benchmark itself adds up to ~3: two workers and the load generator)")
        # Recording off wrote nothing; with it on, every successful request is one scan.  The
        # last requests in flight when a wrk slice stops are answered (and recorded) but not
        # counted: at most one per connection and slice.
        expected = on["stamp_warm_ok"] + on["stamp"]["ok"]
        total, rows = recorded
        recorded_ok = expected <= total <= expected + CONNECTIONS * ROUNDS and rows == total
        print(f"scans recorded: sum(scan_count) {total}, scan rows {rows}; successful stamp requests with "
              f"recording on {expected} (incl. {on['stamp_warm_ok']} warm-up): {'ok' if recorded_ok else 'MISMATCH'}")
        return 0 if recorded_ok and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
