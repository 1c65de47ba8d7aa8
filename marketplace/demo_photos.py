"""Demo product photos drawn with Pillow (issue 17, point 2): a jar of honey, a bag of rice, a
bottle of fish sauce… on a table against a wall, the product's name in Vietnamese, with its
diacritics, on the package's label and in a caption, in the bundled Be Vietnam Pro.

One drawing per kind of product, picked by keywords of the name (:data:`KINDS`, first match
wins, a plain package otherwise); ``colour`` (from :data:`.demo.PRODUCTS`) tints what it can
(honey, powder, leaves, skins).  No image is downloaded or kept in the repository.  Drawn at
twice the size and halved, so edges come out smooth; the same name and colour give the same
bytes (textures come from a generator seeded with the name).  The drawings and the few shapes
they share make one piece: a catalogue of small pictures, each read next to its helpers.
"""
from __future__ import annotations

import io
import math
import random
import re
import unicodedata
import zlib

from PIL import Image, ImageDraw

from . import typeset

W, H = 800, 600
S = 2              # drawn at S× and reduced: smooth edges
TABLE = 400        # the table's back edge
BASE = 462         # where things stand
LINE = 1.3         # line height, em (room for Vietnamese stacked marks)
INK = (60, 38, 22)


def _mix(a, b, t):
    return tuple(round(x + (y - x) * t) for x, y in zip(a[:3], b[:3]))


def _dark(c, t=0.3):
    return _mix(c, (0, 0, 0), t)


def _light(c, t=0.3):
    return _mix(c, (255, 255, 255), t)


def _a(c, alpha):
    return (*c[:3], alpha)


def _font(px: int, weight: int = 700):
    return typeset.font(px, weight)


def fit_text(text: str, width: float, height: float, max_size: int, min_size: int = 10,
             max_lines: int = 2, weight: int = 700) -> tuple[int, list[str]]:
    """:func:`typeset.fit_text` in the 800×600 frame, measured on the S× canvas."""
    return typeset.fit_text(text, width, height, max_size, min_size, max_lines, weight, scale=S, line=LINE)


class _Pen:
    """ImageDraw in the coordinates of the 800×600 frame, drawing on the S× canvas (RGBA fills blend)."""

    def __init__(self, img: Image.Image):
        self.d = ImageDraw.Draw(img, "RGBA")

    def ellipse(self, box, fill=None, outline=None, width=0):
        self.d.ellipse([v * S for v in box], fill=fill, outline=outline, width=round(width * S))

    def rect(self, box, fill=None, outline=None, width=0, radius=0):
        self.d.rounded_rectangle([v * S for v in box], radius=radius * S, fill=fill, outline=outline,
                                 width=round(width * S))

    def poly(self, pts, fill=None, outline=None, width=0):
        self.d.polygon([(x * S, y * S) for x, y in pts], fill=fill, outline=outline, width=round(width * S))

    def line(self, pts, fill, width=1.0):
        self.d.line([(x * S, y * S) for x, y in pts], fill=fill, width=max(1, round(width * S)), joint="curve")

    def arc(self, box, start, end, fill, width=1.0):
        self.d.arc([v * S for v in box], start, end, fill=fill, width=max(1, round(width * S)))

    def chord(self, box, start, end, fill=None):
        self.d.chord([v * S for v in box], start, end, fill=fill)

    def text(self, text, box, max_size, colour=INK, min_size=10, max_lines=2, weight=700):
        x0, y0, x1, y1 = box
        size, lines = fit_text(text, x1 - x0, y1 - y0, max_size, min_size, max_lines, weight)
        font, step = _font(size * S, weight), size * LINE
        top = (y0 + y1) / 2 - step * len(lines) / 2
        for i, line in enumerate(lines):
            self.d.text(((x0 + x1) / 2 * S, (top + step * (i + 0.5)) * S), line, font=font, fill=colour, anchor="mm")


# ---- shapes the drawings share ------------------------------------------------------------------

def _shadow(pen, cx, y, rx, ry=14):
    for i in range(6):
        k = 1 - i * 0.12
        pen.ellipse((cx - rx * k, y - ry * k, cx + rx * k, y + ry * k), fill=(50, 30, 10, 24))


def _ball(pen, box, colour, steps=10):
    """A lit sphere: rings from a darker rim to a lighter spot up and left."""
    x0, y0, x1, y1 = box
    rx, ry = (x1 - x0) / 2, (y1 - y0) / 2
    for i in range(steps):
        k = 1 - i / steps * 0.75
        cx, cy = x0 + rx - rx * (1 - k) * 0.45, y0 + ry - ry * (1 - k) * 0.5
        pen.ellipse((cx - rx * k, cy - ry * k, cx + rx * k, cy + ry * k),
                    fill=_mix(_dark(colour, 0.22), _light(colour, 0.25), i / (steps - 1)))


def _leaf(pen, base, tip, width, fill, vein=None, bend=0.0):
    (x0, y0), (x1, y1) = base, tip
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy) or 1
    nx, ny = -dy / length, dx / length
    left, right, mid = [], [], []
    for i in range(13):
        t = i / 12
        half, off = width / 2 * math.sin(math.pi * t) ** 0.7, bend * length * math.sin(math.pi * t)
        cx, cy = x0 + dx * t + nx * off, y0 + dy * t + ny * off
        left.append((cx + nx * half, cy + ny * half))
        right.append((cx - nx * half, cy - ny * half))
        mid.append((cx, cy))
    pen.poly(left + right[::-1], fill=fill)
    if vein:
        pen.line(mid[:11], fill=vein, width=max(1.0, width / 30))


def _lathe(cx, top, bottom, half, steps=48):
    """Outline of a body turned on a lathe: ``half(y)`` is its half-width at height y."""
    right = [(cx + half(top + (bottom - top) * i / steps), top + (bottom - top) * i / steps) for i in range(steps + 1)]
    return right + [(2 * cx - x, y) for x, y in reversed(right)]


def _label(pen, box, name, paper=(250, 244, 226), ink=INK, accent=(170, 40, 30), split=True):
    """A paper label: the first two words of the name in capitals, the rest below."""
    x0, y0, x1, y1 = box
    pen.rect(box, fill=paper, outline=accent, width=3, radius=8)
    words = name.split()
    head, rest = " ".join(words[:2]), " ".join(words[2:]) if split else ""
    if not rest:
        pen.text(head.upper(), (x0 + 8, y0 + 6, x1 - 8, y1 - 6), 34, ink, max_lines=2)
        return
    mid = y0 + (y1 - y0) * 0.5
    pen.text(head.upper(), (x0 + 8, y0 + 6, x1 - 8, mid - 2), 34, ink, max_lines=1)
    pen.line([(x0 + 24, mid + 2), (x1 - 24, mid + 2)], accent, 2)
    pen.text(rest, (x0 + 8, mid + 6, x1 - 8, y1 - 6), 22, ink, max_lines=2, weight=500)


def _speckle(pen, rnd, box, colours, n, r=1.6):
    x0, y0, x1, y1 = box
    for _ in range(n):
        x, y = rnd.uniform(x0, x1), rnd.uniform(y0, y1)
        pen.ellipse((x - r, y - r, x + r, y + r), fill=rnd.choice(colours))


def _jar(pen, rnd, box, fill, lid, name, specks=None):
    x0, y0, x1, y1 = box
    pen.rect((x0 + 18, y0 + 30, x1 - 18, y0 + 56), fill=_light(fill, 0.35))
    pen.rect((x0, y0 + 48, x1, y1), fill=fill, radius=34)
    pen.ellipse(((x0 + x1) / 2 - 60, y0 + 90, (x0 + x1) / 2 + 60, y1 - 30), fill=_a(_light(fill, 0.25), 90))
    if specks:
        _speckle(pen, rnd, (x0 + 12, y0 + 64, x1 - 12, y1 - 14), specks, 420)
    pen.rect((x0 + 14, y0 + 70, x0 + 30, y1 - 28), fill=(255, 255, 255, 90), radius=8)
    pen.rect((x0, y0 + 48, x1, y1), outline=_a(_dark(fill, 0.45), 200), width=2, radius=34)
    pen.rect((x0 + 10, y0, x1 - 10, y0 + 40), fill=lid, radius=8)
    for x in range(x0 + 20, x1 - 12, 10):
        pen.line([(x, y0 + 6), (x, y0 + 34)], _a(_dark(lid, 0.3), 150), 2)
    _label(pen, (x0 + 14, y0 + 108, x1 - 14, y1 - 42), name)


def _bottle(pen, cx, top, bottom, neck, body, shoulder, liquid, level, cap, name, paper, accent, ink=INK):
    def half(y):
        if y < shoulder:
            return neck / 2
        if y < shoulder + 60:
            return neck / 2 + (body - neck) / 4 * (1 - math.cos(math.pi * (y - shoulder) / 60))
        return body / 2 - max(0.0, 8 - (bottom - y)) ** 2 / 8
    pen.poly(_lathe(cx, top + 20, bottom, half), fill=(232, 240, 236, 150))
    pen.poly(_lathe(cx, level, bottom, half), fill=liquid)
    pen.rect((cx - body / 2 + 10, shoulder + 60, cx - body / 2 + 22, bottom - 16), fill=(255, 255, 255, 100), radius=6)
    pen.poly(_lathe(cx, top + 20, bottom, half), outline=(90, 100, 95, 160), width=2)
    pen.rect((cx - neck / 2 - 4, top, cx + neck / 2 + 4, top + 34), fill=cap, radius=4)
    _label(pen, (cx - body / 2 + 8, shoulder + 90, cx + body / 2 - 8, bottom - 40), name, paper=paper, accent=accent, ink=ink)


def _box3d(pen, x, y, w, h, d, front, top=None, side=None):
    """A box standing at (x, y) (front face's bottom left), ``d`` deep, seen a little from above
    and the right.  Returns the corners of its top face."""
    dx, dy = d * 0.55, -d * 0.45
    top_face = [(x, y - h), (x + dx, y - h + dy), (x + w + dx, y - h + dy), (x + w, y - h)]
    pen.poly([(x + w, y), (x + w, y - h), (x + w + dx, y - h + dy), (x + w + dx, y + dy)], fill=side or _dark(front, 0.2))
    pen.poly(top_face, fill=top or _light(front, 0.15))
    pen.rect((x, y - h, x + w, y), fill=front)
    return top_face


def _bowl(pen, cx, rx, content, heap=0.0, glaze=(245, 245, 240), rim=(60, 90, 160)):
    """A bowl standing on the table, heaped with ``content`` (rim ``rx`` wide, half its height)."""
    depth, ry = rx * 0.5, rx * 0.2
    y = BASE - depth
    pen.chord((cx - rx, y - depth, cx + rx, y + depth), 0, 180, fill=glaze)
    pen.ellipse((cx - rx, y - ry, cx + rx, y + ry), fill=content, outline=rim, width=3)
    if heap:
        pen.chord((cx - rx + 5, y - heap, cx + rx - 5, y + heap), 180, 360, fill=content)
    return (cx - rx * 0.75, y - heap * 0.8, cx + rx * 0.75, y + ry * 0.5)


def _slice(pen, box, rind, pith, flesh, seed, rnd, seeds=9):
    """A slice of melon lying on its rind, cut face up."""
    x0, y0, x1, y1 = box
    pen.chord(box, 0, 180, fill=rind)
    pen.chord((x0 + 8, y0 + 8, x1 - 8, y1 - 8), 0, 180, fill=pith)
    pen.chord((x0 + 16, y0 + 16, x1 - 16, y1 - 16), 0, 180, fill=flesh)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 - 30, (y1 - y0) / 2 - 30
    for i in range(seeds):
        a = math.pi * (i + 0.5) / seeds
        x, y = cx + math.cos(a) * rx * rnd.uniform(0.45, 0.7), cy + math.sin(a) * ry * rnd.uniform(0.35, 0.7)
        pen.ellipse((x - 4, y - 6, x + 4, y + 6), fill=seed)


def _grain(pen, rnd, x, y, colour, length=9, width=4):
    a = rnd.uniform(0, math.pi)
    _leaf(pen, (x, y), (x + math.cos(a) * length, y + math.sin(a) * length), width, colour)


def _root(pen, rnd, x, y, skin, inside, n=4):
    """A knobby rhizome (turmeric) lying on the table, its cut end showing the flesh."""
    for i in range(n):
        px, py = x + i * 26, y - (i % 2) * 8
        pen.ellipse((px - 24, py - 15, px + 24, py + 15), fill=_mix(skin, (0, 0, 0), 0.05 * (i % 2)))
        pen.arc((px - 20, py - 12, px + 20, py + 12), 200, 340, _dark(skin, 0.3), 2)
    pen.ellipse((x - 30, y - 14, x - 10, y + 14), fill=inside, outline=_dark(skin, 0.2), width=2)


# ---- the drawings -------------------------------------------------------------------------------

def _honey(pen, c, rnd, name):
    _shadow(pen, 395, BASE, 150)
    _jar(pen, rnd, (290, 124, 500, BASE), c, (200, 150, 60), name)
    _shadow(pen, 612, BASE, 90, 10)
    comb = (240, 186, 60)
    pen.rect((530, 326, 694, BASE - 4), fill=comb, radius=14)
    for row in range(6):
        for col in range(8):
            x, y = 546 + col * 19 + (row % 2) * 9.5, 344 + row * 19
            if x < 684 and y < BASE - 14:
                pen.poly([(x + 9 * math.cos(math.pi / 3 * k + math.pi / 6), y + 9 * math.sin(math.pi / 3 * k + math.pi / 6))
                          for k in range(6)], fill=_dark(c, 0.1), outline=_light(comb, 0.3), width=1.5)
    bx, by = 610, 190                               # a bee
    pen.ellipse((bx - 6, by - 34, bx + 22, by - 4), fill=(220, 235, 255, 170))
    pen.ellipse((bx - 22, by - 30, bx + 4, by - 2), fill=(220, 235, 255, 170))
    pen.ellipse((bx - 26, by - 14, bx + 26, by + 14), fill=(245, 200, 40))
    for sx in (-9, 5):
        pen.line([(bx + sx, by - 12), (bx + sx, by + 12)], (40, 30, 20), 6)
    pen.ellipse((bx + 18, by - 10, bx + 36, by + 8), fill=(40, 30, 20))


def _rice(pen, c, rnd, name):
    sack, accent = (247, 244, 234), _dark(c, 0.2)
    _shadow(pen, 390, BASE, 175)
    outline = _lathe(400, 150, BASE, lambda y: 112 + 18 * math.sin(math.pi * (y - 150) / (BASE - 150)))
    pen.poly(outline, fill=sack)
    for y in range(160, BASE, 7):
        pen.line([(300, y), (500, y)], (0, 0, 0, 14), 1)
    for x in range(296, 506, 7):
        pen.line([(x, 160), (x, BASE - 4)], (0, 0, 0, 10), 1)
    pen.rect((286, 132, 514, 162), fill=accent, radius=6)
    pen.poly([(290 + i * 16, 132 - 10 * (i % 2)) for i in range(15)] + [(514, 132)], fill=sack)
    pen.rect((278, 410, 522, 436), fill=accent)
    _label(pen, (312, 196, 488, 384), name, accent=accent)
    _shadow(pen, 600, BASE - 2, 95, 12)
    pen.chord((505, 400, 695, 490), 180, 360, fill=_mix(c, (250, 248, 238), 0.85))
    grain = _mix(c, (255, 253, 244), 0.8)
    for _ in range(160):
        a, r = rnd.uniform(math.pi, 2 * math.pi), rnd.random() ** 0.5
        _grain(pen, rnd, 600 + math.cos(a) * 88 * r, 444 + math.sin(a) * 40 * r, _mix(grain, (200, 180, 140), rnd.uniform(0, 0.25)))


def _flour(pen, c, rnd, name):
    kraft = (208, 170, 118)
    _shadow(pen, 390, BASE, 150)
    pen.poly([(296, 120), (504, 120), (514, 176), (286, 176)], fill=_dark(kraft, 0.08))
    pen.line([(290, 150), (510, 150)], _dark(kraft, 0.25), 2)
    pen.rect((286, 172, 514, BASE), fill=kraft)
    pen.rect((482, 172, 514, BASE), fill=_dark(kraft, 0.12))
    _label(pen, (306, 220, 480, 390), name, paper=(252, 250, 244), accent=(60, 120, 60))
    _shadow(pen, 615, BASE, 90, 12)
    heap = _bowl(pen, 615, 80, (250, 249, 244), heap=40, glaze=(150, 100, 60), rim=(110, 70, 40))
    _speckle(pen, rnd, heap, [(226, 224, 216), (255, 255, 255)], 50, 1.3)


def _greens(pen, c, rnd, name):
    _shadow(pen, 400, BASE, 160)
    leaves = []
    for i in range(11):
        a = math.radians(-42 + i * 8.4 + rnd.uniform(-3, 3))
        sx = 400 + (i - 5) * 5
        stem_end = (sx + math.sin(a) * 150, 440 - math.cos(a) * 150)
        tip = (sx + math.sin(a) * 340, 440 - math.cos(a) * 330)
        leaves.append((abs(i - 5), sx, stem_end, tip, _mix(c, (20, 80, 20), rnd.uniform(0, 0.4))))
    for _, sx, stem_end, tip, green in sorted(leaves, reverse=True, key=lambda v: v[0]):
        pen.line([(sx, 452), stem_end], (205, 232, 175), 14)
        _leaf(pen, (stem_end[0] - (tip[0] - stem_end[0]) * 0.12, stem_end[1] - (tip[1] - stem_end[1]) * 0.12),
              tip, 128, green, vein=(200, 230, 170), bend=rnd.uniform(-0.08, 0.08))
    pen.rect((362, 396, 438, 412), fill=(200, 60, 50), radius=6)
    for i in range(11):
        x = 400 + (i - 5) * 5.5
        pen.ellipse((x - 6, 448, x + 6, 458), fill=(225, 240, 200))


def _pumpkin(pen, c, rnd, name):
    orange = _mix(c, (245, 125, 20), 0.5)
    _shadow(pen, 400, BASE, 150, 16)
    for box in ((270, 256, 530, BASE), (322, 146, 478, 306)):
        x0, y0, x1, y1 = box
        _ball(pen, box, orange)
        for f in (0.25, 0.55, 0.82):
            w = (x1 - x0) * f / 2
            pen.ellipse(((x0 + x1) / 2 - w, y0 + 4, (x0 + x1) / 2 + w, y1 - 4), outline=_a(_dark(orange, 0.3), 120), width=3)
    _leaf(pen, (412, 140), (560, 92), 84, (70, 130, 50), vein=(130, 180, 100), bend=0.1)
    pen.poly([(392, 152), (406, 152), (414, 112), (400, 108)], fill=(110, 90, 50))
    pen.arc((410, 60, 470, 120), 90, 300, (90, 140, 60), 3)


def _melon(pen, c, rnd, name):
    cx, cy, r = 345, 310, 150
    _shadow(pen, cx, BASE, 155, 16)
    _ball(pen, (cx - r, cy - r, cx + r, cy + r), c)
    net = {}
    for i, lat in enumerate(range(-80, 81, 12)):
        for j, lon in enumerate(range(-84, 85, 12)):
            la, lo = math.radians(lat + rnd.uniform(-4, 4)), math.radians(lon + rnd.uniform(-4, 4))
            net[i, j] = (cx + r * math.cos(la) * math.sin(lo), cy - r * math.sin(la))
    net_colour = _a(_light(c, 0.55), 220)
    for (i, j), p in net.items():
        for q in (net.get((i + 1, j)), net.get((i, j + 1))):
            if q:
                pen.line([p, q], net_colour, 2.2)
    pen.poly([(cx - 6, cy - r + 4), (cx + 6, cy - r + 4), (cx + 4, cy - r - 20), (cx - 4, cy - r - 20)], fill=(120, 110, 60))
    _shadow(pen, 600, BASE, 100, 10)
    _slice(pen, (498, 350, 702, 490), _dark(c, 0.1), (215, 225, 160), (245, 160, 80), (240, 225, 170), rnd, 11)


def _watermelon(pen, c, rnd, name):
    box = (200, 196, 520, BASE - 2)
    green = (50, 120, 50)
    _shadow(pen, 360, BASE, 165, 16)
    _ball(pen, box, green)
    cx, cy, rx, ry = 360, (196 + BASE - 2) / 2, 160, (BASE - 198) / 2
    for lon in range(-75, 80, 19):
        pts = []
        for lat in range(-86, 87, 6):
            lo = math.radians(lon + 5 * math.sin(lat / 9) + rnd.uniform(-2, 2))
            pts.append((cx + rx * math.cos(math.radians(lat)) * math.sin(lo), cy - ry * math.sin(math.radians(lat))))
        pen.line(pts, (25, 70, 28, 210), 9)
    _shadow(pen, 610, BASE, 100, 10)
    _slice(pen, (505, 340, 715, 490), green, (230, 240, 205), _light(c, 0.05), (30, 25, 20), rnd, 10)


def _parcel(pen, x, y, w, h, d, wrap, string, vein=True):
    top = _box3d(pen, x, y, w, h, d, wrap)
    if vein:
        for k in range(8, w, 12):
            pen.line([(x + k, y - h + 2), (x + k - 6, y - 2)], _a(_light(wrap, 0.3), 110), 1.5)
    (ax, ay), (bx, by), (ex, ey), (fx, fy) = top
    pen.line([((ax + fx) / 2, (ay + fy) / 2), ((bx + ex) / 2, (by + ey) / 2)], string, 3)
    pen.line([((ax + bx) / 2, (ay + by) / 2), ((fx + ex) / 2, (fy + ey) / 2)], string, 3)
    pen.line([(x + w / 2, y - h), (x + w / 2, y)], string, 3)


def _nem(pen, c, rnd, name):
    _shadow(pen, 400, BASE, 250, 18)
    pen.ellipse((130, 356, 690, 490), fill=(244, 244, 238), outline=(200, 200, 195), width=2)
    _leaf(pen, (170, 420), (560, 420), 100, (80, 150, 60), vein=(150, 200, 110))
    leaf, string = (70, 140, 55), (215, 40, 50)
    for x, y in ((190, 410), (272, 410), (354, 410), (231, 366), (313, 366)):
        _parcel(pen, x, y, 72, 44, 36, _mix(leaf, (30, 90, 30), rnd.uniform(0, 0.3)), string)
    _leaf(pen, (440, 462), (680, 404), 116, (95, 165, 70), vein=(160, 210, 120))   # one unwrapped
    pen.rect((492, 396, 622, 452), fill=_light(c, 0.15), radius=10)
    _speckle(pen, rnd, (500, 402, 614, 446), [(250, 235, 225), (245, 225, 215), _dark(c, 0.1)], 60, 1.6)
    pen.ellipse((508, 404, 530, 424), fill=(250, 250, 240), outline=(220, 215, 200), width=1)
    pen.ellipse((570, 408, 596, 434), outline=(200, 30, 30), width=4)


def _che_lam(pen, c, rnd, name):
    _shadow(pen, 400, BASE, 220, 18)
    pen.ellipse((170, 370, 630, 486), fill=(244, 244, 238), outline=(200, 200, 195), width=2)
    for i, (x, y) in enumerate(((220, 440), (350, 440), (480, 440), (280, 400), (410, 400), (340, 360))):
        top = _box3d(pen, x, y, 116, 34, 44, c, _light(c, 0.22))
        (ax, ay), (bx, by), (ex, ey), _ = top
        for _ in range(7):
            u, v = rnd.random(), rnd.random()
            px, py = ax + (ex - bx) * u + (bx - ax) * v, ay + (by - ay) * v
            pen.ellipse((px - 5, py - 3, px + 5, py + 3), fill=(236, 214, 170))
        _speckle(pen, rnd, (x + 4, y - 30, x + 112, y - 4), [_dark(c, 0.25), (240, 220, 180)], 18, 1.6)


def _banh_gai(pen, c, rnd, name):
    _shadow(pen, 420, BASE, 260, 18)
    wrap, string = (196, 168, 110), (232, 222, 176)   # dried banana leaf, bamboo ties
    for x, y in ((110, 456), (250, 456), (180, 388)):
        _parcel(pen, x, y, 130, 64, 80, _mix(wrap, (150, 120, 70), rnd.uniform(0, 0.4)), string)
    _leaf(pen, (420, 478), (740, 420), 120, (205, 180, 124), vein=(170, 140, 90))   # one unwrapped
    cake = _dark(c, 0.3)
    (ax, ay), (bx, by), (ex, ey), _ = _box3d(pen, 480, 462, 150, 46, 96, cake, _light(cake, 0.12), _dark(cake, 0.2))
    for _ in range(70):
        u, v = rnd.uniform(0.04, 0.96), rnd.uniform(0.08, 0.92)
        x, y = ax + (ex - bx) * u + (bx - ax) * v, ay + (by - ay) * v
        pen.ellipse((x - 2.4, y - 1.4, x + 2.4, y + 1.4), fill=(245, 238, 215))
    pen.ellipse((520, 426, 590, 452), fill=(235, 200, 90))        # cut: the mung bean filling
    pen.rect((488, 422, 500, 456), fill=(255, 255, 255, 40), radius=4)


def _turmeric_powder(pen, c, rnd, name):
    _shadow(pen, 400, BASE, 130)
    _jar(pen, rnd, (310, 176, 490, BASE), c, (120, 80, 40), name, [_dark(c, 0.15), _light(c, 0.2)])
    skin = _mix((190, 130, 60), c, 0.25)
    _root(pen, rnd, 160, 440, skin, _light(c, 0.05))
    _shadow(pen, 625, BASE, 85, 10)
    heap = _bowl(pen, 625, 78, c, heap=30)
    _speckle(pen, rnd, heap, [_dark(c, 0.12), _light(c, 0.15)], 60, 1.4)


def _turmeric_slices(pen, c, rnd, name):
    cx, cy, rx, ry = 400, 428, 250, 62
    _shadow(pen, cx, cy + 40, 255, 22)
    pen.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=(196, 160, 100), outline=(140, 105, 60), width=8)
    for y in range(cy - ry + 10, cy + ry, 10):
        half = rx * math.sqrt(max(0.0, 1 - ((y - cy) / ry) ** 2)) - 12
        pen.line([(cx - half, y), (cx + half, y)], (150, 115, 70, 90), 1.5)
    spots = sorted((cx + rx * 0.8 * r * math.cos(a), cy + ry * 0.75 * r * math.sin(a))
                   for a, r in ((rnd.uniform(0, 2 * math.pi), rnd.random() ** 0.5) for _ in range(46)))
    for x, y in sorted(spots, key=lambda p: p[1]):
        w, h = rnd.uniform(17, 24), rnd.uniform(10, 14)
        tone = _mix(c, (200, 90, 20), rnd.uniform(0, 0.4))
        pen.ellipse((x - w, y - h, x + w, y + h), fill=tone, outline=_dark(tone, 0.3), width=2)
        pen.ellipse((x - w * 0.55, y - h * 0.55, x + w * 0.55, y + h * 0.55), outline=_light(tone, 0.3), width=1.5)
    _root(pen, rnd, 250, 420, (180, 120, 55), c, 5)


def _fish_sauce(pen, c, rnd, name):
    _shadow(pen, 390, BASE, 100)
    _bottle(pen, 390, 70, BASE, 56, 170, 150, _a(c, 235), 190, (200, 40, 30), name, (252, 246, 228), (190, 40, 30))
    _shadow(pen, 600, BASE, 85, 10)
    pen.ellipse((520, 420, 680, 470), fill=(250, 250, 246), outline=(190, 190, 185), width=2)
    pen.ellipse((546, 430, 654, 460), fill=_a(c, 230))
    for x, y in ((575, 440), (610, 447), (632, 438)):
        pen.ellipse((x - 8, y - 5, x + 8, y + 5), outline=(220, 40, 30), width=3)


def _wine(pen, c, rnd, name):
    _shadow(pen, 380, BASE, 100)
    _bottle(pen, 380, 80, BASE, 52, 160, 190, (238, 232, 205, 200), 176, (190, 40, 40), name,
            (180, 30, 30), (230, 180, 60), ink=(255, 226, 140))
    pen.poly([(350, 112), (410, 112), (424, 76), (336, 76)], fill=(200, 40, 40))
    pen.line([(352, 112), (408, 112)], (240, 200, 90), 3)
    for x in (560, 660):
        _shadow(pen, x, BASE, 45, 8)
        pen.poly([(x - 40, 410), (x + 40, 410), (x + 26, BASE), (x - 26, BASE)], fill=(248, 248, 244))
        pen.ellipse((x - 40, 402, x + 40, 418), fill=(235, 228, 200), outline=(60, 90, 160), width=3)
        pen.line([(x - 36, 430), (x + 36, 430)], (60, 90, 160), 2)


def _crock(pen, c, rnd, name):
    glaze = _dark(c, 0.35)
    _shadow(pen, 390, BASE, 150)
    pen.poly(_lathe(390, 170, BASE, lambda y: 62 + 78 * math.sin(math.pi * min(1.0, (y - 170) / 330))), fill=glaze)
    pen.ellipse((300, 210, 360, 380), fill=(255, 255, 255, 45))
    pen.rect((320, 160, 460, 182), fill=_dark(glaze, 0.2), radius=8)
    pen.chord((320, 126, 460, 192), 180, 360, fill=_light(glaze, 0.1))
    pen.ellipse((378, 116, 402, 136), fill=_light(glaze, 0.1))
    pen.poly([(390, 232), (468, 310), (390, 388), (312, 310)], fill=(200, 40, 35))
    pen.text(" ".join(name.split()[:2]).upper(), (338, 276, 442, 344), 30, (255, 225, 120), max_lines=2)
    _shadow(pen, 615, BASE, 85, 10)
    heap = _bowl(pen, 615, 76, c, heap=8, glaze=(240, 236, 226))
    _speckle(pen, rnd, heap, [_light(c, 0.3), _dark(c, 0.2)], 24, 2.6)


def _sesame_salt(pen, c, rnd, name):
    _shadow(pen, 380, BASE, 120)
    mix = [(40, 34, 30), (245, 240, 225), (190, 130, 80), _dark(c, 0.1)]
    _jar(pen, rnd, (290, 176, 470, BASE), c, (170, 40, 30), name, mix)
    _shadow(pen, 600, BASE, 85, 10)
    heap = _bowl(pen, 600, 76, c, heap=30)
    _speckle(pen, rnd, heap, mix, 110, 1.8)
    for _ in range(9):
        x, y = rnd.uniform(150, 250), rnd.uniform(430, 470)
        pen.ellipse((x - 11, y - 7, x + 11, y + 7), fill=(180, 95, 65), outline=(140, 70, 45), width=1.5)


def _tea(pen, c, rnd, name):
    pot = (150, 84, 52)
    _shadow(pen, 300, BASE, 120, 14)
    pen.poly([(210, 372), (150, 314), (140, 322), (200, 410)], fill=pot)
    pen.arc((350, 320, 430, 420), 270, 90, _dark(pot, 0.1), 14)
    _ball(pen, (190, 300, 400, BASE), pot)
    pen.chord((240, 270, 350, 330), 180, 360, fill=_light(pot, 0.1))
    pen.ellipse((285, 252, 305, 272), fill=_dark(pot, 0.1))
    _shadow(pen, 440, BASE, 40, 8)
    pen.poly([(404, 414), (476, 414), (466, BASE), (414, BASE)], fill=(246, 246, 240))
    pen.ellipse((404, 406, 476, 422), fill=(190, 180, 80), outline=(215, 215, 208), width=2)
    _shadow(pen, 600, BASE, 110, 12)
    for _ in range(34):
        x, y = rnd.uniform(510, 690), rnd.uniform(350, 455)
        a, length = rnd.uniform(0, 2 * math.pi), rnd.uniform(40, 70)
        _leaf(pen, (x, y), (x + math.cos(a) * length, y + math.sin(a) * length * 0.6), length * 0.45,
              _mix(c, (20, 60, 15), rnd.uniform(0, 0.45)), vein=_light(c, 0.3))


def _basket(pen, c, rnd, name):
    _shadow(pen, 400, BASE, 150)
    pen.arc((262, 60, 538, 420), 180, 360, _dark(c, 0.15), 16)
    def half(y):
        return 150 - 40 * ((y - 240) / (BASE - 240)) ** 1.6
    pen.poly(_lathe(400, 240, BASE, half), fill=_dark(c, 0.3))
    for row, y in enumerate(range(246, BASE - 6, 16)):
        w = half(y + 8) - 4
        x = 400 - w + (row % 2) * 11
        while x < 400 + w:
            pen.rect((max(x, 400 - w), y, min(x + 20, 400 + w), y + 13),
                     fill=_mix(c, (255, 240, 200), rnd.uniform(0, 0.25)), radius=5)
            x += 22
    pen.ellipse((250, 222, 550, 262), fill=_dark(c, 0.45), outline=_dark(c, 0.1), width=10)
    for x in range(258, 544, 12):
        pen.line([(x, 224 + 4 * math.cos((x - 400) / 150)), (x + 8, 262)], _a(_light(c, 0.25), 120), 2)


def _tray(pen, c, rnd, name):
    cx, cy, rx, ry = 400, 400, 250, 78
    _shadow(pen, cx, BASE + 8, 255, 20)
    pen.ellipse((cx - rx, cy - ry + 20, cx + rx, cy + ry + 20), fill=_dark(c, 0.25))
    pen.rect((cx - rx, cy, cx + rx, cy + 20), fill=_dark(c, 0.25))
    pen.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=c, outline=_dark(c, 0.2), width=6)
    sweets = [(220, 60, 60), (250, 200, 60), (80, 160, 90), (240, 140, 50), (150, 90, 170), (245, 235, 215)]
    for k in range(6):
        a0 = 2 * math.pi * k / 6
        pen.line([(cx + 70 * math.cos(a0), cy + 22 * math.sin(a0)), (cx + (rx - 10) * math.cos(a0), cy + (ry - 6) * math.sin(a0))],
                 _dark(c, 0.25), 4)
    items = []
    for k in range(6):
        for _ in range(8):
            a, r = 2 * math.pi * (k + rnd.uniform(0.18, 0.82)) / 6, rnd.uniform(0.38, 0.82)
            items.append((cy + ry * r * math.sin(a), cx + rx * r * math.cos(a), sweets[k]))
    for y, x, colour in sorted(items):
        pen.poly([(x - 20, y - 7), (x - 12, y), (x - 20, y + 7)], fill=_light(colour, 0.2))
        pen.poly([(x + 20, y - 7), (x + 12, y), (x + 20, y + 7)], fill=_light(colour, 0.2))
        pen.ellipse((x - 13, y - 8, x + 13, y + 8), fill=colour, outline=_dark(colour, 0.2), width=1)
    pen.ellipse((cx - 70, cy - 22, cx + 70, cy + 22), fill=_dark(c, 0.05), outline=_dark(c, 0.25), width=4)
    _speckle(pen, rnd, (cx - 50, cy - 12, cx + 50, cy + 12), [(120, 80, 40), (230, 200, 150)], 30, 3)


def _lantern(pen, c, rnd, name):
    for cx, top, w, h, silk in ((210, 60, 130, 170, (240, 180, 40)), (430, 40, 250, 320, (205, 35, 35))):
        pen.line([(cx, 0), (cx, top)], (70, 50, 30), 3)
        for i in range(5):
            r = w * (0.75 + i * 0.12)
            pen.ellipse((cx - r, top + h / 2 - r * 0.8, cx + r, top + h / 2 + r * 0.8), fill=(255, 200, 90, 12))
        _ball(pen, (cx - w / 2, top + 10, cx + w / 2, top + h - 10), silk)
        for k in (0.42, 0.32, 0.22):
            pen.ellipse((cx - w * k, top + h * (0.5 - k), cx + w * k, top + h * (0.5 + k)), fill=(255, 220, 120, 28))
        for f in (0.2, 0.45, 0.7, 0.92):
            pen.ellipse((cx - w / 2 * f, top + 12, cx + w / 2 * f, top + h - 12), outline=_dark(c, 0.15), width=3)
        pen.rect((cx - w * 0.18, top, cx + w * 0.18, top + 18), fill=_dark(c, 0.35), radius=4)
        pen.rect((cx - w * 0.18, top + h - 18, cx + w * 0.18, top + h), fill=_dark(c, 0.35), radius=4)
        for k in range(-6, 7):
            pen.line([(cx, top + h), (cx + k * w * 0.012, top + h + h * 0.3)], _dark(silk, 0.1), 2)
    _shadow(pen, 430, BASE, 120, 12)


def _package(pen, c, rnd, name):
    _shadow(pen, 410, BASE, 190)
    _box3d(pen, 260, BASE, 260, 250, 110, (205, 168, 118))
    pen.rect((380, BASE - 250, 400, BASE), fill=_a(_dark(c, 0.1), 220))
    _label(pen, (280, 250, 500, 400), name, accent=_dark(c, 0.2))


# kind, keywords of the name (lower case, with diacritics, whole words), drawing; first match wins
KINDS = (
    ("wine bottle", ("rượu",), _wine),
    ("honey jar", ("mật ong",), _honey),
    ("fish sauce bottle", ("nước mắm", "mắm"), _fish_sauce),
    ("soybean paste crock", ("tương",), _crock),
    ("sesame salt jar", ("muối vừng", "vừng", "muối"), _sesame_salt),
    ("turmeric powder jar", ("bột nghệ",), _turmeric_powder),
    ("dried turmeric slices", ("nghệ",), _turmeric_slices),
    ("flour bag", ("bột",), _flour),
    ("rice bag", ("gạo", "nếp"), _rice),
    ("chè lam bars", ("chè lam",), _che_lam),
    ("tea", ("chè", "trà"), _tea),
    ("bánh gai parcels", ("bánh gai", "bánh chưng", "bánh tét"), _banh_gai),
    ("nem parcels", ("nem",), _nem),
    ("watermelon", ("dưa hấu",), _watermelon),
    ("melon", ("dưa lưới", "dưa lê", "dưa vàng", "dưa"), _melon),
    ("pumpkin", ("bí đỏ", "bí ngô", "bí"), _pumpkin),
    ("greens", ("rau", "cải"), _greens),
    ("basket", ("giỏ", "rổ", "làn"), _basket),
    ("tray", ("khay", "mẹt"), _tray),
    ("lantern", ("đèn lồng", "đèn"), _lantern),
)
FALLBACK = ("package", (), _package)
_PATTERNS = [(kind, re.compile("|".join(rf"(?<!\w){re.escape(k)}(?!\w)" for k in words)), draw)
             for kind, words, draw in KINDS]


def kind_of(name: str) -> str:
    return _pick(name)[0]


def _pick(name: str):
    text = unicodedata.normalize("NFC", name).lower()
    for kind, pattern, draw in _PATTERNS:
        if pattern.search(text):
            return kind, draw
    return FALLBACK[0], FALLBACK[2]


def _backdrop(colour) -> Image.Image:
    tint = colour if sum(colour) > 330 else _mix(colour, (230, 190, 140), 0.6)
    wall_top, wall_low = _mix(tint, (250, 246, 238), 0.86), _mix(tint, (232, 222, 204), 0.76)
    wood_back, wood_front = (186, 140, 96), (150, 104, 66)
    column = []
    for y in range(H * S):
        t = y / S
        column.append(_mix(wall_top, wall_low, t / TABLE) if t < TABLE
                      else _mix(wood_back, wood_front, (t - TABLE) / (H - TABLE)))
    strip = Image.new("RGB", (1, H * S))
    strip.putdata(column)
    return strip.resize((W * S, H * S), Image.Resampling.NEAREST)


def render(name: str, colour: tuple[int, int, int], kind: str | None = None) -> Image.Image:
    """The 800×600 picture of ``name`` (drawn as ``kind`` when given, else as its name says)."""
    rnd = random.Random(zlib.crc32(unicodedata.normalize("NFC", name).encode()))
    draw = dict((k, d) for k, _, d in (*KINDS, FALLBACK))[kind] if kind else _pick(name)[1]
    img = _backdrop(colour)
    pen = _Pen(img)
    for i in range(5):
        y = TABLE + 18 + i * 21 + rnd.uniform(-4, 4)
        pen.line([(x, y + 3 * math.sin(x / 90 + i)) for x in range(0, W + 1, 40)], (120, 80, 45, 60), 2)
    pen.line([(0, TABLE), (W, TABLE)], (120, 85, 55), 3)
    draw(pen, colour, rnd, name)
    pen.rect((26, 500, 774, 584), fill=(255, 255, 255, 230), radius=16)
    pen.text(name, (46, 503, 754, 581), 38, (45, 32, 20), min_size=16, max_lines=2)
    return img.reduce(S)


def photo(name: str, colour: tuple[int, int, int]) -> bytes:
    """``name``'s demo photo: an 800×600 JPEG."""
    out = io.BytesIO()
    render(name, colour).save(out, "JPEG", quality=86)
    return out.getvalue()
