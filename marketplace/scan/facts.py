"""What a stamp page shows, looked up fast.

Per request: one indexed query (stamp → run, batch → product → producer, and whether this
scanner was seen on the stamp) for everything that can change from one scan to the next: the
stamp's status and counters, the batch's recall, the
product's and producer's status (the verdict, :func:`public_facts.stamp_verdict`, is decided
from them on every scan).  The rest (names, photo, diary, certificates, OCOP, the product's
recalls in force) is built once per batch and cached in the process, keyed by the batch's,
product's and producer's ``updated_at`` (which move with every change of what the page
shows: ``marketplace.changes``) and by the date (OCOP and certificates lapse by the day),
and kept at most ``TTL`` seconds.
"""
from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, or_, select, text

from .. import geo, public_facts, rawsql
from ..models import (Batch, Certification, OcopRecognition, Producer, Product, ProductPhoto, TraceEvent,
                      listings_changed_sql)
from ..models.base import LOCAL_TZ, local_today

TTL = 60.0
CACHE_SIZE = 2048
DIARY_KINDS = ("seeding", "harvest", "processing", "packing", "inspection", "shipping")

def _lookup(with_listings: bool):
    return text(
        "SELECT s.id, s.status, s.scan_count, s.first_scan_at, s.first_scan_province, s.other_province_seen, "
        "b.id, b.status, b.recall_reason, b.recalled_at, b.updated_at, p.updated_at, pr.updated_at, "
        "p.status, pr.status, s.scanner_count, pr.id, pr.cooperative_id, r.scratch, "
        # the scanner this client is already known as on this stamp, if any (scan.scanner): its
        # scanner of today, or of yesterday's key if seen in the last half hour (scan/scanner.py);
        # not looked for on a stamp no buyer has scanned yet (most scans: no index probe), and
        # each key looked for in the index (stamp_id, scanner) by itself, so only a row of this
        # client is read from the table (a scanned stamp's other scans cost no random read)
        "CASE WHEN s.first_scan_at IS NULL THEN NULL ELSE COALESCE("
        "(SELECT sc.scanner FROM scan sc WHERE sc.stamp_id = s.id AND sc.scanner = :scanner LIMIT 1), "
        "(SELECT sc.scanner FROM scan sc WHERE sc.stamp_id = s.id AND sc.scanner = :known_as "
        "  AND sc.scanned_at >= :since LIMIT 1)) END"
        # what the page's "buy again" links follow (facts of the exchanges, not of the batch)
        + (", " + listings_changed_sql("p.id") if with_listings else "") +
        " FROM stamp s JOIN stamp_run r ON r.id = s.run_id JOIN batch b ON b.id = s.batch_id "
        "JOIN product p ON p.id = b.product_id JOIN producer pr ON pr.id = p.producer_id WHERE s.serial = :serial"
    )


_LOOKUP, _LOOKUP_NO_LISTINGS = _lookup(True), _lookup(False)


@dataclass(frozen=True)
class StampState:
    id: int
    status: str
    scan_count: int
    first_scan_at: dt.datetime | None
    first_scan_province: int | None
    other_province_seen: bool
    batch_id: int
    batch_status: str
    recall_reason: str
    recalled_at: dt.datetime | None
    product_status: str
    producer_status: str
    cache_key: tuple
    scanner_count: int = 0          # distinct scanners so far (written scans)
    producer_id: int | None = None
    cooperative_id: int | None = None
    scratch: bool = False           # its run has scratch-off codes
    seen_as: str | None = None      # the scanner this client was already recorded as
    listings: tuple = ()            # moves when the product's "buy again" links may change (the frame keys on it)

    @property
    def lot_recalled(self) -> bool:
        return public_facts.recall_in_force(self.batch_status)

    @property
    def listed(self) -> bool:
        return public_facts.is_listed(self.product_status, self.producer_status)

    @property
    def on_exchanges(self) -> bool:
        """The product has a page on an exchange (a row of it: ``listings``' newest change)."""
        return bool(self.listings and self.listings[1])


def lot_key(batch_id: int, batch_updated, product_updated, producer_updated) -> tuple:
    """What a lot's cached facts and frames are kept under: the lot, its product's and
    producer's ``updated_at`` (in one text form whatever read them) and today's date."""
    return (batch_id, rawsql.moment_text(batch_updated), rawsql.moment_text(product_updated),
            rawsql.moment_text(producer_updated), local_today())


def batch_cache_key(batch: Batch) -> tuple:
    return lot_key(batch.id, batch.updated_at, batch.product.updated_at, batch.product.producer.updated_at)


def stamp_state(engine, serial: str, scanner: str = "", known_as: str = "",
                since: dt.datetime | None = None, listings: bool = True) -> StampState | None:
    """The per-scan facts in one indexed query, straight on a pooled DBAPI connection.

    The stamp page is the busiest page of the service: going through the ORM session (and
    SQLAlchemy's transaction events) cost it ~10× this query, so it reads with the driver's
    cursor, in autocommit (:func:`rawsql.fetch_one`: one round trip on PostgreSQL).  Without
    ``listings`` (the Digital Link's redirect, which renders no page) it leaves out what the
    page's "buy again" links follow (``StampState.listings`` is then empty).
    """
    row = rawsql.fetch_one(engine, _LOOKUP if listings else _LOOKUP_NO_LISTINGS, {
        "serial": serial, "scanner": scanner, "known_as": known_as or scanner,
        "since": rawsql.timestamp(engine.dialect, since or dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))})
    if row is None:
        return None
    return StampState(
        id=row[0], status=row[1], scan_count=row[2], first_scan_at=rawsql.moment(row[3]), first_scan_province=row[4],
        other_province_seen=bool(row[5]), batch_id=row[6], batch_status=row[7], recall_reason=row[8] or "",
        recalled_at=rawsql.moment(row[9]), product_status=row[13], producer_status=row[14],
        cache_key=lot_key(row[6], row[10], row[11], row[12]),
        scanner_count=row[15] or 0, producer_id=row[16], cooperative_id=row[17], scratch=bool(row[18]),
        seen_as=row[19], listings=rawsql.state_values(row[20:23]),
    )


@functools.lru_cache(maxsize=1)
def _facts_statements():
    """The selects of :func:`build_batch_facts`, built once, each bound by the batch's id alone
    (its product and producer found by subqueries), so that all of them go to the database
    together (:func:`rawsql.fetch_lists`: one round trip on PostgreSQL, no ORM, no session)."""
    batch_id = bindparam("batch_id")
    product_id = select(Batch.product_id).where(Batch.id == batch_id).scalar_subquery()
    producer_id = select(Product.producer_id).where(Product.id == product_id).scalar_subquery()
    photo = (select(ProductPhoto.stem).where(ProductPhoto.product_id == Product.id).order_by(ProductPhoto.position)
             .limit(1).scalar_subquery())
    recognitions, certifications = OcopRecognition.__table__, Certification.__table__
    return (
        select(Batch.id, Batch.lot_code, Batch.production_date, Batch.expiry_date, Product.id.label("product_id"),
               Product.name, Product.slug, Product.status, Product.stock, Product.net_quantity, Product.unit,
               Product.gtin, Product.version, Producer.id.label("producer_id"), Producer.name.label("producer_name"),
               Producer.slug.label("producer_slug"), Producer.kind, Producer.phone, Producer.ward_code,
               Producer.province_code, Producer.status.label("producer_status"), photo.label("photo"))
        .join(Product, Product.id == Batch.product_id).join(Producer, Producer.id == Product.producer_id)
        .where(Batch.id == batch_id),
        select(recognitions).where(recognitions.c.product_id == product_id)
        .order_by(recognitions.c.decision_date.desc()),
        # its own certificates, then its producer's facility-wide ones (public_facts.certifications_for)
        select(certifications).where(or_(certifications.c.product_id == product_id, and_(
            certifications.c.producer_id == producer_id, certifications.c.product_id.is_(None))))
        .order_by(certifications.c.product_id.is_(None), certifications.c.id),
        select(Batch.id, Batch.lot_code, Batch.status, Batch.recall_reason, Batch.recalled_at)
        .where(Batch.product_id == product_id),
        select(TraceEvent.id, TraceEvent.kind, TraceEvent.occurred_at, TraceEvent.place, TraceEvent.corrects_id)
        .where(TraceEvent.batch_id == batch_id).order_by(TraceEvent.seq),
    )


def build_batch_facts(engine, batch_id: int) -> dict:
    """Everything about a batch that a buyer sees, as plain data (cacheable, JSON-able),
    decided by :mod:`public_facts` from rows."""
    (row,), recognitions, certifications, batches, events = rawsql.fetch_lists(
        engine, _facts_statements(), {"batch_id": batch_id})
    today = local_today()
    facts = public_facts.product_facts(
        product_status=row.status, producer_status=row.producer_status, stock=row.stock,
        recalls=public_facts.recalls_of(batches), recognitions=recognitions, certifications=certifications,
        today=today)
    ocop = facts.ocop
    ward = geo.ward(row.ward_code)
    province = geo.province(row.province_code)
    corrected = {e.corrects_id for e in events if e.corrects_id}
    diary = [
        {"kind": e.kind, "date": e.occurred_at.astimezone(LOCAL_TZ).date().isoformat(),
         "place": e.place}
        for e in events if e.kind in DIARY_KINDS and e.id not in corrected
    ]
    return {
        "product": {"id": row.product_id, "name": row.name, "slug": row.slug, "listed": facts.listed,
                    "sellable": facts.sellable, "net_quantity": row.net_quantity, "unit": row.unit,
                    "photo": row.photo, "gtin": row.gtin, "version": row.version},
        "producer": {"name": row.producer_name, "slug": row.producer_slug, "kind": row.kind, "phone": row.phone,
                     "commune": ward.name if ward else "", "province": province.short if province else ""},
        # The product's recalls in force: this lot's, or another lot's (a stamp of this lot says so).
        "recalls": [{"lot": r.lot, "reason": r.reason, "recalled_at": r.recalled_at.isoformat() if r.recalled_at else None,
                     "this_lot": r.batch_id == batch_id} for r in facts.recalls],
        "batch": {"lot": row.lot_code, "production_date": row.production_date.isoformat(),
                  "expiry_date": row.expiry_date.isoformat() if row.expiry_date else None},
        "ocop": ({"stars": ocop.stars, "certificate_no": ocop.certificate_no, "issuer": ocop.issuer_name,
                  "valid_until": ocop.valid_until.isoformat()} if ocop else None),
        "certifications": [{"scheme": c.scheme, "number": c.number, "body": c.body,
                            "valid_to": c.valid_to.isoformat() if c.valid_to else None}
                           for c in facts.certifications],
        "diary": diary,
        "built_on": today.isoformat(),
    }


class _Entry:
    __slots__ = ("made", "facts", "fragments")

    def __init__(self, made: float):
        self.made, self.facts, self.fragments = made, None, {}


class FactsCache:
    """Batch facts and HTML rendered from them (per language), keyed by the batch's cache key.

    An entry lives at most ``ttl`` seconds (OCOP and certificate validity follow the
    calendar) and the key changes with any edit of the batch, product or producer, so an
    edit shows on the next scan.  The facts are read when first needed: a fragment found
    ready elsewhere (``kept``: the frames rendered ahead, ``scan/frames.py``) needs none.
    """

    def __init__(self, ttl: float = TTL, size: int = CACHE_SIZE):
        self.ttl, self.size = ttl, size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, engine, state: StampState) -> dict:
        return self.facts(engine, state.cache_key)

    def get_for_batch(self, engine, batch: Batch) -> dict:
        return self.facts(engine, batch_cache_key(batch))

    def facts(self, engine, key: tuple) -> dict:
        """The batch's facts under ``key``, read when first asked for."""
        return self._facts(engine, key, self._entry(key))

    def fragment(self, engine, key: tuple, variant, render, kept=None) -> str:
        """``render(facts)`` for this batch, computed once per entry and ``variant`` (the
        caller's name for what else the result depends on, e.g. the language); ``kept()``,
        when given, is asked first for one made ahead (None: there is none)."""
        entry = self._entry(key)
        html = entry.fragments.get(variant)
        if html is None:
            html = kept() if kept is not None else None
            if html is None:
                html = render(self._facts(engine, key, entry))
            entry.fragments[variant] = html
        return html

    def _entry(self, key: tuple) -> _Entry:
        now = time.monotonic()
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and now - entry.made < self.ttl:
                self._data.move_to_end(key)
                return entry
            entry = self._data[key] = _Entry(now)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return entry

    @staticmethod
    def _facts(engine, key: tuple, entry: _Entry) -> dict:
        if entry.facts is None:
            entry.facts = build_batch_facts(engine, key[0])
        return entry.facts


# The process's cache, shared by the stamp page and the Digital Link resolver's redirect to it.
batch_facts = FactsCache()
