"""Change tracking (marketplace/changes.py): a product's version, updated_at, search text and
deliveries follow every change of its public facts by themselves.

The main test is generated from the models' columns at collection time: every column of a
tracked model that is not declared ``not_public`` is changed in turn, and the products it
feeds must get exactly one new version and one delivery per enabled exchange.  A column
added to a model later is covered without touching this file.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketplace import changes
from marketplace.feeds.service import configure_push, find_exchange
from marketplace.models import (Batch, Certification, Delivery, OcopRecognition, Producer, Product, ProductGroup,
                                ProductPhoto, TraceEvent, User)
from marketplace.models.base import utcnow
from marketplace.trace.service import LOCAL_TZ, append_event, create_batch, recall_batch
from tests.conftest import make_producer, make_product, make_user

ROOT = Path(__file__).resolve().parent.parent
DAY = dt.date(2026, 1, 15)
EXCHANGES = ("thanhhoa", "postmart")


@dataclass
class Tracked:
    p: Product          # published product of producer a, fed by every row below
    q: Product          # published product of producer b (rows are moved to it)
    a: Producer
    b: Producer
    coop: Producer
    group: ProductGroup  # another group than the products'
    officer: User
    rows: dict


@pytest.fixture
def tracked(app, db) -> Tracked:
    s = db.session
    coop = make_producer(s, "HTX Đồng Tiến", kind="cooperative")
    a, b = make_producer(s, "Hộ Trịnh Văn A"), make_producer(s, "Hộ Lê Thị B", ward=15667)
    officer = make_user(s, "officer@example.vn", role="officer")
    s.flush()
    p, q = make_product(s, a, "Gạo nếp cái hoa vàng", status="published"), make_product(s, b, "Mật ong", status="published")
    rows = {
        ProductPhoto: ProductPhoto(product=p, stem="anh-gao-1", width=800, height=600, position=1),
        OcopRecognition: OcopRecognition(product=p, stars=4, score=80, decision_no="12/QĐ-UBND", decision_date=DAY,
                                         certificate_no="GCN-1", issuer_level="provincial", issuer_name="UBND tỉnh",
                                         valid_until=DAY + dt.timedelta(days=1000)),
        "own": Certification(producer=a, product=p, scheme="organic", number="HC-1", body="Tổ chức chứng nhận",
                             verified=True, valid_from=DAY, valid_to=DAY + dt.timedelta(days=900)),
        "wide": Certification(producer=a, product=None, scheme="vietgap", number="VG-1", body="Trung tâm",
                              verified=True, valid_from=DAY, valid_to=DAY + dt.timedelta(days=900)),
        Batch: Batch(product=p, lot_code="LOT-1", quantity=Decimal("10"), unit="kg", production_date=DAY,
                     expiry_date=DAY + dt.timedelta(days=365), growing_area="Cánh đồng thôn 3"),
    }
    s.add_all(rows.values())
    for code in EXCHANGES:
        configure_push(find_exchange(s, code), endpoint="http://127.0.0.1:9/hooks", enabled=True, allow_private=True)
    s.commit()
    rows[Product], rows[Producer] = p, a
    other = s.scalars(select(ProductGroup).where(ProductGroup.code == "1.1")).one()
    return Tracked(p, q, a, b, coop, other, officer, rows)


def public_columns():
    """(row key, column name) of every public column of every tracked model."""
    found = []
    for model, rule in changes.TRACKED.items():
        keys = ("own", "wide") if model is Certification else (model,)
        for key in keys:
            found += [(key, c.name) for c in model.__table__.columns if c.name not in rule.not_public]
    return found


def private_columns():
    found = []
    for model, rule in changes.TRACKED.items():
        key = "own" if model is Certification else model
        found += [(key, c.name) for c in model.__table__.columns
                  if c.name in rule.not_public and c.name not in ("id", "version", "updated_at")]
    return found


def _key_id(key) -> str:
    return key if isinstance(key, str) else key.__name__


# Values for columns whose text must be one of a few (a status, a code, a GTIN…).
SPECIAL = {
    "status": {Product: "archived", Producer: "suspended", Batch: "recalled"},
    "kind": "enterprise", "unit": "g", "scheme": "haccp", "issuer_level": "central", "gtin": "08936045123453",
    "lot_code": "LOT-2", "stars": 5,
}


def new_value(t: Tracked, model, column, old):
    """A different, valid value for ``column`` of a row of ``model``."""
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column.table.name
        if target == "product":
            return t.q.id
        if target == "producer":
            return t.coop.id if column.name == "cooperative_id" else t.b.id
        if target == "product_group":
            return t.group.id
        if target == "user":
            return t.officer.id
        raise AssertionError(f"no value for {model.__name__}.{column.name} → {target}")
    if column.name in SPECIAL:
        value = SPECIAL[column.name]
        return value[model] if isinstance(value, dict) else value
    try:
        kind = column.type.python_type
    except NotImplementedError:  # a TypeDecorator (UTCDateTime): its underlying type's
        kind = column.type.impl.python_type
    if kind is bool:
        return not old
    if kind is int:
        return (old or 0) + 1
    if kind is Decimal:
        return (old or Decimal("0")) + 1
    if kind is dt.datetime:
        return (old or utcnow()) + dt.timedelta(hours=1)
    if kind is dt.date:
        return (old or DAY) + dt.timedelta(days=1)
    if kind is str:
        length = getattr(column.type, "length", None) or 200
        return ((old or "")[:length - 1] + ("Z" if not (old or "").endswith("Z") else "Y"))
    raise AssertionError(f"no value for {model.__name__}.{column.name} ({kind})")


def snapshot(db, *products) -> dict:
    db.session.expire_all()
    return {p.id: (p.version, p.updated_at, db.session.scalar(
        select(func.count()).select_from(Delivery).where(Delivery.product_id == p.id))) for p in products}


def change(db, t: Tracked, key, name):
    row = t.rows[key]
    model = type(row)
    column = model.__table__.columns[name]
    old = getattr(row, name)
    setattr(row, name, new_value(t, model, column, old))
    db.session.commit()
    return model


@pytest.mark.parametrize("key,name", public_columns(), ids=lambda v: _key_id(v) if not isinstance(v, str) or v in ("own", "wide") else v)
def test_each_public_column_bumps_its_products_once_and_queues_them(db, tracked, key, name):
    t = tracked
    before = snapshot(db, t.p, t.q)
    model = change(db, t, key, name)
    after = snapshot(db, t.p, t.q)
    column = model.__table__.columns[name]
    moved = (column.foreign_keys and next(iter(column.foreign_keys)).column.table.name == "product"
             and model is not Product) or (key == "wide" and name == "producer_id")
    fed = {t.p.id, t.q.id} if moved else {t.p.id}
    for product_id in (t.p.id, t.q.id):
        (v0, u0, d0), (v1, u1, d1) = before[product_id], after[product_id]
        if product_id in fed:
            assert (v1, d1) == (v0 + 1, d0 + len(EXCHANGES)), f"{_key_id(key)}.{name}: one version, one delivery each"
            assert u1 > u0
        else:
            assert (v1, u1, d1) == (v0, u0, d0), f"{_key_id(key)}.{name} does not feed product {product_id}"


@pytest.mark.parametrize("key,name", private_columns(), ids=lambda v: _key_id(v) if not isinstance(v, str) or v in ("own", "wide") else v)
def test_bookkeeping_columns_change_nothing_public(db, tracked, key, name):
    t = tracked
    before = snapshot(db, t.p, t.q)
    change(db, t, key, name)
    after = snapshot(db, t.p, t.q)
    assert after == before


def test_many_changes_and_flushes_in_one_transaction_are_one_version(db, tracked):
    t, s = tracked, db.session
    before = snapshot(db, t.p)[t.p.id]
    t.p.price_vnd += 1000
    s.flush()
    t.p.stock += 5
    s.add(ProductPhoto(product=t.p, stem="anh-gao-2", width=800, height=600, position=2))
    s.flush()
    t.rows[OcopRecognition].revoked = True
    recall_batch(t.rows[Batch], "Dư lượng thuốc trừ sâu")
    s.commit()
    version, _, deliveries = snapshot(db, t.p)[t.p.id]
    assert (version, deliveries) == (before[0] + 1, before[2] + len(EXCHANGES))


def test_a_rolled_back_change_leaves_nothing(db, tracked):
    t, s = tracked, db.session
    before = snapshot(db, t.p)
    t.p.price_vnd += 1000
    s.flush()
    s.rollback()
    t.p.stock += 1  # a later transaction's change is counted on its own
    s.commit()
    version, _, deliveries = snapshot(db, t.p)[t.p.id]
    assert (version, deliveries) == (before[t.p.id][0] + 1, before[t.p.id][2] + len(EXCHANGES))


def test_a_released_savepoint_does_not_bump_early(db, tracked):
    t, s = tracked, db.session
    before = snapshot(db, t.p)[t.p.id]
    with s.begin_nested():
        t.p.price_vnd += 1
    t.p.stock += 1
    s.commit()
    assert snapshot(db, t.p)[t.p.id][0] == before[0] + 1


def test_a_product_made_and_published_in_one_transaction_starts_at_version_one(db, tracked):
    s = db.session
    product = make_product(s, tracked.a, "Chè lam", status="published")
    s.add(ProductPhoto(product=product, stem="anh-che-1", width=800, height=600, position=1))
    s.commit()
    assert product.version == 1
    assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.product_id == product.id)) == len(EXCHANGES)
    assert "che lam" in product.search_text and "trinh van a" in product.search_text


def test_a_never_published_product_queues_nothing(db, tracked):
    s = db.session
    draft = make_product(s, tracked.a, "Bánh gai (nháp)")
    s.commit()
    draft.price_vnd += 1
    s.commit()
    assert draft.version == 2
    assert s.scalar(select(func.count()).select_from(Delivery).where(Delivery.product_id == draft.id)) == 0


def test_a_producer_rename_rebuilds_its_products_search_text(db, tracked):
    tracked.a.name = "Hợp tác xã Thọ Xuân"
    db.session.commit()
    assert "hop tac xa tho xuan" in tracked.p.search_text


def test_the_diary_moves_its_batch_not_the_product(db, tracked):
    t, s = tracked, db.session
    batch = t.rows[Batch]
    before, batch_before = snapshot(db, t.p)[t.p.id], batch.updated_at
    append_event(s, batch, kind="harvest", occurred_at=dt.datetime(2026, 1, 20, 7, 0, tzinfo=LOCAL_TZ),
                 place="Thôn 3", description="Thu hoạch")
    s.commit()
    assert batch.updated_at > batch_before
    assert snapshot(db, t.p)[t.p.id] == before
    assert s.scalar(select(func.count()).select_from(TraceEvent)) == 1


def test_a_new_batch_is_a_change_of_its_product(db, tracked):
    t, s = tracked, db.session
    before = snapshot(db, t.p)[t.p.id]
    create_batch(s, t.p, lot_code="LOT-9", quantity=Decimal("1"), unit="kg", production_date=DAY)
    s.commit()
    assert snapshot(db, t.p)[t.p.id][0] == before[0] + 1


def test_an_unverified_certificate_feeds_nothing_until_verified(db, tracked):
    t, s = tracked, db.session
    before = snapshot(db, t.p)[t.p.id]
    pending = Certification(producer=t.a, product=t.p, scheme="haccp", number="H-1", body="X", verified=False)
    s.add(pending)
    s.commit()
    pending.number = "H-2"
    s.commit()
    assert snapshot(db, t.p)[t.p.id] == before
    pending.verified = True
    s.commit()
    assert snapshot(db, t.p)[t.p.id][0] == before[0] + 1


def test_the_calendar_is_reported_not_bumped_by_hand(db, tracked):
    t, s = tracked, db.session
    before = snapshot(db, t.p, t.q)
    changes.calendar_changed(s, [t.q.id])
    s.commit()
    after = snapshot(db, t.p, t.q)
    assert after[t.p.id] == before[t.p.id]
    assert after[t.q.id][0] == before[t.q.id][0] + 1 and after[t.q.id][2] == before[t.q.id][2] + len(EXCHANGES)


def test_no_hand_written_bump_is_left_in_the_code():
    """Versions and updated_at are derived by marketplace/changes.py alone."""
    hand = re.compile(r"\.version\s*(\+=|=\s*\w+\.version\s*\+)|\btouch\(|\b(product|batch)\.updated_at\s*=")
    offenders = []
    for path in (ROOT / "marketplace").rglob("*.py"):
        if path.name == "changes.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if hand.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert offenders == []
