""""Buy again" links (issue 20, point 3): a product's page on each exchange, typed by a province
officer or taken from the exchange's answer to a push, shown on the product page and the stamp
page as "Mua trên Postmart" / "Mua trên Sàn Thanh Hóa" only where the exchange lists the product
(the officers' definition) and it is sellable; the pages kept per state follow an
acknowledgement, a URL change, a sale-stopping change at once."""
from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lxml import html as lxml_html
from sqlalchemy import select, text
from standardwebhooks.webhooks import Webhook

from marketplace import public_facts
from marketplace.catalogue.service import update_product
from marketplace.feeds import canonical, listings, push, worker
from marketplace.feeds.profiles import id_field, profile_of, shipped
from marketplace.feeds.service import configure_push, enqueue_all, find_exchange, listing
from marketplace.models import AuditEntry, Batch, Delivery, DeliveryStatus, ExchangePage
from marketplace.models.base import utcnow
from marketplace.scan.facts import stamp_state
from marketplace.trace.service import recall_batch
from tests.conftest import signed_in
from tests.test_push import drain, papp  # noqa: F401 (papp: a fixture, the app with fast retries)
from tests.test_scan import client, make_run, web  # noqa: F401

POSTMART_PAGE = "https://postmart.vn/san-pham/{id}"


class AnsweringExchange:
    """An exchange's push endpoint that checks each signature with ``standardwebhooks`` and
    answers an item with the page it now has for it (``answer``: id → body; None: the
    default page), a deletion with ``{"ok": true}``."""

    def __init__(self, secret: str, id_key: str, answer=None):
        self.webhook, self.id_key = Webhook(secret), id_key
        self.answer = answer or (lambda key: {"url": POSTMART_PAGE.format(id=key), "id": key})
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                data = receiver.webhook.verify(body, dict(self.headers.items()))["data"]
                receiver.received.append(data)
                reply = {"ok": True} if data.get("deleted") else receiver.answer(data[receiver.id_key])
                raw = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def connect(db, code="postmart", answer=None) -> AnsweringExchange:
    exchange = find_exchange(db.session, code)
    exchange.profile = dict(shipped(code), required=["title", "price"])  # no photo needed
    secret = push.new_secret()
    configure_push(exchange, secret=secret, allow_private=True)
    receiver = AnsweringExchange(secret, id_field(profile_of(exchange)), answer)
    configure_push(exchange, endpoint=receiver.url, enabled=True, allow_private=True)
    db.session.commit()
    return receiver


def buy_links_of(page: str) -> dict[str, str]:
    """The page's "Mua trên …" links, read as a browser does: text → href."""
    tree = lxml_html.fromstring(page)
    return {" ".join(a.text_content().split()): a.get("href") for a in tree.xpath('//a[contains(@class, "buy")]')}


def product_page(client, product) -> dict[str, str]:
    response = client.get(f"/p/{product.slug}")
    assert response.status_code == 200
    return buy_links_of(response.get_data(as_text=True))


def stamp_page(client, serial) -> dict[str, str]:
    response = client.get(f"/s/{serial}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert len(response.data) <= 30 * 1024 and "<script" not in page and "Set-Cookie" not in response.headers
    return buy_links_of(page)


# ---- the rules, without HTTP --------------------------------------------------------------

@pytest.mark.parametrize("url", ["https://postmart.vn/san-pham/123", "https://sannongsan.thanhhoa.gov.vn/sp?id=7",
                                 "https://postmart.vn/s/gạo-nếp"])
def test_page_urls_that_a_phone_can_open_are_taken(url):
    assert listings.clean_url(f"  {url} ") == url


@pytest.mark.parametrize("url,code", [
    ("javascript:alert(1)", "listing_url_invalid"), ("postmart.vn/san-pham/1", "listing_url_invalid"),
    ("ftp://postmart.vn/1", "listing_url_invalid"), ("https://", "listing_url_invalid"),
    ("http://postmart.vn/1", "listing_url_invalid"),  # a network in between could rewrite it
    ("https://user:pw@postmart.vn/1", "listing_url_invalid"), ("https://postmart.vn/a b", "listing_url_invalid"),
    ("https://postmart.vn:99999/1", "listing_url_invalid"),
    ("https://postmart.vn/" + "a" * 490, "listing_url_too_long"),
])
def test_page_urls_that_cannot_be_used_are_refused_with_a_reason(url, code):
    with pytest.raises(listings.ListingError) as refused:
        listings.clean_url(url)
    assert refused.value.code == code and refused.value.field == "url"


@pytest.mark.parametrize("answer,found", [
    ("", (None, None)), ("OK", (None, None)), ('{"ok": true}', (None, None)), ('{"url": ""}', (None, None)),
    ('{"url": "https://postmart.vn/p/9", "id": 9}', ("https://postmart.vn/p/9", "9")),
    ('{"url": "https://postmart.vn/p/9"}', ("https://postmart.vn/p/9", None)),
    ('{"url": "https://postmart.vn/p/9", "id": "PM-9", "more": [1, 2]}', ("https://postmart.vn/p/9", "PM-9")),
])
def test_an_exchanges_answer_names_the_page_or_nothing(answer, found):
    assert listings.from_answer(answer) == found


@pytest.mark.parametrize("answer,field", [('{"url": "javascript:x"}', "url"), ('{"url": 7}', "url"),
                                          ('{"url": "https://postm', "answer"),  # cut at the excerpt's 2 KiB
                                          ('{"url": "https://postmart.vn/1", "id": ""}', "id"),
                                          ('{"url": "https://postmart.vn/1", "id": {"a": 1}}', "id"),
                                          ('{"url": "https://postmart.vn/1", "id": true}', "id")])
def test_an_answer_naming_a_page_we_cannot_use_is_refused(answer, field):
    with pytest.raises(listings.ListingError) as refused:
        listings.from_answer(answer)
    assert refused.value.field == field


@pytest.mark.parametrize("state", list(public_facts.ExchangeState))
@pytest.mark.parametrize("sellable", [True, False])
@pytest.mark.parametrize("url", ["https://postmart.vn/1", None])
def test_a_link_shows_only_where_listed_sellable_and_known(state, sellable, url):
    listing_ = public_facts.ExchangeListing("postmart", state)
    assert public_facts.buyable_on(listing_, sellable=sellable, url=url) is (
        state is public_facts.ExchangeState.listed and sellable and url is not None)


# ---- from the exchange's answer, on both pages ----------------------------------------------

def test_the_page_an_exchange_names_in_its_answer_is_kept_and_shown_on_both_pages(db, papp, client, world):
    batch, _run, (serial,) = make_run(db, world, 1)
    product = world.product_a
    assert product_page(client, product) == {} and stamp_page(client, serial) == {}  # (both kept now)
    receiver = connect(db)
    try:
        assert product_page(client, product) == {} and stamp_page(client, serial) == {}  # not yet received
        drain(db, papp)
    finally:
        receiver.close()
    key = canonical.item_id(product.id)
    assert key in {data[id_field(profile_of(find_exchange(db.session, "postmart")))] for data in receiver.received}
    kept = db.session.get(ExchangePage, (product.id, find_exchange(db.session, "postmart").id))
    assert (kept.url, kept.external_id, kept.source) == (POSTMART_PAGE.format(id=key), str(key), "exchange")
    expected = {"Mua trên Postmart": POSTMART_PAGE.format(id=key)}
    assert product_page(client, product) == expected  # the kept pages followed the acknowledgement
    assert stamp_page(client, serial) == expected
    # the officers' table names the same page, and says where it came from
    row = next(r for r in listing(db.session, product, base_url="http://127.0.0.1:5000") if r["exchange"].code == "postmart")
    assert row["state"].listed and row["page"].url == expected["Mua trên Postmart"]
    db.session.commit()


def test_a_bad_page_in_an_answer_is_noted_and_the_push_still_counts(db, papp, client, world):
    product = world.published_a
    receiver = connect(db, answer=lambda key: {"url": "javascript:alert(1)"})
    try:
        drain(db, papp)
    finally:
        receiver.close()
    (sent,) = db.session.scalars(select(Delivery).where(Delivery.product_id == product.id,
                                                        Delivery.status == DeliveryStatus.delivered)).all()
    assert "url" in sent.last_error and "listing_url_invalid" in sent.last_error
    assert db.session.scalars(select(ExchangePage)).all() == []
    assert product_page(client, product) == {}


def test_the_links_go_when_the_product_stops_being_sellable_and_come_back(db, papp, client, world):
    batch, _run, (serial,) = make_run(db, world, 1)
    product = world.product_a
    receiver = connect(db)
    try:
        drain(db, papp)
        assert set(product_page(client, product)) == {"Mua trên Postmart"} == set(stamp_page(client, serial))
        update_product(db.session, product, {"stock": 0})  # sold out here: no link to buy it there
        db.session.commit()
        assert product_page(client, product) == {} and stamp_page(client, serial) == {}
        update_product(db.session, product, {"stock": 5})
        db.session.commit()
        drain(db, papp)
        assert set(product_page(client, product)) == {"Mua trên Postmart"} == set(stamp_page(client, serial))
        recall_batch(db.session.get(Batch, batch.id), "Nhiễm khuẩn")  # a recall stops every sale
        db.session.commit()
        assert product_page(client, product) == {} and stamp_page(client, serial) == {}
    finally:
        receiver.close()


def test_a_product_the_exchange_deleted_or_would_refuse_has_no_link(db, papp, client, world):
    product = world.published_a
    receiver = connect(db)
    try:
        drain(db, papp)
        assert set(product_page(client, product)) == {"Mua trên Postmart"}
        exchange = find_exchange(db.session, "postmart")
        exchange.set_profile(dict(exchange.profile, required=["title", "price", "image_link"]))  # it has no photo
        db.session.commit()
        # refused by the pre-flight: not listed there, even before the deletion is pushed
        assert product_page(client, product) == {}
        enqueue_all(db.session, [exchange])  # "gửi lại toàn bộ": the exchange is told to delete it
        db.session.commit()
        drain(db, papp)
        assert receiver.received[-1].get("deleted") is True
        exchange.set_profile(dict(exchange.profile, required=["title", "price"]))
        db.session.commit()
        assert product_page(client, product) == {}  # the exchange deleted it: not listed until it takes it again
    finally:
        receiver.close()


def test_a_pulling_exchange_with_a_typed_page_lists_it_and_a_waiting_one_does_not(db, app, client, world):
    product = world.published_a
    officer = signed_in(app, "officer@example.vn")
    for code, url in (("thanhhoa", "https://sannongsan.thanhhoa.gov.vn/sp/1"), ("postmart", "https://postmart.vn/1")):
        exchange = find_exchange(db.session, code)
        exchange.profile = dict(shipped(code), required=["title", "price"])
        db.session.commit()
        response = officer.post(f"/admin/products/{product.id}/exchanges/{code}/page", data={"url": url})
        assert response.status_code == 302
    assert product_page(client, product) == {}  # neither has taken it yet: waiting
    find_exchange(db.session, "thanhhoa").new_feed_token()  # the floor pulls our feed
    db.session.commit()
    assert product_page(client, product) == {"Mua trên Sàn Thanh Hóa": "https://sannongsan.thanhhoa.gov.vn/sp/1"}


# ---- typed by an officer ---------------------------------------------------------------------

def test_an_officer_types_changes_and_clears_the_page_audited(db, papp, client, world):
    product = world.published_a
    receiver = connect(db, answer=lambda key: {"ok": True})  # this exchange names no page
    try:
        drain(db, papp)
    finally:
        receiver.close()
    assert product_page(client, product) == {}
    officer = signed_in(papp, "officer@example.vn")
    url = f"/admin/products/{product.id}/exchanges/postmart/page"
    assert officer.post(url, data={"url": "https://postmart.vn/san-pham/nem-chua"}).status_code == 302
    assert product_page(client, product) == {"Mua trên Postmart": "https://postmart.vn/san-pham/nem-chua"}
    admin_page = officer.get(f"/admin/products/{product.id}").get_data(as_text=True)
    assert 'value="https://postmart.vn/san-pham/nem-chua"' in admin_page
    assert officer.post(url, data={"url": "https://postmart.vn/san-pham/nem-chua-2"}).status_code == 302
    assert product_page(client, product) == {"Mua trên Postmart": "https://postmart.vn/san-pham/nem-chua-2"}
    assert officer.post(url, data={"url": ""}).status_code == 302
    assert product_page(client, product) == {}
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange_page.typed")
                                 .order_by(AuditEntry.id)).all()
    assert [e.actor_email for e in entries] == ["officer@example.vn"] * 3
    assert [(e.before or {}).get("typed_url") for e in entries] == [None, "https://postmart.vn/san-pham/nem-chua",
                                                                    "https://postmart.vn/san-pham/nem-chua-2"]
    assert entries[-1].after["typed_url"] is None
    kept = db.session.get(ExchangePage, (product.id, find_exchange(db.session, "postmart").id))
    assert (kept.source, kept.changed_by_id) == (None, world.users["officer"].id)


@pytest.mark.parametrize("typed", ["javascript:alert(1)", "postmart.vn/1", "http://postmart.vn/1",
                                   "https://postmart.vn/" + "x" * 500])
def test_a_bad_page_is_refused_at_its_field_and_the_saved_one_kept(db, app, world, typed):
    product = world.published_a
    officer = signed_in(app, "officer@example.vn")
    url = f"/admin/products/{product.id}/exchanges/postmart/page"
    officer.post(url, data={"url": "https://postmart.vn/ok"})
    response = officer.post(url, data={"url": typed})
    assert response.status_code == 422
    tree = lxml_html.fromstring(response.get_data(as_text=True))
    (field,) = tree.xpath('//input[@id="page-postmart"]')
    assert field.get("aria-invalid") == "true" and field.get("value") == typed[:520]
    assert tree.xpath('//p[@id="page-postmart-error"]')[0].text_content().strip()
    db.session.expire_all()
    assert db.session.get(ExchangePage, (product.id, find_exchange(db.session, "postmart").id)).url == \
        "https://postmart.vn/ok"


def test_the_page_form_is_the_provinces_and_the_producer_only_reads(db, app, world):
    product = world.published_a
    officer = signed_in(app, "officer@example.vn")
    officer.post(f"/admin/products/{product.id}/exchanges/postmart/page", data={"url": "https://postmart.vn/ok"})
    page = officer.get(f"/admin/products/{product.id}").get_data(as_text=True)
    assert 'id="page-postmart"' in page
    producer = signed_in(app, "a@example.vn")
    mine = producer.get(f"/dashboard/products/{product.id}").get_data(as_text=True)
    assert "https://postmart.vn/ok" in mine and 'id="page-postmart"' not in mine
    assert producer.post(f"/admin/products/{product.id}/exchanges/postmart/page",
                         data={"url": "https://evil.example/"}).status_code == 403
    assert db.session.get(ExchangePage, (product.id, find_exchange(db.session, "postmart").id)).url == \
        "https://postmart.vn/ok"
    assert officer.post(f"/admin/products/{product.id}/exchanges/nowhere/page",
                        data={"url": "https://postmart.vn/ok"}).status_code == 404


def test_an_officers_page_stands_before_the_exchanges_until_cleared(db, papp, client, world):
    _batch, _run, (serial,) = make_run(db, world, 1)
    product = world.product_a
    named = {"url": "https://postmart.vn/p/first", "id": "PM-1"}
    receiver = connect(db, answer=lambda key: dict(named))
    officer = signed_in(papp, "officer@example.vn")
    url = f"/admin/products/{product.id}/exchanges/postmart/page"
    try:
        drain(db, papp)
        assert product_page(client, product) == {"Mua trên Postmart": "https://postmart.vn/p/first"}
        assert officer.post(url, data={"url": "https://postmart.vn/p/typed"}).status_code == 302
        assert product_page(client, product) == {"Mua trên Postmart": "https://postmart.vn/p/typed"}
        assert stamp_page(client, serial) == {"Mua trên Postmart": "https://postmart.vn/p/typed"}  # at the next scan
        named["url"] = "https://postmart.vn/p/moved"
        update_product(db.session, product, {"stock": 7})  # pushed again: the exchange names a new page
        db.session.commit()
        drain(db, papp)
        assert product_page(client, product) == {"Mua trên Postmart": "https://postmart.vn/p/typed"}  # still the officer's
        assert officer.post(url, data={"url": ""}).status_code == 302
        assert product_page(client, product) == {"Mua trên Postmart": "https://postmart.vn/p/moved"}
        assert stamp_page(client, serial) == {"Mua trên Postmart": "https://postmart.vn/p/moved"}
    finally:
        receiver.close()
    named_entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "exchange_page.named")
                                       .order_by(AuditEntry.id)).all()
    mine = [e.after["named_url"] for e in named_entries if e.target_id == product.id]
    assert mine == ["https://postmart.vn/p/first", "https://postmart.vn/p/moved"]
    assert {(e.actor_email, e.actor_role) for e in named_entries} == {("", "exchange")}


def test_a_worker_that_lost_its_lease_keeps_nothing_the_answer_said(db, papp, world):
    product = world.published_a
    exchange = find_exchange(db.session, "postmart")
    delivery = Delivery(exchange_id=exchange.id, product_id=product.id, version=product.version,
                        locked_until=utcnow() + dt.timedelta(seconds=30))
    db.session.add(delivery)
    db.session.commit()
    kept = []
    assert not worker._finish(db.session, delivery.id, utcnow() - dt.timedelta(seconds=5), then=kept.append,
                              status=DeliveryStatus.delivered)
    assert kept == [] and db.session.scalars(select(ExchangePage)).all() == []


def test_a_failure_keeping_the_page_leaves_the_acknowledgement_recorded(db, papp, world):
    product = world.published_a
    exchange = find_exchange(db.session, "postmart")
    lease = utcnow() + dt.timedelta(seconds=30)
    delivery = Delivery(exchange_id=exchange.id, product_id=product.id, version=product.version, locked_until=lease)
    db.session.add(delivery)
    db.session.commit()

    def broken(session):
        session.execute(text("SELECT * FROM no_such_table"))

    assert worker._finish(db.session, delivery.id, lease, then=broken, status=DeliveryStatus.delivered,
                          delivered_at=utcnow())
    db.session.expire_all()
    found = db.session.get(Delivery, delivery.id)
    assert found.status == DeliveryStatus.delivered and "not kept" in found.last_error


def test_the_digital_links_redirect_reads_nothing_of_the_exchanges(db, world):
    _batch, _run, (serial,) = make_run(db, world, 1)
    assert len(stamp_state(db.engine, serial).listings) == 3  # the stamp page: what its links follow
    assert stamp_state(db.engine, serial, listings=False).listings == ()  # the redirect renders no page
