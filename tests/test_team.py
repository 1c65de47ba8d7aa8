"""Owners give staff their own logins; staff work on products but not on the profile or team."""
from __future__ import annotations

from sqlalchemy import select

from marketplace.models import User
from tests.conftest import login

STAFF = {"email": "Con.Gai@example.vn", "name": "Trịnh Thị Con", "password": "Ruong-Lua-2025"}


def test_owner_adds_staff_who_can_work_on_products_only(app, world, db):
    owner = app.test_client()
    login(owner, "a@example.vn")
    r = owner.post("/dashboard/team", data=STAFF)
    assert r.status_code == 302
    staff_user = db.session.scalars(select(User).where(User.email == "con.gai@example.vn")).one()
    assert staff_user.producer_id == world.a.id and staff_user.producer_role == "staff"
    assert staff_user.role == "producer"

    staff = app.test_client()
    login(staff, "con.gai@example.vn", STAFF["password"])
    assert staff.get(f"/dashboard/products/{world.product_a.id}/edit").status_code == 200
    assert staff.get(f"/dashboard/producers/{world.a.id}").status_code == 403
    assert staff.get("/dashboard/team").status_code == 403
    assert staff.post(f"/dashboard/team/{staff_user.id}/active", data={"active": "1"}).status_code == 403

    # the owner locks the login: the staff member's session ends at once
    r = owner.post(f"/dashboard/team/{staff_user.id}/active", data={"active": "0"})
    assert r.status_code == 302
    r = staff.get("/dashboard/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/account/login")


def test_team_bad_input(app, world, db):
    owner = app.test_client()
    login(owner, "a@example.vn")
    for data, message in [
        (dict(STAFF, email="b@example.vn"), "đã được đăng ký"),
        (dict(STAFF, password="12345678"), "quá phổ biến"),
        (dict(STAFF, email="nope"), "Địa chỉ email không hợp lệ"),
        (dict(STAFF, name=""), "Vui lòng điền mục này"),
    ]:
        r = owner.post("/dashboard/team", data=data)
        assert r.status_code == 200
        assert message in r.get_data(as_text=True)
    assert db.session.scalars(select(User).where(User.producer_role == "staff")).all() == []


def test_owner_cannot_lock_another_producers_user_or_an_owner(app, world, db):
    owner = app.test_client()
    login(owner, "a@example.vn")
    assert owner.post(f"/dashboard/team/{world.users['producer_b'].id}/active", data={"active": "0"}).status_code == 404
    assert owner.post(f"/dashboard/team/{world.users['producer_a'].id}/active", data={"active": "0"}).status_code == 404
    db.session.expire_all()
    assert world.users["producer_b"].active and world.users["producer_a"].active


def test_cooperative_files_a_facility_certificate_for_a_member_only(app, world, db):
    from marketplace.models import Certification

    coop = app.test_client()
    login(coop, "coop@example.vn")
    data = {"scheme": "food_safety", "number": "ATTP-01", "body": "Chi cục QLCL", "product_id": ""}
    r = coop.post("/dashboard/certifications", data=dict(data, producer_id=str(world.a.id)))
    assert r.status_code == 302
    cert = db.session.scalars(select(Certification)).one()
    assert cert.producer_id == world.a.id and cert.product_id is None
    r = coop.post("/dashboard/certifications", data=dict(data, producer_id=str(world.b.id)))
    assert r.status_code == 404  # B is not a member
    assert len(db.session.scalars(select(Certification)).all()) == 1
