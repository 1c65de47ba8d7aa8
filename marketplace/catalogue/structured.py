"""schema.org ``Product``/``Offer`` JSON-LD for product pages."""
from __future__ import annotations

import json

from flask import current_app, url_for

from .. import geo
from ..models import Product
from ..public_facts import ProductFacts


_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                   0x2028: "\\u2028", 0x2029: "\\u2029"}


def json_for_script(data) -> str:
    """JSON safe inside ``<script type="application/ld+json">``: no ``<``, ``>`` or ``&`` can
    end the element or open a comment (``<!--<script>`` would swallow the rest of the page)."""
    return json.dumps(data, ensure_ascii=False).translate(_SCRIPT_ESCAPES)


def absolute(path: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"] + path


def product_json_ld(product: Product, facts: ProductFacts) -> dict:
    """The page's ``Product`` with its ``Offer``: availability, stars and certificates as
    :mod:`marketplace.public_facts` decided them for the page."""
    producer = product.producer
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "description": product.description,
        "sku": f"OCOP-{product.id}",
        "url": absolute(url_for("catalogue.product", slug=product.slug)),
        "image": [absolute(url_for("catalogue.media", name=f"{p.stem}.jpg")) for p in product.photos],
        "category": product.group.name_vi if product.group else None,
        "brand": {"@type": "Brand", "name": producer.name},
        "manufacturer": {
            "@type": "Organization",
            "name": producer.name,
            "telephone": producer.phone or None,
            "address": {
                "@type": "PostalAddress",
                "streetAddress": producer.address_line or None,
                "addressLocality": geo.ward(producer.ward_code).name if geo.ward(producer.ward_code) else None,
                "addressRegion": geo.province(producer.province_code).name if geo.province(producer.province_code) else None,
                "addressCountry": "VN",
            },
        },
        "offers": {
            "@type": "Offer",
            "price": product.price_vnd,
            "priceCurrency": "VND",
            "availability": "https://schema.org/InStock" if facts.sellable else "https://schema.org/OutOfStock",
            "url": absolute(url_for("catalogue.product", slug=product.slug)),
        },
    }
    if product.gtin:
        data["gtin14"] = product.gtin
    ocop = facts.ocop
    if ocop:
        data["award"] = f"OCOP {ocop.stars}★ ({ocop.decision_no})"
    return {k: v for k, v in data.items() if v not in (None, [], "")}


def share_card(*, title: str, description: str, path: str, image_path: str | None) -> dict:
    """What a page tells apps that preview a shared link (Open Graph, Twitter's card): its
    title, a description of at most 200 characters, its canonical URL and the 1200×630
    preview (``catalogue.previews``), all absolute on ``PUBLIC_BASE_URL``."""
    description = " ".join(description.split())
    if len(description) > 200:
        description = description[:199].rsplit(" ", 1)[0] + "…"
    return {"title": title, "description": description, "url": absolute(path),
            "image": absolute(image_path) if image_path else None}


def preview_path(product: Product) -> str:
    """The product's share preview, named by its version (a change shares a new picture)."""
    return url_for("catalogue.preview", slug=product.slug, v=product.version)
