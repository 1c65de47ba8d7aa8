"""Every use of a library's private internals, in one place (issue 15, point 4).

Each was chosen for a measured reason (given with it) and each is a bet that the library's
next release keeps it.  So they live here, behind small functions and classes the rest of
the code uses, and :data:`CANARIES` lists what each relies on: ``tests/test_internals.py``
checks every one against the installed libraries, so an upgrade that removes or changes an
internal fails that test by name, instead of failing somewhere at run time.  The pins in
``requirements.txt`` point here.

- Werkzeug: ``Rule._compile_builder`` (:class:`LazyBuildRule`).
- Flask-Limiter: ``Limiter._check_request_limit(callable_name, in_middleware)``
  (:class:`RouteLimiter`).
- Flask-Login: the request's user in ``g._login_user`` (:func:`set_request_user`).
- Flask-Babel: the locale chosen for the context in ``g._flask_babel.babel_locale``
  (:func:`chosen_locale`).
- Jinja2: ``jinja2.ext._make_new_gettext`` and its siblings (:func:`newstyle_gettext`).
- reportlab: ``Canvas._doc.Pages.pages`` (:func:`last_page`) and the process-wide
  ``rl_config.useA85`` (:func:`binary_streams`).
"""
from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Callable

import flask_babel
from flask import g
from flask_limiter import Limiter
from flask_login import utils as flask_login_utils
from jinja2 import ext as jinja_ext
from werkzeug.routing import Rule

# ---- Werkzeug ------------------------------------------------------------------------------


class LazyBuildRule(Rule):
    """A URL rule whose URL-building code is generated on its first ``url_for``.

    Werkzeug generates and compiles two Python functions per rule when the rule is added:
    for our ~120 rules that was 90 % of ``create_app`` (48 of 53 ms; every gunicorn worker,
    every ``flask`` command and every test pays it), while a process builds URLs for a few
    dozen rules.  Matching is unchanged; the builders are Werkzeug's own, made on demand.
    """

    def _compile_builder(self, append_unknown: bool = True):
        name = "_build_unknown" if append_unknown else "_build"

        def build_on_first_use(rule, **values):
            builder = Rule._compile_builder(rule, append_unknown).__get__(rule, None)
            setattr(rule, name, builder)  # later builds call Werkzeug's function directly
            return builder(**values)

        return build_on_first_use


# ---- Flask-Limiter ---------------------------------------------------------------------------

class RouteLimiter(Limiter):
    """Flask-Limiter with the limits decorated on views only.

    The service sets no default, application or blueprint limits (a shop full of buyers
    behind one address must never be turned away), so the check Flask-Limiter runs before
    every request has nothing to enforce, yet it cost the busiest pages ~15 % of their time.
    Decorated views still check their own limits (``in_middleware=False``).  A limit set at
    app level would be ignored here, so :meth:`init_app` refuses one; blueprint-wide limits
    (``limiter.limit(bp)``) would be ignored too: decorate the views instead.
    """

    def init_app(self, app) -> None:
        if any(app.config.get(name) for name in ("RATELIMIT_DEFAULT", "RATELIMIT_APPLICATION", "RATELIMIT_META")):
            raise RuntimeError("RouteLimiter enforces only view limits: no default, application or meta limits")
        super().init_app(app)

    def _check_request_limit(self, callable_name=None, in_middleware: bool = True) -> None:
        if not in_middleware:
            super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)


# ---- Flask-Login -----------------------------------------------------------------------------

def set_request_user(user) -> None:
    """Make ``user`` Flask-Login's ``current_user`` for this request only, without touching
    the session (the API's bearer tokens: a browser's cookie never acts on the API)."""
    g._login_user = user


# ---- Jinja2 ----------------------------------------------------------------------------------

# ---- Flask-Babel -----------------------------------------------------------------------------

def chosen_locale():
    """The locale Flask-Babel chose for this context (or ``force_locale`` set), None before
    it chose one or outside a context.  ``get_locale()`` returns the same after three
    lookups of its own: the language is read several times per page (4 µs a read → 0.5)."""
    try:
        return g._flask_babel.babel_locale
    except (AttributeError, RuntimeError):
        return None


def newstyle_gettext(translations) -> dict[str, Callable]:
    """Jinja's own new-style wrappers (autoescape, ``%(name)s`` variables) around a
    translations object, made once per language instead of looked up on every call as
    Flask-Babel's are (a large share of rendering the stamp page)."""
    return {
        "gettext": jinja_ext._make_new_gettext(translations.ugettext),
        "ngettext": jinja_ext._make_new_ngettext(translations.ungettext),
        "pgettext": jinja_ext._make_new_pgettext(translations.upgettext),
        "npgettext": jinja_ext._make_new_npgettext(translations.unpgettext),
    }


# ---- reportlab -------------------------------------------------------------------------------

def last_page(canvas):
    """The page object ``showPage`` just finished (its stream, its Contents)."""
    return canvas._doc.Pages.pages[-1]


@contextmanager
def binary_streams():
    """Compressed PDF streams without the ASCII85 layer reportlab adds by default (−20 %).
    ``rl_config.useA85`` is process-wide: set only around one document's writing.  (reportlab
    is imported here, when a PDF is written, not when the app starts.)"""
    from reportlab import rl_config

    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


# ---- canaries --------------------------------------------------------------------------------

def _has_params(function, *names: str) -> bool:
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return all(name in parameters for name in names)


def _flask_login_reads_g() -> bool:
    return "_login_user" in inspect.getsource(flask_login_utils._get_user)


def _flask_babel_keeps_locale_in_g() -> bool:
    source = inspect.getsource(flask_babel.get_locale) + inspect.getsource(flask_babel._get_current_context)
    return "g._flask_babel" in source and "ctx.babel_locale = locale" in source


def _reportlab_pages() -> bool:
    """(reportlab's PDF document module is imported here, when the canary runs, not at the
    top: the factory imports this module in every process, and ``pdfdoc`` would add ~10 ms
    to each start for a check only ``tests/test_internals.py`` makes; printing loads it
    itself, lazily, when a label sheet is made.)"""
    from reportlab.pdfbase.pdfdoc import PDFDocument

    document = PDFDocument()
    return isinstance(getattr(getattr(document, "Pages", None), "pages", None), list)


def _reportlab_a85() -> bool:
    from reportlab import rl_config

    return hasattr(rl_config, "useA85")


# (library, what is relied on, check): tests/test_internals.py runs every check
CANARIES: list[tuple[str, str, Callable[[], bool]]] = [
    ("Werkzeug", "Rule._compile_builder(self, append_unknown)",
     lambda: _has_params(Rule._compile_builder, "self", "append_unknown")),
    ("Werkzeug", "Rule._build and Rule._build_unknown, set from _compile_builder",
     lambda: "_build_unknown" in inspect.getsource(Rule.compile)),
    ("Flask-Limiter", "Limiter._check_request_limit(self, callable_name, in_middleware)",
     lambda: _has_params(Limiter._check_request_limit, "self", "callable_name", "in_middleware")),
    ("Flask-Login", "current_user read from g._login_user", _flask_login_reads_g),
    ("Flask-Babel", "get_locale() keeps the chosen locale in g._flask_babel.babel_locale",
     _flask_babel_keeps_locale_in_g),
    ("Jinja2", "jinja2.ext._make_new_gettext/_ngettext/_pgettext/_npgettext(func)",
     lambda: all(_has_params(getattr(jinja_ext, f"_make_new_{name}", None), "func")
                 for name in ("gettext", "ngettext", "pgettext", "npgettext"))),
    ("reportlab", "Canvas._doc.Pages.pages (a list of page objects)", _reportlab_pages),
    ("reportlab", "rl_config.useA85", _reportlab_a85),
]
