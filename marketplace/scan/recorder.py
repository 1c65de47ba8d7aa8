"""Recording scans without slowing the stamp page: an in-process buffer written in batches.

The page appends ``(stamp id, time, province, agent family)`` to a list under a lock and
returns; a daemon thread writes the buffer every ``SCAN_FLUSH_SECONDS`` in one transaction
(counters updated per stamp, scan rows inserted with executemany).  With
``SCAN_FLUSH_SECONDS = 0`` (tests) each scan is written when its response closes.  A process
that exits flushes what it holds; a SIGKILLed worker loses at most one interval of counts.
"""
from __future__ import annotations

import atexit
import datetime as dt
import logging
import re
import threading
from collections import defaultdict

from sqlalchemy import text

from ..extensions import WRITER

log = logging.getLogger("marketplace.scan")

_AGENTS = (
    ("zalo", re.compile(r"Zalo", re.I)), ("facebook", re.compile(r"FBAN|FBAV|FB_IAB", re.I)),
    ("coccoc", re.compile(r"coc_coc|CocCoc", re.I)), ("samsung", re.compile(r"SamsungBrowser", re.I)),
    ("edge", re.compile(r"Edg/", re.I)), ("chrome", re.compile(r"Chrome|CriOS", re.I)),
    ("firefox", re.compile(r"Firefox|FxiOS", re.I)), ("safari", re.compile(r"Safari", re.I)),
)


def agent_family(user_agent: str | None) -> str:
    """A coarse browser family ("zalo", "chrome"…): enough for statistics, nothing personal."""
    for name, pattern in _AGENTS:
        if user_agent and pattern.search(user_agent):
            return name
    return "other"


_UPDATE = text(
    "UPDATE stamp SET scan_count = scan_count + :n, "
    "first_scan_at = COALESCE(first_scan_at, :first_at), "
    "other_province_seen = other_province_seen OR (first_scan_province IS NOT NULL AND :other = 1) "
    "     OR (first_scan_province IS NULL AND :distinct_provinces > 1), "
    "first_scan_province = COALESCE(first_scan_province, :first_province) "
    "WHERE id = :stamp_id"
)
_INSERT = text("INSERT INTO scan (stamp_id, scanned_at, province_code, agent_family) "
               "VALUES (:stamp_id, :scanned_at, :province_code, :agent_family)")


def _timestamp(connection, moment: dt.datetime):
    """Raw SQL bypasses UTCDateTime: SQLite stores naive UTC text, PostgreSQL takes aware values."""
    moment = moment.astimezone(dt.timezone.utc)
    return moment.replace(tzinfo=None) if connection.dialect.name == "sqlite" else moment


def write_scans(connection, scans: list[tuple[int, dt.datetime, int | None, str]]) -> None:
    """Write a batch of scans: one UPDATE per stamp, all scan rows in one executemany."""
    by_stamp: dict[int, list] = defaultdict(list)
    for scan in scans:
        by_stamp[scan[0]].append(scan)
    for stamp_id, items in by_stamp.items():
        provinces = {p for _, _, p, _ in items if p is not None}
        first_province = next((p for _, _, p, _ in items if p is not None), None)
        stored = connection.execute(text("SELECT first_scan_province FROM stamp WHERE id = :id"),
                                    {"id": stamp_id}).scalar()
        other = 1 if stored is not None and any(p != stored for p in provinces) else 0
        connection.execute(_UPDATE, {"n": len(items), "first_at": _timestamp(connection, min(i[1] for i in items)),
                                     "first_province": first_province, "other": other,
                                     "distinct_provinces": len(provinces), "stamp_id": stamp_id})
    connection.execute(_INSERT, [{"stamp_id": s, "scanned_at": _timestamp(connection, t), "province_code": p,
                                  "agent_family": a} for s, t, p, a in scans])


class ScanRecorder:
    def __init__(self, engine_getter, interval: float):
        self._engine_getter = engine_getter
        self.interval = interval
        self._pending: list = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def record(self, stamp_id: int, when: dt.datetime, province: int | None, agent: str) -> None:
        with self._lock:
            self._pending.append((stamp_id, when, province, agent))
        if self.interval > 0 and self._thread is None:
            self._start()

    def pending_for(self, stamp_id: int) -> int:
        with self._lock:
            return sum(1 for s in self._pending if s[0] == stamp_id)

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        try:
            with self._engine_getter().connect() as connection:
                # a writer even when flushed inside a GET request (SQLite: BEGIN IMMEDIATE)
                connection.info[WRITER] = True
                try:
                    with connection.begin():
                        write_scans(connection, batch)
                finally:
                    connection.info.pop(WRITER, None)
        except Exception:  # noqa: BLE001 - keep the scans for the next attempt, never crash the page
            log.exception("writing %d scans failed; will retry", len(batch))
            with self._lock:
                self._pending[:0] = batch
            return 0
        return len(batch)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="scan-recorder", daemon=True)
            self._thread.start()
        atexit.register(self.flush)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
