"""A buyer reports a suspicious product from a stamp, an officer handles it (issue 14).

Real Chromium (Debian's) on a 360 × 740 phone, Vietnamese, CSRF on as in production: the
buyer opens a stamp page, goes to the report form, sends a reason, a note, a phone number
and a photo; an officer signs in, finds the report on ``/admin/alerts`` beside the clone
alerts, opens it (the stamp's scan history shows the buyer's scan) and marks it handled.
Screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import make_producer, make_product, make_user
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, _form_problems, _jpeg, _no_horizontal_overflow, _playwright
from tests.test_browser_admin import sign_in_officer
from tests.test_browser_trace import _served

ARTIFACTS = Path(__file__).parent / "artifacts"
PRODUCT = "Gạo nếp cái hoa vàng Đồng Tiến"
NOTE = "Mua ở chợ Nưa ngày 01/12. Tem in mờ, mã QR dán đè lên tem cũ."


@pytest.mark.browser
def test_a_buyer_reports_a_stamp_and_an_officer_handles_it(app_factory, tmp_path):
    sync_playwright, expect = _playwright()
    from marketplace.extensions import db
    from marketplace.models import BuyerReport, Stamp
    from marketplace.stamps.serials import group_serial
    from marketplace.stamps.service import activate_run, issue_run, stamp_url
    from marketplace.trace.service import create_batch

    holder = {}
    with _served(holder) as base:
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base, WTF_CSRF_ENABLED=True)
        with app.app_context():
            producer = make_producer(db.session, "HTX Nông nghiệp Đồng Tiến", kind="cooperative")
            product = make_product(db.session, producer, PRODUCT, status="published")
            make_user(db.session, "canbo@huyen.gov.vn", role="officer")
            db.session.flush()
            batch = create_batch(db.session, product, lot_code="DT-2025-12", quantity=Decimal("100"), unit="kg",
                                 production_date=dt.date(2025, 11, 1))
            db.session.flush()
            run = issue_run(db.session, batch, 2)
            activate_run(db.session, run)
            db.session.commit()
            serial = db.session.scalar(db.select(Stamp.serial).where(Stamp.run_id == run.id, Stamp.position == 1))
            db.session.remove()
        photo = _jpeg(tmp_path / "tem-nghi-gia.jpg")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            try:
                phone = browser.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN",
                                            extra_http_headers={"Accept-Language": "vi"})
                buyer = phone.new_page()
                assert buyer.goto(stamp_url(base, serial)).status == 200
                expect(buyer.get_by_role("heading", name=PRODUCT)).to_be_visible()

                # the stamp page's own link (quiet under a genuine verdict) leads to the form
                with buyer.expect_navigation() as navigation:
                    buyer.get_by_role("link", name="Báo cáo sản phẩm đáng ngờ").click()
                response = navigation.value
                assert response.status == 200 and response.url == f"{base}/report?s={serial}"
                assert response.headers["cache-control"] == "no-store"
                assert response.headers["referrer-policy"] == "no-referrer"
                expect(buyer.get_by_role("heading", name="Báo cáo sản phẩm đáng ngờ")).to_be_visible()
                expect(buyer.get_by_label("Mã trên tem (in dưới mã QR)")).to_have_value(group_serial(serial, " "))
                buyer.get_by_label("Lý do").select_option(label="Tem bị sao chép, tem giả")
                buyer.get_by_label("Mô tả").fill(NOTE)
                buyer.get_by_label("Số điện thoại của bạn").fill("0912 345 678")
                buyer.get_by_label("Ảnh sản phẩm hoặc tem").set_input_files(str(photo))
                assert _no_horizontal_overflow(buyer)
                ARTIFACTS.mkdir(exist_ok=True)
                buyer.screenshot(path=str(ARTIFACTS / "report-form-360px.png"), full_page=True)
                buyer.get_by_role("button", name="Gửi báo cáo").click()
                try:
                    buyer.wait_for_url(f"{base}/report/thanks")
                except Exception:  # noqa: BLE001 - say what the page said instead
                    pytest.fail(f"the report was not sent: {_form_problems(buyer)}")
                expect(buyer.get_by_role("heading", name="Cảm ơn bạn đã báo cáo")).to_be_visible()
                assert _no_horizontal_overflow(buyer)
                buyer.screenshot(path=str(ARTIFACTS / "report-thanks-360px.png"), full_page=True)

                with app.app_context():
                    report = db.session.scalars(db.select(BuyerReport)).one()
                    assert report.stamp.serial == serial and report.phone == "0912345678" and report.photo
                    report_id = report.id
                    db.session.remove()

                desk = browser.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN",
                                           extra_http_headers={"Accept-Language": "vi"})
                officer = desk.new_page()
                sign_in_officer(officer, expect, base)
                officer.goto(f"{base}/admin/alerts")
                row = officer.locator(f'#reports li[data-report="{report_id}"]')
                expect(row).to_contain_text("Tem bị sao chép, tem giả")
                expect(row).to_contain_text(NOTE)
                expect(row).to_contain_text(group_serial(serial, " "))
                expect(row).to_contain_text("0912345678")
                expect(row.get_by_role("img", name="Ảnh người mua gửi")).to_be_visible()
                assert row.get_by_role("img").evaluate("i => i.complete && i.naturalWidth") > 0
                assert _no_horizontal_overflow(officer)
                officer.screenshot(path=str(ARTIFACTS / "report-officer-list-360px.png"), full_page=True)

                row.get_by_role("link", name="Chi tiết").click()
                expect(officer.get_by_role("heading", name="Lịch sử quét (1)")).to_be_visible()
                assert _no_horizontal_overflow(officer)
                officer.get_by_role("button", name="Đánh dấu đã xử lý").click()
                expect(officer.get_by_text("Đã đánh dấu báo cáo là đã xử lý.")).to_be_visible()
                expect(officer.locator(f'#reports li[data-report="{report_id}"]')).to_have_count(0)
                officer.goto(f"{base}/admin/alerts?handled=1")
                expect(officer.locator(f'#reports li[data-report="{report_id}"]')).to_contain_text("Đã xử lý")
                officer.screenshot(path=str(ARTIFACTS / "report-officer-handled-360px.png"), full_page=True)
            finally:
                browser.close()
