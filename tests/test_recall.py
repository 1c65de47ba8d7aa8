"""Recall end to end (issue 6): an officer recalls a batch from the product's admin page; the
stamp pages show the banner at once, the exchanges get an update (unavailable, with the
reason), and the lot report lists the stamps, where they were scanned, the shipments and the
deliveries.  Lifting a recall is recorded, not erased.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

from sqlalchemy import select

from marketplace.feeds import canonical
from marketplace.feeds.service import configure_push, find_exchange
from marketplace.models import AuditEntry, Batch, Delivery
from marketplace.stamps.service import activate_run
from marketplace.trace.service import LOCAL_TZ, append_event
from tests.conftest import signed_in
from tests.test_routes_matrix import add_trace
from tests.test_scan import ScanClient

BASE = "http://127.0.0.1:5000"


def setup(app, app_factory, db, world):
    """Producer A's published product with a batch: a shipment in its diary, an active run of
    three stamps scanned in Thanh Hóa and Hà Nội, pushes to Postmart switched on."""
    s = db.session
    world.product_a = world.published_a  # the batch is made for the listed product
    add_trace(s, world)
    append_event(s, world.batch_a, kind="shipping", occurred_at=dt.datetime(2025, 10, 3, 9, 0, tzinfo=LOCAL_TZ),
                 details={"counterpart": "Siêu thị Thanh Hóa", "document_no": "PX-0012"})
    activate_run(s, world.run_a)
    app.config["PUSH_ALLOW_PRIVATE"] = True
    configure_push(find_exchange(s, "postmart"), endpoint="http://127.0.0.1:9/hook", enabled=True, allow_private=True)
    s.commit()
    web = app_factory(SCAN_PROVINCE_HEADER="X-Province", SCAN_NOT_FOUND_RATE="100000 per minute")
    web.test_client_class = ScanClient
    buyer = web.test_client()
    s.rollback()
    assert buyer.get(f"/s/{world.serial_a}", headers={"X-Province": "38"}).status_code == 200
    assert buyer.get(f"/s/{world.serial_a}", headers={"X-Province": "1"}).status_code == 200
    s.rollback()
    return buyer


def item(db, product_id) -> dict:
    found = canonical.item_for(db.session, product_id, base_url=BASE, today=dt.date.today())
    db.session.rollback()
    return found


def pending(db, product_id) -> list[Delivery]:
    db.session.rollback()
    return list(db.session.scalars(select(Delivery).where(Delivery.product_id == product_id,
                                                           Delivery.status == "pending").order_by(Delivery.id)))


def test_recall_reaches_stamp_pages_exchanges_and_the_report(app, app_factory, db, world):
    buyer = setup(app, app_factory, db, world)
    batch_id, product_id, serial = world.batch_a.id, world.published_a.id, world.serial_a
    officer = signed_in(app, "officer@example.vn")
    page = officer.get(f"/admin/products/{product_id}").get_data(as_text=True)
    assert "LOT-A1" in page and f"/dashboard/batches/{batch_id}/recall" in page
    before = len(pending(db, product_id))

    response = officer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": "Dư lượng thuốc trừ sâu"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/admin/products/{product_id}")
    stamp_page = buyer.get(f"/s/{serial}").get_data(as_text=True)
    assert "SẢN PHẨM BỊ THU HỒI" in stamp_page and "Dư lượng thuốc trừ sâu" in stamp_page
    assert len(pending(db, product_id)) == before + 1  # the exchange is told
    listed = item(db, product_id)
    assert listed["availability"] == "out_of_stock"
    assert [r["reason"] for r in listed["recalls"]] == ["Dư lượng thuốc trừ sâu"]

    report = officer.get(f"/dashboard/batches/{batch_id}/report.csv")
    assert report.status_code == 200
    rows = list(csv.reader(io.StringIO(report.data.decode("utf-8-sig"))))
    sections = [r[0] for r in rows[1:]]
    assert sections[0] == "lot" and "shipping" in sections and "stamp_run" in sections
    assert "scan" in sections and "delivery" in sections
    header = rows[0]
    as_dicts = [dict(zip(header, r)) for r in rows[1:]]
    shipping = next(r for r in as_dicts if r[header[0]] == "shipping")
    assert "Siêu thị Thanh Hóa" in shipping.values() and "PX-0012" in shipping.values()
    scans = [r for r in as_dicts if r[header[0]] == "scan"]
    assert {v for r in scans for v in r.values()} >= {"Tỉnh Thanh Hóa", "Thành phố Hà Nội"}
    deliveries = [r for r in as_dicts if r[header[0]] == "delivery"]
    assert any("Postmart" in " ".join(r.values()) for r in deliveries)
    assert officer.get(f"/dashboard/batches/{batch_id}/report.xlsx").status_code == 200


def test_lifting_a_recall_is_recorded_not_erased(app, app_factory, db, world):
    buyer = setup(app, app_factory, db, world)
    batch_id, product_id, serial = world.batch_a.id, world.published_a.id, world.serial_a
    producer = signed_in(app, "a@example.vn")
    assert producer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": "Nghi nhiễm khuẩn"}).status_code == 302
    # No reason given, or another tenant: nothing changes.
    assert producer.post(f"/dashboard/batches/{batch_id}/lift-recall", data={"note": ""}).status_code == 302
    other = signed_in(app, "b@example.vn")
    assert other.post(f"/dashboard/batches/{batch_id}/lift-recall", data={"note": "x"}).status_code == 404
    db.session.rollback()
    assert db.session.get(Batch, batch_id).status == "recalled"
    version = item(db, product_id)["version"]

    officer = signed_in(app, "officer@example.vn")
    lifted = officer.post(f"/dashboard/batches/{batch_id}/lift-recall",
                          data={"note": "Kết quả kiểm nghiệm đạt (phiếu KN-77)"})
    assert lifted.status_code == 302
    db.session.rollback()
    batch = db.session.get(Batch, batch_id)
    assert batch.status == "closed" and batch.recall_reason == "Nghi nhiễm khuẩn" and batch.recalled_at
    assert batch.recall_lift_note == "Kết quả kiểm nghiệm đạt (phiếu KN-77)" and batch.recall_lifted_at
    assert "SẢN PHẨM BỊ THU HỒI" not in buyer.get(f"/s/{serial}").get_data(as_text=True)
    listed = item(db, product_id)
    assert listed["recalls"] == [] and listed["availability"] == "in_stock" and listed["version"] == version + 1
    page = officer.get(f"/admin/products/{product_id}").get_data(as_text=True)
    assert "Nghi nhiễm khuẩn" in page and "KN-77" in page  # the history stays visible
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "batch.recall_lift")).one()
    assert entry.actor_email == "officer@example.vn" and entry.before["status"] == "recalled"
    assert entry.after["status"] == "closed"
    # Lifting again is refused.
    assert officer.post(f"/dashboard/batches/{batch_id}/lift-recall", data={"note": "lần hai"}).status_code == 302
    db.session.rollback()
    assert db.session.get(Batch, batch_id).recall_lift_note == "Kết quả kiểm nghiệm đạt (phiếu KN-77)"
