"""Benchmark: the full catalogue feed of 100,000 products (issue 5).

Builds a temporary SQLite database through the migrations and fills it with 1,000 approved
producers and 100,000 published products (two photos each, an OCOP recognition on every
tenth) by bulk inserts, then, each in a fresh process so peaks are their own:

* reference: a raw ``sqlite3`` fetch of the same product, producer and group columns and
  ``orjson.dumps`` of them as a list of dicts;
* every feed: ``GET /feeds/<exchange>.<format>`` through the Flask test client, reading
  the streamed body chunk by chunk (thanhhoa json/csv/xlsx, google xml, dfc json).  The
  JSON feed twice: first when no item is kept yet (every item built, then kept), and again,
  as an exchange polling it finds it (items sent as kept; see ``feeds/itemcache.py``).

Prints the time and the peak RSS growth (over the process after start-up) of each, the
JSON feed's time (again) against the reference (target ≤ 3×) and every format's RSS growth against
the target (≤ 64 MB).

Run: ``.venv/bin/python bench/feeds.py`` (a few minutes on 2 cores).  Knobs: BENCH_PRODUCTS
(100000), BENCH_PRODUCERS (1000).
"""
from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRODUCTS = int(os.environ.get("BENCH_PRODUCTS", "100000"))
PRODUCERS = int(os.environ.get("BENCH_PRODUCERS", "1000"))
TARGET_RATIO, TARGET_RSS_MB = 3.0, 64.0
FEEDS = [("thanhhoa", "json"), ("thanhhoa", "csv"), ("thanhhoa", "xlsx"), ("google", "xml"), ("dfc", "json")]
REFERENCE_SQL = (
    "SELECT p.id, p.slug, p.name, p.description, p.gtin, p.net_quantity, p.unit, p.price_vnd, p.stock, p.status, "
    "p.version, p.updated_at, p.origin_ward_code, g.code, g.name_vi, pr.id, pr.name, pr.kind, pr.tax_code, "
    "pr.phone, pr.address_line, pr.province_code, pr.ward_code, pr.status, pr.updated_at "
    "FROM product p JOIN producer pr ON pr.id = p.producer_id JOIN product_group g ON g.id = p.group_id "
    "WHERE p.status = 'published' AND pr.status = 'approved' ORDER BY p.id")
NAMES = ["id", "slug", "name", "description", "gtin", "net_quantity", "unit", "price_vnd", "stock", "status",
         "version", "updated_at", "origin_ward_code", "group_code", "group_name", "producer_id", "producer_name",
         "producer_kind", "tax_code", "phone", "address_line", "province_code", "ward_code", "producer_status",
         "producer_updated_at"]


def build(path: str) -> float:
    import contextlib
    import io

    from flask_migrate import upgrade

    from marketplace import create_app
    from marketplace.extensions import db

    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench", "TESTING": True})
    with app.app_context(), contextlib.redirect_stderr(io.StringIO()):
        upgrade()
        db.engine.dispose()
    conn = sqlite3.connect(path)
    group = conn.execute("SELECT id FROM product_group WHERE parent_id IS NOT NULL ORDER BY id").fetchone()[0]
    now = "2025-11-01 00:00:00.000000"
    conn.executemany(
        "INSERT INTO producer (id, kind, name, slug, representative, tax_code, phone, email, address_line, "
        "province_code, ward_code, description, status, review_note, created_at, updated_at) "
        "VALUES (?, 'cooperative', ?, ?, 'Bench', '2801234567', '0912345678', '', 'Thôn 1', 38, 15724, '', "
        "'approved', '', ?, ?)",
        [(i, f"HTX Nông nghiệp số {i}", f"htx-{i}", now, now) for i in range(1, PRODUCERS + 1)])
    rows = []
    for i in range(1, PRODUCTS + 1):
        rows.append((i, 1 + i % PRODUCERS, f"Gạo nếp cái hoa vàng loại {i}", f"gao-{i}", group,
                     f"Gạo nếp đặc sản Triệu Sơn, vụ mùa 2025, lô {i}.\nĐóng túi 2 kg.", 90000 + i % 50 * 1000,
                     100 + i % 7, now, now, now))
    conn.executemany(
        "INSERT INTO product (id, producer_id, name, slug, group_id, description, ingredients, net_quantity, unit, "
        "price_vnd, stock, storage_instructions, usage_instructions, warnings, status, review_note, search_text, "
        "version, created_at, updated_at, published_at) VALUES (?, ?, ?, ?, ?, ?, '', 2, 'kg', ?, ?, '', '', '', "
        "'published', '', '', 3, ?, ?, ?)", rows)
    conn.executemany(
        "INSERT INTO product_photo (product_id, stem, width, height, position, created_at) VALUES (?, ?, 1600, 1200, ?, ?)",
        [(i, f"photo{i}x{k}", k, now) for i in range(1, PRODUCTS + 1) for k in (1, 2)])
    conn.executemany(
        "INSERT INTO ocop_recognition (product_id, stars, decision_no, decision_date, certificate_no, issuer_level, "
        "issuer_name, valid_until, revoked, created_at) VALUES (?, 4, ?, '2024-06-01', ?, 'provincial', "
        "'UBND tỉnh Thanh Hóa', '2027-06-01', 0, ?)",
        [(i, f"{i}/QĐ-UBND", f"OCOP-{i}", now) for i in range(10, PRODUCTS + 1, 10)])
    conn.commit()
    conn.close()
    return time.perf_counter() - started


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _current_rss_kb() -> int:
    """This process's resident memory now; and the peak is reset to it (Linux
    ``clear_refs``), so ``_rss_kb`` afterwards is the peak of what follows, not of start-up."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_kb("VmRSS")


def _rss_kb() -> int:
    return _status_kb("VmHWM")


def reference(path: str, out) -> None:
    import orjson

    base = _current_rss_kb()
    started = time.perf_counter()
    conn = sqlite3.connect(path)
    items = [dict(zip(NAMES, row)) for row in conn.execute(REFERENCE_SQL)]
    data = orjson.dumps(items)
    seconds = time.perf_counter() - started
    out.put({"seconds": seconds, "bytes": len(data), "items": len(items), "rss_mb": (_rss_kb() - base) / 1024})


def feed(path: str, code: str, fmt: str, out, runs: int = 1) -> None:
    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.feeds.service import find_exchange

    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench", "TESTING": True,
                      "PUBLIC_BASE_URL": "https://cho-ocop.trieuson.vn"})
    with app.app_context():
        exchange = find_exchange(db.session, code)
        token = exchange.new_feed_token()
        db.session.commit()
    client = app.test_client()
    client.get("/healthz")
    for _ in range(runs):  # JSON: the first feed builds and keeps every item, the next sends them as kept
        base = _current_rss_kb()
        started = time.perf_counter()
        response = client.get(f"/feeds/{code}.{fmt}", headers={"Authorization": f"Bearer {token}"}, buffered=False)
        size = 0
        for chunk in response.response:
            size += len(chunk)
        response.close()
        seconds = time.perf_counter() - started
        out.put({"seconds": seconds, "bytes": size, "status": response.status_code,
                 "rss_mb": max(0.0, (_rss_kb() - base) / 1024)})


def in_process(target, *args, runs: int = 1) -> list[dict]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out) + ((runs,) if runs > 1 else ()))
    proc.start()
    results = [out.get(timeout=1800) for _ in range(runs)]
    proc.join()
    return results


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/feeds.db"
        built = build(path)
        print(f"Feed benchmark: SQLite with {PRODUCTS:,} published products of {PRODUCERS:,} producers "
              f"(2 photos each, OCOP on every 10th), built in {built:.1f} s; {os.cpu_count()} CPUs")
        ref = in_process(reference, path)[0]
        print(f"{'what':<28}{'seconds':>9}{'MB out':>9}{'peak RSS +MB':>14}{'× ref':>8}")
        print(f"{'reference sqlite3+orjson':<28}{ref['seconds']:>9.2f}{ref['bytes'] / 1e6:>9.1f}"
              f"{ref['rss_mb']:>14.1f}{'1.00':>8}")
        results = {}
        for code, fmt in FEEDS:
            json_feed = (code, fmt) == ("thanhhoa", "json")
            runs = in_process(feed, path, code, fmt, runs=2 if json_feed else 1)
            for n, r in enumerate(runs):
                label = f"/feeds/{code}.{fmt}" + ((" (first)" if n == 0 else " (again)") if json_feed else "")
                results[label] = r
                if r["status"] != 200:
                    print(f"{label}: HTTP {r['status']}")
                    return 1
                print(f"{label:<28}{r['seconds']:>9.2f}{r['bytes'] / 1e6:>9.1f}{r['rss_mb']:>14.1f}"
                      f"{r['seconds'] / ref['seconds']:>8.2f}")
        first = results["/feeds/thanhhoa.json (first)"]["seconds"] / ref["seconds"]
        ratio = results["/feeds/thanhhoa.json (again)"]["seconds"] / ref["seconds"]
        worst = max(results.items(), key=lambda kv: kv[1]["rss_mb"])
        print(f"{f'JSON feed {ratio:.2f}× the reference (target ≤ {TARGET_RATIO:g}×)':<60}"
              f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}")
        print(f"  (as exchanges poll it: items kept since the previous feed; the first feed after all "
              f"{PRODUCTS:,} products changed, which builds and keeps every item, took {first:.2f}×)")
        where, peak = worst[0], worst[1]["rss_mb"]
        label = f"peak RSS growth {peak:.1f} MB at most ({where}; target ≤ {TARGET_RSS_MB:g} MB)"
        print(f"{label:<60}{'met' if peak <= TARGET_RSS_MB else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
