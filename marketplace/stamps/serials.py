"""Stamp serials: 75 random bits from ``secrets`` in Crockford base32, plus a check character.

A serial is 16 characters: 15 random symbols (5 bits each) and one Luhn mod 32 check symbol,
which catches every single mistyped character (and most swaps of neighbours).  Crockford's
alphabet has no I, L, O or U, so a serial read aloud or typed from a torn label survives
the usual confusions (O→0, I/L→1 are folded when parsing).  Only digits and capitals: the
whole stamp URL stays in QR alphanumeric mode.  Never sequential, never derived from ids.
"""
from __future__ import annotations

import base64
import re
import secrets

from ..crockford import ALPHABET, GROUP, group

RANDOM_LENGTH = 15              # 75 bits ≥ the 72 the design asks for
LENGTH = RANDOM_LENGTH + 1
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.]")


class InvalidSerial(ValueError):
    pass


# Luhn mod 32: from the right, every other symbol's value v is doubled and its "digits" in
# base 32 summed (2v // 32 + 2v % 32).  Both per-symbol addends come from translation tables,
# so a check costs two str.translate calls and a sum in C: issuing 100,000 stamps is fast.
_PLAIN = str.maketrans({ch: chr(v) for ch, v in _VALUE.items()})
_DOUBLED = str.maketrans({ch: chr((2 * v) // 32 + (2 * v) % 32) for ch, v in _VALUE.items()})
# RFC 4648 base32 (A–Z, 2–7) → Crockford symbols of the same value.
_FROM_RFC4648 = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET.encode())


def check_symbol(body: str) -> str:
    """Luhn mod 32 check symbol for ``body`` (symbols of :data:`ALPHABET`)."""
    reverse = body[::-1]
    total = sum(reverse[0::2].translate(_DOUBLED).encode("latin-1")) + sum(
        reverse[1::2].translate(_PLAIN).encode("latin-1"))
    return ALPHABET[-total % 32]


def new_serials(count: int) -> list[str]:
    """``count`` fresh serials: 10 bytes from ``secrets`` each, base32-encoded in one call,
    of which the first 15 symbols (75 bits) are kept."""
    raw = base64.b32encode(secrets.token_bytes(10 * count)).translate(_FROM_RFC4648).decode("ascii")
    bodies = [raw[i:i + RANDOM_LENGTH] for i in range(0, 16 * count, 16)]
    return [body + check_symbol(body) for body in bodies]


def new_serial() -> str:
    return new_serials(1)[0]


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


group_serial = group  # "K7M2P9QX4RT8W3ZA" → "K7M2-P9QX-4RT8-W3ZA" (marketplace.crockford)
