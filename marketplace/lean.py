"""A buyer's plain scan, answered before Flask (docs/decisions/0011-scans-before-flask.md).

The stamp page ``/s/<SERIAL>`` and the printed Digital Link ``/01/<gtin>/10/<lot>/21/<serial>``
are most of the service's requests, and most come from a phone camera: a GET with no cookie.
For those the app's request machinery (request and app contexts, routing, the session,
response objects and their header checks) cost more than the page's own work, so this WSGI
layer, in front of the Flask app, answers them from the same functions the views use
(``scan.answer``; ``resolver.routes.printed_target``), with headers made once:

* ``/s/`` (``/S/``), GET or HEAD, no cookie, HTML preferred: the stamp page, rendered by
  ``scan.answer.page_html`` (Flask's request context is pushed only to render a frame or a
  panel not yet kept), the scan recorded by ``scan.answer.record``;
* the printed link, GET or HEAD, no cookie, no query string, no link set asked for
  (``resolver.routes.is_printed_request``): the 307 the resolver gives, from one answer
  made by the resolver once per process with slots in it.

Everything else goes to Flask, and so does every request this layer cannot answer: a host
outside ``TRUSTED_HOSTS`` (Flask's 400), a serial not in its canonical form or not found
(the counterfeit answer and its limit are Flask's), a cookie (the user may be the stamp's
producer: a test scan), JSON, a link that is not the stamp's canonical one, or an error
(nothing is recorded before the answer is whole, so Flask answers it afresh).
"""
from __future__ import annotations

import functools
import logging
import re
from contextlib import contextmanager

from werkzeug.datastructures import EnvironHeaders, MIMEAccept
from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_accept_header
from werkzeug.wsgi import get_host

from .extensions import db
from .i18n import cookieless_language, page_language
from .models.base import utcnow
from .resolver import routes as resolver
from .scan import answer, unknown
from .scan.page import URL_SLOT
from .scan.recorder import app_recorder
from .stamps.serials import InvalidSerial, normalize

log = logging.getLogger("marketplace.scan")

HTML = "text/html; charset=utf-8"


@functools.lru_cache(maxsize=256)
def _accept(header: str | None) -> MIMEAccept:
    """``Accept`` parsed as Werkzeug parses it for ``request.accept_mimetypes`` (once per header)."""
    return parse_accept_header(header, MIMEAccept)


def _never_a_test(producer_id, cooperative_id) -> bool:
    return False  # no cookie, so nobody signed in


# What this layer takes for a serial: letters and digits, trailing slashes (the same page).
# Anything else (a grouped or spaced serial, a newline, which Werkzeug's ``path`` converter
# does not match, non-ASCII) is Flask's to route and answer.
_CANONICAL_SERIAL = re.compile(r"[0-9A-Za-z]+/*")


@contextmanager
def _rendering(app, environ):
    """Flask's contexts for rendering a frame or a panel: an app context of its own (a fresh
    ``g``, where Flask-Babel keeps the locale; the session of its own) and the request's."""
    with app.app_context(), app.request_context(environ):
        yield


class LeanScans:
    """WSGI middleware: ``app.wsgi_app = LeanScans(app, app.wsgi_app)`` (inside ``ProxyFix``,
    which has set the client's address by then)."""

    def __init__(self, app, wsgi_app) -> None:
        self.app, self.wsgi_app = app, wsgi_app
        self._engine = None
        self._redirect = None  # (status, headers, body) of a printed link's 307 with slots

    def __call__(self, environ, start_response):
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        stamp, link = path[:3] in ("/s/", "/S/"), path[:4] == "/01/"  # (the rest of the site: one look)
        if (stamp or link) and method in ("GET", "HEAD") and not environ.get("HTTP_COOKIE") and self._trusted(environ):
            answered = None
            try:
                if stamp:
                    answered = self._stamp(environ, path[3:], method)
                else:
                    answered = self._printed_link(environ, path, method)
            except Exception:  # noqa: BLE001 - nothing was recorded: the app answers it afresh
                log.exception("the lean scan path failed on %s; the app answers it", path)
            if answered is not None:
                status, headers, body, then = answered
                if then is not None:  # the scan, recorded once its answer is whole (and only here)
                    try:
                        then()
                    except Exception:  # noqa: BLE001 - as the recorder does: never crash the page
                        log.exception("recording a scan of %s failed", path)
                start_response(status, headers)
                return [] if method == "HEAD" else [body]
        return self.wsgi_app(environ, start_response)

    def _trusted(self, environ) -> bool:
        """The request's host is among ``TRUSTED_HOSTS`` (when set): others get Flask's 400."""
        trusted = self.app.config["TRUSTED_HOSTS"]
        if not trusted:
            return True
        try:
            get_host(environ, trusted)
        except SecurityError:
            return False
        return True

    def _bound(self):
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    def _stamp(self, environ, rest: str, method: str):
        if not _CANONICAL_SERIAL.fullmatch(rest) or answer.wants_json(_accept(environ.get("HTTP_ACCEPT"))):
            return None
        try:
            serial = normalize(rest.rstrip("/"))
        except InvalidSerial:
            return None
        app, engine, rec = self.app, self._bound(), app_recorder(self.app)
        config = app.config
        found = answer.look_up(engine, config, rec, serial, now=utcnow(), user_agent=environ.get("HTTP_USER_AGENT"),
                               address=environ.get("REMOTE_ADDR"), tester=_never_a_test,
                               province=unknown.province_in(config, EnvironHeaders(environ)))
        if found is None:
            return None
        language = page_language(cookieless_language(config, environ.get("HTTP_ACCEPT_LANGUAGE", "")))
        body = answer.page_html(engine, found, language, app.jinja_env, lambda: _rendering(app, environ),
                                environ.get("SCRIPT_NAME", "").rstrip("/")).encode()  # (request.script_root)
        headers = [*unknown.PAGE_HEADERS, ("Content-Type", HTML), ("Content-Length", str(len(body)))]  # (Flask's order)
        written = answer.recording(method, config)
        return "200 OK", headers, body, lambda: answer.record(rec, found, written)

    def _printed_link(self, environ, path: str, method: str):
        parts = path.split("/")  # "", "01", gtin, "10", lot, "21", serial[, ""]
        if len(parts) == 8 and parts[7] == "":
            parts.pop()
        if len(parts) != 7 or parts[3] != "10" or parts[5] != "21" or not path.isascii():
            return None
        if not resolver.is_printed_request(method, environ.get("QUERY_STRING"), _accept(environ.get("HTTP_ACCEPT"))):
            return None
        gtin, lot, serial = parts[2], parts[4], parts[6]
        base = self.app.config["PUBLIC_BASE_URL"].rstrip("/")
        target = resolver.printed_target(self._bound(), base, gtin, lot, serial)
        if target is None:
            return None
        status, headers, body = self._redirect or self._redirect_with_slots(base)
        link = resolver.linkset_header(resolver.printed_anchor(base, gtin, lot, serial))  # (as _redirect makes it)
        body = body.replace(URL_SLOT.encode(), serial.encode())
        return status, [(name, link if name == "Link" else str(len(body)) if name == "Content-Length"
                         else value.replace(URL_SLOT, serial)) for name, value in headers], body, None

    def _redirect_with_slots(self, base: str):
        """The resolver's own 307 for a stamp whose serial is :data:`URL_SLOT`, made once
        (serials are letters and digits: the same in a URL, a header and escaped HTML)."""
        with self.app.app_context():
            made = resolver.printed_redirect(resolver.links.stamp_page_url(base, URL_SLOT), base)
        self._redirect = (made.status, list(made.headers.items()), made.get_data())
        return self._redirect
