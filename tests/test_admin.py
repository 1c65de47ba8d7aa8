"""Officer decisions on producers: approve, reject, suspend (with a reason), and their effect."""
from __future__ import annotations

from tests.conftest import login


def test_suspending_a_producer_needs_a_reason_and_hides_its_products(app, world, db):
    visitor = app.test_client()
    assert world.published_a.name in visitor.get("/").get_data(as_text=True)
    officer = app.test_client()
    login(officer, "officer@example.vn")

    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "suspend", "note": ""})
    assert r.status_code == 200
    assert "Hãy ghi lý do" in r.get_data(as_text=True)
    db.session.expire_all()
    assert world.a.status == "approved"

    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "suspend", "note": "Giấy ATTP hết hạn"})
    assert r.status_code == 302
    db.session.expire_all()
    assert world.a.status == "suspended" and world.a.review_note == "Giấy ATTP hết hạn"
    assert world.published_a.name not in visitor.get("/").get_data(as_text=True)
    assert visitor.get(f"/p/{world.published_a.slug}").status_code == 404
    assert visitor.get(f"/producers/{world.a.slug}").status_code == 404

    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "approve", "note": ""})
    assert r.status_code == 302
    assert visitor.get(f"/p/{world.published_a.slug}").status_code == 200


def test_unknown_decision_is_a_form_error(app, world, db):
    officer = app.test_client()
    login(officer, "officer@example.vn")
    r = officer.post(f"/admin/producers/{world.a.id}", data={"decision": "delete", "note": "x"})
    assert r.status_code == 200
    assert "Lựa chọn không hợp lệ" in r.get_data(as_text=True)
    r = officer.post(f"/admin/products/{world.product_a.id}", data={"decision": "suspend", "note": "x"})
    assert r.status_code == 200  # products have no "suspend"


def test_producer_sees_why_it_was_suspended(app, world, db):
    world.a.status, world.a.review_note = "suspended", "Giấy ATTP hết hạn"
    db.session.commit()
    client = app.test_client()
    login(client, "a@example.vn")
    page = client.get("/dashboard/").get_data(as_text=True)
    assert "tạm ngừng" in page and "Giấy ATTP hết hạn" in page
