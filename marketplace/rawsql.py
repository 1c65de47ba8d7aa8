"""Statements run on the DBAPI cursor itself, for the few paths where SQLAlchemy's per-call
work (sessions, transaction events, bind processing) costs more than the query: the stamp
lookup on every scan and the batched scan writes.

A ``text()`` clause is compiled once per dialect to the driver's own parameter style
(SQLite ``?``, psycopg ``%(name)s``); values go in as the driver takes them.  Nothing
typed passes through SQLAlchemy here, so callers convert (see :func:`timestamp`).
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy.sql.elements import TextClause

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
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def timestamp(dialect, moment: dt.datetime):
    """An aware moment as the ``UTCDateTime`` column stores it: naive UTC text on SQLite
    (SQLAlchemy's format, so both paths sort and compare alike), aware on PostgreSQL."""
    moment = moment.astimezone(dt.timezone.utc)
    if dialect.name == "sqlite":
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")
    return moment
