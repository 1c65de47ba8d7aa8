"""A feed of one exchange in one format: what the pull route and ``flask feed export`` share."""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, Sequence

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, object_session

from .. import params, public_facts
from ..transactions import reads
from ..models import Delivery, DeliveryStatus, Exchange, ExchangePage, Producer, ProducerStatus, Product
from ..models.base import SETTLE, day_bounds, local_today, utcnow
from . import canonical, dfc, formats, itemcache, push
from ..outbox import push_targets
from .profiles import FORMATS, Profile, exchange_name, profile_of, reasons

# After a secret is replaced, the old one keeps signing (beside the new) this long, so a
# receiver can switch at its own pace.
ROTATION_OVERLAP = dt.timedelta(hours=24)

class FeedError(ValueError):
    """A request for a feed that cannot be made; ``code`` and ``field`` say what was wrong."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def find_exchange(session, code: str) -> Exchange | None:
    return session.scalars(select(Exchange).where(Exchange.code == code)).first()


def parse_since(value: str | None) -> dt.datetime | None:
    """``updated_since``: ISO 8601 date or date-time; without an offset it means UTC."""
    if value is None or value == "":
        return None
    try:
        return params.parse_moment(value, date_ok=True)
    except params.ParamError as exc:
        if exc.reason == "range":
            raise FeedError("invalid_updated_since", f"updated_since must be between {params.EARLIEST} and "
                            f"{params.LATEST}", "updated_since") from None
        raise FeedError("invalid_updated_since", "updated_since must be an ISO 8601 date-time, "
                        "e.g. 2025-11-01T00:00:00+07:00", "updated_since") from None


@contextlib.contextmanager
def reading_session(engine):
    """A session of its own for a long read (a streamed feed, an export): it needs no Flask
    context, and on SQLite its transaction stays deferred, so writers are never held up."""
    with engine.connect() as connection:
        with reads():  # only around BEGIN: the stream's generator must not carry the scope
            connection.begin()
        session = Session(bind=connection)  # joins the reader transaction begun above
        try:
            yield session
        finally:
            session.close()


@dataclass
class Feed:
    exchange: Exchange
    profile: Profile
    fmt: str
    media_type: str
    filename: str
    etag: str
    last_modified: dt.datetime | None
    chunks: Iterator[bytes]


def last_modified(latest: dt.datetime | None, today: dt.date, now: dt.datetime) -> dt.datetime | None:
    """The feed's ``Last-Modified``, or None to send none (clients then go by the ETag): the
    newest change, or the start of ``today`` in Vietnam when later (the feed changes by the
    date too: recognitions and certificates lapse).  HTTP carries whole seconds, so a client
    asking ``If-Modified-Since`` with it is told 304 for any change stamped within that
    second: the date is given only once no change still to appear can be (``base.SETTLE``)."""
    moment = max(m for m in (latest, day_bounds(today)[0]) if m is not None)
    return moment if moment.replace(microsecond=0) + dt.timedelta(seconds=1) + SETTLE <= now else None


def open_feed(session, exchange: Exchange, fmt: str, *, base_url: str, updated_since: dt.datetime | None = None,
              today: dt.date | None = None) -> Feed:
    """Check the request and prepare the stream (nothing is fetched until it is iterated)."""
    profile = profile_of(exchange)
    if fmt not in FORMATS or fmt not in profile.formats:
        raise FeedError("unknown_format", f"{exchange.code} feeds come as {', '.join(profile.formats)}", "format")
    today = today or local_today()
    state, latest = canonical.feed_state(session, today=today)
    if exchange.profile_changed_at and (latest is None or exchange.profile_changed_at > latest):
        latest = exchange.profile_changed_at  # a profile edit changes every item of the feed
    fingerprint = json.dumps([canonical.ITEM_SCHEMA, exchange.code, fmt, profile.as_dict(), base_url,
                              updated_since.isoformat() if updated_since else None, state], default=str)
    etag = hashlib.sha256(fingerprint.encode()).hexdigest()[:32]
    generated_at = latest or utcnow()
    delta = updated_since is not None
    engine, code, exchange_id = session.get_bind(), exchange.code, exchange.id

    def write(items):
        if code == "dfc":
            return dfc.write_catalog(profile, items, base_url=base_url, generated_at=generated_at)
        if fmt == "json":
            return formats.write_json(profile, items, generated_at=generated_at)
        if fmt == "csv":
            return formats.write_csv(profile, items, delta=delta)
        if fmt == "xlsx":
            return formats.write_xlsx(profile, items, delta=delta)
        return formats.write_rss(profile, items, title=f"Chợ OCOP — {profile.name}", link=base_url + "/",
                                 description="Sản phẩm OCOP và nông sản có truy xuất nguồn gốc")

    def refused_as_deleted(items):
        # In a delta, an item the exchange now refuses (its photo removed…) must leave the
        # exchange, not linger there as it was: it goes as a tombstone.
        for item in items:
            if not item.get("deleted") and reasons(profile, item):
                item = canonical.as_tombstone(item)
            yield item

    def body():
        with reading_session(engine) as reader:
            if fmt == "json" and code != "dfc" and not delta:  # what exchanges poll: items kept between feeds
                yield from formats.json_document(profile, itemcache.json_items(
                    reader, engine, exchange_id, profile, base_url=base_url, today=today), generated_at=generated_at)
                return
            items = canonical.iter_items(reader, base_url=base_url, today=today, updated_since=updated_since)
            yield from formats.to_bytes(write(refused_as_deleted(items) if delta else items))

    media_type = formats.MEDIA_TYPES["jsonld" if exchange.code == "dfc" else fmt]
    return Feed(exchange=exchange, profile=profile, fmt=fmt, media_type=media_type,
                filename=f"{exchange.code}-{today.isoformat()}.{fmt}", etag=etag,
                last_modified=last_modified(latest, today, utcnow()),
                chunks=body())


def rotate_secret(exchange: Exchange, secret: str) -> None:
    if exchange.secret and exchange.secret != secret:
        exchange.previous_secret = exchange.secret
        exchange.previous_secret_until = utcnow() + ROTATION_OVERLAP
    exchange.secret = secret


def configure_push(exchange: Exchange, *, endpoint: str | None = None, secret: str | None = None,
                   enabled: bool | None = None, rotate: bool = False, allow_private: bool = False) -> str | None:
    """Set an exchange's push endpoint, secret and switch (``None``: leave as is).

    The endpoint must be http(s) and, unless ``allow_private``, resolve to public addresses
    only (checked again before every send).  An exchange with an endpoint and no secret gets a
generated one (and with
    ``rotate`` a new one replaces the current, which stays valid for ``ROTATION_OVERLAP``).
    Turning pushes on queues the whole catalogue for the exchange (a full resend).
    Returns a generated secret, to be shown once, or None.  Raises ``push.EndpointRefused``.
    """
    if endpoint is not None:
        endpoint = endpoint.strip()
        if endpoint:
            push.check_endpoint(endpoint, allow_private=allow_private)
        exchange.endpoint_url = endpoint
    generated = None
    if secret is not None:
        if not push.valid_secret(secret.strip()):
            raise push.EndpointRefused("the secret must be whsec_ followed by base64 of at least 24 bytes")
        rotate_secret(exchange, secret.strip())
    elif rotate or (not exchange.secret and exchange.endpoint_url):
        generated = push.new_secret()
        rotate_secret(exchange, generated)
    if enabled is not None:
        if enabled and not exchange.endpoint_url:
            raise push.EndpointRefused("set an endpoint before turning pushes on")
        switched_on = enabled and not exchange.enabled
        exchange.enabled = enabled
        if switched_on:  # the exchange gets the whole catalogue first, then every change
            session = object_session(exchange)
            session.flush()
            enqueue_all(session, [exchange])
    return generated


def enqueue_all(session, exchanges: list[Exchange] | None = None, chunk: int = 1000) -> int:
    """A full resend: a delivery of every product ever listed to each exchange (the enabled
    push exchanges when none are named).  Returns the number of rows queued."""
    targets = [e.id for e in exchanges] if exchanges is not None else push_targets(session)
    if not targets:
        return 0
    now = utcnow()
    count = 0
    products = session.execute(select(Product.id, Product.version).where(Product.published_at.is_not(None))
                               .order_by(Product.id)).all()
    for start in range(0, len(products), chunk):
        rows = [{"exchange_id": e, "product_id": pid, "version": version, "status": DeliveryStatus.pending,
                 "attempts": 0, "next_attempt_at": now, "last_error": "", "created_at": now}
                for pid, version in products[start:start + chunk] for e in targets]
        session.execute(insert(Delivery), rows)
        count += len(rows)
    return count


def all_exchanges(session) -> list[Exchange]:
    return list(session.scalars(select(Exchange).order_by(Exchange.id)))


def preflight(session, exchanges: list[Exchange], *, base_url: str, today: dt.date | None = None) -> list[dict]:
    """Every listed product with the reasons each exchange would refuse it (officers' table):
    ``[{"item", "reasons": {code: [Reason]}}]`` for items refused somewhere."""
    today = today or local_today()
    profiles = [(e.code, profile_of(e)) for e in exchanges]
    refused = []
    for item in canonical.iter_items(session, base_url=base_url, today=today):
        found = {code: reasons(profile, item) for code, profile in profiles}
        if any(found.values()):
            refused.append({"item": item, "reasons": found})
    return refused


def dfc_item_document(session, product_id: int, *, base_url: str, today: dt.date | None = None) -> dict | None:
    """What ``<base>/dfc/ocop-<id>`` answers: the product's DFC nodes, while the DFC feed
    carries it (None: not found)."""
    exchange = find_exchange(session, "dfc")
    item = canonical.item_for(session, product_id, base_url=base_url, today=today or local_today())
    profile = profile_of(exchange) if exchange is not None else None
    if profile is None or item is None or item.get("deleted") or reasons(profile, item):
        return None
    return dfc.document(dfc.item_nodes(item, base_url, profile), base_url)


def dfc_enterprise_document(session, slug: str, *, base_url: str, today: dt.date | None = None) -> dict | None:
    """What ``<base>/dfc/enterprises/<slug>`` answers: the producer as a DFC enterprise, with
    what the DFC feed carries of its products (None: no such producer in the feed)."""
    exchange = find_exchange(session, "dfc")
    producer = session.scalars(select(Producer).where(Producer.slug == slug)).first()
    if exchange is None or producer is None or producer.status != ProducerStatus.approved.value:
        return None
    profile = profile_of(exchange)
    ids = list(session.scalars(select(Product.id).where(Product.producer_id == producer.id).order_by(Product.id)))
    items = [item for _, item, _ in canonical.built_items(session, ids, base_url=base_url, today=today or local_today())
             if not reasons(profile, item)]
    if not items:
        return None
    supplies = [f"{dfc.node_base(i, base_url)}#product" for i in items]
    manages = [f"{dfc.node_base(i, base_url)}#item" for i in items]
    return dfc.document(dfc.enterprise_nodes(items[0]["producer"], base_url, supplies, manages), base_url)


def title_limits(session) -> list[tuple[str, int]]:
    """``(exchange name, limit)`` of the exchanges whose titles are limited, shortest first:
    what the product form tells a producer about its short name."""
    found = []
    for exchange in all_exchanges(session):
        limit = profile_of(exchange).limits.get("title")
        if limit is not None:
            found.append((exchange_name(exchange.code, exchange.name), limit))
    return sorted(found, key=lambda pair: pair[1])


def short_name_needed(limits: list[tuple[str, int]], name: str, short_name: str) -> list[tuple[str, int]]:
    """The exchanges (of ``title_limits``) that would refuse a product named ``name``
    because neither it nor its ``short_name`` fits their title."""
    return [(exchange, limit) for exchange, limit in limits
            if len(name or "") > limit and not (short_name and len(short_name) <= limit)]


def delivered_pushes(session, product_ids=None) -> dict[tuple[int, int], tuple[int | None, bool]]:
    """``(exchange id, product id)`` → (version, was a deletion) of the newest push each
    exchange acknowledged for each product (all products, or ``product_ids``)."""
    newest = select(func.max(Delivery.id)).where(Delivery.status == DeliveryStatus.delivered) \
        .group_by(Delivery.exchange_id, Delivery.product_id)
    if product_ids is not None:
        newest = newest.where(Delivery.product_id.in_(list(product_ids)))
    rows = session.execute(select(Delivery.exchange_id, Delivery.product_id, Delivery.sent_version,
                                  Delivery.sent_deleted).where(Delivery.id.in_(newest)))
    return {(r.exchange_id, r.product_id): (r.sent_version, bool(r.sent_deleted)) for r in rows}


REFUSED = ("refused",)  # the reason of a kept refusal (a figure counts states; the product page shows the reasons)


def _few(product_ids) -> list[int] | None:
    """``product_ids`` as an IN list when they are few; None (every row) for a whole catalogue."""
    return list(product_ids) if len(product_ids) <= 500 else None


def pushed_item_of(pushed: dict, exchange_id: int, product_id: int) -> bool:
    """The newest push the exchange acknowledged for the product carried the item (of
    :func:`delivered_pushes`; none at all: no item)."""
    return not pushed.get((exchange_id, product_id), (None, True))[1]


def exchange_listings(session, exchanges: list[Exchange], preflight: dict[int, dict[int, Sequence]], *,
                      listed: dict[int, bool]) -> dict[int, list[public_facts.ExchangeListing]]:
    """Per product id of ``preflight``, where it stands on each exchange: the one definition
    of "listed on an exchange" (:func:`public_facts.exchange_listing`) that the product pages
    and the officers' figures share.  ``preflight``: per product, per exchange id, why the
    exchange would refuse its item (:func:`preflight_of`); ``listed``: whether each product
    is listed."""
    if not preflight:
        return {}
    few = _few(preflight)
    pushed = delivered_pushes(session, few)
    waiting = select(Delivery.product_id, Delivery.exchange_id, func.count()).where(
        Delivery.status == DeliveryStatus.pending).group_by(Delivery.product_id, Delivery.exchange_id)
    if few is not None:
        waiting = waiting.where(Delivery.product_id.in_(few))
    pending = {(product_id, exchange_id): n for product_id, exchange_id, n in session.execute(waiting)}
    # (read once: a whole catalogue asks them for every product)
    sides = [(exchange.id, exchange.code, exchange.pullable) for exchange in exchanges]
    out: dict[int, list] = {}
    for product_id, why in preflight.items():
        rows = []
        for exchange_id, code, pullable in sides:
            rows.append(public_facts.exchange_listing(
                code, listed=listed[product_id], reasons=why.get(exchange_id, ()),
                pullable=pullable, pushed_item=pushed_item_of(pushed, exchange_id, product_id),
                sent_version=pushed.get((exchange_id, product_id), (None,))[0],
                pending=pending.get((product_id, exchange_id), 0)))
        out[product_id] = rows
    return out


def exchange_states(session, exchanges: list[Exchange], product_ids: Sequence[int],
                    refused: dict[int, set[int]]) -> Counter:
    """``(exchange code, state)`` → how many of the listed ``product_ids`` stand so there,
    by the same definition as :func:`exchange_listings` (:func:`public_facts.exchange_listing`,
    asked once per distinct set of what decides the state, not once per product: a country's
    catalogue is 20,000 products on every exchange).  ``refused``: per exchange id, the
    products its pre-flight refuses (:func:`refusals`)."""
    pushed = delivered_pushes(session, _few(product_ids))
    counts: Counter = Counter()
    for exchange in exchanges:
        pullable, refusing = exchange.pullable, refused.get(exchange.id, set())
        inputs = Counter((product_id in refusing, pushed_item_of(pushed, exchange.id, product_id))
                         for product_id in product_ids)
        for (is_refused, pushed_item), n in inputs.items():
            listing = public_facts.exchange_listing(exchange.code, listed=True, reasons=REFUSED if is_refused else (),
                                                    pullable=pullable, pushed_item=pushed_item)
            counts[(exchange.code, listing.state.value)] += n
    return counts


def refusals(session, *, base_url: str, today: dt.date, products=None, keep: bool = True,
             exchanges: list[Exchange] | None = None) -> dict[int, set[int]]:
    """Per exchange id (of ``exchanges``, default all), the public products (of ``products``)
    it refuses, by the verdicts kept with the feeds' items (:func:`itemcache.refusals`; those
    that no longer hold are made again and kept).  The daily job runs it for the whole
    catalogue (:func:`keep_verdicts`), so the officers' figure reads kept verdicts even for
    exchanges that never pull a feed."""
    exchanges = all_exchanges(session) if exchanges is None else exchanges
    return itemcache.refusals(session, session.get_bind(), [(e.id, profile_of(e)) for e in exchanges],
                              base_url=base_url, today=today, products=products, keep=keep)


def keep_verdicts(session, *, base_url: str, today: dt.date) -> None:
    """The daily job's part: every exchange's verdict on every public product made where it
    no longer holds, and kept (read in a reading transaction, so that keeping, in its own
    short transactions, does not wait behind it on SQLite)."""
    session.commit()
    with reads():
        refusals(session, base_url=base_url, today=today)
    session.commit()


def preflight_of(exchanges: list[Exchange], item: dict | None) -> dict[int, Sequence]:
    """Per exchange id, the pre-flight reasons against ``item`` (None: no item, no reasons)."""
    return {e.id: reasons(profile_of(e), item) if item else () for e in exchanges}


def listing(session, product: Product, *, base_url: str, today: dt.date | None = None) -> list[dict]:
    """Per exchange, for one product: its state there (listed, waiting, refused, not listed),
    why it would be refused (pre-flight, also before it is published), the version the
    exchange last received, deliveries still pending, and its page there (``page``: an
    :class:`~marketplace.models.ExchangePage`, or None)."""
    today = today or local_today()
    item = canonical.item_for(session, product.id, base_url=base_url, today=today, preview=True)
    listed = public_facts.is_listed(product.status, product.producer.status)
    exchanges = all_exchanges(session)
    states = exchange_listings(session, exchanges, {product.id: preflight_of(exchanges, item)},
                               listed={product.id: listed})[product.id]
    pages = {row.exchange_id: row for row in session.scalars(
        select(ExchangePage).where(ExchangePage.product_id == product.id))}
    return [{"exchange": exchange, "state": state, "page": pages.get(exchange.id)}
            for exchange, state in zip(exchanges, states)]
