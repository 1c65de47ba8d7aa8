"""PDF sheets of traceability stamps (tem truy xuất), drawn with reportlab.

Each label: the QR (vector: one filled path, a rectangle per horizontal run of dark modules,
with a 4-module quiet zone inside the label) on the left at up to the label's height, and
the text to its right in Be Vietnam Pro (bundled TTF, OFL) with the Vietnamese wording of
Decree 43/2017 and 111/2021:

    <product name, bold, up to 3 lines (2 on labels under 30 mm high)>
    Cơ sở SX: <producer>
    <commune, province>
    Lô: <lot>
    Khối lượng tịnh | Thể tích thực | Số lượng: <net quantity>
    NSX: dd/mm/yyyy  HSD: dd/mm/yyyy      (two lines when one is too narrow)
    OCOP ★★★★                             (stars drawn as vector shapes)
    Mã cào [ABCD-EFGH]                    (scratch runs: a box for the scratch-off sticker)
    <serial in groups of 4, bold, at the bottom>

Fitting: text shrinks together, from a size set by the label height down to ``MIN_SIZE``;
when it still does not fit, lines are dropped, least important first (``DROP_ORDER``):
place, producer, OCOP, net quantity, NSX.  Product name, lot, HSD and serial are always
printed: the stamp sits on a package whose main label carries the full mandatory content,
and these four identify the batch, its safety date and the code a buyer can type in.  The
name and then any over-long line are cut with "…"; the serial is never cut (it wraps between
groups).  Nothing is drawn outside ``pad`` of the label's edge.

A label with a scratch-off code (tem cào) gets a box just above the serial, captioned "Mã
cào" (left of the box when the column is wide enough, above it otherwise), with the code in
bold inside: the sticker goes over the box.  It sits in the text column, so the QR keeps its
size and quiet zone, and is never dropped.  Its size depends on the stock only
(:func:`scratch_box_mm`: the sticker to order), never on the product; the text fits around
it.  On the smallest stock (38×21.2 mm) the product name then takes one line instead of two
when that is what keeps the lot, HSD and serial.  Labels without a code are drawn exactly as
before.

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
from functools import lru_cache
from itertools import islice
from typing import BinaryIO, Callable, Iterable, NamedTuple

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFArray, PDFDictionary, PDFName, PDFStream, PDFZCompress
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from ..internals import binary_streams, last_page
from ..crockford import ALPHABET, GROUP, group
from .layouts import Layout
from .qr import QUIET_ZONE, qr_runs

REGULAR, BOLD = "BeVietnamPro", "BeVietnamPro-Bold"
CREATOR = "OCOP Marketplace"
DEFAULT_TITLE = "Tem truy xuất nguồn gốc"
ELLIPSIS = "…"
MIN_SIZE = 5.0          # pt, smallest body text (name is NAME_SCALE × body)
MAX_SIZE = 8.0
NAME_SCALE = 1.15
STEP = 0.25
DROP_ORDER = ("place", "producer", "ocop", "net", "nsx")
_LINE = 1.265           # Be Vietnam Pro: ascent 1000, descent −265 per 1000 units
_CAP = 0.74             # … and its capital height
SCRATCH_CAPTION = "Mã cào"
CODE_SCALE = 1.25       # scratch-off code: at most this × the stock's largest body text
# pt: the caption (MIN_SIZE) goes beside the box only if the code stays this big, which also
# keeps the caption's ascent and descent inside the box's height
CODE_MIN_INLINE = 6.0
_CODE_PAD = 0.35        # em of the code, around it inside the box
_CODE_SYMBOLS = 8       # printed as XXXX-XXXX
_CODE_RE = re.compile(f"[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}")


@dataclass(frozen=True)
class LabelData:
    url: str
    serial: str
    product_name: str
    producer_name: str
    place: str
    lot: str
    production_date: dt.date | None = None
    expiry_date: dt.date | None = None
    net_quantity: str = ""
    ocop_stars: int | None = None
    scratch_code: str | None = None     # "ABCD-EFGH" under a scratch-off sticker

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


@lru_cache(maxsize=None)
def register_fonts() -> tuple[str, str]:
    """Register Be Vietnam Pro Regular and Bold with reportlab (once); returns their names."""
    import fontpkg

    for name, weight in ((REGULAR, 400), (BOLD, 700)):
        pdfmetrics.registerFont(TTFont(name, str(fontpkg.path("Be Vietnam Pro", weight))))
    return REGULAR, BOLD


def _sw(text: str, font: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, font, size)


def _longest_prefix(text: str, fits: Callable[[str], bool]) -> int:
    """Length of the longest prefix of ``text`` that ``fits`` (widths grow with length)."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(text[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo


def truncate(text: str, font: str, size: float, width: float) -> str:
    """``text``, or its longest prefix + "…" at most ``width`` points wide; the cut falls
    between words unless that would waste more than 40 % of the line."""
    if _sw(text, font, size) <= width:
        return text
    keep = _longest_prefix(text, lambda head: _sw(head.rstrip() + ELLIPSIS, font, size) <= width)
    cut = text[:keep]
    space = cut.rfind(" ")
    if space >= 0.6 * keep:
        cut = cut[:space]
    cut = cut.rstrip(" ,;:-") + ELLIPSIS
    return cut if _sw(cut, font, size) <= width else ""


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap; a word wider than ``width`` is broken between characters."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if _sw(candidate, font, size) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while len(word) > 1 and _sw(word, font, size) > width:
            k = max(1, _longest_prefix(word, lambda head: _sw(head, font, size) <= width))
            lines.append(word[:k])
            word = word[k:]
        current = word
    if current:
        lines.append(current)
    return lines


def _net_label(net: str) -> str:
    unit = net.strip().split()[-1].lower() if net.strip() else ""
    if unit in {"ml", "l", "lít", "lit"}:
        return "Thể tích thực"
    if unit in {"g", "kg", "mg", "gam", "gram"}:
        return "Khối lượng tịnh"
    return "Số lượng"


class _Line(NamedTuple):
    kind: str               # "text", "stars" or "serial"
    font: str
    size: float
    text: str               # for "serial": "a:b", the slice of groups on this line
    stars: int = 0


def _star_size(size: float) -> tuple[float, float]:
    return 0.8 * size, 0.12 * size          # diameter, gap


class _Scratch(NamedTuple):
    """The scratch-off box of a label, in points: caption beside (``inline``) or above it."""
    caption_size: float
    code_size: float
    inline: bool
    box_w: float
    box_h: float
    height: float           # caption and box together


@lru_cache(maxsize=None)
def _scratch_block(width: float, max_size: float) -> _Scratch:
    """The scratch-off box of a stock whose text column is ``width`` wide and whose body
    text is at most ``max_size``: one size for every label printed on that stock, whatever
    the product (stickers are bought by size).  The code is as large as ``CODE_SCALE`` ×
    max_size and the width allow; the caption, at ``MIN_SIZE``, goes beside the box when the
    code stays at least ``CODE_MIN_INLINE`` that way, else above it."""
    box_em = _code_em() + 2 * _CODE_PAD
    box_h_em = _CAP + 2 * _CODE_PAD
    s = MIN_SIZE
    beside = _sw(SCRATCH_CAPTION, REGULAR, s) + 0.5 * s
    inline_size = min(CODE_SCALE * max_size, (width - beside) / box_em)
    if inline_size >= CODE_MIN_INLINE:
        return _Scratch(s, inline_size, True, inline_size * box_em, inline_size * box_h_em,
                        inline_size * box_h_em)
    size = min(CODE_SCALE * max_size, width / box_em)
    return _Scratch(s, size, False, size * box_em, size * box_h_em, size * box_h_em + _LINE * s)


def scratch_box_mm(layout: Layout) -> tuple[float, float]:
    """Width and height in mm of the scratch-off box on ``layout``: the sticker to order."""
    g = _Geometry.for_layout(layout)
    block = _scratch_block(g.text_w, g.max_size)
    return block.box_w / mm, block.box_h / mm


@lru_cache(maxsize=256)
def _plan(fields: tuple, serial_groups: int, width: float, height: float, max_size: float,
          name_lines: int, scratch: bool = False
          ) -> tuple[tuple[_Line, ...], _Scratch | None, tuple[_Line, ...]]:
    """Fit the text of one kind of label into ``width`` × ``height`` points.

    Returns (top lines, scratch-off box or None, serial lines); the serial lines sit at the
    bottom, the box just above them.  Serials are planned at a width that only 1 group in
    ~1,000 exceeds; such a line is drawn slightly narrower (horizontal scaling), so every
    label of a run has the same layout.
    """
    name, producer, place, lot, nsx, hsd, net, stars = fields
    group_em = _serial_group_em()
    space_em = _sw(" ", BOLD, 1)
    optional = {
        "producer": f"Cơ sở SX: {producer}" if producer else "",
        "place": place, "net": f"{_net_label(net)}: {net}" if net else "",
        "nsx": f"NSX: {nsx}" if nsx else "", "ocop": stars,
    }
    droppable = [key for key in DROP_ORDER if optional[key]]

    def lay_out(s: float, dropped: set) -> tuple[list[_Line], list[_Line], float, bool]:
        clean, top = True, []
        ns = s * NAME_SCALE
        name_rows = wrap(name, BOLD, ns, width) or [""]
        if len(name_rows) > name_lines:
            clean = False
            rest = " ".join(name_rows[name_lines - 1:])
            name_rows = name_rows[:name_lines - 1] + [truncate(rest, BOLD, ns, width)]
        top += [_Line("text", BOLD, ns, row) for row in name_rows]

        def add(text: str, rows: int = 1) -> None:
            nonlocal clean
            wrapped = wrap(text, REGULAR, s, width) if rows > 1 else [text]
            if len(wrapped) > rows or _sw(wrapped[-1], REGULAR, s) > width:
                clean = False
                wrapped = wrapped[:rows - 1] + [
                    truncate(" ".join(wrapped[rows - 1:]), REGULAR, s, width)]
            top.extend(_Line("text", REGULAR, s, row) for row in wrapped)

        for key in ("producer", "place"):
            if optional[key] and key not in dropped:
                add(optional[key], rows=2)
        add(f"Lô: {lot}")
        if optional["net"] and "net" not in dropped:
            add(optional["net"])
        dates = [d for d in (None if "nsx" in dropped else optional["nsx"],
                             f"HSD: {hsd}" if hsd else "") if d]
        if len(dates) == 2 and _sw("   ".join(dates), REGULAR, s) <= width:
            dates = ["   ".join(dates)]
        for text in dates:
            add(text)
        if stars and "ocop" not in dropped:
            diameter, gap = _star_size(s)
            if _sw("OCOP ", BOLD, s) + stars * (diameter + gap) <= width:
                top.append(_Line("stars", BOLD, s, "OCOP", stars))
            else:
                add(f"OCOP {stars} sao")
        per_line, ss = serial_groups, s
        while per_line > 1 and (per_line * group_em + (per_line - 1) * space_em) * ss > width:
            per_line -= 1
        if group_em * ss > width:       # not even one group: shrink the serial only
            ss, clean = width / group_em, False
        per_line = math.ceil(serial_groups / math.ceil(serial_groups / per_line))  # balance
        serial = [_Line("serial", BOLD, ss, f"{a}:{min(a + per_line, serial_groups)}")
                  for a in range(0, serial_groups, per_line)]
        used = _LINE * (sum(line.size for line in top) + sum(line.size for line in serial))
        block = _scratch_block(width, max_size) if scratch else None
        if block:
            used += block.height
        return top, serial, used, clean, block

    sizes = [max_size - STEP * i for i in range(int((max_size - MIN_SIZE) / STEP) + 1)]
    for require_clean in (True, False):
        for n_dropped in range(len(droppable) + 1):
            dropped = set(droppable[:n_dropped])
            for s in (sizes if require_clean else sizes[-1:]):
                top, serial, used, clean, block = lay_out(s, dropped)
                if used <= height and (clean or not require_clean):
                    return tuple(top), block, tuple(serial)
    if scratch and name_lines > 1:  # the box took the room: a one-line name keeps lot and HSD
        return _plan(fields, serial_groups, width, height, max_size, 1, scratch)
    # Degenerate stock: keep the serial, then as many mandatory lines as fit, below MIN_SIZE.
    s = MIN_SIZE
    while True:
        top, serial, used, _, block = lay_out(s, set(droppable))
        while top and used > height:
            used -= _LINE * top.pop().size
        if used <= height or s < 1:
            return tuple(top), block, tuple(serial)
        s *= 0.9


@lru_cache(maxsize=None)
def _serial_group_em() -> float:
    """Width at 1 pt that a group of 4 random serial symbols exceeds ~0.1 % of the time."""
    widths = [_sw(ch, BOLD, 1) for ch in ALPHABET]
    mean = sum(widths) / len(widths)
    std = math.sqrt(sum((w - mean) ** 2 for w in widths) / len(widths))
    return GROUP * mean + 3 * math.sqrt(GROUP) * std


@lru_cache(maxsize=None)
def _code_em() -> float:
    """Width at 1 pt that a scratch-off code (8 random symbols and a hyphen) exceeds ~0.1 %
    of the time; a wider one is drawn slightly narrower, inside the same box."""
    widths = [_sw(ch, BOLD, 1) for ch in ALPHABET]
    mean = sum(widths) / len(widths)
    std = math.sqrt(sum((w - mean) ** 2 for w in widths) / len(widths))
    return _CODE_SYMBOLS * mean + 3 * math.sqrt(_CODE_SYMBOLS) * std + _sw("-", BOLD, 1)


class _Geometry(NamedTuple):
    width: float
    height: float
    pad: float
    qr_box: float
    text_x: float           # offsets from the cell's bottom-left, points
    text_w: float
    text_h: float
    max_size: float
    name_lines: int

    @classmethod
    def for_layout(cls, layout: Layout) -> "_Geometry":
        w, h = layout.label_width * mm, layout.label_height * mm
        pad = min(2 * mm, max(1 * mm, 0.05 * h))
        qr_box = min(h, 0.45 * w)
        max_size = min(MAX_SIZE, max(MIN_SIZE + 0.5, 0.21 * layout.label_height))
        if w - qr_box - pad < 10 * mm or h - 2 * pad < 8 * mm:
            raise ValueError(f"{layout.name}: a {layout.label_width:g}×{layout.label_height:g}"
                             " mm label is too small for a QR and its text")
        return cls(w, h, pad, qr_box, qr_box, w - qr_box - pad, h - 2 * pad, max_size,
                   3 if layout.label_height >= 30 else 2)


def _fields(label: LabelData) -> tuple:
    def fmt(day: dt.date | None) -> str:
        return day.strftime("%d/%m/%Y") if day else ""

    return (label.product_name.strip(), label.producer_name.strip(), label.place.strip(),
            label.lot.strip(), fmt(label.production_date), fmt(label.expiry_date),
            label.net_quantity.strip(), label.ocop_stars or 0)


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
            diameter, gap = _star_size(1.0)
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
        box = (x, baseline - (_LINE - 1) * size, right, baseline + size)
        self.on_text(TextBox(self.page, cell, box, text, font, size))

    def label(self, label: LabelData, index: int) -> None:
        canvas, g = self.canvas, self.g
        x, y, w, h = (v * mm for v in self.layout.cell_box(index))
        cell = (x, y, x + w, y + h)
        # QR: one path, a rectangle per dark run, in module units (short integer operands).
        size, runs = qr_runs(label.url)
        module = g.qr_box / (size + 2 * QUIET_ZONE)
        canvas.saveState()
        canvas.translate(x + QUIET_ZONE * module,
                         y + (g.height - g.qr_box) / 2 + QUIET_ZONE * module)
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
        baseline = y + g.height - g.pad
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
            baseline -= (_LINE - 1) * line.size               # descent
        baseline = y + g.pad + (_LINE - 1) * serial[-1].size
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
            baseline += _LINE * line.size
        box = None
        if block:
            box = self._scratch(text, cell, tx, baseline - (_LINE - 1) * serial[-1].size, block,
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
                diameter, gap = _star_size(line.size)
                right = sx + line.stars * (diameter + gap) - gap
                self._record(cell, tx, base, right, "OCOP " + "★" * line.stars, line.font,
                             line.size)

    def _scratch(self, text, cell: tuple, tx: float, bottom: float, block: _Scratch,
                 code: str) -> tuple[float, float, float, float]:
        """Caption and code of the scratch-off box into ``text``; the box sits on ``bottom``
        (the top of the serial lines).  Returns the box (x0, y0, x1, y1) to outline."""
        cs, s = block.code_size, block.caption_size
        box_x = tx + (_sw(SCRATCH_CAPTION, REGULAR, s) + 0.5 * s if block.inline else 0)
        box = (box_x, bottom, box_x + block.box_w, bottom + block.box_h)
        code_baseline = bottom + (block.box_h - _CAP * cs) / 2
        caption_baseline = code_baseline if block.inline else box[3] + (_LINE - 1) * s
        text.setFont(REGULAR, s)
        text.setTextOrigin(tx, caption_baseline)
        text.textOut(SCRATCH_CAPTION)
        inner = block.box_w - 2 * _CODE_PAD * cs
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
