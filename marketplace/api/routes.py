"""``/api/v1``: producers' and cooperatives' own software, mobile apps and officers.

Thin views: they check access with the same rules as the pages (:mod:`marketplace.access`:
another tenant's object is 404), call the same domain functions as the pages, and shape
the answer with :mod:`.schemas`.  Every operation is declared with
:func:`.framework.operation`, which also writes it into the OpenAPI document.

The operations live by resource: :mod:`.products` (producers, products, photos),
:mod:`.batches` (batches, recalls, the diary), :mod:`.stamps` (runs and stamps); this module
holds the officers' deliveries, the public catalogue and the document itself; :mod:`.shapes`
shapes the answers.
"""
from __future__ import annotations

from flask import current_app, render_template
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from ..catalogue import service as catalogue
from ..catalogue.structured import absolute
from ..extensions import db
from ..models import Delivery, Exchange, Product
from . import bp
from . import schemas as s
from .framework import fail, openapi_document, operation, page
from .shapes import _since, catalogue_item

# ---- deliveries (officers) and the public catalogue -----------------------------------------------

@operation(bp, "/deliveries", summary="Pushes of product changes to the exchanges", tag="deliveries",
           access="officer", query=s.DeliveryListQuery, response=s.DeliveryPage)
def list_deliveries(query):
    stmt = select(Delivery).options(selectinload(Delivery.exchange))
    if query.exchange:
        stmt = stmt.join(Exchange, Delivery.exchange_id == Exchange.id).where(Exchange.code == query.exchange)
    if query.status:
        stmt = stmt.where(Delivery.status == query.status)
    if query.updated_since is not None:  # queued, tried or delivered since then
        since = query.updated_since
        stmt = stmt.where(or_(Delivery.created_at >= since, Delivery.delivered_at >= since,
                              Delivery.next_attempt_at >= since))

    def item(d: Delivery) -> s.DeliveryOut:
        return s.DeliveryOut(id=d.id, exchange=d.exchange.code, product_id=d.product_id, version=d.version,
                             status=d.status, attempts=d.attempts, last_status=d.last_status,
                             last_error=d.last_error or "", sent_version=d.sent_version, created_at=d.created_at,
                             next_attempt_at=d.next_attempt_at, delivered_at=d.delivered_at)

    return page(stmt, Delivery.id, query, item)


@operation(bp, "/catalogue", summary="Published products of approved producers", tag="catalogue",
           access="public", query=s.CatalogueQuery, response=s.CataloguePage)
def catalogue_list(query):
    """Public: no token needed.  With ``updated_since``, products changed since then that are
    still listed; products that left the catalogue are not reported (the exchanges' feeds
    carry deletions)."""
    stmt = catalogue.public_products_query(q=query.q or "").order_by(None).options(selectinload(Product.batches))
    return page(_since(stmt, Product.updated_at, query), Product.id, query, catalogue_item)


@operation(bp, "/catalogue/<int:product_id>", summary="One published product", tag="catalogue",
           access="public", response=s.CatalogueItem)
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
