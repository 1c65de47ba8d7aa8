"""An officer runs the district from a phone (issue 6): real Chromium, 390 px wide, logs in,
reads the dashboard's figures, recalls a batch from the product page and sees the recall on
the stamp page.  Screenshots are kept in ``tests/artifacts/`` (git-ignored).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import TEST_PASSWORD, make_producer, make_product, make_user
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, _no_horizontal_overflow, _playwright, give_second_factor
from tests.test_browser_trace import _served

ARTIFACTS = Path(__file__).parent / "artifacts"


def sign_in_officer(page, expect, base: str, email: str = "canbo@huyen.gov.vn") -> None:
    """Log in through the form, as an officer would; the dashboard's figures then show."""
    page.goto(base + "/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Mật khẩu").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    give_second_factor(page)
    expect(page.get_by_role("heading", name="Số liệu của huyện")).to_be_visible()


@pytest.mark.browser
def test_officer_reads_figures_and_recalls_a_batch_on_a_phone(app_factory):
    sync_playwright, expect = _playwright()
    from marketplace.extensions import db
    from marketplace.models import Stamp
    from marketplace.stamps.service import activate_run, issue_run, stamp_url
    from marketplace.trace.service import create_batch

    holder = {}
    with _served(holder) as base:
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base, WTF_CSRF_ENABLED=True)
        with app.app_context():
            producer = make_producer(db.session, "HTX Nông nghiệp Đồng Tiến", kind="cooperative")
            product = make_product(db.session, producer, "Gạo nếp cái hoa vàng Đồng Tiến", status="published")
            make_user(db.session, "canbo@huyen.gov.vn", role="officer")
            db.session.flush()
            batch = create_batch(db.session, product, lot_code="DT-2025-12", quantity=Decimal("100"), unit="kg",
                                 production_date=dt.date(2025, 11, 1))
            db.session.flush()
            run = issue_run(db.session, batch, 2)
            activate_run(db.session, run)
            db.session.commit()
            product_id = product.id
            serial = db.session.scalar(db.select(Stamp.serial).where(Stamp.run_id == run.id, Stamp.position == 1))
            db.session.remove()

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            try:
                context = browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN",
                                              extra_http_headers={"Accept-Language": "vi"})
                page = context.new_page()
                sign_in_officer(page, expect, base)
                expect(page.get_by_role("heading", name="Sản phẩm đăng trên từng sàn")).to_be_visible()
                assert page.locator("section.figures svg").count() >= 5
                bar = page.locator(".chartbar rect").first.bounding_box()  # drawn, not collapsed by CSS
                assert bar and bar["width"] > 100 and bar["height"] >= 10
                assert _no_horizontal_overflow(page)  # wide tables scroll inside themselves
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "officer-dashboard-390px.png"), full_page=True)

                page.goto(f"{base}/admin/products/{product_id}")
                page.get_by_role("link", name="Thu hồi lô hàng…").click()  # to the confirmation page
                expect(page.get_by_role("heading", name="Thu hồi lô hàng DT-2025-12")).to_be_visible()
                assert _no_horizontal_overflow(page)
                page.get_by_label("Lý do thu hồi").fill("Dư lượng thuốc bảo vệ thực vật vượt ngưỡng")
                page.get_by_role("button", name="Xác nhận thu hồi lô hàng").click()
                expect(page.get_by_text("Đã thu hồi lô hàng DT-2025-12.")).to_be_visible()
                assert _no_horizontal_overflow(page)

                stamp = context.new_page()
                stamp.goto(stamp_url(base, serial))
                expect(stamp.get_by_text("SẢN PHẨM BỊ THU HỒI")).to_be_visible()
                expect(stamp.get_by_text("Dư lượng thuốc bảo vệ thực vật vượt ngưỡng")).to_be_visible()
            finally:
                browser.close()
