"""Scans waiting in the database (``SCAN_BUFFER = "database"``, issue 18 point 3): with
several app servers, a scan is in ``scan_inbox`` before its page is answered, and any
server's recorder, or the delivery worker, counts it exactly once.

tests/test_several_servers.py drives the same through real servers that are killed mid-load.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select, text

from marketplace import create_app
from marketplace.models import Scan, ScanDay, ScanInbox
from marketplace.scan.recorder import ScanRecorder, ScanRow, insert_waiting, take_waiting, write_scans
from marketplace.transactions import writes
from tests.conftest import PG_URL, make_config
from tests.test_scan import client, fresh_stamp, make_run, web  # noqa: F401

NEVER = 3600.0  # a flush interval no test waits for: only an explicit flush writes


def waiting(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(ScanInbox))


def test_an_answered_scan_is_in_the_inbox_before_anything_counts_it(db, world, web):
    _batch, _run, serials = make_run(db, world, 1)
    server = web(SCAN_BUFFER="database", SCAN_FLUSH_SECONDS=NEVER)
    page = server.test_client().get(f"/s/{serials[0]}")
    assert page.status_code == 200
    assert waiting(db) == 1  # committed before the answer
    stamp = fresh_stamp(db, serials[0])
    assert stamp.scan_count == 0 and db.session.scalar(select(func.count()).select_from(Scan)) == 0

    # Another server's recorder (the first one died): it takes the row and counts it.
    other = ScanRecorder(lambda: db.engine, NEVER, "database")
    db.session.rollback()  # (the test's session holds no write lock meanwhile)
    assert other.flush() == 1
    assert waiting(db) == 0
    stamp = fresh_stamp(db, serials[0])
    assert stamp.scan_count == 1 and stamp.scanner_count == 1 and stamp.first_scan_at is not None
    assert db.session.scalar(select(func.sum(ScanDay.scans))) == 1
    db.session.rollback()
    assert other.flush() == 0  # taken once: nothing counted twice


def test_at_once_mode_counts_before_answering(db, world, web):
    _batch, _run, serials = make_run(db, world, 1)
    server = web(SCAN_BUFFER="database", SCAN_FLUSH_SECONDS=0)
    for _ in range(3):
        assert server.test_client().get(f"/s/{serials[0]}").status_code == 200
    assert waiting(db) == 0
    assert fresh_stamp(db, serials[0]).scan_count == 3


def test_the_page_counts_its_own_new_scanner_until_the_inbox_is_counted(db, world, web):
    _batch, _run, serials = make_run(db, world, 1)
    server = web(SCAN_BUFFER="database", SCAN_FLUSH_SECONDS=NEVER)
    client = server.test_client()
    client.get(f"/s/{serials[0]}", headers={"Accept": "application/json"})
    again = client.get(f"/s/{serials[0]}", headers={"Accept": "application/json"}).get_json()
    assert again["stamp"]["scanners"] == 1  # the same phone, not yet written: still one
    db.session.rollback()
    with server.app_context():
        recorder = server.extensions["scan_recorder"]
        assert recorder.flush() == 2
        assert recorder.pending_scanners(fresh_stamp(db, serials[0]).id) == frozenset()
    third = client.get(f"/s/{serials[0]}", headers={"Accept": "application/json"}).get_json()
    assert third["stamp"]["scanners"] == 1


def test_the_worker_counts_what_a_stopped_server_left(db, world, app_factory):
    _batch, _run, serials = make_run(db, world, 2)
    stamps = {s: fresh_stamp(db, s).id for s in serials}
    db.session.rollback()
    now = dt.datetime.now(dt.timezone.utc)
    with writes(), db.engine.connect() as connection, connection.begin():
        for n in range(5):
            insert_waiting(connection, ScanRow(stamps[serials[n % 2]], now, 38, "zalo", f"k{n}", False, True))
    worker_app = app_factory(SCAN_BUFFER="database")
    db.session.rollback()
    with worker_app.app_context():  # (the command runs in the app context it finds)
        result = worker_app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert waiting(db) == 0
    assert [fresh_stamp(db, s).scan_count for s in serials] == [3, 2]
    assert [fresh_stamp(db, s).first_scan_province for s in serials] == [38, 38]


def test_a_scan_is_kept_in_memory_when_the_inbox_cannot_take_it(db, world, web):
    _batch, _run, serials = make_run(db, world, 1)
    server = web(SCAN_BUFFER="database", SCAN_FLUSH_SECONDS=NEVER)
    with server.app_context():
        # (flushed at once, failing too: no thread, nothing left for exit)
        broken = ScanRecorder(lambda: (_ for _ in ()).throw(RuntimeError("database gone")), 0, "database")
        server.extensions["scan_recorder"] = broken
    assert server.test_client().get(f"/s/{serials[0]}").status_code == 200  # the buyer is answered
    assert len(broken._pending) == 1 and waiting(db) == 0


@pytest.mark.skipif(not PG_URL, reason="row locks skipped by FOR UPDATE SKIP LOCKED: PostgreSQL's")
def test_two_takers_at_once_take_disjoint_rows(db, world):
    _batch, _run, serials = make_run(db, world, 1)
    stamp_id = fresh_stamp(db, serials[0]).id
    now = dt.datetime.now(dt.timezone.utc)
    with db.engine.connect() as connection, connection.begin():
        for n in range(400):
            insert_waiting(connection, ScanRow(stamp_id, now, None, "other", f"s{n}", False, False))
    engine = db.engine
    taken: list[list[ScanRow]] = [[], []]
    gate = threading.Barrier(2)

    def take(slot: int) -> None:
        with engine.connect() as connection, connection.begin():
            gate.wait()
            taken[slot] = take_waiting(connection, 300)
            gate.wait()  # both hold their rows at once before either commits

    threads = [threading.Thread(target=take, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    scanners = [{r.scanner for r in rows} for rows in taken]
    assert not scanners[0] & scanners[1]
    assert len(scanners[0]) + len(scanners[1]) == 400


@pytest.mark.skipif(not PG_URL, reason="two writers at once: SQLite has one writer at a time")
def test_two_writers_at_once_count_both_new_scanners(db, world):
    """Two processes flush a new scanner of the same stamp at the same time (two workers'
    buffers, or a recorder and the delivery worker draining the inbox): the second, waiting
    for the first's commit, counts the first one's rows too; neither undercounts."""
    _batch, _run, serials = make_run(db, world, 1)
    stamp_id = fresh_stamp(db, serials[0]).id
    db.session.rollback()
    now, engine, failed, backend = dt.datetime.now(dt.timezone.utc), db.engine, [], []

    def second() -> None:
        try:
            with writes(), engine.connect() as connection, connection.begin():
                backend.append(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
                write_scans(connection, [ScanRow(stamp_id, now, 38, "chrome", "scanner-b", False, True)])
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failed.append(exc)

    with engine.connect() as first, first.begin():
        write_scans(first, [ScanRow(stamp_id, now, 38, "chrome", "scanner-a", False, True)])
        thread = threading.Thread(target=second)
        thread.start()
        # until the second writer's own connection waits for the first's row lock (however
        # slowly a busy machine starts it), or the second writer ends without waiting
        deadline, seen = time.monotonic() + 60, None
        with engine.connect() as probe:
            while thread.is_alive() and time.monotonic() < deadline:
                if backend:
                    seen = probe.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                                         {"pid": backend[0]}).scalar()
                    probe.rollback()  # (a transaction lists only the backends there at its first look)
                    if seen == "Lock":
                        break
                time.sleep(0.02)
        assert seen == "Lock", f"the second writer never waited for the first (last seen {seen!r}, {failed})"
    thread.join(60)
    assert not failed and not thread.is_alive()
    stamp = fresh_stamp(db, serials[0])
    assert (stamp.scan_count, stamp.scanner_count) == (2, 2)


def test_scan_buffer_is_checked(database_url, tmp_path):
    with pytest.raises(ValueError, match="SCAN_BUFFER"):
        create_app(make_config(database_url, tmp_path, SCAN_BUFFER="redis"))


@pytest.mark.parametrize("count", [0, 1, 7, 99, 137, 500, 2501, 12_345])
def test_batches_are_cut_into_a_few_statement_sizes(count):
    """Every row once, in order, in statements of the ladder's sizes only (SQLite keeps each
    distinct statement prepared)."""
    from marketplace.scan.recorder import CHUNK_SIZES, _chunks

    pieces = list(_chunks(list(range(count))))
    assert [row for piece in pieces for row in piece] == list(range(count))
    assert {len(piece) for piece in pieces} <= set(CHUNK_SIZES)
    assert len(pieces) <= count // CHUNK_SIZES[0] + 4 * len(CHUNK_SIZES)
