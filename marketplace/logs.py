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
# Tokens are random (mixed case, digits), unlike names such as feed_item_exchange_id_fkey.
_SECRET_TEXT = re.compile(r"(whsec_|feed_)(?=[A-Za-z0-9+/=_-]*[A-Z0-9])[A-Za-z0-9+/=_-]{16,}|((?i:bearer)\s+)\S+")


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
    """JSON lines on standard error for the ``marketplace`` loggers, at ``LOG_LEVEL`` (INFO
    when unset or not a level name).  Nothing is changed in tests (they capture records
    themselves), nor when the process already logs somewhere (a root handler, or ours from
    an earlier app): records still propagate to the root logger's handlers."""
    logger = logging.getLogger("marketplace")
    level = str(app.config.get("LOG_LEVEL") or "INFO").upper()
    logger.setLevel(level if isinstance(logging.getLevelName(level), int) else logging.INFO)
    if app.testing or logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
