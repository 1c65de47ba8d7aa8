"""Benchmark: a country's worth of data on PostgreSQL (issue 18, point 2).

Builds, in a schema of its own (``bench_scale``, dropped at the end), 10,000 producers over
the communes of all 34 provinces, 20,000 listed products, a lot per product and 10,000,000
active stamps, then 5,000,000 buyers' scans over two years (and their daily aggregates, as
the migration and the scan writer make them).  Rows are made by the database
(``INSERT … SELECT generate_series``) or streamed with ``COPY`` (products, stamps: their
names and serials come from the service's own functions), then vacuumed and analysed (so
autovacuum is not busy with the generation during a measurement); the time each step takes
is printed.  Then, against the targets of the issue:

- the stamp page under gunicorn, once the worker's daily job has rendered every lot's page
  ahead (its time printed) (deploy/gunicorn.conf.py: 2 workers × gthread 4; 32
  connections, wrk; bench/scan.py's harness, alternating with a bare Flask hello app,
  ``bench/hello_app.py``, under the same settings): p99 ≤ 50 ms with 10,000,000
  stamps, and within 1.2× of the p99 measured with the first 1,000,000;
- catalogue search (diacritic-free words, any word of the name): p99 ≤ 100 ms;
- every officer figure (``stats.FIGURES``) for the whole country and for one commune: ≤ 1 s
  (the exchanges' verdicts that ``listed`` counts are kept with the feeds' items: their first
  making, which the worker's daily job does after a deployment, is printed apart);
- the full JSON feed of 20,000 products, streamed: its memory (peak RSS growth) printed;
- the stamp rows the 10,000,000-stamp page run updated (each scan updates its stamp's
  counters): how many stayed on their page (HOT, no index entry written), and the table's
  and its indexes' sizes.

Run: ``.venv/bin/python bench/scale.py`` (``make bench`` runs it when PostgreSQL answers at
``BENCH_PG_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).  Smaller
runs: ``BENCH_SCALE=0.1`` divides every count by 10.  A missed target prints MISSED; the
exit status is 1 only on request errors.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import scan as stamp_bench  # noqa: E402  (bench/scan.py: gunicorn, wrk and the hello baseline)
from feeds import _status_kb  # noqa: E402  (bench/feeds.py: this process's memory, from /proc)
from sqlalchemy import create_engine, text  # noqa: E402

PG = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = "bench_scale"
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
PRODUCERS = int(10_000 * SCALE)
PRODUCTS = int(20_000 * SCALE)
STAMPS = int(10_000_000 * SCALE)
FIRST_STAMPS = int(1_000_000 * SCALE)
SCANS = int(5_000_000 * SCALE)
SERIALS = 30_000  # stamp pages requested per measurement (each a first scan)
TARGET_STAMP_P99, TARGET_GROWTH, TARGET_SEARCH_P99, TARGET_FIGURE_S = 50.0, 1.2, 100.0, 1.0

# Product names: a kind and a qualifier, as OCOP products are named ("Mật ong rừng …").
KINDS = ("Gạo nếp cái hoa vàng", "Gạo tám thơm", "Mật ong rừng", "Mật ong hoa nhãn", "Chè shan tuyết", "Nước mắm",
         "Nem chua", "Bánh gai", "Bưởi Diễn", "Cam Vinh", "Miến dong", "Tinh bột nghệ", "Rượu nếp", "Cà phê",
         "Hạt điều", "Tiêu đen", "Trà sen", "Khô cá", "Mực một nắng", "Dưa lưới", "Chuối ngự", "Măng khô",
         "Nấm hương", "Sâm Ngọc Linh", "Thịt trâu gác bếp", "Giò bê", "Bánh đa", "Kẹo lạc", "Tương bần", "Dầu lạc")
QUALIFIERS = ("đặc sản", "hữu cơ", "VietGAP", "truyền thống", "loại một", "sạch", "thượng hạng", "quê",
              "gia truyền", "tự nhiên")
SEARCHES = ("mat ong", "gao nep", "che", "nuoc mam", "nem chua", "banh gai", "cam", "mien", "nghe", "ca phe",
            "hat dieu", "tra sen", "muc", "dua luoi", "nam huong", "huu co", "vietgap", "truyen thong")


def schema_url() -> str:
    sep = "&" if "?" in PG else "?"
    return f"{PG}{sep}options=-csearch_path%3D{SCHEMA}"


def pg_available() -> bool:
    try:
        with create_engine(PG, connect_args={"connect_timeout": 3}).connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - no server: the benchmark says so and skips
        return False


@contextlib.contextmanager
def step(label: str, timings: dict):
    started = time.perf_counter()
    yield
    timings[label] = time.perf_counter() - started
    print(f"  {label}: {timings[label]:.1f} s", flush=True)


def migrate(url: str):
    from flask_migrate import upgrade

    from marketplace import create_app

    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True,
                      "PUBLIC_BASE_URL": "https://cho-ocop.example"})
    with app.app_context(), contextlib.redirect_stderr(io.StringIO()):
        upgrade()
    return app


def _copy(cursor, sql: str, rows) -> None:
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def build_catalogue(engine, timings: dict) -> None:
    from slugify import slugify

    from marketplace import geo
    from marketplace.text import fold

    wards = [w for p in geo.provinces() for w in geo.wards_of(p.code)]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with step(f"{PRODUCERS:,} producers over {len({w.province_code for w in wards})} provinces "
                  f"({len(wards):,} communes and wards)", timings):
            cur.execute("CREATE TEMP TABLE bench_ward (n integer, province integer, ward integer)")
            _copy(cur, "COPY bench_ward FROM STDIN", ((n, w.province_code, w.code) for n, w in enumerate(wards)))
            cur.execute(
                "INSERT INTO producer (kind, name, slug, representative, tax_code, phone, email, address_line, "
                "province_code, ward_code, description, status, review_note, created_at, updated_at) "
                "SELECT 'household', 'Hộ sản xuất ' || g, 'ho-san-xuat-' || g, 'Người đại diện', '', '0912345678', "
                "'', '', w.province, w.ward, '', 'approved', '', now(), now() "
                "FROM generate_series(1, %s) g JOIN bench_ward w ON w.n = g %% %s", (PRODUCERS, len(wards)))
        cur.execute("SELECT id FROM product_group WHERE parent_id IS NOT NULL ORDER BY id")
        groups = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT id, name FROM producer ORDER BY id")
        producers = cur.fetchall()
        rng = random.Random(18)
        with step(f"{PRODUCTS:,} listed products (COPY)", timings):
            def products():
                for n in range(PRODUCTS):
                    producer_id, producer_name = producers[n % len(producers)]
                    name = f"{rng.choice(KINDS)} {rng.choice(QUALIFIERS)} {n}"
                    yield (producer_id, name, f"{slugify(name)}-{n}", groups[n % len(groups)], "", "", 1, "kg",
                           50_000 + n % 400 * 1000, 100, "", "", "", "published", "",
                           fold(f"{name} {producer_name}"), 1)
            _copy(cur, "COPY product (producer_id, name, slug, group_id, description, ingredients, net_quantity, "
                       "unit, price_vnd, stock, storage_instructions, usage_instructions, warnings, status, "
                       "review_note, search_text, version, created_at, updated_at, published_at) FROM STDIN",
                  (row + (dt.datetime.now(dt.timezone.utc),) * 3 for row in products()))
        with step(f"{PRODUCTS:,} photos (rows only: the feeds name them, the exchanges require one)", timings):
            cur.execute("INSERT INTO product_photo (product_id, stem, width, height, position, created_at) "
                        "SELECT id, 'bench' || id, 800, 600, 1, now() FROM product")
        with step(f"{PRODUCTS:,} lots", timings):
            cur.execute("INSERT INTO batch (product_id, lot_code, quantity, unit, production_date, growing_area, "
                        "status, recall_reason, created_at, updated_at) SELECT id, 'LO-' || id, 100, 'kg', "
                        "date '2026-01-15', '', 'open', '', now(), now() FROM product")
        raw.commit()
    finally:
        raw.close()


def add_stamps(engine, per_lot: int, timings: dict, label: str) -> None:
    """A run of ``per_lot`` active stamps on every lot, serials from the service's generator."""
    from marketplace.stamps.serials import new_serials

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        with step(label, timings):
            cur.execute("INSERT INTO stamp_run (batch_id, count, status, downloads, created_at, scratch) "
                        "SELECT id, %s, 'active', 0, now(), false FROM batch RETURNING id, batch_id", (per_lot,))
            runs = cur.fetchall()

            def stamps():
                for run_id, batch_id in runs:
                    for position, serial in enumerate(new_serials(per_lot), 1):
                        yield serial, run_id, batch_id, position
            _copy(cur, "COPY stamp (serial, run_id, batch_id, position, status, scan_count, other_province_seen, "
                       "scanner_count, scanners_folded) FROM STDIN",
                  (row + ("active", 0, False, 0, 0) for row in stamps()))
            raw.commit()
            cur.execute("ANALYZE stamp")
        raw.commit()
    finally:
        raw.close()


def add_scans(engine, timings: dict) -> None:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT min(id), max(id) FROM stamp")
        low, high = cur.fetchone()
        with step(f"{SCANS:,} buyers' scans over two years", timings):
            cur.execute(
                "INSERT INTO scan (stamp_id, scanned_at, province_code, agent_family, scanner, test) "
                "SELECT %s + floor(random() * %s)::bigint, now() - random() * interval '700 days', "
                "1 + floor(random() * 96)::integer, 'chrome', substr(md5(g::text), 1, 16), false "
                "FROM generate_series(1, %s) g", (low, high - low + 1, SCANS))
        with step("their daily aggregates and stamp counters (as the scan writer keeps them)", timings):
            cur.execute("DELETE FROM scan_day")  # derived again from every row (the first measurement's too)
            cur.execute(
                "INSERT INTO scan_day (day, batch_id, province_code, scans) "
                "SELECT date(timezone('Asia/Ho_Chi_Minh', scan.scanned_at)), stamp.batch_id, "
                "COALESCE(scan.province_code, 0), count(*) FROM scan JOIN stamp ON stamp.id = scan.stamp_id "
                "GROUP BY 1, 2, 3")
            cur.execute(
                "UPDATE stamp SET scan_count = s.n, scanner_count = s.n, first_scan_at = s.first FROM "
                "(SELECT stamp_id, count(*) AS n, min(scanned_at) AS first FROM scan GROUP BY stamp_id) s "
                "WHERE stamp.id = s.stamp_id")
            raw.commit()
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def settle(url: str, timings: dict) -> None:
    """VACUUM (ANALYZE) what was generated, then CHECKPOINT: the generation's mass inserts and
    its one UPDATE of millions of stamp rows would otherwise have autovacuum working through
    them, and the server writing gigabytes of dirty pages to disk, during the measurement that
    follows (traffic updates stamps a scan at a time).  The bare hello app, measured in turns
    with the stamp page, shows whether the machine was quiet."""
    with step("VACUUM (ANALYZE) of the generated tables, CHECKPOINT", timings), \
            create_engine(url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.execute(text("VACUUM (ANALYZE) producer, product, product_photo, batch, stamp_run, stamp, scan, "
                          "scan_day, stamp_frame"))
        conn.execute(text("CHECKPOINT"))


def stamp_writes(engine) -> tuple[int, int]:
    """The stamp table's row updates so far, and how many of them stayed on their page (HOT:
    no index touched); the servers' counts are reported within a second of their commits."""
    time.sleep(1.5)
    with engine.connect() as conn:
        upd, hot = conn.execute(text("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables "
                                     "WHERE schemaname = :s AND relname = 'stamp'"), {"s": SCHEMA}).one()
    return int(upd), int(hot)


def stamp_sizes(engine) -> tuple[float, float]:
    with engine.connect() as conn:
        heap, indexes = conn.execute(text("SELECT pg_relation_size('stamp'), pg_indexes_size('stamp')")).one()
    return heap / 2**20, indexes / 2**20


def random_serials(engine, n: int) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT serial FROM stamp ORDER BY random() LIMIT :n"), {"n": n}).scalars())


def served_env(url: str, tmp: str) -> dict:
    return {"DATABASE_URL": url, "SECRET_KEY": "bench", "UPLOAD_DIR": f"{tmp}/uploads",
            "PUBLIC_BASE_URL": "https://cho-ocop.example"}


def render_frames(url: str, tmp: str, timings: dict) -> None:
    """The worker's daily job renders every lot's stamp page ahead (marketplace/scan/frames.py),
    for the app as served (its configuration from the same environment)."""
    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.scan import frames

    saved = dict(os.environ)
    os.environ.update(served_env(url, tmp))
    try:
        app = create_app()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    with app.app_context(), step(f"stamp pages of {PRODUCTS:,} lots rendered ahead (the worker's daily job)",
                                 timings):
        made = frames.render_ahead(app, db.engine)
        db.engine.dispose()
    print(f"    {made:,} frames ({len(app.config['LANGUAGES'])} languages)")


def stamp_page(url: str, engine, wrk: str, tmp: str, script: str) -> dict:
    serials = random_serials(engine, SERIALS)
    random.Random(4).shuffle(serials)
    warm, measured = serials[:stamp_bench.WARMUP], serials[stamp_bench.WARMUP:]
    env = dict(os.environ, **served_env(url, tmp))
    env.pop("SCAN_FLUSH_SECONDS", None)
    with stamp_bench.serving(env) as port:
        return stamp_bench.measure(port, wrk, warm, [f"/s/{s}" for s in measured], tmp, script)


def search(url: str, wrk: str, tmp: str, script: str) -> dict:
    rng = random.Random(7)
    paths = [f"/?q={rng.choice(SEARCHES).replace(' ', '+')}" for _ in range(5000)]
    paths_file = f"{tmp}/search.txt"
    Path(paths_file).write_text("\n".join(paths) + "\n")
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench", UPLOAD_DIR=f"{tmp}/uploads")
    with stamp_bench.serving(env) as port:
        stamp_bench.warm_up(port, paths[:200])
        return stamp_bench.combine([stamp_bench.load_wrk(wrk, port, "/", paths_file, script)
                                    for _ in range(stamp_bench.ROUNDS)])


def figures(app) -> list[tuple[str, str, float]]:
    from marketplace import stats
    from marketplace.extensions import db
    from marketplace.models.base import local_today

    out = []
    with app.app_context():
        ward = db.session.scalar(text("SELECT ward_code FROM producer GROUP BY ward_code ORDER BY count(*) DESC LIMIT 1"))
        # The exchanges' verdicts on every product are kept with the feeds' items; the first
        # look makes them all (as the worker's daily job does after a deployment).
        started = time.perf_counter()
        stats.figures(db.session, stats.Filters(), ("listed",), today=local_today(), base_url="https://cho-ocop.example")
        out.append(("whole country", "listed, first look (every verdict made and kept)", time.perf_counter() - started))
        db.session.rollback()
        for scope, f in (("whole country", stats.Filters()), (f"commune {ward}", stats.Filters(wards=frozenset({ward})))):
            for key in stats.FIGURES:
                started = time.perf_counter()
                stats.figures(db.session, f, (key,), today=local_today(), base_url="https://cho-ocop.example")
                out.append((scope, key, time.perf_counter() - started))
                db.session.rollback()
    return out


def json_feed(app) -> dict:
    from marketplace.extensions import db
    from marketplace.feeds.service import find_exchange

    with app.app_context():
        exchange = find_exchange(db.session, "thanhhoa")
        token = exchange.new_feed_token()
        db.session.commit()
    client = app.test_client()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status_kb("VmRSS")
    started = time.perf_counter()
    response = client.get("/feeds/thanhhoa.json", headers={"Authorization": f"Bearer {token}"}, buffered=False)
    size = sum(len(chunk) for chunk in response.response)
    response.close()
    return {"status": response.status_code, "bytes": size, "seconds": time.perf_counter() - started,
            "rss_mb": max(0.0, (_status_kb("VmHWM") - base) / 1024)}


def stats_figures() -> tuple:
    from marketplace import stats

    return tuple(stats.FIGURES)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    if not pg_available():
        print(f"bench/scale.py: PostgreSQL does not answer at {PG}: skipped")
        return 0
    wrk = shutil.which(stamp_bench.WRK)
    if wrk is None:
        print("bench/scale.py: wrk is not installed (apt-get install wrk): skipped")
        return 0
    url = schema_url()
    timings: dict = {}
    print(f"National-size data on PostgreSQL (schema {SCHEMA}), scale {SCALE:g}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    errors = 0
    with tempfile.TemporaryDirectory() as tmp:
        script = f"{tmp}/bench.lua"
        Path(script).write_text(stamp_bench.WRK_SCRIPT)
        started = time.perf_counter()
        with step("migrations", timings):
            app = migrate(url)
        engine = create_engine(url)
        try:
            build_catalogue(engine, timings)
            add_stamps(engine, max(1, FIRST_STAMPS // PRODUCTS), timings, f"{FIRST_STAMPS:,} stamps (COPY)")
            render_frames(url, tmp, timings)
            settle(url, timings)
            first = stamp_page(url, engine, wrk, tmp, script)
            add_stamps(engine, max(1, (STAMPS - FIRST_STAMPS) // PRODUCTS), timings,
                       f"{STAMPS - FIRST_STAMPS:,} more stamps (COPY), {STAMPS:,} in all")
            add_scans(engine, timings)
            settle(url, timings)
            print(f"  generation in all: {time.perf_counter() - started:.0f} s")
            before = stamp_writes(engine)
            full = stamp_page(url, engine, wrk, tmp, script)
            after = stamp_writes(engine)
            writes = (after[0] - before[0], after[1] - before[1], *stamp_sizes(engine))
            found = search(url, wrk, tmp, script)
            times = figures(app)
            feed = json_feed(app)
        finally:
            engine.dispose()
            with create_engine(PG, isolation_level="AUTOCOMMIT").connect() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
    for label, run in ((f"{FIRST_STAMPS:,} stamps", first), (f"{STAMPS:,} stamps", full)):
        stamp, hello = run["stamp"], run["hello"]
        errors += stamp["errors"] + hello["errors"]
        print(f"stamp page, {label}: {stamp['rps']:.0f} req/s, p50 {stamp['p50']:.1f} ms, p99 {stamp['p99']:.1f} ms, "
              f"{stamp['errors']} errors; hello {hello['rps']:.0f} req/s, p99 {hello['p99']:.1f} ms; "
              f"stamp/hello {stamp['rps'] / hello['rps']:.2f}x")
    growth = full["stamp"]["p99"] / first["stamp"]["p99"]
    print(f"  target p99 <= {TARGET_STAMP_P99:.0f} ms at {STAMPS:,}: "
          f"{verdict(full['stamp']['p99'] <= TARGET_STAMP_P99)}; p99 {STAMPS:,} / {FIRST_STAMPS:,} = {growth:.2f}x "
          f"(target <= {TARGET_GROWTH}x): {verdict(growth <= TARGET_GROWTH)}")
    updated, in_place, heap_mb, index_mb = writes
    print(f"  stamps scanned in that run: {updated:,} row updates, {in_place / max(updated, 1):.0%} in place (HOT, no "
          f"index entry); stamp table {heap_mb:,.0f} MB, its indexes {index_mb:,.0f} MB")
    errors += found["errors"]
    print(f"catalogue search (diacritic-free words, {PRODUCTS:,} products): {found['rps']:.0f} req/s, "
          f"p50 {found['p50']:.1f} ms, p99 {found['p99']:.1f} ms, {found['errors']} errors; "
          f"target p99 <= {TARGET_SEARCH_P99:.0f} ms: {verdict(found['p99'] <= TARGET_SEARCH_P99)}")
    for scope, key, seconds in times:
        if key not in stats_figures():
            print(f"officer figure {key} {scope}: {seconds * 1000:.1f} ms (once after a deployment, by the worker)")
            continue
        print(f"officer figure {key:<10} {scope:<16} {seconds * 1000:8.1f} ms  "
              f"(target <= {TARGET_FIGURE_S:.0f} s: {verdict(seconds <= TARGET_FIGURE_S)})")
    print(f"JSON feed of {PRODUCTS:,} products, streamed: HTTP {feed['status']}, {feed['bytes'] / 1e6:.1f} MB in "
          f"{feed['seconds']:.1f} s, peak memory growth {feed['rss_mb']:.1f} MB")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
