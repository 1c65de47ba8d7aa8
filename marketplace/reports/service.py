"""Buyers' reports: what may be sent, what it is about, who sees which, handling.

Plain functions taking a session and values; none commits (the route owning the unit of
work does).  The limits a report must respect are declared here once: the form shows
:func:`field_problems`, :func:`create_report` refuses them, whichever door a report comes in by.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import selectinload

from ..models import Batch, BuyerReport, Product, ReportReason, Stamp
from ..models.base import utcnow
from ..stamps.serials import InvalidSerial, normalize
from ..validators import InvalidValue, normalize_phone

REASONS = tuple(reason.value for reason in ReportReason)
NOTE_MAX = 500   # characters of the buyer's note
CODE_MAX = 32    # BuyerReport.code: what the buyer typed from the label
SLUG_MAX = 220   # Product.slug
PAGE = 200       # reports listed at once


class ReportRefused(ValueError):
    """A report that cannot be stored; ``code`` names the field rule it breaks."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Subject:
    """What a report is about: a stamp (and so its product), else a product, else only the
    code the buyer typed."""

    stamp: Stamp | None = None
    product: Product | None = None
    code: str = ""


def clean_code(text: str | None) -> str:
    """The code a buyer typed or a link carried, as kept for officers: a valid serial in its
    canonical form, anything else upper-cased with spaces collapsed, at most ``CODE_MAX``
    characters.  Never refused: a made-up code is itself worth reporting."""
    raw = " ".join("".join(ch for ch in (text or "")[:200] if ch.isprintable()).split())
    try:
        return normalize(raw)
    except InvalidSerial:
        return raw.upper()[:CODE_MAX]


def clean_note(text: str | None) -> str:
    """Line breaks as one character each (a browser sends CRLF), outer blanks removed."""
    return unicodedata.normalize("NFC", (text or "").replace("\r\n", "\n").replace("\r", "\n")).strip()


def field_problems(*, reason: str | None, note: str, phone: str) -> dict[str, str]:
    """Every rule a report's fields break, as ``{field: code}`` (empty when none):
    ``reason`` (not one of :data:`REASONS`), ``note_too_long``, ``note_required`` (the
    reason "other" says nothing by itself), ``phone``."""
    problems = {}
    if reason not in REASONS:
        problems["reason"] = "reason"
    note = clean_note(note)
    if len(note) > NOTE_MAX:
        problems["note"] = "note_too_long"
    elif reason == ReportReason.other.value and not note:
        problems["note"] = "note_required"
    if (phone or "").strip():
        try:
            normalize_phone(phone)
        except InvalidValue:
            problems["phone"] = "phone"
    return problems


def check_fields(*, reason: str | None, note: str, phone: str) -> tuple[str, str]:
    """Check a report's fields; returns the note and phone as stored.

    :raises ReportRefused: with the code of the first problem of :func:`field_problems`
    """
    problems = field_problems(reason=reason, note=note, phone=phone)
    if problems:
        raise ReportRefused(next(iter(problems.values())))
    phone = (phone or "").strip()
    return clean_note(note), normalize_phone(phone) if phone else ""


def find_subject(session, *, code: str | None = None, product_slug: str | None = None) -> Subject:
    """Resolve what the buyer names.  A code that is a real stamp's serial gives the stamp
    and its product (the stamp is the evidence: its scans go with the report); otherwise
    the product of ``product_slug`` (listed or not), if any; the code is kept either way.

    Whether a serial exists is only ever used to store the report, never shown to the
    sender: this must not become a way around the not-found page's rate limit.
    """
    code = clean_code(code)
    stamp = None
    try:
        serial = normalize(code)
    except InvalidSerial:
        serial = None
    if serial:
        stamp = session.scalar(select(Stamp).where(Stamp.serial == serial)
                               .options(selectinload(Stamp.batch).selectinload(Batch.product)))
    product = stamp.batch.product if stamp is not None else None
    slug = (product_slug or "").strip()
    if product is None and slug and len(slug) <= SLUG_MAX:
        product = session.scalar(select(Product).where(Product.slug == slug))
    return Subject(stamp, product, code)


def create_report(session, subject: Subject, *, reason: str, note: str = "", phone: str = "",
                  photo: str | None = None, province_code: int | None = None,
                  now: dt.datetime | None = None) -> BuyerReport:
    """Add a report to the session (not committed).

    :param photo: the stem of a photo already stored, re-encoded, in the private folder
    :param province_code: the coarse place, only from a trusted proxy's header
    :raises ReportRefused: see :func:`check_fields`
    """
    note, phone = check_fields(reason=reason, note=note, phone=phone)
    report = BuyerReport(stamp_id=subject.stamp.id if subject.stamp else None,
                         product_id=subject.product.id if subject.product else None,
                         code=subject.code[:CODE_MAX], reason=reason, note=note, phone=phone, photo=photo,
                         province_code=province_code, created_at=now or utcnow())
    session.add(report)
    return report


def reports_query(*, producer_ids: set[int] | None = None, include_handled: bool = False,
                  stamp_id: int | None = None):
    """Reports, open ones first, newest first within each.

    :param producer_ids: only reports about these producers' products (``None``: all, for
        officers; an empty set: none)
    :param stamp_id: only reports naming this stamp
    """
    stmt = (select(BuyerReport)
            .options(selectinload(BuyerReport.stamp).selectinload(Stamp.batch),
                     selectinload(BuyerReport.product).selectinload(Product.producer))
            .order_by(case((BuyerReport.handled_at.is_(None), 0), else_=1), BuyerReport.created_at.desc(),
                      BuyerReport.id.desc()))
    if producer_ids is not None:
        stmt = stmt.join(Product, Product.id == BuyerReport.product_id).where(
            Product.producer_id.in_(producer_ids or {-1}))
    if stamp_id is not None:
        stmt = stmt.where(BuyerReport.stamp_id == stamp_id)
    if not include_handled:
        stmt = stmt.where(BuyerReport.handled_at.is_(None))
    return stmt


def list_reports(session, *, producer_ids: set[int] | None = None, include_handled: bool = False,
                 stamp_id: int | None = None, limit: int = PAGE) -> list[BuyerReport]:
    stmt = reports_query(producer_ids=producer_ids, include_handled=include_handled, stamp_id=stamp_id)
    return list(session.scalars(stmt.limit(limit)))


def open_count(session, *, producer_ids: set[int] | None = None) -> int:
    stmt = select(func.count()).select_from(BuyerReport).where(BuyerReport.handled_at.is_(None))
    if producer_ids is not None:
        stmt = stmt.join(Product, Product.id == BuyerReport.product_id).where(
            Product.producer_id.in_(producer_ids or {-1}))
    return session.scalar(stmt) or 0


def reports_per_stamp(session, stamp_ids) -> dict[int, int]:
    """How many reports (open or handled) name each of these stamps: several buyers
    reporting one serial is a strong sign that it was copied."""
    ids = {i for i in stamp_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(BuyerReport.stamp_id, func.count()).where(BuyerReport.stamp_id.in_(ids))
                           .group_by(BuyerReport.stamp_id))
    return {stamp_id: count for stamp_id, count in rows}


def other_reports_of_stamp(session, report: BuyerReport) -> list[BuyerReport]:
    if report.stamp_id is None:
        return []
    return list(session.scalars(select(BuyerReport).where(BuyerReport.stamp_id == report.stamp_id,
                                                          BuyerReport.id != report.id)
                                .order_by(BuyerReport.created_at.desc()).limit(PAGE)))


def mark_handled(report: BuyerReport, *, by, now: dt.datetime | None = None) -> bool:
    """Record that an officer dealt with the report; False when it already was (the first
    officer's name and time are kept)."""
    if report.handled_at is not None:
        return False
    report.handled_at = now or utcnow()
    report.handled_by_id = getattr(by, "id", None)
    return True
