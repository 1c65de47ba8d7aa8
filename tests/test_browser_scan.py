"""A buyer scans a stamp with a phone that has JavaScript off: origin and authenticity show.

Real Chromium (Debian's), 360 and 390 px wide, JavaScript disabled, Vietnamese.  The screenshot
is kept as a test artifact in ``tests/artifacts/`` (git-ignored).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import make_producer, make_product
from tests.test_browser import LAUNCH_ARGS, CHROMIUM, _no_horizontal_overflow, _playwright
from tests.test_browser_trace import _served

ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.mark.browser
@pytest.mark.parametrize("width", [360, 390])
def test_buyer_scans_a_stamp_without_javascript(app_factory, width):
    sync_playwright, expect = _playwright()
    from marketplace.extensions import db
    from marketplace.stamps.service import activate_run, issue_run, stamp_url
    from marketplace.models import Stamp
    from marketplace.trace.service import LOCAL_TZ, append_event, create_batch

    holder = {}
    with _served(holder) as base:
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base)
        with app.app_context():
            producer = make_producer(db.session, "HTX Nông nghiệp Đồng Tiến", kind="cooperative")
            product = make_product(db.session, producer, "Gạo nếp cái hoa vàng Đồng Tiến", status="published")
            db.session.flush()
            batch = create_batch(db.session, product, lot_code="DT-2025-12", quantity=Decimal("100"), unit="kg",
                                 production_date=dt.date(2025, 11, 1))
            db.session.flush()
            append_event(db.session, batch, kind="harvest", occurred_at=dt.datetime(2025, 10, 28, 7, tzinfo=LOCAL_TZ),
                         place="Cánh đồng thôn 3")
            run = issue_run(db.session, batch, 2)
            activate_run(db.session, run)
            db.session.commit()
            serial = db.session.scalar(db.select(Stamp.serial).where(Stamp.run_id == run.id, Stamp.position == 1))
            url = stamp_url(base, serial)
            db.session.remove()

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            try:
                context = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=False,
                                              locale="vi-VN", extra_http_headers={"Accept-Language": "vi"})
                page = context.new_page()
                response = page.goto(url)
                assert response.status == 200
                assert response.headers.get("set-cookie") is None
                expect(page.get_by_role("heading", name="Gạo nếp cái hoa vàng Đồng Tiến")).to_be_visible()
                expect(page.get_by_text("Tem chính hãng")).to_be_visible()
                expect(page.get_by_text("DT-2025-12")).to_be_visible()
                expect(page.get_by_text("HTX Nông nghiệp Đồng Tiến")).to_be_visible()
                expect(page.get_by_text("Thu hoạch")).to_be_visible()
                assert _no_horizontal_overflow(page)
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / f"stamp-page-{width}px.png"), full_page=True)

                missing = page.goto(base + "/S/0000000000000000")
                assert missing.status == 404
                expect(page.get_by_text("Không tìm thấy tem này")).to_be_visible()
            finally:
                browser.close()
