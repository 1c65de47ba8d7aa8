"""The one module that decides what a buyer is told (marketplace/public_facts.py), tested
without HTTP: the rules as plain functions, and their SQL forms agreeing with them on a
database full of every combination."""
from __future__ import annotations

import datetime as dt
import itertools
from types import SimpleNamespace as Row

import pytest
from sqlalchemy import select

from marketplace import public_facts as pf
from marketplace.catalogue.service import public_products_query
from marketplace.models import Batch, OcopRecognition, Producer, Product
from tests.conftest import make_producer, make_product

TODAY = dt.date(2026, 12, 6)
PRODUCT_STATUSES = ("draft", "pending", "published", "rejected", "archived")
PRODUCER_STATUSES = ("pending", "approved", "rejected", "suspended")


def rec(stars, valid_until, revoked=False):
    return Row(stars=stars, valid_until=valid_until, revoked=revoked)


def cert(verified=True, valid_from=None, valid_to=None):
    return Row(verified=verified, valid_from=valid_from, valid_to=valid_to)


def recall(lot="L1"):
    return pf.Recall(1, lot, "Dư lượng thuốc", dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc))


@pytest.mark.parametrize("product_status,producer_status", list(itertools.product(PRODUCT_STATUSES, PRODUCER_STATUSES)))
def test_listed_only_when_published_by_an_approved_producer(product_status, producer_status):
    assert pf.is_listed(product_status, producer_status) == (
        product_status == "published" and producer_status == "approved")


@pytest.mark.parametrize("listed,stock,recalls", list(itertools.product((True, False), (0, 1, 300), ((), (recall(),)))))
def test_sellable_needs_listed_stock_and_no_recall(listed, stock, recalls):
    facts = pf.product_facts(product_status="published", producer_status="approved" if listed else "suspended",
                             stock=stock, recalls=recalls, today=TODAY)
    assert facts.sellable == (listed and stock > 0 and not recalls)
    assert facts.stock_for_sale == (stock if facts.sellable else 0)
    expected = ("not_listed" if not listed else "recalled" if recalls else "in_stock" if stock else "out_of_stock")
    assert facts.availability.value == expected
    assert facts.state == ("hidden" if not listed else expected)


def test_a_recall_in_force_names_its_lots_and_stops_the_sale():
    facts = pf.product_facts(product_status="published", producer_status="approved", stock=300,
                             recalls=pf.recalls_of([Row(id=2, lot_code="B", status="recalled", recall_reason="x",
                                                        recalled_at=None),
                                                    Row(id=1, lot_code="A", status="closed", recall_reason="old",
                                                        recalled_at=None),
                                                    Row(id=3, lot_code="C", status="recalled", recall_reason="y",
                                                        recalled_at=None)]), today=TODAY)
    assert facts.recalled_lots == ("B", "C")  # a lifted recall (closed) is no longer in force
    assert not facts.sellable and facts.stock_for_sale == 0 and facts.state == "recalled"


def test_a_product_not_published_shows_its_status():
    for status in ("draft", "pending", "rejected", "archived"):
        assert pf.product_facts(product_status=status, producer_status="approved", stock=5, today=TODAY).state == status


def test_ocop_stars_in_force():
    lapsed, revoked = rec(5, TODAY - dt.timedelta(days=1)), rec(5, TODAY + dt.timedelta(days=10), revoked=True)
    three, four_short, four_long = rec(3, TODAY + dt.timedelta(days=900)), rec(4, TODAY), rec(4, TODAY + dt.timedelta(days=5))
    assert pf.ocop_in_force([lapsed, revoked], TODAY) is None
    assert pf.ocop_in_force([lapsed, three], TODAY) is three
    assert pf.ocop_in_force([three, four_short, four_long, lapsed, revoked], TODAY) is four_long
    assert pf.recognition_in_force(four_short, TODAY)  # valid through its last day
    assert not pf.recognition_in_force(four_short, TODAY + dt.timedelta(days=1))


@pytest.mark.parametrize("certificate,in_force", [
    (cert(), True),
    (cert(verified=False), False),
    (cert(valid_from=TODAY + dt.timedelta(days=1)), False),
    (cert(valid_from=TODAY, valid_to=TODAY), True),
    (cert(valid_to=TODAY - dt.timedelta(days=1)), False),
])
def test_certificates_in_force(certificate, in_force):
    assert pf.certification_in_force(certificate, TODAY) is in_force
    facts = pf.product_facts(product_status="published", producer_status="approved", stock=1,
                             certifications=[certificate], today=TODAY)
    assert (facts.certifications == (certificate,)) is in_force


STAMP_STATUSES = (None, "issued", "active", "void")


@pytest.mark.parametrize("status,lot_recalled,listed,suspicious",
                         list(itertools.product(STAMP_STATUSES, (False, True), (False, True), (False, True))))
def test_a_stamp_has_one_verdict_and_only_a_clean_one_is_genuine(status, lot_recalled, listed, suspicious):
    verdict = pf.stamp_verdict(stamp_status=status, lot_recalled=lot_recalled, listed=listed, suspicious=suspicious)
    assert verdict in set(pf.Verdict)
    if verdict is pf.Verdict.genuine:
        assert status == "active" and not lot_recalled and listed and not suspicious
    if status is None:
        assert verdict is pf.Verdict.unknown
    elif status == "void":
        assert verdict is pf.Verdict.void
    elif lot_recalled:
        assert verdict is pf.Verdict.recalled  # safety first, whatever else is true
    elif not listed:
        assert verdict is pf.Verdict.withdrawn
    elif status == "issued":
        assert verdict is pf.Verdict.not_activated
    else:
        assert verdict is (pf.Verdict.suspected_copy if suspicious else pf.Verdict.genuine)


def test_signs_of_copying():
    base = dict(threshold=5, other_province_seen=False, first_province=None, province=None)
    assert not pf.copy_suspected(scanners=5, **base)
    assert pf.copy_suspected(scanners=6, **base)
    assert pf.copy_suspected(scanners=1, **dict(base, other_province_seen=True))
    assert pf.copy_suspected(scanners=2, **dict(base, first_province=38, province=1))
    assert not pf.copy_suspected(scanners=2, **dict(base, first_province=38, province=38))


@pytest.mark.parametrize("listed,reasons,pullable,pushed,state", [
    (False, (), True, True, "not_listed"),
    (True, ("missing photo",), True, True, "refused"),
    (True, (), True, False, "listed"),      # the exchange pulls the feed
    (True, (), False, True, "listed"),      # the newest acknowledged push carried the item
    (True, (), False, False, "waiting"),    # nothing taken yet (or the last push was a deletion)
])
def test_one_definition_of_listed_on_an_exchange(listed, reasons, pullable, pushed, state):
    found = pf.exchange_listing("postmart", listed=listed, reasons=reasons, pullable=pullable, pushed_item=pushed)
    assert found.state.value == state and found.listed == (state == "listed")


def test_the_sql_forms_agree_with_the_rules(app, db):
    """Every product status × producer status × stock × recall × stars: the list filters
    (catalogue, figures) select exactly the products the Python rules say."""
    s = db.session
    today = TODAY
    products = []
    for n, (producer_status, product_status, stock, recalled, stars) in enumerate(itertools.product(
            PRODUCER_STATUSES, PRODUCT_STATUSES, (0, 7), (False, True), (None, 3, 5))):
        producer = make_producer(s, f"Cơ sở {n}", status=producer_status)
        product = make_product(s, producer, f"Sản phẩm {n}")
        product.status, product.stock = product_status, stock
        s.add(Batch(product=product, lot_code="L1", quantity=1, unit="kg", production_date=today,
                    status="recalled" if recalled else "closed", recall_reason="x" if recalled else ""))
        if stars:
            s.add(OcopRecognition(product=product, stars=stars, decision_no="1", decision_date=today,
                                  issuer_level="provincial", issuer_name="UBND", valid_until=today))
        s.add(OcopRecognition(product=product, stars=5, decision_no="2", decision_date=today, issuer_level="provincial",
                              issuer_name="UBND", valid_until=today - dt.timedelta(days=1)))  # lapsed: never counts
        products.append(product)
    s.commit()
    facts = pf.facts_of_many(s, products, today=today)
    joined = select(Product.id).join(Producer, Producer.id == Product.producer_id)
    assert set(s.scalars(joined.where(pf.listed_sql()))) == {p.id for p in products if facts[p.id].listed}
    assert set(s.scalars(joined.where(pf.sellable_sql()))) == {p.id for p in products if facts[p.id].sellable}
    assert set(s.scalars(joined.where(pf.has_recall_sql()))) == {p.id for p in products if facts[p.id].recalls}
    for stars in (3, 4, 5):
        assert set(s.scalars(joined.where(pf.stars_at_least_sql(stars, today)))) == {
            p.id for p in products if (facts[p.id].stars or 0) >= stars}
    # The catalogue's own query, with and without "for sale only", is built from them.
    assert {p.id for p in s.scalars(public_products_query(today=today))} == {
        p.id for p in products if facts[p.id].listed}
    assert {p.id for p in s.scalars(public_products_query(sellable_only=True, stars=4, today=today))} == {
        p.id for p in products if facts[p.id].sellable and (facts[p.id].stars or 0) >= 4}
