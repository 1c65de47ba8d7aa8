"""The officers' dashboard figures (issue 6): every figure equals a count made here
independently (loops over the ORM objects), with and without filters; the page draws each
as a chart beside its table, in both languages; each has a CSV.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace import geo, stats
from marketplace.catalogue.service import publish_product, review_producer, submit_product
from marketplace.feeds import canonical
from marketplace.feeds.profiles import profile_of, reasons
from marketplace.models import (Delivery, Exchange, OcopRecognition, Producer, Product, ProductGroup, ProductPhoto,
                                Scan, Stamp, StampRun)
from marketplace.models.base import LOCAL_TZ, local_today, utcnow
from marketplace.scan.retention import rebuild_day
from marketplace.stamps.service import issue_run
from marketplace.trace.service import create_batch
from tests.conftest import make_producer, make_product, signed_in

BASE = "http://127.0.0.1:5000"
WARDS = (15724, 15667, 15733)  # three communes of Triệu Sơn


@pytest.fixture
def district(app, db, world):
    """Producers in three communes, products in several groups with and without OCOP stars,
    stamps issued and scanned over the last weeks, deliveries in every state."""
    s, rng, today = db.session, random.Random(6), local_today()
    groups = list(s.scalars(select(ProductGroup).where(ProductGroup.parent_id.is_not(None))))
    producers = []
    for n, ward in enumerate(WARDS * 2):
        p = make_producer(s, f"Hộ sản xuất {n}", ward=ward)
        producers.append(p)
    s.flush()
    products = []
    for n in range(18):
        producer = producers[n % len(producers)]
        product = make_product(s, producer, f"Đặc sản {n}", status="published" if n % 5 else "draft")
        product.group_id = groups[n % len(groups)].id
        if n % 3 == 0:
            s.add(ProductPhoto(product=product, stem=f"stem{n}", width=8, height=6, position=1))
        if n % 4 == 0:
            s.add(OcopRecognition(product=product, stars=3 + n % 3, decision_no=f"{n}/QĐ", decision_date=today,
                                  issuer_level="provincial", issuer_name="UBND tỉnh",
                                  valid_until=today + dt.timedelta(days=300) if n % 8 else today - dt.timedelta(days=1)))
        products.append(product)
    review_producer(producers[-1], "suspend", "kiểm tra")  # its products are not public
    s.flush()
    for n, product in enumerate(products[:6]):
        batch = create_batch(s, product, lot_code=f"L{n}", quantity=Decimal("5"), unit="kg",
                             production_date=today - dt.timedelta(days=40))
        s.flush()
        status, producer_status = product.status, product.producer.status
        product.status, product.producer.status = "published", "approved"  # stamps are issued while listed
        run = issue_run(s, batch, 5 + n)
        product.status, product.producer.status = status, producer_status
        run.created_at = dt.datetime.combine(today - dt.timedelta(days=3 * n), dt.time(10), LOCAL_TZ)
        stamps = list(s.scalars(select(Stamp).where(Stamp.run_id == run.id)))
        for k in range(3 * n + 1):
            moment = dt.datetime.combine(today - dt.timedelta(days=rng.randrange(0, 100)),
                                         dt.time(rng.randrange(0, 24), 30), LOCAL_TZ)
            s.add(Scan(stamp_id=rng.choice(stamps).id, scanned_at=moment, province_code=38, agent_family="chrome"))
    s.flush()
    for days_ago in range(101):  # rows written here, not by the scan writer: their days derived from them
        rebuild_day(s, today - dt.timedelta(days=days_ago))
    exchanges = list(s.scalars(select(Exchange).order_by(Exchange.id)))
    for n, status in enumerate(("pending", "delivered", "dead", "delivered", "superseded", "pending", "dead")):
        s.add(Delivery(exchange=exchanges[n % len(exchanges)], product=products[n + 1], version=1, status=status,
                       last_error="", attempts=1, next_attempt_at=utcnow(), created_at=utcnow()))
    s.commit()
    return today


def public_products(db):
    return [p for p in db.session.scalars(select(Product))
            if p.status == "published" and p.producer.status == "approved"]


def top_group(product) -> ProductGroup:
    return product.group.parent or product.group


def test_products_per_group_and_stars(db, district):
    expected = Counter()
    for p in public_products(db):
        valid = [r.stars for r in p.recognitions if not r.revoked and r.valid_until >= district]
        expected[(top_group(p).name_vi, str(max(valid)) if valid else "none")] += 1
    figure = stats.products_by_group(db.session, stats.Filters(), today=district)
    got = Counter({(row[0], level): n for row in figure.rows for level, n in zip(stats.STAR_LEVELS, row[1:]) if n})
    assert got == expected and sum(figure.totals()) == len(public_products(db))


def test_listed_per_exchange(db, district):
    items = list(canonical.iter_items(db.session, base_url=BASE, today=district))
    figure = stats.listed_per_exchange(db.session, stats.Filters(), base_url=BASE, today=district)
    for code, listed, waiting, refused in figure.rows:
        profile = profile_of(db.session.scalars(select(Exchange).where(Exchange.code == code)).one())
        assert listed + waiting == sum(1 for i in items if not reasons(profile, i))
        assert refused == sum(1 for i in items if reasons(profile, i))
    assert {r[0] for r in figure.rows} == {"thanhhoa", "postmart", "google", "dfc"}


def test_producers_per_commune_with_a_filter(db, district):
    approved = [p for p in db.session.scalars(select(Producer)) if p.status == "approved"]
    expected = Counter(geo.place_name(p.ward_code) for p in approved)
    assert dict((r[0], r[1]) for r in stats.producers_per_commune(db.session, stats.Filters()).rows) == expected
    one = stats.producers_per_commune(db.session, stats.Filters(ward_code=WARDS[1])).rows
    assert one == [(geo.place_name(WARDS[1]), expected[geo.place_name(WARDS[1])])]


@pytest.mark.parametrize("by", ["day", "week"])
def test_stamps_and_scans_per_period(db, district, by):
    first = district - dt.timedelta(days=stats.ACTIVITY_DAYS - 1)

    def period(moment: dt.datetime) -> dt.date:
        day = moment.astimezone(LOCAL_TZ).date()
        return day - dt.timedelta(days=day.weekday()) if by == "week" else day

    issued, scans = Counter(), Counter()
    for run in db.session.scalars(select(StampRun)):
        created = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=dt.timezone.utc)
        if first <= created.astimezone(LOCAL_TZ).date() <= district:
            issued[period(created)] += run.count
    for scan in db.session.scalars(select(Scan)):
        if first <= scan.scanned_at.astimezone(LOCAL_TZ).date() <= district:
            scans[period(scan.scanned_at)] += 1
    figure = stats.activity(db.session, stats.Filters(), today=district, by=by)
    assert {r[0]: r[1] for r in figure.rows if r[1]} == dict(issued)
    assert {r[0]: r[2] for r in figure.rows if r[2]} == dict(scans)
    assert len(figure.rows) == (stats.ACTIVITY_DAYS if by == "day" else len({period(
        dt.datetime.combine(first + dt.timedelta(days=k), dt.time(), LOCAL_TZ)) for k in range(stats.ACTIVITY_DAYS)}))
    # Filtered to one product: only its stamps and scans.
    product = db.session.scalars(select(Product).where(Product.name == "Đặc sản 3")).one()
    only = stats.activity(db.session, stats.Filters(product_id=product.id), today=district, by=by)
    own_runs = [r for r in db.session.scalars(select(StampRun)) if r.batch.product_id == product.id]
    assert sum(r[1] for r in only.rows) == sum(r.count for r in own_runs)
    own_stamps = {s.id for s in db.session.scalars(select(Stamp)) if s.batch.product_id == product.id}
    assert sum(r[2] for r in only.rows) == sum(1 for s in db.session.scalars(select(Scan)) if s.stamp_id in own_stamps
                                               and first <= s.scanned_at.astimezone(LOCAL_TZ).date() <= district)


def test_a_communes_activity_counts_only_its_lots(db, district):
    """Narrowed to a commune (an officer's scope), stamps and scans of its producers' lots
    only; the whole province's figure is the sum over its communes."""
    first = district - dt.timedelta(days=stats.ACTIVITY_DAYS - 1)
    whole = stats.activity(db.session, stats.Filters(), today=district)
    per_ward = [stats.activity(db.session, stats.Filters(wards=frozenset({ward})), today=district)
                for ward in WARDS]
    for n, column in ((1, "stamps_issued"), (2, "scans")):
        assert [sum(f.rows[k][n] for f in per_ward) for k in range(len(whole.rows))] == \
            [r[n] for r in whole.rows], column
    mine = {s.id for s in db.session.scalars(select(Stamp)) if s.batch.product.producer.ward_code == WARDS[0]}
    scanned = sum(1 for s in db.session.scalars(select(Scan)) if s.stamp_id in mine and not s.test
                  and first <= s.scanned_at.astimezone(LOCAL_TZ).date() <= district)
    assert scanned and sum(r[2] for r in per_ward[0].rows) == scanned
    assert sum(r[2] for r in per_ward[0].rows) < sum(r[2] for r in whole.rows)


def test_deliveries_per_exchange(db, district):
    expected = Counter((d.exchange.code, d.status) for d in db.session.scalars(select(Delivery)))
    figure = stats.deliveries_per_exchange(db.session, stats.Filters(), today=district)
    got = Counter({(row[0], status): n for row in figure.rows for status, n in zip(stats.DELIVERY_STATES, row[1:])
                   if n})
    assert got == expected


def test_the_dashboard_draws_every_figure_with_its_table_and_csv(app, db, district):
    officer = signed_in(app, "officer@example.vn")
    page = officer.get("/admin/").get_data(as_text=True)
    for key in ("products", "listed", "producers", "activity", "deliveries"):
        assert f'id="fig-{key}"' in page and f"/admin/stats/{key}.csv" in page
    assert page.count("<svg") >= 5 and "<script" not in page
    figure = stats.products_by_group(db.session, stats.Filters(), today=district)
    export = officer.get("/admin/stats/products.csv")
    rows = list(csv.reader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert rows[0] == list(figure.columns) and [tuple(r) for r in rows[2:]] == [
        tuple(str(v) for v in r) for r in figure.rows]
    filtered = officer.get("/admin/stats/producers.csv", query_string={"commune": WARDS[0]})
    assert [r[0] for r in csv.reader(io.StringIO(filtered.data.decode("utf-8-sig")))][2:] == [
        geo.place_name(WARDS[0])]
    assert officer.get("/admin/stats/nothing.csv").status_code == 404
    bad = officer.get("/admin/", query_string={"from": "29/11/2026"})
    assert bad.status_code == 200 and "yyyy-mm-dd" in bad.get_data(as_text=True)
    officer.set_cookie("lang", "en")
    english = officer.get("/admin/").get_data(as_text=True)
    assert "District figures" in english and "Stamps issued and scans" in english
    producer = signed_in(app, "a@example.vn")
    assert producer.get("/admin/stats/products.csv").status_code == 403


def test_odd_filter_values_are_ignored_never_an_error(app, db, district):
    officer = signed_in(app, "officer@example.vn")
    for query in ({"commune": "abc"}, {"producer": "-1"}, {"group": "9" * 30}, {"product": "1e9"},
                  {"from": "2026-02-30"}, {"to": "x" * 500}, {"by": "month"},
                  # digits that str.isdigit takes and int() refuses, or that are no ASCII digits
                  {"commune": "²"}, {"product": "¹"}, {"group": "①"}, {"producer": "١٢"}):
        assert officer.get("/admin/", query_string=query).status_code == 200, query
        assert officer.get("/admin/stats/activity.csv", query_string=query).status_code == 200, query
        assert officer.get("/admin/stats/products.csv", query_string=query).status_code == 200, query


def listed_figure(db, f, today):
    """The figure as the desk's GET computes it: reading, so that keeping verdicts (short
    transactions of their own) does not wait behind the test's session on SQLite."""
    from marketplace.transactions import reads

    db.session.commit()
    with reads():
        figure = stats.listed_per_exchange(db.session, f, base_url=BASE, today=today)
    db.session.commit()
    return figure


def _expected_refused(db, today, product_ids=None) -> dict[str, int]:
    """Refusals counted from items built from scratch (the product pages' pre-flight)."""
    items = [i for i in canonical.iter_items(db.session, base_url=BASE, today=today)
             if product_ids is None or int(i["id"].removeprefix(canonical.ID_PREFIX)) in product_ids]
    return {e.code: sum(1 for i in items if reasons(profile_of(e), i)) for e in db.session.scalars(select(Exchange))}


def _refused(figure) -> dict[str, int]:
    return {code: refused for code, _listed, _waiting, refused in figure.rows}


def test_the_listed_figure_reads_kept_verdicts_and_rebuilds_only_what_changed(db, district, monkeypatch):
    """A country's catalogue is judged once and the verdicts kept with the feeds' items
    (``feed_item``); the figure then builds only products whose item changed, and its counts
    stay those of items built from scratch after a product edit and a profile edit."""
    from marketplace.catalogue.service import update_product
    from marketplace.models import FeedItem

    real = canonical.built_items
    built: list[int] = []

    def counting(session, ids, **kw):
        built.extend(ids)
        return real(session, ids, **kw)

    monkeypatch.setattr(canonical, "built_items", counting)
    public = public_products(db)
    figure = listed_figure(db, stats.Filters(), district)
    assert sorted(built) == sorted(p.id for p in public)  # cold: each built once for every exchange
    assert db.session.scalar(select(func.count()).select_from(FeedItem)) == 4 * len(public)
    assert _refused(figure) == _expected_refused(db, district)

    built.clear()
    again = listed_figure(db, stats.Filters(), district)
    assert built == [] and again.rows == figure.rows  # warm: nothing built

    changed = public[0]
    update_product(db.session, changed, {"description": "Mô tả mới, đổi hôm nay"})  # a new version
    db.session.commit()
    after = listed_figure(db, stats.Filters(), district)
    assert built == [changed.id]
    assert _refused(after) == _expected_refused(db, district)

    built.clear()
    exchange = db.session.scalars(select(Exchange).where(Exchange.code == "thanhhoa")).one()
    exchange.profile = dict(profile_of(exchange).as_dict(), required=["title", "price", "images"])
    db.session.commit()
    edited = listed_figure(db, stats.Filters(), district)
    assert sorted(built) == sorted(p.id for p in public)  # that exchange's verdicts no longer hold
    assert _refused(edited) == _expected_refused(db, district)
    assert _refused(edited)["thanhhoa"] == sum(1 for p in public if not p.photos)


def test_a_communes_listed_figure_builds_only_its_products(db, district, monkeypatch):
    real = canonical.built_items
    built: list[int] = []
    monkeypatch.setattr(canonical, "built_items", lambda s, ids, **kw: built.extend(ids) or real(s, ids, **kw))
    f = stats.Filters(wards=frozenset({WARDS[0]}))
    figure = listed_figure(db, f, district)
    mine = {p.id for p in public_products(db) if (p.origin_ward_code or p.producer.ward_code) == WARDS[0]}
    assert mine and set(built) == mine
    assert _refused(figure) == _expected_refused(db, district, mine)
    assert {code: listed + waiting + refused for code, listed, waiting, refused in figure.rows} == \
        {code: len(mine) for code in ("thanhhoa", "postmart", "google", "dfc")}


def test_the_daily_job_keeps_every_verdict(app, db, district):
    from marketplace.models import FeedItem

    db.session.commit()
    result = app.test_cli_runner().invoke(args=["expire"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(FeedItem)) == 4 * len(public_products(db))


def test_the_listed_figure_counts_what_each_product_page_says(db, district):
    """The figure counts, per exchange, the states the product pages show
    (``feeds.service.exchange_listings``, one product at a time), pushes included: a product
    whose newest acknowledged push carried its item is listed on a push-only exchange, one
    whose newest was a deletion is not."""
    from marketplace.feeds.service import all_exchanges, exchange_listings, preflight_of

    public = public_products(db)
    dfc = db.session.scalars(select(Exchange).where(Exchange.code == "dfc")).one()
    now = utcnow()
    for product, deleted in ((public[0], False), (public[1], True)):
        db.session.add(Delivery(exchange_id=dfc.id, product_id=product.id, version=product.version,
                                status="delivered", sent_version=product.version, sent_deleted=deleted,
                                delivered_at=now))
    db.session.commit()
    figure = listed_figure(db, stats.Filters(), district)
    exchanges = all_exchanges(db.session)
    items = {int(i["id"].removeprefix(canonical.ID_PREFIX)): i
             for i in canonical.iter_items(db.session, base_url=BASE, today=district)}
    expected: Counter = Counter()
    for product in public:
        listings = exchange_listings(db.session, exchanges, {product.id: preflight_of(exchanges, items[product.id])},
                                     listed={product.id: True})[product.id]
        expected.update((state.code, state.state.value) for state in listings)
    got = Counter({(code, state): n for code, *row in figure.rows for state, n in zip(stats.LISTING_STATES, row) if n})
    assert got == +expected
    on_dfc = {product.id: {s.code: s.state.value for s in exchange_listings(
        db.session, exchanges, {product.id: preflight_of(exchanges, items[product.id])},
        listed={product.id: True})[product.id]}["dfc"] for product in public[:2]}
    assert on_dfc == {public[0].id: "listed", public[1].id: "waiting"}  # dfc pulls nothing: pushes decide
