"""Fitting the text of a stamp (tem) into its label: what :mod:`.pdf` draws, planned here.

Fitting: text shrinks together, from a size set by the label height down to ``MIN_SIZE``;
when it still does not fit, the text is made shorter, one step at a time and each step at
every size again (:mod:`.wording`): the producer and the address run on as one paragraph (tried
together with the separate lines, size by size: whichever fits the larger text), the place
and the producer's name abbreviated ("X." for "Xã", "TP." for "Thành phố", "HTX" for "Hợp
tác xã", "NN" for "Nông nghiệp"…), lines dropped, least important first (OCOP, net
quantity, NSX, the address line: village, street…, the origin, the province), and "Cơ sở
SX:" shortened to "SX:".  Product name, lot, HSD and serial are always printed, and so are
the producer and the commune: the stamp sits on a package whose main label carries the full
mandatory content, and these identify the batch, its safety date, the code a buyer can type
in and who made it where.  Text that fits no way whole is cut with "…" at ``MIN_SIZE``
(the same ways tried in order, the least shortened that fits wins): the name, then any
over-long line; an address is cut only when it is the commune alone, and the last ways give
the producer and the commune one line each, then the name one line.  The serial is never
cut (it wraps between groups).  Nothing is drawn outside the text area of :class:`Geometry`
(the label's padding, and on an A4 sheet the printer's safe margin, see :mod:`.layouts`).

A label with a scratch-off code (tem cào) gets a box just above the serial, captioned "Mã
cào" (left of the box when the column is wide enough, above it otherwise), with the code in
bold inside: the sticker goes over the box.  It sits in the text column, so the QR keeps its
size and quiet zone, and is never dropped.  Its size depends on the stock only
(:func:`scratch_box_mm`: the sticker to order), never on the product; the text fits around
it.  On the smallest stocks the product name may then take one line instead of two: that is
the last way of shortening the text (above), and it keeps the lot, HSD, serial, producer and
commune.

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
from .wording import (LOSSLESS, ORIGIN_PREFIX, PRODUCER_PREFIX, SHORT_PRODUCER_PREFIX, Variant, abbreviate_name,
                      abbreviate_place, split_place, variants)

REGULAR, BOLD = "BeVietnamPro", "BeVietnamPro-Bold"
ELLIPSIS = "…"
MIN_SIZE = 5.0          # pt, smallest body text (name is NAME_SCALE × body)
MAX_SIZE = 8.0
NAME_SCALE = 1.15
STEP = 0.25
LINE_HEIGHT = 1.265     # Be Vietnam Pro: ascent 1000, descent −265 per 1000 units
CAP_HEIGHT = 0.74       # … and its capital height
GLYPH_TOP = 1.223       # … and the top of its bounding box (bold: marks stacked on capitals), in em
EDGE_SLACK = 0.2        # mm kept beyond a safe margin's reach: overhanging glyphs, rounded coordinates
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

    ``fields``: (name, producer, address line, place, origin, lot, NSX, HSD, net quantity
    with its word, OCOP stars), text already formatted; the place is "<commune>, <province>".

    Returns (top lines, scratch-off box or None, serial lines); the serial lines sit at the
    bottom, the box just above them.  Serials are planned at a width that only 1 group in
    ~1,000 exceeds; such a line is drawn slightly narrower (horizontal scaling), so every
    label of a run has the same layout.
    """
    name, producer, address_line, place, origin, lot, nsx, hsd, net, stars = fields
    commune, province = split_place(place)
    group_em = _serial_group_em()
    space_em = string_width(" ", BOLD, 1)

    def texts(v: Variant) -> tuple[str, str, str]:
        """(producer line, address, the commune as the address writes it) for ``v``."""
        if v.bare:
            return "", "", ""
        place_part = abbreviate_place if v.abbreviate else (lambda part: part)
        prefix = SHORT_PRODUCER_PREFIX if v.short_prefix else PRODUCER_PREFIX
        maker = prefix + (abbreviate_name(producer) if v.abbreviate else producer) if producer else ""
        town = place_part(commune)
        parts = ("" if "address_line" in v.dropped else address_line, town,
                 "" if "province" in v.dropped else place_part(province))
        return maker, ", ".join(part for part in parts if part), town

    def lay_out(s: float, v: Variant):
        """(top lines, serial lines, height used, nothing cut, allowed, scratch block)."""
        clean = allowed = True
        top: list[Line] = []
        ns = s * NAME_SCALE
        name_rows = wrap(name, BOLD, ns, width) or [""]
        if len(name_rows) > v.name_lines:
            clean = False
            rest = " ".join(name_rows[v.name_lines - 1:])
            name_rows = name_rows[:v.name_lines - 1] + [truncate(rest, BOLD, ns, width)]
        top += [Line("text", BOLD, ns, row) for row in name_rows]

        def add(text: str, rows: int = 1) -> bool:
            """Add ``text`` in at most ``rows`` rows; True when it had to be cut."""
            nonlocal clean
            wrapped = wrap(text, REGULAR, s, width) if rows > 1 else [text]
            cut = len(wrapped) > rows or string_width(wrapped[-1], REGULAR, s) > width
            if cut:
                clean = False
                wrapped = wrapped[:rows - 1] + [
                    truncate(" ".join(wrapped[rows - 1:]), REGULAR, s, width)]
            top.extend(Line("text", REGULAR, s, row) for row in wrapped)
            return cut

        maker, address, town = texts(v)
        if v.join and maker and address:
            # one paragraph, never cut: a cut could take the commune
            allowed = not add(f"{maker}, {address}", v.producer_rows + v.address_rows)
        else:
            if maker:
                add(maker, v.producer_rows)
            if address and add(address, v.address_rows) and address != town:
                allowed = False         # cut: the commune might be what was cut away
        if origin and "origin" not in v.dropped:
            add(ORIGIN_PREFIX + origin)
        add(f"Lô: {lot}")
        if net and "net" not in v.dropped:
            add(net)
        dates = [d for d in ("" if "nsx" in v.dropped else f"NSX: {nsx}" if nsx else "",
                             f"HSD: {hsd}" if hsd else "") if d]
        if len(dates) == 2 and string_width("   ".join(dates), REGULAR, s) <= width:
            dates = ["   ".join(dates)]
        for text in dates:
            add(text)
        if stars and "ocop" not in v.dropped:
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
        return top, serial, used, clean, allowed, block

    sizes = [max_size - STEP * i for i in range(int((max_size - MIN_SIZE) / STEP) + 1)]
    ways, seen = [], set()
    for v in variants(name_lines):      # without the steps that change nothing here
        lines_dropped = {key for key, there in (("ocop", stars), ("net", net), ("nsx", nsx), ("origin", origin))
                         if there and key in v.dropped}
        key = (texts(v), v.name_lines, v.join and all(texts(v)[:2]), v.producer_rows, v.address_rows,
               frozenset(lines_dropped))
        if key not in seen:
            seen.add(key)
            ways.append(v)
    lossless = [v for v in ways if v in variants(name_lines)[:LOSSLESS]]
    tries = ([(s, v) for s in sizes for v in lossless]                         # largest text first
             + [(s, v) for v in ways if v not in lossless for s in sizes])  # then least shortened
    for require_clean in (True, False):
        for s, v in (tries if require_clean else [(sizes[-1], v) for v in ways]):
            top, serial, used, clean, allowed, block = lay_out(s, v)
            if allowed and used <= height and (clean or not require_clean):
                return tuple(top), block, tuple(serial)
    # Degenerate stock: keep the serial, then as many of the name, lot and HSD as fit, below
    # MIN_SIZE.
    bare, s = ways[-1]._replace(bare=True), MIN_SIZE
    while True:
        top, serial, used, _, _, block = lay_out(s, bare)
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
    """Where the parts of a label go, in points from its cell's bottom-left corner: the same
    for every label of a layout, so a sheet's labels look alike and share one text plan.

    The QR sits on the left, its square (quiet zone included) ending where the text column
    starts; the text keeps ``pad`` from the label's edges.  On a sheet with a safe margin
    (:meth:`.layouts.Layout.edge_inset`) every label keeps as far inside its edges as the
    margin reaches into the outermost ones (plus ``EDGE_SLACK``, and room at the top for the
    marks stacked on a capital of the name): the text by that much, and the QR's symbol, whose
    square gives up that much width so the text column keeps its width.  The QR's quiet zone
    may lie in that band: unprinted label paper is as light as a quiet zone must be, and it
    stays inside the label.
    """
    width: float
    height: float
    pad: float              # the label's padding (the text area may keep further in: text_y…)
    qr_box: float           # the QR's square, quiet zone included: at most this side
    text_x: float           # offsets from the cell's bottom-left, points
    text_w: float
    text_h: float
    max_size: float
    name_lines: int
    text_y: float = 0.0     # bottom of the text area
    qr_inset_x: float = 0.0  # the QR's symbol keeps this far from the label's left edge,
    qr_inset_y: float = 0.0  # and this far from its top and bottom edges

    @classmethod
    def for_layout(cls, layout: Layout) -> "Geometry":
        w, h = layout.label_width * mm, layout.label_height * mm
        pad = min(2 * mm, max(1 * mm, 0.05 * h))
        edge_x, edge_y = ((inset + EDGE_SLACK) * mm if inset else 0.0 for inset in layout.edge_inset())
        qr_box = min(h, 0.45 * w) - edge_x
        max_size = min(MAX_SIZE, max(MIN_SIZE + 0.5, 0.21 * layout.label_height))
        # the first line (the name) is drawn from its ascent, and marks stacked on a capital
        # rise above that: they keep inside the safe margin too
        edge_top = edge_y + (GLYPH_TOP - 1) * NAME_SCALE * max_size if edge_y else 0.0
        pad_x, pad_top, pad_bottom = max(pad, edge_x), max(pad, edge_top), max(pad, edge_y)
        text_h = h - pad_top - pad_bottom
        if w - qr_box - pad_x < 10 * mm or text_h < 8 * mm or qr_box < 2 * edge_x:
            raise ValueError(f"{layout.name}: a {layout.label_width:g}×{layout.label_height:g}"
                             " mm label is too small for a QR and its text")
        return cls(w, h, pad, qr_box, qr_box, w - qr_box - pad_x, text_h, max_size,
                   3 if layout.label_height >= 30 else 2, pad_bottom, edge_x, edge_y)

    def qr_square(self, modules: int, quiet: int) -> tuple[float, float, float]:
        """(x, y, side) of the QR's square, ``quiet`` modules of quiet zone included, for a
        symbol ``modules`` wide: right edge at the text column, centred in height, ``qr_box``
        a side unless the insets need it smaller."""
        full = modules + 2 * quiet
        side = min(self.qr_box, (self.text_x - self.qr_inset_x) * full / (modules + quiet),
                   (self.height - 2 * self.qr_inset_y) * full / modules)
        return self.text_x - side, (self.height - side) / 2, side
