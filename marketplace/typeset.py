"""Text set on images with Pillow in Be Vietnam Pro (a typeface made for Vietnamese: its stacked
marks fit): the demo's product photos and the share previews of product pages.  Pillow and the
font are imported when a face is first asked for, not at start-up."""
from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import ImageFont

LINE = 1.3  # line height, em (room for Vietnamese stacked marks)


@lru_cache(maxsize=None)
def font(px: int, weight: int = 700) -> ImageFont.FreeTypeFont:
    import fontpkg
    from PIL import ImageFont

    return ImageFont.truetype(str(fontpkg.path("Be Vietnam Pro", weight)), px)


def wrap(words: list[str], face, width: float) -> list[str]:
    """``words`` in lines no wider than ``width`` (a word longer than that stands alone)."""
    lines, line = [], ""
    for word in words:
        trial = f"{line} {word}".strip()
        if line and face.getlength(trial) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return lines + [line]


def fit_text(text: str, width: float, height: float, max_size: int, min_size: int = 10,
             max_lines: int = 2, weight: int = 700, *, scale: int = 1, line: float = LINE) -> tuple[int, list[str]]:
    """The largest size (px) at which ``text``, wrapped between words, fits ``width``×``height``
    in at most ``max_lines`` lines (measured on a canvas ``scale`` times larger, for pictures
    drawn large and reduced); at ``min_size`` the last line is cut with "…" if it must be."""
    words = text.split()
    for size in range(max_size, min_size - 1, -1):
        face = font(size * scale, weight)
        lines = wrap(words, face, width * scale)
        if (len(lines) <= max_lines and len(lines) * size * line <= height
                and all(face.getlength(one) <= width * scale for one in lines)):
            return size, lines
    face = font(min_size * scale, weight)
    lines = wrap(words, face, width * scale)[:max(1, min(max_lines, int(height // (min_size * line))))]
    while len(lines[-1]) > 1 and face.getlength(lines[-1] + "…") > width * scale:
        lines[-1] = lines[-1][:-1].rstrip()
    if " ".join(lines) != " ".join(words):
        lines[-1] += "…"
    return min_size, lines
