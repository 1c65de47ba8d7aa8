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
from collections import Counter, defaultdict

from .. import rawsql
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


ROWS_PER_STATEMENT = 500  # × 7 parameters: well inside SQLite's 32,766

# One statement writes many stamps' counters: ``v`` holds a row per stamp (VALUES columns
# are named column1… on SQLite and PostgreSQL alike).  Expressions on the right read the row
# as it was, so ``first_scan_province`` there is the stored one.  A stamp seen in a province
# other than its first one is flagged; so is one whose first scans already span two.
_UPDATE = (
    "UPDATE stamp SET scan_count = scan_count + v.column2, "
    "first_scan_at = COALESCE(first_scan_at, v.column3), "
    "other_province_seen = CASE WHEN other_province_seen THEN other_province_seen "
    "  WHEN first_scan_province IS NOT NULL "
    "   AND (first_scan_province <> v.column5 OR first_scan_province <> v.column6) THEN TRUE "
    "  WHEN first_scan_province IS NULL AND v.column7 > 1 THEN TRUE ELSE FALSE END, "
    "first_scan_province = COALESCE(first_scan_province, v.column4) "
    "FROM (VALUES {rows}) AS v WHERE stamp.id = v.column1"
)
# Integers cast so PostgreSQL types a column of NULLs (no province known) as one too.
_UPDATE_ROW = "(CAST({p} AS INTEGER), CAST({p} AS INTEGER), {p}, CAST({p} AS INTEGER), CAST({p} AS INTEGER), " \
              "CAST({p} AS INTEGER), CAST({p} AS INTEGER))"
_INSERT = "INSERT INTO scan (stamp_id, scanned_at, province_code, agent_family) VALUES {rows}"
_INSERT_ROW = "({p}, {p}, CAST({p} AS INTEGER), {p})"


def _chunks(items: list, size: int = ROWS_PER_STATEMENT):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def write_scans(connection, scans: list[tuple[int, dt.datetime, int | None, str]]) -> None:
    """Write a batch of scans: the counters of every stamp in one UPDATE … FROM (VALUES …)
    and the scan rows in one multi-row INSERT (per ``ROWS_PER_STATEMENT``).

    Runs on the DBAPI cursor of ``connection``, inside its transaction, because it runs in
    the processes that serve scans: SQLAlchemy's bind processing, or the driver's
    executemany (which hands the GIL back and forth once per row), slowed the stamp page
    as much as the writes themselves.
    """
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    by_stamp: dict[int, list] = defaultdict(list)
    for scan in scans:
        by_stamp[scan[0]].append(scan)
    updates = []
    for stamp_id, items in by_stamp.items():
        provinces = [p for _, _, p, _ in items if p is not None]
        updates.append((stamp_id, len(items), rawsql.timestamp(dialect, min(i[1] for i in items)),
                        provinces[0] if provinces else None, min(provinces) if provinces else None,
                        max(provinces) if provinces else None, len(set(provinces))))
    rows = [(s, rawsql.timestamp(dialect, t), p, a) for s, t, p, a in scans]
    cursor = connection.connection.cursor()
    try:
        for chunk in _chunks(updates):
            cursor.execute(_UPDATE.format(rows=", ".join([_UPDATE_ROW.format(p=mark)] * len(chunk))),
                           [value for row in chunk for value in row])
        for chunk in _chunks(rows):
            cursor.execute(_INSERT.format(rows=", ".join([_INSERT_ROW.format(p=mark)] * len(chunk))),
                           [value for row in chunk for value in row])
    finally:
        cursor.close()


class ScanRecorder:
    def __init__(self, engine_getter, interval: float):
        self._engine_getter = engine_getter
        self.interval = interval
        self._pending: list = []
        self._counts: Counter = Counter()  # stamp id -> scans in _pending (read by every page)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def record(self, stamp_id: int, when: dt.datetime, province: int | None, agent: str) -> None:
        with self._lock:
            self._pending.append((stamp_id, when, province, agent))
            self._counts[stamp_id] += 1
        if self.interval > 0 and self._thread is None:
            self._start()

    def pending_for(self, stamp_id: int) -> int:
        with self._lock:
            return self._counts.get(stamp_id, 0)

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
            self._counts.clear()
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
                self._counts.update(scan[0] for scan in batch)
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
