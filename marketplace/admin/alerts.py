"""Officers' clone alerts (issue 6): the list, a stamp's scan history, void the stamp or its
run, mark an alert handled.  Every action goes into the audit trail."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import alerts, audit, geo
from ..access import officer_required
from ..extensions import db
from ..models import Stamp, StampStatus
from ..models.base import utcnow
from ..stamps import service as stamps
from ..stamps.serials import group_serial
from .routes import bp


def _stamp_or_404(stamp_id: int) -> Stamp:
    stamp = db.session.get(Stamp, stamp_id)
    if stamp is None:
        abort(404)
    return stamp


def _checked_post() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


@bp.route("/alerts")
@officer_required
def clone_alerts():
    include_handled = request.args.get("handled") == "1"
    found = alerts.clone_alerts(db.session, threshold=current_app.config["SCAN_CLONE_THRESHOLD"],
                                include_handled=include_handled)
    return render_template("admin/alerts.html", alerts=found, include_handled=include_handled,
                           threshold=current_app.config["SCAN_CLONE_THRESHOLD"], page=alerts.PAGE,
                           group_serial=group_serial)


@bp.route("/alerts/<int:stamp_id>")
@officer_required
def clone_alert(stamp_id: int):
    stamp = _stamp_or_404(stamp_id)
    return render_template("admin/alert.html", stamp=stamp, scans=alerts.scan_history(db.session, stamp),
                           action_form=FlaskForm(), group_serial=group_serial, geo=geo)


@bp.route("/alerts/<int:stamp_id>/void", methods=["POST"])
@officer_required
def void_alert_stamp(stamp_id: int):
    stamp = _stamp_or_404(stamp_id)
    _checked_post()
    before = stamp.status
    # The stamps' own voiding (a range of one position of its run), as producers void torn rolls.
    if stamps.void_stamps(db.session, stamp.run, first=stamp.position, last=stamp.position):
        stamp.alert_handled_at = utcnow()
        audit.record(db.session, "stamp.void", stamp, summary=stamp.serial, before={"status": before},
                     after={"status": StampStatus.void.value})
        db.session.commit()
        flash(_("Đã hủy tem %(serial)s.", serial=group_serial(stamp.serial, " ")), "success")
    return redirect(url_for("admin.clone_alert", stamp_id=stamp.id))


@bp.route("/alerts/<int:stamp_id>/void-run", methods=["POST"])
@officer_required
def void_alert_run(stamp_id: int):
    stamp = _stamp_or_404(stamp_id)
    _checked_post()
    count = stamps.void_stamps(db.session, stamp.run)
    stamp.alert_handled_at = utcnow()
    if count:
        audit.record(db.session, "stamps.void", stamp.run, summary=f"{count}",
                     after={"voided": count, "alert": stamp.serial})
    db.session.commit()
    flash(_("Đã hủy cả đợt tem: %(n)d tem.", n=count), "success")
    return redirect(url_for("admin.clone_alert", stamp_id=stamp.id))


@bp.route("/alerts/<int:stamp_id>/handled", methods=["POST"])
@officer_required
def handle_alert(stamp_id: int):
    stamp = _stamp_or_404(stamp_id)
    _checked_post()
    stamp.alert_handled_at = utcnow()
    audit.record(db.session, "alert.handled", stamp, summary=stamp.serial,
                 after={"handled_by": current_user.email, "scans": stamp.scan_count})
    db.session.commit()
    flash(_("Đã đánh dấu cảnh báo là đã xử lý."), "success")
    return redirect(url_for("admin.clone_alerts"))
