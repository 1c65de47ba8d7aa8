"""Flask extensions, created unbound and attached in :func:`marketplace.create_app`."""
from __future__ import annotations

import sqlite3
from contextlib import contextmanager

from flask import has_request_context, request
from flask_babel import Babel
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from .internals import RouteLimiter

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True, compare_type=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


# Flask-Limiter with the limits decorated on views only (internals.RouteLimiter says why)
limiter = RouteLimiter(key_func=get_remote_address, default_limits=[])

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BUSY_TIMEOUT_MS = 10_000  # SQLite: how long a statement waits for a lock before "database is locked"
WRITER = "marketplace_writer"  # set in Connection.info by code that writes during a GET
READER = "marketplace_reader"  # set by code that only reads outside a request (feed streams)


@contextmanager
def short_write(engine, wait_ms: int):
    """A write transaction of its own on ``engine`` that waits at most ``wait_ms`` for
    SQLite's write lock (instead of the usual 10 s): for bookkeeping that may be skipped when
    the database is busy (kept feed items, a token's last use).  Yields the connection, in
    a transaction committed on leaving; the pooled connection goes back as it came."""
    with engine.connect() as connection:
        connection.info[WRITER] = True  # a write, even inside a GET request
        driver = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
        if driver is not None:  # set before BEGIN IMMEDIATE, which waits on it
            driver.execute(f"PRAGMA busy_timeout = {wait_ms}")
        try:
            with connection.begin():
                yield connection
        finally:
            connection.info.pop(WRITER, None)
            if driver is not None:
                driver.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


@event.listens_for(Engine, "connect")
def _sqlite_on_connect(dbapi_connection, connection_record):
    """WAL, busy timeout and foreign keys; let SQLAlchemy emit BEGIN itself."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # we emit BEGIN in _sqlite_on_begin
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_on_begin(conn):
    """Write transactions begin IMMEDIATE on SQLite.

    A deferred transaction that reads and then writes fails with "database is locked" when
    another writer got there first; IMMEDIATE takes the write lock up front and waits
    (``busy_timeout``) instead.  Transactions opened while handling a safe (GET/HEAD) request,
    or on a connection marked ``READER``, only read and stay deferred, so readers never queue
    behind writers.  Everything else (POST
    requests, CLI commands, the worker) is treated as a writer.
    """
    if conn.dialect.name != "sqlite":
        return
    if conn.info.get(READER) or (
            has_request_context() and request.method in SAFE_METHODS and not conn.info.get(WRITER)):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
