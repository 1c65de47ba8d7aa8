"""``/api/v1``: producers' and cooperatives' own software, mobile apps and officers.

This module defines the blueprint and what every request to it goes through (the token
is the only credential; a token's last use is recorded after the answer), and holds the
officers' deliveries, the public catalogue and the OpenAPI document.

Thin views: they check access with the same rules as the pages (:mod:`marketplace.access`:
another tenant's object is 404), call the same domain functions as the pages, and shape
the answer with :mod:`.shapes`.  Every operation is declared with
:func:`.framework.operation`, which also writes it into the OpenAPI document.  The other
operations live by resource: :mod:`.products` (producers, products, photos),
:mod:`.batches` (batches, recalls, the diary), :mod:`.stamps` (runs and stamps).
"""
from __future__ import annotations

from functools import partial

from flask import Blueprint, current_app, g, render_template, request
from flask_login import AnonymousUserMixin
from sqlalchemy import or_, select, update
from sqlalchemy.orm import selectinload

from ..access import scoped
from ..catalogue import service as catalogue
from ..catalogue.structured import absolute
from ..extensions import csrf, db
from ..internals import set_request_user
from ..models import ApiToken, Delivery, Exchange, Product
from ..models.base import delta_start, utcnow
from ..transactions import short_write
from . import answers as a
from . import schemas as s
from .framework import ApiError, bearer_user, error_response, fail, openapi_document, operation, page, schema_text
from .shapes import _since, catalogue_item

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # no cookies are read here: a bearer token is the only credential


@bp.app_template_filter("api_type")
def api_type(schema):
    return schema_text(schema)


@bp.before_request
def authenticate():
    """Token or nobody: Flask-Login's user for this request is the token's user (or
    anonymous), so a browser's session cookie never acts on the API."""
    if request.endpoint == "api.reference":
        return  # a page for people: it only reads who is logged in, to offer the token page
    set_request_user(bearer_user() or AnonymousUserMixin())


@bp.after_request
def finish(response):
    token_id = g.pop("api_touch_token", None)
    if token_id is not None and response.status_code < 500:
        response.call_on_close(partial(touch_token, current_app._get_current_object(), token_id))
    if request.path != "/api/v1/openapi.json":
        response.headers.setdefault("Cache-Control", "no-store")
    response.vary.add("Authorization")
    return response


def touch_token(app, token_id: int) -> None:
    """Record when a token was last used (at most once a minute), once the answer is sent:
    in a short transaction of its own that waits at most 1 s for SQLite's write lock, and
    is simply skipped when the database is busy."""
    try:
        with app.app_context(), short_write(db.engine, 1000) as conn:
            conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow()))
    except Exception:  # noqa: BLE001 (bookkeeping must never fail an answer already sent)
        app.logger.warning("could not record the use of API token %s", token_id)


@bp.errorhandler(ApiError)
def api_error(e: ApiError):
    db.session.rollback()
    return error_response(e.status, e.message, e.fields, e.code)


# ---- deliveries (officers) and the public catalogue -----------------------------------------------

@operation(bp, "/deliveries", summary="Pushes of product changes to the exchanges", tag="deliveries",
           access="officer", query=s.DeliveryListQuery, response=a.DeliveryPage)
def list_deliveries(query):
    stmt = scoped(select(Delivery).options(selectinload(Delivery.exchange)), Delivery)  # a commune officer's products
    if query.exchange:
        stmt = stmt.join(Exchange, Delivery.exchange_id == Exchange.id).where(Exchange.code == query.exchange)
    if query.status:
        stmt = stmt.where(Delivery.status == query.status)
    if query.updated_since is not None:  # queued, tried or delivered since then
        since = delta_start(query.updated_since)
        stmt = stmt.where(or_(Delivery.created_at >= since, Delivery.delivered_at >= since,
                              Delivery.next_attempt_at >= since))

    def item(d: Delivery) -> a.DeliveryOut:
        return a.DeliveryOut(id=d.id, exchange=d.exchange.code, product_id=d.product_id, version=d.version,
                             status=d.status, attempts=d.attempts, last_status=d.last_status,
                             last_error=d.last_error or "", sent_version=d.sent_version, created_at=d.created_at,
                             next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at)

    return page(stmt, Delivery.id, query, item)


@operation(bp, "/catalogue", summary="Published products of approved producers", tag="catalogue",
           access="public", query=s.CatalogueQuery, response=a.CataloguePage)
def catalogue_list(query):
    """Public: no token needed.  With ``updated_since``, products changed since then that are
    still listed; products that left the catalogue are not reported (the exchanges' feeds
    carry deletions)."""
    stmt = catalogue.public_products_query(q=query.q or "").order_by(None).options(selectinload(Product.batches))
    return page(_since(stmt, Product.updated_at, query), Product.id, query, catalogue_item)


@operation(bp, "/catalogue/<int:product_id>", summary="One published product", tag="catalogue",
           access="public", response=a.CatalogueItem)
def catalogue_get(product_id: int):
    product = db.session.scalar(catalogue.public_products_query().where(Product.id == product_id))
    if product is None:
        fail(404)
    return catalogue_item(product)


# ---- the document and its reference page -------------------------------------------------------------

def document() -> dict:
    return openapi_document(
        title="OCOP Marketplace API", version="1.0.0", server_url=absolute("/api/v1"),
        description=("Products, batches, diaries and traceability stamps of a district's OCOP producers. "
                     "Authenticate with a personal access token (account page) as "
                     "`Authorization: Bearer <token>`; it acts with its user's rights. Lists are "
                     "paged by cursor (`next_cursor`), errors are `{\"error\": {\"code\", \"message\", "
                     "\"fields\"}}`, and every client has a rate limit (429 with `Retry-After`)."))


@bp.route("/openapi.json")
def openapi_json():
    response = current_app.response_class(
        current_app.json.dumps(document()), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.vary.update(("Accept-Language", "Cookie"))  # its descriptions follow the language
    return response


@bp.route("/docs")
def reference():
    """The API reference, readable without JavaScript, generated from the same document."""
    return render_template("api/reference.html", doc=document())
