"""Items kept between full JSON feeds (``marketplace.feeds.itemcache``, ``FeedItem``).

A kept item must never be served once it is no longer true: each test compares the cached
feed with the same feed built from scratch (``formats.write_json`` of
``canonical.iter_items``), cold and warm, after every kind of change.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from email.utils import parsedate_to_datetime

import orjson
import pytest
import time_machine
from sqlalchemy import func, select, text, update

from marketplace.catalogue.service import archive_product, update_product
from marketplace.feeds import canonical, formats, itemcache
from marketplace.feeds.profiles import profile_of
from marketplace.feeds.service import find_exchange, open_feed, reading_session
from marketplace.models import FeedItem, Product
from marketplace.trace.service import create_batch
from marketplace.models.base import utcnow
from tests.test_feeds import (BASE, NOON, _backdate_catalogue, catalogue, certify, fetch, http,  # noqa: F401 (fixtures)
                              recognise, tokens, web)

JSON_CODES = ("thanhhoa", "postmart", "google")  # every exchange whose JSON feed is the plain item list


def cached(db, code, today, base_url=BASE) -> list[dict]:
    """The exchange's items through the cache, as the feed would send them."""
    exchange = find_exchange(db.session, code)
    exchange_id, profile = exchange.id, profile_of(exchange)
    db.session.commit()  # the test's session holds no lock while the feed reads and keeps
    with reading_session(db.engine) as reader:  # as the feed reads: deferred, never the write lock
        bodies = list(itemcache.json_items(reader, db.engine, exchange_id, profile, base_url=base_url, today=today))
    return [orjson.loads(b) for b in bodies]


def built(db, code, today, base_url=BASE) -> list[dict]:
    """The same items built from scratch, without the cache."""
    exchange = find_exchange(db.session, code)
    chunks = formats.write_json(profile_of(exchange), canonical.iter_items(db.session, base_url=base_url, today=today),
                                generated_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))
    return json.loads(b"".join(chunks))["items"]


def kept(db, code) -> int:
    exchange = find_exchange(db.session, code)
    return db.session.scalar(select(func.count()).select_from(FeedItem).where(FeedItem.exchange_id == exchange.id))


def same_cold_and_warm(db, code, today, base_url=BASE) -> list[dict]:
    expected = built(db, code, today, base_url)
    assert cached(db, code, today, base_url) == expected  # built (what was stale), then kept
    assert cached(db, code, today, base_url) == expected  # served as kept
    return expected


@pytest.mark.parametrize("code", JSON_CODES)
def test_cached_feed_is_the_built_feed_cold_and_warm(db, catalogue, code):
    found = same_cold_and_warm(db, code, catalogue.today)
    assert found  # the catalogue has items every exchange takes
    # One kept row per public product (refused ones too, as "refused"), none for the others.
    assert kept(db, code) == 4


def test_warm_feed_builds_nothing(db, catalogue, monkeypatch):
    expected = same_cold_and_warm(db, "thanhhoa", catalogue.today)

    def no_building(*args, **kwargs):
        raise AssertionError("a kept item was built again")

    monkeypatch.setattr(canonical, "built_items", no_building)
    assert cached(db, "thanhhoa", catalogue.today) == expected


def test_only_changed_products_are_built_again(db, catalogue, monkeypatch):
    cat, s = catalogue, db.session
    same_cold_and_warm(db, "thanhhoa", cat.today)
    update_product(s, cat.honey, {"name": "Mật ong hoa vải loại đặc biệt", "price_vnd": 260000})
    s.commit()
    asked = []
    real = canonical.built_items

    def spy(session, ids, **kwargs):
        asked.append(list(ids))
        return real(session, ids, **kwargs)

    monkeypatch.setattr(canonical, "built_items", spy)
    found = {i["ma_san_pham"]: i for i in cached(db, "thanhhoa", cat.today)}
    assert asked == [[cat.honey.id]]
    assert found[f"ocop-{cat.honey.id}"]["ten_san_pham"] == "Mật ong hoa vải loại đặc biệt"
    assert found[f"ocop-{cat.honey.id}"]["gia_ban_vnd"] == 260000
    monkeypatch.undo()
    assert cached(db, "thanhhoa", cat.today) == built(db, "thanhhoa", cat.today)


def test_withdrawn_product_leaves_the_feed_though_kept(db, catalogue):
    cat, s = catalogue, db.session
    same_cold_and_warm(db, "thanhhoa", cat.today)
    archive_product(cat.rice)
    s.commit()
    found = same_cold_and_warm(db, "thanhhoa", cat.today)
    assert f"ocop-{cat.rice.id}" not in {i["ma_san_pham"] for i in found}


def test_a_new_batch_changes_the_traceability_link(db, catalogue):
    cat, s = catalogue, db.session
    before = {i["ma_san_pham"]: i for i in same_cold_and_warm(db, "thanhhoa", cat.today)}
    batch = create_batch(s, cat.long, lot_code="BC-2026-01", quantity=Decimal("20"), unit="box",
                         production_date=dt.date(2026, 1, 10))
    s.commit()
    after = {i["ma_san_pham"]: i for i in same_cold_and_warm(db, "thanhhoa", cat.today)}
    key = f"ocop-{cat.long.id}"
    links = [v for v in after[key].values() if isinstance(v, str) and v.endswith(f"/lot/{batch.id}")]
    assert links and before[key] != after[key]


def test_ocop_lapse_and_certificate_dates_need_no_change_of_the_product(db, catalogue):
    cat, s = catalogue, db.session
    until = cat.today + dt.timedelta(days=30)
    recognise(s, cat.honey, 3, until)
    starts = cat.today + dt.timedelta(days=5)
    certify(s, cat.household, "vietgap", "VG-38-0099", valid_from=starts, valid_to=until + dt.timedelta(days=60))
    s.commit()
    honey = f"ocop-{cat.honey.id}"
    # Days go forward (kept items are not meant for a clock that turns back).
    seen = {}
    for day in (cat.today, starts - dt.timedelta(days=1), starts, until, until + dt.timedelta(days=1),
                until + dt.timedelta(days=61)):
        for code in JSON_CODES:
            found = same_cold_and_warm(db, code, day)
            if code == "thanhhoa":
                seen[day] = {i["ma_san_pham"]: i for i in found}[honey]
    assert seen[until]["sao_ocop"] == 3 and seen[until + dt.timedelta(days=1)]["sao_ocop"] is None
    assert "VG-38-0099" not in seen[starts - dt.timedelta(days=1)]["chung_nhan"]
    assert "VG-38-0099" in seen[starts]["chung_nhan"]
    assert "VG-38-0099" not in seen[until + dt.timedelta(days=61)]["chung_nhan"]


def test_profile_edit_and_base_url_rebuild_every_item(db, catalogue):
    cat, s = catalogue, db.session
    same_cold_and_warm(db, "postmart", cat.today)
    exchange = find_exchange(s, "postmart")
    exchange.profile = {"formats": ["json"], "fields": [["sku_id", "id"], ["name", "title"]], "required": ["title"]}
    s.commit()
    found = same_cold_and_warm(db, "postmart", cat.today)
    assert found and all(set(i) == {"sku_id", "name"} for i in found)
    other = same_cold_and_warm(db, "google", cat.today, base_url="https://cho.example.vn")
    assert any("https://cho.example.vn/" in json.dumps(i) for i in other)


def test_feed_goes_on_when_items_cannot_be_kept(db, catalogue):
    """Keeping is best effort: rows that cannot be stored (here: an exchange that does not
    exist, refused by the foreign key) leave the feed itself complete."""
    cat = catalogue
    profile = profile_of(find_exchange(db.session, "thanhhoa"))
    db.session.commit()
    with reading_session(db.engine) as reader:
        bodies = list(itemcache.json_items(reader, db.engine, 999_999, profile, base_url=BASE, today=cat.today))
    assert [orjson.loads(b) for b in bodies] == built(db, "thanhhoa", cat.today)
    assert db.session.scalar(select(func.count()).select_from(FeedItem)) == 0


def test_pull_feed_uses_kept_items_and_stays_correct(db, catalogue, http, tokens):
    cat, s = catalogue, db.session
    first = json.loads(fetch(http, "thanhhoa", "json", tokens["thanhhoa"]).data)
    assert kept(db, "thanhhoa") == 4
    s.rollback()
    update_product(s, cat.honey, {"stock": 7})
    s.commit()
    second = json.loads(fetch(http, "thanhhoa", "json", tokens["thanhhoa"]).data)
    honey = f"ocop-{cat.honey.id}"
    assert {i["ma_san_pham"]: i for i in second["items"]}[honey]["ton_kho"] == 7
    assert [i for i in second["items"] if i["ma_san_pham"] != honey] == [
        i for i in first["items"] if i["ma_san_pham"] != honey]
    assert second["items"] == built(db, "thanhhoa", cat.today)


def test_open_feed_json_matches_built_document(db, catalogue):
    exchange = find_exchange(db.session, "thanhhoa")
    feed = open_feed(db.session, exchange, "json", base_url=BASE, today=catalogue.today)
    db.session.commit()  # the feed streams from a reading session of its own
    document = json.loads(b"".join(feed.chunks))
    assert document["exchange"] == "thanhhoa" and document["items"] == built(db, "thanhhoa", catalogue.today)


def test_profile_edit_moves_last_modified(db, catalogue, http, tokens):
    """A client that asks with ``If-Modified-Since`` only (no ETag) must see a profile edit:
    every item of the feed changed with it."""
    an_hour_ago = NOON - dt.timedelta(hours=1)  # (noon in Vietnam: the same day, so the date is the newest change)
    with time_machine.travel(NOON, tick=False):
        _backdate_catalogue(db.session, an_hour_ago)
        first = fetch(http, "postmart", "json", tokens["postmart"])
        since = first.headers["Last-Modified"]
        assert parsedate_to_datetime(since) == an_hour_ago
        assert fetch(http, "postmart", "json", tokens["postmart"],
                     headers={"If-Modified-Since": since}).status_code == 304
    with time_machine.travel(NOON + dt.timedelta(seconds=10), tick=False):
        exchange = find_exchange(db.session, "postmart")
        exchange.set_profile({"formats": ["json"], "fields": [["sku_id", "id"], ["name", "title"]], "required": []})
        db.session.commit()
        after = fetch(http, "postmart", "json", tokens["postmart"], headers={"If-Modified-Since": since})
    assert after.status_code == 200 and "Last-Modified" not in after.headers  # (an edit under a minute old)
    exchange = find_exchange(db.session, "postmart")
    with time_machine.travel(exchange.profile_changed_at + dt.timedelta(seconds=62), tick=False):
        settled = fetch(http, "postmart", "json", tokens["postmart"])
    assert parsedate_to_datetime(settled.headers["Last-Modified"]) == exchange.profile_changed_at.replace(microsecond=0)
    assert all(set(i) == {"sku_id", "name"} for i in json.loads(after.data)["items"])
    # Saving the same profile again is no change.
    changed_at = exchange.profile_changed_at
    exchange.set_profile(dict(exchange.profile))
    db.session.commit()
    assert exchange.profile_changed_at == changed_at


def test_a_producer_edit_rebuilds_its_products_items(db, catalogue):
    """Any producer write moves its updated_at, which its products' items carry, even when
    no product version moves (found in review)."""
    from marketplace.catalogue.service import update_producer

    cat, s = catalogue, db.session
    same_cold_and_warm(db, "thanhhoa", cat.today)
    update_producer(s, cat.coop, {"description": "Hợp tác xã trồng lúa nếp cái hoa vàng từ 1998."})
    s.commit()
    same_cold_and_warm(db, "thanhhoa", cat.today)


def test_a_revoked_recognitions_lapse_still_rebuilds(db, catalogue):
    """A revoked recognition shows no stars, but its lapse moves the item's updated_at."""
    cat = catalogue
    same_cold_and_warm(db, "thanhhoa", cat.today)
    same_cold_and_warm(db, "thanhhoa", cat.today + dt.timedelta(days=101))  # honey's revoked one: +100


def test_feed_export_keeps_items_without_waiting_on_itself(db, catalogue, runner, tmp_path):
    """The CLI's own session must not hold SQLite's write lock while the feed keeps items."""
    import time

    out = tmp_path / "thanhhoa.json"
    started = time.monotonic()
    result = runner.invoke(args=["feed", "export", "thanhhoa", "--format", "json", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 5  # not a busy-timeout wait per chunk
    assert kept(db, "thanhhoa") == 4
    assert json.loads(out.read_bytes())["items"] == built(db, "thanhhoa", catalogue.today)


def test_quantities_are_rounded_as_stored(db, catalogue):
    """SQLite hands back the float it stored; the item shows the NUMERIC(12, 3) value."""
    s = db.session
    s.execute(update(Product).where(Product.id == catalogue.honey.id).values(net_quantity=Decimal("0.25")))
    s.execute(text("UPDATE product SET net_quantity = 0.1234 WHERE id = :id"), {"id": catalogue.tea.id})
    s.commit()
    found = {i["id"]: i for i in canonical.iter_items(s, base_url=BASE, today=catalogue.today)}
    assert found[f"ocop-{catalogue.honey.id}"]["net_quantity"] == "0.25"
    assert found[f"ocop-{catalogue.tea.id}"]["net_quantity"] == "0.123"


def test_the_database_writes_a_moment_as_a_fingerprint_names_it(db, catalogue):
    """Whether a kept item holds is decided in SQL (``rawsql.moment_text_sql``) against
    fingerprints written in Python (``rawsql.moment_text``): the two must agree to the
    character, whole seconds included, or every item would be built again on every feed."""
    from marketplace import rawsql
    from marketplace.models import Producer

    producer = db.session.scalars(select(Producer)).first()
    producer.updated_at = dt.datetime(2025, 3, 1, 1, 2, 3, tzinfo=dt.timezone.utc)  # no microseconds
    db.session.commit()
    rows = db.session.execute(select(Producer.updated_at, rawsql.moment_text_sql(Producer.updated_at))).all()
    assert rows and all(sql == rawsql.moment_text(stored) for stored, sql in rows)
    assert rawsql.moment_text(producer.updated_at) in {sql for _, sql in rows}
