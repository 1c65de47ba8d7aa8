"""Crockford's base 32, as the stamps write it: the alphabet (no I, L, O or U, so a code read
aloud or typed from a torn label survives the usual confusions) and the grouping in fours
printed for people.  The bottom of the house: serials, scratch-off codes and label printing
all use it, and it imports nothing of theirs."""
from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUP = 4


def group(code: str, sep: str = "-") -> str:
    """"K7M2P9QX4RT8W3ZA" → "K7M2-P9QX-4RT8-W3ZA": printed on labels for manual entry."""
    return sep.join(code[i:i + GROUP] for i in range(0, len(code), GROUP))
