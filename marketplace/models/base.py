from __future__ import annotations

import datetime as dt
import hashlib
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, TypeDecorator, func

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


# A change is stamped (``updated_at``…) by its app server's clock before its transaction
# commits: it may become visible after a change with a later stamp, by up to this much.
# What is kept or dated by "the newest change" allows for it (catalogue pages, feed dates).
SETTLE = dt.timedelta(minutes=1)


def delta_start(updated_since: dt.datetime) -> dt.datetime:
    """Where a delta asked "changed since ``updated_since``" starts (the exchanges' feeds, the
    API's lists): ``SETTLE`` earlier.  A client that asks from the moment of its last poll
    would never get a change stamped before that moment but committed after it; so a delta
    carries the changes of the minute before too (an item sent twice is the same item)."""
    return updated_since - SETTLE


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The moments a local (Asia/Ho_Chi_Minh) day runs between."""
    start = dt.datetime.combine(day, dt.time(), LOCAL_TZ)
    return start, start + dt.timedelta(days=1)


def local_day(dialect_name: str, column):
    """SQL for the local (Asia/Ho_Chi_Minh) calendar day of a stored UTC moment: a date on
    PostgreSQL, ``YYYY-MM-DD`` text on SQLite (naive UTC text; Vietnam keeps no DST)."""
    if dialect_name == "postgresql":
        return func.date(func.timezone(LOCAL_TZ.key, column))
    return func.date(column, "+7 hours")


def hash_token(token: str) -> str:
    """SHA-256 of a random bearer token (pull feeds, API): stored instead of the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def local_today() -> dt.date:
    """Today's date in Vietnam (certificates expire by local calendar day)."""
    return dt.datetime.now(LOCAL_TZ).date()


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
