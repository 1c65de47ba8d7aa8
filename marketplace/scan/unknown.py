"""The one answer to a serial that does not exist (docs/decisions/0002-authenticity.md, issue 14).

``/s/<made-up>``, ``/01/<gtin>/10/<lot>/21/<made-up>``, ``/01/<gtin>/21/<made-up>`` and their
compressed forms all get this answer: the same counterfeit page, the same status, counted
against the same per-client limit (``SCAN_NOT_FOUND_RATE``).  It tells nothing about which
serials exist, so walking through serials teaches nothing and soon gets 429.

Each answered probe is recorded (:class:`recorder.Probe`: the GTIN and lot asked for, the
province when a trusted proxy tells it, the time; never the client's address) so officers
see someone trying serials on a product.  Refused ones (429) are not: the limit also bounds
what one client can write.
"""
from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import parse as parse_limit

from .. import geo
from ..extensions import limiter
from ..models.base import utcnow
from ..security import complete_headers
from . import page
from .recorder import Probe, app_recorder
from .scanner import client_key

LIMIT_KEY = "scan-not-found"


def province_from_request() -> int | None:
    """The province code a trusted proxy put in ``SCAN_PROVINCE_HEADER``, if any."""
    return province_in(current_app.config, request.headers)


def province_in(config, headers) -> int | None:
    """The province code ``headers`` (a request's, or Werkzeug's ``EnvironHeaders`` of a WSGI
    environ) carry in ``SCAN_PROVINCE_HEADER``, when it is set and names a province."""
    header = config.get("SCAN_PROVINCE_HEADER")
    if not header:
        return None
    try:
        code = int(headers.get(header, ""))
    except ValueError:
        return None
    return code if geo.province(code) else None


NO_STORE = (
    ("Referrer-Policy", "no-referrer"),  # serials never leak through outbound links
    ("Cache-Control", "no-store"),
    # The language comes from Accept-Language or the lang cookie; JSON from Accept.
    ("Vary", "Accept, Accept-Language, Cookie"),
)
# A stamp page's headers, whole, made once (the busiest page: no header set one by one)
PAGE_HEADERS = complete_headers(NO_STORE, html=True)


def no_store(response):
    headers = response.headers
    for name, value in NO_STORE:
        headers[name] = value
    return response


def answer(*, gtin: str | None = None, lot: str | None = None, product_id: int | None = None):
    """The counterfeit page (404), or 429 once this client has asked for too many."""
    item = parse_limit(current_app.config["SCAN_NOT_FOUND_RATE"])
    html = page.render("scan/not_found.html", here="/", hotline_number=current_app.config.get("REPORT_HOTLINE"))
    if current_app.config.get("RATELIMIT_ENABLED", True) and not limiter.limiter.hit(
            item, LIMIT_KEY, client_key(get_remote_address())):
        response = current_app.make_response((html, 429))
        response.headers["Retry-After"] = str(item.get_expiry())
        return no_store(response)
    if current_app.config["SCAN_RECORDING"]:
        rec = app_recorder()
        rec.probe(Probe(utcnow(), gtin, lot, product_id, province_from_request()))
        if rec.interval == 0:
            rec.flush()
    return no_store(current_app.make_response((html, 404)))
