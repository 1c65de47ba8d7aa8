"""Stamp pages rendered ahead (marketplace/scan/frames.py): the daily job stores each lot's
frame per language; a process that has not got it serves the stored one, byte for byte what
it would have rendered, and never one made from anything but the current facts."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

import marketplace.scan.facts as facts_module
from marketplace.models import StampFrame
from marketplace.scan import frames, page
from marketplace.scan.facts import batch_facts
from marketplace.stamps.serials import group_serial
from marketplace.trace.service import create_batch, recall_batch
from tests.test_scan import GENUINE, RECALLED, make_run, web  # noqa: F401


@pytest.fixture
def served(web):
    """(the app, a client without cookies: the lean path, one with a cookie: Flask's view)."""
    app = web()
    cookied = app.test_client()
    cookied.set_cookie("seen", "1")
    return app, app.test_client(), cookied


def _forget() -> None:
    """As a process that has not seen the lot yet (another worker, a restart)."""
    batch_facts._data.clear()
    page._panels.clear()


def _nothing_rendered(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("rendered or read again although a frame was kept")
    monkeypatch.setattr(page, "render_frame", refuse)
    monkeypatch.setattr(facts_module, "build_batch_facts", refuse)


def _render_ahead(app, db) -> int:
    db.session.rollback()  # (the test's session holds no SQLite write lock meanwhile)
    return frames.render_ahead(app, db.engine)


def _stored(db) -> dict:
    db.session.rollback()
    return {(f.batch_id, f.language): f for f in db.session.scalars(select(StampFrame))}


def _as_any_stamp(pages: list[bytes], serials: list[str]) -> list[bytes]:
    """Pages of first scans with the serial (as in URLs and grouped as printed) named alike."""
    return [p.replace(s.encode(), b"SERIAL").replace(group_serial(s, " ").encode(), b"GROUPED")
            for p, s in zip(pages, serials)]


@pytest.mark.parametrize("language", ["vi", "en"])
def test_a_kept_frame_gives_the_page_byte_for_byte_without_rendering(db, world, served, monkeypatch, language):
    app, plain, cookied = served
    batch, _run, serials = make_run(db, world, 4)
    headers = {"Accept-Language": language}
    _forget()
    here = plain.get(f"/s/{serials[0]}", headers=headers).get_data()  # rendered in this process
    assert _render_ahead(app, db) == 2  # every language
    assert set(_stored(db)) == {(batch.id, "vi"), (batch.id, "en")}
    _forget()
    _nothing_rendered(monkeypatch)
    lean = plain.get(f"/s/{serials[1]}", headers=headers)
    assert lean.status_code == 200
    assert _as_any_stamp([lean.get_data()], serials[1:2]) == _as_any_stamp([here], serials[:1])
    assert b"SERIAL" in _as_any_stamp([here], serials[:1])[0]
    assert (GENUINE in lean.get_data(as_text=True)) == (language == "vi")
    _forget()  # Flask's own view (a request with a cookie) serves the kept frame too
    app_view = cookied.get(f"/s/{serials[2]}", headers=headers)
    assert app_view.status_code == 200
    assert _as_any_stamp([app_view.get_data()], serials[2:3]) == _as_any_stamp([here], serials[:1])


def test_a_second_run_renders_only_what_changed(app, db, world):
    batch, _run, _serials = make_run(db, world, 1)
    assert _render_ahead(app, db) == 2
    before = {k: f.key for k, f in _stored(db).items()}
    assert _render_ahead(app, db) == 0
    world.product_a.name = "Gạo nếp cái hoa vàng (mới)"
    db.session.commit()
    assert _render_ahead(app, db) == 2
    after = _stored(db)
    assert all(after[k].key != before[k] for k in before)
    assert "(mới)" in after[(batch.id, "vi")].html and "(mới)" in after[(batch.id, "en")].html


def test_lots_without_stamps_get_no_frame(app, db, world):
    make_run(db, world, 1)
    create_batch(db.session, world.product_a, lot_code="NO-STAMPS", quantity=Decimal("1"), unit="kg",
                 production_date=dt.date(2025, 10, 2))
    db.session.commit()
    assert _render_ahead(app, db) == 2
    assert len(_stored(db)) == 2


def test_a_stale_frame_is_never_served_after_an_edit(db, world, served):
    app, plain, _cookied = served
    batch, _run, (first, second) = make_run(db, world, 2)
    _render_ahead(app, db)
    world.product_a.name = "Tên mới của sản phẩm"
    db.session.commit()
    _forget()
    text = plain.get(f"/s/{first}").get_data(as_text=True)
    assert "Tên mới của sản phẩm" in text  # rendered in place: the kept frame's key is not the lot's now


def test_a_recall_shows_on_the_next_scan_whatever_was_kept(db, world, served):
    app, plain, _cookied = served
    batch, _run, (first, second) = make_run(db, world, 2)
    _render_ahead(app, db)
    _forget()
    assert GENUINE in plain.get(f"/s/{first}").get_data(as_text=True)
    recall_batch(batch, "Nhiễm khuẩn")
    db.session.commit()
    text = plain.get(f"/s/{second}").get_data(as_text=True)
    assert RECALLED in text and GENUINE not in text and "Nhiễm khuẩn" in text


def test_a_recall_of_another_lot_shows_in_the_frame_whatever_was_kept(db, world, served):
    """The frame itself tells of the product's other lots recalled (not the stamp's panel)."""
    app, plain, _cookied = served
    _batch, _run, (first, second) = make_run(db, world, 2)
    other, _other_run, _ = make_run(db, world, 1, lot="LO-KHAC")
    _render_ahead(app, db)
    _forget()
    assert 'id="other-recalls"' not in plain.get(f"/s/{first}").get_data(as_text=True)
    recall_batch(db.session.get(type(other), other.id), "Nấm mốc lô khác")
    db.session.commit()
    _forget()  # (as another process: only the stored frame and the database)
    text = plain.get(f"/s/{second}").get_data(as_text=True)
    assert 'id="other-recalls" data-recalled-lots="LO-KHAC"' in text


def test_a_frame_of_another_day_is_not_served(db, world, served, monkeypatch):
    app, plain, _cookied = served
    _batch, _run, (first,) = make_run(db, world, 1)
    _render_ahead(app, db)
    tomorrow = facts_module.local_today() + dt.timedelta(days=1)
    monkeypatch.setattr(facts_module, "local_today", lambda: tomorrow)
    _forget()
    rendered = []
    real = page.render_frame
    monkeypatch.setattr(page, "render_frame", lambda *a, **k: rendered.append(1) or real(*a, **k))
    assert plain.get(f"/s/{first}").status_code == 200
    assert rendered == [1]  # OCOP and certificates lapse by the day: yesterday's frame is not today's


def test_the_edition_follows_templates_code_and_base_url(tmp_path):
    package, templates = tmp_path / "pkg", tmp_path / "templates"
    package.mkdir(), templates.mkdir()
    (package / "a.py").write_text("x = 1")
    (templates / "stamp.html").write_text("<p>{{ x }}</p>")
    (templates / "notes.txt").write_text("not a source")
    first = frames._edition(str(package), str(templates), "https://a.example")
    assert frames._edition(str(package), str(templates), "https://b.example") != first
    frames._edition.cache_clear()
    (templates / "notes.txt").write_text("changed, but not a source")
    assert frames._edition(str(package), str(templates), "https://a.example") == first
    frames._edition.cache_clear()
    (templates / "stamp.html").write_text("<p>{{ x }}!</p>")
    changed = frames._edition(str(package), str(templates), "https://a.example")
    assert changed != first
    frames._edition.cache_clear()
    (package / "a.py").write_text("x = 2")
    assert frames._edition(str(package), str(templates), "https://a.example") not in (first, changed)
    frames._edition.cache_clear()


def test_a_frame_under_another_edition_is_not_served(db, world, served, monkeypatch):
    app, plain, _cookied = served
    _batch, _run, (first,) = make_run(db, world, 1)
    _render_ahead(app, db)
    monkeypatch.setattr(frames, "edition", lambda app: "a-new-deployment")
    _forget()
    rendered = []
    real = page.render_frame
    monkeypatch.setattr(page, "render_frame", lambda *a, **k: rendered.append(1) or real(*a, **k))
    assert plain.get(f"/s/{first}").status_code == 200
    assert rendered == [1]


def test_flask_expire_renders_the_frames(app, db, world, runner):
    make_run(db, world, 1)
    db.session.commit()
    result = runner.invoke(args=["expire"])
    assert result.exit_code == 0, result.output
    assert "stamp pages rendered ahead: 2" in result.output
    assert "stamp pages rendered ahead: 0" in runner.invoke(args=["expire"]).output


def test_a_frame_kept_by_another_process_is_filled_with_this_process_slots(db, world, served, monkeypatch):
    """Each process marks its slots with a token of its own (scan/page.py): a frame the
    worker rendered carries the worker's, and a server fills it all the same."""
    app, plain, _cookied = served
    _batch, _run, (first, second) = make_run(db, world, 2)
    _forget()
    here = plain.get(f"/s/{first}", headers={"Accept-Language": "en"}).get_data()
    _render_ahead(app, db)
    worker_token = page.TOKEN
    token = "0123456789abcdef"
    for name, value in (("TOKEN", token), ("PANEL_SLOT", f"<!--{token}-panel-->"),
                        ("SERIAL_SLOT", f"<!--{token}-serial-->"), ("URL_SLOT", f"slot{token}")):
        monkeypatch.setattr(page, name, value)
    _forget()
    _nothing_rendered(monkeypatch)
    served_page = plain.get(f"/s/{second}", headers={"Accept-Language": "en"}).get_data()
    assert _as_any_stamp([served_page], [second]) == _as_any_stamp([here], [first])
    assert worker_token.encode() not in served_page and token.encode() not in served_page
    assert b"Genuine stamp" in served_page


def test_frames_are_rendered_in_their_own_language_under_an_open_app_context(app, db, world):
    """The worker and ``flask expire`` run inside the app's context, where Flask-Babel keeps
    the first language it was asked for: each frame gets a context of its own."""
    from flask_babel import get_locale

    batch, _run, _serials = make_run(db, world, 1)
    with app.test_request_context("/", headers={"Accept-Language": "vi"}):
        assert str(get_locale()) == "vi"
    assert _render_ahead(app, db) == 2
    stored = _stored(db)
    assert '<html lang="en">' in stored[(batch.id, "en")].html and GENUINE not in stored[(batch.id, "en")].html
    assert '<html lang="vi">' in stored[(batch.id, "vi")].html


def test_frames_are_rendered_for_the_public_host_when_hosts_are_restricted(db, world, web):
    app = web(TRUSTED_HOSTS=["cho-ocop.trieuson.vn"], PUBLIC_BASE_URL="https://cho-ocop.trieuson.vn")
    _batch, _run, (first, second) = make_run(db, world, 2)
    client = app.test_client()
    _forget()
    here = client.get(f"/s/{first}", base_url="https://cho-ocop.trieuson.vn").get_data()
    assert _render_ahead(app, db) == 2
    _forget()
    served_page = client.get(f"/s/{second}", base_url="https://cho-ocop.trieuson.vn").get_data()
    assert _as_any_stamp([served_page], [second]) == _as_any_stamp([here], [first])
    assert _stored(db)  # (and kept: the same key as the site's requests)


def test_a_lot_that_fails_to_render_leaves_the_others_rendered(app, db, world, monkeypatch, caplog):
    first_lot, _run, _ = make_run(db, world, 1)
    second_lot, _run2, _ = make_run(db, world, 1, lot="LO-2")
    real, broken, kept_lot = facts_module.build_batch_facts, first_lot.id, second_lot.id

    def fails_on_first(engine, batch_id):
        if batch_id == broken:
            raise RuntimeError("a broken lot")
        return real(engine, batch_id)
    monkeypatch.setattr(frames, "build_batch_facts", fails_on_first)
    assert _render_ahead(app, db) == 2
    assert set(_stored(db)) == {(kept_lot, "vi"), (kept_lot, "en")}
    assert any(f"lot {broken}" in r.getMessage() for r in caplog.records)
