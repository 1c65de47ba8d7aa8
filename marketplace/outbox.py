"""The outbox: a delivery row per exchange that takes pushes, written in the same
transaction as the change it carries (docs/decisions/0004-outbox-and-worker.md).

:mod:`marketplace.changes` decides what changed (a product's public facts: the product, its
photos, producer, OCOP recognitions, certificates, batches and recalls) and calls
:func:`enqueue` at commit, once per changed product ever published; so the rows are
committed or rolled back together with the change: no change without its delivery, no
delivery for a rolled-back change.
"""
from __future__ import annotations

from sqlalchemy import select

from .models import Delivery, Exchange, Product
from .models.base import utcnow


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
