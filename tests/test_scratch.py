"""Scratch-off codes (tem cào, issue 14 point 4): the code itself, its first entry recorded
once even under a race, and every place a scratch run shows up: the CLI, the run page, the
print-shop CSV, the four label layouts (codes read back out of the PDF next to the QR they
belong to, every QR still decoding), and the API."""
from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import hashlib
import hmac
import io
import os
import re
import stat
import threading
import time
from decimal import Decimal

import pypdfium2 as pdfium
import pytest
from reportlab.lib.units import mm
from sqlalchemy import select
from sqlalchemy.orm import Session

from marketplace.models import Stamp, StampRun
from marketplace.printing import pdf as pdf_module
from marketplace.printing.layouts import LAYOUTS
from marketplace.printing.pdf import SCRATCH_CAPTION, scratch_box_mm
from marketplace.stamps.scratch import (CODE_LENGTH, KEY_CONTEXT, Outcome, code_for, format_code, key_from_config,
                                        normalize_entry, verify)
from marketplace.stamps.serials import ALPHABET, new_serial, new_serials
from marketplace.stamps.service import issue_run
from tests.conftest import PG_URL, listed, signed_in
from tests.test_labels import (LONG_NAME, assert_chars_inside_cells, cells_pt, decode_page, inside, make_labels,
                               raster, render)
from tests.test_stamps_cli import invoke

KEY = bytes(range(32))
CODE = re.compile(rf"(?<![0-9A-Za-z])[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}(?![0-9A-Za-z])")
T1 = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
T2 = T1 + dt.timedelta(minutes=7)
pure = pytest.mark.skipif(bool(PG_URL), reason="pure rendering, no database: runs in the SQLite suite")


# ---- the code ------------------------------------------------------------------------------

def test_code_is_8_crockford_symbols_40_bits_of_the_hmac():
    serial = new_serial()
    code = code_for(serial, KEY)
    assert len(code) == CODE_LENGTH == 8 and CODE_LENGTH * 5 >= 40
    assert set(code) <= set(ALPHABET) and code == code.upper()
    # the same 40 bits, encoded independently (RFC 4648 base32 → Crockford's symbols)
    digest = hmac.new(KEY, serial.encode(), hashlib.sha256).digest()
    rfc = base64.b32encode(digest[:5]).decode()
    assert code == rfc.translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ALPHABET))


def test_every_symbol_position_carries_its_5_bits():
    codes = [code_for(serial, KEY) for serial in new_serials(2000)]
    for position in range(CODE_LENGTH):
        assert {code[position] for code in codes} == set(ALPHABET), position
    assert len(set(codes)) == len(codes)


def test_code_is_deterministic_per_key_and_differs_across_keys():
    serials = new_serials(50)
    assert [code_for(s, KEY) for s in serials] == [code_for(s, bytes(KEY)) for s in serials]
    other = [code_for(s, b"another key") for s in serials]
    assert all(a != b for a, b in zip((code_for(s, KEY) for s in serials), other))
    with pytest.raises(ValueError):
        code_for(serials[0], b"")


def test_key_from_config():
    explicit = key_from_config({"SCRATCH_CODE_KEY": "in-the-vault", "SECRET_KEY": "s"})
    assert explicit == b"in-the-vault"
    assert key_from_config({"SCRATCH_CODE_KEY": b"\x00raw", "SECRET_KEY": "s"}) == b"\x00raw"
    derived = key_from_config({"SCRATCH_CODE_KEY": None, "SECRET_KEY": "session-secret"})
    assert derived == hmac.new(b"session-secret", KEY_CONTEXT, hashlib.sha256).digest()
    assert derived != b"session-secret" and len(derived) == 32
    assert key_from_config({"SECRET_KEY": "session-secret"}) == derived  # key absent = unset
    assert key_from_config({"SECRET_KEY": "another"}) != derived
    with pytest.raises(ValueError):
        key_from_config({"SCRATCH_CODE_KEY": None, "SECRET_KEY": None})


def test_format_code():
    assert format_code("ABCD2345") == "ABCD-2345"
    code = code_for(new_serial(), KEY)
    assert normalize_entry(format_code(code)) == code


@pytest.mark.parametrize("typed,expected", [
    ("ABCD-EFGH", "ABCDEFGH"),
    ("abcd-efgh", "ABCDEFGH"),
    ("  abcd efgh ", "ABCDEFGH"),
    ("a b c d - e f g h", "ABCDEFGH"),
    ("ABCD–EFGH", "ABCDEFGH"),              # a phone's autocorrected dash
    ("ＡＢＣＤ－ＥＦＧＨ", "ABCDEFGH"),     # full-width
    ("0O1I-L1il", "00111111"),              # O → 0, I and L → 1
    ("o0o0-o0o0", "00000000"),
    ("ABCDEFGU", None),                     # U is not a symbol
    ("ABCD-EFG", None),                     # too short
    ("ABCD-EFGH-J", None),                  # too long
    ("ABCD_EFGH", None),                    # underscore is not a separator
    ("ABCD.EFGH", None),
    ("ÀBCD-EFGH", None),
    ("", None),
    ("   ", None),
    ("A" * 100, None),
    (None, None),
    (12345678, None),
])
def test_normalize_entry(typed, expected):
    assert normalize_entry(typed) == expected


# ---- fixtures: a listed product's batch ---------------------------------------------------

@pytest.fixture
def batch(world, db):
    from marketplace.trace.service import create_batch

    listed(world.product_a), listed(world.product_b)
    b = create_batch(db.session, world.product_a, lot_code="dt-2025-01", quantity=Decimal("120"), unit="kg",
                     production_date=dt.date(2025, 10, 1))
    db.session.commit()
    return b


def app_key(app) -> bytes:
    return key_from_config(app.config)


def serials_of(db, run_id: int) -> list[str]:
    db.session.expire_all()
    return db.session.scalars(select(Stamp.serial).where(Stamp.run_id == run_id).order_by(Stamp.position)).all()


# ---- verify ----------------------------------------------------------------------------------

def test_verify_first_then_already_then_wrong(db, batch):
    run = issue_run(db.session, batch, 3, scratch=True)
    db.session.commit()
    assert run.scratch
    stamp, other = db.session.scalars(select(Stamp).where(Stamp.run_id == run.id).order_by(Stamp.position)).all()[:2]
    code = code_for(stamp.serial, KEY)

    first = verify(db.session, stamp, format_code(code).lower(), key=KEY, now=T1)
    assert first == Outcome("verified", T1)
    assert stamp.scratch_verified_at == T1
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Stamp, stamp.id).scratch_verified_at == T1

    again = verify(db.session, stamp, code, key=KEY, now=T2)
    assert again == Outcome("already", T1)
    for wrong in (code_for(other.serial, KEY), "", "ABCD", "nonsense!", code[:-1] + ("0" if code[-1] != "0" else "1")):
        assert verify(db.session, stamp, wrong, key=KEY, now=T2) == Outcome("wrong", None)
    # the right code under another key is wrong too
    assert verify(db.session, other, code_for(other.serial, b"other"), key=KEY, now=T2).kind == "wrong"
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Stamp, stamp.id).scratch_verified_at == T1
    assert db.session.get(Stamp, other.id).scratch_verified_at is None


def test_verify_refuses_a_stamp_of_a_plain_run_and_a_naive_time(db, batch):
    plain = issue_run(db.session, batch, 1)
    scratchy = issue_run(db.session, batch, 1, scratch=True)
    db.session.commit()
    assert plain.scratch is False
    stamp = db.session.scalar(select(Stamp).where(Stamp.run_id == plain.id))
    with pytest.raises(ValueError):
        verify(db.session, stamp, code_for(stamp.serial, KEY), key=KEY, now=T1)
    stamp = db.session.scalar(select(Stamp).where(Stamp.run_id == scratchy.id))
    with pytest.raises(ValueError):
        verify(db.session, stamp, code_for(stamp.serial, KEY), key=KEY, now=T1.replace(tzinfo=None))
    assert stamp.scratch_verified_at is None


def _verify_in_own_session(engine, stamp_id, code, now, results, barrier=None):
    try:
        if barrier is not None:
            barrier.wait(timeout=30)
        with Session(engine) as session:
            stamp = session.get(Stamp, stamp_id)
            outcome = verify(session, stamp, code, key=KEY, now=now)
            session.commit()
        results.append(outcome)
    except BaseException as exc:  # noqa: BLE001 (reported to the test)
        results.append(exc)


def test_a_second_entry_waiting_on_the_first_is_already(db, batch):
    """Session A records the first entry and has not committed; B's entry waits for it and,
    once A commits, finds the row set: "already", with A's time."""
    run = issue_run(db.session, batch, 1, scratch=True)
    db.session.commit()
    stamp_id, serial = db.session.execute(select(Stamp.id, Stamp.serial).where(Stamp.run_id == run.id)).one()
    code = code_for(serial, KEY)
    db.session.rollback()
    engine = db.engine
    with Session(engine) as first:
        assert verify(first, first.get(Stamp, stamp_id), code, key=KEY, now=T1) == Outcome("verified", T1)
        results: list = []
        waiting = threading.Thread(target=_verify_in_own_session, args=(engine, stamp_id, code, T2, results))
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive()  # blocked on A's write
        first.commit()
    waiting.join(timeout=30)
    assert results == [Outcome("already", T1)]


def test_simultaneous_first_entries_exactly_one_wins(db, batch):
    run = issue_run(db.session, batch, 1, scratch=True)
    db.session.commit()
    stamp_id, serial = db.session.execute(select(Stamp.id, Stamp.serial).where(Stamp.run_id == run.id)).one()
    code = format_code(code_for(serial, KEY))
    db.session.rollback()
    n = 4
    barrier, results = threading.Barrier(n), []
    times = [T1 + dt.timedelta(seconds=i) for i in range(n)]
    threads = [threading.Thread(target=_verify_in_own_session, args=(db.engine, stamp_id, code, times[i], results, barrier))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == n and not [r for r in results if isinstance(r, BaseException)], results
    winners = [r for r in results if r.kind == "verified"]
    assert len(winners) == 1
    assert all(r == Outcome("already", winners[0].first_verified_at) for r in results if r is not winners[0])
    db.session.expire_all()
    assert db.session.get(Stamp, stamp_id).scratch_verified_at == winners[0].first_verified_at


# ---- CLI -----------------------------------------------------------------------------------

def test_cli_issue_scratch_and_its_csv(runner, app, db, batch, tmp_path):
    plain = invoke(runner, db, "stamps", "issue", "--batch", batch.id, "--count", 2)
    result = invoke(runner, db, "stamps", "issue", "--batch", batch.id, "--count", 5, "--scratch")
    assert plain.exit_code == 0 and result.exit_code == 0, result.output
    plain_id, run_id = int(plain.stdout.strip()), int(result.stdout.strip())
    assert db.session.get(StampRun, run_id).scratch is True
    assert db.session.get(StampRun, plain_id).scratch is False
    assert "--scratch" in invoke(runner, db, "stamps", "issue", "--help").stdout

    out = tmp_path / "scratch.csv"
    written = invoke(runner, db, "stamps", "csv", run_id, "-o", out)
    assert written.exit_code == 0, written.output
    assert "secret scratch-off codes" in written.stderr and "print shop" in written.stderr
    if os.name == "posix":
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = list(csv.reader(io.StringIO(out.read_bytes().decode("utf-8-sig"))))
    assert rows[0] == ["serial", "url", "lot", "product", "scratch_code"]
    key = app_key(app)
    assert [r[0] for r in rows[1:]] == serials_of(db, run_id)
    assert all(r[4] == format_code(code_for(r[0], key)) for r in rows[1:])

    plain_out = tmp_path / "plain.csv"
    plain_csv = invoke(runner, db, "stamps", "csv", plain_id, "-o", plain_out)
    assert plain_csv.exit_code == 0 and "secret" not in plain_csv.stderr
    assert next(csv.reader(io.StringIO(plain_out.read_bytes().decode("utf-8-sig")))) == ["serial", "url", "lot",
                                                                                        "product"]


def test_cli_pdf_of_a_scratch_run_prints_the_codes(runner, app, db, batch, tmp_path):
    run_id = int(invoke(runner, db, "stamps", "issue", "--batch", batch.id, "--count", 3, "--scratch").stdout)
    out = tmp_path / "labels.pdf"
    result = invoke(runner, db, "stamps", "pdf", run_id, "--layout", "roll-40x25", "-o", out)
    assert result.exit_code == 0, result.output
    assert "secret scratch-off codes" in result.stderr
    document = pdfium.PdfDocument(out.read_bytes())
    printed = [CODE.findall(page.get_textpage().get_text_range()) for page in document]
    key = app_key(app)
    assert printed == [[format_code(code_for(s, key))] for s in serials_of(db, run_id)]


# ---- web: issuing, the run page, the CSV ---------------------------------------------------

def issue_on_the_web(client, batch_id, **data) -> int:
    response = client.post(f"/dashboard/batches/{batch_id}/runs", data={"count": "4", **data})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    match = re.fullmatch(r"/dashboard/runs/(\d+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def test_batch_page_offers_the_checkbox(app, db, batch):
    client = signed_in(app, "a@example.vn")
    page = client.get(f"/dashboard/batches/{batch.id}").get_data(as_text=True)
    assert 'type="checkbox"' in page and 'name="scratch"' in page
    assert "Tem cào (mã bí mật dưới lớp phủ)" in page


def test_web_run_with_and_without_the_checkbox(app, db, batch):
    client = signed_in(app, "a@example.vn")
    plain_id = issue_on_the_web(client, batch.id)
    scratch_id = issue_on_the_web(client, batch.id, scratch="y")
    assert db.session.get(StampRun, plain_id).scratch is False
    assert db.session.get(StampRun, scratch_id).scratch is True

    plain_page = client.get(f"/dashboard/runs/{plain_id}").get_data(as_text=True)
    assert 'id="scratch-run"' not in plain_page and 'id="scratch-secret"' not in plain_page
    page = client.get(f"/dashboard/runs/{scratch_id}").get_data(as_text=True)
    assert 'id="scratch-run"' in page and "Tem cào" in page
    assert 'id="scratch-secret"' in page and "chỉ gửi cho nhà in" in page
    assert "mã cào bí mật" in page  # on the CSV link itself
    batch_page = client.get(f"/dashboard/batches/{batch.id}").get_data(as_text=True)
    assert batch_page.count("tem cào") == 1  # the list of runs marks the scratch run

    # a bad count with the box ticked: refused with the count message, nothing issued
    refused = client.post(f"/dashboard/batches/{batch.id}/runs", data={"count": "0", "scratch": "y"})
    assert refused.status_code == 302
    assert db.session.scalar(select(StampRun.id).order_by(StampRun.id.desc())) == scratch_id


def test_web_csv_has_scratch_codes_only_for_scratch_runs(app, db, batch):
    client = signed_in(app, "a@example.vn")
    plain_id = issue_on_the_web(client, batch.id)
    scratch_id = issue_on_the_web(client, batch.id, scratch="y")

    plain = client.get(f"/dashboard/runs/{plain_id}/stamps.csv")
    rows = list(csv.reader(io.StringIO(plain.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["serial", "url", "lot", "product"] and all(len(r) == 4 for r in rows)
    assert plain.headers["Content-Disposition"] == f'attachment; filename="tem-dot-{plain_id}.csv"'

    secret = client.get(f"/dashboard/runs/{scratch_id}/stamps.csv")
    assert secret.status_code == 200 and secret.headers["Cache-Control"] == "private, no-store"
    assert "bi-mat" in secret.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(secret.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["serial", "url", "lot", "product", "scratch_code"]
    key = app_key(app)
    assert [r[0] for r in rows[1:]] == serials_of(db, scratch_id)
    for serial, url, lot, product, code in rows[1:]:
        assert code == format_code(code_for(serial, key))
        assert url.endswith(f"/S/{serial}") and lot == "DT-2025-01" and product == "Gạo nếp cái hoa vàng"


# ---- the four layouts --------------------------------------------------------------------------

def cell_text(textpage, cell) -> str:
    x0, y0, x1, y1 = cell
    return textpage.get_text_bounded(left=x0, bottom=y0, right=x1, top=y1)


@pytest.mark.parametrize("layout_name", list(LAYOUTS))
def test_scratch_run_pdf_every_layout_code_next_to_its_qr(app, db, batch, layout_name):
    """Every label, as downloaded from the run page: the QR in a cell decodes to a stamp's
    URL, and the text of that same cell holds that stamp's code, read back from the PDF."""
    layout = LAYOUTS[layout_name]
    count = 26  # two A4 3×8 pages; one 5×13 page; 26 roll labels
    run = issue_run(db.session, batch, count, scratch=True)
    db.session.commit()
    client = signed_in(app, "a@example.vn")
    response = client.get(f"/dashboard/runs/{run.id}/labels.pdf?layout={layout_name}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    document = pdfium.PdfDocument(response.data)
    key = app_key(app)
    expected = {serial: format_code(code_for(serial, key)) for serial in serials_of(db, run.id)}
    seen = {}
    for page in document:
        textpage = page.get_textpage()
        for url, index in decode_page(raster(page), layout).items():
            serial = url.rsplit("/", 1)[1]
            text = cell_text(textpage, cells_pt(layout)[index])
            assert CODE.findall(text) == [expected[serial]], (serial, text)
            assert SCRATCH_CAPTION in text
            seen[serial] = expected[serial]
    assert seen == expected  # every stamp: its QR decoded and its own code beside it
    text = assert_chars_inside_cells(document, layout)
    assert sorted(CODE.findall(text)) == sorted(expected.values())


@pure
@pytest.mark.parametrize("layout_name", list(LAYOUTS))
def test_scratch_box_overlaps_nothing_and_the_text_keeps_its_musts(layout_name):
    layout = LAYOUTS[layout_name]
    labels = [dataclasses.replace(label, scratch_code=format_code(code_for(label.serial, KEY)))
              for overrides in ({}, {"product_name": LONG_NAME}, {"product_name": "X" * 200,
                                "producer_name": "Hợp tác xã " * 20, "place": "Thanh Hóa " * 20})
              for label in make_labels(max(1, layout.per_page // 3 + 1), **overrides)]
    labels.append(dataclasses.replace(make_labels(1)[0], scratch_code="WMWM-WMWM"))  # the widest: squeezed, not cut
    document, boxes, _ = render(labels, layout)
    qr_box = pdf_module._Geometry.for_layout(layout).qr_box
    by_cell: dict = {}
    for box in boxes:
        assert inside(box.box, box.cell), box
        assert box.box[0] >= box.cell[0] + qr_box - 0.01, box  # right of the QR and its quiet zone
        by_cell.setdefault((box.page, box.cell), []).append(box)
    for drawn in by_cell.values():
        texts = [b.text for b in drawn]
        assert SCRATCH_CAPTION in texts and any(CODE.fullmatch(t) for t in texts)
        assert any(t.startswith("Lô: ") for t in texts) and any("HSD: " in t for t in texts)
        for i, a in enumerate(drawn):
            for b in drawn[i + 1:]:
                overlap_w = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
                overlap_h = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
                assert overlap_w <= 0.01 or overlap_h <= 0.01, (a, b)
    code_boxes = [b for b in boxes if CODE.fullmatch(b.text)]
    assert len({(round(b.box[2] - b.box[0], 6), round(b.box[3] - b.box[1], 6)) for b in code_boxes}) == 1  # one sticker size
    text = assert_chars_inside_cells(document, layout)
    assert CODE.findall(text) == [label.scratch_code for label in labels]
    for number, page in enumerate(document):
        on_page = labels[number * layout.per_page:(number + 1) * layout.per_page]
        assert decode_page(raster(page), layout) == {label.url: i for i, label in enumerate(on_page)}


@pure
def test_one_sticker_size_per_stock():
    sizes = {name: scratch_box_mm(layout) for name, layout in LAYOUTS.items()}
    for name, (width, height) in sizes.items():
        geometry = pdf_module._Geometry.for_layout(LAYOUTS[name])
        assert 15 <= width <= geometry.text_w / mm and 3 <= height <= 6, (name, width, height)
    assert sizes["a4-3x8"][0] > sizes["roll-40x25"][0]


@pure
def test_labels_without_a_code_are_drawn_as_before():
    """No code, no box: the same text as a plain label, and a code must look like one."""
    labels = make_labels(2)
    _, boxes, _ = render(labels, LAYOUTS["a4-3x8"])
    assert SCRATCH_CAPTION not in {b.text for b in boxes}
    for bad in ("ABCDEFGH", "abcd-efgh", "ABCD-EFGU", ""):
        with pytest.raises(ValueError):
            make_labels(1, scratch_code=bad)


# ---- API ------------------------------------------------------------------------------------

def test_api_scratch_run(app, db, batch, world):
    from marketplace.models import ApiToken

    token, secret = ApiToken.issue(world.users["producer_a"], "test")
    db.session.add(token)
    db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {secret}"}

    def call(method, url, **kwargs):
        db.session.commit()
        return client.open(url, method=method, headers=headers, **kwargs)

    made = call("POST", f"/api/v1/batches/{batch.id}/stamp-runs", json={"count": 3, "scratch": True})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["scratch"] is True
    assert call("GET", f"/api/v1/stamp-runs/{body['id']}").get_json()["scratch"] is True
    rows = list(csv.reader(io.StringIO(call("GET", f"/api/v1/stamp-runs/{body['id']}/stamps.csv").get_data(as_text=True))))
    assert rows[0] == ["serial", "url", "lot", "product", "scratch_code"]
    key = app_key(app)
    assert all(r[4] == format_code(code_for(r[0], key)) for r in rows[1:]) and len(rows) == 4
    labels = call("GET", f"/api/v1/stamp-runs/{body['id']}/stamps.pdf?layout=a4-5x13")
    assert labels.status_code == 200
    assert sorted(CODE.findall(pdfium.PdfDocument(labels.data)[0].get_textpage().get_text_range())) == sorted(
        r[4] for r in rows[1:])

    plain = call("POST", f"/api/v1/batches/{batch.id}/stamp-runs", json={"count": 1})
    assert plain.status_code == 201 and plain.get_json()["scratch"] is False
    plain_csv = call("GET", f"/api/v1/stamp-runs/{plain.get_json()['id']}/stamps.csv").get_data(as_text=True)
    assert plain_csv.splitlines()[0] == "serial,url,lot,product"

    for bad in ("yes", 1, None):
        refused = call("POST", f"/api/v1/batches/{batch.id}/stamp-runs", json={"count": 1, "scratch": bad})
        assert refused.status_code == 422 and "scratch" in refused.get_json()["error"]["fields"], refused.get_json()
    assert db.session.scalar(select(StampRun.id).order_by(StampRun.id.desc())) == plain.get_json()["id"]

    doc = call("GET", "/api/v1/openapi.json").get_json()
    assert "scratch" in doc["components"]["schemas"]["RunCreate"]["properties"]
