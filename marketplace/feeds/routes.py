"""Pull feeds: ``GET /feeds/<exchange>.<format>`` (docs/architecture.md, "Exchanges").

Authenticated by the exchange's token, as ``Authorization: Bearer <token>`` or as HTTP Basic
with the exchange's code as the user name and the token as the password (what a scheduled
fetch such as Google Merchant Center's supplies); 401 without or with a wrong one (both
challenges offered), 404 for an unknown exchange or a format it does not take; ``?updated_since=``
for deltas with tombstones, ``ETag``/``If-None-Match`` → 304 and ``Last-Modified``.  The
body is streamed.  Errors are JSON: ``{"error": {"code", "message", "field"}}``.
"""
from __future__ import annotations

import hmac

import orjson
from flask import Blueprint, current_app, jsonify, request

from ..extensions import csrf, db, limiter
from ..security import bearer_token
from ..models.base import local_today
from . import dfc, listings
from .formats import MEDIA_TYPES
from .service import FeedError, dfc_enterprise_document, dfc_item_document, find_exchange, open_feed, parse_since

bp = Blueprint("feeds", __name__)


@bp.app_template_global()
def buy_links(product_id: int, sellable: bool) -> list[listings.BuyLink]:
    """The product's "buy again" links (:func:`listings.buy_links`).  A template global so
    that the product page (catalogue) and the stamp page (scan), which cannot import feeds
    (feeds imports both), give the one answer."""
    return listings.buy_links(db.session, product_id, sellable=sellable,
                              base_url=current_app.config["PUBLIC_BASE_URL"], today=local_today())


def _error(status: int, code: str, message: str, field: str | None = None):
    response = jsonify({"error": {"code": code, "message": message, "field": field}})
    response.status_code = status
    if status == 401:
        response.headers.add("WWW-Authenticate", 'Bearer realm="feeds"')
        response.headers.add("WWW-Authenticate", 'Basic realm="feeds", charset="UTF-8"')
    response.headers["Cache-Control"] = "no-store"
    return response


def _token(code: str) -> str | None:
    """The token sent as a bearer token, or as the password of HTTP Basic whose user is the
    exchange's code (compared in constant time; the token itself by its hash)."""
    token = bearer_token()
    auth = request.authorization
    if token is None and auth is not None and auth.type == "basic":
        if hmac.compare_digest((auth.username or "").encode(), code.encode()):
            token = auth.password or None
    return token


@bp.route("/feeds/<code>.<fmt>", methods=["GET", "HEAD"])
@limiter.exempt
@csrf.exempt
def feed(code: str, fmt: str):
    exchange = find_exchange(db.session, code)
    if exchange is None:
        return _error(404, "unknown_exchange", f"no exchange {code!r}")
    if not exchange.token_matches(_token(code)):
        return _error(401, "unauthorized", "send the exchange's feed token as 'Authorization: Bearer <token>', "
                                           "or as the password of HTTP Basic with the exchange's code as the user")
    try:
        since = parse_since(request.args.get("updated_since"))
        feed = open_feed(db.session, exchange, fmt, base_url=current_app.config["PUBLIC_BASE_URL"],
                         updated_since=since)
    except FeedError as exc:
        return _error(404 if exc.code == "unknown_format" else 400, exc.code, exc.message, exc.field)
    # Conditional requests are answered before anything is built; the body itself is
    # streamed (no Content-Length: the size is not known until the last item).
    if feed.etag in request.if_none_match or (
            not request.if_none_match and request.if_modified_since and feed.last_modified
            and feed.last_modified.replace(microsecond=0) <= request.if_modified_since):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(feed.chunks, mimetype=feed.media_type)
        response.headers["Content-Disposition"] = f'inline; filename="{feed.filename}"'
    response.set_etag(feed.etag)
    if feed.last_modified:
        response.last_modified = feed.last_modified
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.add("Authorization")
    return response


def _json_ld(document: dict | None):
    if document is None:
        return _error(404, "not_found", "no such node in the DFC catalogue")
    response = current_app.response_class(orjson.dumps(document), mimetype=MEDIA_TYPES["jsonld"])
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"  # read by other platforms' pages too
    return response


# The DFC catalogue's IRIs dereference (issue 16, point 4): public, as the product pages are.
@bp.route("/ns/dfc")
def dfc_vocabulary():
    return _json_ld(dfc.vocabulary(current_app.config["PUBLIC_BASE_URL"]))


@bp.route("/dfc/ocop-<int:product_id>")
def dfc_item(product_id: int):
    return _json_ld(dfc_item_document(db.session, product_id, base_url=current_app.config["PUBLIC_BASE_URL"]))


@bp.route("/dfc/enterprises/<slug>")
def dfc_enterprise(slug: str):
    return _json_ld(dfc_enterprise_document(db.session, slug, base_url=current_app.config["PUBLIC_BASE_URL"]))
