"""The stamp page: what a buyer sees after pointing a phone at a stamp (docs/architecture.md, "A stamp scan")."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, request, stream_with_context, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from limits import parse as parse_limit
from sqlalchemy import select

from .. import public_facts
from ..catalogue.structured import share_card
from ..extensions import csrf, db, limiter
from ..i18n import current_language, may_be_signed_in
from ..models import Batch, Stamp, StampStatus
from ..models.base import utcnow
from ..stamps import scratch as scratch_codes
from ..stamps.serials import InvalidSerial, group_serial, normalize
from ..trace.epcis import stream_batch_epcis
from ..transactions import writes
from . import answer, page, unknown
from .facts import batch_facts as _facts
from .recorder import app_recorder
from .scanner import client_key

bp = Blueprint("scan", __name__)


def _not_a_serial(text: str):
    """The answer to a serial that is not one: 400 for a NUL character, which no legitimate
    input holds (the site's NUL check is not among this blueprint's hooks: its views read
    only the serial), else the one counterfeit answer."""
    if "\x00" in text:
        abort(400)
    return unknown.answer()


def _is_test_scan(producer_id: int | None, cooperative_id: int | None) -> bool:
    """A scan by someone logged in as the stamp's producer, its cooperative or an officer.

    Buyers carry no session cookie, so for them this reads nothing: the session (and the
    user behind it) is loaded only when the request brings a login cookie.
    """
    if not request.cookies or not may_be_signed_in():
        return False
    user = current_user
    if not user.is_authenticated:
        return False
    return user.is_officer or (user.producer_id is not None and user.producer_id in (producer_id, cooperative_id))


@bp.route("/s/<path:serial>", methods=["GET", "HEAD"])
@bp.route("/S/<path:serial>", methods=["GET", "HEAD"])
@limiter.exempt  # no blanket limits here (there are none app-wide); unknown serials count in unknown.answer
def stamp(serial: str):
    try:
        serial = normalize(serial.rstrip("/"))  # (a trailing slash is the same page) the check
    except InvalidSerial:                        # symbol is verified before any query
        return _not_a_serial(serial)
    config = current_app.config
    rec = app_recorder()
    found = answer.look_up(db.engine, config, rec, serial, now=utcnow(), user_agent=request.headers.get("User-Agent"),
                           address=request.remote_addr, province=unknown.province_from_request(),
                           tester=_is_test_scan)
    if found is None:
        return unknown.answer()
    if answer.wants_json(request.accept_mimetypes):
        view, state, first_at = found.view, found.state, found.first_at
        body = dict(_facts.get(db.engine, state), stamp={
            **{k: view[k] for k in ("serial", "serial_grouped", "verdict", "status", "recalled", "recall_reason",
                                    "scanners", "test", "first_scan_province", "scratch")},
            "first_scan_at": first_at.isoformat() if first_at else None,
            "recalled_at": state.recalled_at.isoformat() if state.recalled_at else None})
        response = unknown.no_store(jsonify(body))
    else:
        html = answer.page_html(db.engine, found, current_language(), current_app.jinja_env,
                                script_root=request.script_root)
        response = current_app.response_class(html, mimetype="text/html", headers=unknown.PAGE_HEADERS)
    answer.record(rec, found, answer.recording(request.method, config))
    return response


@bp.route("/s/", methods=["GET", "HEAD"])
@bp.route("/S/", methods=["GET", "HEAD"])
def empty():
    """A stamp URL with its serial cut off: the same answer as any wrong code."""
    return unknown.answer()


@bp.route("/s", methods=["GET"])
def lookup():
    """The serial typed into the form on ``/`` (torn or unreadable QR)."""
    typed = request.args.get("serial", "")[:64]
    try:
        return unknown.no_store(redirect(url_for("scan.stamp", serial=normalize(typed))))
    except InvalidSerial:
        return _not_a_serial(typed)


@bp.route("/lot/<int:batch_id>", methods=["GET", "HEAD"])
def batch(batch_id: int):
    """The public page of a batch (lô): what GS1's ``gs1:traceability`` link points to and
    what the lot URI of our EPCIS documents dereferences to."""
    found = db.session.get(Batch, batch_id)
    if found is None:
        abort(404)
    facts = _facts.get_for_batch(db.engine, found)
    mine = next((r for r in facts["recalls"] if r["this_lot"]), None)  # this lot's recall in force
    recall = {"recalled": mine is not None, "reason": mine["reason"] if mine else "",
              "recalled_at": mine["recalled_at"] if mine else None}
    if request.accept_mimetypes.best == "application/json":
        response = jsonify(dict(facts, recall=recall))
    else:
        product = facts["product"]
        card = share_card(  # a lot of a listed product is worth sharing, with its product's picture
            title=f"{product['name']} · {facts['batch']['lot']}", path=request.path,
            description=f"{facts['producer']['name']}, {facts['producer']['commune']}",
            image_path=url_for("catalogue.preview", slug=product["slug"], v=product["version"])) \
            if product["listed"] else None
        response = current_app.response_class(page.render(
            "scan/batch.html", f=facts, batch=found, recall=recall, here=request.path, card=card), mimetype="text/html")
    response.headers["Cache-Control"] = "public, max-age=60"  # a recall shows within a minute
    response.vary.update(("Accept-Language", "Accept"))
    return response


@bp.route("/lot/<int:batch_id>/epcis.json", methods=["GET", "HEAD"])
def batch_epcis(batch_id: int):
    """The batch's EPCIS 2.0 JSON-LD document, public like the stamps that point to it;
    streamed (a lot's stamps may be 100,000 package URIs)."""
    found = db.session.get(Batch, batch_id)
    if found is None:
        abort(404)
    if request.method == "HEAD":  # the headers only: no stamp is read
        body = iter(())
    else:
        body = stream_with_context(stream_batch_epcis(db.session, found.id,
                                                      base_url=current_app.config["PUBLIC_BASE_URL"]))
    response = current_app.response_class(body, mimetype="application/ld+json")
    response.headers["Cache-Control"] = "public, max-age=60"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.route("/s/<serial>/code", methods=["GET", "POST"])
@writes
@csrf.exempt  # like the stamp page, no session and no cookie: nothing a forged post could borrow
@limiter.exempt  # entries are limited below, per stamp and per client
def scratch(serial: str):
    """"Cào lớp phủ và nhập mã": the scratch-off code of a stamp of a scratch run.

    The first correct entry says the package is verified and records when; a later one says
    when it was first verified, and that a package scratched just now may be a copy.  Every
    entry counts (counted before the code is compared, so parallel guesses cannot slip past)
    against ``SCRATCH_STAMP_RATE`` (per stamp) and ``SCRATCH_CLIENT_RATE`` (per client);
    past either, 429.  A stamp whose code is being guessed says so: that is itself a sign
    of copying.  The stamp's producer, its cooperative and officers may check a code
    without recording it (a test, like their scans).
    """
    try:
        serial = normalize(serial)
    except InvalidSerial:
        return _not_a_serial(serial)
    stamp = db.session.scalars(select(Stamp).where(Stamp.serial == serial)).first()
    if stamp is None:
        return unknown.answer()
    product = stamp.batch.product
    verdict = public_facts.stamp_verdict(
        stamp_status=stamp.status, lot_recalled=public_facts.recall_in_force(stamp.batch.status),
        listed=public_facts.is_listed(product.status, product.producer.status))
    context = {"serial": serial, "serial_grouped": group_serial(serial, " "), "outcome": None, "error": None,
               "verdict": verdict.value, "test": False, "here": url_for("scan.stamp", serial=serial),
               "hotline_number": current_app.config.get("REPORT_HOTLINE")}
    status = 200
    if not stamp.run.scratch or stamp.status == StampStatus.void.value:
        context["error"], status = "no_code", 404
    elif request.method == "POST":
        config = current_app.config
        if config.get("RATELIMIT_ENABLED", True):
            stamp_ok = limiter.limiter.hit(parse_limit(config["SCRATCH_STAMP_RATE"]), "scratch-stamp", serial)
            client_ok = limiter.limiter.hit(parse_limit(config["SCRATCH_CLIENT_RATE"]), "scratch-client",
                                            client_key(get_remote_address()))
        else:
            stamp_ok = client_ok = True
        if not stamp_ok:
            context["error"], status = "locked", 429
        elif not client_ok:
            context["error"], status = "limited", 429
        else:
            key = scratch_codes.key_from_config(config)
            entered = request.form.get("code", "")[:64]
            normalized = scratch_codes.normalize_entry(entered)
            producer = product.producer
            if normalized is None:
                context["error"], status = "wrong", 422
            elif _is_test_scan(producer.id, producer.cooperative_id):
                right = scratch_codes.is_right(serial, entered, key)
                context["test"] = True
                context["error"], status = (None, 200) if right else ("wrong", 422)
            else:
                outcome = scratch_codes.verify(db.session, stamp, entered, key=key, now=utcnow())
                db.session.commit()
                if outcome.kind == "wrong":
                    context["error"], status = "wrong", 422
                else:
                    context["outcome"] = outcome
    response = current_app.make_response((page.render("scan/scratch.html", **context), status))
    if status == 429:
        response.headers["Retry-After"] = str(parse_limit(current_app.config["SCRATCH_STAMP_RATE"]).get_expiry())
    return unknown.no_store(response)
