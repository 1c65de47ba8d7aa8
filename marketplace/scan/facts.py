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
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from .. import geo, public_facts, rawsql
from ..models import Batch, Product
from ..models.base import local_today

TTL = 60.0
CACHE_SIZE = 2048
DIARY_KINDS = ("seeding", "harvest", "processing", "packing", "inspection", "shipping")

_LOOKUP = text(
    "SELECT s.id, s.status, s.scan_count, s.first_scan_at, s.first_scan_province, s.other_province_seen, "
    "b.id, b.status, b.recall_reason, b.recalled_at, b.updated_at, p.updated_at, pr.updated_at, "
    "p.status, pr.status, s.scanner_count, pr.id, pr.cooperative_id, r.scratch, "
    # the scanner this client is already known as on this stamp, if any (scan.scanner): its
    # scanner of today, or of yesterday's key if seen in the last half hour (scan/scanner.py)
    "(SELECT MIN(sc.scanner) FROM scan sc WHERE sc.stamp_id = s.id AND (sc.scanner = :scanner "
    "  OR (sc.scanner = :known_as AND sc.scanned_at >= :since))) "
    "FROM stamp s JOIN stamp_run r ON r.id = s.run_id JOIN batch b ON b.id = s.batch_id "
    "JOIN product p ON p.id = b.product_id JOIN producer pr ON pr.id = p.producer_id WHERE s.serial = :serial"
)


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

    @property
    def lot_recalled(self) -> bool:
        return public_facts.recall_in_force(self.batch_status)

    @property
    def listed(self) -> bool:
        return public_facts.is_listed(self.product_status, self.producer_status)


def _aware(value):
    if value is None:
        return None
    if isinstance(value, str):  # SQLite through the DBAPI: naive UTC as ISO text
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def batch_cache_key(batch: Batch) -> tuple:
    product = batch.product
    return (batch.id, rawsql.moment_text(batch.updated_at), rawsql.moment_text(product.updated_at),
            rawsql.moment_text(product.producer.updated_at), local_today())


def stamp_state(engine, serial: str, scanner: str = "", known_as: str = "",
                since: dt.datetime | None = None) -> StampState | None:
    """The per-scan facts in one indexed query, straight on a pooled DBAPI connection.

    The stamp page is the busiest page of the service: going through the ORM session (and
    SQLAlchemy's transaction events) cost it ~10× this query, so it reads with the driver's
    cursor, in autocommit (:func:`rawsql.fetch_one`: one round trip on PostgreSQL).
    """
    row = rawsql.fetch_one(engine, _LOOKUP, {
        "serial": serial, "scanner": scanner, "known_as": known_as or scanner,
        "since": rawsql.timestamp(engine.dialect, since or dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc))})
    if row is None:
        return None
    return StampState(
        id=row[0], status=row[1], scan_count=row[2], first_scan_at=_aware(row[3]), first_scan_province=row[4],
        other_province_seen=bool(row[5]), batch_id=row[6], batch_status=row[7], recall_reason=row[8] or "",
        recalled_at=_aware(row[9]), product_status=row[13], producer_status=row[14],
        cache_key=(row[6], rawsql.moment_text(row[10]), rawsql.moment_text(row[11]), rawsql.moment_text(row[12]),
                   local_today()),
        scanner_count=row[15] or 0, producer_id=row[16], cooperative_id=row[17], scratch=bool(row[18]),
        seen_as=row[19],
    )


def build_batch_facts(session, batch_id: int, base_url: str) -> dict:
    """Everything about a batch that a buyer sees, as plain data (cacheable, JSON-able)."""
    batch = session.scalars(select(Batch).where(Batch.id == batch_id).options(
        selectinload(Batch.product).selectinload(Product.photos),
        selectinload(Batch.product).selectinload(Product.recognitions),
        selectinload(Batch.events))).one()
    product, producer = batch.product, batch.product.producer
    facts = public_facts.facts_of(product, today=local_today())
    ocop = facts.ocop
    ward = geo.ward(producer.ward_code)
    province = geo.province(producer.province_code)
    corrected = {e.corrects_id for e in batch.events if e.corrects_id}
    diary = [
        {"kind": e.kind, "date": e.occurred_at.astimezone(dt.timezone(dt.timedelta(hours=7))).date().isoformat(),
         "place": e.place}
        for e in batch.events if e.kind in DIARY_KINDS and e.id not in corrected
    ]
    photo = product.photos[0].stem if product.photos else None
    return {
        "product": {"name": product.name, "slug": product.slug, "listed": facts.listed, "sellable": facts.sellable,
                    "net_quantity": product.net_quantity, "unit": product.unit,
                    "photo": photo, "gtin": product.gtin},
        "producer": {"name": producer.name, "slug": producer.slug, "kind": producer.kind, "phone": producer.phone,
                     "commune": ward.name if ward else "", "province": province.short if province else ""},
        # The product's recalls in force: this lot's, or another lot's (a stamp of this lot says so).
        "recalls": [{"lot": r.lot, "reason": r.reason, "recalled_at": r.recalled_at.isoformat() if r.recalled_at else None,
                     "this_lot": r.batch_id == batch.id} for r in facts.recalls],
        "batch": {"lot": batch.lot_code, "production_date": batch.production_date.isoformat(),
                  "expiry_date": batch.expiry_date.isoformat() if batch.expiry_date else None},
        "ocop": ({"stars": ocop.stars, "certificate_no": ocop.certificate_no, "issuer": ocop.issuer_name,
                  "valid_until": ocop.valid_until.isoformat()} if ocop else None),
        "certifications": [{"scheme": c.scheme, "number": c.number, "body": c.body,
                            "valid_to": c.valid_to.isoformat() if c.valid_to else None}
                           for c in facts.certifications],
        "diary": diary,
        "built_on": local_today().isoformat(),
    }


class FactsCache:
    """Batch facts and HTML rendered from them (per language), keyed by the batch's cache key.

    An entry lives at most ``ttl`` seconds (OCOP and certificate validity follow the
    calendar) and the key changes with any edit of the batch, product or producer, so an
    edit shows on the next scan.
    """

    def __init__(self, ttl: float = TTL, size: int = CACHE_SIZE):
        self.ttl, self.size = ttl, size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session, state: StampState, base_url: str) -> dict:
        return self._entry(session, state.cache_key, base_url)[0]

    def get_for_batch(self, session, batch: Batch, base_url: str) -> dict:
        return self._entry(session, batch_cache_key(batch), base_url)[0]

    def fragment(self, session, key: tuple, base_url: str, variant, render) -> str:
        """``render(facts)`` for this batch, computed once per entry and ``variant`` (the
        caller's name for what else the result depends on, e.g. the language)."""
        facts, fragments = self._entry(session, key, base_url)
        html = fragments.get(variant)
        if html is None:
            html = fragments[variant] = render(facts)
        return html

    def _entry(self, session, key: tuple, base_url: str) -> tuple[dict, dict]:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit and now - hit[0] < self.ttl:
                self._data.move_to_end(key)
                return hit[1], hit[2]
        entry = (now, build_batch_facts(session, key[0], base_url), {})
        with self._lock:
            self._data[key] = entry
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return entry[1], entry[2]
