"""Validation of Vietnamese identifiers and GS1 codes.  Plain functions: value in, value out."""
from __future__ import annotations

import re
from decimal import Decimal


_MST_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


QUANTITY_PLACES = 3  # net quantities of products and quantities of batches: thousandths (g of a kg)


class InvalidValue(ValueError):
    pass


def quantity(value: float | Decimal) -> Decimal:
    """A quantity as stored, to ``QUANTITY_PLACES`` decimals (a JSON number or a form's)."""
    return Decimal(str(round(value, QUANTITY_PLACES)))


def normalize_tax_code(value: str) -> str:
    """Validate a tax code (mã số thuế) or business/household registration number.

    Accepted:
    * 10 digits whose last is the check digit ``10 - (Σ wᵢ·dᵢ mod 11)`` with weights
      31, 29, 23, 19, 17, 13, 7, 5, 3 (organisations, cooperatives, enterprises);
    * 10 digits + ``-`` + 3 digits (a branch of such an organisation);
    * 12 digits: a personal identification number (CCCD), which household businesses use as
      their tax code since 2025; the first three digits are a province code 001–096.
    """
    v = re.sub(r"[\s.]", "", value or "")
    if re.fullmatch(r"[0-9]{12}", v):  # (ASCII digits: \d takes any script's)
        if not 1 <= int(v[:3]) <= 96:
            raise InvalidValue("personal id: unknown province prefix")
        return v
    m = re.fullmatch(r"([0-9]{10})(?:-([0-9]{3}))?", v)
    if not m:
        raise InvalidValue("format")
    digits = m.group(1)
    total = sum(w * int(d) for w, d in zip(_MST_WEIGHTS, digits))
    check = 10 - total % 11
    if check == 10 or check != int(digits[9]):
        raise InvalidValue("check digit")
    return v


def tax_code_check_digit(first9: str) -> int | None:
    """The check digit for nine digits, or None when no valid code exists (used by demo data)."""
    check = 10 - sum(w * int(d) for w, d in zip(_MST_WEIGHTS, first9)) % 11
    return None if check == 10 else check


def normalize_phone(value: str) -> str:
    """Vietnamese phone number as ``0XXXXXXXXX`` (mobile) or 10–11-digit landline."""
    v = re.sub(r"[\s.\-()]", "", value or "")
    if v.startswith("+84"):
        v = "0" + v[3:]
    elif v.startswith("84") and len(v) in (11, 12):
        v = "0" + v[2:]
    if not re.fullmatch(r"0[0-9]{9,10}", v):
        raise InvalidValue("phone")
    return v


def normalize_gtin(value: str) -> str:
    """Validate a GTIN-8/12/13/14 with biip and return it as GTIN-14.

    biip reports a wrong check digit through ``gtin_error`` rather than raising, depending
    on the entry point; ``Gtin.parse`` raises ``ParseError``.  Both become ``InvalidValue``.

    biip (its GS1 prefix and AI tables, ~0.1 s) is imported here, when a GS1 code is
    checked, not when the app starts.
    """
    from biip.gtin import Gtin

    v = re.sub(r"\s", "", value or "")
    if not re.fullmatch(r"[0-9]{8}|[0-9]{12,14}", v):
        raise InvalidValue("format")
    try:
        gtin = Gtin.parse(v)
    except Exception as exc:  # biip.ParseError
        raise InvalidValue(str(exc)) from exc
    return gtin.as_gtin_14()
