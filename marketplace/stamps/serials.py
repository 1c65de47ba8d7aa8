"""Stamp serials: 75 random bits from ``secrets`` in Crockford base32, plus a check character.

A serial is 16 characters: 15 random symbols (5 bits each) and one Luhn mod 32 check symbol,
which catches every single mistyped character (and most swaps of neighbours).  Crockford's
alphabet has no I, L, O or U, so a serial read aloud or typed from a torn label survives
the usual confusions (O→0, I/L→1 are folded when parsing).  Only digits and capitals: the
whole stamp URL stays in QR alphanumeric mode.  Never sequential, never derived from ids.
"""
from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 15              # 75 bits ≥ the 72 the design asks for
LENGTH = RANDOM_LENGTH + 1
GROUP = 4
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.]")


class InvalidSerial(ValueError):
    pass


def check_symbol(body: str) -> str:
    """Luhn mod 32 check symbol for ``body`` (symbols of :data:`ALPHABET`)."""
    factor, total, n = 2, 0, len(ALPHABET)
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        factor = 1 if factor == 2 else 2
        total += addend // n + addend % n
    return ALPHABET[(n - total % n) % n]


def new_serial() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + check_symbol(body)


def normalize(text: str) -> str:
    """Canonical serial from what a person typed or a scanner read, or :class:`InvalidSerial`.

    Accepts any case, spaces or dashes between groups, and O/I/L for 0/1.  The check symbol
    is verified here, so a wrong code never reaches the database.
    """
    candidate = _SEPARATORS.sub("", text or "").upper().translate(_ALIASES)
    if len(candidate) != LENGTH or any(ch not in _VALUE for ch in candidate):
        raise InvalidSerial("format")
    if check_symbol(candidate[:-1]) != candidate[-1]:
        raise InvalidSerial("check")
    return candidate


def is_valid(text: str) -> bool:
    try:
        normalize(text)
    except InvalidSerial:
        return False
    return True


def group_serial(serial: str, sep: str = "-") -> str:
    """"K7M2P9QX4RT8W3ZA" → "K7M2-P9QX-4RT8-W3ZA": printed on labels for manual entry."""
    return sep.join(serial[i:i + GROUP] for i in range(0, len(serial), GROUP))
