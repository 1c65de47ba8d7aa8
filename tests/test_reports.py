"""Buyers' reports of suspicious products (issue 14, "a buyer can act"), and the officers'
views beside them: clone alerts by distinct scanners, scan histories with test scans,
serial probes by product.

The rules are tested on ``marketplace.reports.service`` and ``marketplace.alerts`` without
HTTP; then every page with every role, bad input, CSRF, the rate limit and the photo's
re-encoding through the test client.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image
from sqlalchemy import func, select

from marketplace import alerts
from marketplace.access import owned_producer_ids
from marketplace.extensions import db as _db
from marketplace.models import AuditEntry, BuyerReport, Scan, SerialProbe, Stamp
from marketplace.models.base import utcnow
from marketplace.reports import service
from marketplace.reports.service import ReportRefused, Subject
from marketplace.stamps.serials import check_symbol, group_serial
from tests.conftest import make_product, signed_in
from tests.test_routes_matrix import add_trace

NOTE = "Mua ở chợ huyện ngày 02/12, tem bong ra, mã quét báo tem không có."
# A well-formed serial (right check symbol) that no stamp carries.
GHOST_BODY = "K7M2P9QX4RT8W3Z"
GHOST = GHOST_BODY + check_symbol(GHOST_BODY)


# ---- helpers --------------------------------------------------------------------------

class OwnSessionClient(FlaskClient):
    """A client of a second app (own contexts and sessions, as in production) that first
    ends the test's transaction: on SQLite it holds the write lock the report needs."""

    def open(self, *args, **kwargs):
        _db.session.rollback()
        return super().open(*args, **kwargs)


def web(app_factory, **config):
    built = app_factory(**config)
    built.test_client_class = OwnSessionClient
    return built


def jpeg_with_exif(size=(900, 700)) -> bytes:
    """A camera-like JPEG: maker, model, a description and a GPS position in its EXIF."""
    img = Image.new("RGB", size, (200, 60, 40))
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"     # Make
    exif[0x0110] = "SecretModel X"        # Model
    exif[0x010E] = "chup tai nha so 12"   # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (19.0, 48.0, 30.0), 3: "E", 4: (105.0, 46.0, 10.0)})
    out = io.BytesIO()
    img.save(out, "JPEG", exif=exif, quality=90)
    data = out.getvalue()
    assert b"SecretPhoneMaker" in data and Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # really there
    return data


def png_bytes(size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (20, 120, 40)).save(out, "PNG")
    return out.getvalue()


def form(reason="copied_stamp", note=NOTE, phone="", code=None, photo: tuple[bytes, str] | None = None) -> dict:
    data = {"reason": reason, "note": note, "phone": phone}
    if code is not None:
        data["code"] = code
    if photo is not None:
        data["photo"] = (io.BytesIO(photo[0]), photo[1])
    return data


def post_report(client, query="", **fields):
    return client.post(f"/report{query}", data=form(**fields), content_type="multipart/form-data")


def reports_in_db(db) -> list[BuyerReport]:
    db.session.expire_all()
    return list(db.session.scalars(select(BuyerReport).order_by(BuyerReport.id)))


def private_files(app) -> list[Path]:
    folder = Path(app.config["UPLOAD_DIR"]) / "private"
    return sorted(folder.glob("*")) if folder.exists() else []


def serials_of(db, run) -> list[str]:
    return list(db.session.scalars(select(Stamp.serial).where(Stamp.run_id == run.id).order_by(Stamp.position)))


@pytest.fixture
def traced(world, db):
    """The world plus producer A's batch LOT-A1 with a run of three stamps."""
    add_trace(db.session, world)
    world.serials = serials_of(db, world.run_a)
    return world


def add_report(db, *, stamp=None, product=None, reason="copied_stamp", note=NOTE, phone="0912345678",
               at=None, handled=False, photo=None, code=""):
    report = BuyerReport(stamp_id=stamp.id if stamp else None, product_id=product.id if product else None,
                         reason=reason, note=note, phone=phone, code=code, photo=photo,
                         created_at=at or utcnow(), handled_at=utcnow() if handled else None)
    db.session.add(report)
    db.session.commit()
    return report


def stamp_row(db, serial) -> Stamp:
    return db.session.scalars(select(Stamp).where(Stamp.serial == serial)).one()


# ---- the domain, without HTTP -----------------------------------------------------------

def test_a_code_is_resolved_to_its_stamp_and_product(traced, db):
    serial = traced.serials[0]
    typed = group_serial(serial, " ").lower().replace("0", "o")  # as a person types it
    subject = service.find_subject(db.session, code=typed)
    assert subject.stamp.serial == serial and subject.product.id == traced.product_a.id
    assert subject.code == serial
    # the stamp is the evidence: its product wins over the page the buyer came from
    other = service.find_subject(db.session, code=serial, product_slug=traced.product_b.slug)
    assert other.product.id == traced.product_a.id


@pytest.mark.parametrize("typed,kept", [
    (GHOST, GHOST),                                  # well formed, no such stamp
    (GHOST[:-1] + ("0" if GHOST[-1] != "0" else "1"), None),  # wrong check symbol
    ("  abc   123 ", "ABC 123"),                       # not a serial at all
    ("X" * 80, "X" * service.CODE_MAX),               # too long: cut, never refused
    ("", ""),
])
def test_an_unknown_or_malformed_code_is_kept_as_typed(traced, db, typed, kept):
    subject = service.find_subject(db.session, code=typed)
    assert subject.stamp is None and subject.product is None
    assert subject.code == (kept if kept is not None else typed.upper())


def test_a_product_is_found_by_slug_listed_or_not(traced, db):
    assert traced.product_b.status == "draft"
    assert service.find_subject(db.session, product_slug=traced.product_b.slug).product.id == traced.product_b.id
    assert service.find_subject(db.session, product_slug="khong-co-san-pham-nay").product is None
    assert service.find_subject(db.session, product_slug="x" * 500).product is None


def test_create_report_stores_clean_values(traced, db):
    subject = service.find_subject(db.session, code=traced.serials[0])
    note = "\r\n".join(["dòng một."] * 50)  # 548 characters as sent, 499 once CRLF counts as one
    report = service.create_report(db.session, subject, reason="spoiled", note=note, phone="+84 912 345 678",
                                   province_code=38)
    db.session.commit()
    assert report.id and report.stamp_id == subject.stamp.id and report.product_id == traced.product_a.id
    assert report.note == note.replace("\r\n", "\n") and len(report.note) == 499
    assert report.phone == "0912345678" and report.province_code == 38 and report.handled_at is None
    assert report.created_at.tzinfo is not None


@pytest.mark.parametrize("fields,code", [
    ({"reason": "fake"}, "reason"),
    ({"reason": None}, "reason"),
    ({"note": "x" * 501}, "note_too_long"),
    ({"reason": "other", "note": "   "}, "note_required"),
    ({"phone": "12345"}, "phone"),
])
def test_create_report_refuses_what_the_form_refuses(traced, db, fields, code):
    values = {"reason": "copied_stamp", "note": NOTE, "phone": "", **fields}
    assert service.field_problems(**values) and code in service.field_problems(**values).values()
    with pytest.raises(ReportRefused) as refused:
        service.create_report(db.session, Subject(code="ABC"), **values)
    assert refused.value.code == code
    db.session.rollback()
    assert reports_in_db(db) == []


def test_reports_open_first_and_scoped_to_their_producer(traced, db):
    stamp = stamp_row(db, traced.serials[0])
    now = utcnow()
    old_open = add_report(db, stamp=stamp, product=traced.product_a, at=now - dt.timedelta(days=3))
    handled = add_report(db, product=traced.product_a, at=now - dt.timedelta(hours=1), handled=True)
    new_open = add_report(db, product=traced.published_a, at=now - dt.timedelta(days=1))
    of_b = add_report(db, product=traced.product_b, at=now)
    loose = add_report(db, code="ABC", at=now)  # names nothing we know
    ids = lambda rows: [r.id for r in rows]  # noqa: E731
    assert ids(service.list_reports(db.session)) == [loose.id, of_b.id, new_open.id, old_open.id]  # same time: id
    everything = ids(service.list_reports(db.session, include_handled=True))
    assert everything[-1] == handled.id and len(everything) == 5  # handled ones after the open ones
    a_ids = owned_producer_ids(traced.users["producer_a"])
    assert ids(service.list_reports(db.session, producer_ids=a_ids)) == [new_open.id, old_open.id]
    coop_ids = owned_producer_ids(traced.users["coop"])
    assert set(ids(service.list_reports(db.session, producer_ids=coop_ids, include_handled=True))) == {
        old_open.id, handled.id, new_open.id}
    b_ids = owned_producer_ids(traced.users["producer_b"])
    assert ids(service.list_reports(db.session, producer_ids=b_ids)) == [of_b.id]
    assert service.list_reports(db.session, producer_ids=set()) == []
    assert service.open_count(db.session, producer_ids=a_ids) == 2 and service.open_count(db.session) == 4
    assert ids(service.list_reports(db.session, stamp_id=stamp.id)) == [old_open.id]
    assert service.reports_per_stamp(db.session, [stamp.id, None]) == {stamp.id: 1}


def test_mark_handled_once(traced, db):
    report = add_report(db, product=traced.product_a)
    officer = traced.users["officer"]
    assert service.mark_handled(report, by=officer) is True
    first = report.handled_at
    assert service.mark_handled(report, by=traced.users["admin"]) is False
    assert report.handled_at == first and report.handled_by_id == officer.id


def test_clone_alerts_count_distinct_scanners_not_page_loads(traced, db):
    one, two, three = (stamp_row(db, s) for s in traced.serials)
    now = utcnow()
    one.scan_count, one.scanner_count = 40, 1    # one phone reloading: no alert
    two.scan_count, two.scanner_count = 6, 6     # six people: over the threshold of 5
    three.scan_count, three.scanner_count, three.other_province_seen = 2, 2, True
    for stamp in (one, two, three):
        db.session.add(Scan(stamp_id=stamp.id, scanned_at=now - dt.timedelta(minutes=stamp.position),
                            province_code=38, agent_family="zalo", scanner=f"s{stamp.position}"))
    db.session.commit()
    found = alerts.clone_alerts(db.session, threshold=5)
    assert [a.stamp.serial for a in found] == [two.serial, three.serial]


def test_test_scans_are_shown_but_never_count(traced, db):
    stamp = stamp_row(db, traced.serials[0])
    stamp.scan_count, stamp.scanner_count = 7, 7
    now = utcnow()
    db.session.add_all([Scan(stamp_id=stamp.id, scanned_at=now - dt.timedelta(hours=2), province_code=38,
                             agent_family="zalo", scanner="a"),
                        Scan(stamp_id=stamp.id, scanned_at=now - dt.timedelta(hours=1), province_code=1,
                             agent_family="chrome", scanner="b", test=True)])
    stamp.alert_handled_at = now - dt.timedelta(minutes=90)  # handled after the buyer's scan…
    db.session.commit()
    # …and the producer's test scan afterwards does not bring the alert back
    assert alerts.clone_alerts(db.session, threshold=5) == []
    alert, = alerts.clone_alerts(db.session, threshold=5, include_handled=True)
    assert alert.provinces == 1 and alert.handled  # Hà Nội came from the test scan only
    history = alerts.scan_history(db.session, stamp)
    assert [s.test for s in history] == [True, False] and alerts.buyer_scan_count(history) == 1


def test_serial_probes_grouped_by_product(traced, db):
    now = utcnow()
    product = traced.published_a
    product.gtin = "08936045100912"
    rows = [("08936045100912", "LOT-1", product.id, 38)] * 3 + [("08936045100912", "LOT-2", product.id, 1)]
    rows += [("08936045100929", None, None, None)] * 2   # a GTIN no product carries
    rows += [(None, None, None, 38)] * 5                  # /s/ probes: no GTIN
    for i, (gtin, lot, product_id, province) in enumerate(rows):
        db.session.add(SerialProbe(gtin=gtin, lot=lot, product_id=product_id, province_code=province,
                                   probed_at=now - dt.timedelta(minutes=i)))
    db.session.add(SerialProbe(gtin="08936045100912", lot="OLD", product_id=product.id,
                               probed_at=now - dt.timedelta(days=31)))  # too old
    for i in range(alerts.PROBE_VALUES + 3):  # many made-up lots on one product
        db.session.add(SerialProbe(gtin="08936045100912", lot=f"Z{i:02d}", product_id=product.id,
                                   probed_at=now - dt.timedelta(hours=1)))
    db.session.commit()
    report = alerts.serial_probes(db.session, now=now)
    assert report.unqualified == 5
    first, second = report.groups
    assert (first.product_id, first.product_name, first.gtin) == (product.id, product.name, "08936045100912")
    assert first.count == 4 + alerts.PROBE_VALUES + 3
    assert first.lots[:2] == ("LOT-1", "LOT-2") and len(first.lots) == alerts.PROBE_VALUES
    assert first.more_lots == 2 + alerts.PROBE_VALUES + 3 - alerts.PROBE_VALUES
    assert first.provinces == (38, 1) and first.last_at > now - dt.timedelta(minutes=1)
    assert (second.product_id, second.gtin, second.count, second.lots) == (None, "08936045100929", 2, ())


# ---- the buyer's pages ------------------------------------------------------------------

def private_headers(response):
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_form_from_a_stamp_says_nothing_about_the_serial(traced, client):
    real = client.get(f"/report?s={traced.serials[0].lower()}")
    ghost = client.get(f"/report?s={GHOST}")
    assert real.status_code == ghost.status_code == 200
    private_headers(real)
    private_headers(ghost)
    page = real.get_data(as_text=True)
    assert group_serial(traced.serials[0], " ") in page and "Báo cáo sản phẩm đáng ngờ" in page
    assert traced.product_a.name not in page and "LOT-A1" not in page
    # apart from the code itself (and the form's token), the two pages are the same
    def strip(response, typed):
        page = response.get_data(as_text=True).replace(group_serial(typed.upper(), " "), "CODE")
        return re.sub(r'value="[^"]*"', "", page.replace(typed, "CODE"))

    assert strip(real, traced.serials[0].lower()) == strip(ghost, GHOST)


def test_the_form_from_a_product_page_names_a_listed_product_only(traced, client):
    page = client.get(f"/report?p={traced.published_a.slug}").get_data(as_text=True)
    assert traced.published_a.name in page
    page = client.get(f"/report?p={traced.product_b.slug}").get_data(as_text=True)  # a draft
    assert traced.product_b.name not in page
    page = client.get("/report").get_data(as_text=True)
    assert 'name="code"' in page and "Mã trên tem" in page


def test_product_page_links_to_the_form(traced, client):
    page = client.get(f"/p/{traced.published_a.slug}").get_data(as_text=True)
    assert f'href="/report?p={traced.published_a.slug}"' in page


def test_a_buyer_reports_from_a_stamp_with_a_photo(traced, app_factory, db):
    app = web(app_factory, SCAN_PROVINCE_HEADER="X-Province")
    client = app.test_client()
    serial = traced.serials[0]
    response = client.post(f"/report?s={serial}", data=form(phone="0912 345 678", code=group_serial(serial, " "),
                                                            photo=(jpeg_with_exif(), "IMG_2031.jpg")),
                           headers={"X-Province": "38"}, content_type="multipart/form-data")
    assert response.status_code == 303 and response.headers["Location"] == "/report/thanks"
    private_headers(response)
    report, = reports_in_db(db)
    assert report.stamp.serial == serial and report.product_id == traced.product_a.id and report.code == serial
    assert (report.reason, report.note, report.phone, report.province_code) == ("copied_stamp", NOTE, "0912345678", 38)
    # the photo: re-encoded, no EXIF, kept where /media never serves it
    folder = Path(app.config["UPLOAD_DIR"]) / "private"
    assert sorted(p.name for p in folder.iterdir()) == [f"{report.photo}-t.jpg", f"{report.photo}.jpg"]
    stored = (folder / f"{report.photo}.jpg").read_bytes()
    assert b"SecretPhoneMaker" not in stored and b"SecretModel" not in stored and b"Exif" not in stored
    image = Image.open(io.BytesIO(stored))
    assert image.format == "JPEG" and image.size == (900, 700) and not image.getexif()
    assert "exif" not in image.info and not image.getexif().get_ifd(0x8825)
    assert client.get(f"/media/{report.photo}.jpg").status_code == 404
    thanks = client.get("/report/thanks")
    assert thanks.status_code == 200 and "Cảm ơn bạn đã báo cáo" in thanks.get_data(as_text=True)
    private_headers(thanks)
    assert NOTE not in thanks.get_data(as_text=True) and serial not in thanks.get_data(as_text=True)


def test_province_only_from_a_configured_header(traced, client, db):
    response = client.post("/report", data=form(), headers={"X-Province": "38"}, content_type="multipart/form-data")
    assert response.status_code == 303
    report, = reports_in_db(db)
    assert report.province_code is None and report.stamp_id is None and report.product_id is None


def test_unknown_codes_are_kept_never_refused(traced, client, db):
    assert post_report(client, f"?s={GHOST}", code=None).status_code == 303
    assert post_report(client, "", code="tem ghi 12-34 mờ").status_code == 303
    assert post_report(client, f"?p={traced.published_a.slug}&s=%20", code="").status_code == 303
    ghost, typed, from_page = reports_in_db(db)
    assert (ghost.code, ghost.stamp_id, ghost.product_id) == (GHOST, None, None)
    assert typed.code == "TEM GHI 12-34 MỜ" and typed.stamp_id is None
    assert (from_page.product_id, from_page.code) == (traced.published_a.id, "")


@pytest.mark.parametrize("fields,message", [
    ({"reason": "hacked"}, "Hãy chọn một lý do trong danh sách."),
    ({"reason": ""}, "Hãy chọn một lý do trong danh sách."),
    ({"note": "x" * 501}, "Mô tả dài tối đa 500 ký tự."),
    ({"reason": "other", "note": ""}, "Hãy mô tả ngắn điều bạn thấy đáng ngờ."),
    ({"phone": "0912-34"}, "Số điện thoại không hợp lệ"),
    ({"photo": (b"%PDF-1.4 not an image", "hoa-don.jpg")}, "Tệp không phải ảnh JPEG, PNG hoặc WebP."),
    ({"photo": (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg")}, "Tệp không phải ảnh JPEG, PNG hoặc WebP."),
    ({"photo": (b"\xff\xd8\xff\xe0" + b"\0" * (5 * 1024 * 1024), "big.jpg")}, "Ảnh quá lớn (tối đa 5 MB)."),
])
def test_bad_input_gives_form_errors(traced, app_factory, db, fields, message):
    app = web(app_factory, REPORT_RATE="1000 per hour")
    client = app.test_client()
    response = post_report(client, f"?s={traced.serials[0]}", **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[:300]
    assert message in page and "Báo cáo chưa được gửi" in page
    private_headers(response)
    assert reports_in_db(db) == [] and private_files(app) == []
    if "note" in fields:
        assert fields["note"] in page  # what the buyer wrote is given back


def test_a_request_far_over_the_limit_is_a_clear_page(traced, client, db):
    response = post_report(client, photo=(b"\xff\xd8" + b"\0" * (6 * 1024 * 1024), "huge.jpg"))
    assert response.status_code == 413 and "5 MB" in response.get_data(as_text=True)
    assert reports_in_db(db) == []


def test_csrf_is_required(traced, app_factory, db):
    app = web(app_factory, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    assert post_report(client).status_code == 400
    assert reports_in_db(db) == []
    page = client.get("/report").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/report", data={**form(), "csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 303 and len(reports_in_db(db)) == 1


def test_reports_are_rate_limited_per_client_on_post_only(traced, app_factory, db):
    app = web(app_factory, REPORT_RATE="2 per hour", REPORT_HOTLINE="0237 3852 491")
    client = app.test_client()
    for _ in range(5):
        assert client.get("/report").status_code == 200  # reading the form costs nothing
    assert post_report(client, reason="bad").status_code == 422  # every POST counts…
    assert post_report(client).status_code == 303
    limited = post_report(client)
    page = limited.get_data(as_text=True)
    assert limited.status_code == 429 and "Tạm thời chưa gửi được báo cáo" in page
    assert 'href="tel:02373852491"' in page and int(limited.headers["Retry-After"]) > 0
    private_headers(limited)
    assert len(reports_in_db(db)) == 1
    assert client.get("/report").status_code == 200
    other = app.test_client()  # another address is not limited by this one
    response = other.post("/report", data=form(), content_type="multipart/form-data",
                          environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 303


# ---- photos: officers and the product's producer only ------------------------------------

@pytest.fixture
def reported(traced, app, db):
    """A report with a photo (sent through the form) about producer A's stamp, and one about B."""
    client = app.test_client()
    assert post_report(client, f"?s={traced.serials[0]}", phone="0912345678",
                       photo=(png_bytes(), "p.png")).status_code == 303
    traced.report = reports_in_db(db)[0]
    traced.report_b = add_report(db, product=traced.product_b, note="Mật ong bị lên men", reason="spoiled",
                                 phone="0987654321")
    return traced


@pytest.mark.parametrize("email,status", [
    (None, 302), ("a@example.vn", 200), ("coop@example.vn", 200), ("b@example.vn", 404),
    ("officer@example.vn", 200), ("admin@example.vn", 200),
])
def test_photo_access(reported, app, email, status):
    client = signed_in(app, email) if email else app.test_client()
    for size in ("", "?size=t"):
        response = client.get(f"/report/{reported.report.id}/photo{size}")
        assert response.status_code == status
        if status == 302:
            assert response.headers["Location"].startswith("/account/login")
        if status == 200:
            assert response.mimetype == "image/jpeg" and response.headers["Cache-Control"] == "private, no-store"
            assert Image.open(io.BytesIO(response.data)).format == "JPEG"


def test_no_photo_no_page(reported, app):
    officer = signed_in(app, "officer@example.vn")
    assert officer.get(f"/report/{reported.report_b.id}/photo").status_code == 404
    assert officer.get("/report/999999/photo").status_code == 404


# ---- officers ---------------------------------------------------------------------------

def test_officers_see_reports_beside_clone_alerts(reported, app, db):
    officer = signed_in(app, "officer@example.vn")
    page = officer.get("/admin/alerts").get_data(as_text=True)
    report = reported.report
    stamp_id = report.stamp_id
    assert 'id="reports"' in page and "Báo cáo của người mua" in page and "Dò mã tem" in page
    assert "Tem bị sao chép, tem giả" in page and "Sản phẩm hỏng, kém chất lượng" in page
    assert NOTE in page and "0912345678" in page and "Mật ong bị lên men" in page
    assert f'href="/admin/alerts/{stamp_id}"' in page and group_serial(reported.serials[0], " ") in page
    assert f'/report/{report.id}/photo?size=t' in page
    assert page.index(f'data-report="{reported.report_b.id}"') < page.index(f'data-report="{report.id}"')
    detail = officer.get(f"/admin/reports/{report.id}").get_data(as_text=True)
    assert NOTE in detail and "Lịch sử quét (0)" in detail and "Đánh dấu đã xử lý" in detail
    assert f"/admin/alerts/{stamp_id}" in detail
    stamp_page = officer.get(f"/admin/alerts/{stamp_id}").get_data(as_text=True)
    assert "Báo cáo của người mua về tem này (1)" in stamp_page
    assert officer.get("/admin/reports/999999").status_code == 404
    for email in ("a@example.vn", "coop@example.vn"):
        producer = signed_in(app, email)
        assert producer.get(f"/admin/reports/{report.id}").status_code == 403
        assert producer.post(f"/admin/reports/{report.id}/handled").status_code == 403
    assert reports_in_db(db)[0].handled_at is None


def test_scan_history_marks_test_scans(reported, app, db):
    stamp = stamp_row(db, reported.serials[0])
    now = utcnow()
    db.session.add_all([Scan(stamp_id=stamp.id, scanned_at=now - dt.timedelta(minutes=5), province_code=38,
                             agent_family="zalo", scanner="a"),
                        Scan(stamp_id=stamp.id, scanned_at=now, province_code=38, agent_family="chrome",
                             scanner="b", test=True)])
    db.session.commit()
    officer = signed_in(app, "officer@example.vn")
    for url in (f"/admin/reports/{reported.report.id}", f"/admin/alerts/{stamp.id}"):
        page = officer.get(url).get_data(as_text=True)
        assert "Lịch sử quét (1)" in page and "quét thử" in page and 'data-test="yes"' in page
        assert "Thêm 1 lượt quét thử" in page


def test_an_officer_marks_a_report_handled(reported, app, db):
    officer = signed_in(app, "officer@example.vn")
    report_id = reported.report.id
    response = officer.post(f"/admin/reports/{report_id}/handled")
    assert response.status_code == 302 and response.headers["Location"].startswith("/admin/alerts")
    db.session.expire_all()
    report = db.session.get(BuyerReport, report_id)
    assert report.handled_at is not None and report.handled_by.email == "officer@example.vn"
    entry, = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "report.handled"))
    assert (entry.target_type, entry.target_id, entry.actor_email) == ("buyer_report", report_id, "officer@example.vn")
    assert f'data-report="{report_id}"' not in officer.get("/admin/alerts").get_data(as_text=True)
    handled_too = officer.get("/admin/alerts?handled=1").get_data(as_text=True)
    assert f'data-report="{report_id}" data-handled="yes"' in handled_too
    # a second click changes nothing and records nothing
    assert officer.post(f"/admin/reports/{report_id}/handled").status_code == 302
    assert db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "report.handled")) == 1
    assert "Đánh dấu đã xử lý" not in officer.get(f"/admin/reports/{report_id}").get_data(as_text=True)


def test_probes_section(traced, app, db):
    product = traced.published_a
    product.gtin = "08936045100912"
    db.session.add_all([SerialProbe(gtin="08936045100912", lot="LOT-9", product_id=product.id, province_code=38,
                                    probed_at=utcnow()),
                        SerialProbe(probed_at=utcnow())])
    db.session.commit()
    page = signed_in(app, "officer@example.vn").get("/admin/alerts").get_data(as_text=True)
    section = page[page.index('id="probes"'):]
    assert "08936045100912" in section and product.name in section and "LOT-9" in section
    assert "Thanh Hóa" in section and "(không kèm GTIN): 1 lượt" in section


# ---- producers ----------------------------------------------------------------------------

def test_producers_see_reports_about_their_own_products_only(reported, app, db):
    report, report_b = reported.report, reported.report_b
    a = signed_in(app, "a@example.vn")
    page = a.get("/dashboard/reports").get_data(as_text=True)
    assert f'data-report="{report.id}"' in page and f'data-report="{report_b.id}"' not in page
    assert NOTE in page and "Mật ong bị lên men" not in page
    assert "0912345678" not in page  # the buyer's phone is for officers
    assert f"/report/{report.id}/photo" in page
    detail = a.get(f"/dashboard/reports/{report.id}")
    assert detail.status_code == 200 and "0912345678" not in detail.get_data(as_text=True)
    assert "Báo cáo của người mua (1)" in a.get("/dashboard/").get_data(as_text=True)
    assert a.get(f"/dashboard/reports/{report_b.id}").status_code == 404
    assert a.get("/dashboard/reports/999999").status_code == 404
    b = signed_in(app, "b@example.vn")
    page = b.get("/dashboard/reports").get_data(as_text=True)
    assert f'data-report="{report_b.id}"' in page and f'data-report="{report.id}"' not in page
    missing = b.get(f"/dashboard/reports/{report.id}")
    assert missing.status_code == 404 and NOTE.encode() not in missing.data
    coop = signed_in(app, "coop@example.vn")
    assert f'data-report="{report.id}"' in coop.get("/dashboard/reports").get_data(as_text=True)
    assert coop.get(f"/dashboard/reports/{report.id}").status_code == 200
    officer = signed_in(app, "officer@example.vn")
    assert officer.get("/dashboard/reports").status_code == 403
    assert app.test_client().get("/dashboard/reports").status_code == 302
    # handled ones leave the default list
    assert signed_in(app, "officer@example.vn").post(f"/admin/reports/{report.id}/handled").status_code == 302
    assert f'data-report="{report.id}"' not in a.get("/dashboard/reports").get_data(as_text=True)
    assert f'data-report="{report.id}"' in a.get("/dashboard/reports?handled=1").get_data(as_text=True)


def test_a_report_about_a_product_without_a_stamp_reaches_its_producer(traced, client, app, db):
    other = make_product(db.session, traced.b, "Chè lam Phủ Quảng", status="published")
    db.session.commit()
    assert post_report(client, f"?p={other.slug}", reason="wrong_product").status_code == 303
    page = signed_in(app, "b@example.vn").get("/dashboard/reports").get_data(as_text=True)
    assert "Chè lam Phủ Quảng" in page and "Sản phẩm không đúng với tem" in page
