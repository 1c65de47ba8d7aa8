"""Text sent to the JSON API is cleaned and trimmed before its length is checked: blank,
whitespace-only or too short after trimming is a 422 naming the field, never an empty or
shortened value saved; a valid value with spaces around it is kept trimmed.  Length
errors are in the caller's language, like every other validation message."""
from __future__ import annotations

import json
from typing import Annotated

import pytest
from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy import func, select

from marketplace.api.framework import validation_fields
from marketplace.api.schemas import (BatchCreate, BatchUpdate, EventCreate, EventDetails, ProductCreate, ProductUpdate,
                                     RecallBody, Text)
from marketplace.catalogue.service import PRODUCT_TEXT_LIMITS
from marketplace.models import Batch, Product
from tests.test_api import PRODUCT, api, error_of, group_id  # noqa: F401  (api: a fixture)
from tests.test_routes_matrix import add_trace

NAME_MIN, NAME_MAX = PRODUCT_TEXT_LIMITS["name"]
TOO_SHORT_VI = f"Quá ngắn (tối thiểu {NAME_MIN} ký tự)."
TOO_LONG_VI = f"Quá dài (tối đa {NAME_MAX} ký tự)."
SHORT_NAMES = ["", "    ", "\t\t\t", "\n \r\n", "\u00a0\u3000 ", "  ab  ", "\tab\t", "a", " ạ "]


def _products(db) -> int:
    return db.session.scalar(select(func.count(Product.id)))


# ---- products: POST ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHORT_NAMES)
def test_a_blank_or_short_name_is_refused_on_create_naming_the_field(name, api, db):
    before = _products(db)
    response = api.call("producer_a", "POST", "/api/v1/products", json={**PRODUCT, "group_id": group_id(db), "name": name})
    assert response.status_code == 422, response.get_json()
    error = error_of(response)
    assert error["code"] == "invalid" and error["fields"] == {"name": [TOO_SHORT_VI]}, error
    assert _products(db) == before


def test_a_too_long_name_is_refused_on_create_in_vietnamese(api, db):
    response = api.call("producer_a", "POST", "/api/v1/products",
                        json={**PRODUCT, "group_id": group_id(db), "name": "a" * (NAME_MAX + 1)})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"name": [TOO_LONG_VI]}


@pytest.mark.parametrize("sent,kept", [("  Mật ong rừng  ", "Mật ong rừng"), ("\tabc\t", "abc"),
                                       (" " + "a" * NAME_MAX + " ", "a" * NAME_MAX)])
def test_a_name_with_spaces_around_is_kept_trimmed_on_create(sent, kept, api, db):
    response = api.call("producer_a", "POST", "/api/v1/products", json={**PRODUCT, "group_id": group_id(db), "name": sent})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == kept
    assert db.session.get(Product, response.get_json()["id"]).name == kept


@pytest.mark.parametrize("field", sorted(PRODUCT_TEXT_LIMITS))
def test_every_product_text_field_is_checked_after_trimming(field, api, db):
    least, most = PRODUCT_TEXT_LIMITS[field]
    base = {**PRODUCT, "group_id": group_id(db)}
    too_long = api.call("producer_a", "POST", "/api/v1/products", json={**base, field: "x" * (most + 1)})
    assert too_long.status_code == 422
    assert error_of(too_long)["fields"] == {field: [f"Quá dài (tối đa {most} ký tự)."]}
    padded = api.call("producer_a", "POST", "/api/v1/products", json={**base, field: "  " + "x" * most + "  "})
    assert padded.status_code == 201, padded.get_json()
    assert padded.get_json()[field] == "x" * most
    blank = api.call("producer_a", "POST", "/api/v1/products", json={**base, field: "   "})
    if least:
        assert blank.status_code == 422 and error_of(blank)["fields"] == {field: [f"Quá ngắn (tối thiểu {least} ký tự)."]}
    else:
        assert blank.status_code == 201 and blank.get_json()[field] == ""


# ---- products: PATCH ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", SHORT_NAMES)
def test_a_blank_or_short_name_is_refused_on_update_and_nothing_changes(name, api, db, world):
    pid = world.product_a.id
    old = db.session.get(Product, pid).name
    response = api.call("producer_a", "PATCH", f"/api/v1/products/{pid}", json={"name": name})
    assert response.status_code == 422, response.get_json()
    assert error_of(response)["fields"] == {"name": [TOO_SHORT_VI]}
    db.session.expire_all()
    assert db.session.get(Product, pid).name == old


def test_a_too_long_name_is_refused_on_update(api, db, world):
    response = api.call("producer_a", "PATCH", f"/api/v1/products/{world.product_a.id}", json={"name": "b" * (NAME_MAX + 1)})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"name": [TOO_LONG_VI]}


def test_a_name_with_spaces_around_is_kept_trimmed_on_update(api, db, world):
    pid = world.product_a.id
    response = api.call("producer_a", "PATCH", f"/api/v1/products/{pid}", json={"name": "   Gạo tám xoan \t"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Gạo tám xoan"
    db.session.expire_all()
    assert db.session.get(Product, pid).name == "Gạo tám xoan"


# ---- language ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_length_messages_follow_accept_language(method, api, db, world):
    url = "/api/v1/products" if method == "POST" else f"/api/v1/products/{world.product_a.id}"
    body = {**PRODUCT, "group_id": group_id(db)} if method == "POST" else {}
    short = api.call("producer_a", method, url, json={**body, "name": "  ab  "}, headers={"Accept-Language": "en"})
    assert error_of(short)["fields"] == {"name": [f"Too short (at least {NAME_MIN} characters)."]}
    long = api.call("producer_a", method, url, json={**body, "name": "c" * 201}, headers={"Accept-Language": "en"})
    assert error_of(long)["fields"] == {"name": [f"Too long (at most {NAME_MAX} characters)."]}


# ---- the other bodies with text -------------------------------------------------------------------

@pytest.mark.parametrize("reason", ["", "   ", "\n\t\n"])
def test_a_blank_recall_reason_is_refused_and_the_batch_is_not_recalled(reason, api, db, world):
    add_trace(db.session, world)
    bid = world.batch_a.id
    response = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/recall", json={"reason": reason})
    assert response.status_code == 422
    assert error_of(response)["fields"] == {"reason": ["Quá ngắn (tối thiểu 1 ký tự)."]}
    db.session.expire_all()
    assert db.session.get(Batch, bid).status == "open"


def test_batch_and_diary_text_is_checked_after_trimming(api, db, world):
    add_trace(db.session, world)
    bid = world.batch_a.id
    area = api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"growing_area": "  Thửa 7  "})
    assert area.status_code == 200 and area.get_json()["growing_area"] == "Thửa 7"
    long_area = api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"growing_area": "x" * 1000})
    assert long_area.status_code == 422 and list(error_of(long_area)["fields"]) == ["growing_area"]
    assert error_of(long_area)["fields"]["growing_area"][0].startswith("Quá dài (tối đa ")
    event = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/events", json={
        "kind": "care", "occurred_at": "2025-10-02T08:00:00+07:00", "details": {"input_name": "y" * 121}})
    assert event.status_code == 422
    assert error_of(event)["fields"] == {"details.input_name": ["Quá dài (tối đa 120 ký tự)."]}


@pytest.mark.parametrize("model,field,limit", [
    (ProductCreate, "name", NAME_MIN), (ProductUpdate, "name", NAME_MIN), (RecallBody, "reason", 1)])
def test_every_text_with_a_minimum_counts_it_after_trimming(model, field, limit, app):
    other = {"group_id": 3, "net_quantity": 1, "unit": "kg", "price_vnd": 1} if model is ProductCreate else {}
    with app.test_request_context():
        for blank in (" " * (limit + 5), "\t" * (limit + 5), " " + "a" * (limit - 1) + " "):
            with pytest.raises(ValidationError) as refused:
                model.model_validate({**other, field: blank})
            assert validation_fields(refused.value) == {field: [f"Quá ngắn (tối thiểu {limit} ký tự)."]}
        assert getattr(model.model_validate({**other, field: " " + "a" * limit + " "}), field) == "a" * limit


BODIES = (ProductCreate, ProductUpdate, BatchCreate, BatchUpdate, RecallBody, EventCreate, EventDetails)


def _text_fields():
    """Every free-text field of every body: a string with a length and no pattern."""
    for model in BODIES:
        for name, prop in model.model_json_schema()["properties"].items():
            if prop.get("type") == "string" and "maxLength" in prop and "pattern" not in prop:
                yield pytest.param(model, name, prop.get("minLength", 0), prop["maxLength"], id=f"{model.__name__}.{name}")


def _refused(model, data: dict) -> dict:
    try:
        model.model_validate_json(json.dumps(data))
    except ValidationError as exc:
        return {".".join(map(str, e["loc"])): e["type"] for e in exc.errors()}
    return {}


@pytest.mark.parametrize("model,name,least,most", list(_text_fields()))
def test_every_text_field_of_every_body_counts_its_length_after_trimming(model, name, least, most):
    assert name not in _refused(model, {name: "  " + "z" * most + " \t"})
    assert _refused(model, {name: "z" * (most + 1)}).get(name) == "string_too_long"
    blank = _refused(model, {name: " " * max(least, 1) + "\t"}).get(name)
    assert blank == ("string_too_short" if least else None)
    if least:
        assert _refused(model, {name: "  " + "z" * (least - 1) + "  "}).get(name) == "string_too_short"
        assert name not in _refused(model, {name: "  " + "z" * least + "  "})


# ---- the framework's messages -------------------------------------------------------------------------

class _Listing(BaseModel):
    tags: Annotated[list[str], Field(min_length=2, max_length=3)]


@pytest.mark.parametrize("tags,kind", [([], "too_short"), (["a", "b", "c", "d"], "too_long")])
def test_collection_length_errors_are_translated_not_pydantic_english(tags, kind, app):
    with pytest.raises(ValidationError) as refused:
        _Listing.model_validate({"tags": tags})
    assert refused.value.errors()[0]["type"] == kind
    with app.test_request_context():
        message = validation_fields(refused.value)["tags"][0]
    assert "validation" not in message and "items" not in message, message
    assert ("2" if kind == "too_short" else "3") in message


def test_text_is_a_type_factory_that_still_refuses_nul(app):
    with app.test_request_context(), pytest.raises(ValidationError):
        TypeAdapter(Text(10)).validate_python("a\x00b")
