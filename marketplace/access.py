"""Who may see what.  Views never check ownership by hand: they call :func:`owned_or_404`
(or build queries with :func:`owned_producer_ids`) and use the role decorators below.
"""
from __future__ import annotations

from functools import wraps

from flask import abort, g, has_request_context
from flask_login import current_user, login_required
from sqlalchemy import select

from . import geo
from .text import ascii_number
from .extensions import db
from .models import (Batch, Certification, Delivery, OcopRecognition, OfficerScope, Producer, Product, ProductPhoto,
                     Stamp, StampRun, TraceEvent)

MAX_ID = 2**31 - 1  # INTEGER primary keys

PROVINCE = geo.THANH_HOA  # the province this service serves; commune officers' wards are of it


def parse_scope(text: str) -> list[int] | None:
    """``province`` → None; ``15724,15667`` → those ward codes, each a ward of the province.
    Raises ValueError with a message naming what is wrong (the CLI's ``--scope``)."""
    text = (text or "").strip()
    if text == OfficerScope.province.value:
        return None
    codes = []
    for part in text.split(","):
        part = part.strip()
        if not ascii_number(part) or not geo.ward_in_province(int(part), PROVINCE):
            raise ValueError(f"{part!r} is not the 2025 code of a commune or ward of province {PROVINCE}")
        codes.append(int(part))
    if not codes:
        raise ValueError("give 'province' or a comma-separated list of ward codes")
    return sorted(set(codes))


def owned_producer_ids(user) -> set[int] | None:
    """Producer ids ``user`` acts for: its producer and, for a cooperative, its members.

    ``None`` means "all" (admins and the province's officers); a commune officer acts for
    the producers of its communes (issue 18).  An anonymous user or a user without a
    producer acts for nobody (empty set).
    """
    if not getattr(user, "is_authenticated", False):
        return set()
    if user.is_officer:
        wards = user.ward_scope
        if wards is None:
            return None
        # asked several times per page (the desk scopes seven queries): once per request
        cache = g.setdefault("commune_producer_ids", {}) if has_request_context() else {}
        if user.id not in cache:
            cache[user.id] = frozenset(db.session.scalars(select(Producer.id)
                                                          .where(Producer.ward_code.in_(wards or {-1}))))
        return set(cache[user.id])
    if user.producer_id is None:
        return set()
    ids = {user.producer_id}
    producer = db.session.get(Producer, user.producer_id)
    if producer is not None and producer.is_cooperative:
        ids.update(db.session.scalars(select(Producer.id).where(Producer.cooperative_id == producer.id)))
    return ids


# How each owner-scoped model reaches its producer id.
_OWNER_COLUMN = {
    Producer: lambda: (Producer.id, None),
    Product: lambda: (Product.producer_id, None),
    Certification: lambda: (Certification.producer_id, None),
    ProductPhoto: lambda: (Product.producer_id, (Product, ProductPhoto.product_id == Product.id)),
    OcopRecognition: lambda: (Product.producer_id, (Product, OcopRecognition.product_id == Product.id)),
    Batch: lambda: (Product.producer_id, (Product, Batch.product_id == Product.id)),
    TraceEvent: lambda: (Product.producer_id, (Batch, TraceEvent.batch_id == Batch.id),
                         (Product, Batch.product_id == Product.id)),
    StampRun: lambda: (Product.producer_id, (Batch, StampRun.batch_id == Batch.id),
                       (Product, Batch.product_id == Product.id)),
    Stamp: lambda: (Product.producer_id, (Batch, Stamp.batch_id == Batch.id),
                    (Product, Batch.product_id == Product.id)),
    Delivery: lambda: (Product.producer_id, (Product, Delivery.product_id == Product.id)),
}


def register_owner(model, column_factory) -> None:
    """Let later capabilities (batches, stamps…) declare how their rows reach a producer id."""
    _OWNER_COLUMN[model] = column_factory


def scoped(stmt, model, user=None):
    """Restrict a ``select(model)`` to rows the user may act on."""
    user = user or current_user
    ids = owned_producer_ids(user)
    if ids is None:
        return stmt
    column, *joins = _OWNER_COLUMN[model]()
    for join in joins:
        if join is not None:
            stmt = stmt.join(*join)
    return stmt.where(column.in_(ids or {-1}))


def owned_or_404(model, ident, user=None):
    """Load ``model`` by primary key for the current tenant, or answer 404 (never 403).

    :param model: a model registered in ``_OWNER_COLUMN``
    :param ident: its primary key
    """
    try:
        ident = int(ident)
    except (TypeError, ValueError):
        abort(404)
    if not 0 < ident <= MAX_ID:  # beyond any key: the database would refuse the parameter
        abort(404)
    stmt = scoped(select(model).where(model.id == ident), model, user)
    obj = db.session.scalars(stmt).first()
    if obj is None:
        abort(404)
    return obj


def _required(allowed, doc: str):
    """A view decorator: a logged-in user for whom ``allowed(user)`` holds, else 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not allowed(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    decorator.__doc__ = doc
    return decorator


producer_required = _required(lambda user: user.producer_id is not None,
                              "A logged-in user who acts for a producer (officers use the admin pages).")
officer_required = _required(lambda user: user.is_officer, "An officer (of the province or of communes) or an admin.")
province_required = _required(lambda user: user.is_province_officer,
                              "An officer of the whole province, or an admin: what is the province's (OCOP "
                              "recognitions, the exchanges) is not a commune officer's to change (403).")
admin_required = _required(lambda user: user.is_admin, "An admin.")
