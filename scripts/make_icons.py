"""Draw the site's icons (static/favicon.ico, static/icon-192.png, static/icon-512.png) with
Pillow and the bundled Be Vietnam Pro: a green tile with a rice-ear mark and "OCOP".

Run again after changing the drawing: ``.venv/bin/python scripts/make_icons.py``.
"""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

import fontpkg  # noqa: E402  (the fonts the labels use)

STATIC = Path(__file__).resolve().parent.parent / "static"
GREEN, GOLD, WHITE = (11, 93, 42), (240, 190, 60), (255, 255, 255)


def icon(size: int) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 6, fill=GREEN)
    # A rice ear: a curved stem and grains along it.
    stem = [(size * 0.30, size * 0.78), (size * 0.50, size * 0.50), (size * 0.70, size * 0.22)]
    draw.line(stem, fill=GOLD, width=max(1, size // 28), joint="curve")
    for i in range(5):
        t = 0.25 + i * 0.13
        cx, cy = size * (0.30 + 0.40 * t), size * (0.78 - 0.56 * t)
        r = size * 0.038
        for dx in (-1, 1):
            gx = cx + dx * size * 0.055
            draw.ellipse((gx - r, cy - r * 1.5, gx + r, cy + r * 1.5), fill=GOLD)
    if size >= 64:
        font = ImageFont.truetype(str(fontpkg.path("Be Vietnam Pro", 700)), size // 6)
        draw.text((size / 2, size * 0.88), "OCOP", fill=WHITE, font=font, anchor="mm")
    return img


def main() -> None:
    for size in (192, 512):
        icon(size).save(STATIC / f"icon-{size}.png", optimize=True)
    icon(256).save(STATIC / "favicon.ico", sizes=[(16, 16), (32, 32), (48, 48)])


if __name__ == "__main__":
    main()
