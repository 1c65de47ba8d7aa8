"""SQLite's write-ahead log stays bounded under constant reading (issue 19, point 4).

SQLite's own checkpoints are passive: while readers keep reading, the log never starts over
and grows.  ``transactions.keep_wal_small`` (run by the scan recorder after each flush and
by the worker every second) checkpoints and truncates it; ``journal_size_limit`` shrinks a
reset log.  On PostgreSQL there is nothing to do.
"""
from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import create_engine, text

from marketplace.transactions import CACHE_KIB, WAL_LIMIT_BYTES, keep_wal_small

pytestmark = pytest.mark.usefixtures("app")  # the engine hooks (WAL, pragmas) are installed


@pytest.fixture
def engine(tmp_path):
    built = create_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with built.begin() as connection:
        connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    yield built
    built.dispose()


def _wal(engine) -> int:
    return os.path.getsize(engine.url.database + "-wal")


def _grow(engine, rows: int) -> None:
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO t (body) VALUES (:body)"), [{"body": "x" * 4000}] * rows)


def test_the_log_is_limited_when_reset(engine):
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_size_limit").scalar() == WAL_LIMIT_BYTES
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_each_connection_keeps_a_small_page_cache(engine):
    """Every thread and the scan recorder of a worker hold a connection each: their caches
    are 512 KiB, not SQLite's 2 MB (the file's pages stay in the system's shared cache)."""
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -CACHE_KIB == -512


def test_a_grown_log_is_checkpointed_and_truncated_while_readers_keep_reading(engine):
    stop = threading.Event()

    def read_all_the_time():
        while not stop.is_set():
            with engine.connect() as connection:
                connection.execute(text("SELECT COUNT(*) FROM t")).scalar()

    readers = [threading.Thread(target=read_all_the_time) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        _grow(engine, 200)  # ~0.8 MB of log
        limit = 256 * 1024
        assert _wal(engine) > limit // 4
        assert keep_wal_small(engine, limit=limit) is True
        assert _wal(engine) == 0
        _grow(engine, 5)  # writing goes on after the truncation
        with engine.connect() as connection:
            assert connection.execute(text("SELECT COUNT(*) FROM t")).scalar() == 205
    finally:
        stop.set()
        for reader in readers:
            reader.join()


def test_a_small_log_is_left_alone(engine):
    _grow(engine, 2)
    before = _wal(engine)
    assert keep_wal_small(engine, limit=WAL_LIMIT_BYTES) is False
    assert _wal(engine) == before


def test_nothing_to_do_without_a_file(app):
    memory = create_engine("sqlite://")
    assert keep_wal_small(memory) is False
    postgres_like = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected
    assert keep_wal_small(postgres_like) is False
