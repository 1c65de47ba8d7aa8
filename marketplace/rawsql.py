"""Statements run on the DBAPI cursor itself, for the few paths where SQLAlchemy's per-call
work (sessions, transaction events, bind processing) costs more than the query: the stamp
lookup on every scan, the stamp page's facts of a batch (:func:`fetch_lists`: several Core
selects in one round trip) and the batched scan writes.

A ``text()`` clause is compiled once per dialect to the driver's own parameter style
(SQLite ``?``, psycopg ``%(name)s``); values go in as the driver takes them.  Nothing
typed passes through SQLAlchemy here, so callers convert (see :func:`timestamp`).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import threading
import weakref
from collections import namedtuple

from sqlalchemy import String, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.functions import FunctionElement

from .config import POOL_RECYCLE_SECONDS

_readers: "weakref.WeakKeyDictionary[Engine, Engine]" = weakref.WeakKeyDictionary()  # engine → its reader
_readers_lock = threading.Lock()

_compiled: dict = {}


def prepare(clause: TextClause, dialect) -> tuple[str, tuple[str, ...] | None]:
    """The clause's SQL for this dialect and, for positional drivers, its parameter order."""
    key = (clause, dialect)
    found = _compiled.get(key)
    if found is None:
        compiled = clause.compile(dialect=dialect)
        order = tuple(compiled.positiontup) if compiled.positional else None
        found = _compiled[key] = (compiled.string, order)
    return found


def bind(order: tuple[str, ...] | None, values: dict):
    """Parameters in the form the driver expects (a tuple for ``?``, else the dict)."""
    return values if order is None else tuple(values[name] for name in order)


def moment_text(value) -> str:
    """A stored moment as one text form whatever read it (SQLite text, a PostgreSQL
    datetime, the ORM's aware value): naive UTC as SQLAlchemy writes it on SQLite; "" for
    None.  For cache keys and fingerprints that must not depend on the path."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value.tzinfo:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return _sqlite_text(value)


def state_values(values) -> tuple:
    """Values read for a cache key (maxima of moments, counts) in one form whatever read
    them: moments by :func:`moment_text`, numbers as they are."""
    return tuple(v if isinstance(v, int) else moment_text(v) for v in values)


class moment_text_sql(FunctionElement):
    """:func:`moment_text` in SQL, of a ``UTCDateTime`` column (NULL for NULL): so a
    fingerprint that names a moment can be compared by the database, for every row at once.
    On SQLite the stored text itself; on PostgreSQL the UTC value written the same way."""
    type = String()
    name = "moment_text"
    inherit_cache = True


@compiles(moment_text_sql)
def _moment_text_stored(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(moment_text_sql, "postgresql")
def _moment_text_postgresql(element, compiler, **kw):
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"


def moment(value) -> dt.datetime | None:
    """A stored moment read on the DBAPI cursor, aware (naive UTC text on SQLite, a datetime
    on PostgreSQL): the inverse of :func:`timestamp`."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def timestamp(dialect, moment: dt.datetime):
    """An aware moment as the ``UTCDateTime`` column stores it: naive UTC text on SQLite
    (SQLAlchemy's format, so both paths sort and compare alike), aware on PostgreSQL."""
    moment = moment.astimezone(dt.timezone.utc)
    if dialect.name == "sqlite":
        return _sqlite_text(moment.replace(tzinfo=None))
    return moment


def _sqlite_text(naive: dt.datetime) -> str:
    """``2025-10-01 07:00:00.000000``: SQLAlchemy's storage format of a datetime on SQLite
    (a four-digit year, six digits of microseconds), written by ``isoformat``, ~4× faster
    than ``strftime`` (the stamp page's every lookup writes one)."""
    return naive.isoformat(" ", "microseconds")


def reader(engine: Engine) -> Engine:
    """An engine for the public pages' single-statement reads on ``engine``'s database.

    On PostgreSQL: a pool of its own whose connections run in autocommit and are never
    pinged, so a read is one round trip (no ping before it, no BEGIN, no ROLLBACK when the
    connection goes back: those were ~70 % of the stamp lookup's time); a connection the
    server dropped is retried once (:func:`fetch_one`), and none is kept past
    ``config.POOL_RECYCLE_SECONDS``.  On SQLite: ``engine`` itself, whose connections already
    run in autocommit (``transactions._on_connect``).  Disposed with :func:`dispose_reader`.
    """
    if engine.dialect.name == "sqlite":
        return engine
    found = _readers.get(engine)
    if found is None:
        with _readers_lock:
            found = _readers.get(engine)
            if found is None:
                found = _readers[engine] = create_engine(
                    engine.url, isolation_level="AUTOCOMMIT", pool_pre_ping=False,
                    pool_recycle=POOL_RECYCLE_SECONDS, pool_size=engine.pool.size(), hide_parameters=True)
    return found


def dispose_reader(engine: Engine) -> None:
    with _readers_lock:
        found = _readers.pop(engine, None)
    if found is not None:
        found.dispose()


def forget_pools(engine: Engine) -> None:
    """In a forked process: start ``engine`` and its readers with empty pools, leaving the
    connections the parent may hold to the parent (``dispose(close=False)``)."""
    engine.dispose(close=False)
    with _readers_lock:
        for found in _readers.values():
            found.dispose(close=False)


def _on_reader(engine: Engine, read):
    """``read(dialect, DBAPI connection)`` on a connection of :func:`reader`; a connection
    found dropped is thrown away and the read tried once more."""
    source = reader(engine)
    for attempt in (1, 2):
        connection = source.raw_connection()
        try:
            return read(source.dialect, connection.dbapi_connection)
        except source.dialect.loaded_dbapi.Error as exc:
            if attempt == 2 or not source.dialect.is_disconnect(exc, connection.dbapi_connection, None):
                raise
            connection.invalidate()
        finally:
            connection.close()  # back to the pool (an invalidated one is closed and replaced)


def fetch_one(engine: Engine, clause: TextClause, values: dict):
    """The first row of ``clause`` read through :func:`reader` (None: no row), on the DBAPI
    cursor, retried once on a dropped connection."""
    def read(dialect, dbapi):
        sql, order = prepare(clause, dialect)
        cursor = dbapi.cursor()
        try:
            cursor.execute(sql, bind(order, values))
            return cursor.fetchone()
        finally:
            cursor.close()
    return _on_reader(engine, read)


class _SelectPlan:
    """A Core select as run on the DBAPI cursor for one dialect: its SQL, the values of the
    parameters the statement fixes itself (``limit(1)``…), its parameter order, a row type
    named by its columns and each column's result processor (what SQLAlchemy applies:
    SQLite's text dates to ``date``, its integers to ``bool``…; chosen, as SQLAlchemy does,
    by the type the driver reports, so on the first rows read)."""

    def __init__(self, stmt, dialect):
        compiled = stmt.compile(dialect=dialect)
        self.sql, self.fixed, self.dialect = compiled.string, dict(compiled.params), dialect
        self.order = tuple(compiled.positiontup) if compiled.positional else None
        self.types = [c.type.dialect_impl(dialect) for c in stmt.selected_columns]
        self.row = namedtuple("Row", [c.key for c in stmt.selected_columns])
        self.processors = None

    def bind(self, values: dict):
        return bind(self.order, {**self.fixed, **values})

    def rows(self, cursor) -> list:
        found = cursor.fetchall()
        processors = self.processors
        if processors is None:
            made = [t.result_processor(self.dialect, d[1]) for t, d in zip(self.types, cursor.description)]
            processors = self.processors = made if any(made) else ()
        if not processors:
            return [self.row._make(r) for r in found]
        return [self.row._make(value if process is None or value is None else process(value)
                               for process, value in zip(processors, r)) for r in found]


def _select_plan(stmt, dialect) -> _SelectPlan:
    key = (stmt, dialect)
    found = _compiled.get(key)
    if found is None:
        found = _compiled[key] = _SelectPlan(stmt, dialect)
    return found


def fetch_lists(engine: Engine, statements, values: dict) -> list[list]:
    """Every row of each Core select of ``statements`` (all bound from ``values``), as named
    tuples with SQLAlchemy's own result processing, read through :func:`reader`: on
    PostgreSQL sent together in one pipeline (one round trip for all, not one each), on
    SQLite one after the other; retried once on a dropped connection.  For selects of plain
    columns (``select(table)``, labelled columns), whose rows need no ORM."""
    def read(dialect, dbapi):
        plans = [_select_plan(stmt, dialect) for stmt in statements]
        together = getattr(dbapi, "pipeline", None)  # psycopg 3's pipeline mode
        cursors = [dbapi.cursor() for _ in plans]
        try:
            with together() if together is not None else contextlib.nullcontext():
                for cursor, plan in zip(cursors, plans):
                    cursor.execute(plan.sql, plan.bind(values))  # (in a pipeline: only queued)
                return [plan.rows(cursor) for cursor, plan in zip(cursors, plans)]
        finally:
            for cursor in cursors:
                cursor.close()
    return _on_reader(engine, read)
