"""Issue 18, point 1: officers of a province and of its communes.

A commune officer sees, decides, recalls and counts only the producers and products of its
communes (another commune's answer 404, as between producers); the province's officers and
admins see everything; only the province records OCOP recognitions (at the level the law
gives: the province 3–4★, the central level 5★) and manages the exchanges.  Admins set an
officer's jurisdiction on the web and with ``create-user --scope``.  Every route for an
officer of another commune: tests/test_routes_matrix.py (``commune_b``).
"""
from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

import lxml.html
import pytest
from sqlalchemy import select

from marketplace.access import parse_scope
from marketplace.catalogue.service import submit_product
from marketplace.models import AuditEntry, Batch, OcopRecognition, Product, User
from marketplace.trace.service import create_batch
from tests.conftest import TEST_PASSWORD, make_product, signed_in
from tests.test_api import bearer, token_for
from tests.test_routes_matrix import commune_officer
from tests.test_stats import WARDS, district  # noqa: F401  (the figures' fixture)

A_WARD, B_WARD = 15724, 15667  # world: producer A and the cooperative in 15724, producer B in 15667


def page_of(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.fromstring(response.get_data(as_text=True))


@pytest.fixture
def communes(app, db, world):
    """A pending product in each commune, a batch of B's, and an officer for each commune."""
    world.pending_a = make_product(db.session, world.a, "Chè lam Đồng Tiến")
    world.pending_b = make_product(db.session, world.b, "Bánh gai Thọ Xuân")
    for product in (world.pending_a, world.pending_b):
        submit_product(product)
    db.session.flush()
    world.batch_b = create_batch(db.session, world.product_b, lot_code="LO-B1", quantity=Decimal("4"), unit="kg",
                                 production_date=dt.date(2026, 11, 2))
    world.officer_a = commune_officer(db.session, "xa.a@example.vn", A_WARD)
    world.officer_b = commune_officer(db.session, "xa.b@example.vn", B_WARD)
    db.session.commit()
    return world


def test_a_commune_officer_sees_only_its_communes(app, communes):
    w = communes
    officer_b = signed_in(app, "xa.b@example.vn")
    desk = officer_b.get("/admin/").get_data(as_text=True)
    assert w.pending_b.name in desk and w.pending_a.name not in desk
    producers = officer_b.get("/admin/producers").get_data(as_text=True)
    assert w.b.name in producers and w.a.name not in producers and w.coop.name not in producers
    products = officer_b.get("/admin/products").get_data(as_text=True)
    assert w.product_b.name in products and w.product_a.name not in products
    for url in (f"/admin/products/{w.pending_a.id}", f"/admin/producers/{w.a.id}",
                f"/dashboard/batches/{w.batch_b.id}/recall"):
        expected = 200 if "batches" in url else 404
        assert officer_b.get(url).status_code == expected, url
    # The province's officer sees both communes.
    province = signed_in(app, "officer@example.vn").get("/admin/").get_data(as_text=True)
    assert w.pending_a.name in province and w.pending_b.name in province


def test_a_commune_officer_decides_and_recalls_only_in_its_communes(app, db, communes):
    w = communes
    officer_b = signed_in(app, "xa.b@example.vn")
    refused = officer_b.post(f"/admin/products/{w.pending_a.id}", data={"decision": "approve"})
    assert refused.status_code == 404
    approved = officer_b.post(f"/admin/products/{w.pending_b.id}", data={"decision": "approve"})
    assert approved.status_code == 302
    db.session.expire_all()
    assert db.session.get(Product, w.pending_a.id).status == "pending"
    assert db.session.get(Product, w.pending_b.id).status == "published"
    officer_a = signed_in(app, "xa.a@example.vn")
    assert officer_a.post(f"/dashboard/batches/{w.batch_b.id}/recall",
                          data={"reason": "Nghi nhiễm khuẩn", "confirm": "1"}).status_code == 404
    assert officer_b.post(f"/dashboard/batches/{w.batch_b.id}/recall",
                          data={"reason": "Nghi nhiễm khuẩn", "confirm": "1"}).status_code == 302
    db.session.expire_all()
    assert db.session.get(Batch, w.batch_b.id).recalled_at is not None


def test_a_commune_officer_without_communes_sees_nobody(app, db, communes):
    nobody = commune_officer(db.session, "xa.trong@example.vn")
    db.session.commit()
    client = signed_in(app, "xa.trong@example.vn")
    page = client.get("/admin/products").get_data(as_text=True)
    assert communes.product_a.name not in page and communes.product_b.name not in page
    assert nobody.ward_scope == frozenset() and not nobody.is_province_officer


def test_the_api_answers_a_commune_officer_for_its_communes(app, db, communes, client):
    headers = bearer(token_for(db, communes.officer_b))
    products = client.get("/api/v1/products", headers=headers).get_json()
    assert {p["producer_id"] for p in products["data"]} == {communes.b.id}
    assert client.get(f"/api/v1/products/{communes.product_a.id}", headers=headers).status_code == 404
    producers = client.get("/api/v1/producers", headers=headers).get_json()
    assert [p["id"] for p in producers["data"]] == [communes.b.id]


# ---- figures ---------------------------------------------------------------------------------

def _csv(client, key: str, query: str = "") -> list[list[str]]:
    response = client.get(f"/admin/stats/{key}.csv{query}")
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))[2:]


@pytest.mark.parametrize("key", ["products", "listed", "producers", "activity", "deliveries"])
def test_figures_and_csvs_count_only_the_officers_communes(app, db, district, key):  # noqa: F811
    """A commune officer's figure is the province officer's figure filtered to that commune;
    an officer of two communes gets the cell-wise sum of the two."""
    commune_officer(db.session, "xa.1@example.vn", WARDS[1])
    commune_officer(db.session, "xa.2@example.vn", WARDS[1], WARDS[2])
    db.session.commit()
    province = signed_in(app, "officer@example.vn")
    one = _csv(signed_in(app, "xa.1@example.vn"), key)
    assert one == _csv(province, key, f"?commune={WARDS[1]}")
    two = _csv(signed_in(app, "xa.2@example.vn"), key)
    if key == "producers":  # one row per commune
        assert sorted(two) == sorted(_csv(province, key, f"?commune={WARDS[1]}")
                                     + _csv(province, key, f"?commune={WARDS[2]}"))
    else:
        left, right = _csv(province, key, f"?commune={WARDS[1]}"), _csv(province, key, f"?commune={WARDS[2]}")
        summed = [[a[0], *(str(int(x) + int(y)) for x, y in zip(a[1:], b[1:]))] for a, b in zip(left, right)]
        assert two == summed
    everything = _csv(province, key)
    if key != "producers":
        assert any(int(c) for row in everything for c in row[1:])  # the figure has something to filter


# ---- OCOP recognitions: the province's ---------------------------------------------------------

def ocop_form(**overrides) -> dict:
    data = {"stars": "4", "score": "78", "decision_no": "120/QĐ-UBND", "decision_date": "2026-09-01",
            "issuer_level": "provincial", "issuer_name": "UBND tỉnh Thanh Hóa", "valid_until": ""}
    data.update(overrides)
    return data


def test_only_the_province_records_ocop_recognitions(app, db, communes):
    w = communes
    url = f"/admin/products/{w.published_a.id}/ocop"
    officer_a = signed_in(app, "xa.a@example.vn")
    page = page_of(officer_a.get(f"/admin/products/{w.published_a.id}"))
    assert not page.cssselect(f'form[action="{url}"]')
    assert "cán bộ cấp tỉnh" in page.get_element_by_id("ocop-by-province").text_content()
    assert officer_a.post(url, data=ocop_form()).status_code == 403
    assert db.session.scalars(select(OcopRecognition)).all() == []
    province = signed_in(app, "officer@example.vn")
    assert page_of(province.get(f"/admin/products/{w.published_a.id}")).cssselect(f'form[action="{url}"]')
    assert province.post(url, data=ocop_form()).status_code == 302
    rec = db.session.scalars(select(OcopRecognition)).one()
    assert (rec.stars, rec.issuer_level) == (4, "provincial")
    assert officer_a.get(f"/admin/ocop/{rec.id}/revoke").status_code == 403


@pytest.mark.parametrize("fields, message", [
    ({"stars": "5", "issuer_level": "provincial"}, "Sản phẩm 5 sao do Trung ương công nhận."),
    ({"stars": "3", "issuer_level": "central"}, "Sản phẩm 3–4 sao do UBND cấp tỉnh công nhận"),
    ({"issuer_level": "district", "decision_date": "2025-07-01"}, "Từ 01/07/2025 không còn cấp huyện"),
])
def test_the_issuing_level_matches_the_stars_and_the_date(app, db, communes, fields, message):
    province = signed_in(app, "officer@example.vn")
    response = province.post(f"/admin/products/{communes.published_a.id}/ocop", data=ocop_form(**fields))
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert db.session.scalars(select(OcopRecognition)).all() == []


def test_a_district_decision_from_before_july_2025_is_still_recorded(app, db, communes):
    province = signed_in(app, "officer@example.vn")
    response = province.post(f"/admin/products/{communes.published_a.id}/ocop",
                             data=ocop_form(issuer_level="district", decision_date="2025-06-30",
                                            issuer_name="UBND huyện Triệu Sơn"))
    assert response.status_code == 302
    assert db.session.scalars(select(OcopRecognition.issuer_level)).one() == "district"


# ---- the exchanges: the province's ---------------------------------------------------------------

def test_the_exchanges_are_the_provinces(app, communes):
    officer_a = signed_in(app, "xa.a@example.vn")
    nav = page_of(officer_a.get("/admin/products"))
    assert not nav.cssselect('a[href="/admin/exchanges"]') and nav.cssselect('a[href="/admin/deliveries"]')
    assert officer_a.get("/admin/exchanges").status_code == 403
    assert officer_a.get("/admin/exchanges/postmart").status_code == 403
    assert officer_a.get("/admin/deliveries").status_code == 200


# ---- setting a jurisdiction ------------------------------------------------------------------------

def test_an_admin_sets_an_officers_jurisdiction(app, db, communes):
    admin = signed_in(app, "admin@example.vn")
    officer = db.session.scalars(select(User).where(User.email == "officer@example.vn")).one()
    users = page_of(admin.get("/admin/users"))
    assert users.cssselect(f'span[data-scope="{officer.id}"]')[0].text_content() == "Toàn tỉnh"
    url = f"/admin/users/{officer.id}/scope"
    form = page_of(admin.get(url))
    assert len(form.cssselect('input[name="wards"]')) > 100  # the province's communes and wards
    empty = admin.post(url, data={"scope": "communes"})
    assert empty.status_code == 422 and "Chọn ít nhất một xã/phường." in empty.get_data(as_text=True)
    saved = admin.post(url, data={"scope": "communes", "wards": [str(A_WARD), str(B_WARD)]}, follow_redirects=True)
    assert saved.status_code == 200 and "Đã cập nhật phạm vi của officer@example.vn" in saved.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, officer.id).ward_scope == {A_WARD, B_WARD}
    back = admin.post(url, data={"scope": "province", "wards": [str(A_WARD)]})
    assert back.status_code == 302
    db.session.expire_all()
    assert db.session.get(User, officer.id).ward_scope is None
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "user.scope")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.before["scope"], e.after["scope"], e.after["wards"]) for e in entries] == [
        ("province", "communes", [B_WARD, A_WARD] if B_WARD < A_WARD else [A_WARD, B_WARD]),
        ("communes", "province", [])]
    bad = admin.post(url, data={"scope": "communes", "wards": ["1"]})  # not a ward of the province
    assert bad.status_code == 422
    producer = db.session.scalars(select(User).where(User.email == "a@example.vn")).one()
    assert admin.get(f"/admin/users/{producer.id}/scope").status_code == 404  # producers have no jurisdiction
    assert signed_in(app, "officer@example.vn").get(url).status_code == 403


@pytest.mark.parametrize("text, wards", [("province", None), ("15724", [15724]), (" 15724, 15667,15724", [15667, 15724])])
def test_parse_scope(text, wards):
    assert parse_scope(text) == wards


@pytest.mark.parametrize("text", ["", "15724,abc", "1", "26734"])  # 26734: a ward of another province
def test_parse_scope_refuses_what_is_not_the_provinces(text):
    with pytest.raises(ValueError):
        parse_scope(text)


def test_create_user_with_a_scope(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["create-user", "--email", "xa@example.vn", "--role", "officer",
                                 "--scope", "15724,15667", "--password-stdin"], input=TEST_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "for wards 15667,15724" in result.output
    user = db.session.scalars(select(User).where(User.email == "xa@example.vn")).one()
    assert user.ward_scope == {15724, 15667}
    province = runner.invoke(args=["create-user", "--email", "tinh@example.vn", "--role", "officer",
                                   "--password-stdin"], input=TEST_PASSWORD + "\n")
    assert province.exit_code == 0 and "whole province" in province.output
    for args, said in ((["--role", "producer", "--producer", "x", "--scope", "15724"], "only for --role officer"),
                       (["--role", "officer", "--scope", "99999"], "--scope:")):
        refused = runner.invoke(args=["create-user", "--email", "z@example.vn", *args, "--password-stdin"],
                                input=TEST_PASSWORD + "\n")
        assert refused.exit_code != 0 and said in refused.output, refused.output
    assert db.session.scalars(select(User).where(User.email == "z@example.vn")).first() is None
