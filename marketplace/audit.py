"""Recording officers' and admins' actions in the audit trail (issue 6).

:func:`record` adds an :class:`~marketplace.models.AuditEntry` to the session, so it is
committed (or rolled back) with the action itself.  Values that are secrets (signing
secrets, tokens, password hashes) never enter the trail: :func:`redact` replaces them.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

from flask import has_request_context
from flask_login import current_user

from .models import AuditEntry

SECRET_WORDS = ("secret", "token", "password", "cookie", "hash")
REDACTED = "[redacted]"


def redact(values: dict | None) -> dict | None:
    """JSON-safe copy of ``values`` with every secret-looking key's value replaced."""
    if values is None:
        return None
    out = {}
    for key, value in values.items():
        if any(word in key.lower() for word in SECRET_WORDS):
            out[key] = value if isinstance(value, bool) or not value else REDACTED  # "was one made": fine
        elif key.endswith("_url") and isinstance(value, str) and ("?" in value or "#" in value):
            out[key] = _without_query(value)  # a receiver's URL may carry a key in its query
        elif isinstance(value, dict):
            out[key] = redact(value)
        elif isinstance(value, (dt.date, dt.datetime)):
            out[key] = value.isoformat()
        elif isinstance(value, Decimal):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=REDACTED if parts.query else "", fragment=""))


def snapshot(obj, fields: tuple[str, ...]) -> dict:
    """The named attributes of ``obj``, for ``before``/``after``."""
    return {name: getattr(obj, name) for name in fields}


def record(session, action: str, target=None, *, target_type: str | None = None, target_id: int | None = None,
           summary: str = "", before: dict | None = None, after: dict | None = None, actor=None,
           system: str = "cli") -> AuditEntry:
    """Add an entry for ``action`` (``"producer.approve"``…) on ``target`` (a model
    instance, or ``target_type``/``target_id``), done by ``actor`` (default: the signed-in
    user of the current request; none from the command line, or from ``system``: what acted
    when no one did, e.g. ``"exchange"`` for what an exchange's answer changed)."""
    if actor is None and has_request_context() and current_user and current_user.is_authenticated:
        actor = current_user._get_current_object()
    if target is not None:
        target_type = target_type or target.__tablename__
        if target_id is None:
            if target.id is None:
                session.flush()  # a new record: its id
            target_id = target.id
    entry = AuditEntry(actor_id=getattr(actor, "id", None), actor_email=getattr(actor, "email", "") or "",
                       actor_role=getattr(actor, "role", "") or (system if actor is None else ""), action=action,
                       target_type=target_type or "", target_id=target_id, summary=summary[:255],
                       before=redact(before), after=redact(after))
    session.add(entry)
    return entry
