"""Public catalogue: search, product pages, producer pages, photos, share previews, language switch."""
from __future__ import annotations

from flask import (Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file,
                   send_from_directory, url_for)
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import geo, public_facts, vietqr
from ..extensions import db
from ..i18n import LANG_COOKIE, current_language, vnd
from ..media import is_safe_media_name
from ..models import Producer, ProducerStatus, Product, ProductGroup
from ..models.base import local_today
from ..printing.qr import qr_svg
from ..security import safe_next
from . import pagecache, payments, previews
from .service import public_products_query
from .structured import json_for_script, preview_path, product_json_ld, share_card

bp = Blueprint("catalogue", __name__)

TRIEU_SON_WARDS = (15664, 15667, 15682, 15715, 15724, 15754, 15763, 15766)


def _int_arg(name: str, lo: int = 1, hi: int = 2**31 - 1) -> int | None:
    """An integer query argument within [lo, hi], or None (bad input is ignored, never a 500)."""
    raw = request.args.get(name, "")[:12]
    if not raw.strip():
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    if not lo <= value <= hi:
        return None
    return value


def top_groups():
    return db.session.scalars(
        select(ProductGroup).where(ProductGroup.parent_id.is_(None)).order_by(ProductGroup.position)
    ).all()


@bp.route("/")
def index():
    return pagecache.page(db.engine, _index)


def _index() -> str:
    # Printable text only: PostgreSQL refuses NUL bytes, and control characters never match.
    q = "".join(ch for ch in request.args.get("q", "")[:100] if ch.isprintable())
    stars = _int_arg("stars", 3, 5)
    group_id = _int_arg("group", 1)
    ward_code = _int_arg("commune", 1)
    page = _int_arg("page", 1, 10_000) or 1
    available = request.args.get("available") == "1"
    stmt = public_products_query(q=q, stars=stars, group_id=group_id, ward_code=ward_code, sellable_only=available)
    pagination = db.paginate(stmt, page=page, per_page=current_app.config["CATALOGUE_PAGE_SIZE"],
                             error_out=False)
    communes = [geo.ward(c) for c in TRIEU_SON_WARDS]
    return render_template(
        "catalogue/index.html", pagination=pagination, products=pagination.items, q=q,
        stars=stars, group_id=group_id, ward_code=ward_code, available=available, groups=top_groups(),
        communes=communes, facts=public_facts.facts_of_many(db.session, pagination.items, today=local_today()),
    )


def _public_product_or_404(slug: str) -> Product:
    stmt = (
        select(Product).join(Producer)
        .where(Product.slug == slug, public_facts.listed_sql())
        .options(selectinload(Product.photos), selectinload(Product.recognitions),
                 selectinload(Product.certifications))
    )
    product = db.session.scalars(stmt).first()
    if product is None:
        abort(404)
    return product


@bp.route("/p/<slug>")
def product(slug: str):
    return pagecache.page(db.engine, lambda: _product(slug), product_slug=slug)


def _product(slug: str):
    product = _public_product_or_404(slug)
    facts = public_facts.facts_of(product, today=local_today())
    pay = _transfer_offer(product, facts)
    producer = product.producer
    card = share_card(title=product.name, path=url_for("catalogue.product", slug=product.slug),
                      description=product.description or f"{vnd(product.price_vnd)} · {producer.name}, "
                                                         f"{geo.place_name(producer.ward_code)}",
                      image_path=preview_path(product))
    page = render_template("catalogue/product.html", product=product, producer=producer, facts=facts,
                           json_ld=json_for_script(product_json_ld(product, facts)), pay=pay, card=card)
    return (page, 422) if pay and pay["error"] else page


def _transfer_offer(product: Product, facts) -> dict | None:
    """The "pay by transfer" part of a product page (``?qty=`` from its GET form), or None."""
    if not payments.offers_transfer(product, sellable=facts.sellable):
        return None
    typed, most = request.args.get("qty"), payments.most_packages(product.stock)
    try:
        transfer = payments.transfer(product, payments.quantity_from(typed, stock=product.stock))
    except vietqr.VietQRError as exc:
        return {"error": exc.code, "typed": (typed or "")[:8], "max": most}
    return {"error": None, "transfer": transfer, "max": most,
            "qr": Markup(qr_svg(transfer.payload)),
            "words": payments.amount_in_words(transfer.amount, current_language())}


@bp.route("/producers/<slug>")
def producer(slug: str):
    producer = db.session.scalars(
        select(Producer).where(Producer.slug == slug, Producer.status == ProducerStatus.approved.value)
    ).first()
    if producer is None:
        abort(404)
    products = db.session.scalars(public_products_query(producer_id=producer.id)).all()
    today = local_today()
    facts = public_facts.facts_of_many(db.session, products, today=today)
    pictured = next((p for p in products if p.photos), products[0] if products else None)
    card = share_card(title=producer.name, path=url_for("catalogue.producer", slug=producer.slug),
                      description=producer.description or geo.place_name(producer.ward_code),
                      image_path=preview_path(pictured) if pictured else None)
    return render_template("catalogue/producer.html", producer=producer, products=products, facts=facts,
                           recalled_ids=[p.id for p in products if facts[p.id].recalls], card=card,
                           certifications=public_facts.facility_certifications(producer, today=today))


@bp.route("/p/<slug>/preview.jpg")
def preview(slug: str):
    """The product's 1200×630 share preview (Open Graph's ``og:image``), drawn once per product
    version and kept (``previews.kept``); the URL's ``v`` names the version a page shared."""
    product = _public_product_or_404(slug)
    path = previews.of_product(current_app.config["UPLOAD_DIR"], product)
    response = send_file(path, mimetype="image/jpeg", conditional=True)
    current = request.args.get("v") == str(product.version)
    response.cache_control.public = True
    response.cache_control.max_age = 31536000 if current else 300  # a version's picture never changes
    return response


@bp.route("/media/<name>")
def media(name: str):
    """Product photos and logos: random names, re-encoded JPEGs, cached for a long time."""
    if not is_safe_media_name(name) or not name.endswith(".jpg"):
        abort(404)
    response = send_from_directory(current_app.config["UPLOAD_DIR"], name, mimetype="image/jpeg",
                                   max_age=31536000)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.route("/lang/<code>")
def set_language(code: str):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    response = redirect(safe_next(request.args.get("next")) or url_for("catalogue.index"))
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="Lax", httponly=True,
                        secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


@bp.route("/geo/wards")
def wards():
    """Communes of a province, for the address forms' province → commune select."""
    province = _int_arg("province", 1, 99)
    if province is None or geo.province(province) is None:
        return jsonify(error={"code": 400, "message": "province", "fields": {"province": "unknown"}}), 400
    response = jsonify([[w.code, w.name] for w in geo.wards_of(province)])
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return response


@bp.route("/healthz")
def healthz():
    db.session.execute(select(1))
    return {"status": "ok", "language": current_language()}


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for it at the root, whatever the page says."""
    response = send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon",
                                   max_age=7 * 24 * 3600)
    return response


@bp.route("/manifest.webmanifest")
def manifest():
    """The web-app manifest: "add to home screen" gives the catalogue its name and icon."""
    icon = lambda size: {"src": url_for("static", filename=f"icon-{size}.png"), "sizes": f"{size}x{size}",  # noqa: E731
                         "type": "image/png", "purpose": "any"}
    response = jsonify({"name": "Chợ OCOP Triệu Sơn", "short_name": "Chợ OCOP", "lang": "vi", "start_url": "/",
                        "scope": "/", "display": "standalone", "background_color": "#fbfaf6",
                        "theme_color": "#0b5d2a", "icons": [icon(192), icon(512)]})
    response.mimetype = "application/manifest+json"
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
