"""The buyer's report pages (``/report``) and the report photos, shown to officers and to
the product's producer only."""
from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_from_directory, url_for
from flask_limiter.util import get_remote_address
from flask_login import login_required

from .. import public_facts
from ..access import owned_or_404
from ..extensions import db, limiter
from ..scan.scanner import client_key
from ..scan.unknown import province_from_request  # the trusted proxy's header, as for scans
from ..media import ImageRejected, is_safe_media_name, remove_image, store_image
from ..models import BuyerReport
from ..stamps.serials import group_serial, is_valid
from ..transactions import writes
from ..uploads import image_error, private_dir
from . import service
from .forms import ReportForm

bp = Blueprint("reports", __name__)
log = logging.getLogger("marketplace.reports")

UNUSED_RENDITIONS = ("-m",)  # a report photo is seen whole or as a thumbnail (-t) in lists


def _private(response):
    """Report pages name a serial (and a buyer's words): never cached, never sent on as a
    referrer to any link the page holds."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def save_photo(file_storage) -> str:
    """Store an uploaded photo re-encoded (metadata dropped) in the private folder, which
    ``/media`` never serves; returns its stem.  Raises :class:`ImageRejected`."""
    cfg = current_app.config
    data = file_storage.read(cfg["MAX_PHOTO_BYTES"] + 1)
    stored = store_image(data, private_dir(), max_bytes=cfg["MAX_PHOTO_BYTES"], max_pixels=cfg["MAX_IMAGE_PIXELS"])
    for suffix in UNUSED_RENDITIONS:
        (private_dir() / f"{stored.stem}{suffix}.jpg").unlink(missing_ok=True)
    return stored.stem


def _report_rate() -> str:
    return current_app.config["REPORT_RATE"]


def _render_form(form, *, product, status: int = 200):
    response = current_app.make_response((render_template(
        "reports/new.html", form=form, product=product, hotline=current_app.config.get("REPORT_HOTLINE")), status))
    return _private(response)


@bp.route("/report", methods=["GET", "POST"])
@writes
@limiter.limit(_report_rate, methods=["POST"], key_func=lambda: client_key(get_remote_address()))
def new():
    """``?s=<serial>`` from a stamp page, ``?p=<product slug>`` from a product page, neither
    from the counterfeit page.  The page never says whether the serial exists (the stamp and
    not-found pages do that, rate-limited): it only repeats the code it was given."""
    form = ReportForm()
    link_code = service.clean_code(request.args.get("s", ""))
    slug = request.args.get("p", "")[:service.SLUG_MAX]
    # The product page's own product, named on the form when buyers can see it anyway.
    product = service.find_subject(db.session, product_slug=slug).product if slug else None
    if product is not None and not public_facts.is_listed(product.status, product.producer.status):
        product = None
    if request.method == "GET" and link_code:
        form.code.data = group_serial(link_code, " ") if is_valid(link_code) else link_code
    if form.validate_on_submit():
        subject = service.find_subject(db.session, code=form.code.data or link_code, product_slug=slug)
        photo = None
        if form.has_photo:
            try:
                photo = save_photo(form.photo.data)
            except ImageRejected as exc:
                form.photo.errors = [image_error(exc)]
        if not form.photo.errors:
            try:
                report = service.create_report(db.session, subject, reason=form.reason.data, note=form.note.data or "",
                                               phone=form.phone.data or "", photo=photo,
                                               province_code=province_from_request())
                db.session.commit()
            except Exception:
                db.session.rollback()
                if photo:
                    remove_image(photo, private_dir())
                raise
            log.info("buyer report", extra={"event": "buyer_report", "report_id": report.id,
                                            "reason": report.reason, "stamp_id": report.stamp_id})
            return _private(redirect(url_for("reports.thanks"), code=303))
    status = 422 if request.method == "POST" else 200
    return _render_form(form, product=product, status=status)


@bp.route("/report/thanks")
def thanks():
    """The same page after every report: it tells nothing about this or any other report."""
    return _private(current_app.make_response(render_template(
        "reports/thanks.html", hotline=current_app.config.get("REPORT_HOTLINE"))))


@bp.errorhandler(429)
def too_many(error):
    """Over ``REPORT_RATE``: a page that says so and where else to turn, not an error."""
    # Flask-Limiter adds Retry-After and the X-RateLimit headers to this response.
    return _private(current_app.make_response((render_template(
        "reports/limited.html", hotline=current_app.config.get("REPORT_HOTLINE")), 429)))


@bp.route("/report/<int:report_id>/photo")
@login_required
def photo(report_id: int):
    """A report's photo for officers and for the producer of the product it names (their
    cooperative too); anyone else gets 404.  ``?size=t``: the thumbnail."""
    report = owned_or_404(BuyerReport, report_id)
    suffix = "-t" if request.args.get("size") == "t" else ""
    name = f"{report.photo}{suffix}.jpg" if report.photo else ""
    if not name or not is_safe_media_name(name) or not (private_dir() / name).is_file():
        abort(404)
    response = send_from_directory(private_dir(), name, mimetype="image/jpeg", max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
