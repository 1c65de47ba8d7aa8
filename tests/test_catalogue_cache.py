"""The catalogue's pages kept per state of the catalogue (``catalogue/pagecache.py``): a kept
page is never served once anything it shows changed, nor to someone signed in."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import time_machine

from marketplace.catalogue import pagecache, routes
from marketplace.catalogue.service import update_product
from marketplace.trace.service import create_batch, recall_batch
from tests.conftest import listed, signed_in


@pytest.fixture
def renders(monkeypatch):
    """How often each page was really rendered."""
    counts = {"index": 0, "product": 0}
    index, product = routes._index, routes._product

    def counting_index():
        counts["index"] += 1
        return index()

    def counting_product(slug):
        counts["product"] += 1
        return product(slug)

    monkeypatch.setattr(routes, "_index", counting_index)
    monkeypatch.setattr(routes, "_product", counting_product)
    return counts


def text(response) -> str:
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_page_is_rendered_once_per_question_language_and_state(world, db, client, renders):
    product = listed(world.product_a)
    db.session.commit()
    first = text(client.get("/?q=mat+ong"))
    assert text(client.get("/?q=mat+ong")) == first and renders["index"] == 1
    client.get("/?q=gao")
    assert renders["index"] == 2  # another question
    client.set_cookie("lang", "en")
    english = text(client.get("/?q=mat+ong"))
    assert renders["index"] == 3 and english != first  # another language
    text(client.get(f"/p/{product.slug}"))
    text(client.get(f"/p/{product.slug}"))
    assert renders["product"] == 1


def test_every_change_a_card_shows_is_seen_at_once(world, db, client, renders):
    product = listed(world.product_a)
    db.session.commit()
    page = f"/p/{product.slug}"
    card = f'data-product="{product.id}" data-availability='
    assert "Còn hàng" in text(client.get(page)) and card + '"in_stock"' in text(client.get("/"))
    update_product(db.session, product, {"price_vnd": 123_000})
    db.session.commit()
    assert "123.000" in text(client.get(page)) and "123.000" in text(client.get("/"))
    batch = create_batch(db.session, product, lot_code="L-CACHE", quantity=Decimal("5"), unit="kg",
                         production_date=dt.date(2025, 10, 1))
    db.session.commit()
    recall_batch(batch, "Nhiễm nấm mốc")
    db.session.commit()
    shown = text(client.get(page))
    assert "Còn hàng" not in shown and "L-CACHE" in shown
    assert card + '"recalled"' in text(client.get("/"))
    assert renders["product"] == 3 and renders["index"] == 3


NOON = dt.datetime(2027, 3, 10, 5, 0, tzinfo=dt.timezone.utc)  # 12:00 in Vietnam


def test_a_change_stamped_before_the_newest_is_seen_too(world, db, client, renders):
    """A change is stamped when its transaction begins to commit, by its own server's clock:
    a recall stamped 0.2 s before another product's edit but committed after it left the
    newest change where it was, and the kept pages said "Còn hàng" under a recalled lot
    (the stamp page said recalled) until anything else changed."""
    a, b = listed(world.product_a), listed(world.product_b)
    db.session.commit()
    batch = create_batch(db.session, a, lot_code="L-SKEW", quantity=Decimal("5"), unit="kg",
                         production_date=dt.date(2025, 10, 1))
    db.session.commit()
    card = f'data-product="{a.id}" data-availability='
    with time_machine.travel(NOON + dt.timedelta(seconds=0.5), tick=False):  # server 1 edits b
        update_product(db.session, db.session.merge(b), {"price_vnd": 99_000})
        db.session.commit()
    with time_machine.travel(NOON + dt.timedelta(seconds=0.6), tick=False):
        assert "Còn hàng" in text(client.get(f"/p/{a.slug}")) and card + '"in_stock"' in text(client.get("/"))
    with time_machine.travel(NOON + dt.timedelta(seconds=0.3), tick=False):  # server 2, its clock behind
        recall_batch(db.session.merge(batch), "Nhiễm nấm mốc")
        db.session.commit()
    for later in (0.7, 61, 3600):  # at once, and once the change is older than base.SETTLE
        with time_machine.travel(NOON + dt.timedelta(seconds=later), tick=False):
            shown = text(client.get(f"/p/{a.slug}"))
            assert "Còn hàng" not in shown and "L-SKEW" in shown, later
            assert card + '"recalled"' in text(client.get("/")), later
    with time_machine.travel(NOON + dt.timedelta(seconds=7200), tick=False):
        renders_before = dict(renders)
        text(client.get(f"/p/{a.slug}"))
        text(client.get("/"))
        assert renders == renders_before  # and once settled, the pages are kept again


def test_a_new_day_is_a_new_state(world, db, client, renders, monkeypatch):
    listed(world.product_a)
    db.session.commit()
    client.get("/")
    tomorrow = pagecache.local_today() + dt.timedelta(days=1)
    monkeypatch.setattr(pagecache, "local_today", lambda: tomorrow)
    client.get("/")
    assert renders["index"] == 2


def test_someone_signed_in_always_gets_a_fresh_page(app, world, db, renders):
    listed(world.product_a)
    db.session.commit()
    producer = signed_in(app, "a@example.vn")
    for _ in range(2):
        assert "Đăng xuất" in text(producer.get("/"))
    anonymous = app.test_client()
    assert "Đăng xuất" not in text(anonymous.get("/")) and "Đăng xuất" not in text(anonymous.get("/"))
    assert renders["index"] == 3  # two signed in, one anonymous (then kept)


def test_the_cache_keeps_at_most_its_size():
    cache = pagecache.PageCache(size=2)
    for n in range(3):
        cache.put(n, str(n))
    assert cache.get(0) is None and cache.get(1) == "1" and cache.get(2) == "2"
