"""Declared transaction intent: the code that writes says so (docs/decisions/0006).

On SQLite a transaction that first reads and then writes fails at once with "database is
locked" when another writer committed in between; a transaction that means to write must
begin ``IMMEDIATE`` (take the write lock first, waiting up to ``busy_timeout``).  Readers
must stay deferred, so that they never queue behind writers.  Which one a transaction is
cannot be guessed from the HTTP method (a GET may write: the stamp page records scans; a
POST may fail validation and only read), so it is declared:

- ``@writes`` on a view: every transaction of the request begins as a writer.  Put it right
  under the route (or ``operation``) decorator of each view that writes.  A view that
  accepts a form or a JSON body but only reads says ``@reads`` instead: a test checks that
  every view with an unsafe method declares one or the other.
- ``with writes():`` around code that opens its own connection to write (the scan
  recorder's flush, the day's scanner key, a token's last use); ``with reads():`` around a
  long read outside the request's own view (a streamed feed: around its BEGIN only, since
  a scope held across a generator's ``yield`` would leak into whatever the thread runs
  while the generator waits).  Pass the session,
  ``with writes(db.session):``, to turn a request that has only read so far into a writer:
  its read transaction ends first.
- Outside any request (the CLI, the worker, tests calling services) transactions are
  writers.

Undeclared writes are caught: a write statement in a transaction that began as a reader
raises :class:`UndeclaredWrite` when the app runs strict (tests; ``STRICT_TRANSACTIONS``)
and is logged otherwise.  On PostgreSQL the intent changes nothing but the check (so both
test runs catch a missing declaration), except that a reader of the catalogue's pages or
the API (a GET or HEAD) runs in autocommit, where a write is always refused
(:func:`_public_read`).

:func:`install` attaches the engine hooks; the factory calls it.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from contextvars import ContextVar
from typing import Callable

from flask import current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, scoped_session

log = logging.getLogger(__name__)

WAL_LIMIT_BYTES = 64 * 1024 * 1024  # SQLite: the -wal file is kept below this (keep_wal_small)
CHECKPOINT_WAIT_MS = 1_000  # how long a truncating checkpoint waits for readers to move on
BUSY_TIMEOUT_MS = 10_000  # SQLite: how long a statement waits for a lock before "database is locked"
# SQLite's own page cache, per connection (its default: 2 MB).  Every thread of a worker and
# its scan recorder hold one, so the default cost each worker ~10 MB; a page not in it is
# read from the operating system's cache of the file, which all processes share.  At
# 512 KiB the stamp page served as many scans (bench/scan.py) and a worker held 5–7 MB less.
CACHE_KIB = 512
READ, WRITE = "read", "write"
VIEW_ATTRIBUTE = "transaction_intent"
_INFO_KEY = "marketplace_intent"  # Connection.info: how the open transaction began
_AUTOCOMMIT_KEY = "marketplace_read_autocommit"  # Connection.info: _on_begin turned autocommit on
AUTOCOMMIT_BLUEPRINTS = frozenset({"catalogue", "api"})  # PostgreSQL: their GETs read in autocommit
_IDLE = 0  # libpq's PQTRANS_IDLE: no transaction open on the connection
_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")

_declared: ContextVar[str | None] = ContextVar("marketplace_transaction_intent", default=None)
_strict = {"on": False}

class UndeclaredWrite(RuntimeError):
    """A write in a transaction declared (or defaulted) as a reader."""


def writes(view_or_session=None):
    """``@writes`` on a view; ``with writes():`` / ``with writes(session):`` around code."""
    if callable(view_or_session) and not isinstance(view_or_session, (Session, scoped_session)):
        setattr(view_or_session, VIEW_ATTRIBUTE, WRITE)
        return view_or_session
    return _scope(WRITE, view_or_session)


def reads(view=None):
    """``@reads`` on a view that takes a body but only reads; ``with reads():`` around a read."""
    if view is not None:
        setattr(view, VIEW_ATTRIBUTE, READ)
        return view
    return _scope(READ, None)


def declared(view: Callable) -> str | None:
    """What a view function declared (None: nothing, so a reader)."""
    return getattr(view, VIEW_ATTRIBUTE, None)


def _session(session) -> Session:
    return session() if isinstance(session, scoped_session) else session


@contextlib.contextmanager
def _scope(intent: str, session):
    session = _session(session) if session is not None else None
    if session is not None and intent == WRITE and session.in_transaction():
        connection = session.connection()
        if connection.info.get(_INFO_KEY) == READ:
            if session.new or session.dirty or session.deleted:
                raise UndeclaredWrite("changes made before writes(session): declare the view @writes")
            session.commit()  # ends the read snapshot; the next statement begins a writer
    token = _declared.set(intent)
    try:
        yield
    finally:
        _declared.reset(token)


def current_intent() -> str:
    """The intent a transaction beginning now gets (see the module docstring)."""
    intent = _declared.get()
    if intent is not None:
        return intent
    if has_request_context():
        view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
        return WRITE if view is not None and declared(view) == WRITE else READ
    return WRITE


@contextlib.contextmanager
def short_write(engine, wait_ms: int):
    """A writer transaction of its own on ``engine`` that waits at most ``wait_ms`` for
    SQLite's write lock (instead of the usual 10 s): for bookkeeping that may be skipped when
    the database is busy (kept feed items, a token's last use).  Yields the connection, in
    a transaction committed on leaving; the pooled connection goes back as it came."""
    with writes(), engine.connect() as connection:
        driver = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
        with _busy_timeout(driver, wait_ms):  # set before BEGIN IMMEDIATE, which waits on it
            with connection.begin():
                yield connection


@contextlib.contextmanager
def _busy_timeout(driver, wait_ms: int):
    """SQLite (``driver``: its DBAPI connection; None elsewhere): statements inside wait at
    most ``wait_ms`` for a lock; the pooled connection goes back with the usual timeout."""
    if driver is None:
        yield
        return
    driver.execute(f"PRAGMA busy_timeout = {wait_ms}")
    try:
        yield
    finally:
        driver.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def install(app, session) -> None:
    """Attach the engine hooks (once per process), take the app's strictness, and end with
    each request the transactions it began (:func:`_end_with_request`)."""
    _strict["on"] = bool(app.config.get("STRICT_TRANSACTIONS", app.testing))
    app.before_request(lambda: _note_open(session))
    app.teardown_request(lambda exc: _end_with_request(session))
    for name, hook in (("connect", _on_connect), ("begin", _on_begin), ("commit", _on_end),
                       ("rollback", _on_end), ("before_cursor_execute", _on_execute)):
        if not event.contains(Engine, name, hook):
            event.listen(Engine, name, hook)


def dispatch_again_on_disconnect(dispatch: Callable, session):
    """``dispatch()``, and once more when a read (GET, HEAD) met a connection the database
    server had dropped: the app's pool does not ping each connection before lending it (a
    round trip per request), so the first request after a server restart meets a dead one;
    SQLAlchemy then throws away the pool's connections and the read runs again on a fresh
    one.  A request that may write is never run twice: it fails as before."""
    try:
        return dispatch()
    except DBAPIError as exc:
        if not exc.connection_invalidated or request.method not in ("GET", "HEAD"):
            raise
        log.warning("the database dropped a pooled connection; reading again on a new one")
        session.rollback()
        return dispatch()


def _open_transaction(session):
    """The session's transaction, without making a session where none exists yet (the
    stamp page never opens one)."""
    if isinstance(session, scoped_session) and not session.registry.has():
        return None
    return _session(session).get_transaction()


def _note_open(session) -> None:
    g.transaction_before_request = _open_transaction(session)


def _end_with_request(session) -> None:
    """A transaction the request began ends with it, as the session itself does when the
    app context ends after a served request.  Where an app context outlives its requests
    (tests, a shell) this keeps a request's reader or writer transaction from carrying on
    into the caller's code and the next request; a transaction the caller had open before
    the request is left to the caller."""
    current = _open_transaction(session)
    if current is not None and current is not g.pop("transaction_before_request", None):
        _session(session).rollback()


def _on_connect(dbapi_connection, connection_record):
    """SQLite: WAL, busy timeout and foreign keys; SQLAlchemy emits BEGIN itself.

    PostgreSQL: no JIT compilation.  The server compiles a statement whose estimated cost
    passes ``jit_above_cost``, whatever its real work: the scan writer's UPDATE of 1,500
    stamps (estimated at 1.9 million, done in 15 ms) spent 143 ms being compiled on every
    flush.  Every statement here is short (the officers' figures read daily aggregates), so
    none gains from it.  The setting is made and committed once per new connection."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        if type(dbapi_connection).__module__.startswith("psycopg"):
            cursor = dbapi_connection.cursor()
            cursor.execute("SET jit = off")
            cursor.close()
            dbapi_connection.commit()
        return
    dbapi_connection.isolation_level = None  # we emit BEGIN in _on_begin
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")  # a reset WAL shrinks back to this
    cursor.close()


def keep_wal_small(engine: Engine, limit: int = WAL_LIMIT_BYTES) -> bool:
    """SQLite: checkpoint the ``-wal`` file into the database and truncate it once it has
    grown past a quarter of ``limit``; True when it did.

    SQLite's own checkpoints after each commit are passive: while pages are being read all
    the time (the stamp page), the log never starts over and grows without end (542 MB next
    to a 67–133 MB database was seen).  A truncating checkpoint waits, up to
    ``CHECKPOINT_WAIT_MS``, for readers to move to the newest snapshot (reads are single
    statements, so they soon do), holding writers back meanwhile; readers never wait.  The
    scan recorder and the delivery worker call this after their writes.
    """
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return False
    try:
        if os.path.getsize(engine.url.database + "-wal") < limit // 4:
            return False
    except OSError:  # no log file (yet)
        return False
    connection = engine.raw_connection()
    try:
        with _busy_timeout(connection.driver_connection, CHECKPOINT_WAIT_MS):
            busy, _log, _done = connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    return not busy


def _on_begin(connection):
    intent = current_intent()
    connection.info[_INFO_KEY] = intent
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE" if intent == WRITE else "BEGIN")
    elif intent == READ and _public_read():
        driver = connection.connection.dbapi_connection
        if not driver.autocommit and driver.info.transaction_status == _IDLE:
            driver.autocommit = True  # no BEGIN, no ROLLBACK: a round trip fewer each
            connection.info[_AUTOCOMMIT_KEY] = True
            pool = connection.engine.pool  # (only such pools pay for a check at every checkin)
            if not event.contains(pool, "checkin", _on_checkin):
                event.listen(pool, "checkin", _on_checkin)


def _on_end(connection):
    if not connection.invalidated:  # (a dropped connection's record starts afresh anyway)
        connection.info.pop(_INFO_KEY, None)
        _transactions_back(connection.connection.dbapi_connection, connection.info)


def _on_checkin(dbapi_connection, connection_record) -> None:
    """Also when a connection reaches the pool with neither a commit nor a rollback (left open
    and collected as garbage): the next writer must get a transaction."""
    _transactions_back(dbapi_connection, connection_record.info)


def _transactions_back(dbapi_connection, info: dict) -> None:
    """A connection a public read turned to autocommit (``info``: its record's) without it."""
    if info.pop(_AUTOCOMMIT_KEY, False) and dbapi_connection is not None:
        dbapi_connection.autocommit = False


def _public_read() -> bool:
    """A GET or HEAD of the catalogue's pages or the API, on PostgreSQL: its reads run in
    autocommit.  PostgreSQL's READ COMMITTED gives each statement a snapshot of its own
    anyway, so the BEGIN before the first and the ROLLBACK after the last were two round
    trips that changed nothing a reader sees.  What needs a transaction cannot run there:
    psycopg refuses a server-side cursor (``yield_per``) and a savepoint in autocommit, so
    those views read with plain queries (the stamps CSV streams page by page, by key), and
    a write there is refused (:func:`_on_execute`), as it could not be taken back."""
    return has_request_context() and request.method in ("GET", "HEAD") and request.blueprint in AUTOCOMMIT_BLUEPRINTS


def _on_execute(connection, cursor, statement, parameters, context, executemany):
    if connection.info.get(_INFO_KEY) != READ or not statement.lstrip()[:7].upper().startswith(_DML):
        return
    where = f"{request.method} {request.path}" if has_request_context() else "outside a request"
    message = f"a write in a transaction declared as a reader ({where}): {statement[:80]!r}"
    if _strict["on"] or connection.info.get(_AUTOCOMMIT_KEY):
        raise UndeclaredWrite(message)
    log.warning(message)
