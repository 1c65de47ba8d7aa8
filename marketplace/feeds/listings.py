"""A product's own page on each exchange (:class:`~marketplace.models.ExchangePage`) and the
"buy again" links that lead buyers there (issue 20, point 3).

The page is named by the exchange itself (a push it acknowledges with a JSON object,
``{"url": "https://…", "id": "…"}``: README, "Pushes", kept in the transaction that records
the acknowledgement) or typed by a province officer (the product's page under ``/admin/``),
whose page stands before the exchange's until cleared.  A link shows on the product page and
the stamp page only where :func:`public_facts.buyable_on` says so, from the one definition of
"listed on an exchange" the officers' figures use (:func:`service.exchange_listings`).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select

from .. import audit, public_facts
from ..models import Exchange, ExchangePage, Product
from ..models.base import utcnow
from .profiles import exchange_short_name
from .service import REFUSED, all_exchanges, delivered_pushes, pushed_item_of, refusals

log = logging.getLogger(__name__)
MAX_URL = 500
MAX_ID = 120
AUDITED = ("typed_url", "named_url", "external_id")


class ListingError(ValueError):
    """A page URL, or an exchange's answer, that cannot be used; ``code`` says why
    (``vocab.domain_error`` for an officer's), ``field`` what."""

    def __init__(self, code: str, field: str = "url"):
        super().__init__(code)
        self.code, self.field = code, field


def clean_url(value: str) -> str:
    """An absolute https URL with a host and no credentials or spaces, at most ``MAX_URL``
    characters: what a buyer's phone opens safely (nothing that runs, like ``javascript:``,
    and nothing a network in between could rewrite)."""
    value = (value or "").strip()
    if len(value) > MAX_URL:
        raise ListingError("listing_url_too_long")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise ListingError("listing_url_invalid") from None
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password \
            or any(c.isspace() or ord(c) < 32 for c in value):
        raise ListingError("listing_url_invalid")
    return value


def _page(session, exchange_id: int, product_id: int) -> ExchangePage:
    """The product's row for the exchange, made if missing (an insert that yields to one made
    meanwhile by another worker or officer, so neither fails).  The INSERT … ON CONFLICT is
    the database's own, imported here from its dialect (which its engine has loaded already),
    so a process on the other database never loads this one's."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(ExchangePage).values(product_id=product_id, exchange_id=exchange_id, changed_at=utcnow())
                    .on_conflict_do_nothing())
    return session.get(ExchangePage, (product_id, exchange_id), populate_existing=True)


def page_of(session, exchange_id: int, product_id: int) -> ExchangePage | None:
    return session.get(ExchangePage, (product_id, exchange_id))


def set_url(session, exchange: Exchange, product: Product, url: str, *, actor=None) -> bool:
    """An officer's page of ``product`` on ``exchange`` (blank: none of its own; the page the
    exchange named, if any, shows again).  Raises :class:`ListingError`; audited; False when
    nothing changed."""
    url = clean_url(url) if (url or "").strip() else None
    found = page_of(session, exchange.id, product.id)
    if (found.typed_url if found else None) == url:
        return False
    before = audit.snapshot(found, AUDITED) if found else None
    found = _page(session, exchange.id, product.id)
    found.typed_url, found.changed_at, found.changed_by_id = url, utcnow(), getattr(actor, "id", None)
    audit.record(session, "exchange_page.typed", product, actor=actor, before=before,
                 after=audit.snapshot(found, AUDITED), summary=f"{exchange.code}: {url or '—'}")
    return True


def from_answer(answer: str) -> tuple[str | None, str | None]:
    """The product's page and id on the exchange named by its 2xx answer to a push: a JSON
    object with ``url`` (and ``id``).  ``(None, None)`` for any other answer (empty, not
    JSON, no ``url``: many receivers answer ``{"ok": true}``); raises :class:`ListingError`
    for an object that cannot be read (cut at the answer's 2 KiB) or a ``url`` or ``id`` that
    cannot be used."""
    if not answer or not answer.lstrip().startswith("{"):
        return None, None
    try:
        found = json.loads(answer)
    except ValueError:
        raise ListingError("listing_answer_unreadable", "answer") from None
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
    """Keep the page the exchange named for the product (the caller commits).  Audited, with
    no one acting, when it changes; False when it named what we had."""
    found = page_of(session, exchange_id, product_id)
    external_id = external_id or (found.external_id if found else None)
    if found is not None and (found.named_url, found.external_id) == (url, external_id):
        return False
    before = audit.snapshot(found, AUDITED) if found else None
    found = _page(session, exchange_id, product_id)
    found.named_url, found.external_id, found.changed_at, found.changed_by_id = url, external_id, utcnow(), None
    audit.record(session, "exchange_page.named", target_type="product", target_id=product_id, before=before,
                 after=audit.snapshot(found, AUDITED), summary=f"{found.exchange.code}: {url}", system="exchange")
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
    urls = {page.exchange_id: page.url for page in session.scalars(
        select(ExchangePage).where(ExchangePage.product_id == product_id)) if page.url}
    if not urls:
        return []
    exchanges = [exchange for exchange in all_exchanges(session) if exchange.id in urls]
    # (a public page does not write: verdicts that no longer hold are made, not kept)
    refused = refusals(session, base_url=base_url, today=today, products=[product_id], keep=False,
                       exchanges=exchanges)
    pushed = delivered_pushes(session, [product_id])
    links = []
    for exchange in exchanges:
        state = public_facts.exchange_listing(  # (sellable: listed)
            exchange.code, listed=True, reasons=REFUSED if product_id in refused.get(exchange.id, ()) else (),
            pullable=exchange.pullable, pushed_item=pushed_item_of(pushed, exchange.id, product_id))
        if public_facts.buyable_on(state, sellable=sellable, url=urls[exchange.id]):
            links.append(BuyLink(exchange.code, exchange_short_name(exchange.code, exchange.name), urls[exchange.id]))
    return links
