"""Items kept between feeds (:class:`~marketplace.models.FeedItem`), so that a full JSON feed
sends the items that did not change as they were, instead of building them again.

Exchanges poll the whole catalogue (hourly, daily) and between two polls few products
change.  Building an item takes its product row, photos, OCOP recognitions, certificates,
batches and recalls, and mapping it through the exchange's profile: most of a feed's time.
A kept item is served while its *fingerprint* still matches (the product's ``version``,
which every change of the product, its photos, OCOP, certificates, producer and recalls
bumps; its newest batch, which the traceability link names; the base URL and the profile)
and until its ``fresh_until`` day (the last day before an OCOP recognition or certificate
lapses or starts counting).  Anything else is built as in an uncached feed, and kept.

Keeping is best effort: it runs in a short transaction of its own, and a failure (another
writer holding SQLite's lock too long, two feeds storing the same item on PostgreSQL) only
means the item is built again next time.  The feed itself never depends on it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Iterator

import orjson
from sqlalchemy import String, and_, case, cast, delete, func, insert, not_, or_, select
from sqlalchemy.exc import SQLAlchemyError

from .. import public_facts, rawsql
from ..transactions import short_write
from ..models import Batch, FeedItem, Producer, Product
from . import canonical
from .profiles import Profile, mapped, reasons

log = logging.getLogger(__name__)
STORE_WAIT_MS = 1000  # how long keeping items waits for SQLite's write lock


def context_digest(profile: Profile, base_url: str) -> str:
    """What every item of one exchange's feed depends on besides its product: the profile
    (an officer's edit changes every item), the public base URL (in every link) and the
    item's own shape (:data:`canonical.ITEM_SCHEMA`, bumped with the code that builds it)."""
    return hashlib.sha256(json.dumps([canonical.ITEM_SCHEMA, profile.as_dict(), base_url],
                                     sort_keys=True).encode()).hexdigest()[:16]


def fingerprint(version: int, latest_batch: int | None, producer_updated_at, context: str) -> str:
    """The product's version, newest batch and producer's last change (a producer's edit
    changes its products' items, if only their ``updated_at``), and the feed's context."""
    return _built_from(version, latest_batch, producer_updated_at) + context


def _built_from(version: int, latest_batch: int | None, producer_updated_at) -> str:
    """The product's part of a fingerprint (the same for every exchange)."""
    return f"{version}:{latest_batch or 0}:{rawsql.moment_text(producer_updated_at)}:"


def _newest_batch():
    return select(func.max(Batch.id)).where(Batch.product_id == Product.id).scalar_subquery()


def _newest_batches():
    """Each product's newest batch, for joining: a whole catalogue's, found in one pass over
    the batches (not one lookup per product and use)."""
    return select(Batch.product_id, func.max(Batch.id).label("latest")).group_by(Batch.product_id).subquery()


def _holds(context: str, today: dt.date, latest_batch):
    """SQL: the kept item (``FeedItem``, joined) still holds: its fingerprint is the one
    :func:`fingerprint` makes of its product's row now (``latest_batch``: its newest batch's
    id, NULL for none), and its ``fresh_until`` has not passed.  Decided by the database, so a
    whole catalogue is checked without bringing every row to Python (NULL where no item is
    kept)."""
    built_from = (cast(Product.version, String) + ":" + cast(func.coalesce(latest_batch, 0), String) + ":"
                  + func.coalesce(rawsql.moment_text_sql(Producer.updated_at), "") + ":")
    return and_(FeedItem.fingerprint == built_from + context,
                or_(FeedItem.fresh_until.is_(None), FeedItem.fresh_until >= today))


def _product_rows(products=None):
    """Each public product (of ``products``: ids, or a statement selecting them) with what
    its item is built from."""
    stmt = (select(Product.id, Product.version, _newest_batch().label("latest_batch"),
                   Producer.updated_at.label("producer_updated_at"))
            .join(Producer, Producer.id == Product.producer_id).where(public_facts.listed_sql()))
    return stmt if products is None else stmt.where(Product.id.in_(products))


def _public_with_kept(exchange_id: int, context: str, today: dt.date, columns):
    """Each public product joined to its newest batch and to the item kept for
    ``exchange_id``, if any, selecting ``columns(newest, holds)`` (``holds``: whether the
    kept item still holds, as a column); and the :func:`_holds` condition, for a WHERE."""
    newest = _newest_batches()
    holds = _holds(context, today, newest.c.latest)
    stmt = (select(*columns(newest, case((holds, True), else_=False)))
            .join(Producer, Producer.id == Product.producer_id)
            .outerjoin(newest, newest.c.product_id == Product.id)
            .outerjoin(FeedItem, and_(FeedItem.exchange_id == exchange_id, FeedItem.product_id == Product.id))
            .where(public_facts.listed_sql()))
    return stmt, holds


def _kept_rows(exchange_id: int, context: str, today: dt.date):
    """Each public product with what its item is built from, the item kept for
    ``exchange_id``, if any, and whether it holds, in product id order."""
    stmt, _ = _public_with_kept(exchange_id, context, today, lambda newest, holds: (
        Product.id, Product.version, newest.c.latest.label("latest_batch"),
        Producer.updated_at.label("producer_updated_at"), FeedItem.body, holds.label("holds")))
    return stmt.order_by(Product.id)


def _verdicts(exchange_id: int, context: str, today: dt.date, products=None):
    """``(product id, refused)`` of each public product (of ``products``) whose kept item for
    ``exchange_id`` is a refusal that holds (refused true) or holds no more, or is missing
    (false): every other product's item holds and is taken."""
    stmt, holds = _public_with_kept(exchange_id, context, today, lambda newest, holds: (Product.id, holds))
    stmt = stmt.where(or_(FeedItem.body.is_(None), not_(holds)))
    return stmt if products is None else stmt.where(Product.id.in_(products))


def _kept(exchange_id: int, profile: Profile, context: str, row, item: dict, fresh_until) -> dict:
    """A built item as kept: the exchange's JSON of it, or None when the exchange refuses it."""
    body = None if reasons(profile, item) else orjson.dumps(mapped(profile, item))
    return {"exchange_id": exchange_id, "product_id": row.id, "body": body, "fresh_until": fresh_until,
            "fingerprint": fingerprint(row.version, row.latest_batch, row.producer_updated_at, context)}


def json_items(reader, engine, exchange_id: int, profile: Profile, *, base_url: str, today: dt.date,
               chunk: int = canonical.CHUNK) -> Iterator[bytes]:
    """The JSON of every public product's item that the exchange takes, in product id order
    (the same items, in the same order, as ``formats.write_json`` of ``canonical.iter_items``).

    ``reader`` is the feed's reading session; kept items are written through ``engine`` in
    transactions of their own, one per chunk that had items to build.
    """
    context = context_digest(profile, base_url)
    stmt = _kept_rows(exchange_id, context, today).execution_options(yield_per=chunk)
    for rows in reader.connection().execute(stmt).partitions(chunk):
        stale = {r.id for r in rows if not r.holds}
        built: dict[int, bytes | None] = {}
        if stale:
            by_id = {r.id: r for r in rows}
            keep = [_kept(exchange_id, profile, context, by_id[product_id], item, fresh_until)
                    for product_id, item, fresh_until in canonical.built_items(reader, sorted(stale), base_url=base_url,
                                                                                today=today)]
            built = {k["product_id"]: k["body"] for k in keep}
            store(engine, exchange_id, keep)
        for row in rows:
            body = built.get(row.id) if row.id in stale else row.body
            if body is not None:
                yield body


def refusals(reader, engine, exchanges: list[tuple[int, Profile]], *, base_url: str, today: dt.date,
             products=None, keep: bool = True, chunk: int = canonical.CHUNK) -> dict[int, set[int]]:
    """Per exchange id, the public products (of ``products``) whose item it refuses (pre-flight
    reasons): the verdict kept with each item where the item still holds, so a whole country's
    catalogue is judged without building it again (the database answers with only the
    refused and the stale); the rest are built, judged and kept, once for every exchange
    (the same items the feeds then serve as kept; not with ``keep`` false: a public page
    that must not write)."""
    contexts = {exchange_id: context_digest(profile, base_url) for exchange_id, profile in exchanges}
    connection = reader.connection()
    stale: dict[int, set[int]] = {}
    refused: dict[int, set[int]] = {}
    for exchange_id, _ in exchanges:
        found = connection.execute(_verdicts(exchange_id, contexts[exchange_id], today, products)).all()
        refused[exchange_id] = {product_id for product_id, held in found if held}
        stale[exchange_id] = {product_id for product_id, held in found if not held}
    to_build = sorted(set().union(*stale.values()))
    for start in range(0, len(to_build), chunk):
        ids = to_build[start:start + chunk]
        rows = {r.id: r for r in connection.execute(_product_rows(ids))}
        built: dict[int, list] = {exchange_id: [] for exchange_id, _ in exchanges}
        for product_id, item, fresh_until in canonical.built_items(reader, ids, base_url=base_url, today=today):
            for exchange_id, profile in exchanges:
                if product_id in stale[exchange_id]:
                    made = _kept(exchange_id, profile, contexts[exchange_id], rows[product_id], item, fresh_until)
                    built[exchange_id].append(made)
                    if made["body"] is None:
                        refused[exchange_id].add(product_id)
        for exchange_id, made in built.items() if keep else ():
            store(engine, exchange_id, made)
    return refused


def store(engine, exchange_id: int, rows: list[dict]) -> bool:
    """Keep built items (replacing older copies); False when that could not be done now."""
    if not rows:
        return True
    try:
        # behind another writer, give up soon: the feed waits, the items are only kept
        with short_write(engine, STORE_WAIT_MS) as connection:
            connection.execute(delete(FeedItem).where(
                FeedItem.exchange_id == exchange_id, FeedItem.product_id.in_([r["product_id"] for r in rows])))
            connection.execute(insert(FeedItem), rows)
        return True
    except SQLAlchemyError as exc:  # only a cache: the feed goes on, the items are built next time
        log.warning("feed items of exchange %s not kept: %s", exchange_id, exc)
        return False
