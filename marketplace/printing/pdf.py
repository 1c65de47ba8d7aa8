"""PDF sheets of traceability stamps (tem truy xuất), drawn with reportlab.

Each label: the QR (vector: one filled path, a rectangle per horizontal run of dark modules,
with a 4-module quiet zone inside the label) on the left at up to the label's height, and
the text to its right in Be Vietnam Pro (bundled TTF, OFL) with the Vietnamese wording of
Decree 43/2017 and 111/2021:

    <product name, bold, up to 3 lines (2 on labels under 30 mm high)>
    Cơ sở SX: <producer>
    <address line, commune, province>
    Xuất xứ: <origin>
    Lô: <lot>
    <Khối lượng tịnh | Thể tích thực | Số lượng>: <net quantity>
    NSX: dd/mm/yyyy  HSD: dd/mm/yyyy      (two lines when one is too narrow)
    OCOP ★★★★                             (stars drawn as vector shapes)
    Mã cào [ABCD-EFGH]                    (scratch runs: a box for the scratch-off sticker)
    <serial in groups of 4, bold, at the bottom>

How the text is fitted (sizes, abbreviations and lines dropped when it does not fit, the
scratch-off box) and where it and the QR go on the label (inside an A4 sheet's safe margin)
is :mod:`.fit`; this module draws what it plans.  The word before the net quantity comes with
the label (``LabelData.net_word``: ``vocab.quantity_word`` decides it, for the pages too).
Labels without a scratch-off code are drawn exactly as before the box existed.

Labels are read from the iterable one page at a time and each finished page is deflated at
once, but reportlab writes the file only at ``save()``: memory grows by ~1.5 KB a label
(100,000 labels ≈ 200 MB peak).  Text layouts are cached per product/batch (they repeat
across a run), so a label costs one QR encode and a few string draws.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO, Callable, Iterable, NamedTuple

from reportlab.lib.units import mm
from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFStream, PDFZCompress
from reportlab.pdfgen.canvas import Canvas

from ..crockford import ALPHABET, group
from ..internals import binary_streams, last_page
from .fit import BOLD, CAP_HEIGHT, CODE_PAD, LINE_HEIGHT, REGULAR, SCRATCH_CAPTION, Scratch, star_size
from .fit import Geometry as _Geometry  # pdf._Geometry: the tests reach for the cell geometry here
from .fit import plan as _plan
from .fit import register_fonts, scratch_box_mm
from .fit import string_width as _sw
from .layouts import Layout
from .qr import QUIET_ZONE, qr_runs

CREATOR = "OCOP Marketplace"
DEFAULT_TITLE = "Tem truy xuất nguồn gốc"
_CODE_RE = re.compile(f"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")

# what callers import from here: the sheet, its inputs, and the fitting they need to know
__all__ = ["DEFAULT_TITLE", "SCRATCH_CAPTION", "LabelData", "TextBox", "register_fonts", "render_label_sheet",
           "scratch_box_mm"]


@dataclass(frozen=True)
class LabelData:
    url: str
    serial: str
    product_name: str
    producer_name: str
    place: str                          # "<commune>, <province>": the commune is always printed
    lot: str
    production_date: dt.date | None = None
    expiry_date: dt.date | None = None
    net_quantity: str = ""              # "500 g"
    ocop_stars: int | None = None
    scratch_code: str | None = None     # "ABCD-EFGH" under a scratch-off sticker
    address_line: str = ""              # the producer's village, street…: before the place
    net_word: str = ""                  # "Khối lượng tịnh": printed before the net quantity
    origin: str = ""                    # "Việt Nam": printed as "Xuất xứ: Việt Nam"

    def __post_init__(self) -> None:
        if self.ocop_stars is not None and not 1 <= self.ocop_stars <= 5:
            raise ValueError(f"OCOP stars must be 1–5, not {self.ocop_stars}")
        if self.scratch_code is not None and not _CODE_RE.fullmatch(self.scratch_code):
            raise ValueError(f"a scratch-off code is printed as XXXX-XXXX, not {self.scratch_code!r}")


class TextBox(NamedTuple):
    """What was drawn where, in PDF points from the page's bottom-left (for tests and
    previews): ``cell`` and ``box`` are (x0, y0, x1, y1)."""
    page: int
    cell: tuple[float, float, float, float]
    box: tuple[float, float, float, float]
    text: str
    font: str
    size: float


def _fields(label: LabelData) -> tuple:
    def fmt(day: dt.date | None) -> str:
        return day.strftime("%d/%m/%Y") if day else ""

    net, word = label.net_quantity.strip(), label.net_word.strip()
    return (label.product_name.strip(), label.producer_name.strip(), " ".join(label.address_line.split()),
            label.place.strip(), label.origin.strip(), label.lot.strip(), fmt(label.production_date),
            fmt(label.expiry_date), f"{word}: {net}" if net and word else net, label.ocop_stars or 0)


class _SheetWriter:
    """Draws labels on one canvas; holds what a sheet reuses (geometry, star forms)."""

    def __init__(self, canvas: Canvas, layout: Layout,
                 on_text: Callable[[TextBox], None] | None) -> None:
        self.canvas, self.layout, self.on_text = canvas, layout, on_text
        self.g = _Geometry.for_layout(layout)
        self.page = 0
        self.star_forms: set[int] = set()

    def outlines(self) -> None:
        canvas, inset = self.canvas, 0.15
        canvas.saveState()
        canvas.setLineWidth(0.3)
        canvas.setStrokeGray(0.35)
        for index in range(self.layout.per_page):
            x, y, w, h = (v * mm for v in self.layout.cell_box(index))
            canvas.rect(x + inset, y + inset, w - 2 * inset, h - 2 * inset, stroke=1, fill=0)
        canvas.restoreState()

    def _stars_form(self, count: int) -> str:
        """A form XObject of ``count`` stars at 1 pt text size, baseline at y = 0."""
        name = f"ocop-stars-{count}"
        if count not in self.star_forms:
            diameter, gap = star_size(1.0)
            canvas = self.canvas
            canvas.beginForm(name, 0, -0.1, count * (diameter + gap), 0.8)
            path = canvas.beginPath()
            for n in range(count):
                cx, cy, r = n * (diameter + gap) + diameter / 2, 0.36, diameter / 2
                for k in range(10):
                    radius = r if k % 2 == 0 else r * 0.4
                    angle = math.pi / 2 + k * math.pi / 5
                    point = (cx + radius * math.cos(angle), cy + radius * math.sin(angle))
                    if k == 0:
                        path.moveTo(*point)
                    else:
                        path.lineTo(*point)
                path.close()
            canvas.drawPath(path, stroke=0, fill=1)
            canvas.endForm()
            self.star_forms.add(count)
        return name

    def _record(self, cell: tuple, x: float, baseline: float, right: float, text: str,
                font: str, size: float) -> None:
        box = (x, baseline - (LINE_HEIGHT - 1) * size, right, baseline + size)
        self.on_text(TextBox(self.page, cell, box, text, font, size))

    def label(self, label: LabelData, index: int) -> None:
        canvas, g = self.canvas, self.g
        x, y, w, h = (v * mm for v in self.layout.cell_box(index))
        cell = (x, y, x + w, y + h)
        # QR: one path, a rectangle per dark run, in module units (short integer operands).
        size, runs = qr_runs(label.url)
        qx, qy, side = g.qr_square(size, QUIET_ZONE)
        module = side / (size + 2 * QUIET_ZONE)
        canvas.saveState()
        canvas.translate(x + qx + QUIET_ZONE * module, y + qy + QUIET_ZONE * module)
        canvas.scale(module, module)
        path = canvas.beginPath()
        top_row = size - 1
        for row, col, length in runs:
            path.rect(col, top_row - row, length, 1)
        canvas.drawPath(path, stroke=0, fill=1)
        canvas.restoreState()

        groups = group(label.serial, " ").split(" ")
        top, block, serial = _plan(_fields(label), len(groups), g.text_w, g.text_h, g.max_size,
                                   g.name_lines, label.scratch_code is not None)
        tx = x + g.text_x
        text = canvas.beginText()
        stars = []
        baseline = y + g.text_y + g.text_h
        for line in top:
            baseline -= line.size                              # ascent: 1 em
            text.setFont(line.font, line.size)
            text.setTextOrigin(tx, baseline)
            text.textOut(line.text)
            if line.kind == "stars":
                stars.append((baseline, line))
            elif self.on_text:
                self._record(cell, tx, baseline, tx + _sw(line.text, line.font, line.size),
                             line.text, line.font, line.size)
            baseline -= (LINE_HEIGHT - 1) * line.size         # descent
        baseline = y + g.text_y + (LINE_HEIGHT - 1) * serial[-1].size
        for line in reversed(serial):
            a, b = map(int, line.text.split(":"))
            value = " ".join(groups[a:b])
            natural = _sw(value, line.font, line.size)
            squeeze = min(1.0, g.text_w / natural) if natural else 1.0
            text.setFont(line.font, line.size)
            text.setTextOrigin(tx, baseline)
            text.setHorizScale(100 * squeeze)
            text.textOut(value)
            text.setHorizScale(100)
            if self.on_text:
                self._record(cell, tx, baseline, tx + natural * squeeze, value, line.font,
                             line.size)
            baseline += LINE_HEIGHT * line.size
        box = None
        if block:
            box = self._scratch(text, cell, tx, baseline - (LINE_HEIGHT - 1) * serial[-1].size, block,
                                label.scratch_code)
        canvas.drawText(text)
        if box:
            line_width = 0.5
            canvas.saveState()
            canvas.setLineWidth(line_width)
            canvas.roundRect(box[0] + line_width / 2, box[1] + line_width / 2, box[2] - box[0] - line_width,
                             box[3] - box[1] - line_width, 0.2 * block.code_size, stroke=1, fill=0)
            canvas.restoreState()
        for base, line in stars:
            sx = tx + _sw("OCOP ", line.font, line.size)
            canvas.saveState()
            canvas.translate(sx, base)
            canvas.scale(line.size, line.size)
            canvas.doForm(self._stars_form(line.stars))
            canvas.restoreState()
            if self.on_text:
                diameter, gap = star_size(line.size)
                right = sx + line.stars * (diameter + gap) - gap
                self._record(cell, tx, base, right, "OCOP " + "★" * line.stars, line.font,
                             line.size)

    def _scratch(self, text, cell: tuple, tx: float, bottom: float, block: Scratch,
                 code: str) -> tuple[float, float, float, float]:
        """Caption and code of the scratch-off box into ``text``; the box sits on ``bottom``
        (the top of the serial lines).  Returns the box (x0, y0, x1, y1) to outline."""
        cs, s = block.code_size, block.caption_size
        box_x = tx + (_sw(SCRATCH_CAPTION, REGULAR, s) + 0.5 * s if block.inline else 0)
        box = (box_x, bottom, box_x + block.box_w, bottom + block.box_h)
        code_baseline = bottom + (block.box_h - CAP_HEIGHT * cs) / 2
        caption_baseline = code_baseline if block.inline else box[3] + (LINE_HEIGHT - 1) * s
        text.setFont(REGULAR, s)
        text.setTextOrigin(tx, caption_baseline)
        text.textOut(SCRATCH_CAPTION)
        inner = block.box_w - 2 * CODE_PAD * cs
        natural = _sw(code, BOLD, cs)
        squeeze = min(1.0, inner / natural)
        text.setFont(BOLD, cs)
        text.setTextOrigin(box_x + (block.box_w - natural * squeeze) / 2, code_baseline)
        text.setHorizScale(100 * squeeze)
        text.textOut(code)
        text.setHorizScale(100)
        if self.on_text:
            self._record(cell, tx, caption_baseline, tx + _sw(SCRATCH_CAPTION, REGULAR, s),
                         SCRATCH_CAPTION, REGULAR, s)
            self.on_text(TextBox(self.page, cell, box, code, BOLD, cs))
        return box


class _CompactCanvas(Canvas):
    """A canvas that deflates each page's content as soon as the page is finished.

    reportlab keeps every page until ``save()``; uncompressed, a 100,000-label run holds
    ~450 MB of page text.  Compressed at ``showPage`` it holds a tenth of that (the PDF is
    byte-for-byte what reportlab writes with page compression, minus the ASCII85 layer).
    """

    def showPage(self) -> None:
        super().showPage()
        page = last_page(self)
        if page.stream and not page.Contents:
            page.Contents = PDFStream(PDFDictionary({"Filter": PDFArray([PDFName("FlateDecode")])}),
                                      PDFZCompress.encode(page.stream))
            page.stream = None


def render_label_sheet(labels: Iterable[LabelData], layout: Layout, out: BinaryIO, *,
                       calibration: bool = False, title: str = DEFAULT_TITLE,
                       on_text: Callable[[TextBox], None] | None = None) -> int:
    """Write a PDF of ``labels`` on ``layout`` to ``out``; returns the number of pages.

    ``labels`` is consumed one page at a time (a generator of 100,000 labels is fine).
    ``calibration`` outlines every cell on every page, for aligning the printer; with no
    labels at all one page is still written (a blank calibration sheet when asked).
    ``on_text`` is called for every string drawn, with its box measured at draw time.
    """
    register_fonts()
    canvas = _CompactCanvas(out, pagesize=(layout.page_width * mm, layout.page_height * mm),
                            pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator(CREATOR)
    canvas.setAuthor(CREATOR)
    canvas.setSubject(f"{layout.name}: {layout.label_width:g}×{layout.label_height:g} mm")
    writer = _SheetWriter(canvas, layout, on_text)
    labels = iter(labels)
    while True:
        chunk = list(islice(labels, layout.per_page))
        if not chunk and writer.page:
            break
        writer.page += 1
        if calibration:
            writer.outlines()
        for index, label in enumerate(chunk):
            writer.label(label, index)
        canvas.showPage()
        if not chunk:
            break
    with binary_streams():
        canvas.save()
    return writer.page
