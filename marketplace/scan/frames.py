"""Stamp pages rendered ahead: each lot's frame (``scan/page.py``) kept in the database.

An app process renders a lot's frame on its first scan of the lot that day and keeps it
(``FactsCache``).  A province has a few hundred lots and that is enough; a country's
20,000 lots are each scanned a few times a day, so nearly every scan was some process's
first of its lot and paid for the lot's facts and the frame's rendering (three quarters of
the scan on PostgreSQL, bench/scale.py).  So the worker's daily job renders every lot's
frame in every language once (:func:`render_ahead`), into ``stamp_frame``, and a process
that has not got a lot's frame reads it from there (:func:`kept`: one indexed read) before
rendering it itself.

A stored frame is served only under its whole key (:func:`key_text`): the lot's cache key
(the lot's, product's and producer's ``updated_at`` and the day: ``scan.facts``), what the
"buy again" links follow, the path the site is served under, and the *edition*: a digest of
the templates, the compiled translations, the package's code and data files, the versions
of the libraries that render them and the configuration they read.  An edit, a new day or a
deployment changes the key, so a stale frame is never shown: the scan renders the page
itself, as before, until the next daily run.  The worker fixes its edition when it starts
(``flask worker``), so a worker left running over a deployment never labels its old
rendering with the new code's edition.

Frames are rendered as the site serves them: in an app context of their own (Flask-Babel
keeps the language there) and a request to ``PUBLIC_BASE_URL`` (a trusted host; its path is
the script root).  Their slots carry the rendering process's token (``scan/page.py``),
stored with them and swapped for the reading process's own.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from importlib import metadata
from pathlib import Path

from flask import request
from sqlalchemy import text

from .. import rawsql
from ..models import listings_changed_sql
from ..models.base import utcnow
from ..transactions import reads
from . import page
from .facts import build_batch_facts, lot_key

log = logging.getLogger("marketplace.scan")

CHUNK = 500  # lots per round of the daily job (one read of their keys, one write of their frames)
_SOURCES = (".html", ".py", ".mo", ".json")
_LIBRARIES = ("flask", "werkzeug", "jinja2", "markupsafe", "babel", "flask-babel")
_CONFIG = ("PUBLIC_BASE_URL", "LANGUAGES", "BABEL_DEFAULT_LOCALE", "APPLICATION_ROOT")
_EXTENSION = "stamp_frames.edition"

_KEPT = text("SELECT html, slot FROM stamp_frame WHERE batch_id = :batch_id AND language = :language AND key = :key")
# lots that have stamps (a frame is only ever asked for by a scan), with what their keys read
_LOTS = text(
    "SELECT b.id, b.updated_at, p.updated_at, pr.updated_at, " + listings_changed_sql("p.id") +
    " FROM batch b JOIN product p ON p.id = b.product_id JOIN producer pr ON pr.id = p.producer_id"
    " WHERE b.id > :after AND EXISTS (SELECT 1 FROM stamp_run r WHERE r.batch_id = b.id) ORDER BY b.id LIMIT :n")
_STORED = text("SELECT batch_id, language, key FROM stamp_frame WHERE batch_id >= :low AND batch_id <= :high")
_STORE = text("INSERT INTO stamp_frame (batch_id, language, key, html, slot, made_at) "
              "VALUES (:batch_id, :language, :key, :html, :slot, :made_at) ON CONFLICT (batch_id, language) "
              "DO UPDATE SET key = excluded.key, html = excluded.html, slot = excluded.slot, "
              "made_at = excluded.made_at")


def edition(app) -> str:
    """What every frame of this deployment is made with: a digest of the templates, the
    package's code, compiled translations and data files, the rendering libraries' versions
    and the configuration the frame reads; worked out once per app (at its first use) and
    then read from ``app.extensions``: a process miss of the stamp page asks for it."""
    found = app.extensions.get(_EXTENSION)
    if found is None:
        config = repr([(name, app.config.get(name)) for name in _CONFIG])
        found = app.extensions[_EXTENSION] = _edition(
            str(Path(app.root_path).resolve()), str(Path(app.root_path, app.template_folder).resolve()), config)
    return found


@functools.lru_cache(maxsize=4)
def _edition(package: str, templates: str, config: str) -> str:
    digest = hashlib.sha256(config.encode())
    for name in _LIBRARIES:
        digest.update(f"{name}={metadata.version(name)}".encode())
    for root in sorted({package, templates}):
        for path in sorted(Path(root).rglob("*")):
            if path.suffix in _SOURCES and path.is_file():
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def key_text(edition_: str, script_root: str, cache_key: tuple, listings: tuple) -> str:
    """A frame's whole key as stored (``cache_key``: ``StampState.cache_key``)."""
    return "|".join(str(part) for part in (edition_, script_root, *cache_key, *listings))


def kept(engine, batch_id: int, language: str, key: str) -> str | None:
    """The frame stored for this lot and language under ``key`` with this process's slots,
    or None."""
    row = rawsql.fetch_one(engine, _KEPT, {"batch_id": batch_id, "language": language, "key": key})
    if row is None:
        return None
    html, slot = row
    return html if slot == page.TOKEN else html.replace(slot, page.TOKEN)


def render_ahead(app, engine, *, chunk: int = CHUNK) -> int:
    """Render and store the frame of every lot with stamps in every language, where the
    stored one's key is not the current one; returns how many were made.  Runs in the
    worker's daily job (and ``flask expire``): after midnight every key has changed.  A lot
    that fails is logged and left to be rendered as scanned."""
    made, after, edition_ = 0, 0, edition(app)
    languages = [str(code) for code in app.config["LANGUAGES"]]
    with _as_served(app, languages[0]):
        script_root = request.script_root
    while True:
        with reads(), engine.connect() as conn:
            lots = conn.execute(_LOTS, {"after": after, "n": chunk}).all()
            if not lots:
                return made
            stored = {(r[0], r[1]): r[2] for r in conn.execute(_STORED, {"low": lots[0][0], "high": lots[-1][0]})}
        rows = []
        for lot in lots:
            try:
                rows += _render_lot(app, engine, lot, languages, stored, edition_, script_root)
            except Exception:  # noqa: BLE001 - one lot's trouble leaves the others rendered
                log.exception("rendering the stamp page of lot %s ahead failed", lot[0])
        if rows:
            with engine.begin() as conn:
                conn.execute(_STORE, rows)
            made += len(rows)
        after = lots[-1][0]


def _render_lot(app, engine, lot, languages: list[str], stored: dict, edition_: str, script_root: str) -> list:
    listings = rawsql.state_values(lot[4:7])
    key = key_text(edition_, script_root, lot_key(lot[0], lot[1], lot[2], lot[3]), listings)
    facts, rows = None, []
    for language in languages:
        if stored.get((lot[0], language)) == key:
            continue
        facts = facts or build_batch_facts(engine, lot[0])
        with _as_served(app, language):
            html = page.render_frame(facts, on_exchanges=bool(listings[1]))
        rows.append({"batch_id": lot[0], "language": language, "key": key, "html": html, "slot": page.TOKEN,
                     "made_at": rawsql.timestamp(engine.dialect, utcnow())})
    return rows


@contextlib.contextmanager
def _as_served(app, language: str):
    """A request for the site's front page in ``language``, in an app context of its own."""
    with app.app_context(), app.test_request_context("/", base_url=app.config["PUBLIC_BASE_URL"],
                                                     headers={"Accept-Language": language}):
        yield
