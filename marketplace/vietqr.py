"""VietQR: the bank-transfer QR that every Vietnamese banking app reads (issue 20, point 1).

A producer's buyers pay the producer directly, bank to bank over NAPAS 247; we only draw
the QR.  Its content is NAPAS's VietQR payload, EMVCo's merchant-presented mode
(EMV® QRCPS-MPM) profiled by NAPAS ("Technical Specifications on NAPAS QR Switching",
v1.5.2, part IV): data objects written ID, two-digit length, value, in this order

* ``00`` payload format ``01``; ``01`` point of initiation, ``12`` (dynamic: one payment,
  with its amount) or ``11`` (static: the buyer types the amount);
* ``38`` merchant account information: ``00`` NAPAS's GUID ``A000000727``, ``01`` the
  beneficiary (``00`` the bank's BIN, ``01`` the account number), ``02`` the service
  ``QRIBFTTA`` (transfer to an account);
* ``53`` currency ``704`` (đồng); ``54`` the amount in whole đồng; ``58`` country ``VN``;
* ``62`` additional data, ``08`` purpose of the transaction (the transfer note, ≤ 25
  characters, without diacritics: banks' apps show it as typed);
* ``63`` the CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF) of everything before
  it, ``6304`` included, in four upper-case hexadecimal digits.

The member banks and their BINs are data (``data/napas_banks.json``, with its source and
date), as is NAPAS 247's per-transaction limit.  Plain functions: no request, no session.
"""
from __future__ import annotations

import binascii
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from .text import strip_marks

DATA_FILE = Path(__file__).parent / "data" / "napas_banks.json"
GUID = "A000000727"
SERVICE = "QRIBFTTA"
CURRENCY = "704"
COUNTRY = "VN"
ACCOUNT_MAX = 19   # "ans", up to 19 characters (NAPAS v1.5.2, beneficiary's account)
HOLDER_MAX = 50
NOTE_MAX = 25      # purpose of transaction: up to 25 characters
_DIGITS = re.compile(r"[0-9]+")  # (\d would take any script's digits)
_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,19}")  # what the payload may carry (e-wallets' virtual accounts too)
_NOTE_UNSAFE = re.compile(r"[^A-Za-z0-9 ]+")


class VietQRError(ValueError):
    """Bad input for a VietQR payload: ``field`` names it, ``code`` says what is wrong."""

    def __init__(self, field: str, code: str):
        super().__init__(f"{field}: {code}")
        self.field, self.code = field, code


@dataclass(frozen=True)
class Bank:
    bin: str
    code: str
    short_name: str
    name: str
    swift: str = ""


@functools.lru_cache(maxsize=1)
def _data() -> dict:
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return {"banks": tuple(Bank(**b) for b in raw["banks"]), "limit": int(raw["max_amount_vnd"]),
            "source": raw["source"], "retrieved": raw["retrieved"]}


def banks() -> tuple[Bank, ...]:
    """NAPAS 247's member banks that take VietQR transfers, by short name."""
    return _data()["banks"]


def bank(bin_: str | None) -> Bank | None:
    return next((b for b in banks() if b.bin == bin_), None)


def max_amount() -> int:
    """NAPAS 247's limit for one transfer, in đồng."""
    return _data()["limit"]


def source() -> tuple[str, str]:
    """Where the bank list comes from, and when it was taken."""
    return _data()["source"], _data()["retrieved"]


def account_number(value: str | None) -> str:
    """A producer's account number as entered: digits only (spaces and dots people type
    between groups are dropped), at most 19."""
    value = re.sub(r"[\s.]", "", value or "")
    if not value:
        raise VietQRError("account_number", "required")
    if not _DIGITS.fullmatch(value):
        raise VietQRError("account_number", "digits")
    if len(value) > ACCOUNT_MAX:
        raise VietQRError("account_number", "too_long")
    return value


def holder_name(value: str | None) -> str:
    """The account holder's name as banks show it: upper case, without diacritics
    ("Nguyễn Thị Hoa" → "NGUYEN THI HOA")."""
    value = " ".join(strip_marks(value).upper().split())
    if not value:
        raise VietQRError("account_name", "required")
    if len(value) > HOLDER_MAX or not re.fullmatch(r"[A-Z0-9 .,&()-]+", value):
        raise VietQRError("account_name", "invalid")
    return value


def known_bank(bin_: str | None) -> Bank:
    found = bank(bin_)
    if found is None:
        raise VietQRError("bank_bin", "unknown")
    return found


def amount(value: int | None) -> int | None:
    """An amount in whole đồng within NAPAS 247's limit (None: the buyer types it)."""
    if value is None:
        return None
    if value < 1:
        raise VietQRError("amount", "not_positive")
    if value > max_amount():
        raise VietQRError("amount", "over_limit")
    return value


def transfer_note(text: str) -> str:
    """A transfer note as banks carry it: no diacritics, letters, digits and spaces, ≤ 25."""
    return " ".join(_NOTE_UNSAFE.sub(" ", strip_marks(text)).split())[:NOTE_MAX].strip()


def _tlv(tag: str, value: str) -> str:
    if len(value) > 99:
        raise VietQRError(tag, "too_long")
    return f"{tag}{len(value):02d}{value}"


def crc(text: str) -> str:
    """CRC-16/CCITT-FALSE of ``text`` (ASCII), four upper-case hexadecimal digits
    (``binascii.crc_hqx`` is the CCITT polynomial; NAPAS starts it at 0xFFFF)."""
    return f"{binascii.crc_hqx(text.encode('ascii'), 0xFFFF):04X}"


def payload(bin_: str, account: str, value: int | None = None, note: str = "") -> str:
    """The VietQR payload of a transfer to ``account`` at the bank ``bin_``, of ``value``
    đồng (dynamic) or of an amount the buyer types (static), with a transfer ``note``."""
    known_bank(bin_)
    if not _ACCOUNT.fullmatch(account or ""):
        raise VietQRError("account_number", "invalid")
    value = amount(value)
    note = transfer_note(note) if note else ""
    beneficiary = _tlv("00", bin_) + _tlv("01", account)
    merchant = _tlv("00", GUID) + _tlv("01", beneficiary) + _tlv("02", SERVICE)
    body = (_tlv("00", "01") + _tlv("01", "11" if value is None else "12") + _tlv("38", merchant)
            + _tlv("53", CURRENCY) + (_tlv("54", str(value)) if value is not None else "") + _tlv("58", COUNTRY)
            + (_tlv("62", _tlv("08", note)) if note else "") + "6304")
    return body + crc(body)
