"""Response headers and redirect safety."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Response, abort, request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # no body to read

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


class SecureResponse(Response):
    """The app's response class: every response carries :data:`SECURITY_HEADERS` from the
    moment it is made, added in one step from a list built once, instead of an after-request
    hook rewriting each response's headers.  A header the view passed in (or sets later, like
    the stamp page's stricter ``Referrer-Policy``) wins over the default.  HTML pages also
    vary by language (``Accept-Language`` or the lang cookie) and login (``Cookie``).

    Responses made elsewhere (a Werkzeug ``HTTPException``'s) become this class through
    :meth:`force_type`, which Flask calls for them, and get the same headers there.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(kwargs.get("headers"), CompleteHeaders):
            self._add_security_headers()

    @classmethod
    def force_type(cls, response, environ=None):
        foreign = not isinstance(response, cls)
        converted = super().force_type(response, environ)
        if foreign:  # (adding them again to one made by __init__ changes nothing)
            converted._add_security_headers()
        return converted

    def _add_security_headers(self) -> None:
        headers = self.headers
        own = {name.lower() for name in headers.keys()} & _HEADER_NAMES
        html = self.mimetype == "text/html"
        if not own:
            headers.extend(_HTML_HEADERS if html else SECURITY_HEADERS)
            return
        headers.extend([(name, value) for name, value in SECURITY_HEADERS if name.lower() not in own])
        if html:
            self.vary.update(("Accept-Language", "Cookie"))


class CompleteHeaders(tuple):
    """A response's headers with the security headers already among them, made once
    (:func:`complete_headers`): a response made with them has nothing to add."""


def complete_headers(own: tuple[tuple[str, str], ...], *, html: bool) -> CompleteHeaders:
    """``own`` headers with the security headers added as :class:`SecureResponse` adds them
    (the same rule, run once on a response made for the purpose), as one list to make
    responses with."""
    made = SecureResponse(mimetype="text/html" if html else "application/octet-stream", headers=own)
    return CompleteHeaders((name, value) for name, value in made.headers.items()
                           if name.lower() not in ("content-type", "content-length"))


_HEADER_NAMES = frozenset(name.lower() for name, _ in SECURITY_HEADERS) | {"vary"}
_HTML_HEADERS = (*SECURITY_HEADERS, ("Vary", "Accept-Language, Cookie"))


def bearer_token() -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None (pull feeds, the API)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def refuse_nul_bytes():
    """400 for a NUL character anywhere in the path, query or form fields.

    No legitimate input contains one; PostgreSQL refuses it in text parameters (a 500 deep
    inside a query otherwise) and it truncates strings in C libraries.
    """
    if "\x00" in request.path:
        abort(400)
    # Form fields only where a form can be sent: parsing one costs every GET otherwise.
    sources = (request.args,) if request.method in SAFE_METHODS else (request.args, request.form)
    for values in sources:
        for _, value in values.items(multi=True):
            if "\x00" in value:
                abort(400)


def safe_next(target: str | None) -> str | None:
    """Return ``target`` only when it is a path on this site ("/dashboard/"), else None.

    Refuses absolute URLs, scheme-relative ``//evil.example`` and backslash tricks.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
