"""Benchmark: the EPCIS 2.0 export of a batch with 100,000 stamps (issue 16, point 5).

Builds a temporary SQLite database through the migrations and, with the project's own
services, a published product with two batches: one with a diary of three entries and a run
of 100,000 stamps of which 1,000 are voided (as the producers' page voids them: the stamps
and an audit entry), and one with a run of 10,000.  Then, each in a fresh process so that
peaks are their own:

* ``GET /lot/<id>/epcis.json`` through the Flask test client, the body read chunk by chunk
  as a client would (the streamed writer, :func:`marketplace.trace.epcis.iter_epcis_json`),
  for the 100,000 and the 10,000 batch;
* for comparison, the dict form: ``json.dumps(batch_epcis_document(…))``, every URI held.

Each is timed with ``time.perf_counter`` and its memory measured twice, in separate runs:
the peak RSS growth over the process after start-up and a warm-up export (``resource``'s
``ru_maxrss``), and the peak of Python allocations during the export (``tracemalloc``, whose
own overhead would skew the time).  The target: the 100,000-stamp streamed export in ≤ 2 s
with flat memory, i.e. its traced peak no more than 1.25× (+1 MB) the 10,000-stamp one:
memory does not grow with the number of stamps.  Last, ``flask trace epcis BATCH_ID -o FILE``
writes the document and the file is checked (one commissioning ``epcList`` entry per stamp,
one decommissioning entry per voided stamp).

Run: ``.venv/bin/python bench/epcis.py`` (about 20 s on 2 cores).  Knobs:
BENCH_EPCIS_STAMPS (100000), BENCH_EPCIS_SMALL (10000).
"""
from __future__ import annotations

import datetime as dt
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAMPS = int(os.environ.get("BENCH_EPCIS_STAMPS", "100000"))
SMALL = int(os.environ.get("BENCH_EPCIS_SMALL", "10000"))
VOIDED = (1001, 2000)  # positions voided in the big run
TARGET_SECONDS, FLAT_RATIO, FLAT_SLACK_MB = 2.0, 1.25, 1.0
BASE_URL = "https://cho-ocop.trieuson.vn"


def _app(path: str):
    from marketplace import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "SECRET_KEY": "bench", "TESTING": True,
                       "PUBLIC_BASE_URL": BASE_URL})


def build(path: str) -> tuple[int, int, float]:
    """(big batch id, small batch id, seconds): the data, made by the project's services."""
    import contextlib
    import io

    from flask_migrate import upgrade

    from marketplace import audit
    from marketplace.catalogue.service import create_producer, create_product, publish_product, submit_product
    from marketplace.extensions import db
    from marketplace.models import ProductGroup
    from marketplace.stamps.service import issue_run, void_stamps
    from marketplace.trace.service import append_event, create_batch

    started = time.perf_counter()
    app = _app(path)
    with app.app_context():
        with contextlib.redirect_stderr(io.StringIO()):
            upgrade()
        s = db.session
        producer = create_producer(s, {"kind": "cooperative", "name": "HTX Nông nghiệp Đồng Tiến",
                                       "representative": "Lê Văn Bench", "phone": "0912345678",
                                       "province_code": 38, "ward_code": 15724})
        producer.status = "approved"
        group = s.scalars(db.select(ProductGroup).where(ProductGroup.parent_id.is_not(None))).first()
        product = create_product(s, producer, {"name": "Gạo nếp cái hoa vàng", "group_id": group.id,
                                               "net_quantity": Decimal(2), "unit": "kg", "price_vnd": 90000,
                                               "stock": 100, "gtin": "08934567890120"})  # stored as GTIN-14
        submit_product(product)
        publish_product(product)
        big = create_batch(s, product, lot_code="NEP-2025-10", quantity=Decimal("200000"), unit="kg",
                           production_date=dt.date(2025, 10, 20), expiry_date=dt.date(2026, 10, 20),
                           growing_area="Cánh đồng Đồng Tiến")
        small = create_batch(s, product, lot_code="NEP-2025-11", quantity=Decimal("20000"), unit="kg",
                             production_date=dt.date(2025, 11, 20))
        s.flush()
        at = dt.datetime(2025, 10, 1, 7, 0, tzinfo=dt.timezone.utc)
        for day, kind, place in ((1, "seeding", "Thửa 12"), (5, "input", "Thửa 12"), (20, "harvest", "Thửa 12")):
            append_event(s, big, kind=kind, occurred_at=at + dt.timedelta(days=day - 1), place=place)
        run = issue_run(s, big, STAMPS)
        issue_run(s, small, SMALL)
        first, last = VOIDED
        n = void_stamps(s, run, first=first, last=last)
        audit.record(s, "stamps.void", run, summary=f"{n}", after={"first": first, "last": last, "voided": n})
        s.commit()
        ids = big.id, small.id
        db.engine.dispose()
    return ids[0], ids[1], time.perf_counter() - started


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _export_http(client, batch_id: int) -> int:
    response = client.get(f"/lot/{batch_id}/epcis.json", buffered=False)
    assert response.status_code == 200, response.status_code
    size = 0
    for chunk in response.response:
        size += len(chunk)
    response.close()
    return size


def _export_dict(app, batch_id: int) -> int:
    from marketplace.extensions import db
    from marketplace.models import Batch
    from marketplace.trace.epcis import batch_epcis_document

    with app.app_context():
        document = batch_epcis_document(db.session.get(Batch, batch_id), base_url=BASE_URL)
        size = len(json.dumps(document, ensure_ascii=False).encode("utf-8"))
        db.session.remove()
    return size


def measure(path: str, batch_id: int, warm_id: int, form: str, traced: bool, out) -> None:
    """In a fresh process: one warm-up export of ``warm_id``, then the measured one."""
    app = _app(path)
    client = app.test_client()

    def export(batch: int) -> int:
        return _export_http(client, batch) if form == "streamed" else _export_dict(app, batch)

    export(warm_id)
    if traced:
        tracemalloc.start()
        size = export(batch_id)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        out.put({"traced_mb": peak / 2**20, "bytes": size})
        return
    base = _maxrss_mb()
    started = time.perf_counter()
    size = export(batch_id)
    seconds = time.perf_counter() - started
    out.put({"seconds": seconds, "rss_mb": max(0.0, _maxrss_mb() - base), "bytes": size})


def in_process(*args) -> dict:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=measure, args=(*args, out))
    proc.start()
    result = out.get(timeout=1800)
    proc.join()
    return result


def check(path: str, batch_id: int, tmp: str) -> tuple[float, str]:
    """``flask trace epcis BATCH_ID -o FILE``, then the file read back and counted."""
    from biip import parse as biip_parse

    from marketplace.extensions import db

    app = _app(path)
    target = f"{tmp}/epcis.jsonld"
    with app.app_context():  # as the `flask` command pushes one
        started = time.perf_counter()
        result = app.test_cli_runner().invoke(args=["trace", "epcis", str(batch_id), "-o", target])
        seconds = time.perf_counter() - started
        db.session.remove()
        db.engine.dispose()
    if result.exit_code != 0:
        return seconds, f"MISSED: exit {result.exit_code}: {result.output.strip()} {result.exception!r}"
    with open(target, encoding="utf-8") as fh:
        events = json.load(fh)["epcisBody"]["eventList"]
    added = [uri for e in events if e["action"] == "ADD" for uri in e.get("epcList", [])]
    deleted = [uri for e in events if e["action"] == "DELETE" for uri in e.get("epcList", [])]
    voided = VOIDED[1] - VOIDED[0] + 1
    ok = len(added) == len(set(added)) == STAMPS and len(deleted) == voided and set(deleted) <= set(added)
    for uri in (added[0], added[-1]):  # GS1's reading of a printed stamp: GTIN, lot, serial
        parsed = biip_parse(uri).gs1_digital_link_uri
        ok = ok and parsed is not None and [e.ai.ai for e in parsed.element_strings] == ["01", "10", "21"]
    return seconds, (f"{'ok' if ok else 'MISSED'}: {len(added):,} commissioned package URIs, each once; "
                     f"{len(deleted):,} decommissioned")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/epcis.db"
        big, small, built = build(path)
        print(f"EPCIS benchmark: SQLite, a batch of {STAMPS:,} stamps (one run, {VOIDED[1] - VOIDED[0] + 1:,} voided) "
              f"and one of {SMALL:,}, made by the services in {built:.1f} s; {os.cpu_count()} CPUs")
        print(f"{'what':<36}{'stamps':>9}{'seconds':>9}{'MB out':>9}{'peak RSS +MB':>14}{'traced peak MB':>16}")
        rows = {}
        for label, form, batch, count in (("GET /lot/<id>/epcis.json (streamed)", "streamed", big, STAMPS),
                                          ("GET /lot/<id>/epcis.json (streamed)", "streamed", small, SMALL),
                                          ("dict form + json.dumps", "dict", big, STAMPS)):
            timed = in_process(path, batch, small, form, False)
            traced = in_process(path, batch, small, form, True)
            rows[(form, count)] = {**timed, **traced}
            print(f"{label:<36}{count:>9,}{timed['seconds']:>9.2f}{timed['bytes'] / 1e6:>9.1f}"
                  f"{timed['rss_mb']:>14.1f}{traced['traced_mb']:>16.1f}")
        cli_seconds, verdict = check(path, big, tmp)
        print(f"{'flask trace epcis ID -o FILE':<36}{STAMPS:>9,}{cli_seconds:>9.2f}   check {verdict}")

        streamed, reference = rows[("streamed", STAMPS)], rows[("streamed", SMALL)]
        limit = FLAT_RATIO * reference["traced_mb"] + FLAT_SLACK_MB
        fast = streamed["seconds"] <= TARGET_SECONDS
        flat = streamed["traced_mb"] <= limit
        print(f"{STAMPS:,} stamps streamed in {streamed['seconds']:.2f} s, traced peak {streamed['traced_mb']:.1f} MB "
              f"vs {reference['traced_mb']:.1f} MB at {SMALL:,} (flat: ≤ {limit:.1f} MB)")
        label = f"target ≤ {TARGET_SECONDS:g} s with flat memory"
        print(f"{label:<60}{'met' if fast and flat and verdict.startswith('ok') else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
