"""Structured log lines: one JSON object per line, time in UTC, the ``extra`` fields a call
gives (``event``, ``user_id``…) as keys, and anything that looks like a secret redacted.

Installed on the ``marketplace`` logger by :func:`configure` (unless the app already has
handlers for it), so ``gunicorn`` and ``flask worker`` write lines a log shipper can parse::

    {"ts": "2026-11-29T08:12:03.412Z", "level": "INFO", "logger": "marketplace.auth",
     "message": "login ok", "event": "login", "user_id": 7}
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re

from .audit import REDACTED, SECRET_WORDS

# The attributes every LogRecord has: the rest came from ``extra=``.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# "whsec_…", "feed_…" tokens and bearer values that might end up in a message.
_SECRET_TEXT = re.compile(r"(whsec_|feed_)[A-Za-z0-9+/=_-]{8,}|(Bearer\s+)\S+", re.IGNORECASE)


def _scrub(text: str) -> str:
    return _SECRET_TEXT.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        moment = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        line = {"ts": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
                "level": record.levelname, "logger": record.name, "message": _scrub(record.getMessage())}
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(word in key.lower() for word in SECRET_WORDS):
                value = REDACTED
            line[key] = value if isinstance(value, (int, float, bool, type(None))) else _scrub(str(value))
        if record.exc_info:
            line["exception"] = _scrub(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure(app) -> None:
    """JSON lines on standard error for the ``marketplace`` loggers (not in tests, which
    capture records themselves), at ``LOG_LEVEL`` (default INFO)."""
    logger = logging.getLogger("marketplace")
    if app.testing or logger.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(str(app.config.get("LOG_LEVEL", "INFO")).upper())
    logger.propagate = False
