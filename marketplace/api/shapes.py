"""What the API's operations share: the answers shaped from the models (the response
bodies), absolute URLs, the ``updated_since`` filter, refusing nulls in a PATCH, and
committing a change whose unique value a parallel request may have taken."""
from __future__ import annotations

from contextlib import contextmanager

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError

from .. import geo, public_facts
from ..catalogue.structured import absolute
from ..extensions import db
from ..models import Batch, Producer, Product, ProductPhoto, Stamp, StampRun, TraceEvent
from ..models.base import delta_start, local_today
from ..stamps import sheets
from . import answers as a
from . import schemas as s
from .framework import fail


def _absolute(endpoint: str, **values) -> str:
    return absolute(url_for(endpoint, **values))


def _since(stmt, column, query):
    if query.updated_since is not None:  # in UTC already (schemas.Moment)
        stmt = stmt.where(column >= delta_start(query.updated_since))
    return stmt


# ---- shaping ----------------------------------------------------------------------------------

def _place(ward_code: int | None) -> dict:
    ward = geo.ward(ward_code)
    province = geo.province(ward.province_code) if ward else None
    return {"ward_code": ward_code, "ward": ward.name if ward else "",
            "province_code": province.code if province else None, "province": province.name if province else ""}


class _Attributes:
    """``obj``'s attributes, with some replaced or added (``computed``): what pydantic reads
    when a response model is validated ``from_attributes``."""

    __slots__ = ("_obj", "_computed")

    def __init__(self, obj, computed: dict):
        self._obj, self._computed = obj, computed

    def __getattr__(self, name: str):
        computed = self._computed
        return computed[name] if name in computed else getattr(self._obj, name)


def shaped(model: type[a.Out], obj, **computed) -> a.Out:
    """The answer ``model`` read from a database object's attributes (same names, pydantic's
    ``from_attributes``), with the fields that are not columns given as ``computed``."""
    return model.model_validate(_Attributes(obj, computed), from_attributes=True)


def producer_out(p: Producer) -> a.ProducerOut:
    return shaped(a.ProducerOut, p, place=_place(p.ward_code),
                  url=_absolute("catalogue.producer", slug=p.slug) if p.is_approved else None)


def photo_out(photo: ProductPhoto) -> a.PhotoOut:
    return shaped(a.PhotoOut, photo, url=_absolute("catalogue.media", name=f"{photo.stem}.jpg"),
                  thumbnail_url=_absolute("catalogue.media", name=f"{photo.stem}-t.jpg"))


def facts_out(f: public_facts.ProductFacts) -> dict:
    return {"listed": f.listed, "sellable": f.sellable, "availability": f.availability.value,
            "recalls": [{"lot_code": r.lot, "reason": r.reason, "recalled_at": r.recalled_at} for r in f.recalls]}


def product_out(p: Product) -> a.ProductOut:
    facts = public_facts.facts_of(p, today=local_today(), with_certifications=False)
    ocop = facts.ocop
    return shaped(
        a.ProductOut, p,
        ocop={"stars": ocop.stars, "decision_no": ocop.decision_no, "valid_until": ocop.valid_until} if ocop else None,
        photos=[photo_out(ph) for ph in p.photos], facts=facts_out(facts),
        url=_absolute("catalogue.product", slug=p.slug) if facts.listed else None)


def batch_out(b: Batch) -> a.BatchOut:
    return shaped(a.BatchOut, b, recall_reason=b.recall_reason if b.is_recalled else "",
                  recalled_at=b.recalled_at if b.is_recalled else None,
                  trace_url=_absolute("scan.batch", batch_id=b.id))


def event_out(e: TraceEvent) -> a.EventOut:
    return shaped(a.EventOut, e, details=dict(e.details or {}))


def run_out(run: StampRun) -> a.RunOut:
    return shaped(a.RunOut, run, stamps=sheets.status_counts(db.session, run),
                  pdf_url=_absolute("api.run_pdf", run_id=run.id), csv_url=_absolute("api.run_csv", run_id=run.id))


def stamp_out(stamp: Stamp) -> a.StampOut:
    return shaped(a.StampOut, stamp, url=sheets.url_for_stamp(stamp, current_app.config["PUBLIC_BASE_URL"]))


def catalogue_item(p: Product) -> a.CatalogueItem:
    facts = public_facts.facts_of(p, today=local_today(), with_certifications=False)
    ocop = facts.ocop
    cover = p.cover
    return shaped(
        a.CatalogueItem, p, url=_absolute("catalogue.product", slug=p.slug), producer=p.producer.name,
        producer_url=_absolute("catalogue.producer", slug=p.producer.slug),
        place=_place(p.origin_ward_code or p.producer.ward_code), in_stock=facts.sellable, sellable=facts.sellable,
        availability=facts.availability.value, recalls=facts_out(facts)["recalls"],
        ocop_stars=ocop.stars if ocop else None,
        photo_url=_absolute("catalogue.media", name=f"{cover.stem}.jpg") if cover else None)


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


def refuse_nulls(data: dict, model) -> None:
    """422 naming every field of a PATCH sent as null where ``model`` says ``NotNull``."""
    nulls = {name: _("Trường này không được để trống.") for name in s.not_null(model)
             if name in data and data[name] is None}
    if nulls:
        fail(422, nulls)
