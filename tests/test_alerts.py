"""Clone alerts (issue 6): stamps scanned more than the threshold or from two provinces,
newest first, with their scan history; an officer voids the stamp or its run, or marks the
alert handled (it comes back with the next scan).  Scans are made through the stamp page.
"""
from __future__ import annotations

from sqlalchemy import select

from marketplace.models import AuditEntry, Stamp
from marketplace.stamps.serials import group_serial
from marketplace.stamps.service import activate_run
from tests.conftest import signed_in
from tests.test_routes_matrix import add_trace
from tests.test_scan import ScanClient


def listed(page: str, serial: str) -> bool:
    """The serial is a row of the alerts table (not merely named in a message)."""
    return f"<code>{group_serial(serial, ' ')}</code>" in page


def stamps_of(db, run) -> list[str]:
    return list(db.session.scalars(select(Stamp.serial).where(Stamp.run_id == run.id).order_by(Stamp.position)))


def setup_scans(app_factory, db, world):
    """Stamp 1: 6 scans in Thanh Hóa by six different phones (over the threshold of 5 distinct
    scanners); stamp 2: 2 scans from two provinces; stamp 3: one scan."""
    add_trace(db.session, world)
    activate_run(db.session, world.run_a)
    db.session.commit()
    one, two, three = stamps_of(db, world.run_a)
    web = app_factory(SCAN_PROVINCE_HEADER="X-Province", SCAN_NOT_FOUND_RATE="100000 per minute")
    web.test_client_class = ScanClient
    buyer = web.test_client()
    db.session.rollback()
    for i in range(6):  # six networks: six scanners (one phone reloading would be one)
        assert buyer.get(f"/s/{one}", headers={"X-Province": "38"},
                         environ_base={"REMOTE_ADDR": f"10.0.{i}.7"}).status_code == 200
    assert buyer.get(f"/s/{two}", headers={"X-Province": "38"}).status_code == 200
    assert buyer.get(f"/s/{two}", headers={"X-Province": "1"}).status_code == 200
    assert buyer.get(f"/s/{three}", headers={"X-Province": "38"}).status_code == 200
    db.session.rollback()
    return buyer, (one, two, three)


def stamp(db, serial) -> Stamp:
    db.session.rollback()
    return db.session.scalars(select(Stamp).where(Stamp.serial == serial)).one()


def test_alerts_list_newest_first_with_history(app, app_factory, db, world):
    buyer, (one, two, three) = setup_scans(app_factory, db, world)
    officer = signed_in(app, "officer@example.vn")
    page = officer.get("/admin/alerts").get_data(as_text=True)
    first, second = stamp(db, one), stamp(db, two)
    assert listed(page, two) and listed(page, one) and not listed(page, three)
    assert page.index(group_serial(two, " ")) < page.index(group_serial(one, " "))  # two was scanned last
    detail = officer.get(f"/admin/alerts/{second.id}").get_data(as_text=True)
    assert "Thanh Hóa" in detail and "Hà Nội" in detail and "Lịch sử quét (2)" in detail
    assert "Lịch sử quét (6)" in officer.get(f"/admin/alerts/{first.id}").get_data(as_text=True)
    producer = signed_in(app, "a@example.vn")
    assert producer.get("/admin/alerts").status_code == 403
    assert producer.post(f"/admin/alerts/{first.id}/void").status_code == 403
    assert stamp(db, one).status == "active"


def test_handled_alerts_leave_the_list_until_the_next_scan(app, app_factory, db, world):
    buyer, (one, two, _three) = setup_scans(app_factory, db, world)
    officer = signed_in(app, "officer@example.vn")
    first_id = stamp(db, one).id
    assert officer.post(f"/admin/alerts/{first_id}/handled").status_code == 302
    assert not listed(officer.get("/admin/alerts").get_data(as_text=True), one)
    assert listed(officer.get("/admin/alerts?handled=1").get_data(as_text=True), one)
    assert buyer.get(f"/s/{one}", headers={"X-Province": "38"}).status_code == 200  # scanned again
    db.session.rollback()
    assert listed(officer.get("/admin/alerts").get_data(as_text=True), one)
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "alert.handled")).one()
    assert entry.target_id == first_id and entry.actor_email == "officer@example.vn"


def test_void_the_stamp_or_its_whole_run(app, app_factory, db, world):
    buyer, (one, two, three) = setup_scans(app_factory, db, world)
    officer = signed_in(app, "officer@example.vn")
    first_id = stamp(db, one).id
    assert officer.post(f"/admin/alerts/{first_id}/void").status_code == 302
    assert stamp(db, one).status == "void" and stamp(db, two).status == "active"
    assert "Tem đã bị hủy" in buyer.get(f"/s/{one}").get_data(as_text=True)  # the buyer is told at once
    assert not listed(officer.get("/admin/alerts").get_data(as_text=True), one)
    second_id = stamp(db, two).id
    assert officer.post(f"/admin/alerts/{second_id}/void-run").status_code == 302
    assert {stamp(db, s).status for s in (one, two, three)} == {"void"}
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"stamp.void", "stamps.void"} <= actions
