"""The catalogue's public pages, rendered once per state of the catalogue.

Buyers ask the same few searches ("mật ong", "gạo nếp"…) and open the same home page over
and over; rendering one (the products, their photos, OCOP stars, recalls, stock, a count for
the pages) took 10–25 ms, most of it the same each time.  A page is kept, per process, under:

- what was asked: the path and its query string, and the page's language;
- the state of the catalogue: the newest ``product.updated_at``, which moves with every
  change of anything a product card shows (the product, its photos, producer, OCOP
  recognitions, certificates, batches and recalls: ``marketplace.changes`` moves it and the
  product's ``version`` in the committing transaction); and which products changed in the
  last ``base.SETTLE`` and how often (how many; the sums of their ids, versions and products):
  a change is stamped before it commits, so one may appear with a stamp older than the
  newest and leave the maximum where it was (two app servers' clocks apart, or two commits
  in the other order), but it always moves these;
- for a product page, the product's own ``updated_at`` and ``version`` instead (exact: the
  page shows that product alone), its producer's bank account's last change (the transfer
  QR: not a fact of the product, so its version does not move for it) and what its "buy
  again" links follow: the newest acknowledgement of a push of the product, the newest
  change of its listing URLs and of any exchange;
- and the local date (recognitions and certificates lapse by the day).

One read (``rawsql.fetch_one``: indexed maxima, counts and sums) per request tells it.

Only for someone with no session (nothing personal on the page: no account links, no CSRF
token, no flashed message); anyone signed in gets a fresh page.  Pages are kept at most
``SIZE`` per process, the least recently used going first; a kept page of a state gone is
never served again (its key cannot come back) and ages out.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

from flask import current_app, request
from sqlalchemy import text

from .. import rawsql
from ..i18n import current_language
from ..models import listings_changed_sql
from ..models.base import SETTLE, local_today, utcnow

SIZE = 256
# the newest change of any product card, and the products changed since :recent (ix_product_updated_at)
_NEWEST_CHANGE = text(
    "SELECT (SELECT MAX(updated_at) FROM product), c.n, c.ids, c.versions, c.pairs FROM "
    "(SELECT COUNT(*) AS n, SUM(id) AS ids, SUM(version) AS versions, SUM(id * version) AS pairs FROM product "
    "WHERE updated_at >= :recent) c")
# a product page: that product, its producer's bank account (a removal leaves NULL) and what its
# "buy again" links follow, its exchanges (models.listings_changed_sql)
_CHANGE_OF_PRODUCT = text(
    "SELECT p.updated_at, p.version, (SELECT b.changed_at FROM bank_account b WHERE b.producer_id = p.producer_id), "
    + listings_changed_sql("p.id") + " FROM product p WHERE p.slug = :slug")


class PageCache:
    def __init__(self, size: int = SIZE):
        self.size = size
        self._pages: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            page = self._pages.get(key)
            if page is not None:
                self._pages.move_to_end(key)
            return page

    def put(self, key, page: str) -> None:
        with self._lock:
            self._pages[key] = page
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)


def anonymous() -> bool:
    """No session and no remembered login: the page shows nothing personal."""
    config = current_app.config
    return not (request.cookies.get(config["SESSION_COOKIE_NAME"])
                or request.cookies.get(config.get("REMEMBER_COOKIE_NAME", "remember_token")))


def catalogue_state(engine, product_slug: str | None = None) -> tuple:
    """The state a page is kept under; with ``product_slug``, a product page's, which adds
    what its links to the exchanges follow."""
    if product_slug is None:
        row = rawsql.fetch_one(engine, _NEWEST_CHANGE, {"recent": rawsql.timestamp(engine.dialect, utcnow() - SETTLE)})
    else:
        row = rawsql.fetch_one(engine, _CHANGE_OF_PRODUCT, {"slug": product_slug})
    return (*rawsql.state_values(row or ()), local_today())


def page(engine, render: Callable[[], str | tuple[str, int]], product_slug: str | None = None):
    """``render()``, or the page it made for the same question and catalogue state (a
    product page's: ``product_slug``).  A page that answers with a status of its own
    (``(page, 422)``: a refused form value) is not kept."""
    if not anonymous():
        return render()
    app = current_app._get_current_object()
    cache = app.extensions.get("catalogue_pages")
    if cache is None:
        cache = app.extensions.setdefault("catalogue_pages", PageCache())
    key = (request.full_path, current_language(), catalogue_state(engine, product_slug))
    found = cache.get(key)
    if found is None:
        found = render()
        if isinstance(found, str):
            cache.put(key, found)
    return found
