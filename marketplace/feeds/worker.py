"""The delivery worker behind ``flask --app wsgi worker`` (docs/decisions/0004-outbox-and-worker.md).

Each round claims due deliveries (pending, due, not leased; of enabled exchanges) by
setting a lease in a short transaction: on PostgreSQL the candidates are read ``FOR UPDATE
SKIP LOCKED``, so several workers split the work; on SQLite the claim runs as the one
writer (``BEGIN IMMEDIATE``).  Then, outside any transaction, each is sent and its outcome
written:

* a newer pending delivery of the same product to the same exchange: this one is
  ``superseded`` and not sent (the newer carries the latest version anyway);
* a deletion for an exchange that does not hold the item (it never acknowledged the item,
  or its last acknowledged push was already a deletion) and no older delivery still in
  flight: ``unneeded`` and not sent (an exchange is never told to drop what it never had);
* 2xx: ``delivered`` (``sent_version`` is the version in the payload);
* 410 Gone: the exchange's push is disabled and the delivery ``dead``;
* anything else (an error status, a timeout, a refused connection, an endpoint that is
  refused as private): another attempt after :func:`push.backoff`, ``dead`` once the first
  attempt is older than ``PUSH_GIVE_UP_SECONDS``.

A worker killed mid-send leaves its lease behind; the row is claimed again when the lease
runs out: at-least-once, and the receiver recognises the repeat by its ``webhook-id``.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased

from ..models import Delivery, DeliveryStatus, Exchange
from ..models.base import local_today, utcnow
from . import canonical, listings, push
from .profiles import id_field, mapped, profile_of, reasons
from .service import delivered_pushes

log = logging.getLogger("marketplace.push")


@dataclass(frozen=True)
class Settings:
    base_url: str
    retry_base: float = 5
    retry_cap: float = 300
    give_up: float = 3 * 24 * 3600
    timeout: float = 15
    lease: float = 60
    allow_private: bool = False

    @classmethod
    def from_config(cls, config) -> "Settings":
        return cls(base_url=config["PUBLIC_BASE_URL"], retry_base=config["PUSH_RETRY_BASE_SECONDS"],
                   retry_cap=config["PUSH_RETRY_CAP_SECONDS"], give_up=config["PUSH_GIVE_UP_SECONDS"],
                   timeout=config["PUSH_TIMEOUT_SECONDS"], lease=config["PUSH_LEASE_SECONDS"],
                   allow_private=config["PUSH_ALLOW_PRIVATE"])


def _due(now: dt.datetime):
    return and_(Delivery.status == DeliveryStatus.pending, Delivery.next_attempt_at <= now,
                or_(Delivery.locked_until.is_(None), Delivery.locked_until < now))


def claim(session, settings: Settings, limit: int = 20) -> list[tuple[int, dt.datetime]]:
    """Lease up to ``limit`` due deliveries to this worker; returns (id, lease) pairs.

    The lease (``locked_until``) doubles as this claim's token: every later write checks it,
    so a worker whose lease ran out and was taken over writes nothing.  A delivery whose
    product has another delivery in flight to the same exchange waits for it, so an older
    version can never overtake a newer one on the wire."""
    now = utcnow()
    sibling = aliased(Delivery)
    in_flight = exists().where(sibling.exchange_id == Delivery.exchange_id, sibling.product_id == Delivery.product_id,
                               sibling.id != Delivery.id, sibling.status == DeliveryStatus.pending,
                               sibling.locked_until > now)
    ids = list(session.scalars(
        select(Delivery.id).join(Exchange, Exchange.id == Delivery.exchange_id)
        .where(_due(now), Exchange.enabled.is_(True), ~in_flight)
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)
        .with_for_update(skip_locked=True, of=Delivery)))
    lease = now + dt.timedelta(seconds=settings.lease)
    if ids:
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(locked_until=lease))
    session.commit()
    return [(delivery_id, lease) for delivery_id in ids]


def _renew(session, delivery_id: int, lease: dt.datetime, settings: Settings) -> dt.datetime | None:
    """Extend this worker's lease before a send (it may have waited behind other sends);
    None when the lease was lost (another worker took the delivery, or it is no longer pending)."""
    renewed = utcnow() + dt.timedelta(seconds=settings.lease)
    done = session.execute(update(Delivery).where(
        Delivery.id == delivery_id, Delivery.locked_until == lease, Delivery.status == DeliveryStatus.pending)
        .values(locked_until=renewed))
    session.commit()
    return renewed if done.rowcount == 1 else None


def payload(session, delivery: Delivery, settings: Settings) -> tuple[str, int, bool]:
    """The JSON body (Standard Webhooks' ``type``/``timestamp``/``data``), its version, and
    whether it is a deletion.

    The item is built now, from the product as it is; an item this exchange would refuse
    (its pre-flight reasons) goes as a deletion, never half-filled."""
    exchange = delivery.exchange
    profile = profile_of(exchange)
    item = canonical.item_for(session, delivery.product_id, base_url=settings.base_url, today=local_today())
    if item is None:  # the product was deleted: only its id is left
        item = {"id": canonical.item_id(delivery.product_id), "deleted": True, "version": delivery.version}
    if not item.get("deleted") and reasons(profile, item):
        item = {"id": item["id"], "deleted": True, "version": item["version"]}
    if item.get("deleted"):
        kind, data = "catalogue.item.deleted", {id_field(profile): item["id"], "deleted": True,
                                               "version": item["version"]}
    else:
        kind, data = "catalogue.item.updated", dict(mapped(profile, item), version=item["version"])
    body = {"type": kind, "timestamp": utcnow().isoformat(), "exchange": exchange.code, "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")), item["version"], bool(item.get("deleted"))


def signing_secrets(exchange: Exchange, now: dt.datetime) -> list[str]:
    found = [exchange.secret] if exchange.secret else []
    if exchange.previous_secret and exchange.previous_secret_until and exchange.previous_secret_until > now:
        found.append(exchange.previous_secret)
    return found


def _finish(session, delivery_id: int, lease: dt.datetime, then=None, **values) -> bool:
    """Record an outcome, only while this worker still holds the lease; releases it.
    ``then(session)`` runs in the same transaction when the outcome is recorded."""
    done = session.execute(update(Delivery).where(
        Delivery.id == delivery_id, Delivery.locked_until == lease, Delivery.status == DeliveryStatus.pending)
        .values(locked_until=None, **values))
    if done.rowcount == 1 and then is not None:
        try:
            with session.begin_nested():  # its failure must not undo the outcome
                then(session)
        except SQLAlchemyError as exc:
            log.exception("delivery %s: recording what the answer said failed", delivery_id)
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
                last_error=f"received; what the answer said was not kept ({type(exc).__name__})"))
    session.commit()
    return done.rowcount == 1


def _listing_from(answer: str, exchange_id: int, product_id: int):
    """What the exchange's answer to a push of the item says of the product's page there,
    as a ``then`` for :func:`_finish` (None: nothing to keep), and a note for the delivery
    when the answer names a page we cannot use (the push itself was received)."""
    try:
        url, external_id = listings.from_answer(answer)
    except listings.ListingError as exc:
        return None, f"received; the answer's {exc.field} was not kept ({exc.code})"
    if url is None:
        return None, ""
    return (lambda session: listings.take_from_answer(session, exchange_id, product_id, url, external_id)), ""


def _may_hold(session, delivery: Delivery) -> bool:
    """Whether the exchange may hold the item: its newest acknowledged push of the product
    carried the item (an unknown kind counts as holding), or an older delivery of it is still
    pending (it may be on its way now)."""
    key = (delivery.exchange_id, delivery.product_id)
    _, deleted = delivered_pushes(session, [delivery.product_id]).get(key, (None, True))
    if not deleted:
        return True
    return session.scalar(select(exists().where(
        Delivery.exchange_id == delivery.exchange_id, Delivery.product_id == delivery.product_id,
        Delivery.status == DeliveryStatus.pending, Delivery.id < delivery.id))) is True


def deliver(session, delivery_id: int, settings: Settings, lease: dt.datetime) -> str:
    """Send one claimed delivery and record the outcome; returns its new status."""
    lease = _renew(session, delivery_id, lease, settings)
    if lease is None:
        return "lost"
    delivery = session.get(Delivery, delivery_id)
    newer = session.scalar(select(Delivery.id).where(
        Delivery.exchange_id == delivery.exchange_id, Delivery.product_id == delivery.product_id,
        Delivery.status == DeliveryStatus.pending, Delivery.id > delivery.id).limit(1))
    if newer is not None:
        _finish(session, delivery_id, lease, status=DeliveryStatus.superseded,
                last_error=f"superseded by delivery {newer}")
        return DeliveryStatus.superseded
    exchange = delivery.exchange
    now = utcnow()
    try:
        body, version, deleted = payload(session, delivery, settings)
        build_error = ""
    except Exception as exc:  # noqa: BLE001 - a row that cannot be built still counts its attempts
        log.exception("building delivery %s failed", delivery_id)
        body, version, deleted, build_error = None, None, None, f"{type(exc).__name__}: {exc}"[:500]
    if deleted and not _may_hold(session, delivery):
        session.commit()
        _finish(session, delivery_id, lease, status=DeliveryStatus.unneeded, attempts=delivery.attempts,
                last_error="not sent: the exchange never received this item")
        return DeliveryStatus.unneeded
    # Everything the send needs, read before the transaction ends: nothing may be loaded
    # (a new transaction; on SQLite, the write lock) while the request is out.
    secrets_now = signing_secrets(exchange, now)
    endpoint_url, exchange_id, message_id = exchange.endpoint_url, exchange.id, delivery.webhook_id
    product_id = delivery.product_id
    attempts, created = delivery.attempts + 1, delivery.created_at
    session.commit()
    status, error = None, build_error
    if body is not None and not secrets_now:
        error = "the exchange has no signing secret"
    elif body is not None:
        try:
            endpoint = push.check_endpoint(endpoint_url, allow_private=settings.allow_private)
            status, excerpt = push.post(endpoint, body.encode(), push.signed_headers(secrets_now, message_id, now, body),
                                        timeout=settings.timeout)
            if not 200 <= status < 300:
                error = f"HTTP {status}: {excerpt[:500]}"
        except push.EndpointRefused as exc:
            error = exc.reason
        except Exception as exc:  # noqa: BLE001 - a network error, a bad answer…: one failed attempt
            error = f"{type(exc).__name__}: {exc}"[:500]
    if status is not None and 200 <= status < 300:
        keep, note = _listing_from(excerpt, exchange_id, product_id) if not deleted else (None, "")
        _finish(session, delivery_id, lease, then=keep, status=DeliveryStatus.delivered, attempts=attempts,
                last_status=status, last_error=note, sent_version=version, sent_deleted=deleted, delivered_at=utcnow())
        return DeliveryStatus.delivered
    if status == 410:
        if _finish(session, delivery_id, lease, status=DeliveryStatus.dead, attempts=attempts, last_status=status,
                   last_error=f"{error} (410 Gone: push to this exchange disabled)"):
            session.execute(update(Exchange).where(Exchange.id == exchange_id).values(enabled=False))
            session.commit()
            log.warning("exchange %s answered 410 Gone: push disabled", exchange_id)
        return DeliveryStatus.dead
    later = utcnow()
    if (later - created).total_seconds() >= settings.give_up:
        _finish(session, delivery_id, lease, status=DeliveryStatus.dead, attempts=attempts, last_status=status,
                last_error=error)
        return DeliveryStatus.dead
    wait = push.backoff(attempts, base=settings.retry_base, cap=settings.retry_cap)
    _finish(session, delivery_id, lease, attempts=attempts, last_status=status, last_error=error,
            next_attempt_at=later + dt.timedelta(seconds=wait))
    return DeliveryStatus.pending


def run_once(session, settings: Settings, limit: int = 20) -> int:
    """Claim and send one round; returns how many were claimed."""
    claimed = claim(session, settings, limit)
    for delivery_id, lease in claimed:
        try:
            deliver(session, delivery_id, settings, lease)
        except Exception:  # noqa: BLE001 - one broken row must not stop the others
            session.rollback()
            log.exception("delivery %s failed unexpectedly; its lease will expire and it is retried", delivery_id)
    return len(claimed)


def next_due_in(session) -> float | None:
    """Seconds until a pending delivery can next be claimed (0: now), None when none is
    pending.  A leased row, or one waiting for its product's delivery in flight, counts from
    the end of that lease."""
    now = utcnow()
    rows = session.execute(select(Delivery.exchange_id, Delivery.product_id, Delivery.next_attempt_at,
                                  Delivery.locked_until)
                           .join(Exchange, Exchange.id == Delivery.exchange_id)
                           .where(Delivery.status == DeliveryStatus.pending, Exchange.enabled.is_(True))
                           .order_by(Delivery.next_attempt_at).limit(200)).all()
    session.commit()
    if not rows:
        return None
    leases: dict[tuple, dt.datetime] = {}
    for exchange_id, product_id, _, until in rows:
        if until and until > now:
            key = (exchange_id, product_id)
            leases[key] = max(leases.get(key, until), until)
    ready = min(max(at, leases.get((e, p), at)) for e, p, at, _ in rows)
    return max(0.0, (ready - now).total_seconds())


def replay(session, delivery: Delivery) -> None:
    """An officer sends a dead delivery again: pending, due now, attempts counted afresh."""
    now = utcnow()
    delivery.status = DeliveryStatus.pending
    delivery.attempts = 0
    delivery.next_attempt_at = now
    delivery.created_at = now  # the 3-day window starts again
    delivery.locked_until = None
