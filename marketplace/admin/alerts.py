"""Officers' alerts: stamps suspected of copying (issue 6), buyers' reports and serial probes
(issue 14) on one page; a stamp's scan history, void the stamp or its run, mark an alert or
a report handled.  Every action goes into the audit trail."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from .. import alerts, audit, geo
from ..access import officer_required, owned_or_404, owned_producer_ids
from ..extensions import db
from ..models import BuyerReport, Stamp, StampStatus
from ..models.base import utcnow
from ..reports import service as reports
from ..reports.forms import reason_label
from ..stamps import service as stamps
from ..stamps.serials import group_serial
from ..transactions import writes
from .routes import bp


def _stamp_or_404(stamp_id: int) -> Stamp:
    """The stamp, if it is of the officer's jurisdiction (else 404)."""
    return owned_or_404(Stamp, stamp_id)


def _checked_post() -> None:
    if not FlaskForm().validate_on_submit():
        abort(400)


@bp.route("/alerts")
@officer_required
def clone_alerts():
    include_handled = request.args.get("handled") == "1"
    threshold = current_app.config["SCAN_CLONE_THRESHOLD"]
    ids = owned_producer_ids(current_user)  # None: the whole province
    found = alerts.clone_alerts(db.session, threshold=threshold, include_handled=include_handled, producer_ids=ids)
    buyer_reports = reports.list_reports(db.session, include_handled=include_handled, producer_ids=ids)
    return render_template("admin/alerts.html", alerts=found, include_handled=include_handled,
                           threshold=threshold, page=alerts.PAGE, group_serial=group_serial, geo=geo,
                           reports=buyer_reports, reports_page=reports.PAGE, reason_label=reason_label,
                           per_stamp=reports.reports_per_stamp(db.session, [r.stamp_id for r in buyer_reports]),
                           probes=alerts.serial_probes(db.session, now=utcnow(), producer_ids=ids),
                           probe_days=alerts.PROBE_DAYS)


@bp.route("/alerts/<int:stamp_id>")
@officer_required
def clone_alert(stamp_id: int):
    stamp = _stamp_or_404(stamp_id)
    scans = alerts.scan_history(db.session, stamp)
    return render_template("admin/alert.html", stamp=stamp, scans=scans, buyer_scans=alerts.buyer_scan_count(scans),
                           action_form=FlaskForm(), group_serial=group_serial, geo=geo,
                           reports=reports.list_reports(db.session, stamp_id=stamp.id, include_handled=True),
                           reason_label=reason_label)


@bp.route("/alerts/<int:stamp_id>/void", methods=["POST"])
@writes
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
@writes
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
@writes
@officer_required
def handle_alert(stamp_id: int):
    stamp = _stamp_or_404(stamp_id)
    _checked_post()
    stamp.alert_handled_at = utcnow()
    audit.record(db.session, "alert.handled", stamp, summary=stamp.serial,
                 after={"handled_by": current_user.email, "scans": stamp.scan_count, "scanners": stamp.scanner_count})
    db.session.commit()
    flash(_("Đã đánh dấu cảnh báo là đã xử lý."), "success")
    return redirect(url_for("admin.clone_alerts"))


@bp.route("/reports/<int:report_id>")
@officer_required
def buyer_report(report_id: int):
    """A buyer's report with the scan history of the stamp it names (if it names one)."""
    report = owned_or_404(BuyerReport, report_id)
    scans = alerts.scan_history(db.session, report.stamp) if report.stamp is not None else []
    return render_template("admin/report.html", report=report, scans=scans, buyer_scans=alerts.buyer_scan_count(scans),
                           others=reports.other_reports_of_stamp(db.session, report), group_serial=group_serial,
                           geo=geo, reason_label=reason_label)


@bp.route("/reports/<int:report_id>/handled", methods=["POST"])
@writes
@officer_required
def handle_report(report_id: int):
    report = owned_or_404(BuyerReport, report_id)
    _checked_post()
    if reports.mark_handled(report, by=current_user):
        audit.record(db.session, "report.handled", report, summary=f"{report.reason} {report.code}".strip(),
                     after={"handled_by": current_user.email, "stamp_id": report.stamp_id,
                            "product_id": report.product_id})
        db.session.commit()
        flash(_("Đã đánh dấu báo cáo là đã xử lý."), "success")
    else:
        flash(_("Báo cáo này đã được xử lý trước đó."), "info")
    return redirect(url_for("admin.clone_alerts", _anchor="reports"))
