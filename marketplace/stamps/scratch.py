"""Scratch-off codes (tem cào): a short secret per stamp of a scratch run, printed under a
scratch-off coating.  Typing it in proves the buyer holds the real, unscratched package: a
copier who photographs the QR on a shelf does not see it.

The code is 40 bits of HMAC-SHA256(key, serial) in Crockford base 32 (8 symbols, printed
"ABCD-EFGH"): derived, never stored, so a copy of the database reveals no code and issuing
100,000 stamps writes nothing more.  The key is ``SCRATCH_CODE_KEY``, or one derived from
``SECRET_KEY`` with domain separation (so it is never the session-signing key itself).
Changing the key makes every printed code wrong: set it once.

Guessing: 2⁴⁰ ≈ 10¹² codes per stamp; with the page's rate limits (a few wrong entries per
stamp per hour) a guesser needs ~10¹¹ hours for an even chance.  The first correct entry is
recorded (``Stamp.scratch_verified_at``); later correct entries say when that was, which is
what tells a buyer that someone opened this code before them.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..models import Stamp
from .serials import ALPHABET

CODE_LENGTH = 8                 # symbols: 40 bits
CODE_BYTES = 5                  # of the HMAC, 40 bits
KEY_CONTEXT = b"ocop scratch-code key v1"
MAX_ENTRY = 64                  # characters of a buyer's entry looked at, at most

_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
# spaces and hyphens a person or a phone keyboard puts between the groups (autocorrect
# turns "-" into dashes and minus signs)
_SEPARATORS = re.compile(r"[\s\-\u2010\u2011\u2012\u2013\u2014\u2212]+")
_SYMBOLS = frozenset(ALPHABET)


def key_from_config(config: Mapping) -> bytes:
    """The codes' key: ``SCRATCH_CODE_KEY`` when set, else HMAC-SHA256(``SECRET_KEY``,
    ``b"ocop scratch-code key v1"``).  ``ValueError`` when neither is set."""
    explicit = config.get("SCRATCH_CODE_KEY")
    if explicit:
        return explicit if isinstance(explicit, bytes) else str(explicit).encode("utf-8")
    secret = config.get("SECRET_KEY")
    if not secret:
        raise ValueError("scratch-off codes need SCRATCH_CODE_KEY or SECRET_KEY")
    secret = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
    return hmac.new(secret, KEY_CONTEXT, hashlib.sha256).digest()


def code_for(serial: str, key: bytes) -> str:
    """The 8-symbol code of the stamp ``serial`` (canonical form, as stored): the first
    40 bits of HMAC-SHA256(key, serial), 5 bits a symbol, most significant first."""
    if not key:
        raise ValueError("empty scratch-code key")
    digest = hmac.new(key, serial.encode("ascii"), hashlib.sha256).digest()
    value = int.from_bytes(digest[:CODE_BYTES], "big")
    return "".join(ALPHABET[(value >> (5 * (CODE_LENGTH - 1 - i))) & 31] for i in range(CODE_LENGTH))


def format_code(code: str) -> str:
    """"ABCDEFGH" → "ABCD-EFGH", as printed on the label and in the print shop's CSV."""
    half = CODE_LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalize_entry(text: str) -> str | None:
    """What a buyer typed → the canonical 8 symbols, or None if it cannot be a code.

    Any case; spaces and hyphens (and the dashes phones substitute) ignored; full-width
    characters folded (NFKC); Crockford's O → 0 and I, L → 1.  U and anything outside the
    alphabet make it None, as does a wrong length.
    """
    if not isinstance(text, str) or len(text) > MAX_ENTRY:
        return None
    candidate = _SEPARATORS.sub("", unicodedata.normalize("NFKC", text)).upper().translate(_ALIASES)
    if len(candidate) != CODE_LENGTH or not _SYMBOLS.issuperset(candidate):
        return None
    return candidate


@dataclass(frozen=True)
class Outcome:
    """``kind``: "verified" (the first correct entry, recorded now), "already" (correct, but
    first entered at ``first_verified_at``) or "wrong" (``first_verified_at`` is then None:
    someone without the code learns nothing about the stamp)."""

    kind: str
    first_verified_at: dt.datetime | None


def is_right(serial: str, entered: str, key: bytes) -> bool:
    """Whether ``entered`` (as a buyer typed it) is the code of ``serial``, in constant time
    (``hmac.compare_digest``).  Records nothing: :func:`verify` does."""
    expected = code_for(serial, key)
    entered_code = normalize_entry(entered) or ""
    return hmac.compare_digest(expected.encode("ascii"), entered_code.encode("ascii"))


def verify(session, stamp: Stamp, entered: str, *, key: bytes, now: dt.datetime) -> Outcome:
    """Check the code a buyer typed for ``stamp`` and record its first correct entry.

    The comparison takes constant time (``hmac.compare_digest``).  The first correct entry is
    recorded with ``UPDATE … WHERE scratch_verified_at IS NULL``: of two entries at the same
    moment exactly one changes the row and is "verified", the other finds it set and is
    "already" (PostgreSQL re-checks the condition after the first commits; SQLite
    serialises writers).  Flushes; the caller commits.

    :raises ValueError: ``stamp`` is not of a scratch run, or ``now`` is naive.
    """
    if not stamp.run.scratch:
        raise ValueError(f"stamp {stamp.serial} is not of a scratch run")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not is_right(stamp.serial, entered, key):
        return Outcome("wrong", None)
    session.flush()
    won = session.execute(
        update(Stamp).where(Stamp.id == stamp.id, Stamp.scratch_verified_at.is_(None))
        .values(scratch_verified_at=now).execution_options(synchronize_session=False)).rowcount == 1
    first = now if won else session.execute(
        select(Stamp.scratch_verified_at).where(Stamp.id == stamp.id)).scalar_one()
    set_committed_value(stamp, "scratch_verified_at", first)  # the object says what the row says
    return Outcome("verified" if won else "already", first)
