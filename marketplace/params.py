"""Dates and moments that come from outside (query strings, API bodies, the command line),
parsed in one place, within the range the service supports.

``date.fromisoformat`` takes years 1 to 9999; the code behind it does not: a figure starting
on 0001-01-01 steps a day back and overflows, a moment at 9999-12-31T23:59+00:00 moved to
Vietnam's time zone leaves the calendar.  So every date and moment a client sends is read
here and refused outside ``EARLIEST``…``LATEST`` (a farm product's dates fall well inside),
and each caller turns :class:`ParamError` into its own clear answer (a form message, a 400
or 422 naming the field).
"""
from __future__ import annotations

import datetime as dt

EARLIEST = dt.date(1970, 1, 1)
LATEST = dt.date(2199, 12, 31)


class ParamError(ValueError):
    """``reason``: "format" (not an ISO 8601 date or moment), "zone" (a moment without a
    time zone where one is required) or "range" (outside EARLIEST…LATEST)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _in_range(day: dt.date) -> None:
    if not EARLIEST <= day <= LATEST:
        raise ParamError("range")


def parse_date(value: str) -> dt.date:
    """``YYYY-MM-DD`` (ISO 8601 calendar date) within the supported range."""
    try:
        day = dt.date.fromisoformat(value.strip())
    except (ValueError, TypeError, AttributeError):
        raise ParamError("format") from None
    _in_range(day)
    return day


def parse_moment(value: str, *, date_ok: bool = False, require_zone: bool = False) -> dt.datetime:
    """An ISO 8601 date-time (``Z`` or an offset; without one it means UTC unless
    ``require_zone``), or with ``date_ok`` a plain date (its midnight, UTC); as an aware
    moment in UTC, within the supported range."""
    try:
        text = value.strip()
    except AttributeError:
        raise ParamError("format") from None
    if not date_ok and "T" not in text.upper():
        raise ParamError("format")
    try:
        moment = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ParamError("format") from None
    if moment.tzinfo is None:
        if require_zone:
            raise ParamError("zone")
        moment = moment.replace(tzinfo=dt.timezone.utc)
    _in_range(moment.date())  # before any arithmetic: year 1 or 9999 would overflow below
    moment = moment.astimezone(dt.timezone.utc)
    _in_range(moment.date())
    return moment
