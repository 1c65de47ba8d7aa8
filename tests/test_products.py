"""Producer product flows (create, edit, submit, archive), officer review and OCOP entry,
access rules, and the seed-demo / create-user commands."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from marketplace import public_facts
from marketplace.models import (Certification, OcopRecognition, Producer, Product, ProductGroup,
                                User)
from marketplace.models.base import local_today
from tests.conftest import login, make_product

NBSP = "\u00a0"


# ---- helpers ------------------------------------------------------------------------------

def group_id(db, code="1.2") -> int:
    return db.session.scalars(select(ProductGroup.id).where(ProductGroup.code == code)).one()


def form_data(db, producer, **overrides) -> dict:
    data = {
        "producer_id": str(producer.id),
        "name": "Bánh gai Thọ Phú",
        "group_id": str(group_id(db, "1.3")),
        "net_quantity": "0,5",
        "unit": "kg",
        "price_vnd": "120.000",
        "stock": "25",
        "description": "Bánh gai lá gai rừng, nhân đậu xanh.",
        "ingredients": "Lá gai, gạo nếp, đậu xanh",
        "shelf_life_days": "5",
        "storage_instructions": "Nơi thoáng mát",
        "usage_instructions": "",
        "warnings": "",
        "origin_ward_code": "15724",
        "gtin": "8935049501015",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def products_named(db, name) -> list[Product]:
    db.session.rollback()  # look at what was committed, not at the request's leftovers
    return db.session.scalars(select(Product).where(Product.name == name)).all()


def product_count(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Product))


def field_errors(response) -> dict[str, str]:
    """Errors rendered next to their fields by macros.field: ``<p class="error" id="x-error">``."""
    page = response.get_data(as_text=True)
    return dict(re.findall(r'<p class="error" id="([a-z_]+)-error">([^<]*)</p>', page))


class RenderedForm(HTMLParser):
    """What a browser would send back for the first <form class="form"> of a page: every
    named input, textarea and select with its current value (the selected option, else the
    first)."""

    def __init__(self, page: str):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False
        self._select = self._first = self._textarea = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "form" in (a.get("class") or "").split():
            self._in_form = True
        if not self._in_form:
            return
        if tag == "input" and a.get("name") and a.get("type") not in ("submit", "file"):
            self.fields[a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select, self._first = a["name"], None
        elif tag == "option" and self._select:
            if self._first is None:
                self._first = a.get("value") or ""
            if "selected" in a:
                self.fields[self._select] = a.get("value") or ""
        elif tag == "textarea":
            self._textarea = a["name"]
            self.fields[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            self.fields.setdefault(self._select, self._first or "")
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            # Browsers drop the newline right after <textarea>.
            value = self.fields[self._textarea] + data
            self.fields[self._textarea] = value[1:] if value.startswith("\n") else value


def rendered_form(client, url) -> dict[str, str]:
    response = client.get(url)
    assert response.status_code == 200
    return RenderedForm(response.get_data(as_text=True)).fields


def reload(db, obj):
    db.session.rollback()
    db.session.refresh(obj)
    return obj


@pytest.fixture
def client_a(world, client):
    login(client, "a@example.vn")
    return client


@pytest.fixture
def officer(world, app):
    c = app.test_client()
    login(c, "officer@example.vn")
    return c


# ---- create ------------------------------------------------------------------------------------

def test_create_product(client_a, world, db):
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a))
    assert response.status_code == 302, field_errors(response)
    [product] = products_named(db, "Bánh gai Thọ Phú")
    assert response.headers["Location"].endswith(f"/dashboard/products/{product.id}")
    assert product.producer_id == world.a.id
    assert product.price_vnd == 120000
    assert product.net_quantity == Decimal("0.5")
    assert product.stock == 25
    assert product.shelf_life_days == 5
    assert product.origin_ward_code == 15724
    assert product.gtin == "08935049501015"
    assert product.status == "draft"
    assert product.version == 1
    assert product.slug == "banh-gai-tho-phu"
    assert "banh gai tho phu" in product.search_text
    assert "dong tien" in product.search_text
    page = client_a.get(response.headers["Location"]).get_data(as_text=True)
    assert "Bánh gai Thọ Phú" in page
    assert f"120.000{NBSP}₫ / 0,5 kg" in page


@pytest.mark.parametrize("price, expected", [
    ("120000", 120000), ("120.000", 120000), ("120 000 đ", 120000), ("120,000₫", 120000),
    ("1.250.000 VND", 1250000),
])
def test_price_as_people_type_it(client_a, world, db, price, expected):
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, price_vnd=price))
    assert response.status_code == 302, field_errors(response)
    [product] = products_named(db, "Bánh gai Thọ Phú")
    assert product.price_vnd == expected


def test_optional_fields_may_be_empty(client_a, world, db):
    data = form_data(db, world.a, stock="", shelf_life_days="", origin_ward_code="", gtin=None,
                     description="", ingredients="", storage_instructions="")
    response = client_a.post("/dashboard/products/new", data=data)
    assert response.status_code == 302, field_errors(response)
    [product] = products_named(db, "Bánh gai Thọ Phú")
    assert product.stock == 0
    assert product.shelf_life_days is None
    assert product.origin_ward_code is None
    assert product.description == ""


def test_empty_gtin_is_stored_as_null_and_may_repeat(client_a, world, db):
    for name in ("Sản phẩm không mã một", "Sản phẩm không mã hai"):
        response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, name=name, gtin=""))
        assert response.status_code == 302, name
        [product] = products_named(db, name)
        assert product.gtin is None


def test_same_name_gets_a_new_slug(client_a, world, db):
    for _ in range(2):
        response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, gtin=None))
        assert response.status_code == 302
    slugs = sorted(p.slug for p in products_named(db, "Bánh gai Thọ Phú"))
    assert slugs == ["banh-gai-tho-phu", "banh-gai-tho-phu-2"]


def test_create_product_with_exactly_the_fields_the_form_renders(client_a, world, db):
    """A household producer has one choice, so the form shows no producer select and the
    browser sends no producer_id: the product must still be saved, for the user's producer."""
    rendered = rendered_form(client_a, "/dashboard/products/new")
    assert "producer_id" not in rendered
    data = {k: v for k, v in form_data(db, world.a).items() if k in rendered}
    response = client_a.post("/dashboard/products/new", data=data)
    assert response.status_code == 302, field_errors(response)
    [product] = products_named(db, "Bánh gai Thọ Phú")
    assert product.producer_id == world.a.id
    assert product.price_vnd == 120000


@pytest.mark.parametrize("override, field", [
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"name": "ab"}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"price_vnd": "abc"}, "price_vnd"),
    ({"price_vnd": ""}, "price_vnd"),
    ({"price_vnd": "0"}, "price_vnd"),
    ({"price_vnd": "-5000"}, "price_vnd"),
    ({"price_vnd": "99999999999999999999"}, "price_vnd"),
    ({"stock": "-1"}, "stock"),
    ({"stock": "nhiều"}, "stock"),
    ({"gtin": "8935049501016"}, "gtin"),     # wrong check digit
    ({"gtin": "89350495010"}, "gtin"),       # wrong length
    ({"origin_ward_code": "99999"}, "origin_ward_code"),
    ({"origin_ward_code": "-1"}, "origin_ward_code"),
    ({"net_quantity": ""}, "net_quantity"),
    ({"net_quantity": "0"}, "net_quantity"),
    ({"net_quantity": "-1"}, "net_quantity"),
    ({"net_quantity": "nửa"}, "net_quantity"),
    ({"net_quantity": "NaN"}, "net_quantity"),
    ({"net_quantity": "Infinity"}, "net_quantity"),
    ({"net_quantity": "1e999999"}, "net_quantity"),
    ({"net_quantity": "sNaN"}, "net_quantity"),
    ({"unit": "tấn"}, "unit"),
    ({"group_id": "99999"}, "group_id"),
    ({"group_id": "1"}, "group_id"),          # a top-level group is not selectable
    ({"group_id": "abc"}, "group_id"),
    ({"shelf_life_days": "0"}, "shelf_life_days"),
    ({"description": "x" * 5001}, "description"),
])
def test_bad_input_is_a_form_error(client_a, world, db, override, field):
    before = product_count(db)
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, **override))
    assert response.status_code == 200
    errors = field_errors(response)
    assert field in errors, errors
    assert errors[field].strip()
    page = response.get_data(as_text=True)
    assert f'aria-describedby="{field}-error"' in page
    assert product_count(db) == before


def test_bad_input_keeps_what_was_typed(client_a, world, db):
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, price_vnd="abc"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'value="Bánh gai Thọ Phú"' in page


def test_duplicate_gtin_is_a_form_error(client_a, world, db):
    assert client_a.post("/dashboard/products/new", data=form_data(db, world.a)).status_code == 302
    response = client_a.post("/dashboard/products/new",
                             data=form_data(db, world.a, name="Bánh gai khác"))
    assert response.status_code == 200
    assert "gtin" in field_errors(response)
    assert products_named(db, "Bánh gai khác") == []


def test_extra_fields_are_ignored(client_a, world, db):
    data = form_data(db, world.a, status="published", version="99", stars="5", review_note="ok",
                     search_text="hacked", slug="hacked", published_at="2020-01-01", id="999")
    response = client_a.post("/dashboard/products/new", data=data)
    assert response.status_code == 302, field_errors(response)
    [product] = products_named(db, "Bánh gai Thọ Phú")
    assert product.status == "draft"
    assert product.version == 1
    assert product.producer_id == world.a.id
    assert product.slug == "banh-gai-tho-phu"
    assert product.search_text != "hacked"
    assert product.published_at is None
    assert product.review_note == ""
    assert product.recognitions == []
    assert db.session.scalar(select(func.count()).select_from(OcopRecognition)) == 0


def test_producer_id_of_another_producer_is_not_accepted(client_a, world, db):
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, producer_id=str(world.b.id)))
    assert response.status_code in (200, 302, 404)
    for product in products_named(db, "Bánh gai Thọ Phú"):
        assert product.producer_id == world.a.id
    assert db.session.scalars(select(Product).where(Product.producer_id == world.b.id,
                                                    Product.name == "Bánh gai Thọ Phú")).first() is None


def test_cooperative_creates_for_its_member_but_not_for_others(world, client, db):
    login(client, "coop@example.vn")
    page = client.get("/dashboard/products/new").get_data(as_text=True)
    assert 'name="producer_id"' in page                    # a choice: itself and member A
    assert f'value="{world.b.id}"' not in re.search(
        r'<select[^>]*name="producer_id".*?</select>', page, re.S).group(0)

    response = client.post("/dashboard/products/new", data=form_data(db, world.coop, producer_id=str(world.a.id)))
    assert response.status_code == 302, field_errors(response)
    [product] = products_named(db, "Bánh gai Thọ Phú")
    assert product.producer_id == world.a.id

    response = client.post("/dashboard/products/new",
                           data=form_data(db, world.coop, producer_id=str(world.b.id), name="Hàng của B", gtin=""))
    assert response.status_code in (200, 404)
    assert products_named(db, "Hàng của B") == []


def test_new_product_page_renders(client_a):
    response = client_a.get("/dashboard/products/new")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for name in ("name", "group_id", "net_quantity", "unit", "price_vnd", "stock", "origin_ward_code", "gtin"):
        assert f'name="{name}"' in page


# ---- edit ------------------------------------------------------------------------------------

def edit_data(db, product, **overrides) -> dict:
    data = {
        "name": product.name, "group_id": str(product.group_id), "net_quantity": "1", "unit": product.unit,
        "price_vnd": str(product.price_vnd), "stock": str(product.stock), "description": "",
        "ingredients": "", "shelf_life_days": "", "storage_instructions": "", "usage_instructions": "",
        "warnings": "", "origin_ward_code": "",
    }
    data.update(overrides)
    return data


def test_edit_published_product_stays_published_and_bumps_version(client_a, world, db):
    product = world.published_a
    version = product.version
    response = client_a.post(f"/dashboard/products/{product.id}/edit",
                             data=edit_data(db, product, price_vnd="135.000", status="draft", version="1"))
    assert response.status_code == 302, field_errors(response)
    product = reload(db, product)
    assert product.status == "published"
    assert product.price_vnd == 135000
    assert product.version == version + 1
    assert f"135.000{NBSP}₫" in client_a.get(f"/p/{product.slug}").get_data(as_text=True)


def test_edit_without_change_keeps_version(client_a, world, db):
    product = world.published_a
    version = product.version
    response = client_a.post(f"/dashboard/products/{product.id}/edit", data=edit_data(db, product))
    assert response.status_code == 302, field_errors(response)
    assert reload(db, product).version == version


def test_edit_rename_refreshes_search(client_a, world, db, app):
    product = world.published_a
    response = client_a.post(f"/dashboard/products/{product.id}/edit",
                             data=edit_data(db, product, name="Chả lụa Đồng Tiến"))
    assert response.status_code == 302
    product = reload(db, product)
    assert "cha lua" in product.search_text
    found = app.test_client().get("/?q=cha+lua").get_data(as_text=True)
    assert "Chả lụa Đồng Tiến" in found


def test_saving_the_rendered_edit_form_unchanged(client_a, world, db):
    versions = {}
    for product in (world.published_a, world.product_a):
        versions[product.id] = product.version
        url = f"/dashboard/products/{product.id}/edit"
        response = client_a.post(url, data=rendered_form(client_a, url))
        assert response.status_code == 302, product
    for product in (world.published_a, world.product_a):
        product = reload(db, product)
        assert product.version == versions[product.id]
        assert product.gtin is None


def test_edit_bad_input_changes_nothing(client_a, world, db):
    product = world.published_a
    response = client_a.post(f"/dashboard/products/{product.id}/edit",
                             data=edit_data(db, product, price_vnd="abc", name="Tên mới"))
    assert response.status_code == 200
    assert "price_vnd" in field_errors(response)
    product = reload(db, product)
    assert product.name == "Nem chua Đồng Tiến"
    assert product.price_vnd == 120000


def test_producer_cannot_touch_another_producers_product(world, client, db):
    login(client, "b@example.vn")
    product = world.published_a
    assert client.get(f"/dashboard/products/{product.id}").status_code == 404
    assert client.get(f"/dashboard/products/{product.id}/edit").status_code == 404
    response = client.post(f"/dashboard/products/{product.id}/edit", data=edit_data(db, product, price_vnd="1"))
    assert response.status_code == 404
    for action in ("submit", "archive", "restore"):
        assert client.post(f"/dashboard/products/{product.id}/{action}").status_code == 404
    product = reload(db, product)
    assert product.price_vnd == 120000
    assert product.status == "published"


def test_cooperative_reaches_member_products(world, client):
    login(client, "coop@example.vn")
    assert client.get(f"/dashboard/products/{world.product_a.id}").status_code == 200
    assert client.get(f"/dashboard/products/{world.product_b.id}").status_code == 404


# ---- submit / review ---------------------------------------------------------------------------

def test_submit_then_officer_approves(client_a, officer, world, db):
    product = world.product_a
    assert client_a.get(f"/p/{product.slug}").status_code == 404
    response = client_a.post(f"/dashboard/products/{product.id}/submit")
    assert response.status_code == 302
    assert reload(db, product).status == "pending"

    queue = officer.get("/admin/").get_data(as_text=True)
    assert product.name in queue
    response = officer.post(f"/admin/products/{product.id}", data={"decision": "approve", "note": ""})
    assert response.status_code == 302
    product = reload(db, product)
    assert product.status == "published"
    assert product.published_at is not None
    assert client_a.get(f"/p/{product.slug}").status_code == 200


def test_submit_twice_is_refused_politely(client_a, world, db):
    product = world.product_a
    client_a.post(f"/dashboard/products/{product.id}/submit")
    response = client_a.post(f"/dashboard/products/{product.id}/submit", follow_redirects=True)
    assert response.status_code == 200
    assert 'class="flash error"' in response.get_data(as_text=True)
    assert reload(db, product).status == "pending"


def test_reject_requires_a_reason(client_a, officer, world, db):
    product = world.product_a
    client_a.post(f"/dashboard/products/{product.id}/submit")
    for note in ("", "   "):
        response = officer.post(f"/admin/products/{product.id}", data={"decision": "reject", "note": note})
        assert response.status_code == 200
        assert "note" in field_errors(response)
        assert reload(db, product).status == "pending"


def test_rejection_reason_is_shown_to_producer_and_resubmit_clears_it(client_a, officer, world, db):
    product = world.product_a
    client_a.post(f"/dashboard/products/{product.id}/submit")
    reason = "Ảnh nhãn chưa rõ hạn sử dụng"
    response = officer.post(f"/admin/products/{product.id}", data={"decision": "reject", "note": reason})
    assert response.status_code == 302
    product = reload(db, product)
    assert product.status == "rejected"
    assert product.review_note == reason

    page = client_a.get(f"/dashboard/products/{product.id}").get_data(as_text=True)
    assert reason in page

    assert client_a.post(f"/dashboard/products/{product.id}/submit").status_code == 302
    product = reload(db, product)
    assert product.status == "pending"
    assert product.review_note == ""


def test_officer_cannot_review_a_product_that_is_not_pending(officer, world, db):
    for product in (world.product_a, world.published_a):
        status = product.status
        response = officer.post(f"/admin/products/{product.id}", data={"decision": "approve"})
        assert response.status_code == 302
        assert reload(db, product).status == status


def test_review_with_unknown_decision_is_a_form_error(client_a, officer, world, db):
    product = world.product_a
    client_a.post(f"/dashboard/products/{product.id}/submit")
    response = officer.post(f"/admin/products/{product.id}", data={"decision": "publish"})
    assert response.status_code == 200
    assert reload(db, product).status == "pending"


# ---- archive / restore -------------------------------------------------------------------------

def test_archive_and_restore(client_a, world, db):
    product = world.published_a
    version = product.version
    response = client_a.post(f"/dashboard/products/{product.id}/archive")
    assert response.status_code == 302
    product = reload(db, product)
    assert product.status == "archived"
    assert product.version == version + 1
    assert client_a.get(f"/p/{product.slug}").status_code == 404

    response = client_a.post(f"/dashboard/products/{product.id}/archive", follow_redirects=True)
    assert 'class="flash error"' in response.get_data(as_text=True)

    response = client_a.post(f"/dashboard/products/{product.id}/restore")
    assert response.status_code == 302
    product = reload(db, product)
    assert product.status == "draft"
    assert client_a.get(f"/p/{product.slug}").status_code == 404


def test_restore_of_a_non_archived_product_is_refused(client_a, world, db):
    response = client_a.post(f"/dashboard/products/{world.product_a.id}/restore", follow_redirects=True)
    assert response.status_code == 200
    assert 'class="flash error"' in response.get_data(as_text=True)
    assert reload(db, world.product_a).status == "draft"


def test_transitions_need_post(client_a, world):
    assert client_a.get(f"/dashboard/products/{world.product_a.id}/submit").status_code == 405


# ---- access ----------------------------------------------------------------------------------------

def test_producer_cannot_reach_admin(client_a, world, db):
    assert client_a.get("/admin/").status_code == 403
    assert client_a.get("/admin/products").status_code == 403
    assert client_a.get(f"/admin/products/{world.product_a.id}").status_code == 403
    assert client_a.get("/admin/users").status_code == 403


def test_producer_cannot_post_officer_actions(client_a, world, db):
    s = db.session
    product = world.product_a
    pending = make_product(s, world.a, "Chờ duyệt của A", status="pending")
    rec = OcopRecognition(product=world.published_a, stars=4, decision_no="1/QĐ", decision_date=local_today(),
                          issuer_level="provincial", issuer_name="UBND tỉnh",
                          valid_until=local_today() + dt.timedelta(days=365))
    cert = Certification(producer=world.a, product=product, scheme="vietgap", number="VG-1", body="X")
    s.add_all([rec, cert])
    s.commit()
    ids = (pending.id, rec.id, cert.id, world.published_a.id)

    posts = [
        (f"/admin/products/{pending.id}", {"decision": "approve"}),
        (f"/admin/products/{world.published_a.id}/ocop", {
            "stars": "5", "decision_no": "9/QĐ", "decision_date": "2025-01-01",
            "issuer_level": "central", "issuer_name": "Bộ NN"}),
        (f"/admin/ocop/{rec.id}/revoke", {"confirm": "1"}),
        (f"/admin/certifications/{cert.id}/verify", {}),
        (f"/admin/producers/{world.a.id}", {"decision": "approve"}),
        (f"/admin/users/{world.users['producer_a'].id}/active", {"active": "0"}),
    ]
    for url, data in posts:
        assert client_a.post(url, data=data).status_code == 403, url

    s.rollback()
    pending, rec, cert, published = (s.get(Product, ids[0]), s.get(OcopRecognition, ids[1]),
                                     s.get(Certification, ids[2]), s.get(Product, ids[3]))
    assert pending.status == "pending"
    assert not rec.revoked
    assert not cert.verified
    assert len(published.recognitions) == 1


def test_anonymous_is_sent_to_login(world, client):
    for path in ("/admin/", "/dashboard/", "/dashboard/products/new"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert "/account/login" in response.headers["Location"]
    response = client.post(f"/admin/products/{world.product_a.id}", data={"decision": "approve"})
    assert response.status_code == 302
    assert "/account/login" in response.headers["Location"]


def test_officer_has_no_producer_dashboard(officer):
    assert officer.get("/dashboard/").status_code == 403
    assert officer.get("/admin/").status_code == 200


# ---- OCOP entry ---------------------------------------------------------------------------------

def ocop_form(**overrides) -> dict:
    data = {"stars": "4", "score": "82", "decision_no": "1234/QĐ-UBND", "decision_date": "2024-02-29",
            "certificate_no": "OCOP-TH-2024-001", "issuer_level": "provincial",
            "issuer_name": "UBND tỉnh Thanh Hóa", "valid_until": ""}
    data.update(overrides)
    return data


def test_officer_records_ocop_with_default_validity(officer, world, db):
    product = world.published_a
    version = product.version
    response = officer.post(f"/admin/products/{product.id}/ocop", data=ocop_form())
    assert response.status_code == 302
    [rec] = reload(db, product).recognitions
    assert rec.stars == 4
    assert rec.decision_date == dt.date(2024, 2, 29)
    assert rec.valid_until == dt.date(2027, 2, 28)      # 36 months, 29 Feb → 28 Feb
    assert rec.issuer_level == "provincial"
    assert rec.recorded_by_id == world.users["officer"].id
    assert product.version == version + 1
    # Valid until 2027: the public page shows the stars (today is before then).
    if local_today() <= rec.valid_until:
        page = officer.get(f"/p/{product.slug}").get_data(as_text=True)
        assert "★★★★" in page and "1234/QĐ-UBND" in page


def test_officer_records_ocop_with_explicit_validity(officer, world, db):
    product = world.published_a
    until = local_today() + dt.timedelta(days=400)
    response = officer.post(f"/admin/products/{product.id}/ocop",
                            data=ocop_form(decision_date=local_today().isoformat(), valid_until=until.isoformat()))
    assert response.status_code == 302
    [rec] = reload(db, product).recognitions
    assert rec.valid_until == until


@pytest.mark.parametrize("stars, level", [("3", "district"), ("4", "provincial"), ("5", "central")])
def test_ocop_star_range(officer, world, db, stars, level):
    response = officer.post(f"/admin/products/{world.published_a.id}/ocop",
                            data=ocop_form(stars=stars, issuer_level=level))
    assert response.status_code == 302
    [rec] = reload(db, world.published_a).recognitions
    assert rec.stars == int(stars)


@pytest.mark.parametrize("overrides", [
    {"stars": "2"}, {"stars": "6"}, {"stars": "abc"}, {"stars": ""},
    {"stars": "5", "issuer_level": "provincial"},     # 5 stars only at central level
    {"stars": "5", "issuer_level": "district"},
    {"issuer_level": "village"},
    {"decision_no": ""}, {"decision_date": ""}, {"decision_date": "29/02/2024"}, {"issuer_name": ""},
    {"valid_until": "2024-02-29"},                     # not after the decision
    {"valid_until": "2023-01-01"},
    {"score": "101"}, {"score": "-1"},
])
def test_ocop_bad_input_is_refused(officer, world, db, overrides):
    version = world.published_a.version
    response = officer.post(f"/admin/products/{world.published_a.id}/ocop", data=ocop_form(**overrides))
    assert response.status_code == 422
    assert field_errors(response) or 'class="error"' in response.get_data(as_text=True)
    product = reload(db, world.published_a)
    assert product.recognitions == []
    assert product.version == version


def test_five_stars_error_names_central_level(officer, world):
    response = officer.post(f"/admin/products/{world.published_a.id}/ocop",
                            data=ocop_form(stars="5", issuer_level="provincial"))
    assert response.status_code == 422
    assert "stars" in field_errors(response)


def test_revoke_ocop(officer, world, db):
    officer.post(f"/admin/products/{world.published_a.id}/ocop",
                 data=ocop_form(decision_date=local_today().isoformat()))
    [rec] = reload(db, world.published_a).recognitions
    assert "★" in officer.get(f"/p/{world.published_a.slug}").get_data(as_text=True)
    # GET is the confirmation page; a post without confirm=1 changes nothing and leads to it
    page = officer.get(f"/admin/ocop/{rec.id}/revoke")
    assert page.status_code == 200 and "Xác nhận hủy công nhận OCOP" in page.get_data(as_text=True)
    response = officer.post(f"/admin/ocop/{rec.id}/revoke")
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/ocop/{rec.id}/revoke"
    assert not reload(db, rec).revoked
    response = officer.post(f"/admin/ocop/{rec.id}/revoke", data={"confirm": "1"})
    assert response.status_code == 302
    assert reload(db, rec).revoked
    done = officer.get(response.headers["Location"]).get_data(as_text=True)  # the flash is read here
    assert "Đã hủy công nhận OCOP 4★ của sản phẩm «" in done
    assert "★" not in officer.get(f"/p/{world.published_a.slug}").get_data(as_text=True)


def test_ocop_for_unknown_product_404(officer):
    assert officer.post("/admin/products/99999/ocop", data=ocop_form()).status_code == 404


# ---- seed-demo -----------------------------------------------------------------------------------

def demo_counts(db):
    db.session.rollback()
    return (db.session.scalar(select(func.count()).select_from(Producer)),
            db.session.scalar(select(func.count()).select_from(Product)),
            db.session.scalar(select(func.count()).select_from(User)))


def test_seed_demo_is_idempotent(runner, db, app):
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "11 producers, 26 products, 2 batches, 4 accounts created" in first.output
    assert demo_counts(db) == (11, 26, 4)

    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "0 producers, 0 products, 0 batches, 0 accounts created" in second.output
    assert demo_counts(db) == (11, 26, 4)

    products = db.session.scalars(select(Product)).all()
    assert all(p.status == "published" for p in products)
    assert all(len(p.photos) == 1 for p in products)
    assert len({p.slug for p in products}) == 26
    # Every demo producer is approved and its tax code valid; members point at their cooperative.
    from marketplace.validators import normalize_tax_code

    for producer in db.session.scalars(select(Producer)):
        assert producer.status == "approved"
        assert normalize_tax_code(producer.tax_code) == producer.tax_code
    nam = db.session.scalars(select(Producer).where(Producer.slug == "ho-trinh-van-nam")).one()
    assert nam.cooperative.slug == "htx-nong-nghiep-dong-tien"
    # Demo accounts can log in.
    c = app.test_client()
    login(c, "canbo@trieuson.demo", "CanBo-TrieuSon-2025")
    assert c.get("/admin/").status_code == 200


def test_seed_demo_recognitions_and_expired_one(runner, db):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    db.session.rollback()
    recs = db.session.scalars(select(OcopRecognition)).all()
    assert len(recs) == 12
    nghe = db.session.scalars(select(Product).where(Product.name == "Nghệ sấy lát")).one()
    assert nghe.recognitions and not public_facts.recognition_in_force(nghe.recognitions[0], local_today())
    assert public_facts.ocop_in_force(nghe.recognitions, local_today()) is None


def test_seed_demo_has_exactly_one_expired_recognition(runner, db):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    db.session.rollback()
    today = local_today()
    expired = db.session.scalars(
        select(Product.name).join(OcopRecognition).where(OcopRecognition.valid_until < today)).all()
    assert expired == ["Nghệ sấy lát"]


def test_seed_demo_pages_render(runner, app):
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    c = app.test_client()
    response = c.get("/")
    assert response.status_code == 200
    assert response.get_data(as_text=True).count('class="card"') == 12
    assert c.get("/?page=3").status_code == 200
    assert c.get("/p/nghe-say-lat").status_code == 200
    assert c.get("/producers/htx-nong-nghiep-dong-tien").status_code == 200


# ---- create-user --------------------------------------------------------------------------------

def create_user(runner, *args, password="Good-Pass-2025\n"):
    return runner.invoke(args=["create-user", *args, "--password-stdin"], input=password)


def test_create_officer(runner, db, app):
    result = create_user(runner, "--email", "x@y.vn", "--role", "officer")
    assert result.exit_code == 0, result.output
    assert "created officer x@y.vn" in result.output
    db.session.rollback()
    user = db.session.scalars(select(User).where(User.email == "x@y.vn")).one()
    assert user.role == "officer"
    assert user.producer_id is None
    assert user.password_hash.startswith("pbkdf2:sha256:1000")  # the configured method
    c = app.test_client()
    login(c, "x@y.vn", "Good-Pass-2025")
    assert c.get("/admin/").status_code == 200


def test_create_user_normalises_email(runner, db):
    assert create_user(runner, "--email", "  Mixed@Case.VN ", "--role", "admin").exit_code == 0
    db.session.rollback()
    assert db.session.scalars(select(User.email)).all() == ["mixed@case.vn"]


def test_create_user_duplicate_email_fails(runner, db):
    assert create_user(runner, "--email", "x@y.vn", "--role", "officer").exit_code == 0
    result = create_user(runner, "--email", "X@Y.vn", "--role", "admin")
    assert result.exit_code != 0
    assert "already exists" in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User)) == 1


@pytest.mark.parametrize("password, message", [
    ("12345678\n", "too common"),
    ("matkhau123\n", "too common"),
    ("short\n", "shorter than 8"),
    ("x" * 64 + "Y" * 65 + "\n", "longer than 128"),
    ("\n", "shorter than 8"),
])
def test_create_user_bad_password_fails(runner, db, password, message):
    result = create_user(runner, "--email", "x@y.vn", "--role", "officer", password=password)
    assert result.exit_code != 0
    assert message in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_producer_user_needs_producer(runner, world, db):
    before = db.session.scalar(select(func.count()).select_from(User))
    result = create_user(runner, "--email", "p@y.vn", "--role", "producer")
    assert result.exit_code != 0
    assert "--producer" in result.output
    result = create_user(runner, "--email", "p@y.vn", "--role", "producer", "--producer", "khong-co")
    assert result.exit_code != 0
    assert "no producer" in result.output
    result = create_user(runner, "--email", "p@y.vn", "--role", "officer", "--producer", world.a.slug)
    assert result.exit_code != 0
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_create_producer_user_becomes_staff_when_owner_exists(runner, world, db):
    result = create_user(runner, "--email", "staff@y.vn", "--role", "producer", "--producer", world.a.slug)
    assert result.exit_code == 0, result.output
    assert f"(staff of {world.a.slug})" in result.output
    fresh = Producer(kind="household", name="Hộ Mới", slug="ho-moi", province_code=38, ward_code=15724)
    db.session.add(fresh)
    db.session.commit()
    result = create_user(runner, "--email", "owner@y.vn", "--role", "producer", "--producer", "ho-moi")
    assert result.exit_code == 0, result.output
    assert "(owner of ho-moi)" in result.output


@pytest.mark.parametrize("role", ["superuser", ""])
def test_create_user_unknown_role_fails(runner, db, role):
    result = create_user(runner, "--email", "x@y.vn", "--role", role)
    assert result.exit_code != 0
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_bad_email_fails(runner, db):
    result = create_user(runner, "--email", "not-an-email", "--role", "officer")
    assert result.exit_code != 0
    assert "email" in result.output
