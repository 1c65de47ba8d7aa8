"""One front door per rule (issue 15, point 2).

The limits and checks of a product's and a batch's fields are stated once, in the domain
services (``catalogue.service``: ``PRODUCT_*_LIMITS``, ``product_problems``;
``trace.service``: the batch limits, ``date_problems``).  The product and batch forms and the
API's bodies are built from them, so the two doors agree at every boundary: these tests
walk each limit and send the value on it and the value just past it through both doors.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.catalogue import service as catalogue
from marketplace.models import Batch, Product, ProductGroup
from marketplace.models.base import local_today
from marketplace.trace import service as trace
from marketplace.vocab import domain_error
from tests.test_api import bearer, token_for
from tests.test_products import form_data
from tests.test_trace_routes import batch_form

TEXT_FIELDS = sorted(catalogue.PRODUCT_TEXT_LIMITS)
NUMBER_FIELDS = sorted(catalogue.PRODUCT_NUMBER_LIMITS)


@pytest.fixture
def doors(world, app, db):
    """Both doors of producer A: the product form (a logged-in client) and the API."""
    from tests.conftest import signed_in

    secret = token_for(db, world.users["producer_a"])
    page = signed_in(app, "a@example.vn")
    api = app.test_client()

    class Doors:
        def form(self, **overrides):
            before = db.session.scalar(select(func.count(Product.id)))
            response = page.post("/dashboard/products/new", data=form_data(db, world.a, **{"gtin": "", **overrides}))
            db.session.commit()
            created = db.session.scalar(select(func.count(Product.id))) > before
            assert created == (response.status_code == 302), response.data[:300]
            return created, response.get_data(as_text=True)

        def api(self, **overrides):
            body = {"name": "Mật ong hoa nhãn", "group_id": group(db), "net_quantity": 0.5, "unit": "kg",
                    "price_vnd": 150000}
            body.update(overrides)
            db.session.commit()
            response = api.post("/api/v1/products", json=body, headers=bearer(secret))
            assert response.status_code in (201, 422), response.get_json()
            fields = response.get_json()["error"]["fields"] if response.status_code == 422 else {}
            return response.status_code == 201, fields

    return Doors()


def group(db, code="1.3") -> int:
    return db.session.scalars(select(ProductGroup.id).where(ProductGroup.code == code)).one()


def _name(n: int, salt: str) -> str:
    return (salt + "x" * n)[:n]


@pytest.mark.parametrize("field", TEXT_FIELDS)
def test_text_limits_are_the_same_through_the_form_and_the_api(doors, field):
    least, most = catalogue.PRODUCT_TEXT_LIMITS[field]
    on_limit = {"name": _name(most, "a")} if field == "name" else {field: "x" * most}
    past_limit = {"name": _name(most + 1, "b")} if field == "name" else {field: "x" * (most + 1)}
    assert doors.form(**on_limit)[0] and doors.api(**on_limit)[0]
    assert not doors.form(**past_limit)[0]
    accepted, fields = doors.api(**past_limit)
    assert not accepted and field in fields
    if least:
        short = {field: "x" * (least - 1)}
        assert not doors.form(**short)[0]
        accepted, fields = doors.api(**short)
        assert not accepted and field in fields


def _typed(field: str, value: Decimal | int) -> tuple[str, float | int]:
    """The value as the form gets it (text, comma decimals) and as the API gets it (JSON)."""
    if isinstance(value, Decimal) and value != int(value) or field in catalogue.PACKAGE_SIDES:
        return format(value, "f").replace(".", ","), float(value)
    return str(int(value)), int(value)


_STEPS = {"net_quantity": Decimal("0.001"), **dict.fromkeys(catalogue.PACKAGE_SIDES, Decimal("0.1"))}


@pytest.mark.parametrize("field", NUMBER_FIELDS)
def test_number_limits_are_the_same_through_the_form_and_the_api(doors, field):
    least, most = catalogue.PRODUCT_NUMBER_LIMITS[field]
    step = _STEPS.get(field, 1)
    # A package's sides come together: the others are given, on a value within their limits.
    others = {side: Decimal("10") for side in catalogue.PACKAGE_SIDES if field in catalogue.PACKAGE_SIDES
              and side != field}
    for value, allowed in ((least, True), (most, True), (least - step, False), (most + step, False)):
        values = {field: value, **others}
        assert doors.form(**{k: _typed(k, v)[0] for k, v in values.items()})[0] is allowed, (field, value)
        accepted, fields = doors.api(**{k: _typed(k, v)[1] for k, v in values.items()})
        assert accepted is allowed and (allowed or field in fields), (field, value, fields)


def test_a_package_has_all_three_sides_or_none_through_both_doors(doors):
    for given in ({"package_length_cm": 20}, {"package_length_cm": 20, "package_width_cm": 10}):
        missing = next(side for side in catalogue.PACKAGE_SIDES if side not in given)
        created, page = doors.form(**{k: str(v) for k, v in given.items()})
        assert not created and str(domain_error("package_sides")) in page
        accepted, fields = doors.api(**given)
        assert not accepted and fields == {missing: [domain_error("package_sides")]}, fields
    whole = dict.fromkeys(catalogue.PACKAGE_SIDES, 12)
    assert doors.form(**{k: "12,5" for k in whole})[0] and doors.api(**whole)[0]


def test_checks_that_need_the_database_say_the_same_through_both_doors(doors, db, world):
    taken = "8935049501015"
    world.product_b.gtin = "0" + taken
    db.session.commit()
    parent = db.session.scalars(select(ProductGroup.id).where(ProductGroup.parent_id.is_(None))).first()
    cases = [
        ({"gtin": taken}, "gtin", "gtin_taken"),
        ({"gtin": "8935049501016"}, "gtin", "gtin_invalid"),
        ({"origin_ward_code": 99999}, "origin_ward_code", "ward_unknown"),
    ]
    for overrides, field, code in cases:
        created, page = doors.form(**{k: str(v) for k, v in overrides.items()})
        assert not created and str(domain_error(code)) in page, code
        accepted, fields = doors.api(**overrides)
        assert not accepted and fields == {field: [domain_error(code)]}, (code, fields)
    accepted, fields = doors.api(group_id=parent)  # the form offers sub-groups only
    assert not accepted and fields == {"group_id": [domain_error("group_unknown")]}


def test_product_problems_is_a_plain_function(db, world):
    data = {"gtin": "8935049501015", "group_id": group(db), "origin_ward_code": 15724}
    assert catalogue.product_problems(db.session, data) == {}
    assert data["gtin"] == "08935049501015"  # normalised to 14 digits
    world.product_a.gtin = data["gtin"]
    db.session.flush()
    assert catalogue.product_problems(db.session, {"gtin": "8935049501015"}) == {"gtin": "gtin_taken"}
    assert catalogue.product_problems(db.session, {"gtin": "8935049501015"}, world.product_a.id) == {}


# ---- batches ----------------------------------------------------------------------------------

def test_batch_dates_are_one_rule_for_the_form_the_api_and_the_service(world, app, db):
    from tests.conftest import signed_in

    today = local_today()
    tomorrow = today + dt.timedelta(days=1)
    assert trace.date_problems(tomorrow, None) == {"production_date": "production_date_range"}
    assert trace.date_problems(today, today - dt.timedelta(days=1)) == {"expiry_date": "expiry_before_production"}
    assert trace.date_problems(today, dt.date(trace.LATEST_EXPIRY_YEAR + 1, 1, 1)) == {"expiry_date": "expiry_range"}
    assert trace.date_problems(trace.EARLIEST_PRODUCTION - dt.timedelta(days=1), None) == {
        "production_date": "production_date_range"}
    assert trace.date_problems(trace.EARLIEST_PRODUCTION, dt.date(trace.LATEST_EXPIRY_YEAR, 12, 31)) == {}

    with pytest.raises(trace.TraceError) as refused:
        trace.create_batch(db.session, world.product_a, lot_code="L-1", quantity=Decimal(1), unit="kg",
                           production_date=tomorrow)
    assert refused.value.code == "production_date_range"
    db.session.rollback()

    page = signed_in(app, "a@example.vn")
    secret = token_for(db, world.users["producer_a"])
    cases = [({"production_date": tomorrow}, "production_date", "production_date_range"),
             ({"expiry_date": dt.date(2025, 9, 1)}, "expiry_date", "expiry_before_production"),
             ({"expiry_date": dt.date(2101, 1, 1)}, "expiry_date", "expiry_range")]
    for overrides, field, code in cases:
        form = batch_form(world.product_a.id, **{k: v.isoformat() for k, v in overrides.items()})
        response = page.post("/dashboard/batches/new", data=form)
        assert response.status_code == 200 and str(domain_error(code)) in response.get_data(as_text=True), code
        body = {"product_id": world.product_a.id, "lot_code": "DT-1", "quantity": 1.5, "unit": "kg",
                "production_date": "2025-10-01"}
        body.update({k: v.isoformat() for k, v in overrides.items()})
        answer = app.test_client().post("/api/v1/batches", json=body, headers=bearer(secret))
        assert answer.status_code == 422 and answer.get_json()["error"]["fields"] == {field: [domain_error(code)]}
    assert db.session.scalar(select(func.count(Batch.id))) == 0


@pytest.mark.parametrize("quantity, allowed", [
    (trace.BATCH_QUANTITY[0], True), (trace.BATCH_QUANTITY[1], True),
    (trace.BATCH_QUANTITY[0] - Decimal("0.001"), False), (trace.BATCH_QUANTITY[1] + Decimal("0.001"), False)])
def test_batch_quantity_limits_are_the_same_through_both_doors(world, app, db, quantity, allowed):
    from tests.conftest import signed_in

    page = signed_in(app, "a@example.vn")
    secret = token_for(db, world.users["producer_a"])
    form = batch_form(world.product_a.id, lot_code="F-1", quantity=format(quantity, "f").replace(".", ","))
    assert (page.post("/dashboard/batches/new", data=form).status_code == 302) is allowed
    body = {"product_id": world.product_a.id, "lot_code": "A-1", "quantity": float(quantity), "unit": "kg",
            "production_date": "2025-10-01"}
    answer = app.test_client().post("/api/v1/batches", json=body, headers=bearer(secret))
    assert (answer.status_code == 201) is allowed, answer.get_json()
    if not allowed:
        assert "quantity" in answer.get_json()["error"]["fields"]


def test_required_fields_are_the_services_through_both_doors(doors):
    from marketplace.api.schemas import ProductCreate

    required = set(catalogue.PRODUCT_REQUIRED)
    assert {name for name, f in ProductCreate.model_fields.items() if f.is_required()} == required
    for field in sorted(required):
        assert not doors.form(**{field: ""})[0], field
        accepted, fields = doors.api(**{field: None})
        assert not accepted and field in fields, field
    for field in ("description", "stock", "shelf_life_days", "warnings"):  # optional: left empty is fine
        assert doors.form(**{field: ""})[0], field


def test_a_diary_entrys_moment_is_one_rule_for_the_form_and_the_api(world, app, db):
    """From 2000 to now (a phone clock 5 minutes ahead allowed), in the diary form and the
    API alike; the form's entry without a time is at noon, or now while noon is to come."""
    from marketplace.models import TraceEvent
    from tests.conftest import signed_in

    now = dt.datetime.now(trace.LOCAL_TZ)
    assert trace.event_time_problem(now) is None
    assert trace.event_time_problem(now + trace.CLOCK_SKEW - dt.timedelta(seconds=5)) is None
    assert trace.event_time_problem(now + dt.timedelta(minutes=10)) == "event_time_range"
    assert trace.event_time_problem(trace.EARLIEST_EVENT - dt.timedelta(seconds=1)) == "event_time_range"

    batch = trace.create_batch(db.session, world.product_a, lot_code="D-1", quantity=Decimal(1), unit="kg",
                               production_date=dt.date(2025, 10, 1))
    db.session.commit()
    page = signed_in(app, "a@example.vn")
    secret = token_for(db, world.users["producer_a"])
    later = now + dt.timedelta(hours=2) if now.hour < 21 else None
    if later is not None:  # later today: refused by both doors with the same words
        response = page.post(f"/dashboard/batches/{batch.id}/events", data={
            "kind": "care", "date": later.date().isoformat(), "time": later.strftime("%H:%M")})
        assert response.status_code == 422 and str(domain_error("event_time_range")) in response.get_data(as_text=True)
        answer = app.test_client().post(f"/api/v1/batches/{batch.id}/events", headers=bearer(secret),
                                        json={"kind": "care", "occurred_at": later.isoformat()})
        assert answer.get_json()["error"]["fields"] == {"occurred_at": [domain_error("event_time_range")]}
    # today without a time: accepted, and never after now
    response = page.post(f"/dashboard/batches/{batch.id}/events", data={"kind": "care", "date": now.date().isoformat()})
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    entry = db.session.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch.id)).one()
    assert entry.occurred_at <= dt.datetime.now(dt.timezone.utc)
