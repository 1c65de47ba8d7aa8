"""A product's own page on each exchange (:class:`~marketplace.models.ExchangeListing`) and the
"buy again" links that lead buyers there (issue 20, point 3).

The page's URL comes from an officer (the product's page under ``/admin/``) or from the
exchange itself: a push the exchange acknowledges with a JSON object that names it,
``{"url": "https://…", "id": "…"}`` (README, "Pushes"), is taken in the same transaction
that records the acknowledgement.  A link shows on the product page and the stamp page only
where :func:`public_facts.buyable_on` says so, from the one definition of "listed on an
exchange" the officers' figures use (:func:`service.exchange_listings`).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from .. import audit, public_facts
from ..models import Exchange, ExchangeListing, ListingSource, Product
from ..models.base import utcnow
from .profiles import exchange_short_name
from .service import REFUSED, all_exchanges, delivered_pushes, pushed_item_of, refusals

log = logging.getLogger(__name__)
MAX_URL = 500
MAX_ID = 120
AUDITED = ("url", "external_id", "source")


class ListingError(ValueError):
    """A listing URL that cannot be used; ``code`` says why (``vocab.domain_error``)."""

    def __init__(self, code: str, field: str = "url"):
        super().__init__(code)
        self.code, self.field = code, field


def clean_url(value: str) -> str:
    """An absolute http(s) URL with a host and no credentials, at most ``MAX_URL`` characters
    (what a buyer's phone can open, and nothing that runs: no ``javascript:``)."""
    value = (value or "").strip()
    if len(value) > MAX_URL:
        raise ListingError("listing_url_too_long")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise ListingError("listing_url_invalid") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password \
            or any(c.isspace() or ord(c) < 32 for c in value):
        raise ListingError("listing_url_invalid")
    return value


def listing_of(session, exchange_id: int, product_id: int) -> ExchangeListing | None:
    return session.get(ExchangeListing, (product_id, exchange_id))


def set_url(session, exchange: Exchange, product: Product, url: str, *, actor=None) -> bool:
    """An officer's URL of ``product`` on ``exchange`` (blank: none).  Raises
    :class:`ListingError`; audited; False when nothing changed."""
    url = clean_url(url) if (url or "").strip() else None
    found = listing_of(session, exchange.id, product.id)
    if (found.url if found else None) == url:
        return False
    before = audit.snapshot(found, AUDITED) if found else None
    if found is None:
        found = ExchangeListing(product_id=product.id, exchange_id=exchange.id)
        session.add(found)
    found.url, found.source, found.changed_at, found.changed_by_id = url, ListingSource.officer, utcnow(), \
        getattr(actor, "id", None)
    audit.record(session, "exchange_listing.url", product, actor=actor, before=before,
                 after=audit.snapshot(found, AUDITED), summary=f"{exchange.code}: {url or '—'}")
    return True


def from_answer(answer: str) -> tuple[str | None, str | None]:
    """The product's URL and id on the exchange named by its 2xx answer to a push: a JSON
    object with ``url`` (and ``id``).  ``(None, None)`` for any other answer (empty, not
    JSON, no ``url``: many receivers answer ``{"ok": true}``); raises :class:`ListingError`
    for a ``url`` or ``id`` that cannot be used."""
    try:
        found = json.loads(answer) if answer and answer.lstrip().startswith("{") else None
    except ValueError:
        return None, None
    if not isinstance(found, dict) or found.get("url") in (None, ""):
        return None, None
    if not isinstance(found["url"], str):
        raise ListingError("listing_url_invalid")
    external = found.get("id")
    if external is not None and (isinstance(external, bool) or not (
            isinstance(external, (str, int)) and 0 < len(str(external)) <= MAX_ID)):
        raise ListingError("listing_id_invalid", "id")
    return clean_url(found["url"]), (str(external) if external is not None else None)


def take_from_answer(session, exchange_id: int, product_id: int, url: str, external_id: str | None) -> bool:
    """Keep what the exchange said of its page for the product (the caller commits; not
    audited: no one acted).  False when it said what we had."""
    found = listing_of(session, exchange_id, product_id)
    if found is not None and (found.url, found.external_id) == (url, external_id or found.external_id):
        return False
    if found is None:
        found = ExchangeListing(product_id=product_id, exchange_id=exchange_id)
        session.add(found)
    found.url, found.external_id = url, external_id or found.external_id
    found.source, found.changed_at, found.changed_by_id = ListingSource.exchange, utcnow(), None
    log.info("exchange %s names product %s's page: %s", exchange_id, product_id, url)
    return True


@dataclass(frozen=True)
class BuyLink:
    code: str
    name: str
    url: str


def buy_links(session, product_id: int, *, sellable: bool, base_url: str, today: dt.date) -> list[BuyLink]:
    """Where a buyer can buy the product on an exchange, in the exchanges' order: those whose
    page of it we know and where :func:`public_facts.buyable_on` holds (listed there, by the
    kept pre-flight verdicts and the acknowledged pushes, and sellable)."""
    if not sellable:  # (buyable_on would refuse every exchange: spare the queries)
        return []
    urls = {exchange_id: url for exchange_id, url in session.execute(
        select(ExchangeListing.exchange_id, ExchangeListing.url).where(
            ExchangeListing.product_id == product_id, ExchangeListing.url.is_not(None)))}
    if not urls:
        return []
    refused = refusals(session, base_url=base_url, today=today, products=[product_id])
    pushed = delivered_pushes(session, [product_id])
    links = []
    for exchange in all_exchanges(session):
        if exchange.id not in urls:
            continue
        state = public_facts.exchange_listing(  # (sellable: listed)
            exchange.code, listed=True, reasons=REFUSED if product_id in refused.get(exchange.id, ()) else (),
            pullable=exchange.feed_token_hash is not None, pushed_item=pushed_item_of(pushed, exchange.id, product_id))
        if public_facts.buyable_on(state, sellable=sellable, url=urls[exchange.id]):
            links.append(BuyLink(exchange.code, exchange_short_name(exchange.code, exchange.name), urls[exchange.id]))
    return links
