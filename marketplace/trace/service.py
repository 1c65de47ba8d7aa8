"""Batches and their diary: plain functions over a session, no HTTP.

The diary is append-only and hash-chained: each event stores
``sha256(canonical JSON of its content + the previous event's hash)``, so editing or
deleting a stored row breaks every later link and :func:`verify_chain` names the first.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from ..models import Batch, BatchStatus, EventKind, Product, TraceEvent
from ..models.base import LOCAL_TZ, local_today, utcnow  # noqa: F401  (LOCAL_TZ re-exported for callers)

# ---- the rules of a batch's fields, stated once (the batch form and the API read them) -----------
LOT_MAX = 20
LOT_CODE = re.compile(rf"(?=.*[A-Z0-9])[A-Z0-9-]{{1,{LOT_MAX}}}")  # at least one letter or digit
BATCH_QUANTITY = (Decimal("0.001"), Decimal("100000000"))  # (at least, at most), in the batch's unit
GROWING_AREA_MAX = 200
EARLIEST_PRODUCTION = dt.date(2000, 1, 1)
LATEST_EXPIRY_YEAR = 2100
EARLIEST_EVENT = dt.datetime(2000, 1, 1, tzinfo=LOCAL_TZ)
CLOCK_SKEW = dt.timedelta(minutes=5)  # a phone whose clock runs a little ahead is not in the future
GENESIS = "0" * 64
DETAIL_KEYS = ("input_name", "input_quantity", "input_lot", "supplier", "counterpart", "document_no")
# The detail a diary entry of these kinds must name (the form and the API ask for it by field;
# its message is DOMAIN_ERRORS[f"{detail}_required"]).
REQUIRED_DETAIL = {"input": "input_name", "shipping": "counterpart", "receiving": "counterpart"}


class TraceError(ValueError):
    """A request the domain refuses; ``code`` names the reason for messages and exit codes."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def normalize_lot(lot: str) -> str:
    """Lot codes fit GS1 AI 10 and QR alphanumeric mode: A–Z, 0–9 and '-', ≤ 20 chars."""
    value = (lot or "").strip().upper()
    if not LOT_CODE.fullmatch(value):
        raise TraceError("lot_format")
    return value


def default_expiry(product: Product, production_date: dt.date) -> dt.date | None:
    if product.shelf_life_days:
        return production_date + dt.timedelta(days=product.shelf_life_days)
    return None


def date_problems(production_date: dt.date | None, expiry_date: dt.date | None,
                  today: dt.date | None = None) -> dict[str, str]:
    """``{field: code}`` for a batch's dates: NSX from 2000 to today, HSD not before NSX
    nor past ``LATEST_EXPIRY_YEAR``.  The batch form, the API and :func:`create_batch` ask."""
    problems = {}
    if production_date is not None and not EARLIEST_PRODUCTION <= production_date <= (today or local_today()):
        problems["production_date"] = "production_date_range"
    if expiry_date is not None:
        if production_date is not None and expiry_date < production_date:
            problems["expiry_date"] = "expiry_before_production"
        elif expiry_date.year > LATEST_EXPIRY_YEAR:
            problems["expiry_date"] = "expiry_range"
    return problems


def event_time_problem(occurred_at: dt.datetime, now: dt.datetime | None = None) -> str | None:
    """``"event_time_range"`` unless a diary entry's moment is from ``EARLIEST_EVENT`` to now
    (give or take ``CLOCK_SKEW``); the diary form and the API ask."""
    if not EARLIEST_EVENT <= occurred_at <= (now or utcnow()) + CLOCK_SKEW:
        return "event_time_range"
    return None


def create_batch(session, product: Product, *, lot_code: str, quantity: Decimal, unit: str,
                 production_date: dt.date, expiry_date: dt.date | None = None,
                 growing_area: str = "", user=None) -> Batch:
    lot = normalize_lot(lot_code)
    for code in date_problems(production_date, expiry_date).values():
        raise TraceError(code)
    taken = session.scalar(select(Batch.id).where(Batch.product_id == product.id, Batch.lot_code == lot))
    if taken is not None:
        raise TraceError("lot_taken")
    batch = Batch(product=product, lot_code=lot, quantity=quantity, unit=unit,
                  production_date=production_date,
                  expiry_date=expiry_date or default_expiry(product, production_date),
                  growing_area=growing_area or "", created_by_id=getattr(user, "id", None))
    session.add(batch)  # a new lot: the product's facts (traceability link) change with it
    return batch


def close_batch(batch: Batch) -> None:
    if batch.status != BatchStatus.open.value:
        raise TraceError("not_open")
    batch.status = BatchStatus.closed.value


def recall_batch(batch: Batch, reason: str, user=None) -> None:
    reason = (reason or "").strip()
    if not reason:
        raise TraceError("reason_required")
    if batch.is_recalled:
        raise TraceError("already_recalled")
    batch.status = BatchStatus.recalled.value
    batch.recall_reason = reason
    batch.recalled_at = utcnow()
    batch.recalled_by_id = getattr(user, "id", None)
    batch.recall_lifted_at, batch.recall_lifted_by_id, batch.recall_lift_note = None, None, ""


def lift_recall(batch: Batch, note: str, user=None) -> None:
    """End a recall (the lot was found safe, or all of it is back): the stamp pages and the
    exchanges stop showing it.  The recall's reason and time stay on the batch, beside who
    lifted it, when and why; the batch is closed (its diary ended with the recall)."""
    note = (note or "").strip()
    if not note:
        raise TraceError("reason_required")
    if not batch.is_recalled:
        raise TraceError("not_recalled")
    batch.status = BatchStatus.closed.value
    batch.recall_lifted_at = utcnow()
    batch.recall_lifted_by_id = getattr(user, "id", None)
    batch.recall_lift_note = note


# ---- the diary ------------------------------------------------------------------------

def _canonical(event_fields: dict) -> bytes:
    return json.dumps(event_fields, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_content(event: TraceEvent) -> dict:
    """What the hash covers: everything a reader of the diary relies on."""
    occurred = event.occurred_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds")
    return {
        "batch_id": event.batch_id, "seq": event.seq, "kind": event.kind, "occurred_at": occurred,
        "timezone": event.timezone, "place": event.place, "description": event.description,
        "details": {k: event.details.get(k, "") for k in DETAIL_KEYS if event.details.get(k)},
        "photo": event.photo or "", "corrects_id": event.corrects_id,
        "recorded_by_id": event.recorded_by_id,
        "recorded_at": event.recorded_at.astimezone(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def compute_hash(event: TraceEvent, prev_hash: str) -> str:
    return hashlib.sha256(_canonical(event_content(event)) + prev_hash.encode()).hexdigest()


def append_event(session, batch: Batch, *, kind: str, occurred_at: dt.datetime, timezone: str = "Asia/Ho_Chi_Minh",
                 place: str = "", description: str = "", details: dict | None = None,
                 photo: str | None = None, corrects: TraceEvent | None = None, user=None) -> TraceEvent:
    """Append one diary event (the batch row is locked first, so two appends never share
    a sequence number or a previous hash)."""
    if kind not in {k.value for k in EventKind}:
        raise TraceError("kind")
    if occurred_at.tzinfo is None:
        raise TraceError("naive_time")
    if corrects is not None and corrects.batch_id != batch.id:
        raise TraceError("corrects_other_batch")
    session.execute(select(Batch.id).where(Batch.id == batch.id).with_for_update())
    last = session.execute(
        select(TraceEvent.seq, TraceEvent.entry_hash).where(TraceEvent.batch_id == batch.id)
        .order_by(TraceEvent.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.entry_hash) if last else (1, GENESIS)
    # Linked through the relationship, so an already loaded batch.events sees it at once.
    event = TraceEvent(
        batch=batch, batch_id=batch.id, seq=seq, kind=kind, occurred_at=occurred_at, timezone=timezone,
        place=place or "", description=description or "",
        details={k: str(v) for k, v in (details or {}).items() if k in DETAIL_KEYS and v not in (None, "")},
        photo=photo, corrects_id=corrects.id if corrects else None,
        recorded_by_id=getattr(user, "id", None), recorded_at=utcnow(), prev_hash=prev_hash,
    )
    event.entry_hash = compute_hash(event, prev_hash)
    session.add(event)
    return event


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""


def verify_chain(session, batch_id: int) -> ChainReport:
    """Recompute every link of a batch's diary; report the first event that does not match."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    for event in session.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch_id).order_by(TraceEvent.seq)):
        if event.seq != expected_seq:
            return ChainReport(False, checked, expected_seq, "missing event")
        if event.prev_hash != prev_hash:
            return ChainReport(False, checked, event.seq, "previous hash does not match")
        if compute_hash(event, prev_hash) != event.entry_hash:
            return ChainReport(False, checked, event.seq, "content changed after it was recorded")
        prev_hash, expected_seq, checked = event.entry_hash, expected_seq + 1, checked + 1
    return ChainReport(True, checked)


def timeline(batch: Batch) -> list[TraceEvent]:
    """Events in order, each with ``corrected_by`` set when a later event corrects it."""
    by_id = {e.id: e for e in batch.events}
    for e in batch.events:
        e.corrected_by = None
    for e in batch.events:
        if e.corrects_id in by_id:
            by_id[e.corrects_id].corrected_by = e
    return list(batch.events)


def event_count(session, batch_id: int) -> int:
    return session.scalar(select(func.count()).select_from(TraceEvent).where(TraceEvent.batch_id == batch_id))
