"""A recall, seen everywhere within a minute (issue 13): in real Chromium on a 360 px phone an
officer recalls a batch; with ``flask worker`` running in its own process, the product page,
a stamp of that lot, a stamp of another lot of the same product and the exchanges' receivers
(real HTTP servers on 127.0.0.1) all show it; the officer lifts it and they all return.
Screenshots go to ``tests/artifacts/``.
"""
from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tests.conftest import make_producer, make_product, make_user
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, _no_horizontal_overflow, _playwright
from tests.test_browser_admin import sign_in_officer
from tests.test_browser_trace import _served
from tests.test_push import Receiver, start_worker, stop_workers

ARTIFACTS = Path(__file__).parent / "artifacts"
REASON = "Dư lượng thuốc bảo vệ thực vật vượt ngưỡng"
WITHIN = 60  # seconds


def _until(check, what: str, timeout: float = WITHIN):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.2)


@pytest.mark.browser
def test_a_recall_reaches_every_channel_and_its_lifting_too(app_factory, database_url, tmp_path):
    sync_playwright, expect = _playwright()
    from marketplace.extensions import db
    from marketplace.feeds import push
    from marketplace.feeds.profiles import id_field, profile_of
    from marketplace.feeds.service import configure_push, find_exchange
    from marketplace.models import ProductPhoto, Stamp
    from marketplace.stamps.service import activate_run, issue_run, stamp_url
    from marketplace.trace.service import create_batch

    holder, receivers, workers = {}, {}, []
    with _served(holder) as base:
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base, WTF_CSRF_ENABLED=True, PUSH_ALLOW_PRIVATE=True)
        with app.app_context():
            s = db.session
            producer = make_producer(s, "HTX Nông nghiệp Đồng Tiến", kind="cooperative")
            product = make_product(s, producer, "Gạo nếp cái hoa vàng Đồng Tiến", status="published")
            product.stock, product.description = 300, "Gạo nếp cái hoa vàng, vụ mùa 2025."
            s.add(ProductPhoto(product=product, stem="anh-gao-nep", width=800, height=600, position=1))
            make_user(s, "canbo@huyen.gov.vn", role="officer")
            s.flush()
            serials = {}
            for lot in ("DT-NEP-2025-10", "DT-NEP-2025-11"):
                batch = create_batch(s, product, lot_code=lot, quantity=Decimal("1200"), unit="kg",
                                     production_date=dt.date(2025, 10, 20))
                s.flush()
                run = issue_run(s, batch, 2)
                activate_run(s, run)
                serials[lot] = s.scalar(db.select(Stamp.serial).where(Stamp.run_id == run.id, Stamp.position == 1))
            for code in ("postmart", "thanhhoa", "google"):
                exchange = find_exchange(s, code)
                secret = push.new_secret()
                receivers[code] = Receiver(secret, id_field(profile_of(exchange)))
                configure_push(exchange, secret=secret, endpoint=receivers[code].url, enabled=True, allow_private=True)
            s.commit()
            product_id, slug = product.id, product.slug
            key = f"ocop-{product_id}"
            db.session.remove()
        workers.append(start_worker(database_url, tmp_path, PUBLIC_BASE_URL=base))
        try:
            _until(lambda: all(key in r.state for r in receivers.values()), "the exchanges receive the product")
            assert receivers["postmart"].state[key]["quantity"] == 300
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
                try:
                    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="vi-VN",
                                                  extra_http_headers={"Accept-Language": "vi"})
                    officer = context.new_page()
                    sign_in_officer(officer, expect, base)

                    officer.goto(f"{base}/admin/products/{product_id}")
                    lot = officer.locator("#batches + ul > li", has_text="DT-NEP-2025-10")
                    lot.get_by_role("link", name="Thu hồi lô hàng…").click()  # to the confirmation page
                    expect(officer.get_by_role("heading", name="Thu hồi lô hàng DT-NEP-2025-10")).to_be_visible()
                    officer.get_by_label("Lý do thu hồi").fill(REASON)
                    officer.get_by_role("button", name="Xác nhận thu hồi lô hàng").click()
                    expect(officer.get_by_text("Đã thu hồi lô hàng DT-NEP-2025-10.")).to_be_visible()
                    expect(officer.locator("h1 [data-state]")).to_have_attribute("data-state", "recalled")
                    assert _no_horizontal_overflow(officer)
                    ARTIFACTS.mkdir(exist_ok=True)
                    officer.screenshot(path=str(ARTIFACTS / "recall-officer-360px.png"), full_page=True)

                    buyer = context.new_page()
                    started = time.monotonic()
                    buyer.goto(f"{base}/p/{slug}")
                    expect(buyer.locator("#recall")).to_contain_text("DT-NEP-2025-10")
                    expect(buyer.locator("#recall")).to_contain_text(REASON)
                    expect(buyer.locator(".availability")).to_contain_text("Ngừng bán")
                    assert "Còn hàng" not in buyer.content()
                    buyer.screenshot(path=str(ARTIFACTS / "recall-product-360px.png"), full_page=True)

                    buyer.goto(stamp_url(base, serials["DT-NEP-2025-10"]))
                    expect(buyer.locator("#verdict")).to_have_attribute("data-verdict", "recalled")
                    expect(buyer.get_by_text("SẢN PHẨM BỊ THU HỒI")).to_be_visible()
                    assert buyer.locator(".genuine").count() == 0  # never a green tick under a recall
                    buyer.screenshot(path=str(ARTIFACTS / "recall-stamp-360px.png"), full_page=True)

                    buyer.goto(stamp_url(base, serials["DT-NEP-2025-11"]))
                    expect(buyer.locator("#verdict")).to_have_attribute("data-verdict", "genuine")
                    expect(buyer.locator("#other-recalls")).to_contain_text("DT-NEP-2025-10")
                    expect(buyer.locator("#other-recalls")).to_contain_text("DT-NEP-2025-11")

                    _until(lambda: receivers["postmart"].state.get(key, {}).get("quantity") == 0
                           and "DT-NEP-2025-10" in receivers["postmart"].state[key]["recall"], "Postmart: quantity 0, recall")
                    _until(lambda: receivers["thanhhoa"].state[key]["tinh_trang"] == "out_of_stock"
                           and REASON in receivers["thanhhoa"].state[key]["thu_hoi"], "Thanh Hóa: out of stock, reason")
                    _until(lambda: receivers["google"].state[key]["g:availability"] == "out_of_stock", "Google")
                    assert time.monotonic() - started < WITHIN

                    officer.goto(f"{base}/admin/products/{product_id}")
                    officer.get_by_label("Vì sao dỡ bỏ thu hồi (kết quả kiểm tra…)").fill("Kiểm nghiệm lại: đạt")
                    officer.get_by_role("button", name="Dỡ bỏ thu hồi").click()
                    expect(officer.locator("h1 [data-state]")).to_have_attribute("data-state", "in_stock")

                    buyer.goto(f"{base}/p/{slug}")
                    assert buyer.locator("#recall").count() == 0
                    expect(buyer.locator(".availability")).to_contain_text("Còn hàng")
                    buyer.goto(stamp_url(base, serials["DT-NEP-2025-10"]))
                    expect(buyer.locator("#verdict")).to_have_attribute("data-verdict", "genuine")
                    buyer.goto(stamp_url(base, serials["DT-NEP-2025-11"]))
                    assert buyer.locator("#other-recalls").count() == 0
                    _until(lambda: receivers["postmart"].state[key]["quantity"] == 300
                           and not receivers["postmart"].state[key]["recall"], "Postmart back to 300")
                    _until(lambda: receivers["thanhhoa"].state[key]["tinh_trang"] == "in_stock", "Thanh Hóa back")
                    _until(lambda: receivers["google"].state[key]["g:availability"] == "in_stock", "Google back")
                finally:
                    browser.close()
        finally:
            stop_workers(workers)
            for receiver in receivers.values():
                receiver.close()
