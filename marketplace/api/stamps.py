"""``/api/v1`` operations on stamp runs and stamps: issuing, activating, label sheets, voiding."""
from __future__ import annotations

from flask import Response, current_app, stream_with_context
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from .. import audit
from ..access import owned_or_404, scoped
from ..extensions import db
from ..models import Batch, Stamp, StampRun
from ..stamps import service as stamps
from ..stamps import sheets
from ..stamps.scratch import key_from_config
from ..stamps.serials import InvalidSerial, normalize
from ..transactions import writes
from ..vocab import domain_error
from . import answers as a
from . import schemas as s
from .routes import bp
from .framework import fail, operation
from .shapes import run_out, stamp_out

# ---- stamp runs and stamps ----------------------------------------------------------------------

@operation(bp, "/batches/<int:batch_id>/stamp-runs", "POST", summary="Issue a run of unique stamps",
           access="producer", tag="stamps", body=s.RunCreate, response=a.RunOut, status=201, errors=(409,))
@writes
def create_run(batch_id: int, body):
    batch = owned_or_404(Batch, batch_id)
    try:
        run = stamps.issue_run(db.session, batch, body.count, user=current_user, scratch=body.scratch)
        db.session.commit()
    except stamps.StampError as exc:
        db.session.rollback()
        if exc.code in ("batch_recalled", "product_not_listed"):
            fail(409, message=domain_error(exc.code))
        fail(422, {"count": domain_error(exc.code)})
    return run_out(run)


@operation(bp, "/stamp-runs/<int:run_id>", summary="A stamp run and its stamps per status", tag="stamps",
           response=a.RunOut)
def get_run(run_id: int):
    return run_out(owned_or_404(StampRun, run_id))


@operation(bp, "/stamp-runs/<int:run_id>/activate", "POST", summary="Activate a printed run (stuck on packages)",
           access="producer", tag="stamps", response=a.RunOut, errors=(409,))
@writes
def activate_run(run_id: int):
    """Its issued stamps become active: their pages say "genuine".  Refused (409) for a void
    run, or while the product is not listed (not published, or its producer not approved)."""
    run = owned_or_404(StampRun, run_id)
    try:
        stamps.activate_run(db.session, run)
        db.session.commit()
    except stamps.StampError as exc:
        db.session.rollback()
        fail(409, message=domain_error(exc.code))
    return run_out(run)


@operation(bp, "/stamp-runs/<int:run_id>/stamps.pdf", summary="Label sheet (A4, 3×8) of a run, as PDF",
           tag="stamps", produces="application/pdf", query=s.PdfQuery)
def run_pdf(run_id: int, query):
    """Runs over 2,400 stamps come in parts: ``part`` 1, 2, … (see ``parts`` on the run page)."""
    run = owned_or_404(StampRun, run_id)
    layout = sheets.layout_or_none(query.layout)
    parts = sheets.parts(run.count)
    if layout is None:
        fail(422, {"layout": _("Không có mẫu tem này.")})
    if query.part > len(parts):
        fail(422, {"part": _("Đợt tem này có %(n)d phần.", n=len(parts))})
    data = sheets.download_part(db.session, run, layout, query.part, current_app.config["PUBLIC_BASE_URL"],
                                scratch_key=key_from_config(current_app.config))
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="tem-dot-{run.id}-phan-{query.part}.pdf"',
        "Cache-Control": "no-store"})


@operation(bp, "/stamp-runs/<int:run_id>/stamps.csv", summary="serial,url,lot,product of every stamp of a run",
           tag="stamps", produces="text/csv")
def run_csv(run_id: int):
    """A scratch run (``scratch``) adds ``scratch_code``: the file is then secret, for the print shop only."""
    run = owned_or_404(StampRun, run_id)
    chunks = sheets.csv_text(db.session, run.id, current_app.config["PUBLIC_BASE_URL"],
                             scratch_key=key_from_config(current_app.config))
    return Response(stream_with_context(chunks), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="tem-dot-{run.id}.csv"', "Cache-Control": "no-store"})


_SERIAL = {"type": "string", "minLength": 1, "maxLength": 40,
           "description": "the serial printed on the stamp, in any case, with or without separators"}


def _stamp(serial: str) -> Stamp:
    try:
        serial = normalize(serial)
    except InvalidSerial:
        fail(404)
    found = db.session.scalar(scoped(select(Stamp).where(Stamp.serial == serial), Stamp))
    if found is None:  # unknown, or another tenant's: the same answer
        fail(404)
    return found


@operation(bp, "/stamps/<serial>", summary="One stamp of yours", tag="stamps", response=a.StampOut,
           path_params={"serial": _SERIAL})
def get_stamp(serial: str):
    return stamp_out(_stamp(serial))


@operation(bp, "/stamps/<serial>/void", "POST", summary="Void one stamp (torn, lost, misprinted)", tag="stamps",
           response=a.StampOut, path_params={"serial": _SERIAL})
@writes
def void_stamp(serial: str):
    """A void stamp's page tells buyers it is void.  Voiding twice changes nothing."""
    stamp = _stamp(serial)
    n = stamps.void_stamps(db.session, stamp.run, first=stamp.position, last=stamp.position)
    if n:
        audit.record(db.session, "stamps.void", stamp.run, summary="1",
                     after={"first": stamp.position, "last": stamp.position, "voided": n})
    db.session.commit()
    db.session.refresh(stamp)
    return stamp_out(stamp)
