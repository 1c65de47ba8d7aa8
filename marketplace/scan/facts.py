"""What a stamp page shows, looked up fast.

Per request: one indexed query (stamp → batch → product → producer) for everything that can
change from one scan to the next: the stamp's status and counters, the batch's recall.  The
rest (names, photo, diary, certificates, OCOP) is built once per batch and cached in the
process, keyed by the batch's, product's and producer's ``updated_at`` so any edit shows at
once, and for at most ``TTL`` seconds (OCOP validity is a matter of dates).
"""
from __future__ import annotations

import datetime as dt
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from .. import geo
from ..models import Batch, Certification, Product
from ..models.base import local_today

TTL = 60.0
CACHE_SIZE = 2048
DIARY_KINDS = ("seeding", "harvest", "processing", "packing", "inspection", "shipping")

_LOOKUP = text(
    "SELECT s.id, s.status, s.scan_count, s.first_scan_at, s.first_scan_province, s.other_province_seen, "
    "b.id AS batch_id, b.status AS batch_status, b.recall_reason, b.recalled_at, b.updated_at AS batch_updated, "
    "p.updated_at AS product_updated, pr.updated_at AS producer_updated, p.status AS product_status "
    "FROM stamp s JOIN batch b ON b.id = s.batch_id JOIN product p ON p.id = b.product_id "
    "JOIN producer pr ON pr.id = p.producer_id WHERE s.serial = :serial"
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
    cache_key: tuple


def _aware(value):
    if value is None:
        return None
    if isinstance(value, str):  # SQLite through text(): ISO text
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def stamp_state(session, serial: str) -> StampState | None:
    row = session.execute(_LOOKUP, {"serial": serial}).first()
    if row is None:
        return None
    return StampState(
        id=row.id, status=row.status, scan_count=row.scan_count, first_scan_at=_aware(row.first_scan_at),
        first_scan_province=row.first_scan_province, other_province_seen=bool(row.other_province_seen),
        batch_id=row.batch_id, batch_status=row.batch_status, recall_reason=row.recall_reason or "",
        recalled_at=_aware(row.recalled_at),
        cache_key=(row.batch_id, str(row.batch_updated), str(row.product_updated), str(row.producer_updated)),
    )


def build_batch_facts(session, batch_id: int, base_url: str) -> dict:
    """Everything about a batch that a buyer sees, as plain data (cacheable, JSON-able)."""
    batch = session.scalars(select(Batch).where(Batch.id == batch_id).options(
        selectinload(Batch.product).selectinload(Product.photos),
        selectinload(Batch.product).selectinload(Product.recognitions),
        selectinload(Batch.events))).one()
    product, producer = batch.product, batch.product.producer
    ocop = product.current_ocop()
    certs = session.scalars(select(Certification).where(
        Certification.producer_id == producer.id, Certification.verified.is_(True),
        (Certification.product_id == product.id) | Certification.product_id.is_(None))).all()
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
        "product": {"name": product.name, "slug": product.slug, "published": product.is_published,
                    "net_quantity": product.net_quantity, "unit": product.unit,
                    "photo": photo, "gtin": product.gtin},
        "producer": {"name": producer.name, "slug": producer.slug, "kind": producer.kind, "phone": producer.phone,
                     "commune": ward.name if ward else "", "province": province.short if province else "",
                     "public": producer.is_approved},
        "batch": {"lot": batch.lot_code, "production_date": batch.production_date.isoformat(),
                  "expiry_date": batch.expiry_date.isoformat() if batch.expiry_date else None},
        "ocop": ({"stars": ocop.stars, "certificate_no": ocop.certificate_no, "issuer": ocop.issuer_name,
                  "valid_until": ocop.valid_until.isoformat()} if ocop else None),
        "certifications": [{"scheme": c.scheme, "number": c.number, "body": c.body,
                            "valid_to": c.valid_to.isoformat() if c.valid_to else None}
                           for c in certs if c.is_valid()],
        "diary": diary,
        "built_on": local_today().isoformat(),
    }


class FactsCache:
    def __init__(self, ttl: float = TTL, size: int = CACHE_SIZE):
        self.ttl, self.size = ttl, size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session, state: StampState, base_url: str) -> dict:
        return self._get(session, state.cache_key, state.batch_id, base_url)

    def get_for_batch(self, session, batch: Batch, base_url: str) -> dict:
        product = batch.product
        key = (batch.id, str(batch.updated_at.replace(tzinfo=None)), str(product.updated_at.replace(tzinfo=None)),
               str(product.producer.updated_at.replace(tzinfo=None)))
        return self._get(session, key, batch.id, base_url)

    def _get(self, session, key: tuple, batch_id: int, base_url: str) -> dict:
        now = time.monotonic()
        with self._lock:
            hit = self._data.get(key)
            if hit and now - hit[0] < self.ttl:
                self._data.move_to_end(key)
                return hit[1]
        facts = build_batch_facts(session, batch_id, base_url)
        with self._lock:
            self._data[key] = (now, facts)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
        return facts
