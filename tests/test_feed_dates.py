"""Catalogue items that change without an edit, pushed all the same: OCOP recognitions and
certificates that lapse or start counting (``feeds.dates``, swept once a day by the worker),
and a new batch, whose page is the traceability link of a product without a GTIN.

Deliveries go to a real receiver on 127.0.0.1 (``tests.test_push.Receiver``) that checks
every signature; "tomorrow" is given to the sweep and to the worker's clock.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy import func, select

from marketplace.feeds import canonical, dates, worker
from marketplace.feeds.profiles import id_field, mapped, profile_of, reasons
from marketplace.models import Certification, DailyJob, Delivery, OcopRecognition
from marketplace.models.base import local_today
from marketplace.trace.service import create_batch
from tests.test_push import BASE_URL, connect, drain, listed, papp, pdb  # noqa: F401 (fixtures)


def recognition(product, valid_until):
    return OcopRecognition(product=product, stars=4, decision_no="88/QĐ-UBND", decision_date=dt.date(2024, 1, 5),
                           certificate_no="GCN-OCOP-88", issuer_level="provincial", issuer_name="UBND tỉnh Thanh Hóa",
                           valid_until=valid_until)


def certificate(producer, number, *, product=None, valid_from=None, valid_to=None):
    return Certification(producer=producer, product=product, scheme="vietgap", number=number, body="QUACERT",
                         valid_from=valid_from, valid_to=valid_to, verified=True,
                         verified_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc))


def catalogue_on(db, exchange, day) -> dict:
    """What the exchange should hold on ``day``: its accepted items, in its own fields."""
    profile = profile_of(exchange)
    out = {}
    for item in canonical.iter_items(db.session, base_url=BASE_URL, today=day):
        if not reasons(profile, item):
            data = dict(mapped(profile, item), version=item["version"])
            out[data[id_field(profile)]] = data
    db.session.commit()
    return json.loads(json.dumps(out))


def pending(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "pending"))


def test_lapses_and_starts_are_pushed_once_a_day(pdb, papp, world, monkeypatch):
    s, today = pdb.session, local_today()
    tomorrow = today + dt.timedelta(days=1)
    receiver, exchange = connect(pdb)
    try:
        starred, certified, plain = listed(pdb, world.a, 3)
        b_products = listed(pdb, world.b, 2, prefix="Mật ong")
        s.add(recognition(starred, today))                                       # stars through today
        s.add(certificate(world.a, "VG-START", product=certified, valid_from=tomorrow))
        s.add(certificate(world.b, "VG-ALL-B", valid_to=today))                  # producer-wide, ends today
        s.commit()  # adding them is a change of the products' facts: pushed by itself
        drain(pdb, papp)
        key = canonical.item_id
        assert receiver.state[key(starred.id)]["sao_ocop"] == 4
        assert "VG-ALL-B" in receiver.state[key(b_products[0].id)]["chung_nhan"]

        # The first sweep looks back one day: nothing has turned yet.
        plain_version = plain.version
        assert dates.sweep(s, today=today) == 0
        assert dates.sweep(s, today=today) is None  # once a day
        assert pending(pdb) == 0

        # Tomorrow: the stars lapse, one certificate starts and the producer-wide one ends.
        assert dates.sweep(s, today=tomorrow) == 4
        assert dates.sweep(s, today=tomorrow) is None
        monkeypatch.setattr(worker, "local_today", lambda: tomorrow)
        drain(pdb, papp)
        assert receiver.state[key(starred.id)]["sao_ocop"] is None
        assert "VG-START" in receiver.state[key(certified.id)]["chung_nhan"]
        assert all("VG-ALL-B" not in receiver.state[key(p.id)]["chung_nhan"] for p in b_products)
        assert json.loads(json.dumps(receiver.state)) == catalogue_on(pdb, exchange, tomorrow)
        assert plain.version == plain_version  # untouched by the sweep
    finally:
        receiver.close()


def test_a_worker_that_was_down_catches_up(pdb, papp, world):
    s, today = pdb.session, local_today()
    product = listed(pdb, world.a, 1)[0]
    s.add(certificate(world.a, "VG-SHORT", product=product, valid_to=today + dt.timedelta(days=3)))
    s.commit()
    assert dates.sweep(s, today=today) == 0
    before = product.version
    # Down for ten days: the day the certificate lapsed is caught up on.
    assert dates.sweep(s, today=today + dt.timedelta(days=10)) == 1
    assert product.version == before + 1
    assert s.get(DailyJob, dates.JOB).last_day == today + dt.timedelta(days=10)


def test_changed_by_date_boundaries(pdb, world):
    s, today = pdb.session, local_today()
    product = listed(pdb, world.a, 1)[0]
    s.add(recognition(product, today + dt.timedelta(days=5)))
    s.commit()
    day = today + dt.timedelta(days=5)  # the last valid day; it lapses on day + 1
    assert dates.changed_by_date(s, after=today, through=day) == []
    assert dates.changed_by_date(s, after=day, through=day + dt.timedelta(days=1)) == [product.id]
    assert dates.changed_by_date(s, after=day + dt.timedelta(days=1), through=day + dt.timedelta(days=9)) == []
    # Revoked recognitions and products that are not listed are left alone.
    s.scalars(select(OcopRecognition)).one().revoked = True
    s.commit()
    assert dates.changed_by_date(s, after=day, through=day + dt.timedelta(days=1)) == []
    s.add(recognition(world.product_a, day))  # a draft
    s.commit()
    assert dates.changed_by_date(s, after=day, through=day + dt.timedelta(days=1)) == []


def test_a_new_batch_pushes_the_new_traceability_link(pdb, papp, world):
    receiver, exchange = connect(pdb)
    try:
        product = listed(pdb, world.a, 1)[0]
        drain(pdb, papp)
        first = create_batch(pdb.session, product, lot_code="L-2025-09", quantity=Decimal("5"), unit="kg",
                             production_date=dt.date(2025, 9, 1))
        pdb.session.commit()
        drain(pdb, papp)
        key = canonical.item_id(product.id)
        assert receiver.state[key]["truy_xuat_nguon_goc"] == f"{BASE_URL}/lot/{first.id}"
        second = create_batch(pdb.session, product, lot_code="L-2025-10", quantity=Decimal("5"), unit="kg",
                              production_date=dt.date(2025, 10, 1))
        pdb.session.commit()
        drain(pdb, papp)
        assert receiver.state[key]["truy_xuat_nguon_goc"] == f"{BASE_URL}/lot/{second.id}"
    finally:
        receiver.close()


def test_a_new_batch_of_a_gtin_product_keeps_its_digital_link(pdb, world):
    product = listed(pdb, world.a, 1)[0]
    product.gtin = "08936045123453"
    pdb.session.commit()
    version = product.version
    before = canonical.item_for(pdb.session, product.id, base_url=BASE_URL, today=local_today())
    create_batch(pdb.session, product, lot_code="L-GTIN", quantity=Decimal("5"), unit="kg",
                 production_date=dt.date(2025, 9, 1))
    pdb.session.commit()
    after = canonical.item_for(pdb.session, product.id, base_url=BASE_URL, today=local_today())
    assert after["traceability_url"] == before["traceability_url"] == f"{BASE_URL}/01/08936045123453"
    assert product.version == version + 1  # a new lot is a change of the product's facts all the same


def test_expire_command_applies_once_a_day(pdb, world, runner):
    s, today = pdb.session, local_today()
    product = listed(pdb, world.a, 1)[0]
    s.add(recognition(product, today - dt.timedelta(days=1)))  # lapsed last night
    s.commit()
    version = product.version
    first = runner.invoke(args=["expire"])
    assert first.exit_code == 0, first.output
    assert "1 products changed" in first.output
    s.refresh(product)
    assert product.version == version + 1
    again = runner.invoke(args=["expire"])
    assert again.exit_code == 0 and "already applied" in again.output
    s.refresh(product)
    assert product.version == version + 1
