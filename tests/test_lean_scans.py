"""A buyer's plain scan answered before Flask (marketplace/lean.py, issue 19): the same
answer, byte for byte, as the app gives the same request, and everything else left to the app.

"The app's answer" is the same request with an unrelated cookie, which the lean layer leaves
to Flask and which changes nothing else (no language, no login).  Werkzeug's test client
drops a ``Cookie`` header passed by hand, so that client carries the cookie in its jar.
"""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from flask import request_started
from sqlalchemy import select

from marketplace.models import Scan
from marketplace.scan import answer, page
from marketplace.scan.facts import batch_facts
from marketplace.stamps.service import void_stamps
from marketplace.trace.service import recall_batch
from tests.test_scan import GENUINE, NOT_FOUND, RECALLED, VOID, fresh_stamp, make_run, scans_of, web  # noqa: F401

NOW = dt.datetime(2026, 12, 7, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)


@pytest.fixture
def clients(web, monkeypatch):
    """(a client without cookies, one with a cookie, the requests Flask dispatched)."""
    import marketplace.lean as lean
    import marketplace.scan.routes as routes

    for module in (lean, routes):  # one moment for both ways: the panel shows the first scan's minute
        monkeypatch.setattr(module, "utcnow", lambda: NOW)
    app = web(SCAN_PROVINCE_HEADER="X-Province")
    plain, cookied = app.test_client(), app.test_client()
    cookied.set_cookie("seen", "1")
    dispatched: list = []

    def note(sender, **_):
        dispatched.append(sender)

    with request_started.connected_to(note, app):
        yield plain, cookied, dispatched


def _same(lean, app) -> None:
    assert lean.status == app.status
    assert list(lean.headers.items()) == list(app.headers.items())  # in Flask's order too
    assert lean.get_data() == app.get_data()


@pytest.mark.parametrize("headers", [
    {},
    {"Accept-Language": "en-US,en;q=0.9", "User-Agent": "Mozilla/5.0 Zalo android/12100606"},
    {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "X-Province": "38"},
], ids=["vietnamese", "english", "province"])
def test_a_plain_scan_is_the_app_answer_byte_for_byte(db, world, clients, headers):
    plain, cookied, dispatched = clients
    _, _, (serial, other, *_) = make_run(db, world, 3)
    batch_facts._data.clear()
    page._panels.clear()  # the first answer renders its frame and panel (Flask's context pushed for it)
    for path in (f"/s/{serial}", f"/S/{other.lower()}/"):
        lean = plain.get(path, headers=headers)
        assert dispatched == [] and lean.status_code == 200
        assert ("Genuine stamp" if "Accept-Language" in headers else GENUINE) in lean.get_data(as_text=True)
        _same(lean, cookied.get(path, headers=headers))
        _same(plain.head(path, headers=headers), cookied.head(path, headers=headers))
        assert len(dispatched) == 2
        dispatched.clear()
    assert len(scans_of(db, serial)) == 2  # each GET recorded, once; no HEAD
    stamp = fresh_stamp(db, serial)
    assert stamp.scan_count == 2 and stamp.scanner_count == 1  # one phone, twice
    assert stamp.first_scan_province == (38 if "X-Province" in headers else None)


def test_recalled_and_void_stamps_say_so_on_both_ways(db, world, clients):
    plain, cookied, dispatched = clients
    batch, run, (recalled, voided, *_) = make_run(db, world, 3)
    void_stamps(db.session, run, first=2, last=2)
    recall_batch(batch, "Phát hiện nấm mốc")
    db.session.commit()
    for serial, words in ((recalled, RECALLED), (voided, VOID)):
        lean = plain.get(f"/s/{serial}")
        assert words in lean.get_data(as_text=True) and GENUINE not in lean.get_data(as_text=True)
        _same(lean, cookied.get(f"/s/{serial}"))
    assert len(dispatched) == 2  # the cookied ones only


def test_what_the_lean_path_leaves_to_the_app(db, world, clients):
    plain, _, dispatched = clients
    _, _, (serial, *_) = make_run(db, world, 1)
    made_up = plain.get("/s/0123456789ABCDEF")  # not a serial, or not one of ours: the one counterfeit answer
    assert made_up.status_code == 404 and NOT_FOUND in made_up.get_data(as_text=True)
    assert plain.get("/s/AB%00CD").status_code == 400
    as_json = plain.get(f"/s/{serial}", headers={"Accept": "application/json"})
    assert as_json.get_json()["stamp"]["serial"] == serial
    assert plain.post(f"/s/{serial}").status_code == 405
    newline = plain.get(f"/s/{serial}%0A")  # Werkzeug's path converter does not match it: the site's 404
    assert newline.status_code == 404 and NOT_FOUND not in newline.get_data(as_text=True)
    assert len(dispatched) == 5
    assert plain.get(f"/s/{serial}?utm_source=zalo").status_code == 200  # a query string changes nothing
    assert len(dispatched) == 5
    assert len(scans_of(db, serial)) == 2  # the JSON one and the last one


def test_a_failure_before_flask_is_answered_by_the_app_and_recorded_once(db, world, clients, monkeypatch, caplog):
    plain, _, dispatched = clients
    _, _, (serial, *_) = make_run(db, world, 1)
    rendered = answer.page_html
    calls = []

    def fails_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("template gone")
        return rendered(*args, **kwargs)

    monkeypatch.setattr(answer, "page_html", fails_once)
    with caplog.at_level(logging.ERROR, logger="marketplace.scan"):
        response = plain.get(f"/s/{serial}")
    assert response.status_code == 200 and GENUINE in response.get_data(as_text=True)
    assert len(dispatched) == 1 and len(calls) == 2
    assert any("lean scan path failed" in r.getMessage() for r in caplog.records)
    db.session.rollback()
    assert len(db.session.scalars(select(Scan)).all()) == 1  # recorded by the app's answer alone


def test_a_host_outside_trusted_hosts_is_refused_on_the_lean_path_too(db, world, web):
    client = web(TRUSTED_HOSTS=["cho-ocop.trieuson.vn"]).test_client()
    _, _, (serial, *_) = make_run(db, world, 1)
    for path in (f"/s/{serial}", f"/01/08936045100912/10/LOT-A1/21/{serial}"):
        assert client.get(path, headers={"Host": "evil.example"}).status_code == 400
    assert client.get(f"/s/{serial}", headers={"Host": "cho-ocop.trieuson.vn"}).status_code == 200
    assert len(scans_of(db, serial)) == 1


def test_a_failed_recording_still_answers_the_page(db, world, clients, monkeypatch, caplog):
    plain, _, dispatched = clients
    _, _, (serial, *_) = make_run(db, world, 1)

    def broken(*args):
        raise RuntimeError("the recorder's thread would not start")

    monkeypatch.setattr(answer, "record", broken)
    with caplog.at_level(logging.ERROR, logger="marketplace.scan"):
        response = plain.get(f"/s/{serial}")
    assert response.status_code == 200 and GENUINE in response.get_data(as_text=True)
    assert dispatched == []  # answered once, by the lean layer: never a second answer, never a 500
    assert any("recording a scan" in r.getMessage() for r in caplog.records)


def test_rendering_under_an_open_app_context_uses_the_request_own_language(app, db, world):
    """A frame or panel rendered before Flask gets a fresh app context: the language of an
    earlier request, kept in an outer context's ``g`` (a shell, the tests' ``app`` fixture),
    is never the one a page is rendered, and kept, in."""
    _, _, (serial, other, *_) = make_run(db, world, 2)
    client = app.test_client()  # the fixture keeps this app's context pushed
    for path, language in ((f"/s/{serial}", "en"), (f"/s/{other}", "vi")):
        batch_facts._data.clear()
        page._panels.clear()
        db.session.rollback()  # (no SQLite write lock held by the test's session during the request)
        text = client.get(path, headers={"Accept-Language": language}).get_data(as_text=True)
        assert f'<html lang="{language}">' in text
        assert (GENUINE in text) == (language == "vi")
