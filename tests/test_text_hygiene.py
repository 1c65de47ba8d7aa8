"""Text hygiene at the door (issue 16, point 6).

Every text field that comes in through a form, the API or the CLI is NFC-normalised and
loses its control characters before validation (tab and newline kept where the field allows
lines), and its length is checked on the cleaned text.  Seen before: a name typed in
decomposed Unicode (NFD) reached every feed as NFD, and control characters were accepted
in API text.
"""
from __future__ import annotations

import unicodedata

from sqlalchemy import select

from marketplace.models import Product, User
from marketplace.text import clean
from tests.test_api import bearer, token_for
from tests.test_products import form_data, group_id

NAME = "Mật ong rừng Như Thanh"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_clean_is_nfc_without_control_characters():
    assert nfd(NAME) != NAME and clean(nfd(NAME)) == NAME
    assert clean("a\u200bb\u00adc\ufeffd\x07e\x1bf") == "abcdef"  # zero-width, soft hyphen, BOM, BEL, ESC
    assert clean("one\ttwo\r\nthree\rfour\u2028five") == "one two three four five"
    assert clean("one\ttwo\r\nthree\rfour", lines=True) == "one\ttwo\nthree\nfour"
    assert clean("👩\u200d🌾") == "👩\u200d🌾"  # a joiner inside an emoji stays
    assert clean("a\x00b") == "a\x00b"  # NUL is refused by the doors, not silently dropped


def _product(db, name: str) -> Product | None:
    return db.session.scalars(select(Product).where(Product.name == name)).first()


def test_the_product_form_keeps_nfc_and_counts_length_after_it(world, app, db):
    from tests.conftest import signed_in

    page = signed_in(app, "a@example.vn")
    typed = nfd(NAME) + "\u200b\x07"
    response = page.post("/dashboard/products/new", data=form_data(
        db, world.a, name=typed, gtin="", description=nfd("Dòng một\r\nDòng hai\x1b"),
        storage_instructions="Khô ráo\tthoáng mát"))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    db.session.expire_all()
    product = _product(db, NAME)
    assert product is not None and product.description == "Dòng một\nDòng hai"
    assert product.storage_instructions == "Khô ráo\tthoáng mát"  # a text area keeps its tab
    # 200 letters "ạ" are 400 code points in NFD: within the limit once normalised
    long_name = "ạ" * 200
    assert page.post("/dashboard/products/new", data=form_data(db, world.a, name=nfd(long_name), gtin="")
                     ).status_code == 302
    assert _product(db, long_name) is not None
    assert page.post("/dashboard/products/new", data=form_data(db, world.a, name=nfd("ạ" * 201), gtin="")
                     ).status_code == 200  # one past the limit, counted after normalisation


def test_the_api_keeps_nfc_strips_controls_and_counts_length_after_it(world, app, db):
    secret = token_for(db, world.users["producer_a"])
    client = app.test_client()
    body = {"name": nfd(NAME) + "\x1b\u200b", "group_id": group_id(db), "net_quantity": 0.5, "unit": "kg",
            "price_vnd": 150000, "description": "a\r\nb\x07", "warnings": "x\ty"}
    made = client.post("/api/v1/products", json=body, headers=bearer(secret))
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["name"] == NAME and made.get_json()["description"] == "a\nb"
    assert made.get_json()["warnings"] == "x\ty"
    single_line = client.post("/api/v1/products", headers=bearer(secret),
                              json={**body, "name": "Tên\ncó\tdòng"})
    assert single_line.status_code == 201 and single_line.get_json()["name"] == "Tên có dòng"
    long_name = client.post("/api/v1/products", headers=bearer(secret), json={**body, "name": nfd("ạ" * 200)})
    assert long_name.status_code == 201 and long_name.get_json()["name"] == "ạ" * 200
    too_long = client.post("/api/v1/products", headers=bearer(secret), json={**body, "name": nfd("ạ" * 201)})
    assert too_long.status_code == 422 and "name" in too_long.get_json()["error"]["fields"]
    nul = client.post("/api/v1/products", headers=bearer(secret), json={**body, "name": "Mật\x00ong"})
    assert nul.status_code == 422 and "name" in nul.get_json()["error"]["fields"]


def test_the_cli_keeps_nfc(app, db, runner):
    result = runner.invoke(args=["create-user", "--email", "Ng@Example.vn", "--role", "officer",
                                 "--name", nfd("Lê Thị Hồng") + "\x07", "--password-stdin"],
                           input="mat-khau-dai-du\n")
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User).where(User.email == "ng@example.vn")).one()
    assert user.name == "Lê Thị Hồng"
