"""The answer to a stamp scan, decided once for both ways a scan is served.

A scan reaches :func:`look_up` either through the stamp page's view (``scan.routes``: a
request that brings cookies, or asks for JSON) or before Flask (``marketplace.lean``: the buyer's
plain scan, no cookie).  Both hand it what the request brought (serial, user agent, address,
province header) and render what it returns with :func:`page_html`, then :func:`record` the
scan: the counts, the verdict and the page are decided here alone.
"""
from __future__ import annotations

import datetime as dt
from contextlib import nullcontext
from typing import Callable, NamedTuple

from .. import geo, public_facts
from ..i18n import moment_vn
from ..stamps.serials import group_serial
from . import frames, page
from .facts import StampState, batch_facts, stamp_state
from .recorder import ScanRecorder, ScanRow, agent_family
from .scanner import OVERLAP, DayKeys, candidates, network_prefix

day_keys = DayKeys()  # the day's scanner keys, read once per process and day


class Found(NamedTuple):
    state: StampState
    view: dict                    # what the page and its JSON show of this stamp
    scan: ScanRow                 # what recording this scan writes
    first_at: dt.datetime | None  # the stamp's first scan, to the microsecond (JSON)


def wants_json(accept) -> bool:
    """The client prefers the stamp's JSON to its page (``accept``: the parsed ``Accept``)."""
    return accept.best == "application/json"


def recording(method: str, config) -> bool:
    """Whether this request's scan is written: a GET (a HEAD is no scan), recording on."""
    return method == "GET" and config["SCAN_RECORDING"]


def look_up(engine, config, rec: ScanRecorder, serial: str, *, now: dt.datetime, user_agent: str | None,
            address: str | None, province: int | None, tester: Callable[[int | None, int | None], bool]
            ) -> Found | None:
    """The stamp ``serial`` (normalised) as this scan sees it, None when no stamp has it.

    ``province``: what a trusted proxy said (``SCAN_PROVINCE_HEADER``); ``tester(producer_id,
    cooperative_id)``: whether the request is its producer's, its cooperative's or an
    officer's (a test scan: seen as it is, never counted)."""
    family = agent_family(user_agent)
    scanner, known_as = candidates(day_keys, engine, now, network_prefix(address), family)
    state = stamp_state(engine, serial, scanner, known_as, now - OVERLAP)
    if state is None:
        return None
    test = tester(state.producer_id, state.cooperative_id)
    pending = rec.pending_scanners(state.id)
    if test:
        scanners, first_at, province = state.scanner_count + len(pending), state.first_scan_at, None
        scan = ScanRow(state.id, now, None, family, None, True)
    else:
        scanner = state.seen_as or scanner
        new = state.seen_as is None and scanner not in pending
        scanners = state.scanner_count + len(pending) + (1 if new else 0)
        first_at = state.first_scan_at or now
        scan = ScanRow(state.id, now, province, family, scanner, False, new)
    suspicious = public_facts.copy_suspected(
        scanners=scanners, threshold=config["SCAN_CLONE_THRESHOLD"],
        other_province_seen=state.other_province_seen, first_province=state.first_scan_province, province=province)
    verdict = public_facts.stamp_verdict(stamp_status=state.status, lot_recalled=state.lot_recalled,
                                         listed=state.listed, suspicious=suspicious)
    view = {
        "serial": serial, "serial_grouped": group_serial(serial, " "), "verdict": verdict.value,
        "status": state.status, "recalled": state.lot_recalled, "recall_reason": state.recall_reason,
        "recalled_at": state.recalled_at, "scanners": scanners, "test": test,
        "first_seen": moment_vn(first_at, config["BABEL_DEFAULT_TIMEZONE"]),  # the first scan as the page writes it
        "first_scan_province": getattr(geo.province(state.first_scan_province or province), "short", None),
        "scratch": state.scratch and state.status != "void", "hotline": config.get("REPORT_HOTLINE"),
    }
    return Found(state, view, scan, first_at)


def page_html(engine, found: Found, language: str, env, in_context: Callable = nullcontext,
              script_root: str = "") -> str:
    """The stamp page in ``language``: the batch's frame and the panel, each rendered once and
    kept (:mod:`.page`; the frame rendered ahead when the worker has: :mod:`.frames`), filled
    with this stamp.  Rendering needs Flask's request context: ``in_context()`` gives one,
    entered only when something is rendered (a cache miss); ``script_root``: the path the
    site is served under (the frame's links)."""
    state = found.state

    def frame(facts: dict) -> str:
        with in_context():
            return page.render_frame(facts, on_exchanges=state.on_exchanges)

    def kept() -> str | None:
        key = frames.key_text(frames.edition(env.app), script_root, state.cache_key, state.listings)
        return frames.kept(engine, state.batch_id, language, key)

    html = batch_facts.fragment(engine, state.cache_key, ("stamp", language, state.listings), frame, kept)
    return page.fill(html, found.view, page.panel(env, language, found.view, in_context))


def record(rec: ScanRecorder, found: Found, written: bool) -> None:
    """Buffer the scan once it has been answered (``written``: :func:`recording`); the
    recorder's next flush writes it, or at once when its interval is 0."""
    if written:
        rec.record(found.scan)
        if rec.interval == 0:
            rec.flush()
