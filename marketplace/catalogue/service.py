"""Products and producers: the state changes the issue names, as plain functions.

Each takes the session and the objects it works on, changes them and leaves the commit to
the caller (the route or command that owns the unit of work).
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from .. import geo, public_facts
from ..models import Batch, Producer, ProducerStatus, Product, ProductGroup, ProductPhoto, ProductStatus, StampRun
from ..models.base import local_today, utcnow
from ..text import fold, unique_slug
from ..validators import InvalidValue, normalize_gtin

# Fields a producer may write on a product; everything else (status, stars, version…) is
# officer-owned or derived.  Forms are bound through this list, so an extra POSTed field
# can never reach the model.
PRODUCT_FIELDS = (
    "name", "group_id", "description", "ingredients", "net_quantity", "unit", "price_vnd",
    "stock", "shelf_life_days", "storage_instructions", "usage_instructions", "warnings",
    "origin_ward_code", "gtin", "short_name", "packed_weight_g", "package_length_cm", "package_width_cm",
    "package_height_cm", "vat_rate", "name_en", "description_en", "ingredients_en", "storage_instructions_en",
    "usage_instructions_en", "warnings_en",
)

# ---- the rules of a product's fields, stated once ----------------------------------------------
# The product form builds its validators from these (dashboard/forms.py) and the API its
# body types (api/schemas.py); the checks that need the database are product_problems().
PRODUCT_REQUIRED = ("name", "group_id", "net_quantity", "unit", "price_vnd")
PRODUCT_TEXT_LIMITS = {  # (at least, at most) characters
    "name": (3, 200), "description": (0, 5000), "ingredients": (0, 2000),
    "storage_instructions": (0, 2000), "usage_instructions": (0, 2000), "warnings": (0, 2000),
    "short_name": (0, 120), "name_en": (0, 200), "description_en": (0, 5000), "ingredients_en": (0, 2000),
    "storage_instructions_en": (0, 2000), "usage_instructions_en": (0, 2000), "warnings_en": (0, 2000),
}
PRODUCT_NUMBER_LIMITS = {  # (at least, at most)
    "net_quantity": (Decimal("0.001"), Decimal("999999")), "price_vnd": (1, 1_000_000_000),
    "stock": (0, 100_000_000), "shelf_life_days": (1, 3650),
    # The package as sent: up to a carrier's heaviest parcel, and its sides in centimetres
    # from 1 (Google takes 1 to 400 cm) to a parcel's longest.
    "packed_weight_g": (1, 100_000), "package_length_cm": (Decimal("1"), Decimal("300")),
    "package_width_cm": (Decimal("1"), Decimal("300")), "package_height_cm": (Decimal("1"), Decimal("300")),
}
PACKAGE_SIDES = ("package_length_cm", "package_width_cm", "package_height_cm")
SIDE_PLACES = 1  # millimetres: what a ruler reads

# VAT rates of Vietnam's law on VAT (2024) in percent; a product without its own rate takes
# its group's usual one: 5 % for unprocessed and minimally processed farm produce, else 10 %.
VAT_RATES = (0, 5, 8, 10)
GROUP_VAT_RATES = {"1.1": 5, "1.2": 5}
STANDARD_VAT_RATE = 10


def sub_groups(session, language: str) -> list[tuple[ProductGroup, str]]:
    """The OCOP sub-groups in order, each with its label "group › sub-group" in ``language``
    (what the product form and the exchanges' category form offer)."""
    groups = session.scalars(select(ProductGroup).order_by(ProductGroup.position)).all()
    parents = {g.id: g for g in groups if g.parent_id is None}
    return [(g, f"{parents[g.parent_id].display_name(language)} › {g.display_name(language)}")
            for g in groups if g.parent_id in parents]


def vat_rate_of(own: int | None, group_code: str) -> int:
    """The VAT rate a product is sold at: its own, else its group's usual one."""
    return own if own is not None else GROUP_VAT_RATES.get(group_code, STANDARD_VAT_RATE)


def product_problems(session, data: dict, product_id: int | None = None) -> dict[str, str]:
    """What is wrong with the fields in ``data`` that only the database can tell, as
    ``{field: code}`` (messages: ``vocab.domain_error``): a group that is not an OCOP
    sub-group, a commune not in the list, a GTIN that is invalid or already another
    product's, or a change of the GTIN printed on the product's stamps.  A valid GTIN is
    normalised in ``data`` (to 14 digits)."""
    problems = {}
    if data.get("group_id") is not None:
        group = session.get(ProductGroup, data["group_id"])
        if group is None or group.parent_id is None:
            problems["group_id"] = "group_unknown"
    if data.get("origin_ward_code") is not None and geo.ward(data["origin_ward_code"]) is None:
        problems["origin_ward_code"] = "ward_unknown"
    sides = [name for name in PACKAGE_SIDES if name in data]
    if sides:  # all three sides or none (a PATCH may send one: the others are the product's)
        current = session.get(Product, product_id) if product_id is not None else None
        values = {name: data[name] if name in data else getattr(current, name, None) for name in PACKAGE_SIDES}
        if any(v is not None for v in values.values()):
            missing = next((name for name in PACKAGE_SIDES if values[name] is None), None)
            if missing is not None:
                problems[missing if missing in data else sides[0]] = "package_sides"
    if data.get("gtin"):
        try:
            data["gtin"] = normalize_gtin(data["gtin"])
        except InvalidValue:
            problems["gtin"] = "gtin_invalid"
        else:
            if gtin_taken(session, data["gtin"], product_id):
                problems["gtin"] = "gtin_taken"
    if "gtin" in data and "gtin" not in problems and product_id is not None and gtin_printed(session, product_id):
        if (data["gtin"] or None) != session.get(Product, product_id).gtin:
            problems["gtin"] = "gtin_printed"
    return problems


def gtin_printed(session, product_id: int) -> bool:
    """The product has a GTIN and stamps: labels printed since carry it in their Digital Link
    (``/01/<gtin>/…``), which the resolver reads as the product's, so changing or removing it
    would turn every stamp already on a package into the counterfeit answer.  (A product
    with stamps but no GTIN may take one: its stamps carry ``/s/`` links.)"""
    return session.scalar(
        select(exists().where(StampRun.batch_id == Batch.id, Batch.product_id == Product.id))
        .where(Product.id == product_id, Product.gtin.is_not(None))) or False


PRODUCER_FIELDS = (
    "kind", "name", "representative", "tax_code", "phone", "zalo_phone", "email", "address_line",
    "province_code", "ward_code", "description",
)


class TransitionError(ValueError):
    """The requested status change is not allowed from the current status."""


def _slug_taken(session, model):
    return lambda s: session.scalar(select(exists().where(model.slug == s)))


def _as_stored(field: str, value):
    """A value as its column keeps it, so that saving the same value again is no change: the
    package's sides to the millimetre."""
    if field in PACKAGE_SIDES and value is not None:
        return Decimal(str(value)).quantize(Decimal(1).scaleb(-SIDE_PLACES), ROUND_HALF_UP)
    return value


def create_product(session, producer: Producer, data: dict) -> Product:
    product = Product(producer=producer, status=ProductStatus.draft.value, version=1)
    for field in PRODUCT_FIELDS:
        if field in data:
            setattr(product, field, _as_stored(field, data[field]))
    product.slug = unique_slug(product.name, _slug_taken(session, Product))
    session.add(product)
    return product


def update_product(session, product: Product, data: dict) -> bool:
    """Apply producer-editable fields; True when something changed.  A published product
    stays published (its new version reaches the exchanges: ``marketplace.changes``)."""
    changed = False
    for field in PRODUCT_FIELDS:
        value = _as_stored(field, data.get(field))
        if field in data and getattr(product, field) != value:
            setattr(product, field, value)
            changed = True
    return changed


MAX_PHOTOS = 10  # photos per product, from the pages and the API alike


def has_photo_room(product: Product) -> bool:
    """Whether the product may take another photo (ask before storing the file)."""
    return len(product.photos) < MAX_PHOTOS


def add_photo(session, product: Product, stored) -> ProductPhoto:
    """The product's next photo, after the others, from an image already stored
    (``marketplace.media.StoredImage``); the caller commits."""
    position = (session.scalar(select(func.max(ProductPhoto.position))
                               .where(ProductPhoto.product_id == product.id)) or 0) + 1
    photo = ProductPhoto(product=product, stem=stored.stem, width=stored.width, height=stored.height,
                         position=position)
    session.add(photo)
    return photo


def gtin_taken(session, gtin: str, product_id: int | None = None) -> bool:
    """A GTIN identifies one product: is it on a product other than ``product_id``?"""
    return session.scalar(select(Product.id).where(Product.gtin == gtin, Product.id != (product_id or -1))) is not None


def submit_product(product: Product) -> None:
    if product.status not in (ProductStatus.draft.value, ProductStatus.rejected.value):
        raise TransitionError(product.status)
    product.status = ProductStatus.pending.value
    product.review_note = ""


def publish_product(product: Product) -> None:
    if product.status != ProductStatus.pending.value:
        raise TransitionError(product.status)
    product.status = ProductStatus.published.value
    product.review_note = ""
    product.published_at = utcnow()


def reject_product(product: Product, reason: str) -> None:
    if product.status != ProductStatus.pending.value:
        raise TransitionError(product.status)
    product.status = ProductStatus.rejected.value
    product.review_note = reason


def archive_product(product: Product) -> None:
    if product.status == ProductStatus.archived.value:
        raise TransitionError(product.status)
    product.status = ProductStatus.archived.value  # exchanges get the withdrawal (a tombstone)


def restore_product(product: Product) -> None:
    if product.status != ProductStatus.archived.value:
        raise TransitionError(product.status)
    product.status = ProductStatus.draft.value


def create_producer(session, data: dict, *, cooperative: Producer | None = None) -> Producer:
    producer = Producer(status=ProducerStatus.pending.value, cooperative=cooperative)
    for field in PRODUCER_FIELDS:
        if field in data:
            setattr(producer, field, data[field])
    producer.slug = unique_slug(producer.name, _slug_taken(session, Producer))
    session.add(producer)
    return producer


# What an officer checked when approving: a producer changes these only through an officer.
LOCKED_AFTER_APPROVAL = ("kind", "name", "tax_code")


def update_producer(session, producer: Producer, data: dict) -> None:
    """Apply profile fields.  Identity fields of an approved producer stay as approved; a
    rejected producer that edits its profile goes back to the officers' queue."""
    if producer.is_approved or producer.status == ProducerStatus.suspended.value:
        data = {k: v for k, v in data.items() if k not in LOCKED_AFTER_APPROVAL}
    elif producer.status == ProducerStatus.rejected.value:
        producer.status = ProducerStatus.pending.value
    for field in PRODUCER_FIELDS:
        if field in data:
            setattr(producer, field, data[field])


REVIEW_OUTCOMES = {"approve": ProducerStatus.approved, "reject": ProducerStatus.rejected,
                   "suspend": ProducerStatus.suspended}


def review_producer(producer: Producer, decision: str, note: str = "") -> None:
    """Approve, reject or suspend a producer; only approved producers' products are listed."""
    producer.status = REVIEW_OUTCOMES[decision].value
    producer.review_note = note
    producer.reviewed_at = utcnow()


def default_valid_until(decision_date: dt.date) -> dt.date:
    """OCOP certificates are valid 36 months from the decision date."""
    month = decision_date.month - 1 + 36
    year, month = decision_date.year + month // 12, month % 12 + 1
    day = min(decision_date.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
                                  31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1])
    return dt.date(year, month, day)


# ---- public catalogue queries -------------------------------------------------------

def public_products_query(*, q: str = "", stars: int | None = None, group_id: int | None = None,
                          ward_code: int | None = None, producer_id: int | None = None,
                          sellable_only: bool = False, today: dt.date | None = None):
    """Listed products (``public_facts``), filtered; a ``Select`` for pagination.

    ``stars``: OCOP stars in force at least this many; ``sellable_only``: for sale now (in
    stock, no recall in force)."""
    today = today or local_today()
    stmt = (
        select(Product)
        .join(Producer, Product.producer_id == Producer.id)
        .where(public_facts.sellable_sql() if sellable_only else public_facts.listed_sql())
        .options(selectinload(Product.photos), selectinload(Product.recognitions),
                 selectinload(Product.producer))
    )
    for word in fold(q).split()[:8]:
        escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(Product.search_text.like(f"%{escaped}%", escape="\\"))
    if stars:
        stmt = stmt.where(public_facts.stars_at_least_sql(stars, today))
    if group_id:
        sub = select(ProductGroup.id).where(or_(ProductGroup.id == group_id, ProductGroup.parent_id == group_id))
        stmt = stmt.where(Product.group_id.in_(sub))
    if ward_code:
        stmt = stmt.where(func.coalesce(Product.origin_ward_code, Producer.ward_code) == ward_code)
    if producer_id:
        stmt = stmt.where(Product.producer_id == producer_id)
    return stmt.order_by(Product.published_at.desc(), Product.id.desc())
