"""From a stamp run in the database to things a printer takes: label data, PDF parts, CSV.

``marketplace.printing.pdf`` and ``.qr`` (reportlab's PDF machinery, the fonts, zxing-cpp's
encoder) are imported inside the functions that print (:func:`label_data`,
:func:`render_sheet`, :func:`single_qr`): the stamp pages and the ``stamps`` commands import
this module, yet a web worker, a command or a test that never prints a label does not load
them (they were a large part of start-up).  The label stocks (``printing.layouts``, plain
data) are imported at the top.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable, Iterator

from sqlalchemy import func, select, update

from .. import geo, public_facts
from ..i18n import quantity as format_quantity
from ..models import Batch, Stamp, StampRun
from ..models.base import local_today
from ..printing.layouts import LAYOUTS
from ..text import spreadsheet_text
from ..transactions import writes
from ..vocab import quantity_word, unit_label
from .scratch import code_for, format_code
from .service import run_stamps, stamp_url

PART_SIZE = 2_400  # labels per PDF downloaded from the web (100 A4 pages of 3×8)


LAYOUT_CHOICES = ("a4-3x8", "a4-5x13", "roll-50x30", "roll-40x25")


def layout_or_none(name: str):
    return LAYOUTS.get(name)


def parts(count: int) -> list[tuple[int, int]]:
    """Positions (first, last) of each downloadable part of a run."""
    return [(start, min(start + PART_SIZE - 1, count)) for start in range(1, count + 1, PART_SIZE)]


def status_counts(session, run: StampRun) -> dict[str, int]:
    return dict(session.execute(select(Stamp.status, func.count()).where(Stamp.run_id == run.id)
                                .group_by(Stamp.status)).all())


def url_for_stamp(stamp: Stamp, base_url: str) -> str:
    batch = stamp.batch
    return stamp_url(base_url, stamp.serial, gtin=batch.product.gtin, lot=batch.lot_code)


# Mandatory label wording is Vietnamese whatever the interface language (Decree 43/2017).
LABEL_LANGUAGE = "vi"
ORIGIN = "Việt Nam"     # every producer here is in Vietnam (``geo`` knows no other country)


def _net_quantity(batch: Batch) -> str:
    product = batch.product
    return f"{format_quantity(product.net_quantity, LABEL_LANGUAGE)} {unit_label(product.unit, LABEL_LANGUAGE)}"


def _place(producer) -> str:
    """"Xã Đồng Tiến, Tỉnh Thanh Hóa": the commune and the province as the label prints them
    (whole names: the label abbreviates them itself when it must)."""
    ward = geo.ward(producer.ward_code)
    province = geo.province(ward.province_code if ward else producer.province_code)
    return ", ".join(name for name in (ward.name if ward else "", province.name if province else "") if name)


def _scratch_codes(run: StampRun, scratch_key: bytes | None):
    """serial → printed scratch-off code for a scratch run, None for any other."""
    if not run.scratch:
        return None
    if not scratch_key:
        raise ValueError(f"stamp run {run.id} has scratch-off codes: a scratch_key is needed")
    return lambda serial: format_code(code_for(serial, scratch_key))


def label_data(session, run: StampRun, base_url: str, *, first: int = 1, last: int | None = None,
               scratch_key: bytes | None = None) -> Iterator:
    """LabelData for positions first…last of ``run``, streamed from the database.
    ``scratch_key`` (:func:`.scratch.key_from_config`) is required for a scratch run."""
    from ..printing.pdf import LabelData

    codes = _scratch_codes(run, scratch_key)
    batch = run.batch
    product, producer = batch.product, batch.product.producer
    ocop = public_facts.ocop_in_force(product.recognitions, local_today())  # the stars a label may print
    common = dict(
        product_name=product.name, producer_name=producer.name, address_line=producer.address_line or "",
        place=_place(producer), origin=ORIGIN,
        lot=batch.lot_code, production_date=batch.production_date, expiry_date=batch.expiry_date,
        net_quantity=_net_quantity(batch), net_word=quantity_word(product.unit, LABEL_LANGUAGE),
        ocop_stars=ocop.stars if ocop else None,
    )
    last = last or run.count
    for serial, position in run_stamps(session, run):
        if position < first:
            continue
        if position > last:
            return
        yield LabelData(url=stamp_url(base_url, serial, gtin=product.gtin, lot=batch.lot_code), serial=serial,
                        scratch_code=codes(serial) if codes else None, **common)


def render_pdf(session, run: StampRun, layout, base_url: str, *, first: int = 1, last: int | None = None,
               calibration: bool = False, out=None, scratch_key: bytes | None = None) -> bytes | None:
    """Render positions first…last as a label sheet; bytes, or into ``out`` when given."""
    target = out if out is not None else io.BytesIO()
    render_sheet(label_data(session, run, base_url, first=first, last=last, scratch_key=scratch_key), layout,
                 target, calibration=calibration)
    return None if out is not None else target.getvalue()


def render_sheet(labels: Iterable, layout, out, *, calibration: bool = False) -> None:
    """Render ``labels`` (:func:`label_data`, perhaps wrapped, e.g. to count them) as a
    label sheet into the binary stream ``out``."""
    from ..printing.pdf import render_label_sheet

    render_label_sheet(labels, layout, out, calibration=calibration)


def csv_rows(session, run: StampRun, base_url: str, *, scratch_key: bytes | None = None) -> Iterator[list[str]]:
    """``serial,url,lot,product`` rows, header first (the print shop's variable data); a
    scratch run adds ``scratch_code`` ("ABCD-EFGH"), which makes the file secret."""
    batch, product = run.batch, run.batch.product
    codes = _scratch_codes(run, scratch_key)
    yield ["serial", "url", "lot", "product"] + (["scratch_code"] if codes else [])
    for serial, _position in run_stamps(session, run):
        row = [serial, stamp_url(base_url, serial, gtin=product.gtin, lot=batch.lot_code),
               spreadsheet_text(batch.lot_code), spreadsheet_text(product.name)]  # a print shop opens it in Excel
        yield (row + [codes(serial)]) if codes else row


def download_part(session, run: StampRun, layout, part: int, base_url: str, *, calibration: bool = False,
                  scratch_key: bytes | None = None) -> bytes:
    """The label sheet of part ``part`` (1-based) of a run, counted as one more download.

    The count is a short write of its own once the sheet is rendered (``writes(session)``
    ends the long read first): the read never has to become a write, which SQLite refuses
    when another writer, e.g. the scan recorder, committed meanwhile."""
    first, last = parts(run.count)[part - 1]
    data = render_pdf(session, run, layout, base_url, first=first, last=last, calibration=calibration,
                      scratch_key=scratch_key)
    run_id = run.id
    with writes(session):
        session.execute(update(StampRun).where(StampRun.id == run_id).values(downloads=StampRun.downloads + 1))
        session.commit()
    return data


def csv_text(session, run_id: int, base_url: str, *, bom: bool = False,
             scratch_key: bytes | None = None) -> Iterator[str]:
    """The run's CSV as text chunks of about 64 KB, for a streamed response (flat memory for
    100,000 stamps).  Lazy: the run is loaded when the first chunk is asked for, so the
    caller's request may have ended by then (``stream_with_context``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:  # spreadsheet programs then read the Vietnamese names as UTF-8
        yield "\ufeff"
    for row in csv_rows(session, session.get(StampRun, run_id), base_url, scratch_key=scratch_key):
        writer.writerow(row)
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def single_qr(url: str, fmt: str) -> tuple[bytes | str, str]:
    from ..printing.qr import qr_png, qr_svg

    if fmt == "png":
        return qr_png(url), "image/png"
    return qr_svg(url), "image/svg+xml"
