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
    <serial in groups of 4, bold, at the bottom>

Fitting: text shrinks together, from a size set by the label height down to ``MIN_SIZE``;
when it still does not fit, lines are dropped, least important first (``DROP_ORDER``):
place, producer, OCOP, net quantity, NSX.  Product name, lot, HSD and serial are always
printed: the stamp sits on a package whose main label carries the full mandatory content,
and these four identify the batch, its safety date and the code a buyer can type in.  The
name and then any over-long line are cut with "…"; the serial is never cut (it wraps between
groups).  Nothing is drawn outside ``pad`` of the label's edge.

Pages stream from the ``labels`` iterable one page at a time; layouts of the text are cached
per product/batch (they repeat across a run), so a label costs one QR encode and a few
string draws.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from typing import BinaryIO, Callable, Iterable, NamedTuple

from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from ..stamps.serials import group_serial
from .layouts import Layout
from .qr import QUIET_ZONE, qr_runs

REGULAR, BOLD = "BeVietnamPro", "BeVietnamPro-Bold"
CREATOR = "OCOP Marketplace"
DEFAULT_TITLE = "Tem truy xuất nguồn gốc"
ELLIPSIS = "…"
MIN_SIZE = 4.5          # pt, smallest body text (name is NAME_SCALE × body)
MAX_SIZE = 8.0
NAME_SCALE = 1.15
STEP = 0.25
DROP_ORDER = ("place", "producer", "ocop", "net", "nsx")
_LINE = 1.265           # Be Vietnam Pro: ascent 1000, descent −265 per 1000 units


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


def truncate(text: str, font: str, size: float, width: float) -> str:
    """``text``, or its longest prefix + "…" that is at most ``width`` points wide."""
    if _sw(text, font, size) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _sw(text[:mid].rstrip() + ELLIPSIS, font, size) <= width:
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo].rstrip() + ELLIPSIS
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
            k = len(word) - 1
            while k > 1 and _sw(word[:k], font, size) > width:
                k -= 1
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


@lru_cache(maxsize=256)
def _plan(fields: tuple, serial_groups: int, group_em: float, width: float, height: float,
          max_size: float, name_lines: int) -> tuple[tuple[_Line, ...], tuple[_Line, ...]]:
    """Fit the text of one kind of label into ``width`` × ``height`` points.

    Returns (top lines, serial lines); the serial lines sit at the bottom.  ``group_em`` is
    an upper bound of one serial group's width at 1 pt, so the plan fits every serial.
    """
    name, producer, place, lot, nsx, hsd, net, stars = fields
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

        def add(text: str) -> None:
            nonlocal clean
            if _sw(text, REGULAR, s) > width:
                clean, text = False, truncate(text, REGULAR, s, width)
            top.append(_Line("text", REGULAR, s, text))

        for key in ("producer", "place"):
            if optional[key] and key not in dropped:
                add(optional[key])
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
        per_line = serial_groups
        ss = s
        while per_line > 1 and (per_line * group_em + (per_line - 1) * space_em) * ss > width:
            per_line -= 1
        if group_em * ss > width:       # not even one group: shrink the serial only
            ss, clean = width / group_em, False
        serial = [_Line("serial", BOLD, ss, f"{a}:{min(a + per_line, serial_groups)}")
                  for a in range(0, serial_groups, per_line)]
        used = _LINE * (sum(line.size for line in top) + sum(line.size for line in serial))
        return top, serial, used, clean

    sizes = [max_size - STEP * i for i in range(int((max_size - MIN_SIZE) / STEP) + 1)]
    for require_clean in (True, False):
        for n_dropped in range(len(droppable) + 1):
            dropped = set(droppable[:n_dropped])
            for s in (sizes if require_clean else sizes[-1:]):
                top, serial, used, clean = lay_out(s, dropped)
                if used <= height and (clean or not require_clean):
                    return tuple(top), tuple(serial)
    # Degenerate stock: keep the serial, then as many mandatory lines as fit, below MIN_SIZE.
    s = MIN_SIZE
    while True:
        top, serial, used, _ = lay_out(s, set(droppable))
        while top and used > height:
            used -= _LINE * top.pop().size
        if used <= height or s < 1:
            return tuple(top), tuple(serial)
        s *= 0.9


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
        return cls(w, h, pad, qr_box, qr_box, w - qr_box - pad, h - 2 * pad, max_size,
                   3 if layout.label_height >= 30 else 2)


def _fields(label: LabelData) -> tuple:
    fmt = (lambda d: d.strftime("%d/%m/%Y") if d else "")
    return (label.product_name.strip(), label.producer_name.strip(), label.place.strip(),
            label.lot.strip(), fmt(label.production_date), fmt(label.expiry_date),
            label.net_quantity.strip(), label.ocop_stars or 0)


def _star_path(canvas: Canvas, cx: float, cy: float, r: float):
    path = canvas.beginPath()
    for k in range(10):
        radius = r if k % 2 == 0 else r * 0.4
        angle = math.pi / 2 + k * math.pi / 5
        x, y = cx + radius * math.cos(angle), cy + radius * math.sin(angle)
        path.moveTo(x, y) if k == 0 else path.lineTo(x, y)
    path.close()
    return path


def _draw_label(canvas: Canvas, label: LabelData, x: float, y: float, g: _Geometry,
                record: Callable[[tuple, str, str, float], None] | None) -> None:
    size, runs = qr_runs(label.url)
    module = g.qr_box / (size + 2 * QUIET_ZONE)
    canvas.saveState()
    canvas.translate(x + QUIET_ZONE * module, y + (g.height - g.qr_box) / 2 + QUIET_ZONE * module)
    canvas.scale(module, module)
    path = canvas.beginPath()
    top_row = size - 1
    for row, col, length in runs:
        path.rect(col, top_row - row, length, 1)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()

    groups = group_serial(label.serial, " ").split(" ")
    group_em = math.ceil(max(_sw(grp, BOLD, 1) for grp in groups) * 20) / 20
    top, serial = _plan(_fields(label), len(groups), group_em, g.text_w, g.text_h,
                        g.max_size, g.name_lines)
    tx = x + g.text_x
    baseline = y + g.height - g.pad
    text = canvas.beginText()
    for line in top:
        baseline -= line.size                              # ascent = 1 em
        text.setFont(line.font, line.size)
        text.setTextOrigin(tx, baseline)
        text.textOut(line.text)
        if record:
            record((tx, baseline, line.text, line.font, line.size))
        baseline -= (_LINE - 1) * line.size
    baseline = y + g.pad + (_LINE - 1) * sum(line.size for line in serial[-1:])
    for line in reversed(serial):
        a, b = map(int, line.text.split(":"))
        value = " ".join(groups[a:b])
        text.setFont(line.font, line.size)
        text.setTextOrigin(tx, baseline)
        text.textOut(value)
        if record:
            record((tx, baseline, value, line.font, line.size))
        baseline += _LINE * line.size
    canvas.drawText(text)
    star_lines = [(i, line) for i, line in enumerate(top) if line.kind == "stars"]
    for i, line in star_lines:
        base = y + g.height - g.pad - _LINE * sum(ln.size for ln in top[:i]) - line.size
        diameter, gap = _star_size(line.size)
        sx = tx + _sw("OCOP ", line.font, line.size)
        for _ in range(line.stars):
            canvas.drawPath(_star_path(canvas, sx + diameter / 2, base + 0.36 * line.size,
                                       diameter / 2), stroke=0, fill=1)
            sx += diameter + gap
        if record:
            record((tx, base, "OCOP " + "★" * line.stars, line.font, line.size, sx - gap))


def _draw_outlines(canvas: Canvas, layout: Layout) -> None:
    canvas.saveState()
    canvas.setLineWidth(0.3)
    canvas.setStrokeGray(0.35)
    inset = 0.15
    for index in range(layout.per_page):
        x, y, w, h = layout.cell_box(index)
        canvas.rect(x * mm + inset, y * mm + inset, w * mm - 2 * inset, h * mm - 2 * inset,
                    stroke=1, fill=0)
    canvas.restoreState()


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
    canvas = Canvas(out, pagesize=(layout.page_width * mm, layout.page_height * mm),
                    pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator(CREATOR)
    canvas.setAuthor(CREATOR)
    canvas.setSubject(f"{layout.name}: {layout.label_width:g}×{layout.label_height:g} mm")
    geometry = _Geometry.for_layout(layout)
    labels = iter(labels)
    pages = 0
    while True:
        chunk = list(islice(labels, layout.per_page))
        if not chunk and pages:
            break
        pages += 1
        if calibration:
            _draw_outlines(canvas, layout)
        for index, label in enumerate(chunk):
            x, y, w, h = (v * mm for v in layout.cell_box(index))
            record = None
            if on_text:
                cell = (x, y, x + w, y + h)

                def record(item, cell=cell, page=pages):
                    tx, base, value, font, size, *end = item
                    right = end[0] if end else tx + _sw(value, font, size)
                    on_text(TextBox(page, cell, (tx, base - 0.265 * size, right, base + size),
                                    value, font, size))
            _draw_label(canvas, label, x, y, geometry, record)
        canvas.showPage()
        if not chunk:
            break
    canvas.save()
    return pages
