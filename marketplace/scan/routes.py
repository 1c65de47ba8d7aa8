"""The stamp page: what a buyer sees after pointing a phone at a stamp (DESIGN.md §5)."""
from __future__ import annotations

import json

from flask import Blueprint, abort, current_app, jsonify, redirect, request, url_for
from flask_limiter.util import get_remote_address
from limits import parse as parse_limit

from .. import geo, public_facts
from ..extensions import db, limiter
from ..i18n import current_language
from ..models import Batch
from ..models.base import utcnow
from ..stamps.serials import InvalidSerial, group_serial, normalize
from ..trace.epcis import batch_epcis_document
from . import page
from .facts import FactsCache, stamp_state
from .recorder import ScanRecorder, agent_family

bp = Blueprint("scan", __name__)
_facts = FactsCache()


def recorder() -> ScanRecorder:
    app = current_app._get_current_object()
    rec = app.extensions.get("scan_recorder")
    if rec is None:
        engine = db.engine
        rec = app.extensions["scan_recorder"] = ScanRecorder(lambda: engine, app.config["SCAN_FLUSH_SECONDS"])
    return rec


def _not_found():
    """The same page for every unknown, malformed or wrong-check serial: it tells nothing
    about which serials exist, and warns that the label may be counterfeit.

    Only these answers count against ``SCAN_NOT_FOUND_RATE`` (per client): someone walking
    through random serials gets 429, while real stamps keep answering for everyone, shops
    behind a shared address included.
    """
    item = parse_limit(current_app.config["SCAN_NOT_FOUND_RATE"])
    if current_app.config.get("RATELIMIT_ENABLED", True) and not limiter.limiter.hit(
            item, "scan-not-found", get_remote_address()):
        response = current_app.make_response((page.render("scan/not_found.html", here="/"), 429))
        response.headers["Retry-After"] = str(item.get_expiry())
        return _headers(response)
    response = current_app.make_response((page.render("scan/not_found.html", here="/"), 404))
    return _headers(response)


def _headers(response):
    headers = response.headers
    headers["Referrer-Policy"] = "no-referrer"  # serials never leak through outbound links
    headers["Cache-Control"] = "no-store"
    # The language comes from Accept-Language or the lang cookie; JSON from Accept.
    headers["Vary"] = "Accept, Accept-Language, Cookie"
    return response


def _province_from_request() -> int | None:
    header = current_app.config.get("SCAN_PROVINCE_HEADER")
    if not header:
        return None
    try:
        code = int(request.headers.get(header, ""))
    except ValueError:
        return None
    return code if geo.province(code) else None


@bp.route("/s/<path:serial>", methods=["GET", "HEAD"])
@bp.route("/S/<path:serial>", methods=["GET", "HEAD"])
@limiter.exempt  # no blanket limits here (there are none app-wide); unknown serials count in _not_found
def stamp(serial: str):
    try:
        serial = normalize(serial)  # the check symbol is verified before any query
    except InvalidSerial:
        return _not_found()
    state = stamp_state(db.engine, serial)
    if state is None:
        return _not_found()
    now = utcnow()
    province = _province_from_request()
    rec = recorder()
    pending = rec.pending_for(state.id)
    recording = request.method == "GET" and current_app.config["SCAN_RECORDING"]
    if recording:
        rec.record(state.id, now, province, agent_family(request.headers.get("User-Agent")))
    base_url = current_app.config["PUBLIC_BASE_URL"]
    scans = state.scan_count + pending + (1 if recording else 0)
    first_at = state.first_scan_at or now
    first_province = state.first_scan_province or province
    suspicious = public_facts.copy_suspected(
        scans=scans, threshold=current_app.config["SCAN_CLONE_THRESHOLD"],
        other_province_seen=state.other_province_seen, first_province=state.first_scan_province, province=province)
    verdict = public_facts.stamp_verdict(stamp_status=state.status, lot_recalled=state.lot_recalled,
                                         listed=state.listed, suspicious=suspicious)
    view = {
        "serial": serial, "serial_grouped": group_serial(serial, " "), "verdict": verdict.value,
        "status": state.status, "recalled": state.lot_recalled, "recall_reason": state.recall_reason,
        "recalled_at": state.recalled_at, "scans": scans,
        "first_scan_at": first_at.replace(second=0, microsecond=0),  # the page shows minutes
        "first_scan_province": getattr(geo.province(first_province), "short", None),
    }
    if request.accept_mimetypes.best == "application/json":
        body = dict(_facts.get(db.session, state, base_url), stamp={**view, "first_scan_at": first_at.isoformat(),
                    "recalled_at": state.recalled_at.isoformat() if state.recalled_at else None})
        response = jsonify(body)
    else:
        frame = _facts.fragment(db.session, state.cache_key, base_url, ("stamp", current_language()), page.render_frame)
        response = current_app.response_class(page.fill(frame, view), mimetype="text/html")
    if recording and rec.interval == 0:
        rec.flush()  # synchronous mode (tests, or a deployment that wants it)
    return _headers(response)


@bp.route("/s/", methods=["GET", "HEAD"])
@bp.route("/S/", methods=["GET", "HEAD"])
def empty():
    """A stamp URL with its serial cut off: the same answer as any wrong code."""
    return _not_found()


@bp.route("/s", methods=["GET"])
def lookup():
    """The serial typed into the form on ``/`` (torn or unreadable QR)."""
    typed = request.args.get("serial", "")[:64]
    try:
        return _headers(redirect(url_for("scan.stamp", serial=normalize(typed))))
    except InvalidSerial:
        return _not_found()


@bp.route("/lot/<int:batch_id>", methods=["GET", "HEAD"])
def batch(batch_id: int):
    """The public page of a batch (lô): what GS1's ``gs1:traceability`` link points to and
    what the lot URI of our EPCIS documents dereferences to."""
    found = db.session.get(Batch, batch_id)
    if found is None:
        abort(404)
    base_url = current_app.config["PUBLIC_BASE_URL"]
    facts = _facts.get_for_batch(db.session, found, base_url)
    mine = next((r for r in facts["recalls"] if r["this_lot"]), None)  # this lot's recall in force
    recall = {"recalled": mine is not None, "reason": mine["reason"] if mine else "",
              "recalled_at": mine["recalled_at"] if mine else None}
    if request.accept_mimetypes.best == "application/json":
        response = jsonify(dict(facts, recall=recall))
    else:
        response = current_app.response_class(page.render(
            "scan/batch.html", f=facts, batch=found, recall=recall, here=request.path), mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=60"  # a recall shows within a minute
    response.vary.update(("Accept-Language", "Accept"))
    return response


@bp.route("/lot/<int:batch_id>/epcis.json", methods=["GET", "HEAD"])
def batch_epcis(batch_id: int):
    """The batch's EPCIS 2.0 JSON-LD document, public like the stamps that point to it."""
    found = db.session.get(Batch, batch_id)
    if found is None:
        abort(404)
    document = batch_epcis_document(found, base_url=current_app.config["PUBLIC_BASE_URL"])
    response = current_app.response_class(json.dumps(document, ensure_ascii=False), mimetype="application/ld+json")
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
