"""Who is scanning, without knowing who: the scanner of a stamp page (issue 14).

A copy warning must count people, not page loads: one phone reloading a page twenty times is
one buyer.  A *scanner* is a keyed hash (HMAC-SHA256, 64 bits kept) of the client's network
prefix (IPv4 /24, IPv6 /48) and user-agent family, under a random key made for each
calendar day (Vietnam's) and deleted the day after next (:class:`DayKeys`).  Nothing else is
stored: no address, no full user agent; once a key is gone nobody, us included, can link a
stored scanner back to a network.

Within a day one phone is one scanner however often it loads the page; a scanner seen under
yesterday's key in the last ``OVERLAP`` is still the same one, so reloads across midnight are
not a new person (:func:`candidates`).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import logging
import secrets
import threading

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from ..models import ScannerKey
from ..text import ascii_number
from ..transactions import reads, writes

log = logging.getLogger("marketplace.scan")

VIETNAM = dt.timezone(dt.timedelta(hours=7))
OVERLAP = dt.timedelta(minutes=30)  # repeat loads within this count once, across midnight too


def network_prefix(address: str | None) -> str:
    """``203.0.113.7`` → ``203.0.113.0/24``; an IPv6 address → its /48; an IPv4-mapped IPv6
    address → its IPv4 /24.  Anything unparsable → ``"?"`` (one shared bucket)."""
    if not address:
        return "?"
    if address.count(".") == 3 and ":" not in address:  # the common case, without ipaddress
        head, _, last = address.rpartition(".")
        if ascii_number(last):
            return head + ".0/24"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "?"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


def scanner_id(key: bytes, prefix: str, family: str) -> str:
    """16 hex characters (64 bits) of HMAC-SHA256(key, prefix | family)."""
    return hmac.new(key, f"{prefix}|{family}".encode(), hashlib.sha256).hexdigest()[:16]


def local_day(now: dt.datetime) -> dt.date:
    return now.astimezone(VIETNAM).date()


class DayKeys:
    """The day's scanner key, shared by every process through the ``scanner_key`` table.

    The first scan of a day in any process makes the key (a concurrent maker loses the
    insert and reads the winner's) and deletes keys older than yesterday; each process then
    keeps the keys it has read in memory.
    """

    MEMO_SIZE = 4096  # clients remembered per process and day (then it starts over)

    def __init__(self) -> None:
        self._keys: dict[dt.date, bytes | None] = {}
        self._lock = threading.Lock()
        self._memo: tuple[dt.date | None, dict] = (None, {})

    def get(self, engine, day: dt.date, *, create: bool = True) -> bytes | None:
        key = self._keys.get(day)
        if key is not None or (day in self._keys and not create):
            return key
        with self._lock:
            key = self._keys.get(day)
            if key is None:
                key = self._load(engine, day, create)
                self._keys = {d: k for d, k in self._keys.items() if d >= day - dt.timedelta(days=1)}
                self._keys[day] = key
            return key

    def clear(self) -> None:
        with self._lock:
            self._keys.clear()
            self._memo = (None, {})

    def memo(self, day: dt.date) -> dict:
        """The scanners already worked out on ``day``, by (network prefix, family): a client
        behind a shared address (a carrier's NAT, a shop's Wi-Fi) costs one pair of HMACs per
        process and day, not one per scan.  A new day starts it empty, so it never holds more
        than the keys :meth:`get` keeps (today's and yesterday's)."""
        current = self._memo
        if current[0] != day:
            current = self._memo = (day, {})
        elif len(current[1]) >= self.MEMO_SIZE:
            current[1].clear()
        return current[1]

    @staticmethod
    def _load(engine, day: dt.date, create: bool) -> bytes | None:
        with (writes() if create else reads()), engine.connect() as connection:
            try:
                with connection.begin():
                    found = connection.scalar(select(ScannerKey.key).where(ScannerKey.day == day))
                    if found is None and create:
                        found = secrets.token_hex(32)
                        connection.execute(insert(ScannerKey).values(day=day, key=found))
                        # yesterday's key stays for the midnight overlap; older ones go
                        connection.execute(delete(ScannerKey).where(ScannerKey.day < day - dt.timedelta(days=1)))
            except IntegrityError:  # another process made it first
                with connection.begin():
                    found = connection.scalar(select(ScannerKey.key).where(ScannerKey.day == day))
        return bytes.fromhex(found) if found else None


def forget_old_keys(session, today: dt.date) -> int:
    """Delete the keys older than yesterday (the daily job does it even on days nobody scans:
    a key kept is a key that could link its day's scanners back to networks).  Commits."""
    deleted = session.execute(delete(ScannerKey).where(ScannerKey.day < today - dt.timedelta(days=1))).rowcount
    session.commit()
    return deleted or 0


def client_key(address: str | None) -> str:
    """The key of per-client rate limits: an IPv4 address as it is (a shop's NAT stays many
    clients), an IPv6 address as its /64 (one subscriber's network, in which addresses are
    free to rotate)."""
    if not address or ":" not in address:
        return address or "?"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/64", strict=False))


def candidates(keys: DayKeys, engine, now: dt.datetime, prefix: str, family: str) -> tuple[str, str]:
    """(this client's scanner today, the scanner it had under yesterday's key).

    The stamp lookup treats the second as the same person only if it was seen on the stamp
    within the last ``OVERLAP`` (and then records the scan under it): someone reloading
    across midnight stays one scanner, however long they keep reloading.  Without
    yesterday's key (a new deployment) both are today's."""
    day = local_day(now)
    memo = keys.memo(day)
    found = memo.get((prefix, family))
    if found is None:
        today = scanner_id(keys.get(engine, day), prefix, family)
        yesterday_key = keys.get(engine, day - dt.timedelta(days=1), create=False)
        found = memo[(prefix, family)] = (
            today, scanner_id(yesterday_key, prefix, family) if yesterday_key is not None else today)
    return found
