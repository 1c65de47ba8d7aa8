"""The canonical catalogue item: one description of a published product that every exchange
format is mapped from (docs/architecture.md, "Exchanges").

Items are built from plain rows, a chunk of products at a time (their photos, OCOP
recognitions, certifications and latest batch fetched per chunk with ``IN`` lists), so a
feed of 100,000 products streams without loading ORM objects.  Inputs are arguments (the
session, the public base URL, today's date): no request is needed.

An item's ``updated_at`` is the latest of the product's and its producer's changes and of
the day its OCOP recognition lapsed (stars leave every feed the day after ``valid_until``),
so a delta (``updated_since``) carries those changes too.  What is listed, sellable,
recalled, starred and certified is decided by :mod:`marketplace.public_facts`: a recall in
force is part of the item (``recalls``), makes it ``out_of_stock`` with ``stock`` 0 and
``sellable`` false.  A product that is not listed (withdrawn, rejected, or its producer
suspended) appears in deltas as a tombstone.
"""
from __future__ import annotations

import datetime as dt
import functools
import html
import re
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterator

from sqlalchemy import bindparam, exists, func, or_, select, type_coerce
from sqlalchemy.types import NullType

from .. import geo, public_facts
from ..models import Batch, Certification, OcopRecognition, Producer, Product, ProductGroup, ProductPhoto
from ..models.base import LOCAL_TZ, delta_start
from ..catalogue.service import vat_rate_of

ID_PREFIX = "ocop-"
CHUNK = 1000
# The shape of the items built here: bump it with any change of what build_item writes, of the
# names it reads from seeded rows or of how profiles.FIELDS writes one, so kept items are rebuilt.
ITEM_SCHEMA = 7  # (7: a recall's date in Vietnam, not UTC)

_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"[ \t]+")
_UNTIDY = re.compile(r"[<&\t\r\x00-\x08\x0b-\x1f]|  | \n|\n ")
_BREAKS = re.compile(r"[\x0b\x0c]")          # Word's line and page breaks in pasted text
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f]")


def item_id(product_id: int) -> str:
    """Stable and short (≤ 50 characters): the product's database id, never its name."""
    return f"{ID_PREFIX}{product_id}"


def plain_text(text: str) -> str:
    """Descriptions as plain text: no markup, entities decoded, spaces tidied, lines kept."""
    text = text or ""
    if not _UNTIDY.search(text):  # most descriptions: nothing to do
        return text.strip()
    text = _CONTROLS.sub(" ", _BREAKS.sub("\n", html.unescape(_TAGS.sub(" ", text))))
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def _decimal_text(value: Decimal) -> str:
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@functools.lru_cache(maxsize=4096)
def _place(province_code: int | None, ward_code: int | None) -> dict:
    """Codes and 2025 names of a place (shared, read-only: the list of units never changes)."""
    province, ward = geo.province(province_code), geo.ward(ward_code)
    return {"province_code": province_code, "province_name": province.name if province else "",
            "commune_code": ward_code, "commune_name": ward.name if ward else ""}


def _lapsed_at(valid_until: dt.date) -> dt.datetime:
    """The moment a recognition stops counting: the start of the day after ``valid_until``."""
    return dt.datetime.combine(valid_until + dt.timedelta(days=1), dt.time(), LOCAL_TZ).astimezone(dt.timezone.utc)


def _raw(column, name: str | None = None):
    """A column as the driver returns it, skipping SQLAlchemy's per-value result processing
    (a third of a 100,000-item feed's time); :func:`_moment` and :func:`_quantity`
    convert the few values that need it."""
    return type_coerce(column, NullType()).label(name or column.key)


def _moment(value) -> dt.datetime | None:
    """A stored moment as an aware UTC datetime: SQLite gives naive UTC text, PostgreSQL an
    aware datetime in the session's zone."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)


_THOUSANDTHS = Decimal("0.001")


def _side(value) -> str | None:
    """A package side in centimetres, to the millimetre ("12.5", "20")."""
    return None if value is None else _decimal_text(
        (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(Decimal("0.1")))


def _quantity(value) -> str:
    """A NUMERIC(12, 3) quantity as short text ("2", "0.5") from any driver's form: SQLite
    may hand back the float it stored, unrounded."""
    return _decimal_text((value if isinstance(value, Decimal) else Decimal(str(value))).quantize(_THOUSANDTHS))


_COLUMNS = (
    Product.id, Product.slug, Product.name, Product.description, Product.gtin, _raw(Product.net_quantity),
    Product.unit, Product.price_vnd, Product.stock, Product.status, Product.version, _raw(Product.updated_at),
    Product.origin_ward_code, Product.short_name, Product.name_en, Product.description_en, Product.packed_weight_g, _raw(Product.package_length_cm),
    _raw(Product.package_width_cm), _raw(Product.package_height_cm), Product.vat_rate,
    ProductGroup.code.label("group_code"), ProductGroup.name_vi.label("group_name"),
    Producer.id.label("producer_id"), Producer.slug.label("producer_slug"), Producer.name.label("producer_name"),
    Producer.kind.label("producer_kind"),
    Producer.tax_code, Producer.phone, Producer.address_line, Producer.province_code, Producer.ward_code,
    Producer.status.label("producer_status"), _raw(Producer.updated_at, "producer_updated_at"),
)


def _item_rows():
    """The item columns: each product joined to its producer and group."""
    return (select(*_COLUMNS).join(Producer, Producer.id == Product.producer_id)
            .join(ProductGroup, ProductGroup.id == Product.group_id))


def items_query(*, updated_since: dt.datetime | None = None, today: dt.date, products=None):
    """Published products of approved producers (of ``products``: ids, or a statement selecting
    them), or, for a delta, every product whose item (or absence) changed after ``updated_since``."""
    stmt = _item_rows().order_by(Product.id).where(*([] if products is None else [Product.id.in_(products)]))
    if updated_since is None:
        return stmt.where(public_facts.listed_sql())
    # Recognitions that lapsed after updated_since and by today (the day after valid_until).
    lapsed = exists().where(OcopRecognition.product_id == Product.id,
                            OcopRecognition.valid_until >= (updated_since.astimezone(LOCAL_TZ).date()
                                                            - dt.timedelta(days=1)),
                            OcopRecognition.valid_until < today)
    recognised = exists().where(OcopRecognition.product_id == Product.id,
                                OcopRecognition.created_at > updated_since)
    certified = exists().where(Certification.producer_id == Product.producer_id,
                               Certification.verified_at > updated_since)
    # Only products that were ever public can need a tombstone.
    return stmt.where(Product.published_at.is_not(None), or_(
        Product.updated_at > updated_since, Producer.updated_at > updated_since, lapsed, recognised, certified))


@dataclass
class _Related:
    """What a chunk of products' items need besides their own rows, fetched with ``IN``
    lists; ``turns`` holds, per product id or per (producer, product or None) certificate
    key, the last days an item stays as built (a recognition or certificate lapses after it,
    or a certificate starts counting the day after)."""
    photos: dict
    recognitions: dict
    certifications: dict
    latest_batch: dict
    turns: dict

    def item(self, row, *, base_url: str, today: dt.date) -> dict:
        return build_item(
            row, base_url=base_url, today=today, photos=self.photos.get(row.id, []),
            recognitions=self.recognitions.get(row.id, []),
            certifications=self.certifications.get((row.producer_id, row.id), [])
            + self.certifications.get((row.producer_id, None), []),
            latest_batch=self.latest_batch.get(row.id))

    def fresh_until(self, row) -> dt.date | None:
        """The last day ``row``'s item stays true without a change of the product (None: no
        such day): what a kept copy (``FeedItem``) may be served until."""
        days = [d for d in (self.turns.get(row.id), self.turns.get((row.producer_id, row.id)),
                            self.turns.get((row.producer_id, None))) if d is not None]
        return min(days, default=None)


def _earliest(turns: dict, key, day: dt.date) -> None:
    if key not in turns or day < turns[key]:
        turns[key] = day


@functools.lru_cache(maxsize=1)
def _related_statements():
    """The five statements of :func:`_related`, built once with expanding ``IN`` parameters
    (``ids``, ``producer_ids``): building them anew was most of a small feed's time."""
    ids, producer_ids = bindparam("ids", expanding=True), bindparam("producer_ids", expanding=True)
    return (
        select(ProductPhoto.product_id, ProductPhoto.stem).where(ProductPhoto.product_id.in_(ids))
        .order_by(ProductPhoto.product_id, ProductPhoto.position),
        select(OcopRecognition.product_id, OcopRecognition.stars, OcopRecognition.certificate_no,
               OcopRecognition.decision_no, OcopRecognition.issuer_name, OcopRecognition.valid_until,
               OcopRecognition.revoked, OcopRecognition.created_at).where(OcopRecognition.product_id.in_(ids)),
        select(Certification.producer_id, Certification.product_id, Certification.scheme, Certification.number,
               Certification.body, Certification.valid_from, Certification.valid_to, Certification.verified,
               Certification.verified_at)
        .where(Certification.producer_id.in_(producer_ids), Certification.verified.is_(True))
        .order_by(Certification.id),
        select(Batch.product_id, func.max(Batch.id)).where(Batch.product_id.in_(ids)).group_by(Batch.product_id),
        select(Batch.product_id, Batch.id, Batch.lot_code, Batch.status, Batch.recall_reason, Batch.recalled_at)
        .where(Batch.product_id.in_(ids), public_facts.recall_in_force_sql()),
    )


def _related(session, ids: list[int], producer_ids: set[int], today: dt.date) -> _Related:
    connection = session.connection()  # Core rows: no ORM result machinery per row
    photos_q, recognitions_q, certifications_q, latest_q, recalls_q = _related_statements()
    params = {"ids": list(ids), "producer_ids": list(producer_ids)}
    turns: dict = {}
    photos: dict[int, list[str]] = defaultdict(list)
    for product_id, stem in connection.execute(photos_q, params):
        photos[product_id].append(stem)
    recognitions: dict[int, list] = defaultdict(list)
    for row in connection.execute(recognitions_q, params):
        recognitions[row.product_id].append(row)
        if row.valid_until >= today:  # revoked too: its lapse still moves the item's updated_at
            _earliest(turns, row.product_id, row.valid_until)
    certifications: dict[tuple, list] = defaultdict(list)
    for row in connection.execute(certifications_q, params):
        key = (row.producer_id, row.product_id)
        if row.valid_from is not None and row.valid_from > today:
            _earliest(turns, key, row.valid_from - dt.timedelta(days=1))
        elif public_facts.certification_in_force(row, today):
            certifications[key].append(row)
            if row.valid_to is not None:
                _earliest(turns, key, row.valid_to)
    latest_batch = dict(connection.execute(latest_q, params).all())
    recalled: dict[int, list] = defaultdict(list)
    for row in connection.execute(recalls_q, params):
        recalled[row.product_id].append(row)
    latest_batch = {k: (v, public_facts.recalls_of(recalled.get(k, ()))) for k, v in latest_batch.items()}
    return _Related(photos, recognitions, certifications, latest_batch, turns)


def build_item(row, *, base_url: str, today: dt.date, photos: list[str], recognitions: list,
               certifications: list, latest_batch: tuple | None) -> dict:
    """The canonical item of one product row (``items_query`` columns) and its related rows
    (``latest_batch``: the newest batch id and the product's recalls in force)."""
    latest_batch, recalls = latest_batch or (None, ())
    facts = public_facts.product_facts(product_status=row.status, producer_status=row.producer_status,
                                       stock=row.stock, recalls=recalls, recognitions=recognitions,
                                       certifications=certifications, today=today)
    ocop = facts.ocop
    changed = max(_moment(row.updated_at), _moment(row.producer_updated_at))
    if recognitions:
        changed = max([changed, *(_moment(r.created_at) for r in recognitions),
                       *(_lapsed_at(r.valid_until) for r in recognitions if r.valid_until < today)])
    if facts.certifications:
        changed = max([changed, *(_moment(c.verified_at) for c in facts.certifications if c.verified_at)])
    if row.gtin:
        traceability = f"{base_url}/01/{row.gtin.zfill(14)}"
    elif latest_batch is not None:
        traceability = f"{base_url}/lot/{latest_batch}"
    else:
        traceability = None
    origin = row.origin_ward_code
    return {
        "id": item_id(row.id),
        "sku": f"OCOP-{row.id}",
        "title": row.name,
        "short_title": row.short_name or "",
        # The producer's English, for an exchange whose profile wants English ("" when none).
        "title_en": row.name_en or "", "description_en": plain_text(row.description_en),
        "description": plain_text(row.description),
        "category": row.group_name,
        "category_code": row.group_code,
        "gtin": row.gtin,
        "identifier_exists": "yes" if row.gtin else "no",
        "net_quantity": _quantity(row.net_quantity),
        "unit": row.unit,
        "price": row.price_vnd,
        "currency": "VND",
        "vat_rate": vat_rate_of(row.vat_rate, row.group_code),
        # The package as a carrier weighs and measures it (the net quantity is the label's).
        "shipping": {"weight_g": row.packed_weight_g, "length_cm": _side(row.package_length_cm),
                     "width_cm": _side(row.package_width_cm), "height_cm": _side(row.package_height_cm)},
        # What may be sold now: nothing while a recall is in force (``recalls`` says why).
        "stock": facts.stock_for_sale,
        "availability": "in_stock" if facts.sellable else "out_of_stock",
        "sellable": facts.sellable,
        "images": [f"{base_url}/media/{stem}.jpg" for stem in photos],
        "link": f"{base_url}/p/{row.slug}",
        "producer": _producer(base_url, row.producer_slug, row.producer_name, row.producer_kind, row.tax_code,
                              row.phone, row.address_line, row.province_code, row.ward_code),
        "origin": (_place(row.province_code, row.ward_code) if origin is None
                   else _place(geo.ward(origin).province_code if geo.ward(origin) else row.province_code, origin)),
        "ocop": ({"stars": ocop.stars, "certificate_no": ocop.certificate_no or ocop.decision_no,
                  "issuer": ocop.issuer_name, "valid_until": ocop.valid_until.isoformat()} if ocop else None),
        "certifications": [{"scheme": c.scheme, "number": c.number, "body": c.body,
                            "valid_to": c.valid_to.isoformat() if c.valid_to else None} for c in facts.certifications],
        "traceability_url": traceability,
        "recalls": [{"lot": r.lot, "reason": r.reason, "recalled_at": _moment(r.recalled_at).isoformat()}
                    for r in facts.recalls],
        "updated_at": changed.isoformat(),
        "version": row.version,
    }


@functools.lru_cache(maxsize=4096)
def _producer(base_url, slug, name, kind, tax_code, phone, address_line, province_code, ward_code) -> dict:
    """A producer's part of its items: built once per producer, shared (read-only) by them."""
    return {
        "name": name, "kind": kind, "slug": slug, "link": f"{base_url}/producers/{slug}",
        # A household may register with a person's 12-digit citizen ID: never published.
        "tax_code": "" if len(tax_code or "") == 12 else tax_code,
        "phone": phone,
        "address": {"line": address_line, **_place(province_code, ward_code)},
    }


def tombstone(row) -> dict:
    changed = max(c for c in (_moment(row.updated_at), _moment(row.producer_updated_at)) if c is not None)
    return _tombstone(item_id(row.id), row.version, changed.isoformat())


def as_tombstone(item: dict) -> dict:
    """An item turned into its deletion (an exchange that now refuses it must drop it)."""
    return _tombstone(item["id"], item["version"], item["updated_at"])


def _tombstone(id_: str, version: int, updated_at: str) -> dict:
    return {"id": id_, "deleted": True, "version": version, "updated_at": updated_at}


def iter_items(session, *, base_url: str, today: dt.date, updated_since: dt.datetime | None = None,
               chunk: int = CHUNK, products=None) -> Iterator[dict]:
    """Canonical items in product id order (tombstones among them for a delta: from
    ``base.delta_start``), fetched and built ``chunk`` products at a time (``products``: as in :func:`items_query`)."""
    start = delta_start(updated_since) if updated_since is not None else None
    session.flush()  # Core statements do not autoflush: pending changes first, as the ORM would
    result = session.connection().execute(items_query(updated_since=start, today=today, products=products)
                                          .execution_options(yield_per=chunk))
    for rows in result.partitions(chunk):
        ids = [r.id for r in rows]
        related = _related(session, ids, {r.producer_id for r in rows}, today)
        for row in rows:
            if not public_facts.is_listed(row.status, row.producer_status):
                yield tombstone(row)
                continue
            item = related.item(row, base_url=base_url, today=today)
            if start is not None and dt.datetime.fromisoformat(item["updated_at"]) <= start:
                continue  # matched on a lapse or recognition that is not after the delta's start
            yield item


@functools.lru_cache(maxsize=1)
def _feed_state_statement():
    """One statement for :func:`feed_state` (built once: it has no parameters), so a feed
    request pays one round trip for its ETag instead of six."""
    def joined(column):
        return select(column).select_from(Product).join(Producer, Producer.id == Product.producer_id)

    listed, ever = public_facts.listed_sql(), Product.published_at.is_not(None)
    parts = (
        joined(func.count(Product.id)).where(listed), joined(func.max(Product.updated_at)).where(listed),
        joined(func.max(Producer.updated_at)).where(listed),
        joined(func.coalesce(func.sum(Product.version), 0)).where(listed),
        joined(func.max(Product.updated_at)).where(ever), joined(func.max(Producer.updated_at)).where(ever),
        select(func.count(OcopRecognition.id)), select(func.max(OcopRecognition.created_at)),
        select(func.count(Certification.id)), select(func.max(Certification.verified_at)),
        select(func.count(ProductPhoto.id)), select(func.max(ProductPhoto.id)), select(func.max(Batch.id)),
    )
    return select(*(part.scalar_subquery() for part in parts))


def feed_state(session, *, today: dt.date) -> tuple:
    """A cheap fingerprint of everything a full feed depends on (for ETag / Last-Modified):
    counts and latest changes of listed products (and the sum of their versions, which move
    with every change of their facts), their producers and recognitions, and the day.  The
    latest change counts withdrawn products too: leaving the feed is a change."""
    values = tuple(session.execute(_feed_state_statement()).one())
    ever, ocop_at, certified_at = values[4:6], values[7], values[9]
    latest = max((_moment(v) for v in (*ever, ocop_at, certified_at) if v is not None), default=None)
    return (values, today.isoformat()), latest


def item_for(session, product_id: int, *, base_url: str, today: dt.date, preview: bool = False) -> dict | None:
    """The item of one product as it is now (a tombstone when it is not public, unless
    ``preview``: what it would be once public), or None when the product does not exist."""
    stmt = _item_rows().where(Product.id == product_id)
    session.flush()  # as the ORM's autoflush would (a preview of unsaved edits)
    row = session.connection().execute(stmt).first()
    if row is None:
        return None
    if not public_facts.is_listed(row.status, row.producer_status) and not preview:
        return tombstone(row)
    return _related(session, [row.id], {row.producer_id}, today).item(row, base_url=base_url, today=today)


def built_items(session, ids: list[int], *, base_url: str, today: dt.date) -> Iterator[tuple[int, dict, dt.date | None]]:
    """``(product id, item, fresh until)`` for those of ``ids`` that are public, in id order:
    the items a feed must build afresh, with the last day each stays true as built."""
    rows = session.connection().execute(
        _item_rows().where(Product.id.in_(ids), public_facts.listed_sql()).order_by(Product.id)).all()
    related = _related(session, ids, {r.producer_id for r in rows}, today)
    for row in rows:
        yield row.id, related.item(row, base_url=base_url, today=today), related.fresh_until(row)
