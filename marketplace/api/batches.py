"""``/api/v1`` operations on batches (lots), their recalls and their diary."""
from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from .. import audit
from ..access import owned_or_404, scoped
from ..extensions import db
from ..models import Batch, BatchStatus, Product, ProductStatus, StampRun, TraceEvent
from ..trace import service as trace
from ..transactions import writes
from ..validators import quantity
from ..vocab import domain_error
from . import answers as a
from . import schemas as s
from .routes import bp
from .framework import fail, operation, page
from .shapes import _saved, _since, batch_out, event_out, refuse_nulls

# ---- batches and the diary ----------------------------------------------------------------------

DATE_FIELDS = {"production_date_range": "production_date", "expiry_before_production": "expiry_date",
               "expiry_range": "expiry_date"}


def _trace_error(exc: trace.TraceError, field: str):
    db.session.rollback()
    status = 409 if exc.code in ("not_open", "lot_taken", "not_recalled", "already_recalled") else 422
    if status == 409:
        fail(409, {field: domain_error(exc.code)} if exc.code == "lot_taken" else None, message=domain_error(exc.code))
    fail(422, {field: domain_error(exc.code)})


@operation(bp, "/batches", summary="Batches (lots) you act for", tag="batches", query=s.BatchListQuery,
           response=a.BatchPage)
def list_batches(query):
    stmt = scoped(select(Batch), Batch)
    if query.product_id:
        stmt = stmt.where(Batch.product_id == query.product_id)
    if query.status:
        stmt = stmt.where(Batch.status == query.status)
    return page(_since(stmt, Batch.updated_at, query), Batch.id, query, batch_out)


@operation(bp, "/batches", "POST", summary="Create a batch (lot) of a product", access="producer", tag="batches",
           body=s.BatchCreate, response=a.BatchOut, status=201, errors=(409,))
@writes
def create_batch(body):
    product = owned_or_404(Product, body.product_id)
    if product.status == ProductStatus.archived.value:
        fail(409, message=_("Sản phẩm đã lưu trữ: khôi phục trước khi tạo lô."))
    try:
        with _saved("lot_code"):
            batch = trace.create_batch(
                db.session, product, lot_code=body.lot_code, quantity=quantity(body.quantity),
                unit=body.unit, production_date=body.production_date, expiry_date=body.expiry_date,
                growing_area=body.growing_area, user=current_user)
    except trace.TraceError as exc:
        _trace_error(exc, DATE_FIELDS.get(exc.code, "lot_code"))
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>", summary="One batch", tag="batches", response=a.BatchOut)
def get_batch(batch_id: int):
    return batch_out(owned_or_404(Batch, batch_id))


@operation(bp, "/batches/<int:batch_id>", "PATCH", summary="Correct an open batch", access="producer", tag="batches",
           body=s.BatchUpdate, response=a.BatchOut, errors=(409,))
@writes
def update_batch(batch_id: int, body):
    """Quantity and growing area may be corrected while the batch is open; the expiry date
    (HSD) only until stamps are issued, since labels and stamp pages show it."""
    batch = owned_or_404(Batch, batch_id)
    if batch.status != BatchStatus.open.value:
        fail(409, message=domain_error("not_open"))
    data = body.model_dump(exclude_unset=True)
    refuse_nulls(data, s.BatchUpdate)
    changed = False
    if "quantity" in data:
        new_quantity = quantity(data["quantity"])
        changed |= new_quantity != batch.quantity
        batch.quantity = new_quantity
    if "expiry_date" in data and data["expiry_date"] != batch.expiry_date:
        expiry = data["expiry_date"]
        problem = trace.date_problems(batch.production_date, expiry).get("expiry_date")
        if problem:
            fail(422, {"expiry_date": domain_error(problem)})
        if db.session.scalar(select(func.count(StampRun.id)).where(StampRun.batch_id == batch.id)):
            fail(409, {"expiry_date": _("Đã phát hành tem cho lô này: hạn sử dụng in trên nhãn không đổi được.")})
        batch.expiry_date, changed = expiry, True
    if "growing_area" in data and data["growing_area"] != batch.growing_area:
        batch.growing_area, changed = data["growing_area"], True
    if changed:
        db.session.commit()
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>/close", "POST", summary="Close a batch (no more diary entries expected)",
           access="producer", tag="batches", response=a.BatchOut, errors=(409,))
@writes
def close_batch(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    try:
        trace.close_batch(batch)
    except trace.TraceError as exc:
        _trace_error(exc, "status")
    db.session.commit()
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>/recall", "POST", summary="Recall a batch", tag="batches",
           body=s.RecallBody, response=a.BatchOut, errors=(409,))
@writes
def recall_batch(batch_id: int, body):
    """Every stamp of the batch shows the recall banner at its next scan, and the exchanges
    get the product as unavailable.  Audited."""
    batch = owned_or_404(Batch, batch_id)
    before = audit.snapshot(batch, ("status",))
    try:
        trace.recall_batch(batch, body.reason, current_user)
    except trace.TraceError as exc:
        _trace_error(exc, "reason")
    audit.record(db.session, "batch.recall", batch, summary=f"{batch.product.name}: {batch.lot_code}",
                 before=before, after=audit.snapshot(batch, ("status", "recall_reason", "recalled_at")))
    db.session.commit()
    return batch_out(batch)


@operation(bp, "/batches/<int:batch_id>/events", summary="The batch's diary, oldest first", tag="diary",
           response=a.EventList)
def list_events(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    return a.EventList(data=[event_out(e) for e in batch.events])


@operation(bp, "/batches/<int:batch_id>/events", "POST", summary="Append a diary entry", access="producer", tag="diary",
           body=s.EventCreate, response=a.EventOut, status=201)
@writes
def add_event(batch_id: int, body):
    """The diary is append-only and hash-chained: a correction is a new entry with ``corrects_id``."""
    batch = owned_or_404(Batch, batch_id)
    when = body.occurred_at
    if when.tzinfo is None:
        fail(422, {"occurred_at": _("Thời điểm phải có múi giờ.")})
    problem = trace.event_time_problem(when)
    if problem:
        fail(422, {"occurred_at": domain_error(problem)})
    details = body.details.model_dump()
    needed = trace.REQUIRED_DETAIL.get(body.kind)
    if needed and not details[needed]:
        fail(422, {f"details.{needed}": domain_error(f"{needed}_required")})
    corrects = None
    if body.corrects_id is not None:
        corrects = db.session.get(TraceEvent, body.corrects_id)
        if corrects is None or corrects.batch_id != batch.id:
            fail(422, {"corrects_id": domain_error("corrects_other_batch")})
    try:
        event = trace.append_event(db.session, batch, kind=body.kind, occurred_at=when, place=body.place,
                                   description=body.description, details=details, corrects=corrects,
                                   user=current_user)
        db.session.commit()
    except trace.TraceError as exc:
        _trace_error(exc, "kind")
    return event_out(event)
