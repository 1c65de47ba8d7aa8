"""Vietnamese-aware text helpers: text as it is kept (NFC, no control characters), diacritic
folding for search, and slugs."""
from __future__ import annotations

import re
import unicodedata

from slugify import slugify as _slugify

_SPACES = re.compile(r"\s+")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")


def clean(text: str, *, lines: bool = False) -> str:
    """Text as it is kept, whatever door it came through (forms, the API, the CLI): NFC (one
    code point for "ạ", as Vietnamese keyboards mostly type it, never a base letter and a
    combining mark), line breaks as "\\n", and no control characters; tab and newline stay
    only in a field that allows lines (``lines``), else they become spaces.  NUL is left in
    place: it is never legitimate, and the doors refuse it (400 for pages, 422 in the API).
    Lengths are checked on the result."""
    text = _LINE_BREAKS.sub("\n", unicodedata.normalize("NFC", text))
    keep = "\x00\t\n" if lines else "\x00"
    return "".join(ch if ch in keep or unicodedata.category(ch) not in ("Cc", "Cf") or ch == "\u200d"
                   else (" " if ch in "\t\n" else "") for ch in text)


def cleaner(*, lines: bool = False):
    """:func:`clean` for a value that may not be text (a form's filter, the API's validator):
    anything else passes as it is, for the field's own type check to judge."""
    def clean_value(value):
        return clean(value, lines=lines) if isinstance(value, str) else value
    return clean_value


# How a cell starts when a spreadsheet would run it as a formula ("CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def ascii_number(text: str) -> bool:
    """``text`` is one or more of the digits 0 to 9.  ``str.isdigit`` takes "²", "①" and other
    scripts' digits ("١٢") too, which ``int`` refuses (a 500) or reads, and a code, count,
    account or id written with them is nothing anywhere else (a bank, an authenticator)."""
    return text.isascii() and text.isdigit()


def spreadsheet_text(value: str) -> str:
    """A text cell of a CSV file that people open in a spreadsheet (the print shop's list of
    a stamp run, lot reports, officers' exports): one that starts like a formula gets a
    leading apostrophe, so it is shown, never run.  Files for machines (the exchanges'
    feeds) carry values as they are: CSV quoting is enough there."""
    return "'" + value if value.startswith(FORMULA_START) else value


def strip_marks(text: str | None) -> str:
    """``text`` without Vietnamese diacritics, case kept: "Gạo Đồng Tiến" -> "Gao Dong Tien".

    đ/Đ is a separate letter, not a combining mark, so NFD alone leaves it; map it first.
    """
    if not text:
        return ""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def fold(text: str | None) -> str:
    """Lower-case ``text`` and strip Vietnamese diacritics: "Gạo Đồng Tiến" -> "gao dong tien"."""
    return _SPACES.sub(" ", strip_marks(text).casefold()).strip()


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
