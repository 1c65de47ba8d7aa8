"""OCOP and certificate expiry (issue 6): the officers' list and the producers' warning, and,
with a frozen clock, a recognition that expires "tomorrow" leaving the product page, the
feeds and newly printed labels, and being pushed after ``flask expire``.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace import expiry
from marketplace.catalogue.service import archive_product
from marketplace.extensions import db as _db
from marketplace.models import Certification, Delivery, OcopRecognition
from marketplace.models import base as model_base
from marketplace.models.base import local_today
from marketplace.stamps.service import issue_run
from marketplace.stamps.sheets import label_data
from marketplace.trace.service import create_batch
from tests.conftest import login, make_product


def recognition(product, valid_until, *, stars=4, revoked=False, number="GCN-OCOP-1"):
    return OcopRecognition(product=product, stars=stars, decision_no="7/QĐ-UBND", decision_date=dt.date(2023, 5, 1),
                           certificate_no=number, issuer_level="provincial", issuer_name="UBND tỉnh Thanh Hóa",
                           valid_until=valid_until, revoked=revoked)


def certificate(producer, number, valid_to, *, product=None, scheme="vietgap", verified=True):
    return Certification(producer=producer, product=product, scheme=scheme, number=number, body="QUACERT",
                         valid_to=valid_to, verified=verified)


@pytest.fixture
def dated(db, world):
    """Recognitions and certificates around today, for producers a and b."""
    s, today = db.session, local_today()
    day = dt.timedelta(days=1)
    rice, honey = world.published_a, world.product_b
    tea = make_product(s, world.a, "Chè xanh Triệu Sơn", status="published")
    gone = make_product(s, world.a, "Bánh gai cũ", status="published")
    other = make_product(s, world.b, "Mắm tôm Hậu Lộc", status="published")
    archive_product(gone)
    s.add_all([
        recognition(rice, today + 10 * day, number="SOON"),
        recognition(world.product_a, today + 20 * day, number="EARLY-OLD"),   # renewed before it expires:
        recognition(world.product_a, today + 1100 * day, number="EARLY-NEW"),
        recognition(honey, today - 5 * day, number="LAPSED"),                 # expired, nothing newer
        recognition(tea, today - 5 * day, number="RENEWED-OLD"),              # expired, but renewed:
        recognition(tea, today + 900 * day, number="RENEWED-NEW"),
        recognition(other, today + 61 * day, number="LATER"),                 # beyond 60 days
        recognition(rice, today + 3 * day, number="REVOKED", revoked=True),
        recognition(gone, today + 3 * day, number="ARCHIVED"),
        recognition(rice, today - 400 * day, number="ANCIENT"),               # expired over a year ago
        certificate(world.a, "VG-SOON", today + 30 * day),
        certificate(world.a, "ORG-EARLY-OLD", today + 40 * day, scheme="organic"),   # renewed early
        certificate(world.a, "ORG-EARLY-NEW", None, scheme="organic"),
        certificate(world.a, "ATTP-TODAY", today, scheme="food_safety"),
        certificate(world.b, "ORG-OLD", today - 2 * day, scheme="organic"),   # expired, renewed below
        certificate(world.b, "ORG-NEW", today + 700 * day, scheme="organic"),
        certificate(world.b, "HACCP-OLD", today - 2 * day, scheme="haccp"),   # expired, nothing newer
        certificate(world.b, "UNVERIFIED", today + 5 * day, verified=False),
    ])
    s.commit()
    return today


def test_expiring_lists_what_needs_acting_on(db, world, dated):
    found = expiry.expiring(db.session, today=dated)
    assert [(e.kind, e.label.split(" · ")[-1], e.days_left) for e in found] == [
        ("certification", "HACCP-OLD", -2), ("ocop", "LAPSED", -5), ("certification", "ATTP-TODAY", 0),
        ("ocop", "SOON", 10), ("certification", "VG-SOON", 30)]
    assert found[0].expired and not found[2].expired
    mine = expiry.expiring(db.session, today=dated, producer_ids=[world.b.id])
    assert {e.label.split(" · ")[-1] for e in mine} == {"LAPSED", "HACCP-OLD"}


def test_officers_see_the_list_producers_do_not(app, db, world, dated, client):
    login(client, "officer@example.vn")
    page = client.get("/admin/expiring")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for label in ("LAPSED", "HACCP-OLD", "ATTP-TODAY", "SOON", "VG-SOON"):
        assert label in text
    for label in ("RENEWED-OLD", "LATER", "REVOKED", "ARCHIVED", "ANCIENT", "ORG-OLD", "UNVERIFIED", "EARLY-OLD",
                  "ORG-EARLY-OLD"):
        assert label not in text
    assert "đã hết hạn 5 ngày" in text and "còn 10 ngày" in text and "hết hạn hôm nay" in text
    producer = app.test_client()
    login(producer, "a@example.vn")
    assert producer.get("/admin/expiring").status_code in (403, 404)


def test_producers_see_their_own_warnings(app, db, world, dated, client):
    login(client, "b@example.vn")
    text = client.get("/dashboard/").get_data(as_text=True)
    assert "sắp hết hạn" in text and "LAPSED" in text and "HACCP-OLD" in text
    assert "VG-SOON" not in text and "SOON ·" not in text  # producer a's
    other = app.test_client()
    login(other, "a@example.vn")
    text = other.get("/dashboard/").get_data(as_text=True)
    assert "VG-SOON" in text and "LAPSED" not in text


def test_the_list_in_english(db, world, dated, client):
    login(client, "officer@example.vn")
    client.set_cookie("lang", "en")
    text = client.get("/admin/expiring").get_data(as_text=True)
    assert "expired 5 days ago" in text and "10 days left" in text


def freeze(monkeypatch, day: dt.date) -> None:
    """Every module's ``local_today`` returns ``day`` (they import it by name)."""
    original = model_base.local_today
    for name, module in list(sys.modules.items()):
        if name.startswith("marketplace") and getattr(module, "local_today", None) is original:
            monkeypatch.setattr(module, "local_today", lambda: day)


def test_a_recognition_expiring_tomorrow_leaves_page_feed_and_labels(app, db, world, client, runner, monkeypatch):
    from marketplace.feeds.service import configure_push, find_exchange

    s, today = db.session, local_today()
    rice = world.published_a
    s.add(recognition(rice, today, stars=5, number="GCN-LAST-DAY"))  # valid through today
    batch = create_batch(s, rice, lot_code="L-EXP", quantity=Decimal("10"), unit="kg",
                         production_date=today - dt.timedelta(days=3))
    s.flush()
    run = issue_run(s, batch, 3)
    exchange = find_exchange(s, "postmart")
    exchange.set_profile({"formats": ["json"], "fields": [["sku_id", "id"], ["ocop_stars", "ocop.stars"]],
                          "required": []})  # no photo needed: the product has none
    token = exchange.new_feed_token()
    configure_push(exchange, endpoint="http://127.0.0.1:9/hook", enabled=True, allow_private=True)
    s.commit()
    runner.invoke(args=["expire"])  # today's sweep: nothing lapses yet
    slug, rice_id = rice.slug, rice.id  # read now: after a rollback they would be reloaded (a write lock)

    def seen() -> dict:
        _db.session.rollback()  # no transaction of the test's open (SQLite: no write lock) during requests
        page = client.get(f"/p/{slug}").get_data(as_text=True)
        feed = json.loads(client.get("/feeds/postmart.json", headers={"Authorization": f"Bearer {token}"}).data)
        item = next(i for i in feed["items"] if i["sku_id"] == f"ocop-{rice_id}") if feed["items"] else {}
        stars = {label.ocop_stars for label in label_data(_db.session, run, app.config["PUBLIC_BASE_URL"])}
        _db.session.rollback()
        return {"page": "GCN-LAST-DAY" in page, "feed": item.get("ocop_stars"), "labels": stars}

    assert seen() == {"page": True, "feed": 5, "labels": {5}}
    def pending() -> int:
        return s.scalar(select(func.count()).select_from(Delivery).where(Delivery.product_id == rice_id,
                                                                          Delivery.status == "pending"))

    pending_before = pending()
    freeze(monkeypatch, today + dt.timedelta(days=1))
    result = runner.invoke(args=["expire"])
    assert result.exit_code == 0 and "1 products changed" in result.output
    assert seen() == {"page": False, "feed": None, "labels": {None}}
    assert pending() == pending_before + 1
