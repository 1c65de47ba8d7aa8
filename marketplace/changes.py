"""Change tracking: a product's ``version`` and ``updated_at`` follow its public facts by
themselves, and every change is queued for the exchanges (the outbox) in its own transaction.

Nobody bumps a version by hand.  Every flush notes which products' public facts the flushed
rows feed (:data:`TRACKED`: the product itself, its photos, its producer, OCOP recognitions,
certificates, batches and recalls).  When the transaction commits, each of those products
gets one new ``version`` and ``updated_at`` (once per transaction, however many rows and
flushes changed it) and its search text rebuilt, and the outbox writes one delivery per
exchange that takes pushes for each product ever published.  A batch's ``updated_at``
(which the stamp pages' caches key on) moves the same way when the batch or its diary
changes.

Every column of a tracked model is public unless its rule names it in ``not_public``, so a
column added later is covered without anyone having to remember it (``tests/test_changes.py``
changes each public column in turn).  The one change no row records, the calendar (an OCOP
recognition or certificate lapsing overnight), is reported by the daily sweep
(``feeds/dates.py``) with :func:`calendar_changed`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.interfaces import MANYTOONE

from . import geo
from . import outbox
from .models import (Batch, Certification, OcopRecognition, Producer, Product, ProductGroup, ProductPhoto,
                     TraceEvent)
from .models.base import utcnow
from .text import fold

_KEY = "marketplace.changes"


@dataclass(frozen=True)
class Tracked:
    """How the rows of one model feed products' public facts.

    :param not_public: columns whose change no buyer or exchange can see (bookkeeping)
    :param products: ``(session, value)`` → ids of the products one row feeds, ``value(column)``
        reading the row as it is or as it was (a row moved to another product feeds both)
    :param batch: ``value`` → the batch whose ``updated_at`` a change of the row moves
    :param public_row: ``value`` → False for rows that feed nothing (an unverified certificate)
    """
    not_public: frozenset
    products: Callable
    batch: Callable | None = None
    public_row: Callable | None = None


def _own(session, value):
    return [value("id")]


def _of_product(session, value):
    return [value("product_id")]


def _products_of_producer(session, producer_id) -> list:
    if producer_id is None:
        return []
    return list(session.scalars(select(Product.id).where(Product.producer_id == producer_id)))


def _of_producer(session, value):
    return _products_of_producer(session, value("id"))


def _of_certification(session, value):
    """A product's own certificate, or a facility-wide one: every product of the producer."""
    if value("product_id") is not None:
        return [value("product_id")]
    return _products_of_producer(session, value("producer_id"))


TRACKED: dict[type, Tracked] = {
    Product: Tracked(frozenset({"id", "version", "updated_at", "created_at", "search_text", "review_note"}), _own),
    ProductPhoto: Tracked(frozenset({"id", "created_at"}), _of_product),
    Producer: Tracked(frozenset({"id", "created_at", "updated_at", "reviewed_at", "review_note"}), _of_producer),
    OcopRecognition: Tracked(frozenset({"id", "created_at", "recorded_by_id"}), _of_product),
    Certification: Tracked(frozenset({"id", "created_at", "document", "verified_by_id", "verified_at"}),
                           _of_certification, public_row=lambda value: bool(value("verified"))),
    Batch: Tracked(frozenset({"id", "created_at", "updated_at", "created_by_id", "recalled_by_id",
                              "recall_lifted_by_id", "recall_lift_note"}),
                   _of_product, batch=lambda value: value("id")),
}


# What the search text is made of (:func:`search_text`): a change of one of these rebuilds it.
SEARCHED = {Product: frozenset({"name", "description", "ingredients", "group_id", "origin_ward_code", "producer_id",
                                 "name_en", "description_en", "ingredients_en"}),
            Producer: frozenset({"name", "ward_code"})}


@dataclass
class _Pending:
    products: set = field(default_factory=set)   # ids of products whose public facts changed
    created: set = field(default_factory=set)    # Product objects made in this transaction
    batches: set = field(default_factory=set)    # ids of batches whose updated_at moves
    searched: set = field(default_factory=set)   # ids of products whose search text is rebuilt


def _pending(session) -> _Pending:
    found = session.info.get(_KEY)
    if found is None:
        found = session.info[_KEY] = _Pending()
    return found


def calendar_changed(session, product_ids: Iterable[int]) -> None:
    """Products whose facts changed with the date alone (a recognition or certificate lapsed
    or started counting): a new version and deliveries at commit, like any other change."""
    _pending(session).products.update(product_ids)


def _reader(obj, *, before: bool) -> Callable:
    """``value(column)`` of ``obj`` as it is (``before=False``) or as the database holds it
    (``before=True``).  A foreign key not yet set from its relationship (``product=…`` on a
    new row) is read through the relationship: the related object's id, or a new Product."""
    state = inspect(obj)

    def value(key):
        attr = state.attrs[key]
        history = attr.load_history() if state.has_identity else attr.history
        found = (history.deleted or history.unchanged) if before else (history.added or history.unchanged)
        if found and found[0] is not None:
            return found[0]
        if before:
            return None
        for rel in state.mapper.relationships:
            if rel.direction is MANYTOONE and any(c.key == key for c in rel.local_columns):
                related = state.attrs[rel.key].history
                targets = related.added or related.unchanged
                if targets and targets[0] is not None:
                    target = inspect(targets[0])
                    return target.identity[0] if target.has_identity else (
                        targets[0] if isinstance(targets[0], Product) else None)
        return None

    return value


def _changed(obj, columns) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)


def public_change(obj, rule: Tracked) -> bool:
    """Did a public column of ``obj`` (or a many-to-one relationship over one) change?"""
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        if attr.key not in rule.not_public and state.attrs[attr.key].history.has_changes():
            return True
    return any(rel.direction is MANYTOONE and any(c.key not in rule.not_public for c in rel.local_columns)
               and state.attrs[rel.key].history.has_changes() for rel in state.mapper.relationships)


def _note(session, pending: _Pending, rule: Tracked, value) -> None:
    if rule.public_row is not None and not rule.public_row(value):
        return
    for product in rule.products(session, value):
        if isinstance(product, Product):  # a product made in this same transaction
            continue
        if product is not None:
            pending.products.add(product)
    if rule.batch is not None and rule.batch(value) is not None:
        pending.batches.add(rule.batch(value))


def _collect(session, flush_context, instances) -> None:
    """``before_flush``: note what this flush changes (the bumps wait for the commit)."""
    new, dirty, deleted = list(session.new), list(session.dirty), list(session.deleted)
    if not any(type(o) in TRACKED or isinstance(o, TraceEvent) for o in (*new, *dirty, *deleted)):
        return
    pending = _pending(session)
    with session.no_autoflush:
        pending.created.update(o for o in new if isinstance(o, Product))
        for obj in new:
            rule = TRACKED.get(type(obj))
            if isinstance(obj, Product):
                continue
            if rule is not None:
                _note(session, pending, rule, _reader(obj, before=False))
            elif isinstance(obj, TraceEvent):  # the diary shows on stamp and lot pages
                batch_id = _reader(obj, before=False)("batch_id")
                if batch_id is not None:
                    pending.batches.add(batch_id)
        for obj in dirty:
            rule = TRACKED.get(type(obj))
            if rule is None or not public_change(obj, rule):
                continue
            _note(session, pending, rule, _reader(obj, before=False))
            _note(session, pending, rule, _reader(obj, before=True))
            if type(obj) in SEARCHED and _changed(obj, SEARCHED[type(obj)]):
                pending.searched.update(rule.products(session, _reader(obj, before=False)))
        for obj in deleted:
            rule = TRACKED.get(type(obj))
            if rule is not None:
                _note(session, pending, rule, _reader(obj, before=True))


def search_text(product: Product, producer: Producer, group: ProductGroup | None) -> str:
    """Folded (no diacritics, lower case) name, producer, description, ingredients, group and
    place, with the English name, description and ingredients: what the catalogue's search matches words
    against, in either language."""
    parts = [product.name, product.name_en, producer.name, product.description, product.description_en,
             product.ingredients, product.ingredients_en]
    if group is not None:
        parts += [group.name_vi, group.name_en]
    parts.append(geo.place_name(product.origin_ward_code or producer.ward_code))
    return fold(" ".join(p for p in parts if p))


def _refresh_search(session, product: Product) -> None:
    producer = product.producer or session.get(Producer, product.producer_id)
    group = session.get(ProductGroup, product.group_id) if product.group_id else None
    product.search_text = search_text(product, producer, group)


def _apply(session) -> None:
    """``before_commit`` of the outermost transaction: one new version per changed product,
    the derived search text, the deliveries, and the batches' ``updated_at``."""
    if session.in_nested_transaction():
        return
    session.flush()  # what is still unflushed is noted first (commit would flush it next anyway)
    pending = session.info.pop(_KEY, None)
    if pending is None:
        return
    created = [p for p in pending.created if p in session]
    ids = sorted(pending.products - {p.id for p in created})
    changed = list(session.scalars(select(Product).where(Product.id.in_(ids)).order_by(Product.id))) if ids else []
    now = utcnow()
    for product in changed:
        product.version = (product.version or 1) + 1
        product.updated_at = now
    for product in (*created, *(p for p in changed if p.id in pending.searched)):
        _refresh_search(session, product)
    if pending.batches:
        for batch in session.scalars(select(Batch).where(Batch.id.in_(sorted(pending.batches)))):
            batch.updated_at = now
    listed = [p for p in (*created, *changed) if p.published_at is not None]
    if listed:
        targets = outbox.push_targets(session)
        for product in listed:
            outbox.enqueue(session, product, targets)
    session.flush()
    session.info.pop(_KEY, None)  # that flush changed nothing public


def _forget(session, transaction) -> None:
    """``after_transaction_end``: a rolled-back transaction's notes go with it."""
    if transaction.parent is None:
        session.info.pop(_KEY, None)


def register() -> None:
    """Listen on every session (idempotent): called by the application factory."""
    for name, fn in (("before_flush", _collect), ("before_commit", _apply), ("after_transaction_end", _forget)):
        if not event.contains(Session, name, fn):
            event.listen(Session, name, fn)
