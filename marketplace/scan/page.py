"""Rendering the stamp page: a frame per batch and language, the stamp's own part per scan.

Everything on the page except the authenticity panel and the serial is the same for every
stamp of a batch, yet rendering it (translations, dates, labels, URLs) was most of the
page's cost.  So ``scan/stamp.html`` is rendered once per batch and language with *slots*
in place of the per-stamp parts, kept beside the batch's facts (:class:`FactsCache`), and
each scan renders only ``scan/_authenticity.html`` and fills the slots.

The slots carry a random token made per process, so no product name, place or other data
can imitate one; the result is byte-for-byte the page rendered in one go (tested).
"""
from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from contextlib import nullcontext
from typing import Callable

from flask import current_app, url_for
from markupsafe import Markup, escape

from ..i18n import bound_gettext

TOKEN = secrets.token_hex(8)
PANEL_SLOT = f"<!--{TOKEN}-panel-->"
SERIAL_SLOT = f"<!--{TOKEN}-serial-->"
# Stands for the serial inside URLs (the language switch's ``next``): letters and digits
# only, so URL building leaves it as it is, like the serials it stands for.
URL_SLOT = f"slot{TOKEN}"
# Stands for the text of the stamp's first scan (``view["first_seen"]``) in a panel: a
# scanned stamp's minute is its own, and a panel rendered per minute was rendered per scan.
SEEN_SLOT = f"seen{TOKEN}"


def render(template: str, **context) -> str:
    """Render a public scan template without the app's context processors.

    Those would load the signed-in user (Flask-Login) and open the session on every scan;
    these pages show neither, so they get the translations (bound once) and their data.
    """
    return current_app.jinja_env.get_template(template).render(
        bound_gettext(), base_url=current_app.config["PUBLIC_BASE_URL"], **context)


def render_frame(facts: dict, on_exchanges: bool = False) -> str:
    """The stamp page of this batch, in the current language, with slots for the stamp
    (``on_exchanges``: the product has a page on an exchange, so the frame asks which to
    offer; most have none, and the frame then asks nothing more of the database)."""
    return render("scan/stamp.html", f=facts, panel=Markup(PANEL_SLOT), serial_grouped=Markup(SERIAL_SLOT),
                  here=url_for("scan.stamp", serial=URL_SLOT), on_exchanges=on_exchanges)


_PANEL_KEYS = ("verdict", "recalled", "recall_reason", "recalled_at", "scanners", "test", "first_scan_province",
               "scratch", "hotline")
_panels: OrderedDict = OrderedDict()
_panels_lock = threading.Lock()
PANELS_CACHED = 4096


def panel(env, language: str, view: dict, in_context: Callable = nullcontext) -> str:
    """``scan/_authenticity.html`` for this view in ``language``, from ``env`` (the app's
    Jinja environment); ``in_context()`` gives Flask's request context when it is rendered.

    The panel shows only ``v`` (``_PANEL_KEYS``) and slots for the serial and the first scan's
    text, so equal views give equal panels: whether first scans or not, the stamps of a lot
    mostly share a handful.  Keyed by the template object too, so a reloaded template is
    rendered afresh.
    """
    template = env.get_template("scan/_authenticity.html")
    seen = bool(view["first_seen"])
    key = (template, language, seen, *(view[k] for k in _PANEL_KEYS))
    with _panels_lock:
        html = _panels.get(key)
        if html is not None:
            _panels.move_to_end(key)
            return html
    with in_context():
        # the serial in its URLs and the first scan's text: filled by fill()
        html = template.render(bound_gettext(), v=dict(view, first_seen=SEEN_SLOT if seen else ""), slot=URL_SLOT)
    with _panels_lock:
        _panels[key] = html
        while len(_panels) > PANELS_CACHED:
            _panels.popitem(last=False)
    return html


def fill(frame: str, view: dict, panel_html: str) -> str:
    """The frame with this stamp's panel, serial and first scan in their slots."""
    if view["first_seen"]:
        panel_html = panel_html.replace(SEEN_SLOT, view["first_seen"])
    return (frame.replace(PANEL_SLOT, panel_html, 1)
            .replace(SERIAL_SLOT, str(escape(view["serial_grouped"])), 1)
            .replace(URL_SLOT, view["serial"]))


def render_whole(facts: dict, view: dict, on_exchanges: bool = False) -> str:
    """The same page rendered in one go (no frame): what :func:`fill` must produce."""
    panel = render("scan/_authenticity.html", v=view, slot=view["serial"])
    return render("scan/stamp.html", f=facts, panel=Markup(panel), serial_grouped=view["serial_grouped"],
                  here=url_for("scan.stamp", serial=view["serial"]), on_exchanges=on_exchanges)
