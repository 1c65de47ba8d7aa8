"""What was seen on the demo data (issue 13), each observation turned into a test: a recall,
an unapproved product's stamps and the exchanges' "listed" counts, told the same way on
every channel."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import lxml.html
import pytest
from sqlalchemy import select

from marketplace.feeds import push, worker
from marketplace.feeds.profiles import id_field, profile_of
from marketplace.feeds.service import configure_push, find_exchange
from marketplace.models import Batch, Product, ProductPhoto, Stamp
from marketplace.models.base import local_today
from marketplace.stamps.service import activate_run, issue_run
from marketplace.trace.service import create_batch
from tests.conftest import login
from tests.test_push import Receiver
from tests.test_routes_matrix import add_trace

OFFICER = ("canbo@trieuson.demo", "CanBo-TrieuSon-2025")
HTX = ("htx.dongtien@trieuson.demo", "NongDan-DongTien-2025")
LOT = "DT-NEP-2025-10"
REASON = "Dư lượng thuốc bảo vệ thực vật vượt ngưỡng"


def page(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.fromstring(response.get_data())


def one(root, css):
    found = root.cssselect(css)
    return found[0] if found else None


@pytest.fixture
def demo(app, db, runner):
    app.config.update(PUSH_ALLOW_PRIVATE=True, PUSH_RETRY_BASE_SECONDS=0.01, PUSH_RETRY_CAP_SECONDS=0.05)
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    s = db.session
    s.rollback()
    batch = s.scalars(select(Batch).where(Batch.lot_code == LOT)).one()
    other = create_batch(s, batch.product, lot_code="DT-NEP-2025-11", quantity=Decimal("800"), unit="kg",
                         production_date=local_today() - dt.timedelta(days=3))
    s.flush()
    activate_run(s, issue_run(s, other, 2))
    s.commit()
    return batch.id, other.id


def first_serial(db, batch_id: int) -> str:
    return db.session.scalar(select(Stamp.serial).where(Stamp.batch_id == batch_id).order_by(Stamp.id).limit(1))


def drain(db, app):
    settings = worker.Settings.from_config(app.config)
    while worker.run_once(db.session, settings, limit=50) or worker.next_due_in(db.session) is not None:
        pass


def test_a_recall_on_the_demo_data_is_told_the_same_everywhere(app, db, client, demo):
    batch_id, other_id = demo
    s = db.session
    product = s.get(Batch, batch_id).product
    product_id, slug, key, stock = product.id, product.slug, f"ocop-{product.id}", product.stock
    tokens = {code: find_exchange(s, code).new_feed_token() for code in ("thanhhoa", "postmart", "google", "dfc")}
    receivers = {}
    for code in ("postmart", "thanhhoa"):
        exchange, secret = find_exchange(s, code), push.new_secret()
        receivers[code] = Receiver(secret, id_field(profile_of(exchange)))
        configure_push(exchange, secret=secret, endpoint=receivers[code].url, enabled=True, allow_private=True)
    s.commit()
    try:
        drain(db, app)
        assert receivers["postmart"].state[key]["quantity"] == stock > 0
        recalled, genuine = first_serial(db, batch_id), first_serial(db, other_id)
        s.rollback()  # no transaction of this test's session may hold the write lock during a scan
        officer = app.test_client()
        login(officer, *OFFICER)
        assert officer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": REASON, "confirm": "1"}).status_code == 302
        drain(db, app)

        # the public product page: no "Còn hàng", a red notice naming the lot and the reason
        product_page = page(client.get(f"/p/{slug}"))
        assert "Còn hàng" not in product_page.text_content()
        assert one(product_page, ".availability").get("data-availability") == "recalled"
        notice = one(product_page, "#recall")
        assert notice.get("data-recalled-lots") == LOT and REASON in notice.text_content()
        # the producer's dashboard: recalled, not "Đang bán"
        htx = app.test_client()
        login(htx, *HTX)
        row = one(page(htx.get("/dashboard/")), f'li[data-product="{product_id}"]')
        assert row.get("data-state") == "recalled" and "Đang bán" not in row.text_content()
        # the stamp of the recalled lot: one verdict, never a green tick; its link leads to the page above
        s.rollback()  # (the logins' transactions in this test's shared session: none may hold the write lock)
        stamp = page(client.get(f"/s/{recalled}"))
        assert one(stamp, "#verdict").get("data-verdict") == "recalled"
        assert not stamp.cssselect(".genuine") and "Tem chính hãng" not in stamp.text_content()
        assert one(stamp, f'a[href="/p/{slug}"]') is not None
        # a stamp of another lot: genuine, and told its lot is not the recalled one
        other = page(client.get(f"/s/{genuine}"))
        assert one(other, "#verdict").get("data-verdict") == "genuine"
        assert one(other, "#other-recalls").get("data-recalled-lots") == LOT

        def feed(code, fmt):
            response = client.get(f"/feeds/{code}.{fmt}", headers={"Authorization": f"Bearer {tokens[code]}"})
            assert response.status_code == 200
            return response.get_data()

        postmart = {i["product_id"]: i for i in json.loads(feed("postmart", "json"))["items"]}[key]
        assert postmart["quantity"] == 0 and LOT in postmart["recall"] and REASON in postmart["recall"]
        for pushed in (receivers["postmart"].state[key],):  # the signed push, verified by the receiver
            assert pushed["quantity"] == 0 and LOT in pushed["recall"]
        thanhhoa = receivers["thanhhoa"].state[key]
        assert thanhhoa["tinh_trang"] == "out_of_stock" and thanhhoa["ton_kho"] == 0 and REASON in thanhhoa["thu_hoi"]
        rows = {r["ma_san_pham"]: r for r in csv.DictReader(io.StringIO(feed("thanhhoa", "csv").decode("utf-8-sig")))}
        assert rows[key]["tinh_trang"] == "out_of_stock" and REASON in rows[key]["thu_hoi"]
        ns = {"g": "http://base.google.com/ns/1.0"}
        google = {i.findtext("g:id", namespaces=ns): i for i in ET.fromstring(feed("google", "xml")).iter("item")}
        assert google[key].findtext("g:availability", namespaces=ns) == "out_of_stock"
        graph = json.loads(feed("dfc", "json"))["@graph"]
        item = next(n for n in graph if n["@id"].endswith(f"/dfc/{key}#item"))
        assert item["dfc-b:stockLimitation"] == 0
        api = client.get(f"/api/v1/catalogue/{product_id}").get_json()
        assert api["sellable"] is False and api["availability"] == "recalled"
        assert [r["lot_code"] for r in api["recalls"]] == [LOT]

        # lifting it brings every channel back
        s.rollback()  # (the reads above went through this test's shared session: a fresh transaction to write)
        assert officer.post(f"/dashboard/batches/{batch_id}/lift-recall", data={"note": "Kiểm nghiệm lại đạt"}).status_code == 302
        drain(db, app)
        assert one(page(client.get(f"/p/{slug}")), ".availability").get("data-availability") == "in_stock"
        assert one(page(client.get(f"/s/{recalled}")), "#verdict").get("data-verdict") == "genuine"
        assert receivers["postmart"].state[key]["quantity"] > 0 and not receivers["postmart"].state[key]["recall"]
    finally:
        for receiver in receivers.values():
            receiver.close()


def test_no_stamps_for_a_product_waiting_for_approval_and_none_genuine_after_it_leaves(app, db, client, runner, world):
    """Stamps were issued, printed and activated for a product still "Chờ duyệt", and scanning
    one said "✓ Tem chính hãng": now the web, the API and the CLI refuse
    (``tests/test_stamp_gate.py``), and the stamps a product already has say "not verified"
    once it is no longer published or its producer is suspended."""
    s = db.session
    add_trace(s, world)  # lot LOT-A1 of producer A's product, three stamps
    activate_run(s, world.run_a)
    s.commit()
    batch_id, serial = world.batch_a.id, world.serial_a
    s.rollback()  # no transaction of this test's session may hold the write lock during a scan
    assert one(page(client.get(f"/s/{serial}")), "#verdict").get("data-verdict") == "genuine"
    s.rollback()  # the request read through this same session: start afresh before writing
    product = s.get(Batch, batch_id).product
    product.status = "pending"  # sent back for review
    s.commit()
    a = app.test_client()
    login(a, "a@example.vn")
    refused = a.post(f"/dashboard/batches/{batch_id}/runs", data={"count": "10"}, follow_redirects=True)
    assert "Chỉ phát hành và kích hoạt tem cho sản phẩm đã được duyệt" in refused.get_data(as_text=True)
    result = runner.invoke(args=["stamps", "issue", "--batch", str(batch_id), "--count", "5"])
    assert result.exit_code == 1 and "not published" in result.output
    s.rollback()
    assert len(s.get(Batch, batch_id).runs) == 1
    s.rollback()
    stamp = page(client.get(f"/s/{serial}"))
    assert one(stamp, "#verdict").get("data-verdict") == "withdrawn"
    assert not stamp.cssselect(".genuine") and "Tem chính hãng" not in stamp.text_content()
    assert client.get(f"/s/{serial}", headers={"Accept": "application/json"}).get_json()["stamp"]["verdict"] == "withdrawn"

    s.rollback()
    product = s.get(Product, product.id)
    product.status = "published"
    product.producer.status = "suspended"
    s.commit()
    assert one(page(client.get(f"/s/{serial}")), "#verdict").get("data-verdict") == "withdrawn"
    s.rollback()
    product = s.get(Product, product.id)
    product.producer.status = "approved"
    s.commit()
    assert one(page(client.get(f"/s/{serial}")), "#verdict").get("data-verdict") == "genuine"


def test_the_officers_figures_and_the_product_pages_agree_on_listed(app, db, world, tmp_path):
    """The dashboard said 27 products are listed on each exchange while each product page
    said "—": both now use one definition (accepted, and pulled or pushed)."""
    from tests.conftest import make_product, signed_in

    s = db.session
    for n in range(3):
        product = make_product(s, world.b, f"Chè lam {n}", status="published")
        s.add(ProductPhoto(product=product, stem=f"anh-che-{n}", width=800, height=600, position=1))
    s.commit()
    officer = signed_in(app, "officer@example.vn")
    products = [p.id for p in s.scalars(select(Product).order_by(Product.id))]

    def per_exchange_from_csv() -> dict:
        text = officer.get("/admin/stats/listed.csv").get_data(as_text=True).lstrip("\ufeff")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == ["exchange", "listed", "waiting", "refused"]
        return {r[0]: (int(r[1]), int(r[2]), int(r[3])) for r in rows[2:]}

    def per_exchange_from_pages() -> dict:
        counts: dict = {}
        for product_id in products:
            for row in page(officer.get(f"/admin/products/{product_id}")).cssselect("table.exchange-listing tr[data-state]"):
                listed, waiting, refused = counts.get(row.get("data-exchange"), (0, 0, 0))
                state = row.get("data-state")
                counts[row.get("data-exchange")] = (listed + (state == "listed"), waiting + (state == "waiting"),
                                                    refused + (state == "refused"))
        return counts

    before = per_exchange_from_csv()
    assert before == per_exchange_from_pages()
    assert all(listed == 0 for listed, _w, _r in before.values())  # no exchange pulls or got a push yet
    assert before["postmart"] == (0, 3, 1)  # the world's published product has no photo: refused
    s.rollback()
    find_exchange(s, "postmart").new_feed_token()  # Postmart now pulls the feed
    s.commit()
    after = per_exchange_from_csv()
    assert after == per_exchange_from_pages()
    assert after["postmart"] == (3, 0, 1) and after["thanhhoa"] == before["thanhhoa"]
