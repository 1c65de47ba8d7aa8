"""The second factor of officers and admins (and producers who turn it on), issue 18 point 4:
time-based one-time codes (RFC 6238, by ``pyotp``: 6 digits, 30-second steps, SHA-1, what
every authenticator app reads from an ``otpauth://`` QR) and ten single-use recovery codes.

Plain functions over their inputs: the routes (``auth/two_factor.py``) keep the state.

- A code is accepted for the current step or the one before or after it (a phone's clock a
  little off, a code typed as it changes), and only for a step later than the last one
  accepted for the account: a code seen once (over a shoulder, by a proxy) is refused again.
- Recovery codes are 10 Crockford base-32 characters (50 random bits), shown once, stored as
  SHA-256 (like API tokens: random secrets, not passwords), each good for one login.
"""
from __future__ import annotations

import datetime as dt
import hmac
import secrets

import pyotp

from .crockford import ALPHABET
from .models.base import hash_token
from .text import ascii_number

STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1          # steps accepted before and after the current one
RECOVERY_CODES = 10
RECOVERY_LENGTH = 10
REQUIRED_ROLES = ("officer", "admin")  # who approve producers, recall batches, hold exchange secrets


def required_for(user) -> bool:
    """Officers and admins must have a second factor; producers may turn one on."""
    return user.role in REQUIRED_ROLES


def needed_at_login(user) -> bool:
    return required_for(user) or user.has_second_factor


def new_secret() -> str:
    """A new shared secret: 32 base-32 characters (160 bits, RFC 4226's recommended size)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI an authenticator app reads from the enrolment QR."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=account, issuer_name=issuer)


def step_at(moment: dt.datetime) -> int:
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).at(step * STEP_SECONDS)


def clean_code(text: str | None) -> str:
    """What a person typed, without spaces, dashes and case: "123 456" → "123456"."""
    return "".join(ch for ch in (text or "") if ch.isalnum()).upper()


def verify_code(secret: str, typed: str | None, *, now: dt.datetime, last_step: int | None) -> int | None:
    """The step ``typed`` is the code of, when it is one of the accepted steps and later than
    ``last_step``; else None.  Every candidate is compared in constant time."""
    code = clean_code(typed)
    if len(code) != DIGITS or not ascii_number(code):
        return None
    current = step_at(now)
    matches = [step for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1)
               if hmac.compare_digest(code_at(secret, step), code)]  # every candidate compared
    return next((step for step in matches if last_step is None or step > last_step), None)


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes as shown to the person, in two halves ("K7M2P-9QX4R"): written down, each
    works once."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append(raw[:RECOVERY_LENGTH // 2] + "-" + raw[RECOVERY_LENGTH // 2:])
    return codes


def recovery_hash(typed: str | None) -> str | None:
    """The stored form of a recovery code as typed (any case, spaces or dashes; Crockford's
    I/L → 1 and O → 0), or None when it cannot be one."""
    code = clean_code(typed).translate(str.maketrans("ILO", "110"))
    if len(code) != RECOVERY_LENGTH or any(ch not in ALPHABET for ch in code):
        return None
    return hash_token(code)
