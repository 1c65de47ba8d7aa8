"""Stamp runs: issue, print (PDF label sheets, CSV for print shops), activate, void."""
from __future__ import annotations


from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request,
                   stream_with_context, url_for)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import audit
from ..access import owned_or_404, producer_required
from ..extensions import db
from ..transactions import writes
from ..vocab import domain_error
from ..models import Batch, Stamp, StampRun
from . import service, sheets
from .forms import RunForm, VoidForm
from .scratch import key_from_config
from .serials import InvalidSerial, normalize

bp = Blueprint("stamps", __name__, url_prefix="/dashboard")  # the producers' workspace (stamp runs)



@bp.route("/batches/<int:batch_id>/runs", methods=["POST"])
@writes
@producer_required
def create_run(batch_id: int):
    batch = owned_or_404(Batch, batch_id)
    form = RunForm()
    if not form.validate_on_submit():
        flash(domain_error("count_range"), "error")
        return redirect(url_for("trace.batch", batch_id=batch.id))
    try:
        run = service.issue_run(db.session, batch, form.count.data, user=current_user, scratch=form.scratch.data)
        db.session.commit()
    except service.StampError as exc:
        db.session.rollback()
        flash(domain_error(exc.code), "error")
        return redirect(url_for("trace.batch", batch_id=batch.id))
    if run.scratch:
        flash(_("Đã phát hành %(n)d tem cào.", n=run.count), "success")
    else:
        flash(_("Đã phát hành %(n)d tem.", n=run.count), "success")
    return redirect(url_for("stamps.run", run_id=run.id))


@bp.route("/runs/<int:run_id>")
@producer_required
def run(run_id: int):
    run = owned_or_404(StampRun, run_id)
    counts = sheets.status_counts(db.session, run)
    return render_template("stamps/run.html", run=run, batch=run.batch, counts=counts,
                           parts=sheets.parts(run.count), layouts=sheets.LAYOUT_CHOICES,
                           void_form=VoidForm(), action_form=FlaskForm(),
                           first=db.session.scalar(db.select(Stamp.serial).where(Stamp.run_id == run.id, Stamp.position == 1)))


@bp.route("/runs/<int:run_id>/labels.pdf")
@producer_required
def labels_pdf(run_id: int):
    """A label sheet for part ``part`` of the run (each part ≤ PART_SIZE labels, so no
    request runs long; the CLI renders whole runs)."""
    run = owned_or_404(StampRun, run_id)
    layout = sheets.layout_or_none(request.args.get("layout", "a4-3x8"))
    part = request.args.get("part", 1, type=int)
    if layout is None or part is None or not 1 <= part <= len(sheets.parts(run.count)):
        abort(404)
    data = sheets.download_part(db.session, run, layout, part, current_app.config["PUBLIC_BASE_URL"],
                                calibration=request.args.get("calibration") == "1",
                                scratch_key=key_from_config(current_app.config))
    name = f"tem-lo-{run.batch.lot_code}-dot-{run.id}-{layout.name}" + (f"-phan-{part}" if run.count > sheets.PART_SIZE else "")
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}.pdf"', "Cache-Control": "private, no-store"})


@bp.route("/runs/<int:run_id>/stamps.csv")
@producer_required
def stamps_csv(run_id: int):
    """serial,url,lot,product for a print shop's variable-data printing, streamed; a scratch
    run adds scratch_code (secret: the run page says so, and so does the file's name)."""
    run = owned_or_404(StampRun, run_id)
    chunks = sheets.csv_text(db.session, run.id, current_app.config["PUBLIC_BASE_URL"], bom=True,
                             scratch_key=key_from_config(current_app.config))
    name = f"tem-dot-{run.id}-ma-cao-bi-mat" if run.scratch else f"tem-dot-{run.id}"
    return Response(stream_with_context(chunks), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"',
                             "Cache-Control": "private, no-store"})


@bp.route("/runs/<int:run_id>/activate", methods=["POST"])
@writes
@producer_required
def activate(run_id: int):
    run = owned_or_404(StampRun, run_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        n = service.activate_run(db.session, run)
        db.session.commit()
        flash(_("Đã kích hoạt %(n)d tem (đã in và dán).", n=n), "success")
    except service.StampError as exc:
        flash(domain_error(exc.code), "error")
    return redirect(url_for("stamps.run", run_id=run.id))


@bp.route("/runs/<int:run_id>/void", methods=["POST"])
@writes
@producer_required
def void(run_id: int):
    run = owned_or_404(StampRun, run_id)
    form = VoidForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(message, "error")
        return redirect(url_for("stamps.run", run_id=run.id))
    try:
        first, last = form.first.data, form.last.data
        if form.first_serial.data or form.last_serial.data:
            first, last = service.positions_of(db.session, run, form.first_serial.data or form.last_serial.data,
                                               form.last_serial.data or form.first_serial.data)
        n = service.void_stamps(db.session, run, first=first, last=last)
        audit.record(db.session, "stamps.void", run, summary=f"{n}",
                     after={"first": first, "last": last, "voided": n})
        db.session.commit()
        flash(_("Đã hủy %(n)d tem.", n=n), "success")
    except service.StampError as exc:
        db.session.rollback()
        flash(domain_error(exc.code), "error")
    return redirect(url_for("stamps.run", run_id=run.id))


@bp.route("/stamps/<serial>.<any(png, svg):fmt>")
@producer_required
def single(serial: str, fmt: str):
    """One stamp's QR as PNG or SVG (for packaging artwork)."""
    try:
        serial = normalize(serial)
    except InvalidSerial:
        abort(404)
    stamp = db.session.scalar(db.select(Stamp).where(Stamp.serial == serial))
    if stamp is None:
        abort(404)
    stamp = owned_or_404(Stamp, stamp.id)
    url = sheets.url_for_stamp(stamp, current_app.config["PUBLIC_BASE_URL"])
    body, mimetype = sheets.single_qr(url, fmt)
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="tem-{serial}.{fmt}"', "Cache-Control": "private, no-store"})
