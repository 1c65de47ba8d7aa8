"""Recall end to end (issue 6): an officer recalls a batch from the product's admin page,
through a confirmation page that says what will happen (issue 17); the stamp pages show the
banner at once, the exchanges get an update (unavailable, with the
reason), and the lot report lists the stamps, where they were scanned, the shipments and the
deliveries.  Lifting a recall is recorded, not erased.
"""
from __future__ import annotations

import csv
import datetime as dt
import io

import lxml.html
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


def page_of(response):
    return lxml.html.fromstring(response.get_data(as_text=True))


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
    assert "LOT-A1" in page and f"/dashboard/batches/{batch_id}/recall" in page and "Thu hồi lô hàng" in page
    before = len(pending(db, product_id))

    # The first step only shows what will happen: the lot, its stamps, the exchanges told.
    confirm = officer.get(f"/dashboard/batches/{batch_id}/recall")
    assert confirm.status_code == 200
    assert "LOT-A1" in confirm.get_data(as_text=True) and 'name="confirm" value="1"' in confirm.get_data(as_text=True)
    response = officer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": "Dư lượng thuốc trừ sâu",
                                                                           "confirm": "1"})
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
    assert producer.post(f"/dashboard/batches/{batch_id}/recall",
                         data={"reason": "Nghi nhiễm khuẩn", "confirm": "1"}).status_code == 302
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


# ---- the confirmation step (issue 17, point 5) ----------------------------------------------

def test_the_confirmation_page_says_what_a_recall_will_do(app, app_factory, db, world):
    """Which lot, how many stamps will show the recall (all but the void ones), that the
    product leaves sale, and which exchanges are told: DFC takes pushes and the item;
    Postmart takes pushes but refuses the item (no photo), Thanh Hóa pulls but refuses it."""
    setup(app, app_factory, db, world)
    configure_push(find_exchange(db.session, "dfc"), endpoint="http://127.0.0.1:9/dfc", enabled=True,
                   allow_private=True)
    find_exchange(db.session, "thanhhoa").new_feed_token()
    db.session.commit()
    batch_id = world.batch_a.id
    for client in (signed_in(app, "officer@example.vn"), signed_in(app, "a@example.vn")):
        page = page_of(client.get(f"/dashboard/batches/{batch_id}/recall"))
        assert "LOT-A1" in page.cssselect("#recall-lot")[0].text_content()
        stamps = page.cssselect("#recall-stamps")[0]
        assert stamps.get("data-stamps") == "3" and "3 tem" in stamps.text_content()
        told = [li.get("data-exchange") for li in page.cssselect("#recall-exchanges li[data-exchange]")]
        assert told == ["dfc"]
        assert "gửi thông báo ngay" in page.cssselect("#recall-exchanges")[0].text_content()
        assert page.cssselect("button.danger")[0].text_content().strip() == "Xác nhận thu hồi lô hàng"
        assert page.cssselect('form input[name="confirm"]')[0].get("value") == "1"
    db.session.rollback()
    assert db.session.get(Batch, batch_id).status == "open"  # looking changes nothing


def test_a_recall_without_the_confirmation_changes_nothing(app, app_factory, db, world):
    setup(app, app_factory, db, world)
    batch_id, product_id = world.batch_a.id, world.published_a.id
    before = len(pending(db, product_id))
    officer = signed_in(app, "officer@example.vn")
    for data in ({"reason": "Dư lượng thuốc trừ sâu"}, {"reason": "x", "confirm": "0"}, {}):
        response = officer.post(f"/dashboard/batches/{batch_id}/recall", data=data)
        assert response.status_code == 302
        assert response.headers["Location"].startswith(f"/dashboard/batches/{batch_id}/recall")
    # The one-step form of old leads to the confirmation, the reason filled in.
    response = officer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": "Dư lượng thuốc trừ sâu"})
    page = officer.get(response.headers["Location"]).get_data(as_text=True)
    assert "Dư lượng thuốc trừ sâu</textarea>" in page
    db.session.rollback()
    assert db.session.get(Batch, batch_id).status == "open"
    assert len(pending(db, product_id)) == before
    assert not db.session.scalars(select(AuditEntry).where(AuditEntry.action == "batch.recall")).all()
    # Confirmed without a reason: the page again, with the error, and still nothing recalled.
    response = officer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": " ", "confirm": "1"})
    assert response.status_code == 422 and "LOT-A1" in response.get_data(as_text=True)
    assert page_of(response).cssselect(".has-error textarea[name=reason]")
    db.session.rollback()
    assert db.session.get(Batch, batch_id).status == "open"


def test_only_the_batchs_producers_and_officers_reach_the_confirmation(app, app_factory, db, world):
    setup(app, app_factory, db, world)
    batch_id = world.batch_a.id
    assert app.test_client().get(f"/dashboard/batches/{batch_id}/recall").status_code == 302  # to log in
    other = signed_in(app, "b@example.vn")
    assert other.get(f"/dashboard/batches/{batch_id}/recall").status_code == 404
    assert other.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": "x", "confirm": "1"}).status_code == 404
    db.session.rollback()
    assert db.session.get(Batch, batch_id).status == "open"
    assert signed_in(app, "coop@example.vn").get(f"/dashboard/batches/{batch_id}/recall").status_code == 200


def test_a_recalled_batch_has_nothing_left_to_confirm(app, app_factory, db, world):
    setup(app, app_factory, db, world)
    batch_id = world.batch_a.id
    producer = signed_in(app, "a@example.vn")
    producer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": "Nấm mốc", "confirm": "1"})
    page = page_of(producer.get(f"/dashboard/batches/{batch_id}/recall"))
    assert not page.cssselect('input[name="confirm"]') and "Nấm mốc" in page.text_content()
