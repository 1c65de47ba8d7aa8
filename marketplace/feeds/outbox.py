"""The outbox: every change of a listed product's catalogue item writes a delivery row per
enabled exchange, in the same transaction as the change (DESIGN.md §7).

A change is a new ``Product.version`` (publishing, editing, photos, OCOP, certifications,
withdrawing, a producer's change or review, a batch recall all bump it).  Products never
published have nothing on any exchange and queue nothing.  The hook runs in
``before_flush``, so the rows are flushed, committed or rolled back together with the
change: no change without its delivery, no delivery for a rolled-back change.
"""
from __future__ import annotations

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from ..models import Delivery, Exchange, Product
from ..models.base import utcnow


def push_targets(session) -> list[int]:
    """Exchanges that take pushes: enabled, with an endpoint."""
    with session.no_autoflush:
        return list(session.scalars(select(Exchange.id).where(Exchange.enabled.is_(True),
                                                              Exchange.endpoint_url != "")))


def enqueue(session, product: Product, exchange_ids: list[int]) -> None:
    now = utcnow()
    for exchange_id in exchange_ids:
        session.add(Delivery(exchange_id=exchange_id, product=product, version=product.version,
                             next_attempt_at=now, created_at=now, last_error="", attempts=0, status="pending"))


def _changed(session, product: Product) -> bool:
    if product.published_at is None:
        return False
    return product in session.new or inspect(product).attrs.version.history.has_changes()


@event.listens_for(Session, "before_flush")
def _write_deliveries(session, flush_context, instances) -> None:
    changed = [obj for obj in (*session.new, *session.dirty) if isinstance(obj, Product) and _changed(session, obj)]
    if not changed:
        return
    targets = push_targets(session)
    if not targets:
        return
    for product in changed:
        enqueue(session, product, targets)
