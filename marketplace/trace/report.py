"""The lot report: one step back and one step forward for one batch, as CSV or XLSX.

:func:`lot_report_rows` returns ``(header, rows)``: one row per fact, the ``section`` first
and the ``date`` second, so a spreadsheet's filter and sort work on it directly.  Rows come
sorted by section (in the order below), then date, then diary seq / run id.

Sections
--------
``lot``
    The batch itself (one row): production date, product, ``quantity`` + unit, lot code,
    producer (in ``counterpart``), growing area (in ``place``), status, recall reason.
``input`` (one step back)
    Diary entries of kind ``input``, and entries of any other kind except shipping/receiving
    that name an input (``input_name``, ``input_lot`` or ``supplier``; a seeding entry naming
    the seed variety and shop, a processing entry naming the meat it used…): ``item`` = input
    name, ``quantity``, ``lot`` = input lot, ``counterpart`` = supplier, ``document_no``.
``receiving`` (one step back)
    Receiving entries: ``counterpart`` = who delivered, ``document_no``.
``shipping`` (one step forward)
    Shipping entries: ``counterpart`` = who received, ``document_no``.
``stamp_run`` (one step forward)
    One row per stamp run: ``stamp_run`` (run id), ``count``, ``status`` (the run's), and how
    many of its stamps are ``issued`` / ``active`` / ``void`` / ``scanned`` (scanned at least
    once), from one aggregate query (no per-stamp Python).
``scan`` (one step forward: where the packages went)
    Scans of the batch's stamps per local day and province (``place``; empty when unknown):
    ``count`` scans of ``scanned`` distinct stamps, from one ``GROUP BY``.
``delivery`` (one step forward: where the listing went)
    The product's deliveries to the exchanges since the recall (or since the batch was
    made): ``counterpart`` = exchange, ``status``, ``item`` = the product version sent,
    ``description`` = the last error.

Diary entries superseded by a correction are left out (the report states the current facts);
a correcting entry says which one it replaced in ``corrects_seq``.  Dates are naive local
datetimes (the diary entry's own time zone, Asia/Ho_Chi_Minh for the rest): Excel has no
time zones.

Writers: :func:`write_csv` writes UTF-8 **bytes with a BOM** (Excel then reads Vietnamese
correctly) to a binary stream; :func:`write_xlsx` writes an .xlsx (openpyxl) to a binary
stream.  Both neutralise spreadsheet formulas in user text.  The header holds the stable
column keys of :data:`COLUMNS`; pass ``labels`` (key → display text) to either writer for a
translated header row.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func, select

from .. import geo
from ..models import (Batch, Delivery, EventKind, Exchange, Scan, ScanDay, ScanFold, Stamp, StampRun, StampStatus,
                      TraceEvent)
from ..models.base import LOCAL_TZ, local_day
from ..text import spreadsheet_text

COLUMNS = (
    "section", "date", "kind", "item", "quantity", "lot", "counterpart", "document_no", "place",
    "description", "diary_seq", "corrects_seq", "stamp_run", "count", "status",
    "issued", "active", "void", "scanned",
)
SECTIONS = ("lot", "input", "receiving", "shipping", "stamp_run", "scan", "delivery")
BACK = ("input", "receiving")
FORWARD = ("shipping", "stamp_run", "scan", "delivery")
INPUT_KEYS = ("input_name", "input_lot", "supplier")
DATE_FORMAT = "yyyy-mm-dd hh:mm"
BOM = b"\xef\xbb\xbf"


# ---- rows -------------------------------------------------------------------------------

def _zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else LOCAL_TZ
    except (ZoneInfoNotFoundError, ValueError):
        return LOCAL_TZ


def _local(moment: dt.datetime | None, zone: str | None = None) -> dt.datetime | None:
    if moment is None:
        return None
    return moment.astimezone(_zone(zone)).replace(tzinfo=None)


def _plain(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _section_of(event: TraceEvent) -> str | None:
    details = event.details or {}
    if event.kind in (EventKind.shipping.value, EventKind.receiving.value):
        return event.kind
    if event.kind == EventKind.input.value or any(details.get(k) for k in INPUT_KEYS):
        return "input"
    return None


def _row(**values) -> list:
    return [values.get(col) for col in COLUMNS]


def lot_report_rows(session, batch: Batch) -> tuple[list[str], list[list]]:
    """Header (the keys of :data:`COLUMNS`) and rows of the lot report of ``batch``.

    Three queries whatever the size of the lot: the diary (without photos or hashes), the
    runs, and one ``GROUP BY`` over the batch's stamps.
    """
    product = batch.product
    rows: list[list] = [_row(
        section="lot", date=dt.datetime.combine(batch.production_date, dt.time()),
        item=product.name, quantity=f"{_plain(batch.quantity)} {batch.unit}", lot=batch.lot_code,
        counterpart=product.producer.name, place=batch.growing_area or None, status=batch.status,
        description=batch.recall_reason or None,
    )]

    events = session.execute(
        select(TraceEvent.id, TraceEvent.seq, TraceEvent.kind, TraceEvent.occurred_at, TraceEvent.timezone,
               TraceEvent.place, TraceEvent.description, TraceEvent.details, TraceEvent.corrects_id)
        .where(TraceEvent.batch_id == batch.id).order_by(TraceEvent.seq)
    ).all()
    seq_of = {e.id: e.seq for e in events}
    superseded = {e.corrects_id for e in events if e.corrects_id is not None}
    for e in events:
        section = _section_of(e)
        if section is None or e.id in superseded:
            continue
        d = e.details or {}
        rows.append(_row(
            section=section, date=_local(e.occurred_at, e.timezone), kind=e.kind,
            item=d.get("input_name"), quantity=d.get("input_quantity"), lot=d.get("input_lot"),
            counterpart=(d.get("supplier") or d.get("counterpart")) if section == "input"
            else (d.get("counterpart") or d.get("supplier")),
            document_no=d.get("document_no"), place=e.place or None, description=e.description or None,
            diary_seq=e.seq, corrects_seq=seq_of.get(e.corrects_id),
        ))

    def count_status(status: StampStatus):
        return func.coalesce(func.sum(case((Stamp.status == status.value, 1), else_=0)), 0)

    counts = {r.run_id: r for r in session.execute(
        select(Stamp.run_id, func.count().label("total"),
               count_status(StampStatus.issued).label("issued"),
               count_status(StampStatus.active).label("active"),
               count_status(StampStatus.void).label("void"),
               func.coalesce(func.sum(case((Stamp.scan_count > 0, 1), else_=0)), 0).label("scanned"))
        .where(Stamp.batch_id == batch.id).group_by(Stamp.run_id)
    )}
    runs = session.execute(
        select(StampRun.id, StampRun.count, StampRun.status, StampRun.created_at)
        .where(StampRun.batch_id == batch.id).order_by(StampRun.id)
    ).all()
    for run in runs:
        c = counts.get(run.id)
        rows.append(_row(
            section="stamp_run", date=_local(run.created_at), stamp_run=run.id, count=run.count,
            status=run.status, issued=int(c.issued) if c else 0, active=int(c.active) if c else 0,
            void=int(c.void) if c else 0, scanned=int(c.scanned) if c else 0,
        ))

    rows.extend(_scan_rows(session, batch))
    rows.extend(_delivery_rows(session, batch))

    rank = {s: i for i, s in enumerate(SECTIONS)}
    i_section, i_date, i_seq, i_run = (COLUMNS.index(c) for c in ("section", "date", "diary_seq", "stamp_run"))
    rows.sort(key=lambda r: (rank[r[i_section]], r[i_date] or dt.datetime.min, r[i_seq] or 0, r[i_run] or 0))
    return list(COLUMNS), rows


def _scan_rows(session, batch: Batch) -> list[list]:
    """Buyers' scans per day and province, with the distinct stamps scanned: from the raw
    rows, or for a day whose rows were folded away (scan/retention.py) from what was folded."""
    folded = set(session.scalars(select(ScanFold.day)))
    day = local_day(session.get_bind().dialect.name, Scan.scanned_at).label("day")
    found = [row for row in session.execute(
        select(day, Scan.province_code, func.count().label("scans"), func.count(func.distinct(Scan.stamp_id)))
        .join(Stamp, Stamp.id == Scan.stamp_id).where(Stamp.batch_id == batch.id, Scan.test.is_(False))
        .group_by(day, Scan.province_code)).all() if _as_date(row[0]) not in folded]
    found += session.execute(
        select(ScanDay.day, func.nullif(ScanDay.province_code, 0), ScanDay.scans, ScanDay.stamps)
        .where(ScanDay.batch_id == batch.id, ScanDay.day.in_(folded))).all() if folded else []
    found.sort(key=lambda row: (_as_date(row[0]), row[1] or 0))
    rows = []
    for on, province_code, scans, stamps in found:
        on = _as_date(on)
        province = geo.province(province_code)
        rows.append(_row(section="scan", date=dt.datetime.combine(on, dt.time()), place=province.name if province else None,
                         count=int(scans), scanned=int(stamps)))
    return rows


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


def _delivery_rows(session, batch: Batch) -> list[list]:
    since = batch.recalled_at or batch.created_at
    found = session.execute(
        select(Delivery.created_at, Exchange.name, Delivery.status, Delivery.version, Delivery.sent_version,
               Delivery.last_error)
        .join(Exchange, Exchange.id == Delivery.exchange_id)
        .where(Delivery.product_id == batch.product_id, Delivery.created_at >= since).order_by(Delivery.id)).all()
    return [_row(section="delivery", date=_local(created_at), counterpart=exchange, status=status,
                 item=f"v{sent_version or version}", description=last_error or None)
            for created_at, exchange, status, version, sent_version, last_error in found]


# ---- writers ----------------------------------------------------------------------------

# openpyxl refuses these control characters in cell text
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")


def _header(header: list[str], labels: dict | None) -> list[str]:
    return [str(labels.get(h, h)) for h in header] if labels else list(header)


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, str):
        return spreadsheet_text(value)
    return str(value)


def write_csv(header: list[str], rows: list[list], out, *, labels: dict | None = None) -> None:
    """Write ``header`` and ``rows`` to the **binary** stream ``out`` as UTF-8 CSV with a BOM
    (``\\r\\n`` line ends, as Excel writes them).  ``out`` is left open."""
    out.write(BOM)
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow(_header(header, labels))
        writer.writerows([csv_cell(v) for v in row] for row in rows)
        text.flush()
    finally:
        text.detach()


def write_xlsx(header: list[str], rows: list[list], out, *, labels: dict | None = None,
               title: str = "Lot") -> None:
    """Write an .xlsx workbook to the binary stream ``out``: bold header row, panes frozen at
    A2, an auto-filter over the table, column widths from the content, dates as Excel dates.

    openpyxl (with numpy, ~0.2 s) is imported here, when a workbook is written, not when
    the app starts: every worker and every CLI command would pay it otherwise."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = re.sub(r"[\[\]:*?/\\]", "-", title)[:31] or "Lot"
    head = _header(header, labels)
    ws.append(head)
    bold = Font(bold=True)
    for cell in ws[1]:
        cell.font = bold
    widths = [len(h) for h in head]
    for row in rows:
        values = []
        for i, value in enumerate(row):
            if isinstance(value, str):
                value = _ILLEGAL.sub("", value)
            elif isinstance(value, Decimal):
                value = float(value)
            values.append(value)
            shown = 16 if isinstance(value, (dt.date, dt.datetime)) else len(str(value)) if value is not None else 0
            widths[i] = max(widths[i], shown)
        ws.append(values)
        for cell, value in zip(ws[ws.max_row], values):
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, never a formula
            elif isinstance(value, dt.datetime):
                cell.number_format = DATE_FORMAT
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
    last = get_column_letter(len(head))
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{last}{max(ws.max_row, 1)}"
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 8), 50)
    wb.save(out)
