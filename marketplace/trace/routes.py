"""Batches (lô) and their diary (nhật ký), under /dashboard/."""
from __future__ import annotations

import io

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from .. import audit, public_facts
from ..access import owned_or_404, producer_required, scoped
from ..extensions import db
from ..transactions import writes
from ..vocab import domain_error
from ..media import ImageRejected, remove_image
from ..models import Batch, Product, ProductStatus, Stamp, StampStatus, TraceEvent
from ..models.base import local_today
from ..stamps.forms import RunForm
from ..uploads import image_error, save_image
from . import service
from .epcis import stream_batch_epcis
from .forms import BatchForm, EventForm, LiftRecallForm, RecallForm
from .report import lot_report_rows, write_csv, write_xlsx

bp = Blueprint("trace", __name__, url_prefix="/dashboard")  # the producers' workspace (batches)



def _products():
    return db.session.scalars(scoped(select(Product), Product)
                              .where(Product.status != ProductStatus.archived.value).order_by(Product.name)).all()


@bp.route("/batches")
@producer_required
def batches():
    rows = db.session.scalars(
        scoped(select(Batch), Batch).options(selectinload(Batch.product)).order_by(Batch.production_date.desc(), Batch.id.desc())
    ).all()
    return render_template("trace/batches.html", batches=rows)


@bp.route("/batches/new", methods=["GET", "POST"])
@writes
@producer_required
def new_batch():
    form = BatchForm()
    products = _products()
    form.product_id.choices = [(p.id, f"{p.name} — {p.producer.name}") for p in products]
    if request.method == "GET":
        form.product_id.data = request.args.get("product", type=int)
        form.production_date.data = local_today()
        chosen = next((p for p in products if p.id == form.product_id.data), products[0] if products else None)
        form.unit.data = chosen.unit if chosen else "kg"  # a batch is usually counted like its product
    if form.validate_on_submit():
        product = owned_or_404(Product, form.product_id.data)
        try:
            batch = service.create_batch(
                db.session, product, lot_code=form.lot_code.data, quantity=form.quantity.data, unit=form.unit.data,
                production_date=form.production_date.data, expiry_date=form.expiry_date.data,
                growing_area=form.growing_area.data, user=current_user)
            db.session.commit()
        except service.TraceError as exc:
            db.session.rollback()
            form.lot_code.errors.append(domain_error(exc.code))
        else:
            flash(_("Đã tạo lô %(lot)s.", lot=batch.lot_code), "success")
            return redirect(url_for("trace.batch", batch_id=batch.id))
    return render_template("trace/batch_form.html", form=form)


def _event_form(batch: Batch) -> EventForm:
    form = EventForm()
    form.corrects_id.choices = [("", "—")] + [
        (e.id, f"#{e.seq} {e.occurred_at:%d/%m/%Y}") for e in batch.events]
    if request.method == "GET":
        form.date.data = local_today()
    return form


@bp.route("/batches/<int:batch_id>")
@producer_required
def batch(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    return render_template("trace/batch.html", batch=batch, listed=_listed(batch), events=service.timeline(batch),
                           event_form=_event_form(batch), run_form=RunForm(), lift_form=LiftRecallForm(),
                           action_form=FlaskForm())


def _listed(batch: Batch) -> bool:
    """Stamps are issued only for a listed product (``stamps.service.check_listed``)."""
    return public_facts.is_listed(batch.product.status, batch.product.producer.status)


@bp.route("/batches/<int:batch_id>/events", methods=["POST"])
@writes
@producer_required
def add_event(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    form = _event_form(batch)
    if form.validate_on_submit():
        corrects = owned_or_404(TraceEvent, form.corrects_id.data) if form.corrects_id.data else None
        photo = None
        if form.photo.data and getattr(form.photo.data, "filename", ""):
            try:
                photo = save_image(form.photo.data).stem
            except ImageRejected as exc:
                form.photo.errors = [image_error(exc)]
        if not form.photo.errors:
            try:
                service.append_event(db.session, batch, kind=form.kind.data, occurred_at=form.occurred_at(),
                                     place=form.place.data, description=form.description.data,
                                     details=form.details(), photo=photo, corrects=corrects, user=current_user)
                db.session.commit()
            except service.TraceError as exc:
                db.session.rollback()
                if photo:
                    remove_image(photo, current_app.config["UPLOAD_DIR"])
                field = form.corrects_id if exc.code == "corrects_other_batch" else form.kind
                field.errors = [domain_error(exc.code)]
            else:
                flash(_("Đã ghi nhật ký."), "success")
                return redirect(url_for("trace.batch", batch_id=batch.id) + "#nhat-ky", code=303)
    return render_template("trace/batch.html", batch=batch, listed=_listed(batch), events=service.timeline(batch), event_form=form,
                           run_form=RunForm(), lift_form=LiftRecallForm(), action_form=FlaskForm()), 422


@bp.route("/batches/<int:batch_id>/close", methods=["POST"])
@writes
@producer_required
def close_batch(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        service.close_batch(batch)
        db.session.commit()
        flash(_("Đã đóng lô."), "success")
    except service.TraceError as exc:
        flash(domain_error(exc.code), "error")
    return redirect(url_for("trace.batch", batch_id=batch.id))


def _back_url(batch: Batch) -> str:
    """The page a recall starts from: the officer's product page or the producer's batch."""
    if current_user.is_officer:
        return url_for("admin.product", product_id=batch.product_id)
    return url_for("trace.batch", batch_id=batch.id)


def _recall_change(batch: Batch, change, action: str, fields: tuple[tuple, tuple], done: str) -> None:
    """Recall or lift a recall, audited and committed; the outcome is flashed."""
    try:
        before = audit.snapshot(batch, fields[0])
        change(batch, user=current_user)
        audit.record(db.session, action, batch, summary=f"{batch.product.name}: {batch.lot_code}",
                     before=before, after=audit.snapshot(batch, fields[1]))
        db.session.commit()
        flash(done % {"lot": batch.lot_code}, "success")
    except service.TraceError as exc:
        flash(domain_error(exc.code), "error")


def _render_recall(batch: Batch, form: RecallForm, status: int = 200):
    """What recalling ``batch`` does, before it is done: the lot, the stamps whose page will
    show the recall (every stamp of the lot but the void ones), the product off sale, and the
    exchanges told (the template asks ``exchanges_told``, a global of the admin blueprint)."""
    stamps = dict(db.session.execute(
        select(Stamp.status, func.count()).where(Stamp.batch_id == batch.id, Stamp.status != StampStatus.void.value)
        .group_by(Stamp.status)).all())
    others = [b for b in batch.product.batches if b.id != batch.id and b.is_recalled]
    return render_template("trace/recall.html", batch=batch, form=form, stamps=sum(stamps.values()),
                           active=stamps.get(StampStatus.active.value, 0), other_recalls=others,
                           back=_back_url(batch)), status


@bp.route("/batches/<int:batch_id>/recall", methods=["GET", "POST"])
@writes
@login_required
def recall_batch(batch_id: int):
    """The batch's producer (or its cooperative) and district officers can recall a batch.
    GET is the confirmation page ("Thu hồi lô hàng": what will happen, the reason; ``?reason=``
    fills it in); only a POST from it (with ``confirm``) recalls, any other post changes
    nothing and leads to the page (with the reason it carried)."""
    batch = owned_or_404(Batch, batch_id)
    if request.method == "GET":
        return _render_recall(batch, RecallForm(data={"reason": request.args.get("reason", "")[:2000]}))
    form = RecallForm()
    if not form.confirmed:
        reason = (form.reason.data or "")[:2000]
        return redirect(url_for("trace.recall_batch", batch_id=batch.id, **({"reason": reason} if reason else {})))
    if not form.validate_on_submit():
        return _render_recall(batch, form, status=422)
    _recall_change(batch, lambda b, user: service.recall_batch(b, form.reason.data, user), "batch.recall",
                   (("status",), ("status", "recall_reason", "recalled_at")), _("Đã thu hồi lô hàng %(lot)s."))
    return redirect(_back_url(batch))


@bp.route("/batches/<int:batch_id>/lift-recall", methods=["POST"])
@writes
@login_required
def lift_recall(batch_id: int):
    """Lifting a recall: the recall stays on record beside who lifted it, when and why."""
    batch = owned_or_404(Batch, batch_id)
    form = LiftRecallForm()
    if not form.validate_on_submit():
        flash(domain_error("reason_required"), "error")
    else:
        _recall_change(batch, lambda b, user: service.lift_recall(b, form.note.data, user), "batch.recall_lift",
                       (("status", "recall_reason", "recalled_at"), ("status", "recall_lift_note", "recall_lifted_at")),
                       _("Đã dỡ bỏ thu hồi lô %(lot)s."))
    return redirect(_back_url(batch))


# Column titles of the lot report in the user's language (the report keys are stable English).
REPORT_LABELS = {
    "section": _l("Mục"), "date": _l("Ngày"), "kind": _l("Loại"), "item": _l("Vật tư / hàng"),
    "quantity": _l("Số lượng"), "lot": _l("Lô"), "counterpart": _l("Bên giao / bên nhận"),
    "document_no": _l("Số chứng từ"), "place": _l("Địa điểm"), "description": _l("Mô tả"),
    "diary_seq": _l("Nhật ký #"), "corrects_seq": _l("Đính chính #"), "stamp_run": _l("Đợt tem"),
    "count": _l("Số tem"), "status": _l("Trạng thái"), "issued": _l("Đã phát hành"), "active": _l("Đang dùng"),
    "void": _l("Đã hủy"), "scanned": _l("Đã quét"),
}


@bp.route("/batches/<int:batch_id>/epcis.json")
@producer_required
def epcis(batch_id: int):
    """The batch as an EPCIS 2.0 JSON-LD document (GS1), for partners' traceability systems;
    streamed (a lot's stamps may be 100,000 package URIs)."""
    batch = owned_or_404(Batch, batch_id)
    body = stream_batch_epcis(db.session, batch.id, base_url=current_app.config["PUBLIC_BASE_URL"])
    return Response(stream_with_context(body), mimetype="application/ld+json",
                    headers={"Content-Disposition": f'attachment; filename="epcis-{batch.lot_code}.jsonld"'})


@bp.route("/batches/<int:batch_id>/report.<any(csv, xlsx):fmt>")
@login_required
def lot_report(batch_id: int, fmt: str):
    """One step back (inputs, suppliers) and one step forward (shipments, stamp runs, scans,
    deliveries to the exchanges): the recall report.  The batch's producers and officers."""
    batch = owned_or_404(Batch, batch_id)
    header, rows = lot_report_rows(db.session, batch)
    labels = {key: str(label) for key, label in REPORT_LABELS.items()}
    out = io.BytesIO()
    if fmt == "csv":
        write_csv(header, rows, out, labels=labels)
        mimetype = "text/csv"
    else:
        write_xlsx(header, rows, out, labels=labels, title=batch.lot_code)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(out.getvalue(), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="bao-cao-lo-{batch.lot_code}.{fmt}"',
        "Cache-Control": "private, no-store"})
