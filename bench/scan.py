"""Benchmark: the stamp page against a bare Flask app and against its practical limit (issue 19).

What is measured, in one run, on SQLite and on PostgreSQL, at 32 and at 128 connections:

1. ``bare Flask hello``: ``bench/hello_app.py``, Flask with no extension, ``/hello`` → "hello";
2. ``raw stamp page``: ``bench/raw_stamp_app.py``, the stamp page's work done the cheapest
   way (raw WSGI, one query, ``str.format``, scans written once a second): the practical limit;
3. ``/s/<SERIAL>``: the stamp page of the production app (``wsgi:app``), scan recording on at
   its default flush interval;
4. ``Digital Link``: ``/01/<gtin14>/10/<lot>/21/<SERIAL>`` of the production app, the URL a
   label of a product with a GTIN prints (marketplace/stamps/service.py ``stamp_url``): a 307
   to the stamp page, not followed, which records no scan.

Per database, a temporary database is built through the migrations with one producer, product
(GTIN 08934567890120), batch (with a diary) and BENCH_STAMPS active stamps (PostgreSQL: in a
fresh schema ``bench_scan`` of BENCH_PG_URL's database, dropped at the end, on failure too).
Three gunicorn servers are started the same way (``gunicorn -c <config> --bind 127.0.0.1:<port>
--log-level warning --pythonpath bench <module>:app``): the production app with
deploy/gunicorn.conf.py, the two bare apps with bench/gunicorn_bare.conf.py (the same
settings without the production ``post_fork``).  After a warm-up, the four paths are loaded
in turn in slices of BENCH_DURATION / BENCH_ROUNDS seconds, BENCH_ROUNDS rounds (the
machine's speed drifts; alternating keeps the ratios fair), first at 32 connections, then at
128: ``wrk`` when installed (a Lua script walks a list of paths, one random serial per request,
each server its own serials, so every request is a first scan), otherwise a Python load
generator.  Printed per database and connection count: requests/s, p50, p99, errors and the
ratio to bare hello of every path; each server's worker memory after the load (RSS, which
counts the pages a preloaded worker shares with the master in each worker, and PSS, which
divides them: the fair figure); on SQLite the size of the ``-wal`` file.  Then the targets,
met or MISSED (SQLite: ``/s/`` and the Digital Link ≥ 0.6× bare hello, ``/s/`` p99 ≤ 30 ms at
32 connections, ≤ 80 ms at 128; PostgreSQL: ``/s/`` ≥ 0.3×, p99 ≤ 40 ms at 32; production
worker RSS ≤ 90 MB), and the checks: no request errors, every answered stamp request recorded
as one scan, none by the Digital Link's 307.

Run: ``.venv/bin/python bench/scan.py`` (about 4 minutes on 2 cores).  Knobs (environment):
BENCH_STAMPS (1000000 on SQLite), BENCH_PG_STAMPS (300000 on PostgreSQL), BENCH_DURATION (10 s
per path and connection count), BENCH_ROUNDS (5), BENCH_SERIALS (random serials drawn, shared
among the three stamp paths, 450000), BENCH_DATABASES ("sqlite,postgresql"), BENCH_CONNECTIONS
("32,128"), BENCH_PG_URL (postgresql+psycopg://postgres@127.0.0.1:5432/test; when it does not
answer, SQLite only), BENCH_LOAD_PROCS (Python generator processes, 4), BENCH_WRK (the wrk
executable looked up, "wrk").  Workers and threads are deploy/gunicorn.conf.py's (its
GUNICORN_WORKERS and GUNICORN_THREADS apply to every server).

Exit status 1 when a check fails; a missed target does not fail the run.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

# (serving, warm_up, wrk_version, WRK_SCRIPT, load_wrk, combine, percentile: bench/mixed.py and
# bench/scale.py use them through this module too)
from loadgen import (BARE_CONFIG, WRK_SCRIPT, Load, alternate, chunks, combine, gunicorn,  # noqa: E402,F401
                     load_python, load_wrk, percentile, server_settings, serving, warm, warm_up, worker_memory,
                     wrk_version)

WRK = os.environ.get("BENCH_WRK", "wrk")
STAMPS = int(os.environ.get("BENCH_STAMPS", "1000000"))
PG_STAMPS = int(os.environ.get("BENCH_PG_STAMPS", "300000"))
DURATION = int(os.environ.get("BENCH_DURATION", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SLICE = max(1, DURATION // ROUNDS)  # seconds per slice (wrk takes whole seconds)
SERIALS = int(os.environ.get("BENCH_SERIALS", "450000"))
DATABASES = [d.strip().lower() for d in os.environ.get("BENCH_DATABASES", "sqlite,postgresql").split(",") if d.strip()]
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "32,128").split(",") if c.strip()]
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
LOAD_PROCS = int(os.environ.get("BENCH_LOAD_PROCS", "4"))
SETTINGS = server_settings()
WORKERS, THREADS = SETTINGS["workers"], SETTINGS["threads"]
WARMUP = 400  # requests per path before measuring (templates, caches, pools of both workers)
RUN = 100_000  # stamps per issue_run (its maximum)
SCHEMA = "bench_scan"
GTIN, LOT = "08934567890120", "BENCH-2025"
HELLO, RAW, STAMP, LINK = "bare Flask hello", "raw stamp page", "/s/<SERIAL>", "Digital Link (307)"


# ---- database ------------------------------------------------------------------------------

def build_database(url: str, stamps: int = STAMPS, serials: int = 60_000) -> tuple[list[str], float]:
    """Migrate, then one producer/product (with a GTIN)/batch (with a diary) and ``stamps``
    active stamps; returns ``serials`` of their serials in random order and the seconds taken."""
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
                                               "net_quantity": Decimal("2"), "unit": "kg", "gtin": GTIN,
                                               "price_vnd": 90000, "stock": 100})
        submit_product(product)
        publish_product(product)
        batch = create_batch(s, product, lot_code=LOT, quantity=Decimal("5000"), unit="kg",
                             production_date=dt.date(2025, 10, 1))
        s.flush()
        for day, kind, place in ((1, "harvest", "Cánh đồng xã Thọ Dân"), (3, "processing", "Xưởng HTX"),
                                 (5, "packing", "Xưởng HTX")):
            append_event(s, batch, kind=kind, occurred_at=dt.datetime(2025, 10, day, 8, 0, tzinfo=LOCAL_TZ),
                         place=place)
        s.commit()
        if product.gtin != GTIN:
            raise RuntimeError(f"the bench product has GTIN {product.gtin!r}, not {GTIN}")
        done = 0
        while done < stamps:
            run = issue_run(s, batch, min(RUN, stamps - done))
            activate_run(s, run)
            s.commit()
            done += run.count
        drawn = list(s.scalars(db.text("SELECT serial FROM stamp ORDER BY random() LIMIT :n"),
                               {"n": min(serials, stamps)}))
        s.remove()
        db.engine.dispose()
    return drawn, time.perf_counter() - started


def postgresql_unreachable() -> str | None:
    """Why BENCH_PG_URL cannot be used (None: it answers)."""
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://", 1), connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure is a reason to skip, printed
        return f"{type(exc).__name__}: {str(exc).strip() or 'no answer'}"


@contextlib.contextmanager
def postgresql_schema():
    """A fresh schema ``bench_scan`` in BENCH_PG_URL's database (its URL, the schema as the
    search path, as tests/conftest.py does it), dropped on exit, on failure too."""
    from sqlalchemy import create_engine, text

    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
        yield f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{SCHEMA}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        admin.dispose()


def recorded_scans(url: str, serials: list[str]) -> tuple[int, int]:
    """sum(scan_count) of the stamps with these serials, and their rows in ``scan``."""
    from sqlalchemy import bindparam, create_engine, text

    query = text("SELECT COALESCE(SUM(s.scan_count), 0), "
                 "COALESCE(SUM((SELECT COUNT(*) FROM scan c WHERE c.stamp_id = s.id)), 0) "
                 "FROM stamp s WHERE s.serial IN :serials").bindparams(bindparam("serials", expanding=True))
    engine = create_engine(url)
    total = rows = 0
    try:
        with engine.connect() as conn:
            for start in range(0, len(serials), 500):
                counted, found = conn.execute(query, {"serials": serials[start:start + 500]}).one()
                total, rows = total + counted, rows + found
    finally:
        engine.dispose()
    return total, rows


# ---- load ----------------------------------------------------------------------------------

def make_loader(wrk: str | None, tmp: str, script: str) -> Callable:
    """``load(port, path, paths, connections)``: one slice of SLICE seconds, by wrk or Python."""
    numbers = itertools.count()

    def load(port: int, path: str, paths: list[str] | None, connections: int) -> dict:
        if wrk is None:
            return load_python(port, path, paths, connections, SLICE, LOAD_PROCS)
        paths_file = None
        if paths:
            paths_file = f"{tmp}/paths-{next(numbers)}.txt"
            Path(paths_file).write_text("\n".join(paths) + "\n")
        return load_wrk(wrk, port, path, paths_file, script, connections, SLICE)

    return load


def measure(port: int, wrk: str | None, warm_serials: list[str], paths: list[str], tmp: str, script: str) -> dict:
    """bench/scale.py's measurement: the stamp page of the app on ``port`` alternating with a
    bare Flask hello (its own server, the same settings) at 32 connections."""
    with gunicorn("hello_app:app", dict(os.environ), BARE_CONFIG, "/hello") as hello_server:
        hello = Load(HELLO, hello_server.port, "/hello", ["/hello"] * WARMUP, None)
        stamp = Load(STAMP, port, "/s/", [f"/s/{s}" for s in warm_serials], chunks(paths, ROUNDS), True)
        warm(hello)
        stamp_warm_ok, _ = warm(stamp)
        results = alternate([hello, stamp], 32, make_loader(wrk, tmp, script), ROUNDS)
    return {"hello": results[HELLO], "stamp": results[STAMP], "stamp_warm_ok": stamp_warm_ok}


def stamp_loads(serials: list[str], raw_port: int, app_port: int) -> list[Load]:
    """The three stamp paths, each with its own third of the serials: WARMUP to warm up, the
    rest split over every slice of every connection count."""
    slices = len(CONNECTIONS) * ROUNDS
    out = []
    for (label, port, form, records), share in zip(
            ((RAW, raw_port, "/s/{}", True), (STAMP, app_port, "/s/{}", True),
             (LINK, app_port, f"/01/{GTIN}/10/{LOT}/21/{{}}", False)), chunks(serials, 3)):
        paths = [form.format(s) for s in share]
        out.append(Load(label, port, paths[0], paths[:WARMUP], chunks(paths[WARMUP:], slices), records))
    return out


def wal_size(url: str) -> int | None:
    """Bytes of a SQLite database's ``-wal`` file (None: not SQLite)."""
    if not url.startswith("sqlite"):
        return None
    wal = Path(url.split(":///", 1)[1] + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def bench_database(name: str, url: str, load: Callable, tmp: str) -> dict:
    """Build the database, start its three servers and load the four paths at each
    connection count; the results, the memory of the servers' workers after each block, and
    the scans recorded once the servers have stopped (each worker writes what it holds)."""
    stamps = STAMPS if name == "SQLite" else PG_STAMPS
    serials, built = build_database(url, stamps, SERIALS)
    where = f"schema {SCHEMA} of {PG_URL}" if name == "PostgreSQL" else "a temporary file"
    print(f"\n{name} ({where}): {stamps:,} active stamps built in {built:.0f} s; "
          f"{len(serials) // 3 - WARMUP:,} distinct random serials per stamp path after {WARMUP} for its warm-up",
          flush=True)
    env = dict(os.environ, DATABASE_URL=url, UPLOAD_DIR=f"{tmp}/uploads", SECRET_KEY="bench", SCAN_RECORDING="1")
    env.pop("SCAN_FLUSH_SECONDS", None)  # the default interval: recording as in production
    blocks = {}
    with contextlib.ExitStack() as stack:
        servers = {"hello": stack.enter_context(gunicorn("hello_app:app", env, BARE_CONFIG, "/hello")),
                   "raw": stack.enter_context(gunicorn("raw_stamp_app:app", env, BARE_CONFIG, "/")),
                   "app": stack.enter_context(gunicorn("wsgi:app", env))}
        loads = [Load(HELLO, servers["hello"].port, "/hello", ["/hello"] * WARMUP, None),
                 *stamp_loads(serials, servers["raw"].port, servers["app"].port)]
        warmed = {item.label: warm(item) for item in loads}
        for n, connections in enumerate(CONNECTIONS):
            results = alternate(loads, connections, load, ROUNDS, n * ROUNDS)
            blocks[connections] = {"results": results, "wal": wal_size(url),
                                   "memory": {key: worker_memory(s.pid) for key, s in servers.items()}}
            print_block(name, connections, results, blocks[connections], warmed)
    recorded = {item.label: recorded_scans(url, [p.rsplit("/", 1)[1] for p in item.warm + list(
                    itertools.chain.from_iterable(item.slices))]) for item in loads if item.slices}
    return {"blocks": blocks, "warmed": warmed, "recorded": recorded,
            "records": {item.label: item.records for item in loads}}


# ---- report ------------------------------------------------------------------------------

def print_block(name: str, connections: int, results: dict, block: dict, warmed: dict) -> None:
    hello = results[HELLO]["rps"]
    print(f"\n{name}, {connections} connections")
    print(f"  {'path':<20}{'requests':>10}{'errors':>8}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'×hello':>8}"
          f"{'body B':>8}   req/s by slice")
    for label, r in results.items():
        ratio = f"{r['rps'] / hello:.2f}×" if hello else "-"
        reused = f"  ({r['reused']} re-used a serial)" if r["reused"] else ""
        print(f"  {label:<20}{r['requests']:>10}{r['errors']:>8}{r['rps']:>8.0f}{r['p50']:>8.1f}{r['p99']:>8.1f}"
              f"{ratio:>8}{warmed[label][1]:>8}   {' '.join(f'{v:.0f}' for v in r['slices'])}{reused}")
    print("  worker memory after the block, MB (RSS counts the pages each worker shares with the preloaded "
          "master in full; PSS divides them, the fair figure):")
    for key, title in (("hello", "hello_app"), ("raw", "raw_stamp_app"), ("app", "wsgi:app")):
        workers = block["memory"][key]
        rss = " + ".join(f"{w[1]:.1f}" for w in workers)
        pss = (" + ".join(f"{w[2]:.1f}" for w in workers) + f" = {sum(w[2] for w in workers):.1f}"
               if workers and all(w[2] is not None for w in workers) else "not readable")
        print(f"    {title:<14} RSS {rss} = {sum(w[1] for w in workers):.1f}   PSS {pss}")
    if block["wal"] is not None:
        print(f"  SQLite -wal file after the block: {block['wal'] / 2**20:.1f} MB")
    sys.stdout.flush()


def targets(name: str, run: dict) -> list[tuple[str, bool]]:
    """The issue's targets for this database: (label, met)."""
    out = []
    for connections, block in run["blocks"].items():
        r = block["results"]
        hello = r[HELLO]["rps"] or float("nan")
        ratio, link, p99 = r[STAMP]["rps"] / hello, r[LINK]["rps"] / hello, r[STAMP]["p99"]
        at = f"{name}, {connections} connections"
        if name == "SQLite":
            out.append((f"/s/ {ratio:.2f}× bare hello, recording on ({at}; target ≥ 0.6×)", ratio >= 0.6))
            limit = {32: 30.0, 128: 80.0}.get(connections)
            if limit:
                out.append((f"/s/ p99 {p99:.1f} ms ({at}; target ≤ {limit:g} ms)", p99 <= limit))
            out.append((f"Digital Link {link:.2f}× bare hello ({at}; target ≥ 0.6×)", link >= 0.6))
        else:
            out.append((f"/s/ {ratio:.2f}× bare hello ({at}; target ≥ 0.3×)", ratio >= 0.3))
            if connections == 32:
                out.append((f"/s/ p99 {p99:.1f} ms ({at}; target ≤ 40 ms)", p99 <= 40.0))
        rss, pss = max(((w[1], w[2] or 0.0) for w in block["memory"]["app"]), default=(0.0, 0.0))
        out.append((f"wsgi:app worker RSS {rss:.1f} MB at most, its PSS {pss:.1f} ({at}; target RSS ≤ 90 MB)",
                    rss <= 90.0))
    return out


def scan_checks(name: str, run: dict) -> list[tuple[str, bool]]:
    """Every answered request of a recording path is one scan: between its successes
    (warm-up included) and that plus one per connection and slice (the requests in flight
    when a wrk slice stops are answered and recorded, not counted).  The Digital Link's 307
    records none (the stamp page it leads to does: one scan, not two)."""
    out = []
    for label, (total, rows) in run["recorded"].items():
        if not run["records"][label]:
            out.append((f"{name} {label}: sum(scan_count) {total}, scan rows {rows} (a 307 records no scan)",
                        total == rows == 0))
            continue
        expected = run["warmed"][label][0] + sum(b["results"][label]["ok"] for b in run["blocks"].values())
        slack = sum(run["blocks"]) * ROUNDS
        ok = expected <= total <= expected + slack and rows == total
        out.append((f"{name} {label}: sum(scan_count) {total}, scan rows {rows}; answered {expected} "
                    f"(warm-up included), at most {slack} more in flight", ok))
    return out


def print_verdicts(items: list[tuple[str, bool]], good: str, bad: str) -> None:
    width = max((len(label) for label, _ in items), default=0) + 2
    for label, ok in items:
        print(f"  {label:<{width}}{good if ok else bad}")


def main() -> int:
    wrk = shutil.which(WRK)
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    databases = [names[d] for d in DATABASES if d in names]
    if "PostgreSQL" in databases:
        reason = postgresql_unreachable()
        if reason:
            print(f"PostgreSQL at {PG_URL} is unreachable ({reason}): SQLite only")
            databases.remove("PostgreSQL")
    loader_name = f"{wrk_version(wrk)}, 1 thread" if wrk else (
        f"Python generator ({LOAD_PROCS} processes; {WRK} is absent: it shares the {os.cpu_count()} CPUs with the "
        f"servers, so req/s are lower and the ratios less telling)")
    print(f"Stamp page benchmark (issue 19): {', '.join(databases)}; {' and '.join(map(str, CONNECTIONS))} connections; "
          f"each path {ROUNDS} × {SLICE} s per connection count, the four in turn; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(f"load: {loader_name}")
    print(f"servers, one per app and database, each gunicorn {WORKERS} workers × {SETTINGS['worker_class']} "
          f"{THREADS} threads, preload_app {SETTINGS['preload_app']}, reuse_port {SETTINGS['reuse_port']}:\n"
          f"  {HELLO:<20} bench/hello_app.py      -c bench/gunicorn_bare.conf.py\n"
          f"  {RAW:<20} bench/raw_stamp_app.py  -c bench/gunicorn_bare.conf.py\n"
          f"  {'/s/, Digital Link':<20} wsgi:app (production) -c deploy/gunicorn.conf.py, SCAN_RECORDING=1 "
          f"(default flush interval)", flush=True)
    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        script = f"{tmp}/bench.lua"
        Path(script).write_text(WRK_SCRIPT)
        load = make_loader(wrk, tmp, script)
        for name in databases:
            if name == "SQLite":
                runs[name] = bench_database(name, f"sqlite:///{tmp}/bench.db", load, tmp)
            else:
                with postgresql_schema() as url:
                    runs[name] = bench_database(name, url, load, tmp)
    print("\ntargets (a missed one does not fail the run):")
    print_verdicts([t for name, run in runs.items() for t in targets(name, run)], "met", "MISSED")
    errors = sum(r["errors"] for run in runs.values() for b in run["blocks"].values() for r in b["results"].values())
    checks = [(f"request errors {errors}", errors == 0)]
    checks += [c for name, run in runs.items() for c in scan_checks(name, run)]
    print("checks (a failed one fails the run):")
    print_verdicts(checks, "ok", "FAILED")
    print(f"machine load average after the run: {os.getloadavg()[0]:.2f} (the benchmark adds up to ~3)")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
