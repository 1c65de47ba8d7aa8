"""One truth in every channel (issue 13): a Hypothesis state machine makes random sequences of
changes — publish, edit price, stock and name, add or remove a photo, new batch, recall,
lift, void a stamp, suspend and reinstate a producer, archive, days passing so an OCOP
recognition lapses — and after every step reads each channel through its public interface:

* HTML pages through the test client, parsed with an HTML parser (catalogue, "for sale only"
  filter, product and producer pages, stamp pages, lot pages, producers' dashboards, the
  officers' dashboard), the product pages' schema.org JSON-LD, and the product and stamp
  pages' "buy again" links to the exchanges;
* the stamp page's and lot page's JSON, the public catalogue API and the products API;
* every exchange's pull feed in every format it takes (JSON, CSV, XLSX, RSS, DFC JSON-LD);
* the newest payload each exchange's receiver (a real HTTP server on 127.0.0.1, verifying
  every Standard Webhooks signature) got from the delivery worker;
* the GS1 Digital Link link sets and the lots' EPCIS documents;

and asserts they all state what an independent model of the rules expects: listed,
sellable, recalled lots, stars, price, and each stamp's verdict.  A failing sequence is
shrunk and printed by Hypothesis.  Examples: ``ONE_TRUTH_EXAMPLES`` (``.ci/run`` says how
many on each database; a plain ``make test`` runs a few).
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
import time_machine
import lxml.html
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from openpyxl import load_workbook

from marketplace.catalogue import service as catalogue
from marketplace.extensions import db as _db, limiter
from marketplace.feeds import dates, listings, push, worker
from marketplace.feeds.profiles import id_field, profile_of
from marketplace.feeds.service import configure_push, find_exchange
from marketplace.models import (ApiToken, Batch, OcopRecognition, Producer, Product, ProductGroup, ProductPhoto,
                                Stamp, StampRun)
from marketplace.models.base import LOCAL_TZ, local_today
from marketplace.scan import page as scan_page
from marketplace.scan import routes as scan_routes
from marketplace.stamps import service as stamps
from marketplace.trace import service as trace
from tests.conftest import PACKED, PG_URL, TEST_PASSWORD, _truncate, login, make_producer, make_user
from tests.test_push import Receiver

EXAMPLES = int(os.environ.get("ONE_TRUTH_EXAMPLES", "4"))
STEPS = int(os.environ.get("ONE_TRUTH_STEPS", "20"))
BASE = "http://127.0.0.1:5000"
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=LOCAL_TZ)
PUSHED = ("thanhhoa", "postmart", "google")
BUY_ON = ("thanhhoa", "postmart")  # the exchanges whose product pages buyers are sent to
FEEDS = (("thanhhoa", "json"), ("thanhhoa", "csv"), ("thanhhoa", "xlsx"), ("postmart", "json"), ("postmart", "csv"),
         ("postmart", "xlsx"), ("google", "xml"), ("google", "json"), ("google", "csv"), ("dfc", "json"))
NAMES = ("Gạo nếp cái hoa vàng", "Mật ong rừng", "Nem chua Thọ Phú", "Chè lam Phủ Quảng", "Bánh gai Tứ Trụ")
REASONS = ("Dư lượng thuốc bảo vệ thực vật vượt ngưỡng", "Bao bì bị phồng", "Kết quả vi sinh không đạt")
GTIN = "08936045199992"


# ---- the model: the rules written again, independently, as the oracle -----------------------

@dataclass
class MProduct:
    id: int
    slug: str
    producer: int
    status: str = "published"
    stock: int = 10
    price: int = 120000
    name: str = ""
    photos: list = field(default_factory=list)   # ProductPhoto ids
    recognitions: list = field(default_factory=list)  # (stars, valid_until)
    gtin: str | None = None


@dataclass
class MBatch:
    id: int
    product: int
    lot: str
    recalled: bool = False
    ever_recalled: bool = False


@dataclass
class MStamp:
    serial: str
    batch: int
    position: int
    run: int
    status: str = "active"


@dataclass
class Model:
    products: dict = field(default_factory=dict)
    producers: dict = field(default_factory=dict)   # id → status
    producer_slugs: dict = field(default_factory=dict)
    batches: dict = field(default_factory=dict)
    stamps: dict = field(default_factory=dict)

    def listed(self, p: MProduct) -> bool:
        return p.status == "published" and self.producers[p.producer] == "approved"

    def recalled_lots(self, p: MProduct) -> list[str]:
        return sorted(b.lot for b in self.batches.values() if b.product == p.id and b.recalled)

    def sellable(self, p: MProduct) -> bool:
        return self.listed(p) and p.stock > 0 and not self.recalled_lots(p)

    def availability(self, p: MProduct) -> str:
        if self.recalled_lots(p):
            return "recalled"
        return "in_stock" if p.stock > 0 else "out_of_stock"

    def state(self, p: MProduct) -> str:
        if p.status != "published":
            return p.status
        return self.availability(p) if self.listed(p) else "hidden"

    def stars(self, p: MProduct, today: dt.date) -> int | None:
        return max((stars for stars, until in p.recognitions if until >= today), default=None)

    def accepted(self, p: MProduct, code: str) -> bool:
        """Every pushed exchange's pre-flight needs a photo; DFC's does not."""
        return code == "dfc" or bool(p.photos)

    def verdict(self, s: MStamp) -> str:
        batch = self.batches[s.batch]
        if s.status == "void":
            return "void"
        if batch.recalled:
            return "recalled"
        if not self.listed(self.products[batch.product]):
            return "withdrawn"
        return "not_activated" if s.status == "issued" else "genuine"


# ---- reading the channels -----------------------------------------------------------------

class Page:
    """A page parsed by lxml's HTML parser, queried with CSS selectors."""

    def __init__(self, response):
        self.root = lxml.html.fromstring(response.get_data())

    def select(self, css: str) -> list:
        return self.root.cssselect(css)

    def one(self, css: str):
        found = self.root.cssselect(css)
        return found[0] if found else None


def soup(response) -> Page:
    return Page(response)


def lots_of(element) -> list[str]:
    return sorted(element.get("data-recalled-lots").split()) if element is not None else []


def recall_lots(text) -> list[str]:
    """Lots named by a feed's recall field ("LOT: reason (date); …")."""
    return sorted(part.split(":")[0].strip() for part in (text or "").split(";") if part.strip())


def number(value) -> int | None:
    return None if value in (None, "") else int(value)


def product_id(item_id: str) -> int:
    return int(str(item_id).removeprefix("ocop-"))


def read_feed(code: str, fmt: str, body: bytes) -> dict[int, dict]:
    """A feed, whatever its format, as {product id: {"stock", "sellable", "price", "lots", "stars"}}."""
    out = {}
    if code == "dfc":
        graph = json.loads(body)["@graph"]
        nodes = {n["@id"]: n for n in graph}
        for node in graph:
            if node.get("@type") == "dfc-b:CatalogItem":
                offer = nodes[node["dfc-b:offeredThrough"]]
                pid = product_id(node["@id"].rsplit("/", 1)[1].split("#")[0])
                stock = node["dfc-b:stockLimitation"]
                out[pid] = {"stock": stock, "sellable": stock > 0, "price": int(offer["dfc-b:hasPrice"]["dfc-b:value"])}
        return out
    if fmt == "xml":
        ns = {"g": "http://base.google.com/ns/1.0"}
        for item in ET.fromstring(body).iter("item"):
            price = item.findtext("g:price", namespaces=ns)
            out[product_id(item.findtext("g:id", namespaces=ns))] = {
                "sellable": item.findtext("g:availability", namespaces=ns) == "in_stock", "price": int(price.split()[0])}
        return out
    if fmt == "json":
        rows = json.loads(body)["items"]
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    else:
        sheet = load_workbook(io.BytesIO(body), read_only=True).active
        values = list(sheet.iter_rows(values_only=True))
        rows = [dict(zip(values[0], row)) for row in values[1:]]
    for row in rows:
        if code == "thanhhoa":
            out[product_id(row["ma_san_pham"])] = {
                "sellable": row["tinh_trang"] == "in_stock", "stock": number(row["ton_kho"]),
                "price": number(row["gia_ban_vnd"]), "lots": recall_lots(row["thu_hoi"]), "stars": number(row["sao_ocop"])}
        elif code == "postmart":
            out[product_id(row["product_id"])] = {
                "stock": number(row["quantity"]), "price": number(row["price"]), "lots": recall_lots(row["recall"]),
                "stars": number(row["ocop_star"])}
        else:
            row = {key.removeprefix("g:"): value for key, value in row.items()}  # JSON: g:id; CSV: id
            out[product_id(row["id"])] = {"sellable": row["availability"] == "in_stock",
                                          "price": int(str(row["price"]).split()[0])}
    return out


def read_pushed(code: str, state: dict) -> dict[int, dict]:
    """A receiver's newest payload of each item, read like the exchange's JSON feed."""
    body = json.dumps({"items": list(state.values())}).encode()
    return read_feed(code, "json", body)


# ---- the machine ------------------------------------------------------------------------------

def in_app(method):
    """Run a step inside an app context of its own, as a request or a command would: the
    test client's requests then run in theirs, each with its own session."""
    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        self.in_step = True
        with self.env.app.app_context():
            try:
                result = method(self, *args, **kwargs)
            finally:
                _db.session.remove()
        self.in_step = False
        return result
    return wrapped


class Env:
    """What lives across examples: the app, its clients, the receivers, the database reset."""

    def __init__(self, app, database_url: str, template: dict):
        self.app, self.url, self.template = app, database_url, template
        self.receivers: dict[str, Receiver] = {}

    def reset_database(self) -> None:
        _db.engine.dispose()
        if PG_URL:
            _truncate(self.url)
        else:
            path = Path(self.url.removeprefix("sqlite:///"))
            for extra in ("-wal", "-shm"):
                Path(f"{path}{extra}").unlink(missing_ok=True)
            shutil.copy(self.template["path"], path)
        scan_routes._facts._data.clear()
        scan_page._panels.clear()
        limiter.reset()


class OneTruth(RuleBasedStateMachine):
    env: Env = None  # set by the test
    lengths: list = []  # steps taken by each example (the test reports them)

    def __init__(self):
        super().__init__()
        self.steps = 0
        self.in_step, self.checked = False, False
        self.touched: set | None = None  # products a step changed; None: all (the first check, a day passing)
        self.clock = time_machine.travel(START, tick=True)
        self.traveller = self.clock.start()
        self.m = Model()
        self.lot_no = 0
        self.web = self.env.app.test_client()
        for receiver in self.env.receivers.values():
            receiver.state.clear()
            receiver.versions.clear()
        self.build_world()

    def teardown(self):
        """After the last step: every channel once more, every product, lot and page."""
        try:
            if self.checked and not self.in_step:  # (not over a failure: that one is the report)
                self.touched = None
                self.every_channel_says_the_same()
        finally:
            self.clock.stop()
            OneTruth.lengths.append(self.steps)

    # ---- the world each example starts from
    @in_app
    def build_world(self) -> None:
        self.env.reset_database()
        s, today = _db.session, local_today()
        a = make_producer(s, "HTX Đồng Tiến", kind="cooperative")
        b = make_producer(s, "Hộ Lê Thị B", ward=15667)
        s.flush()
        self.owners = {a.id: make_user(s, "htx@example.vn", producer=a).email,
                       b.id: make_user(s, "hob@example.vn", producer=b).email}
        officer = make_user(s, "officer@example.vn", role="officer")
        s.flush()
        token, self.token = ApiToken.issue(officer, "kiểm tra")
        s.add(token)
        for producer in (a, b):
            self.m.producers[producer.id] = "approved"
            self.m.producer_slugs[producer.id] = producer.slug
        group = s.scalars(_db.select(ProductGroup).where(ProductGroup.code == "1.2")).one()
        for n, (producer, stars_until) in enumerate(((a, 3), (a, None), (b, 8))):
            product = catalogue.create_product(s, producer, {
                "name": NAMES[n], "group_id": group.id, "net_quantity": Decimal("1"), "unit": "kg",
                "price_vnd": 100000 + n * 10000, "stock": 10, "description": f"Đặc sản số {n} của Triệu Sơn.",
                "gtin": GTIN if n == 0 else None, **PACKED})
            catalogue.submit_product(product)
            catalogue.publish_product(product)
            s.flush()
            mp = MProduct(product.id, product.slug, producer.id, price=product.price_vnd, name=product.name,
                          gtin=product.gtin)
            photo = ProductPhoto(product=product, stem=f"anh-{product.id}-1", width=800, height=600, position=1)
            s.add(photo)
            if stars_until is not None:
                until = today + dt.timedelta(days=stars_until)
                s.add(OcopRecognition(product=product, stars=4 - n % 2, decision_no=f"{n}/QĐ-UBND",
                                      decision_date=today - dt.timedelta(days=300), issuer_level="provincial",
                                      issuer_name="UBND tỉnh Thanh Hóa", valid_until=until))
                mp.recognitions.append((4 - n % 2, until))
            s.flush()
            mp.photos.append(photo.id)
            self.m.products[product.id] = mp
            self.new_batch_of(mp)
        for code in ("thanhhoa", "postmart", "google", "dfc"):
            exchange = find_exchange(s, code)
            if code in PUSHED:
                receiver = self.env.receivers[code]
                configure_push(exchange, secret=receiver.secret, endpoint=receiver.url, enabled=True,
                               allow_private=True)
            setattr(self, f"{code}_token", exchange.new_feed_token())
            if code in BUY_ON:  # each product's page there: the buyers' "Mua trên …" links
                for mp in self.m.products.values():
                    listings.set_url(s, exchange, s.get(Product, mp.id), f"https://{code}.example.vn/sp/{mp.id}")
        s.commit()
        dates.sweep(s, today=today)  # the worker's daily job, as on its first round
        self.drain()

    def new_batch_of(self, mp: MProduct) -> None:
        s = _db.session
        self.lot_no += 1
        product = s.get(Product, mp.id)
        batch = trace.create_batch(s, product, lot_code=f"LOT-{self.lot_no}", quantity=Decimal("50"), unit="kg",
                                   production_date=local_today() - dt.timedelta(days=2))
        s.flush()
        self.m.batches[batch.id] = MBatch(batch.id, mp.id, batch.lot_code)
        try:
            run = stamps.issue_run(s, batch, 2)
        except stamps.StampError as exc:  # a product that is not listed gets no stamps
            assert exc.code == "product_not_listed" and not self.m.listed(mp)
            return
        assert self.m.listed(mp), "stamps issued for a product that is not listed"
        stamps.activate_run(s, run)
        for serial, position in s.execute(_db.select(Stamp.serial, Stamp.position).where(Stamp.run_id == run.id)):
            self.m.stamps[serial] = MStamp(serial, batch.id, position, run.id)

    # ---- steps
    def commit(self) -> None:
        _db.session.commit()
        self.drain()
        self.steps += 1

    def drain(self) -> None:
        """The delivery worker, until nothing is due (it runs beside the app in production)."""
        cfg = worker.Settings.from_config(self.env.app.config)
        for _ in range(200):
            if not worker.run_once(_db.session, cfg, limit=50):
                if worker.next_due_in(_db.session) is None:
                    return
        raise AssertionError("deliveries still pending")

    def touch(self, product_ids) -> None:
        if self.touched is not None:
            self.touched.update(product_ids)

    def pick(self, items: list, i: int):
        return items[i % len(items)]

    def products_where(self, test) -> list:
        return [p for p in self.m.products.values() if test(p)]

    @precondition(lambda self: self.products_where(lambda p: p.status != "published"))
    @rule(i=st.integers(0, 2))
    @in_app
    def publish(self, i):
        mp = self.pick(self.products_where(lambda p: p.status != "published"), i)
        product = _db.session.get(Product, mp.id)
        if product.status == "archived":
            catalogue.restore_product(product)
        if product.status in ("draft", "rejected"):
            catalogue.submit_product(product)
        catalogue.publish_product(product)
        mp.status = "published"
        self.touch([mp.id])
        self.commit()

    @precondition(lambda self: self.products_where(lambda p: p.status != "archived"))
    @rule(i=st.integers(0, 2))
    @in_app
    def archive(self, i):
        mp = self.pick(self.products_where(lambda p: p.status != "archived"), i)
        catalogue.archive_product(_db.session.get(Product, mp.id))
        mp.status = "archived"
        self.touch([mp.id])
        self.commit()

    @rule(i=st.integers(0, 2), price=st.sampled_from((15000, 95000, 120000, 1250000)))
    @in_app
    def edit_price(self, i, price):
        mp = self.pick(list(self.m.products.values()), i)
        price = price if price != mp.price else price + 1000  # every step changes something
        catalogue.update_product(_db.session, _db.session.get(Product, mp.id), {"price_vnd": price})
        mp.price = price
        self.touch([mp.id])
        self.commit()

    @rule(i=st.integers(0, 2), stock=st.sampled_from((0, 1, 7, 300)))
    @in_app
    def edit_stock(self, i, stock):
        mp = self.pick(list(self.m.products.values()), i)
        stock = stock if stock != mp.stock else stock + 1
        catalogue.update_product(_db.session, _db.session.get(Product, mp.id), {"stock": stock})
        mp.stock = stock
        self.touch([mp.id])
        self.commit()

    @rule(i=st.integers(0, 2), n=st.integers(0, len(NAMES) - 1))
    @in_app
    def edit_name(self, i, n):
        mp = self.pick(list(self.m.products.values()), i)
        name = NAMES[n] if NAMES[n] != mp.name else NAMES[(n + 1) % len(NAMES)]
        catalogue.update_product(_db.session, _db.session.get(Product, mp.id), {"name": name})
        mp.name = name
        self.touch([mp.id])
        self.commit()

    @rule(i=st.integers(0, 2))
    @in_app
    def add_photo(self, i):
        mp = self.pick(list(self.m.products.values()), i)
        self.photo_no = getattr(self, "photo_no", 0) + 1
        photo = ProductPhoto(product_id=mp.id, stem=f"them-{mp.id}-{self.photo_no}", width=800, height=600,
                             position=len(mp.photos) + 1)
        _db.session.add(photo)
        _db.session.flush()
        mp.photos.append(photo.id)
        self.touch([mp.id])
        self.commit()

    @precondition(lambda self: self.products_where(lambda p: p.photos))
    @rule(i=st.integers(0, 2))
    @in_app
    def remove_photo(self, i):
        mp = self.pick(self.products_where(lambda p: p.photos), i)
        _db.session.delete(_db.session.get(ProductPhoto, mp.photos.pop()))
        self.touch([mp.id])
        self.commit()

    @rule(i=st.integers(0, 2))
    @in_app
    def new_batch(self, i):
        mp = self.pick(list(self.m.products.values()), i)
        self.new_batch_of(mp)
        self.touch([mp.id])
        self.commit()

    def batches_where(self, recalled: bool) -> list:
        return [b for b in self.m.batches.values() if b.recalled == recalled]

    @precondition(lambda self: self.batches_where(False))
    @rule(k=st.integers(0, 9), reason=st.sampled_from(REASONS))
    @in_app
    def recall(self, k, reason):
        mb = self.pick(self.batches_where(False), k)
        trace.recall_batch(_db.session.get(Batch, mb.id), reason)
        mb.recalled = mb.ever_recalled = True
        self.touch([mb.product])
        self.commit()

    @precondition(lambda self: self.batches_where(True))
    @rule(k=st.integers(0, 9))
    @in_app
    def lift(self, k):
        mb = self.pick(self.batches_where(True), k)
        trace.lift_recall(_db.session.get(Batch, mb.id), "Kết quả kiểm nghiệm lại đạt")
        mb.recalled = False
        self.touch([mb.product])
        self.commit()

    def live_stamps(self) -> list:
        return [s for s in self.m.stamps.values() if s.status != "void"]

    @precondition(lambda self: self.live_stamps())
    @rule(k=st.integers(0, 19))
    @in_app
    def void_stamp(self, k):
        ms = self.pick(self.live_stamps(), k)
        stamps.void_stamps(_db.session, _db.session.get(StampRun, ms.run), first=ms.position, last=ms.position)
        ms.status = "void"
        self.touch([self.m.batches[ms.batch].product])
        self.commit()

    def producers_in(self, status: str) -> list:
        return [pid for pid, st_ in self.m.producers.items() if st_ == status]

    @precondition(lambda self: self.producers_in("approved"))
    @rule(j=st.integers(0, 1))
    @in_app
    def suspend(self, j):
        producer_id = self.pick(self.producers_in("approved"), j)
        catalogue.review_producer(_db.session.get(Producer, producer_id), "suspend", "Kiểm tra hồ sơ")
        self.m.producers[producer_id] = "suspended"
        self.touch([p.id for p in self.products_where(lambda p: p.producer == producer_id)])
        self.commit()

    @precondition(lambda self: self.producers_in("suspended"))
    @rule(j=st.integers(0, 1))
    @in_app
    def reinstate(self, j):
        producer_id = self.pick(self.producers_in("suspended"), j)
        catalogue.review_producer(_db.session.get(Producer, producer_id), "approve")
        self.m.producers[producer_id] = "approved"
        self.touch([p.id for p in self.products_where(lambda p: p.producer == producer_id)])
        self.commit()

    @rule(days=st.integers(1, 6))
    @in_app
    def time_passes(self, days):
        """Days go by; the worker's daily job reports what the calendar changed."""
        self.traveller.shift(dt.timedelta(days=days))
        dates.sweep(_db.session, today=local_today())
        self.drain()
        self.steps += 1
        self.touched = None  # every product's stars may have lapsed

    # ---- the checker
    @invariant()
    def every_channel_says_the_same(self):
        """Every channel, after every step.  The lists, feeds, pushes and the API cover every
        product each time; the pages of single products, producers, lots and stamps are read
        for the products the step changed (all of them after the first step, a day passing,
        and the last step)."""
        self.checked = False
        today = local_today()
        m = self.m
        products = list(m.products.values())
        listed = {p.id for p in products if m.listed(p)}
        touched = [p for p in products if self.touched is None or p.id in self.touched]
        self.check_lists(products, listed, today, full=self.touched is None)
        self.check_pages(touched, listed, today)
        self.check_stamps_and_lots(touched, today)
        self.check_feeds_and_pushes(products, listed, today)
        self.check_api(products, listed, today)
        self.check_dashboards(touched)
        self.touched, self.checked = set(), True

    def check_lists(self, products, listed, today, *, full: bool):
        """The catalogue and its "for sale only" filter, the officers' product list, and (on
        a full check) the officers' dashboard figures."""
        m, web = self.m, self.web
        cards = {int(li.get("data-product")): li for li in soup(web.get("/")).select("li.card")}
        assert set(cards) == listed, "catalogue: listed products"
        for p in products:
            if p.id in listed:
                card = cards[p.id]
                assert card.get("data-availability") == m.availability(p) and int(card.get("data-price")) == p.price
                assert number(card.get("data-stars")) == m.stars(p, today), f"catalogue card stars {p.id}"
        for_sale = {int(li.get("data-product")) for li in soup(web.get("/?available=1")).select("li.card")}
        assert for_sale == {p.id for p in products if m.sellable(p)}, "catalogue: the for-sale filter"
        officers = {int(row.get("data-product")): row.get("data-state")
                    for row in soup(self.officer_get("/admin/products")).select("tr[data-product]")}
        assert officers == {p.id: m.state(p) for p in products}, "officers' product list"
        if full:
            counts = soup(self.officer_get("/admin/")).one("#counts")
            assert (int(counts.get("data-listed")), int(counts.get("data-sellable")), int(counts.get("data-recalled"))) == (
                len(listed), sum(m.sellable(p) for p in products),
                sum(1 for p in products if p.id in listed and m.recalled_lots(p))), "officers' figures"

    def check_pages(self, products, listed, today):
        """Product pages (and their JSON-LD) and producer pages of ``products``."""
        m, web = self.m, self.web
        for p in products:
            response = web.get(f"/p/{p.slug}")
            if p.id not in listed:
                assert response.status_code == 404, f"product page of unlisted {p.id}"
                continue
            page = soup(response)
            availability = page.one("p.availability").get("data-availability")
            assert availability == m.availability(p), f"product page availability {p.id}"
            assert lots_of(page.one("#recall")) == m.recalled_lots(p), f"product page recall notice {p.id}"
            assert int(page.one(".price").get("data-price")) == p.price
            ocop = page.one("section.ocop")
            assert (int(ocop.get("data-stars")) if ocop is not None else None) == m.stars(p, today), f"product page stars {p.id}"
            assert page.one("h1").text_content().strip() == p.name
            assert self.buy_links(page) == self.buy_on(p), f"product page: where to buy {p.id} again"
            offer = json.loads(page.one('script[type="application/ld+json"]').text)["offers"]
            assert offer["price"] == p.price
            assert offer["availability"].endswith("InStock" if m.sellable(p) else "OutOfStock"), "JSON-LD availability"
        for producer_id in {p.producer for p in products}:
            status = m.producers[producer_id]
            response = web.get(f"/producers/{m.producer_slugs[producer_id]}")
            if status != "approved":
                assert response.status_code == 404
                continue
            page = soup(response)
            mine = [p for p in m.products.values() if p.producer == producer_id and p.id in listed]
            assert {int(li.get("data-product")) for li in page.select("li.card")} == {p.id for p in mine}
            assert lots_of(page.one("#recall")) == sorted(lot for p in mine for lot in m.recalled_lots(p))

    def buy_on(self, p) -> set:
        """Where a buyer is sent to buy ``p`` again: every exchange here pulls the feed, so
        each that accepts its item lists it, while it is sellable."""
        return {code for code in BUY_ON if self.m.sellable(p) and self.m.accepted(p, code)}

    @staticmethod
    def buy_links(page) -> set:
        return {a.get("data-exchange") for a in page.select("a.buy")}

    def check_stamps_and_lots(self, products, today):
        """The lots of ``products``: a live and a void stamp's page, the lot page, EPCIS, link set."""
        m, web = self.m, self.web
        mine = {p.id for p in products}
        by_batch: dict[int, list] = {}
        for s in m.stamps.values():
            by_batch.setdefault(s.batch, []).append(s)
        json_read = False
        newest = {b.product: b.id for b in m.batches.values()}
        for batch in m.batches.values():
            if batch.product not in mine:
                continue
            p = m.products[batch.product]
            others = sorted(lot for lot in m.recalled_lots(p) if lot != batch.lot)
            stamps_here = by_batch.get(batch.id, [])
            # a live stamp and a void one of each lot, when there are
            sample = [s for s in stamps_here if s.status != "void"][:1] + [s for s in stamps_here if s.status == "void"][:1]
            for s in sample:
                page = soup(web.get(f"/s/{s.serial}"))
                verdict = page.one("#verdict").get("data-verdict")
                assert verdict == m.verdict(s), f"stamp {s.serial} of {batch.lot}"
                if verdict != "genuine":
                    assert not page.select(".genuine"), "a green tick beside another verdict"
                assert lots_of(page.one("#other-recalls")) == others, f"stamp {s.serial}: the other lots"
                assert self.buy_links(page) == self.buy_on(p), f"stamp {s.serial}: where to buy again"
                link = page.one(f'a[href="/p/{p.slug}"]')
                assert (link is not None) == m.listed(p), "the stamp page's link to the product page"
                if not json_read:  # the JSON form is the same code path: one stamp a check
                    data = web.get(f"/s/{s.serial}", headers={"Accept": "application/json"}).get_json()
                    assert data["stamp"]["verdict"] == verdict and data["product"]["listed"] == m.listed(p)
                    json_read = True
            lot_page = soup(web.get(f"/lot/{batch.id}"))
            assert lot_page.one("#recall").get("data-recalled") == ("true" if batch.recalled else "false")
            assert (lot_page.one("#listing") is None) == m.listed(p)
            assert lots_of(lot_page.one("#other-recalls")) == others
            if batch.ever_recalled or batch.id == newest[batch.product]:  # the others' events never change
                epcis = web.get(f"/lot/{batch.id}/epcis.json").get_json()
                last = epcis["epcisBody"]["eventList"][-1].get("disposition")
                assert (last == "recalled") == batch.recalled, f"EPCIS of {batch.lot}"
            if p.gtin:
                linkset = web.get(f"/01/{p.gtin}/10/{batch.lot}?linkType=all").get_json()["linkset"][0]
                (status,) = linkset["https://gs1.org/voc/recallStatus"]
                assert status["href"] == f"{BASE}/lot/{batch.id}#recall"  # the lot page read above
                assert ("đang bị thu hồi" in status["title"]) == batch.recalled, f"link set: recall status of {batch.lot}"
                assert ("https://gs1.org/voc/pip" in linkset) == m.listed(p), "link set: product page while listed"

    def check_feeds_and_pushes(self, products, listed, today):
        m = self.m
        for code, fmt in FEEDS:
            response = self.web.get(f"/feeds/{code}.{fmt}", headers={"Authorization": f"Bearer {getattr(self, f'{code}_token')}"})
            assert response.status_code == 200, (code, fmt, response.status_code)
            self.compare(f"{code}.{fmt}", read_feed(code, fmt, response.get_data()), code, products, listed, today)
        for code in PUSHED:
            self.compare(f"{code} push", read_pushed(code, self.env.receivers[code].state), code, products, listed,
                         today)

    def compare(self, channel, found: dict, code, products, listed, today):
        m = self.m
        expected = {p.id for p in products if p.id in listed and m.accepted(p, code)}
        assert set(found) == expected, f"{channel}: the items listed there"
        for p in products:
            if p.id not in found:
                continue
            item = found[p.id]
            assert item["price"] == p.price, f"{channel}: price of {p.id}"
            if "sellable" in item:
                assert item["sellable"] == m.sellable(p), f"{channel}: availability of {p.id}"
            if "stock" in item:
                assert item["stock"] == (p.stock if m.sellable(p) else 0), f"{channel}: stock for sale of {p.id}"
            if "lots" in item:
                assert item["lots"] == m.recalled_lots(p), f"{channel}: recalled lots of {p.id}"
            if "stars" in item:
                assert item["stars"] == m.stars(p, today), f"{channel}: stars of {p.id}"

    def check_api(self, products, listed, today):
        m = self.m
        public = {item["id"]: item for item in self.web.get("/api/v1/catalogue?limit=100").get_json()["data"]}
        assert set(public) == listed, "API catalogue"
        for pid, item in public.items():
            p = m.products[pid]
            assert (item["sellable"], item["availability"], item["price_vnd"], item["ocop_stars"]) == (
                m.sellable(p), m.availability(p), p.price, m.stars(p, today)), f"API catalogue item {pid}"
            assert sorted(r["lot_code"] for r in item["recalls"]) == m.recalled_lots(p)
        mine = self.web.get("/api/v1/products?limit=100", headers={"Authorization": f"Bearer {self.token}"}).get_json()
        for item in mine["data"]:
            p, facts = m.products[item["id"]], item["facts"]
            assert (facts["listed"], facts["sellable"]) == (m.listed(p), m.sellable(p)), f"API product {p.id}"
            assert sorted(r["lot_code"] for r in facts["recalls"]) == m.recalled_lots(p)

    def check_dashboards(self, products):
        """The dashboards of the producers of ``products``: each product's state."""
        for producer_id in {p.producer for p in products}:
            email = self.owners[producer_id]
            page = soup(self.signed_in_get(email, "/dashboard/"))
            states = {int(li.get("data-product")): li.get("data-state") for li in page.select("li[data-product]")}
            assert states == {p.id: self.m.state(p) for p in self.m.products.values() if p.producer == producer_id}, \
                "producer's dashboard"

    def signed_in_get(self, email: str, path: str):
        clients = self.__dict__.setdefault("_clients", {})
        if email not in clients:
            clients[email] = self.env.app.test_client()
            login(clients[email], email)
        response = clients[email].get(path)
        if response.status_code == 302:  # the session lapsed while days went by
            login(clients[email], email, TEST_PASSWORD)
            response = clients[email].get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response

    def officer_get(self, path: str):
        return self.signed_in_get("officer@example.vn", path)


@pytest.fixture
def truth_env(app_factory, database_url, database_template):
    app = app_factory(PUSH_ALLOW_PRIVATE=True, PUSH_RETRY_BASE_SECONDS=0.01, PUSH_RETRY_CAP_SECONDS=0.05,
                      SCAN_RECORDING=False, API_RATE_LIMIT="100000 per minute", LOGIN_RATE_PER_CLIENT="100000 per minute")
    env = Env(app, database_url, database_template)
    with app.app_context():
        for code in PUSHED:
            secret = push.new_secret()
            env.receivers[code] = Receiver(secret, id_field(profile_of(find_exchange(_db.session, code))))
            env.receivers[code].secret = secret
        _db.session.remove()
    try:
        yield env
    finally:
        for receiver in env.receivers.values():
            receiver.close()


def test_every_channel_tells_the_same_truth(truth_env):
    OneTruth.env, OneTruth.lengths = truth_env, []
    run_state_machine_as_test(OneTruth, settings=settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=False,
        suppress_health_check=list(HealthCheck), print_blob=True, report_multiple_bugs=False))
    lengths = sorted(OneTruth.lengths)
    print(f"one truth: {len(lengths)} sequences of changes, {lengths[0]}–{lengths[-1]} steps "
          f"(median {lengths[len(lengths) // 2]}, {sum(lengths)} in all, "
          f"{sum(n == STEPS for n in lengths)} of the full {STEPS}), every channel checked after each")
    # The test explored: every example ran, the longest sequences were tried, and the steps
    # checked add up.  (Hypothesis ends some sequences early by design, e.g. while mutating
    # earlier ones, so no per-sequence length is promised.)
    assert len(lengths) >= EXAMPLES and lengths[-1] == STEPS
    assert sum(lengths) >= STEPS * EXAMPLES // 4
