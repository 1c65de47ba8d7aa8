"""Feeds that the exchanges can really take (issue 16), tested as their users meet them: a
producer fills the package's weight and sides, the VAT rate and a short name (form and API);
Postmart gets grams, centimetres, its own category and the shop's details; an officer maps
OCOP groups to an exchange's categories; the Google feed of the demo catalogue is checked
against Google Merchant Center's product data rules (written from Google's documentation,
not from our code); long names travel as short names; and a deletion is never pushed to an
exchange that never received the item.
"""
from __future__ import annotations

import io
import json
import re
import unicodedata
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from lxml import etree
from sqlalchemy import select

from marketplace.catalogue.service import archive_product, publish_product, submit_product, update_product
from marketplace.demo import seed_demo
from marketplace.feeds import canonical, push
from marketplace.feeds.profiles import Reason, id_field, profile_of, reasons, shipped
from marketplace.feeds.service import configure_push, find_exchange, preflight
from marketplace.models import AuditEntry, Delivery, DeliveryStatus, Product, ProductGroup
from marketplace.models.base import local_today
from tests.conftest import login, make_user
from tests.test_feeds import (BASE, PERSONAL_ID, TAX_CODE, add_product, catalogue, csv_rows, fetch,  # noqa: F401
                              feed_json, group, http, tokens, web)
from tests.test_products import RenderedForm, edit_data, field_errors, form_data, reload
from tests.test_push import Receiver, drain, papp, pdb  # noqa: F401

SIDES = ("package_length_cm", "package_width_cm", "package_height_cm")
SIDES_MESSAGE = "Ghi đủ ba kích thước của kiện hàng (dài, rộng, cao), hoặc để trống cả ba."
SHIPPING = ("shipping.weight_g", "shipping.length_cm", "shipping.width_cm", "shipping.height_cm")
NO_PACKAGE = (None, None, None, None)
POSTMART = "Postmart (Bưu điện Việt Nam)"
GOOGLE = "Google Merchant Center"
THANHHOA = "Sàn giao dịch nông sản Thanh Hóa"


def named(length: int, stem: str) -> str:
    """A name of exactly ``length`` characters that starts with ``stem``."""
    text = stem
    while len(text) < length:
        text += " đặc sản xứ Thanh"
    text = text[:length]
    return text[:-1] + "x" if text.endswith(" ") else text


def page_text(response) -> str:
    return response.get_data(as_text=True)


def flashes(response) -> list[tuple[str, str]]:
    return re.findall(r'<p class="flash ([a-z]+)" role="status">([^<]*)</p>', page_text(response))


# ---- 1. the product form ------------------------------------------------------------------------

@pytest.fixture
def client_a(world, client):
    login(client, "a@example.vn")
    return client


def package_form(weight="1080", length="30", width="20,5", height="6.5", **more) -> dict:
    return {"packed_weight_g": weight, "package_length_cm": length, "package_width_cm": width,
            "package_height_cm": height, **more}


def test_a_producer_saves_package_vat_and_short_name_in_the_form(client_a, world, db):
    response = client_a.post("/dashboard/products/new", data=form_data(
        db, world.a, gtin="", **package_form(vat_rate="8", short_name="Bánh gai Thọ Phú")))
    assert response.status_code == 302, field_errors(response)
    (product,) = db.session.scalars(select(Product).where(Product.name == "Bánh gai Thọ Phú")).all()
    assert product.packed_weight_g == 1080
    assert (product.package_length_cm, product.package_width_cm, product.package_height_cm) == (
        Decimal("30"), Decimal("20.5"), Decimal("6.5"))
    assert product.vat_rate == 8 and product.short_name == "Bánh gai Thọ Phú"

    # The edit form shows what was saved, and saving it unchanged changes nothing.
    url = f"/dashboard/products/{product.id}/edit"
    shown = RenderedForm(page_text(client_a.get(url))).fields
    assert shown["packed_weight_g"] == "1080" and shown["vat_rate"] == "8"
    assert shown["short_name"] == "Bánh gai Thọ Phú"
    assert [Decimal(shown[s].replace(",", ".")) for s in SIDES] == [Decimal("30"), Decimal("20.5"), Decimal("6.5")]
    version = product.version
    assert client_a.post(url, data=shown).status_code == 302
    assert reload(db, product).version == version

    # A published product: new package data and the group's VAT rate raise its version.
    listed = world.published_a
    version = listed.version
    response = client_a.post(f"/dashboard/products/{listed.id}/edit", data=edit_data(
        db, listed, **package_form(weight="2080", length="40", width="28", height="8,25"), vat_rate="",
        short_name="Nem chua"))
    assert response.status_code == 302, field_errors(response)
    listed = reload(db, listed)
    assert listed.version == version + 1 and listed.status == "published"
    assert (listed.packed_weight_g, listed.package_height_cm) == (2080, Decimal("8.3"))  # to the millimetre
    assert listed.vat_rate is None and listed.short_name == "Nem chua"


@pytest.mark.parametrize("given, missing", [
    ({"package_length_cm": "30"}, "package_width_cm"),
    ({"package_length_cm": "30", "package_width_cm": "20"}, "package_height_cm"),
    ({"package_width_cm": "20", "package_height_cm": "6"}, "package_length_cm"),
    ({"package_height_cm": "6"}, "package_length_cm"),
])
def test_the_form_wants_all_three_sides_or_none(client_a, world, db, given, missing):
    before = db.session.scalar(select(Product.id).order_by(Product.id.desc()))
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, gtin="", packed_weight_g="500",
                                                                       **given))
    assert response.status_code in (200, 422)
    errors = field_errors(response)
    assert errors.get(missing, "").strip() == SIDES_MESSAGE, errors
    db.session.rollback()
    assert db.session.scalar(select(Product.id).order_by(Product.id.desc())) == before  # nothing saved


def test_clearing_one_side_of_a_product_that_has_all_three_is_refused(client_a, world, db):
    product = world.product_a
    url = f"/dashboard/products/{product.id}/edit"
    assert client_a.post(url, data=edit_data(db, product, **package_form())).status_code == 302
    version = reload(db, product).version
    response = client_a.post(url, data=edit_data(db, product, **package_form(height="")))
    assert field_errors(response).get("package_height_cm", "").strip() == SIDES_MESSAGE
    assert reload(db, product).package_height_cm == Decimal("6.5") and product.version == version
    # Clearing all three (and the weight) is allowed: the package is unknown again.
    response = client_a.post(url, data=edit_data(db, product, **package_form("", "", "", "")))
    assert response.status_code == 302, field_errors(response)
    product = reload(db, product)
    assert (product.packed_weight_g, product.package_length_cm, product.package_width_cm,
            product.package_height_cm) == NO_PACKAGE


@pytest.mark.parametrize("field, value, accepted", [
    ("packed_weight_g", "0", False), ("packed_weight_g", "100001", False), ("packed_weight_g", "-5", False),
    ("packed_weight_g", "nặng", False), ("packed_weight_g", "1", True), ("packed_weight_g", "100000", True),
    ("package_length_cm", "0", False), ("package_length_cm", "300,1", False), ("package_length_cm", "0,9", False),
    ("package_length_cm", "1", True),
    ("package_length_cm", "300", True),
    ("vat_rate", "7", False), ("vat_rate", "0", True),
])
def test_form_limits_of_the_package_and_vat(client_a, world, db, field, value, accepted):
    extra = {"vat_rate": value} if field == "vat_rate" else package_form(**{field: value})
    data = form_data(db, world.a, gtin="", **extra)
    response = client_a.post("/dashboard/products/new", data=data)
    if accepted:
        assert response.status_code == 302, field_errors(response)
    else:
        assert response.status_code != 302 and field in field_errors(response), field_errors(response)


def test_a_long_name_gets_a_hint_and_a_warning_naming_the_exchanges(client_a, world, db):
    hint = page_text(client_a.get("/dashboard/products/new"))
    assert f"{POSTMART}: 120 ký tự" in hint and f"{GOOGLE}: 150 ký tự" in hint
    assert 'name="short_name"' in hint

    name = named(180, "Bánh gai lá gai rừng Thọ Phú")
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, gtin="", name=name),
                             follow_redirects=True)
    assert response.status_code == 200
    warnings = [text for kind, text in flashes(response) if kind == "warning"]
    assert len(warnings) == 1, flashes(response)
    assert f"{POSTMART}: 120 ký tự" in warnings[0] and f"{GOOGLE}: 150 ký tự" in warnings[0]
    assert THANHHOA not in warnings[0]  # its titles may have 200 characters

    # With a short name that fits every exchange: no warning (saved as a new product and as an edit).
    short = named(100, "Bánh gai Thọ Phú")
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, gtin="", name=name,
                                                                       short_name=short), follow_redirects=True)
    assert response.status_code == 200 and not [k for k, _ in flashes(response) if k == "warning"]
    product = db.session.scalars(select(Product).where(Product.short_name == short)).one()
    assert product.name == name
    response = client_a.post(f"/dashboard/products/{world.product_a.id}/edit",
                             data=edit_data(db, world.product_a, name=name, short_name=short), follow_redirects=True)
    assert response.status_code == 200 and not [k for k, _ in flashes(response) if k == "warning"]

    # A name between the two limits: only Postmart needs a short name.
    response = client_a.post(f"/dashboard/products/{world.product_a.id}/edit",
                             data=edit_data(db, world.product_a, name=named(130, "Gạo nếp cái hoa vàng"),
                                            short_name=""), follow_redirects=True)
    (warning,) = [text for kind, text in flashes(response) if kind == "warning"]
    assert POSTMART in warning and GOOGLE not in warning


# ---- 2. the API ---------------------------------------------------------------------------------

@pytest.fixture
def api(world, app, db, client):
    from tests.test_api import token_for

    secret = token_for(db, world.users["producer_a"])

    def call(method, url, **kwargs):
        db.session.commit()
        return client.open(url, method=method, headers={"Authorization": f"Bearer {secret}"}, **kwargs)

    return call


def group_id(db, code="1.2") -> int:
    return db.session.scalar(select(ProductGroup.id).where(ProductGroup.code == code))


def new_product(db, **more) -> dict:
    return {"name": "Mật ong hoa nhãn", "group_id": group_id(db), "net_quantity": 0.5, "unit": "bottle",
            "price_vnd": 150000, **more}


PACKAGE = {"packed_weight_g": 820, "package_length_cm": 8, "package_width_cm": 8.5, "package_height_cm": 20}


def error_fields(response) -> dict:
    body = response.get_json()
    assert response.status_code == 422, body
    assert body["error"]["code"] == "invalid"
    return body["error"]["fields"]


def test_the_api_round_trips_package_vat_and_short_name(api, db):
    created = api("POST", "/api/v1/products", json=new_product(db, **PACKAGE, vat_rate=10, short_name="Mật ong"))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["packed_weight_g"], body["package_length_cm"], body["package_width_cm"],
            body["package_height_cm"]) == (820, 8, 8.5, 20)
    assert body["vat_rate"] == 10 and body["short_name"] == "Mật ong"
    pid, version = body["id"], body["version"]
    assert api("GET", f"/api/v1/products/{pid}").get_json()["package_width_cm"] == 8.5

    changed = api("PATCH", f"/api/v1/products/{pid}", json={"packed_weight_g": 900, "vat_rate": None,
                                                            "short_name": "Mật ong nhãn"})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["packed_weight_g"], body["vat_rate"], body["short_name"], body["version"]) == (
        900, None, "Mật ong nhãn", version + 1)
    stored = db.session.get(Product, pid)
    assert stored.packed_weight_g == 900 and stored.vat_rate is None and stored.package_width_cm == Decimal("8.5")

    # Without the new fields: none of them, the group's VAT rate.
    plain = api("POST", "/api/v1/products", json=new_product(db, name="Mật ong rừng")).get_json()
    assert (plain["packed_weight_g"], plain["package_length_cm"], plain["vat_rate"], plain["short_name"]) == (
        None, None, None, "")


@pytest.mark.parametrize("sides, named_field", [
    ({"package_length_cm": 30}, "package_width_cm"),
    ({"package_length_cm": 30, "package_width_cm": 20}, "package_height_cm"),
    ({"package_width_cm": 20, "package_height_cm": 5}, "package_length_cm"),
])
def test_the_api_refuses_part_of_the_sides(api, db, sides, named_field):
    before = db.session.scalar(select(Product.id).order_by(Product.id.desc()))
    fields = error_fields(api("POST", "/api/v1/products", json=new_product(db, **sides)))
    assert list(fields) == [named_field] and fields[named_field] == [SIDES_MESSAGE]
    db.session.rollback()
    assert db.session.scalar(select(Product.id).order_by(Product.id.desc())) == before


@pytest.mark.parametrize("extra, field", [
    ({"vat_rate": 7}, "vat_rate"), ({"vat_rate": "5"}, "vat_rate"), ({"short_name": "x" * 121}, "short_name"),
    ({**PACKAGE, "packed_weight_g": 0}, "packed_weight_g"), ({**PACKAGE, "packed_weight_g": 100001}, "packed_weight_g"),
    ({**PACKAGE, "package_height_cm": 0}, "package_height_cm"),
    ({**PACKAGE, "package_height_cm": 300.5}, "package_height_cm"),
])
def test_the_api_names_the_field_out_of_its_limits(api, db, extra, field):
    fields = error_fields(api("POST", "/api/v1/products", json=new_product(db, **extra)))
    assert list(fields) == [field], fields


def test_short_name_limit_is_120_characters(api, db):
    body = api("POST", "/api/v1/products", json=new_product(db, short_name="x" * 120)).get_json()
    assert len(body["short_name"]) == 120


def test_a_patch_may_send_one_side_of_a_product_that_has_all_three(api, db, world):
    pid = world.product_a.id
    assert api("PATCH", f"/api/v1/products/{pid}", json=PACKAGE).status_code == 200
    changed = api("PATCH", f"/api/v1/products/{pid}", json={"package_height_cm": 25.25})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["package_length_cm"], body["package_width_cm"], body["package_height_cm"]) == (8, 8.5, 25.3)
    # Clearing one side alone is refused (naming it); clearing all three is accepted.
    fields = error_fields(api("PATCH", f"/api/v1/products/{pid}", json={"package_width_cm": None}))
    assert list(fields) == ["package_width_cm"]
    cleared = api("PATCH", f"/api/v1/products/{pid}", json=dict.fromkeys(SIDES))
    assert cleared.status_code == 200 and cleared.get_json()["package_length_cm"] is None
    # A product with no sides: one side alone is refused.
    fields = error_fields(api("PATCH", f"/api/v1/products/{pid}", json={"package_length_cm": 10}))
    assert set(fields) <= set(SIDES) and fields


def test_a_decomposed_short_name_is_stored_composed(api, db):
    composed = "Gạo nếp cái hoa vàng Thọ Phú"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    body = api("POST", "/api/v1/products", json=new_product(db, short_name=decomposed)).get_json()
    assert body["short_name"] == composed
    assert db.session.get(Product, body["id"]).short_name == composed
    # 120 letters with their marks as separate code points: 120 characters once composed.
    response = api("POST", "/api/v1/products", json=new_product(db, name="Gạo tám", short_name=unicodedata.normalize(
        "NFD", "ạ" * 120)))
    assert response.status_code == 201 and response.get_json()["short_name"] == "ạ" * 120, response.get_json()


def test_a_short_name_is_one_line_whatever_the_door(api, client_a, world, db):
    """A short name is a title on the exchanges: the form makes a line break a space; the API
    must store the same."""
    response = client_a.post("/dashboard/products/new", data=form_data(db, world.a, gtin="",
                                                                       short_name="Gạo nếp\nĐồng Tiến"))
    assert response.status_code == 302
    assert db.session.scalars(select(Product.short_name).order_by(Product.id.desc())).first() == "Gạo nếp Đồng Tiến"
    body = api("POST", "/api/v1/products", json=new_product(db, short_name="Gạo nếp\nĐồng Tiến")).get_json()
    assert "\n" not in body.get("short_name", ""), body


# ---- 3. Postmart ---------------------------------------------------------------------------------

def postmart_items(http, tokens) -> dict[str, dict]:
    return {i["product_id"]: i for i in feed_json(http, tokens, "postmart")["items"]}


def test_postmart_refuses_a_product_without_its_package_and_says_why(app, db, catalogue, http, tokens):
    cat = catalogue
    upload_dir = Path(app.config["UPLOAD_DIR"])
    bare, _ = add_product(db.session, cat.coop, "Chè lam Thọ Xuân", upload_dir, packed=NO_PACKAGE)
    db.session.commit()
    postmart = profile_of(find_exchange(db.session, "postmart"))
    item = canonical.item_for(db.session, bare.id, base_url=BASE, today=local_today())
    assert item["shipping"] == {"weight_g": None, "length_cm": None, "width_cm": None, "height_cm": None}
    found = reasons(postmart, item)
    assert [r for r in found if r.field.startswith("shipping")] == [
        Reason("postmart", field, "missing") for field in SHIPPING]
    assert found == [Reason("postmart", field, "missing") for field in SHIPPING]
    texts = [str(r) for r in found]
    assert f"Postmart: thiếu khối lượng cả bao bì (gam)" in texts
    assert all(t.startswith(f"Postmart: thiếu ") for t in texts)
    refused = {r["item"]["id"]: r["reasons"] for r in preflight(db.session, [find_exchange(db.session, "postmart")],
                                                                 base_url=BASE)}
    assert refused[f"ocop-{bare.id}"]["postmart"] == found

    assert f"ocop-{bare.id}" not in postmart_items(http, tokens)
    assert f"ocop-{cat.rice.id}" in postmart_items(http, tokens)
    # Only Postmart asks for the package: Thanh Hóa and Google take the product.
    assert f"ocop-{bare.id}" in {i["ma_san_pham"] for i in feed_json(http, tokens, "thanhhoa")["items"]}
    google = {i["g:id"]: i for i in feed_json(http, tokens, "google")["items"]}
    assert f"ocop-{bare.id}" in google
    assert all(google[f"ocop-{bare.id}"].get(k) in (None, "") for k in ("g:shipping_weight", "g:shipping_length"))


def test_postmart_items_carry_grams_centimetres_category_and_the_shop(db, catalogue, http, tokens):
    cat = catalogue
    branch = "2801234567-001"  # a cooperative's branch: 10-3 digits
    cat.coop.tax_code = branch
    db.session.commit()
    found = postmart_items(http, tokens)
    rice, honey = found[f"ocop-{cat.rice.id}"], found[f"ocop-{cat.honey.id}"]
    assert rice["weight"] == 1080 and type(rice["weight"]) is int
    assert [Decimal(str(rice[k])) for k in ("length", "width", "height")] == [Decimal("30"), Decimal("20"),
                                                                             Decimal("6.5")]
    assert rice["category"] == "nong-san-kho" and rice["category"] in dict(shipped("postmart")["category_list"])
    assert rice["category_name"] == group(db.session, "1.2").name_vi
    assert rice["net_content"] == "1 kg" and honey["net_content"] == "0.5 bottle"  # the label's, apart
    assert rice["vat_rate"] == 5  # group 1.2's usual rate
    assert rice["shop_name"] == "HTX Nông nghiệp Đồng Tiến" and rice["shop_phone"] == "0912345678"
    assert "Xã Đồng Tiến" in rice["shop_address"] and "Tỉnh Thanh Hóa" in rice["shop_address"]
    assert "Thôn Đông Tiến 3" in rice["shop_address"]
    assert (rice["shop_commune"], rice["shop_province"]) == ("Xã Đồng Tiến", "Tỉnh Thanh Hóa")
    assert rice["shop_tax_code"] == branch
    assert honey["shop_name"] == "Hộ kinh doanh Lê Thị Bình" and honey["shop_commune"] == "Xã Thọ Bình"
    assert honey["shop_tax_code"] == ""  # a household's 12-digit personal ID is never sent

    cat.coop.tax_code = TAX_CODE
    update_product(db.session, cat.rice, {"vat_rate": 8})  # its own rate, not the group's
    db.session.commit()
    rice = postmart_items(http, tokens)[f"ocop-{cat.rice.id}"]
    assert rice["shop_tax_code"] == TAX_CODE and rice["vat_rate"] == 8

    response = fetch(http, "postmart", "csv", tokens["postmart"])
    assert PERSONAL_ID.encode() not in response.data
    rows = {r["product_id"]: r for r in csv_rows(response.data)}
    row = rows[f"ocop-{cat.rice.id}"]
    assert (row["weight"], row["length"], row["width"], row["height"]) == ("1080", "30", "20", "6.5")
    assert (row["category"], row["net_content"], row["shop_tax_code"]) == ("nong-san-kho", "1 kg", TAX_CODE)
    assert rows[f"ocop-{cat.honey.id}"]["shop_tax_code"] == ""

    sheet = openpyxl.load_workbook(io.BytesIO(fetch(http, "postmart", "xlsx", tokens["postmart"]).data)).active
    header, *lines = [[c.value for c in row] for row in sheet.iter_rows()]
    table = {r["product_id"]: r for r in (dict(zip(header, line)) for line in lines)}
    cell = table[f"ocop-{cat.rice.id}"]
    assert cell["weight"] == 1080 and isinstance(cell["weight"], int)
    assert [Decimal(str(cell[k])) for k in ("length", "width", "height")] == [Decimal("30"), Decimal("20"),
                                                                             Decimal("6.5")]
    assert (cell["category"], cell["net_content"], cell["shop_commune"]) == ("nong-san-kho", "1 kg", "Xã Đồng Tiến")
    assert table[f"ocop-{cat.honey.id}"]["shop_tax_code"] in ("", None)


# ---- 4. the category mapping ---------------------------------------------------------------------

@pytest.fixture
def officer(db, catalogue, web):
    make_user(db.session, "officer@example.vn", role="officer")
    make_user(db.session, "producer@example.vn", producer=catalogue.coop)
    db.session.commit()
    client = web.test_client()
    login(client, "officer@example.vn")
    return client


def sub_groups(db) -> list[str]:
    groups = db.session.scalars(select(ProductGroup)).all()
    return sorted(g.code for g in groups if g.parent_id is not None)


def test_an_officer_maps_a_group_to_another_postmart_category(db, officer, catalogue, http, tokens):
    url = "/admin/exchanges/postmart/categories"
    page = officer.get(url)
    assert page.status_code == 200
    form = RenderedForm(page_text(page)).fields
    selects = {k: v for k, v in form.items() if k.startswith("group_")}
    assert set(selects) == {"group_" + code.replace(".", "_") for code in sub_groups(db)}
    mapping = shipped("postmart")["categories"]
    assert selects == {"group_" + code.replace(".", "_"): mapping.get(code, "") for code in sub_groups(db)}
    assert selects["group_6_1"] == ""  # rural tourism: a service, nothing Postmart sells
    assert form["group_1_2"] == "nong-san-kho"
    for code, label in shipped("postmart")["category_list"]:
        assert f'value="{code}"' in page_text(page) and label in page_text(page)

    response = officer.post(url, data=dict(form, group_1_2="thuc-pham-che-bien"))
    assert response.status_code == 302
    exchange = find_exchange(db.session, "postmart")
    assert profile_of(exchange).categories["1.2"] == "thuc-pham-che-bien"
    assert profile_of(exchange).categories["1.1"] == "nong-san-tuoi"  # the others as they were
    assert postmart_items(http, tokens)[f"ocop-{catalogue.rice.id}"]["category"] == "thuc-pham-che-bien"
    assert RenderedForm(page_text(officer.get(url))).fields["group_1_2"] == "thuc-pham-che-bien"
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange.profile")).one()
    assert entry.actor_email == "officer@example.vn" and entry.target_id == exchange.id
    assert entry.after["profile"]["categories"]["1.2"] == "thuc-pham-che-bien"

    # Cleared: the group's products are refused, shown on the exchange's page, out of the feed.
    response = officer.post(url, data=dict(form, group_1_2=""))
    assert response.status_code == 302
    assert "1.2" not in profile_of(find_exchange(db.session, "postmart")).categories
    item = canonical.item_for(db.session, catalogue.rice.id, base_url=BASE, today=local_today())
    assert reasons(profile_of(find_exchange(db.session, "postmart")), item) == [
        Reason("postmart", "exchange_category", "unmapped")]
    exchange_page = page_text(officer.get("/admin/exchanges/postmart"))
    refused = exchange_page.split("Sản phẩm bị sàn này từ chối", 1)[1]
    assert "nhóm sản phẩm chưa gắn với danh mục nào của sàn" in refused  # on this exchange's own page
    assert catalogue.rice.name in refused
    assert not ({f"ocop-{p.id}" for p in (catalogue.rice, catalogue.honey)} & set(postmart_items(http, tokens)))
    # Only Postmart's mapping changed: Google still takes them.
    assert f"ocop-{catalogue.rice.id}" in {i["g:id"] for i in feed_json(http, tokens, "google")["items"]}


def test_a_code_outside_the_exchanges_list_is_refused_and_nothing_saved(db, officer):
    url = "/admin/exchanges/postmart/categories"
    form = RenderedForm(page_text(officer.get(url))).fields
    response = officer.post(url, data=dict(form, group_1_2="khong-co-danh-muc-nay"))
    assert response.status_code == 422
    exchange = find_exchange(db.session, "postmart")
    db.session.refresh(exchange)
    assert exchange.profile is None and profile_of(exchange).categories["1.2"] == "nong-san-kho"
    assert db.session.scalars(select(AuditEntry)).all() == []


def test_only_officers_reach_the_category_mapping(db, officer, web):
    url = "/admin/exchanges/postmart/categories"
    anonymous = web.test_client()
    response = anonymous.get(url)
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    assert anonymous.post(url, data={"group_1_2": ""}).status_code == 302
    producer = web.test_client()
    login(producer, "producer@example.vn")
    assert producer.get(url).status_code == 403
    assert producer.post(url, data={"group_1_2": ""}).status_code == 403
    exchange = find_exchange(db.session, "postmart")
    db.session.refresh(exchange)
    assert exchange.profile is None
    assert officer.get("/admin/exchanges/nowhere/categories").status_code == 404


# ---- 5. the demo catalogue against Google's and Postmart's rules ---------------------------------

# From Google Merchant Center's product data specification (support.google.com/merchants).
G_NS = "http://base.google.com/ns/1.0"
GOOGLE_AVAILABILITY = {"in_stock", "out_of_stock", "preorder", "backorder"}
GOOGLE_PRICE = re.compile(r"^\d+(\.\d+)? VND$")
GOOGLE_WEIGHT = re.compile(r"^\d+ g$")
GOOGLE_SIDE = re.compile(r"^\d+(\.\d)? cm$")


@pytest.fixture
def demo(app, db):
    seed_demo(db.session, app.config, echo=lambda *_: None)
    return db.session.scalars(select(Product).where(Product.status == "published")).all()


def test_the_demo_google_feed_follows_googles_product_data_rules(demo, http, tokens):
    response = fetch(http, "google", "xml", tokens["google"])
    assert response.status_code == 200
    root = etree.fromstring(response.data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    found = root.findall("channel/item")
    assert len(found) == len(demo) > 20  # every published demo product is fit for Google
    categories = {code for code, _ in shipped("google")["category_list"]}

    def one(item, name):
        values = item.findall(f"{{{G_NS}}}{name}")
        assert len(values) == 1, (name, etree.tostring(item)[:300])
        return values[0].text or ""

    for item in found:
        assert 0 < len(one(item, "id")) <= 50
        assert 0 < len(one(item, "title")) <= 150
        assert 0 < len(one(item, "description")) <= 5000
        assert one(item, "link").startswith(("http://", "https://"))
        assert one(item, "image_link").startswith(("http://", "https://"))
        assert len(item.findall(f"{{{G_NS}}}additional_image_link")) <= 10
        assert one(item, "availability") in GOOGLE_AVAILABILITY
        assert GOOGLE_PRICE.match(one(item, "price")), one(item, "price")
        category = one(item, "google_product_category")
        assert category.isdigit() and category in categories
        assert one(item, "condition") == "new"
        assert len(one(item, "brand")) <= 70
        weight = one(item, "shipping_weight")
        assert GOOGLE_WEIGHT.match(weight) and 0 < int(weight.split()[0]) <= 1_000_000  # 0–1000 kg
        for side in ("shipping_length", "shipping_width", "shipping_height"):
            value = one(item, side)
            assert GOOGLE_SIDE.match(value), value
            assert 1 <= Decimal(value.split()[0]) <= 400  # Google's limits in cm

    csv_response = fetch(http, "google", "csv", tokens["google"])
    rows = csv_rows(csv_response.data)
    header = list(rows[0])
    assert not any(name.startswith("g:") for name in header)
    assert {"id", "title", "price", "google_product_category", "shipping_weight", "shipping_length",
            "shipping_width", "shipping_height"} <= set(header)
    assert header == [name.split(":", 1)[1] for name, _ in shipped("google")["fields"]]
    assert len(rows) == len(demo)
    assert all(GOOGLE_WEIGHT.match(r["shipping_weight"]) and r["google_product_category"] in categories for r in rows)


def test_google_never_gets_a_package_side_under_one_centimetre(client_a, world, db, api):
    """Google takes shipping sides of 1 to 400 cm: the doors refuse a side under 1 cm, so no
    feed can carry one."""
    response = client_a.post("/dashboard/products/new", data=form_data(
        db, world.a, gtin="", **package_form(height="0,5")))
    assert response.status_code == 200 and "package_height_cm-error" in response.get_data(as_text=True)
    fields = error_fields(api("POST", "/api/v1/products", json=new_product(
        db, packed_weight_g=120, package_length_cm=30, package_width_cm=20, package_height_cm=0.5)))
    assert list(fields) == ["package_height_cm"], fields


def test_the_demo_postmart_feed_has_packages_and_categories(demo, http, tokens):
    found = feed_json(http, tokens, "postmart")["items"]
    assert len(found) == len(demo)  # every published demo product is fit for Postmart
    categories = {code for code, _ in shipped("postmart")["category_list"]}
    for item in found:
        assert isinstance(item["weight"], int) and 0 < item["weight"] <= 100_000
        for side in ("length", "width", "height"):
            assert Decimal(str(item[side])) > 0, (side, item)
        assert item["category"] in categories
        assert len(item["name"]) <= 120 and item["shop_name"] and item["shop_phone"] and item["shop_address"]


# ---- 6. short names ---------------------------------------------------------------------------

def test_long_names_travel_as_short_names_where_the_title_is_limited(app, db, catalogue, http, tokens):
    upload_dir = Path(app.config["UPLOAD_DIR"])
    name = named(180, "Gạo nếp cái hoa vàng Đồng Tiến túi vải quà Tết")
    short = named(100, "Gạo nếp cái hoa vàng Đồng Tiến")
    product, _ = add_product(db.session, catalogue.coop, name, upload_dir)
    update_product(db.session, product, {"short_name": short})
    db.session.commit()
    key = f"ocop-{product.id}"

    google_xml = etree.fromstring(fetch(http, "google", "xml", tokens["google"]).data)
    titles = {i.findtext(f"{{{G_NS}}}id"): i.findtext(f"{{{G_NS}}}title") for i in google_xml.iter("item")}
    assert titles[key] == short
    assert postmart_items(http, tokens)[key]["name"] == short
    thanhhoa = {i["ma_san_pham"]: i for i in feed_json(http, tokens, "thanhhoa")["items"]}
    assert thanhhoa[key]["ten_san_pham"] == name  # its limit is 200

    # Without the short name neither Google nor Postmart takes it, and pre-flight says why.
    update_product(db.session, product, {"short_name": ""})
    db.session.commit()
    item = canonical.item_for(db.session, product.id, base_url=BASE, today=local_today())
    for code, limit in (("postmart", 120), ("google", 150)):
        found = reasons(profile_of(find_exchange(db.session, code)), item)
        assert found == [Reason(code, "title", "too_long", limit)]
        assert "tên ngắn" in str(found[0]) and str(limit) in str(found[0])
    assert reasons(profile_of(find_exchange(db.session, "thanhhoa")), item) == []
    assert key not in postmart_items(http, tokens)
    assert key not in {i["g:id"] for i in feed_json(http, tokens, "google")["items"]}
    assert key in {i["ma_san_pham"] for i in feed_json(http, tokens, "thanhhoa")["items"]}


def test_a_name_between_the_limits_is_shortened_for_postmart_only(app, db, catalogue, http, tokens):
    upload_dir = Path(app.config["UPLOAD_DIR"])
    name = named(130, "Mật ong hoa nhãn Thọ Bình")
    product, _ = add_product(db.session, catalogue.coop, name, upload_dir)
    update_product(db.session, product, {"short_name": "Mật ong hoa nhãn"})
    db.session.commit()
    key = f"ocop-{product.id}"
    assert postmart_items(http, tokens)[key]["name"] == "Mật ong hoa nhãn"
    google = {i["g:id"]: i for i in feed_json(http, tokens, "google")["items"]}
    assert google[key]["g:title"] == name  # it fits Google's 150


# ---- 7. no deletion for an exchange that never received the item ------------------------------

class RecordingReceiver(Receiver):
    """A receiver that also keeps every (item id, deleted) it was sent, in order."""

    def __init__(self, secret: str, id_key: str):
        self.received: list[tuple[str, bool]] = []
        super().__init__(secret, id_key)

    def handle(self, body: bytes, headers: dict) -> int:
        status = super().handle(body, headers)
        if status < 300:
            data = json.loads(body)["data"]
            self.received.append((data[self.id_key], bool(data.get("deleted"))))
        return status


POSTMART_NEEDS = ["title", "price", *SHIPPING, "exchange_category"]  # its own rules, less the photo


def connect_postmart(db) -> tuple[RecordingReceiver, object]:
    exchange = find_exchange(db.session, "postmart")
    exchange.profile = dict(shipped("postmart"), required=POSTMART_NEEDS)
    secret = push.new_secret()
    configure_push(exchange, secret=secret, allow_private=True)
    receiver = RecordingReceiver(secret, id_field(profile_of(exchange)))
    configure_push(exchange, endpoint=receiver.url, enabled=True, allow_private=True)
    db.session.commit()
    return receiver, exchange


def listed_product(db, producer, name, *, package=True):
    from tests.conftest import make_product

    product = make_product(db.session, producer, name)
    # make_product packs every product: set the package, or take it away.
    update_product(db.session, product, dict(zip(("packed_weight_g", *SIDES),
                                                 (1080, 30, 20, 6) if package else (None,) * 4)))
    submit_product(product)
    publish_product(product)
    db.session.commit()
    return product


def statuses(db, exchange, product) -> list[str]:
    db.session.commit()
    return list(db.session.scalars(select(Delivery.status).where(Delivery.exchange_id == exchange.id,
                                                                   Delivery.product_id == product.id)
                                   .order_by(Delivery.id)))


def test_no_deletion_is_pushed_for_an_item_postmart_never_had(pdb, papp, world):
    receiver, exchange = connect_postmart(pdb)
    try:
        refused = listed_product(pdb, world.a, "Chè lam chưa cân", package=False)
        drain(pdb, papp)
        key = canonical.item_id(refused.id)
        assert statuses(pdb, exchange, refused) == [DeliveryStatus.unneeded]  # refused from the start
        archive_product(refused)
        pdb.session.commit()
        drain(pdb, papp)
        assert statuses(pdb, exchange, refused) == [DeliveryStatus.unneeded, DeliveryStatus.unneeded]
        assert key not in {k for k, _ in receiver.received}
        # Withdrawn while its listing still waited: neither is sent.
        quick = listed_product(pdb, world.a, "Bánh gai rút ngay", package=False)
        archive_product(quick)
        pdb.session.commit()
        drain(pdb, papp)
        assert set(statuses(pdb, exchange, quick)) <= {DeliveryStatus.unneeded, DeliveryStatus.superseded}
        assert canonical.item_id(quick.id) not in {k for k, _ in receiver.received}
        assert receiver.rejected == 0
    finally:
        receiver.close()


def test_an_item_postmart_received_is_deleted_once_when_withdrawn(pdb, papp, world):
    receiver, exchange = connect_postmart(pdb)
    try:
        product = listed_product(pdb, world.a, "Gạo nếp đã gửi")
        drain(pdb, papp)
        key = canonical.item_id(product.id)
        assert [r for r in receiver.received if r[0] == key] == [(key, False)]
        assert receiver.state[key]["weight"] == 1080 and receiver.state[key]["category"] == "nong-san-kho"
        archive_product(product)
        pdb.session.commit()
        drain(pdb, papp)
        assert [r for r in receiver.received if r[0] == key] == [(key, False), (key, True)]
        assert key not in receiver.state
        assert statuses(pdb, exchange, product) == [DeliveryStatus.delivered, DeliveryStatus.delivered]
    finally:
        receiver.close()


def test_an_item_that_became_refused_is_deleted_once_then_never_again(pdb, papp, world):
    receiver, exchange = connect_postmart(pdb)
    try:
        product = listed_product(pdb, world.a, "Nem chua đã gửi")
        drain(pdb, papp)
        key = canonical.item_id(product.id)
        # The package data is cleared: Postmart now refuses it and must drop what it holds.
        update_product(pdb.session, product, dict.fromkeys(("packed_weight_g", *SIDES)))
        pdb.session.commit()
        drain(pdb, papp)
        assert [r for r in receiver.received if r[0] == key] == [(key, False), (key, True)]
        # Then withdrawn: Postmart no longer holds it, no second deletion.
        archive_product(product)
        pdb.session.commit()
        drain(pdb, papp)
        assert [r for r in receiver.received if r[0] == key] == [(key, False), (key, True)]
        assert statuses(pdb, exchange, product)[-1] == DeliveryStatus.unneeded
    finally:
        receiver.close()
