"""Benchmark: issuing 100,000 stamps through ``issue_run`` vs a raw DBAPI ``executemany``
of the same rows, on SQLite and (when reachable) PostgreSQL.  Target: ≤ 2× the raw insert.

Run: ``.venv/bin/python bench/stamps.py`` (``make bench`` runs it).
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from marketplace import create_app  # noqa: E402
from marketplace.extensions import db  # noqa: E402

N = int(os.environ.get("BENCH_STAMPS", "100000"))
PG = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def setup(url: str):
    from flask_migrate import upgrade

    from marketplace.catalogue.service import create_producer, create_product
    from marketplace.models import ProductGroup
    from marketplace.trace.service import create_batch

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench", "TESTING": True})
    ctx = app.app_context()
    ctx.push()
    upgrade()
    producer = create_producer(db.session, {"kind": "cooperative", "name": "HTX bench", "province_code": 38,
                                            "ward_code": 15724})
    group = db.session.scalars(db.select(ProductGroup)).first()
    product = create_product(db.session, producer, {"name": "Gạo bench", "group_id": group.id,
                                                    "net_quantity": Decimal(1), "unit": "kg", "price_vnd": 1})
    producer.status, product.status = "approved", "published"  # stamps are issued for listed products only
    batches = [create_batch(db.session, product, lot_code=f"B{i}", quantity=Decimal(1), unit="kg",
                            production_date=dt.date(2025, 1, 1)) for i in range(2)]
    db.session.commit()
    return app, ctx, batches


def bench(label: str, url: str) -> float:
    from marketplace.models import StampRun
    from marketplace.stamps.serials import new_serial
    from marketplace.stamps.service import issue_run

    app, ctx, (b1, b2) = setup(url)
    try:
        start = time.perf_counter()
        issue_run(db.session, b1, N)
        db.session.commit()
        ours = time.perf_counter() - start

        run = StampRun(batch=b2, count=N)
        db.session.add(run)
        db.session.flush()
        run_id, batch_id = run.id, b2.id
        db.session.commit()
        db.session.close()  # release SQLite's write lock before the raw connection writes
        rows = [(new_serial(), run_id, batch_id, i + 1, "issued", 0) for i in range(N)]
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            sqlite = db.engine.dialect.name == "sqlite"
            placeholder = "?" if sqlite else "%s"
            sql = ("INSERT INTO stamp (serial, run_id, batch_id, position, status, scan_count) VALUES "
                   f"({', '.join([placeholder] * 6)})")
            start = time.perf_counter()
            if sqlite:
                cur.execute("BEGIN IMMEDIATE")  # one transaction, like issue_run
            cur.executemany(sql, rows)
            raw.commit()
            reference = time.perf_counter() - start
        finally:
            raw.close()
        print(f"{label:<11}{N:>9}{ours:>13.2f}{reference:>15.2f}{ours / reference:>7.2f}×   (target ≤ 2×)")
        return ours / reference
    finally:
        db.session.remove()
        db.engine.dispose()
        ctx.pop()


def main() -> int:
    print(f"Issuing stamps: issue_run (random serials, chunked savepoint inserts) vs raw executemany "
          f"of pre-generated rows")
    print(f"{'database':<11}{'stamps':>9}{'issue_run s':>13}{'executemany s':>15}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        bench("SQLite", f"sqlite:///{tmp}/bench.db")
    try:
        admin = create_engine(PG, isolation_level="AUTOCOMMIT")
        schema = f"bench_{secrets.token_hex(3)}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - PostgreSQL is optional here
        print(f"PostgreSQL  skipped ({type(exc).__name__}: not reachable at {PG})")
        return 0
    try:
        sep = "&" if "?" in PG else "?"
        bench("PostgreSQL", f"{PG}{sep}options=-csearch_path%3D{schema}")
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
