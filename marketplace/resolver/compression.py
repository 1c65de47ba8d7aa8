"""GS1 Digital Link: Compression, as the GS1 reference implementation does it (pure
functions, no Flask, no DB; docs/decisions/0007-digital-link-codec.md).

:func:`decompress` / :func:`compress` implement "GS1 Digital Link: Compression" as the
GS1 reference implementation does it (``GS1DigitalLinkToolkit.js`` of
``gs1/GS1DigitalLinkCompressionPrototype``: ``decompressBinaryToGS1AIarray``,
``decodeBinaryValue``, ``handleDecodings``, ``compressGS1AIarrayToBinary``,
``binaryEncodingOfValue``, ``determineEncoding``, ``bin2base64``/``base642bin``), with the same
tables (``tableP``, ``tableF``, ``tableOpt``) and alphabets.  Where that code has a defect
this module differs, each time on purpose and noted where it happens:

- an all-numeric alphanumeric value is read back left-padded to its stated length (the
  JS drops leading zeros: lot ``007`` came back as ``7``), and the compressor never writes
  a value with leading zeros in the numeric encoding (it uses upper-case hex, which every
  decoder reads losslessly);
- running out of bits, an AI without a format, an unknown encoding or a non-ASCII character
  is an error here (the JS silently produced garbage);
- the JS compressor duplicated the bits written so far when an alphanumeric component
  followed another component (AIs 253, 421, 7030–7039, 8003); this one does not.

One quirk is *kept*, because it is what the reference implementation puts on the wire: its
constructor sorts the AI lists of ``tableOpt`` in place while building ``tableOptReverse``,
so optimisation ``1A`` carries 01, 10, 17, 21 (not 01, 10, 21, 17 as declared) and ``9D``
carries 254, 414.
"""
from __future__ import annotations

import math
import re

from ..text import ascii_number

# ---------------------------------------------------------------------------------------
# Compression tables (GS1DigitalLinkToolkit.js: tableP, tableF, tableOpt)
# ---------------------------------------------------------------------------------------

SAFE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
HEX = "0123456789ABCDEF"
_SAFE64_INDEX = {ch: i for i, ch in enumerate(SAFE64)}
SAFE64_TOKEN = re.compile(r"[A-Za-z0-9_-]+")

# tableP: for the first two digits of an AI, the length of the whole AI.
TABLE_P = {
    "00": 2, "01": 2, "02": 2, "10": 2, "11": 2, "12": 2, "13": 2, "15": 2, "16": 2, "17": 2,
    "20": 2, "21": 2, "22": 2, "23": 3, "24": 3, "25": 3, "30": 2, "31": 4, "32": 4, "33": 4,
    "34": 4, "35": 4, "36": 4, "37": 2, "39": 4, "40": 3, "41": 3, "42": 3, "70": 4, "71": 3,
    "72": 4, "80": 4, "81": 4, "82": 4, "90": 2, "91": 2, "92": 2, "93": 2, "94": 2, "95": 2,
    "96": 2, "97": 2, "98": 2, "99": 2,
}


def _formats() -> dict[str, str]:
    """tableF written as GS1 format strings: ``N14`` fixed numeric, ``N..8`` variable
    numeric, ``X..20`` variable alphanumeric, components joined with ``+``."""
    table = {
        "00": "N18", "01": "N14", "02": "N14", "10": "X..20", "11": "N6", "12": "N6", "13": "N6",
        "15": "N6", "16": "N6", "17": "N6", "20": "N2", "21": "X..20", "22": "X..20",
        "240": "X..30", "241": "X..30", "242": "N..6", "243": "X..20", "250": "X..30",
        "251": "X..30", "253": "N13+X..17", "254": "X..20", "255": "N13+N..12", "30": "N..8",
        "37": "N..8", "400": "X..30", "401": "X..30", "402": "N17", "403": "X..30",
        "420": "X..20", "421": "N3+X..9", "422": "N3", "423": "N3+N..12", "424": "N3",
        "425": "N3+N..12", "426": "N3", "427": "X..3", "7001": "N13", "7002": "X..30",
        "7003": "N10", "7004": "N..4", "7005": "X..12", "7006": "N6", "7007": "N6+N..6",
        "7008": "X..3", "7009": "X..10", "7010": "X..2", "7020": "X..20", "7021": "X..20",
        "7022": "X..20", "7023": "X..30", "8001": "N14", "8002": "X..20", "8003": "N14+X..16",
        "8004": "X..30", "8005": "N6", "8006": "N18", "8007": "X..24", "8008": "N8+N..4",
        "8009": "X..50", "8010": "X..30", "8011": "N..12", "8012": "X..20", "8013": "X..30",
        "8017": "N18", "8018": "N18", "8019": "N..10", "8020": "X..25", "8026": "N18",
        "8110": "X..70", "8111": "N4", "8112": "X..70", "8200": "X..70", "90": "X..30",
    }
    table.update({f"41{d}": "N13" for d in "0123456"})
    table.update({f"703{d}": "N3+X..27" for d in "0123456789"})
    table.update({f"71{d}": "X..20" for d in "01234"})
    table.update({f"723{d}": "X..30" for d in "0123456789"})
    table.update({f"9{d}": "X..90" for d in "123456789"})
    # Trade measures 31nn–36nn (third digit range per group, decimal places 0–5): N6.
    for group, third in (("31", "0123456"), ("32", "0123456789"), ("33", "01234567"),
                         ("34", "0123456789"), ("35", "01234567"), ("36", "0123456789")):
        table.update({f"{group}{t}{d}": "N6" for t in third for d in "012345"})
    table.update({f"390{d}": "N..15" for d in "0123456789"})
    table.update({f"391{d}": "N3+N..15" for d in "0123456789"})
    table.update({f"392{d}": "N..15" for d in "0123456789"})
    table.update({f"393{d}": "N3+N..15" for d in "0123456789"})
    table.update({f"394{d}": "N4" for d in "0123"})
    return table


def _components(fmt: str) -> tuple[tuple[str, bool, int], ...]:
    """``"N13+X..17"`` → ``(("N", True, 13), ("X", False, 17))`` (kind, fixed, length)."""
    out = []
    for part in fmt.split("+"):
        kind, rest = part[0], part[1:]
        out.append((kind, not rest.startswith(".."), int(rest.lstrip("."))))
    return tuple(out)


TABLE_F = {ai: _components(fmt) for ai, fmt in _formats().items()}

# tableOpt as declared (0A–0F … 9A–9F, A0–CD; Fh is reserved for non-GS1 key=value pairs) …
_TABLE_OPT_DECLARED = {
    "0A": ["01", "22"], "0B": ["01", "10"], "0C": ["01", "21"], "0D": ["01", "17"],
    "0E": ["01", "7003"], "0F": ["01", "30"], "1A": ["01", "10", "21", "17"],
    "1B": ["01", "15"], "1C": ["01", "11"], "1D": ["01", "16"], "1E": ["01", "91"],
    "1F": ["01", "10", "15"], "2A": ["01", "3100"], "2B": ["01", "3101"],
    "2C": ["01", "3102"], "2D": ["01", "3103"], "2E": ["01", "3104"], "2F": ["01", "3105"],
    "3A": ["01", "3200"], "3B": ["01", "3201"], "3C": ["01", "3202"], "3D": ["01", "3203"],
    "3E": ["01", "3204"], "3F": ["01", "3205"], "9A": ["8010", "8011"],
    "9B": ["8017", "8019"], "9C": ["8018", "8019"], "9D": ["414", "254"],
    **{f"A{d}": ["01", f"392{d}"] for d in "0123456789"},
    **{f"C{d}": ["255", f"390{d}"] for d in "0123456789"},
    "CA": ["255", "3940"], "CB": ["255", "3941"], "CC": ["255", "3942"], "CD": ["255", "3943"],
}
# … and as the reference implementation uses it: its constructor sorts each list in place.
TABLE_OPT = {code: sorted(ais) for code, ais in _TABLE_OPT_DECLARED.items()}


def length_bits(max_length: int) -> int:
    """numberOfLengthBits: bits of the length indicator of a variable-length component."""
    return math.ceil(math.log(max_length) / math.log(2) + 0.01)


def value_bits(digits: int) -> int:
    """numberOfValueBits: bits for an integer of ``digits`` decimal digits (1 for 0 digits)."""
    return math.ceil(digits * math.log(10) / math.log(2) + 0.01)


class CompressionError(ValueError):
    """Not a compressed GS1 Digital Link (structure); value checks come later."""


# ---------------------------------------------------------------------------------------
# Decompression
# ---------------------------------------------------------------------------------------

class _Bits:
    def __init__(self, bits: str):
        self.bits, self.cursor = bits, 0

    def remaining(self) -> int:
        return len(self.bits) - self.cursor

    def take(self, n: int) -> str:
        if n < 0 or self.cursor + n > len(self.bits):
            raise CompressionError("truncated")
        chunk = self.bits[self.cursor:self.cursor + n]
        self.cursor += n
        return chunk

    def int(self, n: int) -> int:
        return int(self.take(n), 2) if n else 0


def base64_to_bits(token: str) -> str:
    if not SAFE64_TOKEN.fullmatch(token or ""):
        raise CompressionError("alphabet")
    return "".join(f"{_SAFE64_INDEX[ch]:06b}" for ch in token)


def bits_to_base64(bits: str) -> str:
    bits += "0" * (-len(bits) % 6)
    return "".join(SAFE64[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))


def _decode_chars(bits: _Bits, encoding: int, count: int) -> str:
    """handleDecodings: ``count`` characters in one of the five encodings."""
    if encoding == 0:  # digits as one integer
        value = str(bits.int(value_bits(count)))
        if len(value) > count:
            raise CompressionError("numeric overflow")
        return value.zfill(count) if count else ""  # the JS dropped leading zeros here
    if encoding in (1, 2):  # hexadecimal, 4 bits a character
        text = "".join(HEX[bits.int(4)] for _ in range(count))
        return text.lower() if encoding == 1 else text
    if encoding == 3:  # URI-safe base64 alphabet, 6 bits a character
        return "".join(SAFE64[bits.int(6)] for _ in range(count))
    if encoding == 4:  # 7-bit ASCII
        return "".join(chr(bits.int(7)) for _ in range(count))
    raise CompressionError(f"encoding {encoding}")


def _decode_value(ai: str, bits: _Bits) -> str:
    """decodeBinaryValue: the value of ``ai`` according to tableF."""
    if ai not in TABLE_F:
        raise CompressionError(f"no format for AI {ai}")
    value = ""
    for kind, fixed, length in TABLE_F[ai]:
        if kind == "N" and fixed:
            digits = str(bits.int(value_bits(length)))
            if len(digits) > length:
                raise CompressionError("numeric overflow")
            value += digits.zfill(length)
        elif kind == "N":
            count = bits.int(length_bits(length))
            digits = str(bits.int(value_bits(count)))
            if len(digits) > max(count, 1):
                raise CompressionError("numeric overflow")
            value += digits.zfill(count) if count else ""  # zeros kept (the JS dropped them)
        elif fixed:
            encoding = bits.int(3)
            value += _decode_chars(bits, encoding, length)
        else:
            encoding = bits.int(3)
            count = bits.int(length_bits(length))
            value += _decode_chars(bits, encoding, count)
    return value


def decompress_bits(binary: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """decompressBinaryToGS1AIarray: (GS1 AI/value pairs, non-GS1 key/value pairs), in order."""
    bits = _Bits(binary)
    elements: list[tuple[str, str]] = []
    others: list[tuple[str, str]] = []
    while bits.remaining() > 8:
        h1, h2 = bits.int(4), bits.int(4)
        if h1 <= 9 and h2 <= 9:
            prefix = f"{h1}{h2}"
            if prefix not in TABLE_P:
                raise CompressionError(f"no AI starts with {prefix}")
            ai = prefix
            for _ in range(TABLE_P[prefix] - 2):
                digit = bits.int(4)
                if digit > 9:
                    raise CompressionError("AI not numeric")
                ai += str(digit)
            elements.append((ai, _decode_value(ai, bits)))
        elif f"{HEX[h1]}{HEX[h2]}" in TABLE_OPT:
            for ai in TABLE_OPT[f"{HEX[h1]}{HEX[h2]}"]:
                elements.append((ai, _decode_value(ai, bits)))
        elif h1 == 0xF:
            # A non-GS1 key=value pair: 7-bit key length (h2 and three more bits), the key in
            # the base64 alphabet, then 3-bit encoding, 7-bit length and the value.
            key_length = (h2 << 3) | bits.int(3)
            key = "".join(SAFE64[bits.int(6)] for _ in range(key_length))
            encoding = bits.int(3)
            count = bits.int(7)
            others.append((key, _decode_chars(bits, encoding, count)))
        else:
            raise CompressionError(f"no optimisation {HEX[h1]}{HEX[h2]}")
    return elements, others


def decompress(token: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A compressed path segment (base64url) → (GS1 AI/value pairs, other pairs)."""
    return decompress_bits(base64_to_bits(token))


# ---------------------------------------------------------------------------------------
# Compression (used by the tests for round trips; printing still uses uncompressed URIs)
# ---------------------------------------------------------------------------------------

_ALL_DIGITS = re.compile(r"[0-9]+")
_HEX_LOWER = re.compile(r"[0-9a-f]+")
_HEX_UPPER = re.compile(r"[0-9A-F]+")


def determine_encoding(text: str) -> int:
    """determineEncoding: the most compact of the five encodings that fits ``text``."""
    encoding = 4
    if SAFE64_TOKEN.fullmatch(text):
        encoding = 3
    if _HEX_LOWER.fullmatch(text):
        encoding = 1
    if _HEX_UPPER.fullmatch(text):
        encoding = 2
    if _ALL_DIGITS.fullmatch(text):
        encoding = 0 if len(text) == 1 or not text.startswith("0") else 2  # keep leading zeros
    return encoding


def _encode_chars(text: str, encoding: int, length_field: str) -> str:
    """handleEncodings: 3-bit encoding, the length field, then the characters."""
    if encoding == 0:
        body = f"{int(text):0{value_bits(len(text))}b}"
    elif encoding in (1, 2):
        body = "".join(f"{HEX.index(ch):04b}" for ch in text.upper())
    elif encoding == 3:
        body = "".join(f"{_SAFE64_INDEX[ch]:06b}" for ch in text)
    else:
        if any(ord(ch) > 127 for ch in text):
            raise ValueError("only 7-bit ASCII can be compressed")
        body = "".join(f"{ord(ch):07b}" for ch in text)
    return f"{encoding:03b}{length_field}{body}"


def _encode_value(ai: str, value: str) -> str:
    """binaryEncodingOfValue."""
    if ai not in TABLE_F:
        raise ValueError(f"no compression format for AI {ai}")
    out, cursor = "", 0
    for kind, fixed, length in TABLE_F[ai]:
        part = value[cursor:cursor + length] if fixed else value[cursor:]
        cursor += len(part)
        if kind == "N":
            if not ascii_number(part) or (fixed and len(part) != length) or len(part) > length:
                raise ValueError(f"AI {ai}: {value!r} does not fit {kind}{length}")
            if fixed:
                out += f"{int(part):0{value_bits(length)}b}"
            else:
                out += f"{len(part):0{length_bits(length)}b}{int(part) if part else 0:0{value_bits(len(part))}b}"
        else:
            if len(part) > length or (fixed and len(part) != length):
                raise ValueError(f"AI {ai}: {value!r} does not fit X..{length}")
            length_field = "" if fixed else f"{len(part):0{length_bits(length)}b}"
            out += _encode_chars(part, determine_encoding(part), length_field)
    if cursor != len(value):
        raise ValueError(f"AI {ai}: {value!r} is too long")
    return out


def _ai_bits(code: str) -> str:
    """binaryEncodingOfGS1AIKey: each (hex) character of the AI or optimisation code in 4 bits."""
    return "".join(f"{int(ch, 16):04b}" for ch in code)


def compress_bits(elements: dict[str, str], *, optimise: bool = True,
                  others: dict[str, str] | None = None) -> str:
    """compressGS1AIarrayToBinary."""
    remaining = sorted(elements)
    chosen: list[str] = []
    while optimise:
        candidates = {code: len("".join(ais)) for code, ais in TABLE_OPT.items()
                      if all(ai in remaining for ai in ais)}
        if not candidates:
            break
        best, most = "", 0
        for code, saved in candidates.items():  # the first of the longest, in table order
            if saved > most:
                best, most = code, saved
        chosen.append(best)
        remaining = [ai for ai in remaining if ai not in TABLE_OPT[best]]
    bits = ""
    for code in chosen:
        bits += _ai_bits(code) + "".join(_encode_value(ai, elements[ai]) for ai in TABLE_OPT[code])
    for ai in remaining:
        bits += _ai_bits(ai) + _encode_value(ai, elements[ai])
    for key, value in (others or {}).items():
        if not SAFE64_TOKEN.fullmatch(key) or len(key) > 127 or len(value) > 127:
            raise ValueError(f"cannot compress the pair {key!r}")
        bits += "1111" + f"{len(key):07b}" + "".join(f"{_SAFE64_INDEX[ch]:06b}" for ch in key)
        bits += _encode_chars(value, determine_encoding(value), f"{len(value):07b}")
    return bits


def compress(elements: dict[str, str], *, optimise: bool = True, others: dict[str, str] | None = None) -> str:
    """AI/value pairs (GTIN as 14 digits) → the compressed path segment (base64url)."""
    return bits_to_base64(compress_bits(elements, optimise=optimise, others=others))
