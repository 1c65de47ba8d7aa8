"""Vietnamese-aware text helpers: diacritic folding for search, and slugs."""
from __future__ import annotations

import re
import unicodedata

from slugify import slugify as _slugify

_SPACES = re.compile(r"\s+")


def fold(text: str | None) -> str:
    """Lower-case ``text`` and strip Vietnamese diacritics: "Gạo Đồng Tiến" -> "gao dong tien".

    đ/Đ is a separate letter, not a combining mark, so NFD alone leaves it; map it first.
    """
    if not text:
        return ""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _SPACES.sub(" ", stripped.casefold()).strip()


def slugify(text: str, max_length: int = 200) -> str:
    """URL slug: "Gạo nếp cái hoa vàng Đồng Tiến" -> "gao-nep-cai-hoa-vang-dong-tien"."""
    return _slugify(text, max_length=max_length, word_boundary=True) or "item"


def unique_slug(text: str, exists) -> str:
    """First of ``slug``, ``slug-2``, ``slug-3``… for which ``exists(candidate)`` is false."""
    base = slugify(text)
    candidate, n = base, 2
    while exists(candidate):
        candidate = f"{base}-{n}"
        n += 1
    return candidate
