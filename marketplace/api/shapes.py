"""What the API's operations share: the answers shaped from the models (the response
bodies), absolute URLs, the ``updated_since`` filter, and committing a change whose unique
value a parallel request may have taken."""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from .. import geo, public_facts
from ..catalogue.structured import absolute
from ..extensions import db
from ..models import Batch, Producer, Product, ProductPhoto, Stamp, StampRun, TraceEvent
from ..models.base import local_today
from ..stamps import sheets
from . import schemas as s
from .framework import fail


def _absolute(endpoint: str, **values) -> str:
    return absolute(url_for(endpoint, **values))


def _since(stmt, column, query):
    if query.updated_since is not None:  # in UTC already (schemas.Moment)
        stmt = stmt.where(column >= query.updated_since)
    return stmt


# ---- shaping ----------------------------------------------------------------------------------

def _place(ward_code: int | None) -> dict:
    ward = geo.ward(ward_code)
    province = geo.province(ward.province_code) if ward else None
    return {"ward_code": ward_code, "ward": ward.name if ward else "",
            "province_code": province.code if province else None, "province": province.name if province else ""}


def producer_out(p: Producer) -> s.ProducerOut:
    return s.ProducerOut(
        id=p.id, kind=p.kind, name=p.name, slug=p.slug, status=p.status, representative=p.representative,
        phone=p.phone, email=p.email, address_line=p.address_line, place=_place(p.ward_code),
        cooperative_id=p.cooperative_id, updated_at=p.updated_at,
        url=_absolute("catalogue.producer", slug=p.slug) if p.is_approved else None)


def _photo(photo: ProductPhoto) -> dict:
    return {"id": photo.id, "url": _absolute("catalogue.media", name=f"{photo.stem}.jpg"),
            "thumbnail_url": _absolute("catalogue.media", name=f"{photo.stem}-t.jpg"),
            "width": photo.width, "height": photo.height, "position": photo.position}


def facts_out(f: public_facts.ProductFacts) -> dict:
    return {"listed": f.listed, "sellable": f.sellable, "availability": f.availability.value,
            "recalls": [{"lot_code": r.lot, "reason": r.reason, "recalled_at": r.recalled_at} for r in f.recalls]}


def product_out(p: Product) -> s.ProductOut:
    facts = public_facts.facts_of(p, today=local_today(), with_certifications=False)
    ocop = facts.ocop
    return s.ProductOut(
        id=p.id, producer_id=p.producer_id, name=p.name, slug=p.slug, status=p.status, review_note=p.review_note,
        group_id=p.group_id, description=p.description, ingredients=p.ingredients,
        net_quantity=float(p.net_quantity), unit=p.unit, price_vnd=p.price_vnd, stock=p.stock,
        shelf_life_days=p.shelf_life_days, storage_instructions=p.storage_instructions,
        usage_instructions=p.usage_instructions, warnings=p.warnings, origin_ward_code=p.origin_ward_code,
        gtin=p.gtin, version=p.version,
        ocop={"stars": ocop.stars, "decision_no": ocop.decision_no, "valid_until": ocop.valid_until} if ocop else None,
        photos=[_photo(ph) for ph in p.photos], facts=facts_out(facts),
        url=_absolute("catalogue.product", slug=p.slug) if facts.listed else None,
        created_at=p.created_at, updated_at=p.updated_at)


def batch_out(b: Batch) -> s.BatchOut:
    return s.BatchOut(
        id=b.id, product_id=b.product_id, lot_code=b.lot_code, quantity=float(b.quantity), unit=b.unit,
        production_date=b.production_date, expiry_date=b.expiry_date, growing_area=b.growing_area,
        status=b.status, recall_reason=b.recall_reason if b.is_recalled else "",
        recalled_at=b.recalled_at if b.is_recalled else None,
        trace_url=_absolute("scan.batch", batch_id=b.id), created_at=b.created_at, updated_at=b.updated_at)


def event_out(e: TraceEvent) -> s.EventOut:
    return s.EventOut(id=e.id, seq=e.seq, kind=e.kind, occurred_at=e.occurred_at, place=e.place,
                      description=e.description, details=dict(e.details or {}), corrects_id=e.corrects_id,
                      recorded_at=e.recorded_at, entry_hash=e.entry_hash)


def run_out(run: StampRun) -> s.RunOut:
    return s.RunOut(
        id=run.id, batch_id=run.batch_id, count=run.count, status=run.status, created_at=run.created_at,
        activated_at=run.activated_at, voided_at=run.voided_at, scratch=run.scratch,
        stamps=sheets.status_counts(db.session, run),
        pdf_url=_absolute("api.run_pdf", run_id=run.id), csv_url=_absolute("api.run_csv", run_id=run.id))


def stamp_out(stamp: Stamp) -> s.StampOut:
    return s.StampOut(serial=stamp.serial, url=sheets.url_for_stamp(stamp, current_app.config["PUBLIC_BASE_URL"]),
                      status=stamp.status, run_id=stamp.run_id, batch_id=stamp.batch_id, position=stamp.position,
                      scan_count=stamp.scan_count, first_scan_at=stamp.first_scan_at)


def catalogue_item(p: Product) -> s.CatalogueItem:
    facts = public_facts.facts_of(p, today=local_today(), with_certifications=False)
    ocop = facts.ocop
    cover = p.cover
    return s.CatalogueItem(
        id=p.id, name=p.name, url=_absolute("catalogue.product", slug=p.slug), producer=p.producer.name,
        producer_url=_absolute("catalogue.producer", slug=p.producer.slug),
        place=_place(p.origin_ward_code or p.producer.ward_code), group_id=p.group_id, price_vnd=p.price_vnd,
        net_quantity=float(p.net_quantity), unit=p.unit, in_stock=facts.sellable, sellable=facts.sellable,
        availability=facts.availability.value, recalls=facts_out(facts)["recalls"],
        ocop_stars=ocop.stars if ocop else None, gtin=p.gtin,
        photo_url=_absolute("catalogue.media", name=f"{cover.stem}.jpg") if cover else None,
        updated_at=p.updated_at)


@contextmanager
def _saved(field: str):
    """Run the change and commit it; a unique value taken meanwhile by a parallel request
    (GTIN, slug, lot code) is a 409 naming the field, not a 500.  The change itself is inside
    the block: the database may refuse it at an autoflush, before the commit."""
    try:
        yield
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        if "gtin" in str(exc.orig).lower():
            field = "gtin"
        fail(409, {field: _("Giá trị này vừa được dùng ở nơi khác; hãy thử lại.")})
