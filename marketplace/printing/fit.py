"""Fitting the text of a stamp (tem) into its label: what :mod:`.pdf` draws, planned here.

Fitting: text shrinks together, from a size set by the label height down to ``MIN_SIZE``;
when it still does not fit, lines are dropped, least important first (``DROP_ORDER``):
place, producer, OCOP, net quantity, NSX.  Product name, lot, HSD and serial are always
printed: the stamp sits on a package whose main label carries the full mandatory content,
and these four identify the batch, its safety date and the code a buyer can type in.  The
name and then any over-long line are cut with "…"; the serial is never cut (it wraps between
groups).  Nothing is drawn outside ``pad`` of the label's edge (:class:`Geometry`).

A label with a scratch-off code (tem cào) gets a box just above the serial, captioned "Mã
cào" (left of the box when the column is wide enough, above it otherwise), with the code in
bold inside: the sticker goes over the box.  It sits in the text column, so the QR keeps its
size and quiet zone, and is never dropped.  Its size depends on the stock only
(:func:`scratch_box_mm`: the sticker to order), never on the product; the text fits around
it.  On the smallest stock (38×21.2 mm) the product name then takes one line instead of two
when that is what keeps the lot, HSD and serial.

Plans are cached per kind of label (:func:`plan`): the fields of a product/batch repeat
across a run.  Widths are measured with the fonts' metrics, so :func:`register_fonts` must
have run (:func:`.pdf.render_label_sheet` and :func:`scratch_box_mm` do it).
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, NamedTuple

import fontpkg
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from ..crockford import ALPHABET, GROUP
from .layouts import Layout

REGULAR, BOLD = "BeVietnamPro", "BeVietnamPro-Bold"
ELLIPSIS = "…"
MIN_SIZE = 5.0          # pt, smallest body text (name is NAME_SCALE × body)
MAX_SIZE = 8.0
NAME_SCALE = 1.15
STEP = 0.25
DROP_ORDER = ("place", "producer", "ocop", "net", "nsx")
LINE_HEIGHT = 1.265     # Be Vietnam Pro: ascent 1000, descent −265 per 1000 units
CAP_HEIGHT = 0.74       # … and its capital height
SCRATCH_CAPTION = "Mã cào"
CODE_SCALE = 1.25       # scratch-off code: at most this × the stock's largest body text
# pt: the caption (MIN_SIZE) goes beside the box only if the code stays this big, which also
# keeps the caption's ascent and descent inside the box's height
CODE_MIN_INLINE = 6.0
CODE_PAD = 0.35         # em of the code, around it inside the box
CODE_SYMBOLS = 8        # printed as XXXX-XXXX


@lru_cache(maxsize=None)
def register_fonts() -> tuple[str, str]:
    """Register Be Vietnam Pro Regular and Bold with reportlab (once); returns their names."""
    for name, weight in ((REGULAR, 400), (BOLD, 700)):
        pdfmetrics.registerFont(TTFont(name, str(fontpkg.path("Be Vietnam Pro", weight))))
    return REGULAR, BOLD


def string_width(text: str, font: str, size: float) -> float:
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
    if string_width(text, font, size) <= width:
        return text
    keep = _longest_prefix(text, lambda head: string_width(head.rstrip() + ELLIPSIS, font, size) <= width)
    cut = text[:keep]
    space = cut.rfind(" ")
    if space >= 0.6 * keep:
        cut = cut[:space]
    cut = cut.rstrip(" ,;:-") + ELLIPSIS
    return cut if string_width(cut, font, size) <= width else ""


def wrap(text: str, font: str, size: float, width: float) -> list[str]:
    """Greedy word wrap; a word wider than ``width`` is broken between characters."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if string_width(candidate, font, size) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while len(word) > 1 and string_width(word, font, size) > width:
            k = max(1, _longest_prefix(word, lambda head: string_width(head, font, size) <= width))
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


class Line(NamedTuple):
    kind: str               # "text", "stars" or "serial"
    font: str
    size: float
    text: str               # for "serial": "a:b", the slice of groups on this line
    stars: int = 0


def star_size(size: float) -> tuple[float, float]:
    return 0.8 * size, 0.12 * size          # diameter, gap


class Scratch(NamedTuple):
    """The scratch-off box of a label, in points: caption beside (``inline``) or above it."""
    caption_size: float
    code_size: float
    inline: bool
    box_w: float
    box_h: float
    height: float           # caption and box together


@lru_cache(maxsize=None)
def scratch_block(width: float, max_size: float) -> Scratch:
    """The scratch-off box of a stock whose text column is ``width`` wide and whose body
    text is at most ``max_size``: one size for every label printed on that stock, whatever
    the product (stickers are bought by size).  The code is as large as ``CODE_SCALE`` ×
    max_size and the width allow; the caption, at ``MIN_SIZE``, goes beside the box when the
    code stays at least ``CODE_MIN_INLINE`` that way, else above it."""
    box_em = _code_em() + 2 * CODE_PAD
    box_h_em = CAP_HEIGHT + 2 * CODE_PAD
    s = MIN_SIZE
    beside = string_width(SCRATCH_CAPTION, REGULAR, s) + 0.5 * s
    inline_size = min(CODE_SCALE * max_size, (width - beside) / box_em)
    if inline_size >= CODE_MIN_INLINE:
        return Scratch(s, inline_size, True, inline_size * box_em, inline_size * box_h_em,
                       inline_size * box_h_em)
    size = min(CODE_SCALE * max_size, width / box_em)
    return Scratch(s, size, False, size * box_em, size * box_h_em, size * box_h_em + LINE_HEIGHT * s)


def scratch_box_mm(layout: Layout) -> tuple[float, float]:
    """Width and height in mm of the scratch-off box on ``layout``: the sticker to order
    (registers the fonts it measures with, so it works before any sheet is drawn)."""
    register_fonts()
    g = Geometry.for_layout(layout)
    block = scratch_block(g.text_w, g.max_size)
    return block.box_w / mm, block.box_h / mm


@lru_cache(maxsize=256)
def plan(fields: tuple, serial_groups: int, width: float, height: float, max_size: float,
         name_lines: int, scratch: bool = False
         ) -> tuple[tuple[Line, ...], Scratch | None, tuple[Line, ...]]:
    """Fit the text of one kind of label into ``width`` × ``height`` points.

    Returns (top lines, scratch-off box or None, serial lines); the serial lines sit at the
    bottom, the box just above them.  Serials are planned at a width that only 1 group in
    ~1,000 exceeds; such a line is drawn slightly narrower (horizontal scaling), so every
    label of a run has the same layout.
    """
    name, producer, place, lot, nsx, hsd, net, stars = fields
    group_em = _serial_group_em()
    space_em = string_width(" ", BOLD, 1)
    optional = {
        "producer": f"Cơ sở SX: {producer}" if producer else "",
        "place": place, "net": f"{_net_label(net)}: {net}" if net else "",
        "nsx": f"NSX: {nsx}" if nsx else "", "ocop": stars,
    }
    droppable = [key for key in DROP_ORDER if optional[key]]

    def lay_out(s: float, dropped: set) -> tuple[list[Line], list[Line], float, bool]:
        clean, top = True, []
        ns = s * NAME_SCALE
        name_rows = wrap(name, BOLD, ns, width) or [""]
        if len(name_rows) > name_lines:
            clean = False
            rest = " ".join(name_rows[name_lines - 1:])
            name_rows = name_rows[:name_lines - 1] + [truncate(rest, BOLD, ns, width)]
        top += [Line("text", BOLD, ns, row) for row in name_rows]

        def add(text: str, rows: int = 1) -> None:
            nonlocal clean
            wrapped = wrap(text, REGULAR, s, width) if rows > 1 else [text]
            if len(wrapped) > rows or string_width(wrapped[-1], REGULAR, s) > width:
                clean = False
                wrapped = wrapped[:rows - 1] + [
                    truncate(" ".join(wrapped[rows - 1:]), REGULAR, s, width)]
            top.extend(Line("text", REGULAR, s, row) for row in wrapped)

        for key in ("producer", "place"):
            if optional[key] and key not in dropped:
                add(optional[key], rows=2)
        add(f"Lô: {lot}")
        if optional["net"] and "net" not in dropped:
            add(optional["net"])
        dates = [d for d in (None if "nsx" in dropped else optional["nsx"],
                             f"HSD: {hsd}" if hsd else "") if d]
        if len(dates) == 2 and string_width("   ".join(dates), REGULAR, s) <= width:
            dates = ["   ".join(dates)]
        for text in dates:
            add(text)
        if stars and "ocop" not in dropped:
            diameter, gap = star_size(s)
            if string_width("OCOP ", BOLD, s) + stars * (diameter + gap) <= width:
                top.append(Line("stars", BOLD, s, "OCOP", stars))
            else:
                add(f"OCOP {stars} sao")
        per_line, ss = serial_groups, s
        while per_line > 1 and (per_line * group_em + (per_line - 1) * space_em) * ss > width:
            per_line -= 1
        if group_em * ss > width:       # not even one group: shrink the serial only
            ss, clean = width / group_em, False
        per_line = math.ceil(serial_groups / math.ceil(serial_groups / per_line))  # balance
        serial = [Line("serial", BOLD, ss, f"{a}:{min(a + per_line, serial_groups)}")
                  for a in range(0, serial_groups, per_line)]
        used = LINE_HEIGHT * (sum(line.size for line in top) + sum(line.size for line in serial))
        block = scratch_block(width, max_size) if scratch else None
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
        return plan(fields, serial_groups, width, height, max_size, 1, scratch)
    # Degenerate stock: keep the serial, then as many mandatory lines as fit, below MIN_SIZE.
    s = MIN_SIZE
    while True:
        top, serial, used, _, block = lay_out(s, set(droppable))
        while top and used > height:
            used -= LINE_HEIGHT * top.pop().size
        if used <= height or s < 1:
            return tuple(top), block, tuple(serial)
        s *= 0.9


@lru_cache(maxsize=None)
def _serial_group_em() -> float:
    """Width at 1 pt that a group of 4 random serial symbols exceeds ~0.1 % of the time."""
    widths = [string_width(ch, BOLD, 1) for ch in ALPHABET]
    mean = sum(widths) / len(widths)
    std = math.sqrt(sum((w - mean) ** 2 for w in widths) / len(widths))
    return GROUP * mean + 3 * math.sqrt(GROUP) * std


@lru_cache(maxsize=None)
def _code_em() -> float:
    """Width at 1 pt that a scratch-off code (8 random symbols and a hyphen) exceeds ~0.1 %
    of the time; a wider one is drawn slightly narrower, inside the same box."""
    widths = [string_width(ch, BOLD, 1) for ch in ALPHABET]
    mean = sum(widths) / len(widths)
    std = math.sqrt(sum((w - mean) ** 2 for w in widths) / len(widths))
    return CODE_SYMBOLS * mean + 3 * math.sqrt(CODE_SYMBOLS) * std + string_width("-", BOLD, 1)


class Geometry(NamedTuple):
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
    def for_layout(cls, layout: Layout) -> "Geometry":
        w, h = layout.label_width * mm, layout.label_height * mm
        pad = min(2 * mm, max(1 * mm, 0.05 * h))
        qr_box = min(h, 0.45 * w)
        max_size = min(MAX_SIZE, max(MIN_SIZE + 0.5, 0.21 * layout.label_height))
        if w - qr_box - pad < 10 * mm or h - 2 * pad < 8 * mm:
            raise ValueError(f"{layout.name}: a {layout.label_width:g}×{layout.label_height:g}"
                             " mm label is too small for a QR and its text")
        return cls(w, h, pad, qr_box, qr_box, w - qr_box - pad, h - 2 * pad, max_size,
                   3 if layout.label_height >= 30 else 2)

