"""Password policy and hashing (issue 2: 8–128 characters, scrypt N ≥ 2^17, common ones refused)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 8
MAX_LENGTH = 128
COMMON_FILE = Path(__file__).parent / "data" / "common_passwords.txt"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().casefold() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str, email: str = "") -> str | None:
    """A code naming what is wrong with ``password``, or None when it is acceptable."""
    if len(password) < MIN_LENGTH:
        return "too_short"
    if len(password) > MAX_LENGTH:
        return "too_long"
    folded = password.casefold()
    if folded in common_passwords() or len(set(folded)) < 3:
        return "common"
    if email and folded == email.casefold().split("@")[0]:
        return "common"
    return None


def hash_password(password: str, method: str) -> str:
    return generate_password_hash(password, method=method)


def verify_password(pwhash: str, password: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    return check_password_hash(pwhash, password)
