"""End-to-end journey in a real browser (Debian's Chromium driven by Playwright).

A farmer registers and lists a product with a photo, a district officer approves both,
and an anonymous visitor on a 390 px phone finds it by typing without diacritics.  The app
runs in a real threaded HTTP server with CSRF protection ON, as in production, on the
per-test migrated database (SQLite, or PostgreSQL when ``TEST_DATABASE_URL`` is set).

Skipped with a visible reason when ``/usr/bin/chromium`` or the ``playwright`` package is
missing (``apt-get install chromium``; Playwright's own browser downloads are not used).
"""
from __future__ import annotations

import os
import re
import threading
import time

import pytest

from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, make_user

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 390, "height": 844}
TIMEOUT_MS = 10_000

FARMER_EMAIL = "nong.dan@example.vn"
OFFICER_EMAIL = "officer@example.vn"
PRODUCER_NAME = "Hộ Trịnh Văn Lúa"
PRODUCT_NAME = "Gạo nếp cái hoa vàng Đồng Tiến"

# Runs in every page before its own scripts: report CSP violations to the test.
CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', function (e) {
  if (window.__reportCsp) {
    window.__reportCsp([document.URL, e.violatedDirective, e.blockedURI, e.sourceFile || '',
                        e.lineNumber || 0, e.sample || ''].join(' | '));
  }
});
"""


def _playwright():
    if os.environ.get("TEST_DATABASE_URL", "").strip():
        # .ci/run runs the suite on SQLite and on PostgreSQL side by side on two cores; the
        # browser journeys (a minute of Chromium) run once, in the SQLite run.
        pytest.skip("browser journeys run in the SQLite suite; this PostgreSQL run covers their pages "
                    "through the test client")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian chromium not installed ({CHROMIUM}): apt-get install chromium")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the environment
        pytest.skip(f"playwright (Python) cannot be imported: {exc}")
    return sync_playwright, expect


def give_second_factor(page) -> None:
    """After the password, as an officer would: the code from the authenticator app (an
    account make_user enrolled, with the tests' secret), or, for an account without one yet
    (the demo's), enrolment: the secret read off the page, the first code, the recovery codes
    acknowledged.  Codes are computed with pyotp, an independent TOTP implementation."""
    import pyotp

    page.wait_for_load_state()
    if page.url.endswith("/account/two-factor"):
        page.get_by_label("Mã xác thực").fill(pyotp.TOTP(TEST_TOTP_SECRET).now())  # once per test and account
        page.get_by_role("button", name="Xác nhận").click()
    elif page.url.endswith("/account/two-factor/setup"):
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        page.get_by_label("Mã xác thực").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Bật xác thực hai bước").click()
        page.get_by_role("link", name="Đã chép xong, tiếp tục").click()
    page.wait_for_load_state()


def _jpeg(path):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (800, 600), (214, 180, 60))
    draw = ImageDraw.Draw(img)
    for i in range(0, 800, 40):
        draw.rectangle([i, 0, i + 19, 600], fill=(240, 214, 110))
    img.save(path, "JPEG", quality=85)
    return path


def _is_favicon(url: str) -> bool:
    return url.split("?")[0].endswith("/favicon.ico")


def _form_problems(page) -> str:
    """Visible field errors and flash messages, to explain an unexpected page."""
    texts = page.locator("p.error, p.flash").all_inner_texts()
    return f"url={page.url} messages={texts!r}"


def _no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _image_loaded(img) -> bool:
    img.scroll_into_view_if_needed()
    width = img.evaluate(
        "async (i) => { try { await i.decode(); } catch (e) { } return i.complete ? i.naturalWidth : 0; }"
    )
    return width > 0


@pytest.mark.browser
def test_farmer_to_visitor_journey_on_a_phone(app_factory, tmp_path):
    sync_playwright, expect = _playwright()
    from werkzeug.serving import make_server

    from marketplace.extensions import db

    # The server binds a free port first; the app is built with that port in PUBLIC_BASE_URL.
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start),
                         threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    console_errors: list[str] = []
    page_errors: list[str] = []
    csp_violations: list[str] = []
    bad_responses: list[str] = []
    started = time.monotonic()
    try:
        app = app_factory(WTF_CSRF_ENABLED=True, PUBLIC_BASE_URL=base)
        with app.app_context():
            make_user(db.session, OFFICER_EMAIL, role="officer")
            db.session.commit()
            db.session.remove()
        holder["app"] = app
        photo = _jpeg(tmp_path / "gao-nep.jpg")

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            try:
                # Vietnamese phone: Accept-Language vi-VN (Chromium's default en-US would
                # make the app pick English).
                context = browser.new_context(viewport=VIEWPORT, locale="vi-VN", base_url=base)
                context.set_default_timeout(TIMEOUT_MS)
                context.expose_function("__reportCsp", lambda text: csp_violations.append(text))
                context.add_init_script(CSP_LISTENER)
                page = context.new_page()

                def on_console(msg):
                    if msg.type != "error":
                        return
                    url = (msg.location or {}).get("url", "")
                    if _is_favicon(url) or ("favicon" in msg.text and "404" in msg.text):
                        return
                    console_errors.append(f"{msg.text} @ {url or page.url}")

                def on_response(response):
                    if response.status >= 400 and not _is_favicon(response.url):
                        bad_responses.append(f"{response.status} {response.request.method} {response.url}")

                page.on("console", on_console)
                page.on("pageerror", lambda exc: page_errors.append(str(exc)))
                page.on("response", on_response)

                # 1. A farmer registers.
                page.goto("/account/register")
                expect(page.locator("html")).to_have_attribute("lang", "vi")
                page.get_by_label("Họ và tên").fill("Trịnh Văn Lúa")
                page.get_by_label("Email", exact=True).fill(FARMER_EMAIL)
                page.get_by_label("Mật khẩu", exact=True).fill(TEST_PASSWORD)
                page.get_by_label("Nhập lại mật khẩu").fill(TEST_PASSWORD)
                page.get_by_label("Loại chủ thể").select_option("household")
                page.get_by_label("Tên cơ sở / HTX / doanh nghiệp").fill(PRODUCER_NAME)
                page.get_by_label("Số điện thoại").fill("0912 345 678")
                # Choosing the province reloads the commune list (address.js); mark the old
                # options and wait until they are replaced before choosing the commune.
                ward = page.get_by_label("Xã/phường")
                ward.evaluate("s => { for (const o of s.options) o.dataset.stale = '1'; }")
                with page.expect_response(lambda r: "/geo/wards" in r.url and "province=38" in r.url):
                    page.get_by_label("Tỉnh/thành phố").select_option("38")
                page.wait_for_function(
                    "() => { const s = document.querySelector(\"select[name='ward_code']\");"
                    " return s.options.length > 0 && !s.options[0].dataset.stale; }")
                ward.select_option("15724")
                expect(ward).to_have_value("15724")
                expect(ward.locator("option:checked")).to_have_text(re.compile("Đồng Tiến"))
                page.get_by_role("button", name="Tạo tài khoản").click()
                page.wait_for_load_state()
                assert page.url == f"{base}/dashboard/", _form_problems(page)
                expect(page.get_by_role("heading", level=1)).to_have_text(PRODUCER_NAME)

                # 2. Creates a product, adds a photo and submits it for review.
                page.get_by_role("link", name="Thêm sản phẩm").click()
                page.get_by_label("Tên sản phẩm").fill(PRODUCT_NAME)
                group = page.get_by_label("Nhóm sản phẩm OCOP")
                labels = group.locator("option").all_inner_texts()
                wanted = [t for t in labels if "Nông sản sơ chế" in t]
                assert wanted, labels
                group.select_option(label=wanted[0])
                page.get_by_label("Khối lượng/thể tích tịnh").fill("2")
                page.get_by_label("Đơn vị").select_option("kg")
                page.get_by_label("Giá bán (đồng)").fill("120.000")
                page.get_by_label("Số lượng tồn kho").fill("50")
                page.get_by_role("button", name="Lưu", exact=True).click()
                page.wait_for_load_state()
                assert re.fullmatch(rf"{re.escape(base)}/dashboard/products/\d+", page.url), \
                    f"creating the product did not reach its page: {_form_problems(page)}"
                expect(page.get_by_role("heading", level=1)).to_contain_text(PRODUCT_NAME)
                expect(page.get_by_role("main")).to_contain_text("120.000 ₫")

                page.get_by_label(re.compile("^Ảnh sản phẩm")).set_input_files(str(photo))
                page.get_by_role("button", name="Tải ảnh lên").click()
                page.wait_for_load_state()
                thumb = page.get_by_role("img", name="Ảnh 1")
                expect(thumb).to_be_visible()
                assert _image_loaded(thumb), "the uploaded photo's thumbnail did not load"

                page.get_by_role("button", name="Gửi duyệt").click()
                page.wait_for_load_state()
                expect(page.get_by_role("heading", level=1)).to_contain_text("Chờ duyệt")
                expect(page.get_by_role("button", name="Gửi duyệt")).to_have_count(0)

                # 3. The officer approves the producer and the product.
                page.get_by_role("button", name="Đăng xuất").click()
                page.wait_for_load_state()
                expect(page.get_by_role("link", name="Đăng nhập", exact=True)).to_be_visible()
                page.get_by_role("link", name="Đăng nhập", exact=True).click()
                page.get_by_label("Email", exact=True).fill(OFFICER_EMAIL)
                page.get_by_label("Mật khẩu", exact=True).fill(TEST_PASSWORD)
                page.get_by_role("main").get_by_role("button", name="Đăng nhập").click()
                give_second_factor(page)
                assert page.url == f"{base}/admin/", _form_problems(page)

                page.get_by_role("link", name=PRODUCER_NAME, exact=True).click()
                page.get_by_role("group", name="Quyết định").get_by_label("Duyệt", exact=True).check()  # no default
                page.get_by_role("button", name="Lưu quyết định").click()
                page.wait_for_load_state()
                assert page.url == f"{base}/admin/", _form_problems(page)
                expect(page.get_by_role("link", name=PRODUCER_NAME, exact=True)).to_have_count(0)

                page.get_by_role("link", name=PRODUCT_NAME, exact=True).click()
                expect(page.get_by_role("img", name="Ảnh 1")).to_be_visible()
                page.get_by_role("group", name="Quyết định").get_by_label("Duyệt", exact=True).check()  # no default
                page.get_by_role("button", name="Lưu quyết định").click()
                page.wait_for_load_state()
                assert page.url == f"{base}/admin/", _form_problems(page)
                expect(page.get_by_role("link", name=PRODUCT_NAME, exact=True)).to_have_count(0)

                # 4. An anonymous visitor finds it without typing diacritics.
                page.get_by_role("button", name="Đăng xuất").click()
                page.wait_for_load_state()
                page.goto("/")
                expect(page.get_by_role("link", name="Đăng nhập", exact=True)).to_be_visible()
                page.get_by_role("searchbox", name="Tìm sản phẩm").fill("gao nep dong tien")
                page.get_by_role("search").get_by_role("button", name="Tìm", exact=True).click()
                page.wait_for_load_state()
                assert "q=gao+nep+dong+tien" in page.url, page.url
                card = page.get_by_role("link", name=PRODUCT_NAME, exact=True)
                expect(card).to_be_visible()
                # 5. No sideways scrolling on a 390 px phone.
                assert _no_horizontal_overflow(page), "catalogue overflows horizontally at 390 px"

                card.click()
                page.wait_for_load_state()
                assert re.fullmatch(rf"{re.escape(base)}/p/[\w-]+", page.url), page.url
                article = page.get_by_role("article")
                expect(article.get_by_role("heading", level=1)).to_have_text(PRODUCT_NAME)
                expect(article).to_contain_text("120.000 ₫")
                main_photo = article.get_by_role("img", name=PRODUCT_NAME, exact=True)
                expect(main_photo).to_be_visible()
                assert _image_loaded(main_photo), "the product photo did not load"
                assert _no_horizontal_overflow(page), "product page overflows horizontally at 390 px"

                # 6. Switch to English (strings are being translated elsewhere: only the language).
                page.goto("/")
                page.get_by_role("link", name="English").click()
                page.wait_for_load_state()
                expect(page.locator("html")).to_have_attribute("lang", "en")
                assert page.url == f"{base}/", page.url

                context.close()
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        # Shown by pytest when a step above fails, to help explain it.
        for label, items in (("page errors", page_errors), ("CSP violations", csp_violations),
                             ("console errors", console_errors), ("HTTP errors", bad_responses)):
            if items:
                print(f"{label}: {items}")

    assert not page_errors, f"uncaught JavaScript errors: {page_errors}"
    assert not csp_violations, f"Content-Security-Policy violations: {csp_violations}"
    assert not console_errors, f"console errors: {console_errors}"
    assert not bad_responses, f"HTTP errors while browsing: {bad_responses}"
    assert time.monotonic() - started < 60, "the browser journey took longer than a minute"
