"""Batches, diary and stamp runs through the browser's eyes (the Flask test client).

Each test logs in as a real user of the small ``world`` (producer A, member of the
cooperative; producer B, another tenant; a district officer) and drives the pages under
``/dashboard/``: forms answer with a message next to the field and save nothing when the
input is wrong, another tenant's objects answer 404, and ``flask trace verify`` detects a
diary row edited behind the application's back.

Tests that need ``marketplace.printing`` (PDF sheets, single PNG/SVG stamps) skip while that
package does not exist yet, and must pass once it does.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text

from marketplace.models import Batch, Stamp, StampRun, TraceEvent
from marketplace.models.base import LOCAL_TZ, local_today
from marketplace.stamps.serials import ALPHABET, is_valid
from tests.conftest import TEST_PASSWORD, listed, login

BASE = "HTTP://127.0.0.1:5000"
LAYOUTS = ("a4-3x8", "a4-5x13", "roll-50x30", "roll-40x25")


# ---- helpers -----------------------------------------------------------------------

def count(db, model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def html(response) -> str:
    return response.get_data(as_text=True)


def field_errors(page: str, field: str) -> list[str]:
    """The messages the form macro renders under ``field`` (``<p class="error" id="…-error">``)."""
    return re.findall(rf'<p class="error" id="{field}-error">(.*?)</p>', page, re.S)


def flashes(page: str, category: str = "error") -> list[str]:
    return re.findall(rf'<p class="flash {category}" role="status">(.*?)</p>', page, re.S)


def as_user(app, email):
    client = app.test_client()
    login(client, email)
    return client


def batch_form(product_id, **overrides) -> dict:
    data = {"product_id": str(product_id), "lot_code": "dt-2025-01", "quantity": "1,5", "unit": "kg",
            "production_date": "2025-10-01", "expiry_date": "", "growing_area": "Thửa 12, cánh đồng Đông"}
    data.update(overrides)
    return data


def create_batch(client, product_id, **overrides) -> int:
    r = client.post("/dashboard/batches/new", data=batch_form(product_id, **overrides))
    assert r.status_code == 302, html(r)[:2000]
    match = re.fullmatch(r"/dashboard/batches/(\d+)", r.headers["Location"])
    assert match, r.headers["Location"]
    return int(match.group(1))


def event_form(**overrides) -> dict:
    data = {"kind": "care", "date": "2025-10-02", "time": "07:30", "place": "Ruộng số 3",
            "description": "Làm cỏ, tưới nước"}
    data.update(overrides)
    return data


def add_event(client, batch_id, **overrides):
    return client.post(f"/dashboard/batches/{batch_id}/events", data=event_form(**overrides),
                       content_type="multipart/form-data")


def create_run(client, batch_id, n=25) -> int:
    r = client.post(f"/dashboard/batches/{batch_id}/runs", data={"count": str(n)})
    assert r.status_code == 302, html(r)[:2000]
    match = re.fullmatch(r"/dashboard/runs/(\d+)", r.headers["Location"])
    assert match, r.headers["Location"]
    return int(match.group(1))


def stamp_statuses(db, run_id) -> dict[int, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(Stamp.position, Stamp.status).where(Stamp.run_id == run_id)).all())


def serial_at(db, run_id, position) -> str:
    return db.session.scalar(select(Stamp.serial).where(Stamp.run_id == run_id, Stamp.position == position))


def jpeg(size=(64, 48), color=(40, 160, 60)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def gtin14(body13: str) -> str:
    """A GTIN-14 with a correct GS1 check digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body13)))
    return body13 + str((10 - total % 10) % 10)


@pytest.fixture(autouse=True)
def stampable(world, db):
    """Producers A's and B's products listed: stamps are issued only for listed products."""
    listed(world.product_a), listed(world.product_b)
    db.session.commit()


@pytest.fixture
def client_a(app, world):
    return as_user(app, "a@example.vn")


@pytest.fixture
def batch_a(client_a, world) -> int:
    return create_batch(client_a, world.product_a.id)


# ---- batches -----------------------------------------------------------------------

def test_create_batch_normalises_lot_and_defaults_expiry_from_shelf_life(client_a, world, db):
    world.product_a.shelf_life_days = 180
    db.session.commit()

    page = client_a.get(f"/dashboard/batches/new?product={world.product_a.id}")
    assert page.status_code == 200
    assert f'value="{local_today().isoformat()}"' in html(page)  # production date defaults to today

    batch_id = create_batch(client_a, world.product_a.id)
    db.session.expire_all()
    batch = db.session.get(Batch, batch_id)
    assert batch.lot_code == "DT-2025-01"
    assert batch.quantity == Decimal("1.5")
    assert batch.unit == "kg"
    assert batch.production_date == dt.date(2025, 10, 1)
    assert batch.expiry_date == dt.date(2025, 10, 1) + dt.timedelta(days=180)
    assert batch.status == "open"
    assert batch.growing_area == "Thửa 12, cánh đồng Đông"
    assert batch.created_by_id == world.users["producer_a"].id

    page = html(client_a.get(f"/dashboard/batches/{batch_id}"))
    assert "Lô DT-2025-01" in page
    assert "01/10/2025" in page and "30/03/2026" in page  # NSX and HSD, dd/mm/yyyy
    assert "1,5" in page
    assert "Đã tạo lô DT-2025-01." in " ".join(flashes(page, "success"))


def test_create_batch_with_explicit_expiry_and_without_shelf_life(client_a, world, db):
    with_expiry = create_batch(client_a, world.product_a.id, lot_code="A1", expiry_date="2025-12-31")
    without = create_batch(client_a, world.product_a.id, lot_code="A2")
    db.session.expire_all()
    assert db.session.get(Batch, with_expiry).expiry_date == dt.date(2025, 12, 31)
    assert db.session.get(Batch, without).expiry_date is None  # no shelf life, no expiry given
    assert "HSD" in html(client_a.get(f"/dashboard/batches/{without}"))


@pytest.mark.parametrize("overrides,field,message", [
    ({"lot_code": "DT 2025"}, "lot_code", "Mã lô chỉ gồm chữ in hoa không dấu"),
    ({"lot_code": "đt-2025"}, "lot_code", "Mã lô chỉ gồm chữ in hoa không dấu"),
    ({"lot_code": "LÔ-MỘT"}, "lot_code", "Mã lô chỉ gồm chữ in hoa không dấu"),
    ({"lot_code": "A" * 21}, "lot_code", ""),
    ({"lot_code": ""}, "lot_code", ""),
    ({"expiry_date": "2025-09-30"}, "expiry_date", "Hạn sử dụng phải sau ngày sản xuất."),
    ({"production_date": (dt.date.today() + dt.timedelta(days=5)).isoformat()}, "production_date",
     "không được ở tương lai"),
    ({"quantity": "0"}, "quantity", ""),
    ({"quantity": "abc"}, "quantity", ""),
    ({"unit": "barrel"}, "unit", ""),
], ids=["space", "vietnamese-lower", "vietnamese-upper", "21-chars", "empty", "expiry-before-production",
        "future-production", "zero-quantity", "bad-quantity", "bad-unit"])
def test_create_batch_bad_input_shows_message_and_saves_nothing(client_a, world, db, overrides, field, message):
    r = client_a.post("/dashboard/batches/new", data=batch_form(world.product_a.id, **overrides))
    assert r.status_code == 200
    errors = field_errors(html(r), field)
    assert errors, f"no message next to {field}"
    assert message in " ".join(errors)
    assert count(db, Batch) == 0


def test_lot_code_of_exactly_20_characters_is_accepted(client_a, world, db):
    batch_id = create_batch(client_a, world.product_a.id, lot_code="a" * 10 + "-" + "9" * 9)
    assert db.session.get(Batch, batch_id).lot_code == "AAAAAAAAAA-999999999"


def test_duplicate_lot_on_same_product_refused_same_lot_on_other_product_ok(client_a, world, db):
    create_batch(client_a, world.product_a.id, lot_code="DT-2025-01")
    r = client_a.post("/dashboard/batches/new", data=batch_form(world.product_a.id, lot_code=" dt-2025-01 "))
    assert r.status_code == 200
    assert "Sản phẩm này đã có lô với mã này." in " ".join(field_errors(html(r), "lot_code"))
    assert count(db, Batch) == 1

    create_batch(client_a, world.published_a.id, lot_code="dt-2025-01")
    assert count(db, Batch, Batch.lot_code == "DT-2025-01") == 2


def test_another_tenants_product_saves_nothing_and_leaks_nothing(app, world, db):
    client_b = as_user(app, "b@example.vn")
    # A's product is not among B's choices
    assert world.product_a.name not in html(client_b.get("/dashboard/batches/new"))
    r = client_b.post("/dashboard/batches/new", data=batch_form(world.product_a.id))
    assert r.status_code in (200, 404)
    assert world.product_a.name not in html(r)
    assert count(db, Batch) == 0


def test_another_tenants_product_is_404(app, world, db):
    client_b = as_user(app, "b@example.vn")
    r = client_b.post("/dashboard/batches/new", data=batch_form(world.product_a.id))
    assert r.status_code == 404
    assert count(db, Batch) == 0


def test_unknown_product_id_saves_nothing(client_a, world, db):
    for product_id in ("999999", "abc", "99999999999999999999"):
        r = client_a.post("/dashboard/batches/new", data=batch_form(product_id))
        assert r.status_code in (200, 404)
    assert count(db, Batch) == 0


def test_batch_list_is_scoped_to_the_tenant_and_cooperative_sees_members(app, world, db, client_a):
    create_batch(client_a, world.product_a.id, lot_code="LOT-OF-A")
    client_b = as_user(app, "b@example.vn")
    create_batch(client_b, world.product_b.id, lot_code="LOT-OF-B")

    page_a = html(client_a.get("/dashboard/batches"))
    assert "LOT-OF-A" in page_a and "LOT-OF-B" not in page_a
    page_b = html(client_b.get("/dashboard/batches"))
    assert "LOT-OF-B" in page_b and "LOT-OF-A" not in page_b
    page_coop = html(as_user(app, "coop@example.vn").get("/dashboard/batches"))
    assert "LOT-OF-A" in page_coop and "LOT-OF-B" not in page_coop

    b_batch = db.session.scalar(select(Batch.id).where(Batch.lot_code == "LOT-OF-B"))
    assert client_a.get(f"/dashboard/batches/{b_batch}").status_code == 404
    assert as_user(app, "officer@example.vn").get("/dashboard/batches").status_code == 403


def test_cooperative_creates_a_batch_for_its_members_product(app, world, db):
    coop = as_user(app, "coop@example.vn")
    assert world.product_a.name in html(coop.get("/dashboard/batches/new"))
    batch_id = create_batch(coop, world.product_a.id, lot_code="HTX-01")
    assert db.session.get(Batch, batch_id).product_id == world.product_a.id


def test_empty_batch_list(client_a):
    assert "Chưa có lô nào" in html(client_a.get("/dashboard/batches"))


# ---- the diary ---------------------------------------------------------------------

def test_events_are_appended_and_shown_in_order(client_a, batch_a, db):
    steps = [
        dict(kind="seeding", date="2025-06-01", time="06:30", description="Gieo mạ giống nếp cái hoa vàng"),
        dict(kind="input", date="2025-07-01", time="", description="Bón thúc", input_name="Phân NPK 16-16-8",
             input_quantity="20 kg", input_lot="NPK-0625", supplier="Đại lý Hưng Yên"),
        dict(kind="harvest", date="2025-10-01", time="16:00", description="Gặt bằng máy"),
        dict(kind="shipping", date="2025-10-02", time="08:00", description="Giao cho siêu thị",
             counterpart="Siêu thị Đồng Tiến", document_no="PX-001"),
    ]
    for step in steps:
        r = add_event(client_a, batch_a, **step)
        assert r.status_code == 303, html(r)[:2000]
        assert r.headers["Location"].endswith(f"/dashboard/batches/{batch_a}#nhat-ky")

    page = html(client_a.get(f"/dashboard/batches/{batch_a}"))
    positions = [page.index(step["description"]) for step in steps]
    assert positions == sorted(positions)
    assert [int(n) for n in re.findall(r"#(\d+) · ", page)] == [1, 2, 3, 4]
    assert "01/06/2025 06:30" in page          # shown in Vietnam time
    assert "01/07/2025 12:00" in page          # no time given: noon
    assert "Phân NPK 16-16-8" in page and "NPK-0625" in page and "Siêu thị Đồng Tiến" in page
    assert "Ruộng số 3" in page

    events = db.session.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch_a).order_by(TraceEvent.seq)).all()
    assert [e.kind for e in events] == ["seeding", "input", "harvest", "shipping"]
    assert events[0].occurred_at == dt.datetime(2025, 6, 1, 6, 30, tzinfo=LOCAL_TZ)
    assert events[0].timezone == "Asia/Ho_Chi_Minh"
    assert events[1].details == {"input_name": "Phân NPK 16-16-8", "input_quantity": "20 kg",
                                 "input_lot": "NPK-0625", "supplier": "Đại lý Hưng Yên"}
    assert events[3].details == {"counterpart": "Siêu thị Đồng Tiến", "document_no": "PX-001"}
    assert events[1].prev_hash == events[0].entry_hash


@pytest.mark.parametrize("kind,field,message", [
    ("input", "input_name", "Ghi tên vật tư đã dùng."),
    ("shipping", "counterpart", "Ghi bên nhận (khi xuất) hoặc bên giao (khi nhận)."),
    ("receiving", "counterpart", "Ghi bên nhận (khi xuất) hoặc bên giao (khi nhận)."),
])
def test_event_without_required_details_is_refused(client_a, batch_a, db, kind, field, message):
    r = add_event(client_a, batch_a, kind=kind)
    assert r.status_code == 422
    assert message in " ".join(field_errors(html(r), field))
    assert count(db, TraceEvent) == 0


@pytest.mark.parametrize("overrides,field", [
    ({"date": (local_today() + dt.timedelta(days=3)).isoformat()}, "date"),
    ({"date": "1999-12-31"}, "date"),
    ({"date": ""}, "date"),
    ({"date": "31/12/2025"}, "date"),
    ({"kind": "dancing"}, "kind"),
    ({"time": "25:61"}, "time"),
    ({"place": "x" * 201}, "place"),
], ids=["future", "too-old", "missing", "wrong-format", "unknown-kind", "bad-time", "place-too-long"])
def test_bad_event_input_is_422_with_message_and_saves_nothing(client_a, batch_a, db, overrides, field):
    r = add_event(client_a, batch_a, **overrides)
    assert r.status_code == 422
    assert field_errors(html(r), field), f"no message next to {field}"
    assert count(db, TraceEvent) == 0


def test_event_dated_tomorrow_is_refused(client_a, batch_a, db):
    r = add_event(client_a, batch_a, date=(local_today() + dt.timedelta(days=1)).isoformat())
    assert r.status_code == 422
    assert count(db, TraceEvent) == 0


def test_correction_keeps_both_events_and_marks_the_corrected_one(client_a, batch_a, db):
    assert add_event(client_a, batch_a, kind="input", input_name="Phân hữu cơ", description="Bón 50 kg").status_code == 303
    assert add_event(client_a, batch_a, kind="care", description="Tưới").status_code == 303
    first = db.session.scalar(select(TraceEvent).where(TraceEvent.batch_id == batch_a, TraceEvent.seq == 1))
    first_id, first_hash = first.id, first.entry_hash

    r = add_event(client_a, batch_a, kind="input", input_name="Phân hữu cơ", description="Đính chính: bón 30 kg",
                  corrects_id=str(first_id))
    assert r.status_code == 303, html(r)[:2000]

    db.session.expire_all()
    events = db.session.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch_a).order_by(TraceEvent.seq)).all()
    assert [e.seq for e in events] == [1, 2, 3]
    assert events[0].description == "Bón 50 kg" and events[0].entry_hash == first_hash  # untouched
    assert events[2].corrects_id == first_id

    page = html(client_a.get(f"/dashboard/batches/{batch_a}"))
    assert page.count('class="corrected"') == 1
    corrected_item = page[page.index('class="corrected"'):]
    assert corrected_item.index("Bón 50 kg") < corrected_item.index("Đã được đính chính bởi mục #3")
    assert "Đính chính cho một mục trước" in page
    assert "Bón 50 kg" in page and "Đính chính: bón 30 kg" in page


def test_correction_of_another_batchs_event_is_refused(client_a, world, db, batch_a):
    other = create_batch(client_a, world.product_a.id, lot_code="OTHER")
    assert add_event(client_a, other, description="Sự kiện của lô khác").status_code == 303
    other_event = db.session.scalar(select(TraceEvent.id).where(TraceEvent.batch_id == other))
    r = add_event(client_a, batch_a, corrects_id=str(other_event))
    assert r.status_code in (404, 422)
    assert count(db, TraceEvent, TraceEvent.batch_id == batch_a) == 0


def test_correction_of_another_tenants_event_is_404(app, world, db, batch_a, client_a):
    assert add_event(client_a, batch_a).status_code == 303
    a_event = db.session.scalar(select(TraceEvent.id).where(TraceEvent.batch_id == batch_a))
    client_b = as_user(app, "b@example.vn")
    b_batch = create_batch(client_b, world.product_b.id, lot_code="B1")
    assert add_event(client_b, b_batch, corrects_id=str(a_event)).status_code == 404
    assert count(db, TraceEvent) == 1


def test_photo_is_stored_and_shown(client_a, batch_a, db, app, tmp_path):
    r = add_event(client_a, batch_a, kind="harvest", photo=(io.BytesIO(jpeg()), "thu-hoach.jpg"))
    assert r.status_code == 303, html(r)[:2000]
    event = db.session.scalar(select(TraceEvent).where(TraceEvent.batch_id == batch_a))
    assert event.photo
    page = html(client_a.get(f"/dashboard/batches/{batch_a}"))
    src = f"/media/{event.photo}-t.jpg"
    assert src in page
    thumb = client_a.get(src)
    assert thumb.status_code == 200 and thumb.data[:3] == b"\xff\xd8\xff"


@pytest.mark.parametrize("payload,name", [
    (b"%PDF-1.4 not a photo", "anh.jpg"),
    (b"MZ\x90\x00 executable", "anh.png"),
    (b"", "empty.jpg"),
])
def test_non_image_photo_is_422_and_saves_no_event(client_a, batch_a, db, app, payload, name):
    r = add_event(client_a, batch_a, photo=(io.BytesIO(payload), name))
    assert r.status_code == 422
    errors = field_errors(html(r), "photo")
    assert errors and ("không phải ảnh" in errors[0] or "rỗng" in errors[0] or "hỏng" in errors[0])
    assert count(db, TraceEvent) == 0


def test_another_tenant_cannot_see_or_append_to_the_diary(app, world, db, batch_a):
    client_b = as_user(app, "b@example.vn")
    assert client_b.get(f"/dashboard/batches/{batch_a}").status_code == 404
    assert add_event(client_b, batch_a).status_code == 404
    assert client_b.post(f"/dashboard/batches/{batch_a}/close").status_code == 404
    assert count(db, TraceEvent) == 0
    # the cooperative may write its member's diary
    assert add_event(as_user(app, "coop@example.vn"), batch_a).status_code == 303


def test_unknown_batch_is_404(client_a, world):
    for url in ("/dashboard/batches/999999", "/dashboard/batches/99999999999"):
        assert client_a.get(url).status_code == 404
    assert add_event(client_a, 999999).status_code == 404
    assert client_a.post("/dashboard/batches/999999/runs", data={"count": "5"}).status_code == 404


def test_close_batch(client_a, batch_a, db):
    r = client_a.post(f"/dashboard/batches/{batch_a}/close")
    assert r.status_code == 302
    assert db.session.get(Batch, batch_a).status == "closed"
    page = html(client_a.get(f"/dashboard/batches/{batch_a}"))
    assert "Đã đóng lô." in " ".join(flashes(page, "success"))
    client_a.post(f"/dashboard/batches/{batch_a}/close")
    assert "Lô không còn mở." in " ".join(flashes(html(client_a.get(f"/dashboard/batches/{batch_a}"))))


# ---- flask trace verify ------------------------------------------------------------

def test_trace_verify_detects_an_edited_event(client_a, batch_a, db, runner):
    for i in range(5):
        assert add_event(client_a, batch_a, description=f"Việc số {i + 1}", date=f"2025-10-0{i + 1}").status_code == 303
    db.session.commit()

    ok = runner.invoke(args=["trace", "verify", str(batch_a)])
    assert ok.exit_code == 0, ok.output
    assert "intact (5 events)" in ok.output

    db.session.execute(text("UPDATE trace_event SET description = 'Đã sửa lén' WHERE batch_id = :b AND seq = 3"),
                       {"b": batch_a})
    db.session.commit()
    broken = runner.invoke(args=["trace", "verify", str(batch_a)])
    assert broken.exit_code == 1
    assert "#3" in broken.output and "#2" not in broken.output


def test_trace_verify_detects_a_deleted_event(client_a, batch_a, db, runner):
    for i in range(3):
        assert add_event(client_a, batch_a, description=f"Việc {i}").status_code == 303
    db.session.execute(text("DELETE FROM trace_event WHERE batch_id = :b AND seq = 2"), {"b": batch_a})
    db.session.commit()
    result = runner.invoke(args=["trace", "verify", str(batch_a)])
    assert result.exit_code == 1
    assert "#2" in result.output


def test_trace_verify_empty_diary_and_unknown_batch(batch_a, db, runner):
    db.session.commit()
    empty = runner.invoke(args=["trace", "verify", str(batch_a)])
    assert empty.exit_code == 0 and "(0 events)" in empty.output
    unknown = runner.invoke(args=["trace", "verify", "999999"])
    assert unknown.exit_code == 1
    assert "no batch with id 999999" in unknown.output
    assert runner.invoke(args=["trace", "verify", "abc"]).exit_code != 0


# ---- stamp runs --------------------------------------------------------------------

def test_create_run_issues_unique_valid_stamps_and_shows_counts(client_a, batch_a, db):
    run_id = create_run(client_a, batch_a, 25)
    db.session.expire_all()
    run = db.session.get(StampRun, run_id)
    assert run.count == 25 and run.status == "issued" and run.batch_id == batch_a
    serials = db.session.scalars(select(Stamp.serial).where(Stamp.run_id == run_id).order_by(Stamp.position)).all()
    assert len(serials) == len(set(serials)) == 25
    assert all(is_valid(s) and len(s) == 16 and set(s) <= set(ALPHABET) for s in serials)
    positions = db.session.scalars(select(Stamp.position).where(Stamp.run_id == run_id).order_by(Stamp.position)).all()
    assert positions == list(range(1, 26))

    page = html(client_a.get(f"/dashboard/runs/{run_id}"))
    assert "Đã phát hành 25 tem." in " ".join(flashes(page, "success"))
    assert re.search(r"<dt>Số tem</dt><dd>25</dd>", page)
    assert re.search(r"<dt>Đã phát hành</dt><dd>25</dd>", page)
    assert serials[0] in page  # links to the first stamp's PNG/SVG
    batch_page = html(client_a.get(f"/dashboard/batches/{batch_a}"))
    assert f"/dashboard/runs/{run_id}" in batch_page


@pytest.mark.parametrize("value", ["0", "100001", "abc", "", "-5", "2.5"])
def test_run_count_out_of_range_is_refused(client_a, batch_a, db, value):
    r = client_a.post(f"/dashboard/batches/{batch_a}/runs", data={"count": value})
    assert r.status_code == 302
    assert r.headers["Location"] == f"/dashboard/batches/{batch_a}"
    page = html(client_a.get(r.headers["Location"]))
    assert "Số tem phải từ 1 đến 100.000." in " ".join(flashes(page))
    assert count(db, StampRun) == 0 and count(db, Stamp) == 0


def test_recalled_batch_issues_no_stamps(client_a, batch_a, db):
    assert client_a.post(f"/dashboard/batches/{batch_a}/recall", data={"reason": "Dư lượng thuốc", "confirm": "1"}
                         ).status_code == 302
    r = client_a.post(f"/dashboard/batches/{batch_a}/runs", data={"count": "10"})
    assert r.status_code == 302
    assert "Lô đã bị thu hồi: không phát hành thêm tem." in " ".join(flashes(html(client_a.get(r.headers["Location"]))))
    assert count(db, StampRun) == 0 and count(db, Stamp) == 0


def read_csv(response) -> tuple[str, list[list[str]]]:
    body = response.get_data(as_text=True)
    return body, list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


def test_csv_for_print_shops(client_a, batch_a, db):
    run_id = create_run(client_a, batch_a, 25)
    r = client_a.get(f"/dashboard/runs/{run_id}/stamps.csv")
    assert r.status_code == 200
    assert r.mimetype == "text/csv"
    assert r.data.startswith("\ufeff".encode())
    assert "attachment" in r.headers["Content-Disposition"]
    body, rows = read_csv(r)
    assert rows[0] == ["serial", "url", "lot", "product"]
    assert len(rows) == 26
    serials = db.session.scalars(select(Stamp.serial).where(Stamp.run_id == run_id).order_by(Stamp.position)).all()
    assert [row[0] for row in rows[1:]] == serials
    for serial, url, lot, product in rows[1:]:
        assert is_valid(serial)
        assert url == f"{BASE}/S/{serial}"
        assert lot == "DT-2025-01"
        assert product == "Gạo nếp cái hoa vàng"


def test_csv_uses_gs1_digital_link_for_a_product_with_gtin(client_a, world, db):
    gtin = gtin14("0893456789012")
    world.product_a.gtin = gtin
    db.session.commit()
    batch_id = create_batch(client_a, world.product_a.id, lot_code="gs1-lot-7")
    run_id = create_run(client_a, batch_id, 5)
    _, rows = read_csv(client_a.get(f"/dashboard/runs/{run_id}/stamps.csv"))
    assert len(rows) == 6
    for serial, url, lot, _product in rows[1:]:
        # lower-case scheme for Digital Links: GS1 parsers (biip) require it
        assert url == f"{BASE.replace('HTTP', 'http', 1)}/01/{gtin}/10/GS1-LOT-7/21/{serial}"
        assert lot == "GS1-LOT-7"
        # QR alphanumeric mode after the scheme: digits, capitals and $%*+-./: only
        assert re.fullmatch(r"[0-9A-Z $%*+\-./:]+", url.split("://", 1)[1])


def test_stamp_url_ignores_the_request_host(app, world, db):
    evil = "http://evil.example"
    client = app.test_client()
    r = client.post("/account/login", data={"email": "a@example.vn", "password": TEST_PASSWORD}, base_url=evil)
    assert r.status_code == 302
    r = client.post("/dashboard/batches/new", data=batch_form(world.product_a.id), base_url=evil)
    batch_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = client.post(f"/dashboard/batches/{batch_id}/runs", data={"count": "2"}, base_url=evil)
    run_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = client.get(f"/dashboard/runs/{run_id}/stamps.csv", base_url=evil)
    assert r.status_code == 200
    _, rows = read_csv(r)
    assert len(rows) == 3
    assert all(row[1].startswith(f"{BASE}/S/") for row in rows[1:])
    assert "EVIL" not in r.get_data(as_text=True).upper()


def test_activate_then_void_positions_serials_and_whole_run(client_a, batch_a, db):
    run_id = create_run(client_a, batch_a, 25)
    r = client_a.post(f"/dashboard/runs/{run_id}/activate")
    assert r.status_code == 302
    assert set(stamp_statuses(db, run_id).values()) == {"active"}
    run = db.session.get(StampRun, run_id)
    assert run.status == "active" and run.activated_at is not None
    assert "Đã kích hoạt 25 tem" in " ".join(flashes(html(client_a.get(r.headers["Location"])), "success"))

    # positions 3..5
    assert client_a.post(f"/dashboard/runs/{run_id}/void", data={"first": "3", "last": "5"}).status_code == 302
    statuses = stamp_statuses(db, run_id)
    assert sorted(p for p, s in statuses.items() if s == "void") == [3, 4, 5]
    page = html(client_a.get(f"/dashboard/runs/{run_id}"))
    assert "Đã hủy 3 tem." in " ".join(flashes(page, "success"))
    assert re.search(r"<dt>Đã hủy</dt><dd>3</dd>", page) and re.search(r"<dt>Đang dùng</dt><dd>22</dd>", page)

    # by serial, given last-to-first, lower case and grouped with dashes as a person types them
    s10, s12 = serial_at(db, run_id, 10), serial_at(db, run_id, 12)
    dashed = "-".join(s12[i:i + 4] for i in range(0, 16, 4)).lower()
    assert client_a.post(f"/dashboard/runs/{run_id}/void",
                         data={"first_serial": dashed, "last_serial": s10}).status_code == 302
    assert sorted(p for p, s in stamp_statuses(db, run_id).items() if s == "void") == [3, 4, 5, 10, 11, 12]

    # a single serial
    s20 = serial_at(db, run_id, 20)
    client_a.post(f"/dashboard/runs/{run_id}/void", data={"first_serial": s20})
    assert stamp_statuses(db, run_id)[20] == "void"
    assert db.session.get(StampRun, run_id).status == "active"

    # the whole run (empty form)
    client_a.post(f"/dashboard/runs/{run_id}/void", data={})
    assert set(stamp_statuses(db, run_id).values()) == {"void"}
    run = db.session.get(StampRun, run_id)
    assert run.status == "void" and run.voided_at is not None

    # a void run cannot be activated again
    r = client_a.post(f"/dashboard/runs/{run_id}/activate")
    assert r.status_code == 302
    assert "Đợt tem đã bị hủy." in " ".join(flashes(html(client_a.get(r.headers["Location"]))))
    assert set(stamp_statuses(db, run_id).values()) == {"void"}
    assert db.session.get(StampRun, run_id).status == "void"


def mistyped(serial: str) -> str:
    """The serial with one character changed (the check character catches it)."""
    ch = serial[5]
    other = next(c for c in ALPHABET if c != ch)
    return serial[:5] + other + serial[6:]


@pytest.mark.parametrize("bad", [
    lambda s: {"first_serial": mistyped(s)},
    lambda s: {"first_serial": "NOT-A-SERIAL"},
    lambda s: {"first_serial": s, "last_serial": mistyped(s)},
    lambda s: {"first": "5", "last": "3"},
    lambda s: {"first": "20", "last": "40"},
    lambda s: {"first": "0"},
    lambda s: {"first": "abc"},
], ids=["check-char", "garbage", "bad-last", "reversed", "beyond-run", "zero", "not-a-number"])
def test_bad_void_request_flashes_error_and_voids_nothing(client_a, batch_a, db, bad):
    run_id = create_run(client_a, batch_a, 10)
    r = client_a.post(f"/dashboard/runs/{run_id}/void", data=bad(serial_at(db, run_id, 1)))
    assert r.status_code == 302
    assert flashes(html(client_a.get(r.headers["Location"])))
    assert set(stamp_statuses(db, run_id).values()) == {"issued"}
    assert db.session.get(StampRun, run_id).status == "issued"


def test_void_by_serial_of_another_run_voids_nothing(client_a, batch_a, db):
    run_1 = create_run(client_a, batch_a, 5)
    run_2 = create_run(client_a, batch_a, 5)
    r = client_a.post(f"/dashboard/runs/{run_1}/void", data={"first_serial": serial_at(db, run_2, 2)})
    assert "Mã tem không thuộc đợt này." in " ".join(flashes(html(client_a.get(r.headers["Location"]))))
    assert set(stamp_statuses(db, run_1).values()) == {"issued"}
    assert set(stamp_statuses(db, run_2).values()) == {"issued"}


def test_activate_after_partial_void_keeps_void_stamps_void(client_a, batch_a, db):
    run_id = create_run(client_a, batch_a, 6)
    client_a.post(f"/dashboard/runs/{run_id}/void", data={"first": "1", "last": "2"})
    client_a.post(f"/dashboard/runs/{run_id}/activate")
    statuses = stamp_statuses(db, run_id)
    assert [statuses[p] for p in range(1, 7)] == ["void", "void", "active", "active", "active", "active"]


def test_another_tenant_cannot_touch_runs(app, world, db, client_a, batch_a):
    run_id = create_run(client_a, batch_a, 5)
    serial = serial_at(db, run_id, 1)
    client_b = as_user(app, "b@example.vn")
    assert client_b.get(f"/dashboard/runs/{run_id}").status_code == 404
    assert client_b.get(f"/dashboard/runs/{run_id}/stamps.csv").status_code == 404
    assert client_b.get(f"/dashboard/runs/{run_id}/labels.pdf?layout=a4-3x8").status_code == 404
    assert client_b.post(f"/dashboard/runs/{run_id}/activate").status_code == 404
    assert client_b.post(f"/dashboard/runs/{run_id}/void", data={}).status_code == 404
    assert client_b.post(f"/dashboard/batches/{batch_a}/runs", data={"count": "5"}).status_code == 404
    assert client_b.get(f"/dashboard/stamps/{serial}.png").status_code == 404
    assert client_b.get(f"/dashboard/stamps/{serial}.svg").status_code == 404
    assert count(db, StampRun) == 1
    assert set(stamp_statuses(db, run_id).values()) == {"issued"}
    assert db.session.get(StampRun, run_id).downloads == 0
    # the cooperative sees its member's run
    assert as_user(app, "coop@example.vn").get(f"/dashboard/runs/{run_id}").status_code == 200


def test_unknown_run_and_stamp_are_404(client_a, batch_a, db):
    run_id = create_run(client_a, batch_a, 3)
    serial = serial_at(db, run_id, 1)
    for url in ("/dashboard/runs/999999", "/dashboard/runs/999999/stamps.csv",
                "/dashboard/runs/999999/labels.pdf"):
        assert client_a.get(url).status_code == 404
    assert client_a.post("/dashboard/runs/999999/activate").status_code == 404
    # a well-formed serial that was never issued; a mistyped check character; garbage
    from marketplace.stamps.serials import new_serial

    for bad in (new_serial(), mistyped(serial), serial[:-1], "hello"):
        assert client_a.get(f"/dashboard/stamps/{bad}.png").status_code == 404
        assert client_a.get(f"/dashboard/stamps/{bad}.svg").status_code == 404
    assert client_a.get(f"/dashboard/stamps/{serial}.gif").status_code == 404


# ---- recall ------------------------------------------------------------------------

def test_producer_recalls_with_a_reason(client_a, batch_a, db):
    # a post without confirm=1 (not from the confirmation page) recalls nothing: it leads there
    r = client_a.post(f"/dashboard/batches/{batch_a}/recall", data={"reason": "Phát hiện nấm mốc"})
    assert r.status_code == 302 and r.headers["Location"].startswith(f"/dashboard/batches/{batch_a}/recall")
    assert db.session.get(Batch, batch_a).status == "open"
    confirm = client_a.get(r.headers["Location"])
    assert confirm.status_code == 200 and "Xác nhận thu hồi lô hàng" in html(confirm)
    assert "Phát hiện nấm mốc" in html(confirm)  # the reason it carried is filled in
    r = client_a.post(f"/dashboard/batches/{batch_a}/recall", data={"reason": "Phát hiện nấm mốc", "confirm": "1"})
    assert r.status_code == 302
    db.session.expire_all()
    batch = db.session.get(Batch, batch_a)
    assert batch.status == "recalled" and batch.recall_reason == "Phát hiện nấm mốc"
    assert batch.recalled_at is not None and batch.recalled_by_id is not None
    page = html(client_a.get(f"/dashboard/batches/{batch_a}"))
    assert "Phát hiện nấm mốc" in page and "Đã thu hồi lô hàng DT-2025-01." in page
    assert f"/dashboard/batches/{batch_a}/runs" not in page   # no more stamps from this batch's page
    assert f"/dashboard/batches/{batch_a}/events" not in page  # nor diary entries
    # recalling again is refused and keeps the first reason
    client_a.post(f"/dashboard/batches/{batch_a}/recall", data={"reason": "Lần hai", "confirm": "1"})
    assert "Lô đã bị thu hồi trước đó." in " ".join(flashes(html(client_a.get(f"/dashboard/batches/{batch_a}"))))
    assert db.session.get(Batch, batch_a).recall_reason == "Phát hiện nấm mốc"


@pytest.mark.parametrize("reason", ["", "   "])
def test_recall_without_reason_is_refused(client_a, batch_a, db, reason):
    r = client_a.post(f"/dashboard/batches/{batch_a}/recall", data={"reason": reason, "confirm": "1"})
    assert r.status_code == 422
    assert field_errors(html(r), "reason") == ["Vui lòng điền mục này."]
    assert db.session.get(Batch, batch_a).status == "open"


def test_officer_can_recall_producer_b_cannot(app, db, batch_a, world):
    client_b = as_user(app, "b@example.vn")
    assert client_b.post(f"/dashboard/batches/{batch_a}/recall", data={"reason": "Phá", "confirm": "1"}
                          ).status_code == 404
    assert db.session.get(Batch, batch_a).status == "open"

    officer = as_user(app, "officer@example.vn")
    r = officer.post(f"/dashboard/batches/{batch_a}/recall", data={"reason": "Kết quả xét nghiệm vượt ngưỡng",
                                                                      "confirm": "1"})
    assert r.status_code == 302
    assert r.headers["Location"] == f"/admin/products/{world.product_a.id}"
    db.session.expire_all()
    batch = db.session.get(Batch, batch_a)
    assert batch.status == "recalled"
    assert batch.recalled_by_id == world.users["officer"].id


# ---- label sheets and single stamps (need marketplace.printing) ----------------------

def test_pdf_for_every_layout_and_download_counter(client_a, batch_a, db):
    pytest.importorskip("marketplace.printing.pdf")
    run_id = create_run(client_a, batch_a, 25)
    for n, layout in enumerate(LAYOUTS, start=1):
        r = client_a.get(f"/dashboard/runs/{run_id}/labels.pdf?layout={layout}")
        assert r.status_code == 200, (layout, r.data[:300])
        assert r.mimetype == "application/pdf"
        assert r.data.startswith(b"%PDF")
        assert f"tem-lo-DT-2025-01-dot-{run_id}-{layout}" in r.headers["Content-Disposition"]
        db.session.expire_all()
        assert db.session.get(StampRun, run_id).downloads == n
    default = client_a.get(f"/dashboard/runs/{run_id}/labels.pdf")
    assert default.status_code == 200 and default.data.startswith(b"%PDF")
    calibration = client_a.get(f"/dashboard/runs/{run_id}/labels.pdf?layout=a4-3x8&calibration=1")
    assert calibration.status_code == 200 and calibration.data.startswith(b"%PDF")
    assert "<dt>Số lần tải</dt><dd>6</dd>" in html(client_a.get(f"/dashboard/runs/{run_id}"))


def test_web_pdf_carries_exactly_the_runs_stamp_urls(client_a, batch_a, db):
    """What the farmer prints is what the CSV lists: every QR on the A4 3×8 sheet decodes to
    one stamp URL of this run (25 labels: 2 pages of 24)."""
    pytest.importorskip("marketplace.printing.pdf")
    pdfium = pytest.importorskip("pypdfium2")
    zxingcpp = pytest.importorskip("zxingcpp")
    run_id = create_run(client_a, batch_a, 25)
    _, rows = read_csv(client_a.get(f"/dashboard/runs/{run_id}/stamps.csv"))
    expected = sorted(row[1] for row in rows[1:])

    r = client_a.get(f"/dashboard/runs/{run_id}/labels.pdf?layout=a4-3x8")
    document = pdfium.PdfDocument(r.data)
    assert len(document) == 2
    decoded = []
    for page in document:
        image = page.render(scale=150 / 72).to_pil()
        decoded += [b.text for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]
    document.close()
    assert sorted(decoded) == expected


def test_pdf_unknown_layout_or_part_is_404(client_a, batch_a, db):
    pytest.importorskip("marketplace.printing.pdf")
    run_id = create_run(client_a, batch_a, 25)
    for query in ("layout=a4-9x9", "layout=", "layout=A4-3X8", "layout=a4-3x8&part=2", "layout=a4-3x8&part=0",
                  "layout=a4-3x8&part=-1"):
        assert client_a.get(f"/dashboard/runs/{run_id}/labels.pdf?{query}").status_code == 404, query
    assert client_a.get(f"/dashboard/runs/{run_id}/labels.pdf?layout=a4-3x8&part=1").status_code == 200
    db.session.expire_all()
    assert db.session.get(StampRun, run_id).downloads == 1


def test_single_stamp_png_and_svg(client_a, batch_a, db):
    pytest.importorskip("marketplace.printing.qr")
    run_id = create_run(client_a, batch_a, 3)
    serial = serial_at(db, run_id, 2)
    png = client_a.get(f"/dashboard/stamps/{serial}.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")
    svg = client_a.get(f"/dashboard/stamps/{serial}.svg")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "<svg" in svg.get_data(as_text=True)
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    (decoded,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))
    assert decoded.text == f"{BASE}/S/{serial}"
    dashed = "-".join(serial[i:i + 4] for i in range(0, 16, 4))
    for variant in (serial.lower(), dashed, dashed.lower()):
        r = client_a.get(f"/dashboard/stamps/{variant}.png")
        assert r.status_code == 200, variant
        assert r.data == png.data
