"""What a stamp (tem) says, and its shorter ways of saying it when the label is small.

The label's own words (Vietnamese whatever the interface language: Decree 43/2017 has labels
in Vietnamese; the pure printing package has no Flask, so they are constants here, not
messages), the abbreviations of places and producers' names, and the ways of writing a
label's text from the longest to the shortest (:func:`variants`), which :func:`.fit.plan`
tries in turn.  The word before a net quantity is not here: it comes with the label
(``vocab.quantity_word``, which the pages use too).
"""
from __future__ import annotations

import re
from typing import NamedTuple

# How the text is made shorter when it does not fit at MIN_SIZE, in order (:mod:`.fit` explains).
STEPS = ("join", "abbreviate", "ocop", "net", "nsx", "address_line", "origin", "province", "prefix")
LOSSLESS = 2            # the first variants (as it is; joined) say everything: the larger text wins
PRODUCER_PREFIX = "Cơ sở SX: "
SHORT_PRODUCER_PREFIX = "SX: "
ORIGIN_PREFIX = "Xuất xứ: "
# The kind of administrative unit that starts a part of the place, and its abbreviation (a
# province goes by its name alone, as everyone writes it).
PLACE_ABBREVIATIONS = (("Thành phố ", "TP. "), ("Tỉnh ", ""), ("Đặc khu ", "ĐK. "), ("Phường ", "P. "),
                       ("Thị trấn ", "TT. "), ("Xã ", "X. "))
# Words of a producer's name (legal forms, trades) and their usual abbreviations: "Hợp tác xã
# Dịch vụ Nông nghiệp Đồng Tiến" → "HTX DV NN Đồng Tiến".
NAME_ABBREVIATIONS = (("Hợp tác xã", "HTX"), ("Tổ hợp tác", "THT"), ("Công ty trách nhiệm hữu hạn", "Cty TNHH"),
                      ("Công ty cổ phần", "Cty CP"), ("Công ty", "Cty"), ("Doanh nghiệp tư nhân", "DNTN"),
                      ("Hộ kinh doanh", "HKD"), ("Trách nhiệm hữu hạn", "TNHH"), ("Cổ phần", "CP"),
                      ("Xuất nhập khẩu", "XNK"), ("Thương mại", "TM"), ("Dịch vụ", "DV"), ("Sản xuất", "SX"),
                      ("Nông nghiệp", "NN"))
_NAME_ABBREVIATIONS = tuple((re.compile(rf"(?<!\w){re.escape(long)}(?!\w)", re.IGNORECASE), short)
                            for long, short in NAME_ABBREVIATIONS)


def abbreviate_place(part: str) -> str:
    """"Xã Đồng Tiến" → "X. Đồng Tiến", "Tỉnh Thanh Hóa" → "Thanh Hóa"…"""
    for long, short in PLACE_ABBREVIATIONS:
        if part[:len(long)].lower() == long.lower():
            return short + part[len(long):]
    return part


def abbreviate_name(name: str) -> str:
    """"Hợp tác xã Nông nghiệp Đồng Tiến" → "HTX NN Đồng Tiến"…"""
    for pattern, short in _NAME_ABBREVIATIONS:
        name = pattern.sub(short, name)
    return name


def split_place(place: str) -> tuple[str, str]:
    """("Xã Đồng Tiến", "Tỉnh Thanh Hóa") from "Xã Đồng Tiến, Tỉnh Thanh Hóa": the commune
    is what comes before the first comma."""
    commune, _, province = place.partition(",")
    return commune.strip(), province.strip()


class Variant(NamedTuple):
    """One way of writing a label's text (:func:`variants`)."""
    name_lines: int
    abbreviate: bool = False
    join: bool = False                  # producer and address as one paragraph
    short_prefix: bool = False          # "SX: " for "Cơ sở SX: "
    dropped: frozenset = frozenset()
    producer_rows: int = 2
    address_rows: int = 3
    bare: bool = False                  # no producer, no address: degenerate stocks only


def variants(name_lines: int) -> list[Variant]:
    """The ways of writing a label's text, longest first: as it is, then one more step of
    ``STEPS`` each; then, for text that only fits cut, the producer and the commune on one
    line each (so the commune is never cut away), then the name on one line."""
    variant = Variant(name_lines)
    out = [variant]
    for step in STEPS:
        if step == "abbreviate":
            variant = variant._replace(abbreviate=True)
        elif step == "join":
            variant = variant._replace(join=True)
        elif step == "prefix":
            variant = variant._replace(short_prefix=True)
        else:
            variant = variant._replace(dropped=variant.dropped | {step})
        out.append(variant)
    out.append(variant._replace(join=False, producer_rows=1, address_rows=1))
    if name_lines > 1:
        out.append(out[-1]._replace(name_lines=1))
    return out
