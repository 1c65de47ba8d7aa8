"""Recording scans without slowing the stamp page: scans buffered, then written in batches.

The page hands a :class:`ScanRow` to the recorder and returns; a daemon thread writes what
is buffered every ``SCAN_FLUSH_SECONDS`` in one transaction (scan rows inserted, then one
update per stamp: its counters and, when it met someone new, its count of distinct scanners
derived again from its rows; then the days' aggregates).  Where scans wait depends on ``SCAN_BUFFER``:

- ``"memory"`` (one server): a list in the process, under a lock.  A process that exits
  flushes what it holds; a SIGKILLed one loses at most one interval of counts.
- ``"database"`` (several servers): one row in ``scan_inbox``, inserted before the page
  answers.  Any process's recorder, and the delivery worker, moves the rows into ``scan``
  in one transaction (``FOR UPDATE SKIP LOCKED``: a row is taken once), so a server killed
  mid-load loses no scan it answered.

Made-up serials (:class:`Probe`) always wait in memory.  With ``SCAN_FLUSH_SECONDS = 0``
(tests) each scan is written before its response is returned.
"""
from __future__ import annotations

import atexit
import datetime as dt
import functools
import logging
import re
import threading
from collections import defaultdict
from typing import NamedTuple

from flask import current_app

from .. import rawsql
from ..extensions import db
from ..models.base import LOCAL_TZ, day_bounds
from ..transactions import keep_wal_small, writes

log = logging.getLogger("marketplace.scan")

_AGENTS = (
    ("zalo", re.compile(r"Zalo", re.I)), ("facebook", re.compile(r"FBAN|FBAV|FB_IAB", re.I)),
    ("coccoc", re.compile(r"coc_coc|CocCoc", re.I)), ("samsung", re.compile(r"SamsungBrowser", re.I)),
    ("edge", re.compile(r"Edg/", re.I)), ("chrome", re.compile(r"Chrome|CriOS", re.I)),
    ("firefox", re.compile(r"Firefox|FxiOS", re.I)), ("safari", re.compile(r"Safari", re.I)),
)


@functools.lru_cache(maxsize=1024)
def agent_family(user_agent: str | None) -> str:
    """A coarse browser family ("zalo", "chrome"…): enough for statistics, nothing personal.
    Remembered per header: phones send few distinct ones, and the patterns cost more than
    the lookup."""
    for name, pattern in _AGENTS:
        if user_agent and pattern.search(user_agent):
            return name
    return "other"


class ScanRow(NamedTuple):
    stamp_id: int
    at: dt.datetime
    province: int | None
    agent: str
    scanner: str | None        # marketplace.scan.scanner
    test: bool = False         # by the stamp's producer, its cooperative or an officer
    new: bool = False          # its scanner was not yet on the stamp when the page was served


class Probe(NamedTuple):
    """A link naming a serial that does not exist (under that GTIN and lot)."""
    at: dt.datetime
    gtin: str | None
    lot: str | None
    product_id: int | None
    province: int | None


ROWS_PER_STATEMENT = 500  # × 8 parameters: well inside SQLite's 32,766

# One statement writes many stamps' counters: ``v`` holds a row per stamp (VALUES columns
# are named column1… on SQLite and PostgreSQL alike).  Expressions on the right read the row
# as it was, so ``first_scan_province`` there is the stored one.  A stamp seen in a province
# other than its first one is flagged; so is one whose first scans already span two.
# Only buyers' scans count here: test scans are stored, never counted.  ``first_scan_at`` is
# set here, with the stamp's first buyer's row, and never cleared: the stamp lookup
# (scan/facts.py) relies on it to skip looking for this client's earlier scans.
#
# Distinct scanners (``v.column8`` = 1: the stamp met someone new) are derived from the rows
# themselves, inserted just before in the same transaction (never added to by hand): a count
# that no race between two writers can skew (on PostgreSQL, given ``_LOCK`` first).  Scans
# from before scanners were recorded (NULL) count together as one.  Days folded away
# (scan/retention.py) count by what was folded (``scanners_folded``), and their rows still
# waiting to be deleted not again: only rows from the first day not folded (the first
# parameter) on are counted.  One UPDATE per stamp and
# flush, not one for the counters and another for the scanners: on PostgreSQL each is a new
# row version of a table of millions (0019_stamp_fillfactor keeps them on their page).
_UPDATE = (
    "UPDATE stamp SET scan_count = scan_count + v.column2, "
    "first_scan_at = COALESCE(first_scan_at, v.column3), "
    "other_province_seen = CASE WHEN other_province_seen THEN other_province_seen "
    "  WHEN first_scan_province IS NOT NULL "
    "   AND (first_scan_province <> v.column5 OR first_scan_province <> v.column6) THEN TRUE "
    "  WHEN first_scan_province IS NULL AND v.column7 > 1 THEN TRUE ELSE FALSE END, "
    "first_scan_province = COALESCE(first_scan_province, v.column4), "
    "scanner_count = CASE WHEN v.column8 = 1 THEN scanners_folded + (SELECT COUNT(DISTINCT COALESCE(scan.scanner, '')) "
    "  FROM scan WHERE scan.stamp_id = stamp.id AND NOT scan.test AND scan.scanned_at >= {p}) ELSE scanner_count END "
    "FROM {rows} WHERE stamp.id = v.column1 RETURNING stamp.id, stamp.batch_id"
)
_UPDATE_TYPES = ("BIGINT", "INTEGER", "TIMESTAMPTZ", "INTEGER", "INTEGER", "INTEGER", "INTEGER", "INTEGER")
_LOCK = "SELECT id FROM stamp WHERE id IN (SELECT v.column1 FROM {rows}) ORDER BY id FOR NO KEY UPDATE"
# The buyers' scans of each (local day, lot, province) added to ``scan_day`` in the same
# transaction as their rows: the figures count days, not rows.  Each stamp's lot comes back
# from the UPDATE above (RETURNING), so the counts go in per lot, with no join to the stamp
# table (which the planner, reading one, chose to scan whole).  (WHERE TRUE: SQLite's
# parser needs it between a SELECT and ON CONFLICT.)
_DAYS = (
    "INSERT INTO scan_day (day, batch_id, province_code, scans) "
    "SELECT v.column1, v.column2, v.column3, v.column4 FROM {rows} WHERE TRUE "
    "ON CONFLICT (day, batch_id, province_code) DO UPDATE SET scans = scan_day.scans + excluded.scans"
)
_DAYS_TYPES = ("DATE", "BIGINT", "INTEGER", "INTEGER")
_HORIZON = "SELECT MAX(day) FROM scan_fold"
_INSERT = "INSERT INTO scan (stamp_id, scanned_at, province_code, agent_family, scanner, test) SELECT * FROM {rows}"
_INSERT_TYPES = ("BIGINT", "TIMESTAMPTZ", "INTEGER", "TEXT", "TEXT", "BOOLEAN")
_INBOX = ("INSERT INTO scan_inbox (stamp_id, scanned_at, province_code, agent_family, scanner, test, new) "
          "VALUES ({p}, {p}, CAST({p} AS INTEGER), {p}, {p}, {p}, {p})")
# The oldest waiting scans, taken (deleted) in the transaction that counts them: rows another
# process is taking are skipped, not waited for (SQLite has one writer at a time anyway).
_TAKE = ("DELETE FROM scan_inbox WHERE id IN (SELECT id FROM scan_inbox ORDER BY id LIMIT {limit}{lock}) "
         "RETURNING stamp_id, scanned_at, province_code, agent_family, scanner, test, new")
INBOX_BATCH = 5000
_PROBE = "INSERT INTO serial_probe (probed_at, gtin, lot, product_id, province_code) SELECT * FROM {rows}"
_PROBE_TYPES = ("TIMESTAMPTZ", "TEXT", "TEXT", "INTEGER", "INTEGER")


# Statement sizes (rows) a batch is cut into on SQLite, largest first: the SQL of a multi-row
# statement depends on its row count, and SQLite keeps every distinct statement prepared (the
# driver's cache, 128 per connection), so sizes from a short ladder keep that cache to a few
# statements.  With any count it grew by ~25 MB per worker under load.
CHUNK_SIZES = (ROWS_PER_STATEMENT, 100, 20, 5, 1)


def _chunks(items: list):
    start = 0
    for size in CHUNK_SIZES:
        while len(items) - start >= size:
            yield items[start:start + size]
            start += size


def _run(cursor, dialect, statement: str, types: tuple[str, ...], rows: list[tuple], first: tuple = ()) -> list:
    """Run ``statement`` for ``rows``, which it reads as ``v.column1…`` from ``{rows}``
    (after the parameters ``first``, its ``{p}``); the rows it returns, if any.

    On PostgreSQL once, whatever their number: an array per column, typed by ``types``
    (``unnest``), so the text never changes: the driver converts it once and prepares it on
    the server from its fifth use on a connection (a VALUES list of hundreds of placeholders
    was parsed anew by both on every flush: a seventh of a worker's time under load).  On
    SQLite a VALUES list per chunk (:func:`_chunks`)."""
    if dialect.name == "postgresql":
        arrays = ", ".join(f"CAST(%s AS {kind}[])" for kind in types)
        names = ", ".join(f"column{n}" for n in range(1, len(types) + 1))
        sources = [(f"unnest({arrays}) AS v({names})", [list(column) for column in zip(*rows)])] if rows else []
    else:
        one = "(" + ", ".join(["?"] * len(types)) + ")"
        sources = [(f"(VALUES {', '.join([one] * len(chunk))}) AS v", [value for row in chunk for value in row])
                   for chunk in _chunks(rows)]
    found = []
    for source, values in sources:
        cursor.execute(statement.format(p=_mark(dialect), rows=source), [*first, *values])
        if cursor.description:
            found += cursor.fetchall()
    return found


def write_scans(connection, scans: list[ScanRow], probes: list[Probe] = ()) -> None:
    """Write a batch of scans: the scan rows in one INSERT, then every counted stamp's
    counters and distinct scanners in one UPDATE, the days' aggregates; and the probes of
    made-up serials (each statement once on PostgreSQL, in chunks of ``CHUNK_SIZES`` rows on
    SQLite: :func:`_run`).

    Runs on the DBAPI cursor of ``connection``, inside its transaction, because it runs in
    the processes that serve scans: SQLAlchemy's bind processing, or the driver's
    executemany (which hands the GIL back and forth once per row), slowed the stamp page
    as much as the writes themselves.
    """
    dialect = connection.dialect
    by_stamp: dict[int, list] = defaultdict(list)
    for scan in scans:
        if not scan.test:
            by_stamp[scan.stamp_id].append(scan)
    updates = []
    for stamp_id, items in by_stamp.items():
        provinces = [i.province for i in items if i.province is not None]
        updates.append((stamp_id, len(items), rawsql.timestamp(dialect, min(i.at for i in items)),
                        provinces[0] if provinces else None, min(provinces) if provinces else None,
                        max(provinces) if provinces else None, len(set(provinces)),
                        int(any(i.new for i in items))))  # only stamps that met someone new: recounted
    rows = [(s.stamp_id, rawsql.timestamp(dialect, s.at), s.province, s.agent, s.scanner, bool(s.test))
            for s in scans]
    cursor = connection.connection.cursor()
    try:
        _run(cursor, dialect, _INSERT, _INSERT_TYPES, rows)  # first the rows, which the scanners are counted from
        if dialect.name == "postgresql":
            # The stamps locked first, in one order: a writer that finds one locked by another
            # flush (or by the daily fold) waits for that commit, and its own statements, begun
            # after, count what the other wrote.  (The UPDATE alone would count the scanners
            # in its snapshot from before the wait.)  SQLite has one writer at a time.
            _run(cursor, dialect, _LOCK, ("BIGINT",), [(row[0],) for row in updates])  # (ORDER BY id)
        if any(row[-1] for row in updates):  # some stamp is recounted: from the first day not folded
            cursor.execute(_HORIZON)
            horizon = _day_after(cursor.fetchone()[0])
        else:  # (the parameter is there, unused)
            horizon = _day_after(None)
        horizon = rawsql.timestamp(dialect, horizon)
        lot_of = dict(_run(cursor, dialect, _UPDATE, _UPDATE_TYPES, updates, (horizon,)))
        per_day: dict[tuple, int] = defaultdict(int)
        for scan in scans:
            if not scan.test and scan.stamp_id in lot_of:  # (a stamp no longer there: no day either, as before)
                per_day[(scan.at.astimezone(LOCAL_TZ).date().isoformat(), lot_of[scan.stamp_id], scan.province or 0)] += 1
        _run(cursor, dialect, _DAYS, _DAYS_TYPES, [(*key, n) for key, n in sorted(per_day.items())])
        probe_rows = [(rawsql.timestamp(dialect, p.at), p.gtin, p.lot, p.product_id, p.province) for p in probes]
        _run(cursor, dialect, _PROBE, _PROBE_TYPES, probe_rows)
    finally:
        cursor.close()


def _day_after(last_folded) -> dt.datetime:
    """The first moment of the day after the last folded one (the distant past when none)."""
    if last_folded is None:
        return dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
    day = last_folded if isinstance(last_folded, dt.date) else dt.date.fromisoformat(last_folded)
    return day_bounds(day)[1]


def _mark(dialect) -> str:
    return "?" if dialect.paramstyle == "qmark" else "%s"


def insert_waiting(connection, scan: ScanRow) -> None:
    """Put one answered scan in ``scan_inbox`` (inside ``connection``'s transaction)."""
    dialect = connection.dialect
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_INBOX.format(p=_mark(dialect)),
                       (scan.stamp_id, rawsql.timestamp(dialect, scan.at), scan.province, scan.agent, scan.scanner,
                        bool(scan.test), bool(scan.new)))
    finally:
        cursor.close()


def take_waiting(connection, limit: int = INBOX_BATCH) -> list[ScanRow]:
    """Delete and return up to ``limit`` of the oldest waiting scans; count them with
    :func:`write_scans` in the same transaction, so they are counted exactly once."""
    lock = " FOR UPDATE SKIP LOCKED" if connection.dialect.name == "postgresql" else ""
    cursor = connection.connection.cursor()
    try:
        cursor.execute(_TAKE.format(limit=int(limit), lock=lock))
        rows = cursor.fetchall()
    finally:
        cursor.close()
    return [ScanRow(stamp_id, rawsql.moment(at), province, agent, scanner, bool(test), bool(new))
            for stamp_id, at, province, agent, scanner, test, new in rows]


def drain_waiting(engine, limit: int = INBOX_BATCH) -> int:
    """Count every scan waiting in ``scan_inbox``, ``limit`` per transaction; how many."""
    done = 0
    while True:
        with writes(), engine.connect() as connection:
            with connection.begin():
                taken = take_waiting(connection, limit)
                if taken:
                    write_scans(connection, taken)
        done += len(taken)
        if len(taken) < limit:
            return done


class ScanRecorder:
    def __init__(self, engine_getter, interval: float, buffer: str = "memory"):
        self._engine_getter = engine_getter
        self.interval = interval
        self.buffer = buffer
        self._pending: list[ScanRow] = []
        self._probes: list[Probe] = []
        # stamp id -> scanners new to it in _pending (read by every page)
        self._new_scanners: dict[int, set[str]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def record(self, scan: ScanRow) -> None:
        """Buffer a scan (``scan.new``: its scanner was not on the stamp's written scans)."""
        waiting = self.buffer == "database" and self._insert_waiting(scan)
        with self._lock:
            if not waiting:
                self._pending.append(scan)
            if scan.new and not scan.test:
                self._new_scanners.setdefault(scan.stamp_id, set()).add(scan.scanner)
        if self.interval > 0 and self._thread is None:
            self._start()

    def _insert_waiting(self, scan: ScanRow) -> bool:
        try:
            with writes(), self._engine_getter().connect() as connection:
                with connection.begin():
                    insert_waiting(connection, scan)
            return True
        except Exception:  # noqa: BLE001 - the database gone for a moment: keep it in memory, never crash the page
            log.exception("putting a scan in the inbox failed; kept in memory")
            return False

    def probe(self, probe: Probe) -> None:
        with self._lock:
            self._probes.append(probe)
        if self.interval > 0 and self._thread is None:
            self._start()

    def pending_scanners(self, stamp_id: int) -> frozenset[str]:
        """New scanners of this stamp not written yet (the page adds them to its count)."""
        with self._lock:
            found = self._new_scanners.get(stamp_id)
            return frozenset(found) if found else frozenset()

    def flush(self) -> int:
        """Write what waits in memory, then (``SCAN_BUFFER = "database"``) count the inbox."""
        written = self._flush_memory()
        if self.buffer != "database":
            return written
        with self._lock:  # the scanners this process saw new so far: counted once the inbox is
            noted = [ScanRow(stamp_id, None, None, "", scanner, new=True)
                     for stamp_id, scanners in self._new_scanners.items() for scanner in scanners]
        try:
            written += drain_waiting(self._engine_getter())
        except Exception:  # noqa: BLE001 - the rows stay in the inbox for the next attempt
            log.exception("counting the scans in the inbox failed; will retry")
            return written
        self._forget_new(noted)
        return written

    def _flush_memory(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
            probes, self._probes = self._probes, []
        if not batch and not probes:
            return 0
        try:
            # a writer even when flushed inside a GET request (SQLite: BEGIN IMMEDIATE)
            with writes(), self._engine_getter().connect() as connection:
                with connection.begin():
                    write_scans(connection, batch, probes)
                # written: their scanners now count in the stamps' rows, not as pending
                # (kept until now, so no page counts them in neither place, nor on failure)
                self._forget_new(batch)
        except Exception:  # noqa: BLE001 - keep the scans for the next attempt, never crash the page
            log.exception("writing %d scans and %d probes failed; will retry", len(batch), len(probes))
            with self._lock:
                self._pending[:0] = batch
                self._probes[:0] = probes
            return 0
        return len(batch)

    def _forget_new(self, batch: list[ScanRow]) -> None:
        with self._lock:
            for scan in batch:
                if scan.new:
                    pending = self._new_scanners.get(scan.stamp_id)
                    if pending is not None:
                        pending.discard(scan.scanner)
                        if not pending:
                            del self._new_scanners[scan.stamp_id]

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="scan-recorder", daemon=True)
            self._thread.start()
        atexit.register(self._flush_memory)  # (what waits in the inbox is safe there)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
            try:
                keep_wal_small(self._engine_getter())
            except Exception:  # noqa: BLE001 - a checkpoint is tried again after the next flush
                log.exception("checkpointing the SQLite log failed")


def app_recorder(app=None) -> ScanRecorder:
    """The recorder of ``app`` (default: the current app): one per app and process, started
    on first use."""
    app = app or current_app._get_current_object()
    rec = app.extensions.get("scan_recorder")
    if rec is None:
        with app.app_context():  # (the current one already, from a request)
            engine = db.engine
        rec = app.extensions["scan_recorder"] = ScanRecorder(lambda: engine, app.config["SCAN_FLUSH_SECONDS"],
                                                             app.config["SCAN_BUFFER"])
    return rec
