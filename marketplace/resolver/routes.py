"""GS1-Conformant resolver (GS1-Conformant Resolver standard 1.2) for the GTIN Digital Link URIs
printed on stamps: ``/01/<gtin>[/10/<lot>[/21/<serial>]]``, compressed URIs, and the resolver
description file at ``/.well-known/gs1resolver`` (docs/architecture.md, "URLs").

Rules, in the order a request meets them:

* OPTIONS → 204 with ``Allow`` and the CORS preflight headers.  Every response under
  ``/01/``, at ``/.well-known/gs1resolver`` or from a view of this blueprint carries
  ``Access-Control-Allow-Origin: *`` (errors and 405s too).
* Syntax (GS1 Digital Link URI syntax) → 400 with the reason: qualifiers of a GTIN in the order
  22, 10, 21, each once, values 1–20 characters of GS1 character set 82, the GTIN check digit,
  GS1 data attributes in the query string in their AI's format, a compressed part that does
  not decompress.  JSON ``{"error": {...}}`` when the client prefers JSON, plain text otherwise.
* Resolution: a URI naming a serial (AI 21) whose stamp does not exist, or not under that
  GTIN and lot (a wrong check character included), gets the one counterfeit answer of
  ``/s/<made-up>`` (``marketplace.scan.unknown``): same page, same status, same per-client
  limit, and the probe is recorded; it never walks up to the genuine lot or product.
  Without a serial, the GTIN must belong to a product (else 404), and a lot unknown under
  it falls back to the product, as the standard's walk-up rule says.  Stamps, batches and
  the products they belong to resolve whatever the product's
  catalogue status, because a printed stamp must keep working; the product page (``gs1:pip``)
  is offered only for a published product of an approved producer.
* ``?linkType=all`` (or ``linkset``), or ``Accept: application/linkset+json`` preferred over
  HTML → 200 with the RFC 9264 link set of the item *and of the levels above it* (titles in
  the client's language; link objects carry only the members GS1's link-set schema allows).
  Otherwise a 307 to the requested link type (looked for at the most specific level first,
  the target's media type chosen by ``Accept``) or, when none is requested, to the default
  link, with the rest of the query string passed on and a ``Link`` header to the link set.
  A requested link type the item does not have is a 404 (GS1's conformance tests), with the
  ``Link`` header to the link set.  Compressed URIs resolve like their uncompressed equivalent (no redirect to it) and
  expose it as ``rel="owl:sameAs"``.

Absolute URLs (anchors, targets) are built from ``PUBLIC_BASE_URL``, never from the Host header.
The views stay thin: parsing is :mod:`.digital_link`; what a link names and which of its
links answers is :mod:`.links` (plain functions over the session, the site and ``Accept``).
"""
from __future__ import annotations

import json
from urllib.parse import quote, unquote

from flask import Blueprint, abort, current_app, jsonify, redirect, request, url_for
from werkzeug.routing import BaseConverter

from ..extensions import db
from ..i18n import current_language
from ..models.base import local_today
from ..scan import unknown
from ..scan.facts import batch_facts, stamp_state
from ..stamps.serials import InvalidSerial, normalize
from ..transactions import reads
from . import digital_link as gs1
from . import links
from .digital_link import CompressionError, DigitalLink, DigitalLinkError

bp = Blueprint("resolver", __name__)

METHODS = ["GET", "HEAD", "OPTIONS"]
REFUSED = ["POST", "PUT", "PATCH", "DELETE"]  # answered here (405), so they carry CORS too
ALLOW = "GET, HEAD, OPTIONS"
LINKSET = "application/linkset+json"
LINKSET_VALUES = ("all", "linkset", "gs1:linkset")


class CompressedConverter(BaseConverter):
    """A fully compressed Digital Link at the root: base64url only, 10+ characters (the
    shortest, a bare GTIN, is 10), so ``/``, ``/p/…``, ``/s/…``, ``/healthz`` or ``/static/…``
    never match it; Werkzeug tries static segments first anyway."""

    regex = r"[A-Za-z0-9_\-]{10,300}"


@bp.record_once
def _register_converter(state) -> None:
    state.app.url_map.converters.setdefault("gs1c", CompressedConverter)


# --- messages -----------------------------------------------------------------------------

MESSAGES = {
    "gtin_format": ("GTIN phải gồm 8, 12, 13 hoặc 14 chữ số.", "A GTIN has 8, 12, 13 or 14 digits."),
    "gtin_check_digit": ("Số kiểm tra của GTIN không đúng.", "The GTIN check digit is wrong."),
    "missing_value": ("Một bộ định danh trong đường dẫn thiếu giá trị.", "A key qualifier in the path has no value."),
    "not_a_qualifier": ("Sau GTIN, đường dẫn chỉ được có các bộ định danh 22, 10 và 21.",
                        "Only the key qualifiers 22, 10 and 21 may follow a GTIN in the path."),
    "repeated_qualifier": ("Một bộ định danh xuất hiện hai lần.", "A key qualifier appears twice."),
    "qualifier_order": ("Sai thứ tự: 22 (biến thể), rồi 10 (lô), rồi 21 (số sê-ri).",
                        "Wrong order: 22 (variant), then 10 (lot), then 21 (serial)."),
    "empty_value": ("Giá trị trống.", "The value is empty."),
    "too_long": ("Giá trị dài quá 20 ký tự.", "The value is longer than 20 characters."),
    "bad_characters": ("Giá trị có ký tự ngoài bộ ký tự GS1 (CSET 82).",
                       "The value has characters outside GS1 character set 82."),
    "syntax": ("Đường dẫn không phải là một GS1 Digital Link hợp lệ.", "The path is not a valid GS1 Digital Link."),
    "bad_attribute": ("Thuộc tính dữ liệu GS1 không đúng định dạng.", "A GS1 data attribute has the wrong format."),
    "no_gtin": ("Liên kết không có GTIN.", "The link has no GTIN."),
    "compressed": ("Không giải nén được phần nén của Digital Link.",
                   "The compressed part of the Digital Link does not decompress."),
    "unknown_gtin": ("Không tìm thấy sản phẩm mang mã GTIN này.", "No product carries this GTIN."),
    "unsupported_key": ("Trình phân giải này chỉ phục vụ GTIN.", "This resolver serves GTINs only."),
    "no_such_link_type": ("Mã này không có liên kết thuộc loại được yêu cầu.",
                          "This item has no link of the requested type."),
}


def _message(reason: str) -> str:
    vi, en = MESSAGES.get(reason, MESSAGES["compressed"])
    return en if current_language() == "en" else vi


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/plain", "text/html", "application/json", LINKSET])
    return best in ("application/json", LINKSET)


def _error(code: int, reason: str, fields: dict | None = None):
    message = _message(reason)
    if _wants_json():
        response = jsonify(error={"code": code, "message": message, "fields": fields or {}})
        response.status_code = code
    else:
        title = "Bad Request" if code == 400 else "Not Found"
        response = current_app.response_class(f"{code} {title}: {message}\n", status=code, mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    response.vary.update(("Accept", "Accept-Language"))
    return response


def _syntax_error(exc: DigitalLinkError):
    return _error(400, exc.reason, {exc.field: exc.reason})


# --- CORS and preflight --------------------------------------------------------------------

@bp.after_request
def _cors(response):
    """Every response of this blueprint, errors and 405s (:func:`refused`) included."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Access-Control-Expose-Headers"] = "Link, Location"
    response.headers["Access-Control-Allow-Methods"] = ALLOW
    response.headers.setdefault("Access-Control-Allow-Headers", "Accept, Accept-Language")
    return response


def _preflight():
    response = current_app.response_class(status=204)
    response.headers["Allow"] = ALLOW
    requested = request.headers.get("Access-Control-Request-Headers", "")
    allowed = "Accept, Accept-Language" + (", " + requested if requested and len(requested) < 200 else "")
    response.headers["Access-Control-Allow-Headers"] = allowed
    response.headers["Access-Control-Max-Age"] = "86400"
    return response


# --- routes --------------------------------------------------------------------------------

@bp.route("/01/<gtin>/", methods=METHODS, strict_slashes=False)
def product(gtin: str):
    return _dispatch(lambda: gs1.parse_path(gtin))


@bp.route("/01/<gtin>/10/<lot>/", methods=METHODS, strict_slashes=False)
def lot(gtin: str, lot: str):
    return _dispatch(lambda: gs1.parse_path(gtin, ["10", lot]))


@bp.route("/01/<gtin>/10/<lot>/21/<serial>/", methods=METHODS, strict_slashes=False)
def serial(gtin: str, lot: str, serial: str):
    return _printed_link(gtin, lot, serial) or _dispatch(lambda: gs1.parse_path(gtin, ["10", lot, "21", serial]))


@bp.route("/01/<gtin>/<path:rest>", methods=METHODS)
def qualified(gtin: str, rest: str):
    """Every other path under a GTIN: ``/21/<serial>`` without a lot, a variant (22),
    partially compressed URIs (``/01/<gtin>/<compressed>``) and all the syntax errors."""
    segments = rest.rstrip("/").split("/")
    if len(segments) == 1 and not segments[0].isdigit() and gs1.SAFE64_TOKEN.fullmatch(segments[0]):
        return _dispatch(lambda: _partially_compressed(gtin, segments[0]), compressed=True)
    return _dispatch(lambda: gs1.parse_path(gtin, segments))


@bp.route("/<gs1c:token>/", methods=METHODS, strict_slashes=False)
def compressed(token: str):
    if request.method == "OPTIONS":
        return _preflight()
    try:
        elements, others = gs1.decompress(token)
    except CompressionError:
        abort(404)  # not recognisably a Digital Link: the site's ordinary 404 page
    if not elements:
        abort(404)
    if "01" not in {ai for ai, _ in elements}:
        return _error(404, "unsupported_key", {"path": "unsupported_key"})
    return _dispatch(lambda: gs1.from_elements(elements, others), compressed=True)


@bp.route("/.well-known/gs1resolver", methods=METHODS)
def description():
    if request.method == "OPTIONS":
        return _preflight()
    body = {
        "name": "Sàn OCOP — GS1-Conformant resolver",
        "resolverRoot": _base(),
        "supportedLinkType": [{"namespace": gs1.GS1_VOC, "prefix": "gs1:", "profile": "https://gs1.org/voc/?show=linktypes"}],
        "supportedPrimaryKeys": ["01"],  # GS1's description-file schema: numeric AIs (or "all")
        "linkTypeDefaultCanBeLinkset": False,
        "supportsSemanticInterpretation": False,
        "validatesAIcombination": False,
    }
    response = current_app.response_class(json.dumps(body, ensure_ascii=False), mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.route("/01/<path:rest>", methods=REFUSED)
@bp.route("/.well-known/gs1resolver", methods=REFUSED)
@bp.route("/<gs1c:token>/", methods=REFUSED, strict_slashes=False)
@reads  # it takes no body: it only says no
def refused(**_):
    """A method the resolver does not serve: 405 with ``Allow``, from this blueprint (so
    with its CORS headers) rather than from routing."""
    abort(405, valid_methods=METHODS)


def _printed_link(gtin: str, lot: str, serial: str):
    """The link a stamp's QR carries, answered from the stamp page's own facts: one indexed
    read of the stamp and its batch's cached facts (:data:`scan.facts.batch_facts`), no ORM
    and no GS1 parsing, when the request is the plain scan of a printed label: a GET of the
    canonical path (GTIN-14, the lot as stored, the serial as printed) with no query string
    and no link set asked for (``Accept``).  The answer is the one :func:`_resolve` gives (tested).
    Anything else (None) goes the general way, which also names every error."""
    if not is_printed_request(request.method, request.query_string, request.accept_mimetypes):
        return None
    target = printed_target(db.engine, _base(), gtin, lot, serial)
    if target is None:
        return None
    return printed_redirect(target, printed_anchor(_base(), gtin, lot, serial))


def is_printed_request(method: str, query_string, accept) -> bool:
    """A request the printed link's own answer may serve: a GET or HEAD with no query string
    that does not ask for the link set (``accept``: the request's parsed ``Accept``)."""
    return method in ("GET", "HEAD") and not query_string and not asks_linkset(accept)


def asks_linkset(accept) -> bool:
    """The client prefers the link set to a page (``accept``: its parsed ``Accept``)."""
    return accept.best_match(["text/html", LINKSET]) == LINKSET


def printed_target(engine, base: str, gtin: str, lot: str, serial: str) -> str | None:
    """The stamp page the printed link ``/01/<gtin>/10/<lot>/21/<serial>`` leads to, when it
    is that stamp's canonical link (the serial as printed, its product's GTIN-14, its lot as
    stored); None otherwise (the general way decides).  One raw read of the stamp, its
    batch's facts from the stamp page's cache."""
    try:
        if normalize(serial) != serial:
            return None
    except InvalidSerial:
        return None
    state = stamp_state(engine, serial, listings=False)  # (a redirect: no buy links to follow)
    if state is None:
        return None
    facts = batch_facts.get(engine, state)
    if facts["product"]["gtin"] != gtin or facts["batch"]["lot"] != lot:
        return None
    return links.stamp_page_url(base, serial)


def printed_anchor(base: str, gtin: str, lot: str, serial: str) -> str:
    """The printed link's own URI: the anchor of its link set."""
    return base + DigitalLink(gtin=gtin, lot=lot, serial=serial).path()


def printed_redirect(target: str, anchor: str):
    """A printed link's 307, whole: the general path's :func:`_redirect` with the blueprint's
    CORS headers (its after-request hook, applied here too for an answer made outside a
    request; applied twice it changes nothing)."""
    return _cors(_redirect(target, anchor, []))


def _partially_compressed(gtin: str, token: str) -> DigitalLink:
    gtin14 = gs1.check_gtin(gtin)
    try:
        elements, others = gs1.decompress(token)
    except CompressionError as exc:
        raise DigitalLinkError("compressed", "path", str(exc)) from exc
    if not elements and not others or any(ai == "01" for ai, _ in elements):
        raise DigitalLinkError("compressed", "path")
    return gs1.from_elements([("01", gtin14), *elements], others)


# --- resolution ----------------------------------------------------------------------------

def _base() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def _dispatch(parse, *, compressed: bool = False):
    if request.method == "OPTIONS":
        return _preflight()
    try:
        link = parse()
        passed_on = _passed_on_query()
    except DigitalLinkError as exc:
        return _syntax_error(exc)
    return _resolve(link, passed_on, compressed=compressed)


def _passed_on_query() -> list[str]:
    """The raw ``key=value`` parts of the query string other than ``linkType``; GS1 data
    attributes among them are checked against their AI's format."""
    raw = request.query_string.decode("latin-1")
    parts = []
    for part in raw.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        key, value = unquote(key), unquote(value.replace("+", " "))
        if key == "linkType":
            continue
        if key in ("01", "10", "21", "22"):  # the primary key and its qualifiers go in the path only
            raise DigitalLinkError("bad_attribute", key)
        if gs1.attribute_is_valid(key, value) is False:
            raise DigitalLinkError("bad_attribute", key[:10])
        parts.append(quote(part, safe="=%+-._~!$'()*,;:@/?"))
    return parts


def _wants_linkset(link_type: str | None) -> bool:
    if link_type is not None:
        return link_type in LINKSET_VALUES
    return asks_linkset(request.accept_mimetypes)


def _site() -> links.Site:
    return links.Site(_base(), url_for, local_today())


def _resolve(link: DigitalLink, passed_on: list[str], *, compressed: bool):
    found = links.find(db.session, link)
    if link.serial is not None and (found is None or found.stamp is None):
        # a serial that does not exist (or not under this GTIN and lot): the one counterfeit
        # answer, exactly as /s/<made-up> gives it, never the genuine lot or product
        return unknown.answer(gtin=link.gtin, lot=link.lot, product_id=found.product.id if found else None)
    if found is None:
        return _error(404, "unknown_gtin", {"01": "unknown"})
    anchor = _base() + link.path()
    linkset_link = linkset_header(anchor)
    headers = []
    if compressed:
        same_as = anchor + (f"?{link.query()}" if link.attributes else "")
        headers.append(f'<{same_as}>; rel="owl:sameAs"')
    levels = links.link_levels(_site(), found)
    link_type = request.args.get("linkType")
    if _wants_linkset(link_type):
        body = links.linkset(anchor, levels, found.product.name, current_language())
        if body is None:
            return _error(404, "unknown_gtin", {"01": "unknown"})
        best = request.accept_mimetypes.best_match([LINKSET, "application/json"])
        response = current_app.response_class(json.dumps(body, ensure_ascii=False),
                                              mimetype="application/json" if best == "application/json" else LINKSET)
        headers.append(f'<{gs1.LINKSET_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; '
                       f'type="application/ld+json"')
    else:
        wanted = None
        if link_type and link_type not in ("defaultLink", "gs1:defaultLink", gs1.GS1_VOC + "defaultLink"):
            wanted = gs1.link_type_name(link_type) or link_type  # an unknown type is simply never found
        target = links.choose(levels, wanted, request.accept_mimetypes)
        if target is None:
            # GS1-Conformant resolver: a link type the item does not have is a 404, which
            # still points to what the item does have
            reason = "unknown_gtin" if wanted is None else "no_such_link_type"
            response = _error(404, reason, {"linkType": reason} if wanted else {"01": "unknown"})
            response.headers["Link"] = ", ".join([linkset_link, *headers])
            return response
        query = ([link.query()] if link.attributes else []) + passed_on
        return _redirect(links.with_query(target.href, query), anchor, headers)
    response.headers["Link"] = ", ".join(headers)
    return _public(response)


def linkset_header(anchor: str) -> str:
    return f'<{anchor}?linkType=all>; rel="linkset"; type="{LINKSET}"; title="All links for this item"'


def _redirect(target: str, anchor: str, headers: list[str]):
    """The 307 to ``target``, with the ``Link`` header to the item's link set first."""
    response = redirect(target, 307)
    response.headers["Link"] = ", ".join([linkset_header(anchor), *headers])
    return _public(response)


def _public(response):
    response.headers["Cache-Control"] = "public, max-age=60"  # a recall shows within a minute
    response.headers["Referrer-Policy"] = "no-referrer"      # serials stay out of Referer headers
    response.vary.update(("Accept", "Accept-Language"))
    return response
