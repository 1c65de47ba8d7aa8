"""Issue 17, point 6: each journey walked in Chromium on a 360×740 phone, in Vietnamese, on
the demo data a new user of `make run` meets.

On every page visited: no horizontal overflow (``scrollWidth ≤ innerWidth``), no serious or
critical violation found by Deque's axe-core (vendored in ``tests/vendor/axe-core``, served
to the page from its own origin so that the page's CSP stays on), and a full-page screenshot under ``tests/artifacts/journey-*.png`` for
a reviewer to look at.  The journeys: a buyer searches and reads a product (and its English
page and a stamp), a producer lists a product with photos, a cooperative makes a batch and
prints its stamps, an officer decides a product, an officer recalls a lot through its
confirmation page, an officer edits an exchange's profile; then every form on a 320 px
screen.

Skipped with a visible reason where Chromium or Playwright is missing.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from pathlib import Path
from types import SimpleNamespace

import pyotp
import pytest
from PIL import Image
from sqlalchemy import select

from marketplace.catalogue.service import submit_product
from marketplace.demo import DEMO_ACCOUNTS, seed_demo
from marketplace.extensions import db as _db
from marketplace.models import Batch, OcopRecognition, Producer, Product, Stamp, StampRun
from tests.conftest import make_product
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, TIMEOUT_MS, _playwright
from tests.test_browser_field import AXE, AXE_RUN
from tests.test_browser_trace import _served

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
AXE_URL = "/__axe-core.js"
PHONE = {"width": 360, "height": 740}
PASSWORDS = {email: password for email, password, _role, _slug in DEMO_ACCOUNTS}
OFFICER, ADMIN, COOP, HOUSEHOLD = (account[0] for account in DEMO_ACCOUNTS)

WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + '#' + e.id + ' ' + Math.round(e.getBoundingClientRect().right))"""

SERIOUS = ("serious", "critical")  # what stops or badly slows a user; axe's other findings are kept out



def jpeg(colour) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (800, 600), colour).save(out, "JPEG", quality=80)
    return out.getvalue()


class Walk:
    """A phone's browser page that checks every page it stops at."""

    def __init__(self, page, base: str, journey: str, expect):
        self.page, self.base, self.journey, self.expect = page, base, journey, expect
        # axe-core is served to the browser alone, from a path of our origin the app never sees.
        page.context.route(base + AXE_URL, lambda route: route.fulfill(
            body=AXE.read_bytes(), content_type="text/javascript; charset=utf-8"))
        self.seen: list[str] = []

    def go(self, url: str, step: str):
        self.page.goto(self.base + url)
        return self.check(step)

    def check(self, step: str):
        """The page as it stands: screenshot first (a failing page is worth seeing), then the
        width and axe-core."""
        page = self.page
        page.wait_for_load_state("load")
        size = f"{page.viewport_size['width']}"
        page.screenshot(path=str(ARTIFACTS / f"journey-{self.journey}-{step}-{size}.png"), full_page=True)
        where = f"{self.journey}/{step} at {size} px ({page.url})"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            where, page.evaluate(WIDER_THAN_THE_SCREEN))
        if not page.evaluate("typeof window.axe === 'object'"):
            page.add_script_tag(url=self.base + AXE_URL)  # same origin: the page's CSP allows it
        serious = [v for v in page.evaluate(AXE_RUN) if v["impact"] in SERIOUS]
        assert not serious, (where, serious)
        self.seen.append(step)
        return page

    def login(self, email: str):
        """Signs in with the demo account's password (as the README lists it)."""
        page = self.go("/account/login", "login")
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Mật khẩu", exact=True).fill(PASSWORDS[email])
        page.get_by_role("main").get_by_role("button", name="Đăng nhập").click()
        page.wait_for_load_state()
        if page.url.endswith("/account/two-factor/setup"):  # officers and admins: enrolment, the first time
            self.check("enrol-second-factor")
            secret = page.locator("#totp-secret").inner_text().replace(" ", "")
            page.get_by_label("Mã xác thực").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Bật xác thực hai bước").click()
            self.expect(page.locator("#recovery-codes li")).to_have_count(10)
            self.check("recovery-codes")
            page.get_by_role("link", name="Đã chép xong, tiếp tục").click()
        self.expect(page).not_to_have_url(re.compile(r"/account/login"))
        self.expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()
        return self.check("landing")


@pytest.fixture
def demo(app_factory):
    """The demo world of `make run` served on 127.0.0.1 with CSRF on, plus a product waiting
    for an officer's decision; ``demo.walk(journey, viewport)`` opens a phone."""
    sync_playwright, expect = _playwright()
    ARTIFACTS.mkdir(exist_ok=True)
    holder = {}
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(_served(holder))
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base, WTF_CSRF_ENABLED=True)
        with app.app_context():
            session = _db.session
            seed_demo(session, app.config, echo=lambda *_: None)
            coop = session.scalars(select(Producer).where(Producer.slug == "htx-nong-nghiep-dong-tien")).one()
            pending = make_product(session, coop, "Chè lam gạo nếp Đồng Tiến")
            submit_product(pending)
            session.commit()
            stamp = session.execute(select(Stamp.serial, Batch.id, Batch.lot_code, Batch.product_id)
                                    .join(StampRun, Stamp.run_id == StampRun.id).join(Batch, StampRun.batch_id == Batch.id)
                                    .where(Stamp.status == "active").order_by(Stamp.id).limit(1)).one()
            recognised = session.scalar(select(OcopRecognition.product_id).limit(1))
            ids = SimpleNamespace(pending=pending.id, pending_name=pending.name, serial=stamp.serial,
                                  batch=stamp.id, lot=stamp.lot_code, stamped_product=stamp.product_id,
                                  recognised=recognised)
            _db.session.remove()
        p = stack.enter_context(sync_playwright())
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        stack.callback(browser.close)

        def walk(journey: str, viewport=PHONE) -> Walk:
            context = browser.new_context(viewport=viewport, locale="vi-VN",
                                          extra_http_headers={"Accept-Language": "vi"})
            context.set_default_timeout(TIMEOUT_MS)
            return Walk(context.new_page(), base, journey, expect)

        yield SimpleNamespace(walk=walk, ids=ids, base=base, expect=expect, app=app)


@pytest.mark.browser
def test_buyer_searches_and_reads_a_product(demo):
    phone, expect = demo.walk("buyer"), demo.expect
    page = phone.go("/", "catalogue")
    columns = page.evaluate("""() => new Set([...document.querySelectorAll('.grid > li')].slice(0, 4)
        .map(li => Math.round(li.getBoundingClientRect().left))).size""")
    assert columns == 2  # two cards a row on a phone
    page.get_by_role("searchbox").fill("mat ong")  # no diacritics, as buyers type
    page.get_by_role("searchbox").press("Enter")
    phone.check("search")
    first = page.locator(".grid .card a").first
    name = first.locator(".name").inner_text()
    assert "Mật ong" in name
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    phone.check("product")
    expect(page.get_by_role("link", name=re.compile("Gọi"))).to_be_visible()
    page.context.add_cookies([{"name": "lang", "value": "en", "url": demo.base}])
    page.reload()
    phone.check("product-en")
    storage = page.locator('dd[data-fact="storage"]')
    if storage.count():  # the demo's English storage words, not the Vietnamese
        expect(storage).to_have_text("Store in a cool, dry place.")
    page.context.add_cookies([{"name": "lang", "value": "vi", "url": demo.base}])
    phone.go(f"/s/{demo.ids.serial}", "stamp")  # the scan of a printed stamp
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert phone.seen == ["catalogue", "search", "product", "product-en", "stamp"]


@pytest.mark.browser
def test_producer_lists_a_product_with_photos(demo, tmp_path):
    phone, expect = demo.walk("producer"), demo.expect
    phone.login(HOUSEHOLD)
    page = phone.go("/dashboard/products/new", "new-product")
    page.get_by_label("Tên sản phẩm", exact=True).fill("Mật ong hoa nhãn Thọ Bình")
    page.get_by_label("Nhóm sản phẩm OCOP").select_option(index=3)
    page.get_by_label("Khối lượng/thể tích tịnh").fill("500")
    page.get_by_label("Đơn vị").select_option("ml")
    page.get_by_label("Giá bán (đồng)").fill("180.000")
    page.get_by_label("Số lượng tồn kho").fill("20")
    files = []
    for n, colour in enumerate(((214, 160, 40), (120, 80, 20))):
        path = tmp_path / f"mat-ong-{n}.jpg"
        path.write_bytes(jpeg(colour))
        files.append(str(path))
    page.get_by_label(re.compile("^Ảnh sản phẩm")).set_input_files(files)  # several at once
    page.get_by_role("button", name="Lưu", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Mật ong hoa nhãn Thọ Bình")
    phone.check("product-with-photos")
    expect(page.locator(".photo-list img")).to_have_count(2)  # previews, no script
    upload = page.get_by_role("button", name="Tải ảnh lên").bounding_box()
    submit = page.get_by_role("button", name="Gửi duyệt").bounding_box()
    assert upload["y"] < submit["y"]  # the upload form above "Gửi duyệt"
    page.get_by_role("button", name="Tải ảnh lên").click()  # nothing chosen: said, beside the field
    expect(page.locator("p.error").first).to_be_visible()
    phone.check("upload-nothing")
    page.get_by_role("button", name="Gửi duyệt").click()
    expect(page.locator(".flash").first).to_be_visible()
    phone.check("submitted")


@pytest.mark.browser
def test_cooperative_makes_a_batch_and_prints_its_stamps(demo):
    phone, expect = demo.walk("batch"), demo.expect
    phone.login(COOP)
    page = phone.go("/dashboard/batches/new", "new-batch")
    page.get_by_label("Sản phẩm", exact=True).select_option(index=1)
    page.get_by_label("Mã lô").fill("DT-2026-12")
    page.get_by_label("Số lượng", exact=True).fill("120")
    page.get_by_label("Đơn vị").select_option("kg")
    page.get_by_label("Ngày sản xuất / thu hoạch (NSX)").fill(dt.date.today().isoformat())
    page.get_by_role("button", name="Tạo lô", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Lô DT-2026-12")
    phone.check("batch")
    page.get_by_label("Số tem").fill("24")
    page.get_by_role("button", name="Phát hành tem").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Đợt tem")
    phone.check("run")
    beside = page.evaluate("""() => {
        const box = document.querySelector('input[name=calibration]');
        const label = box.closest('label');
        const range = document.createRange();
        range.selectNodeContents(label);
        const words = [...range.getClientRects()].filter(r => r.left >= box.getBoundingClientRect().right);
        const b = box.getBoundingClientRect();
        // its middle level with the words (never above the first line's upper quarter)
        const middle = (b.top + b.bottom) / 2;
        return words.length > 0 && middle >= words[0].top + words[0].height / 4
               && middle <= words[words.length - 1].bottom;
    }""")
    assert beside  # the checkbox sits beside its words, not above them
    expect(page.get_by_text("serial, url")).to_have_count(0)
    page.get_by_role("button", name="Đã in và dán: kích hoạt tem").click()
    expect(page.get_by_role("button", name="Đã in và dán: kích hoạt tem")).to_have_count(0)
    phone.check("activated")


@pytest.mark.browser
def test_officer_decides_a_product(demo):
    phone, expect = demo.walk("decision"), demo.expect
    phone.login(OFFICER)
    page = phone.go("/admin/products", "products")
    phone.go(f"/admin/products/{demo.ids.pending}", "review")
    expect(page.get_by_role("radio", name="Duyệt")).not_to_be_checked()  # no default
    page.get_by_role("radio", name="Duyệt").check()
    page.get_by_role("button", name="Lưu quyết định").click()
    expect(page.locator(".flash").first).to_contain_text(demo.ids.pending_name)
    phone.check("decided")


@pytest.mark.browser
def test_officer_recalls_a_lot_after_confirming(demo):
    phone, expect = demo.walk("recall"), demo.expect
    phone.login(OFFICER)
    page = phone.go(f"/admin/products/{demo.ids.stamped_product}", "product")
    page.get_by_role("link", name="Thu hồi lô hàng…").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Thu hồi")
    phone.check("confirm")
    page.get_by_label("Lý do thu hồi").fill("Dư lượng thuốc bảo vệ thực vật vượt ngưỡng")
    page.get_by_role("button", name="Xác nhận thu hồi lô hàng").click()
    expect(page.get_by_text(f"Đã thu hồi lô hàng {demo.ids.lot}.")).to_be_visible()
    phone.check("recalled")
    phone.go(f"/s/{demo.ids.serial}", "stamp-recalled")  # what a buyer now scans
    expect(page.locator("main")).to_contain_text("thu hồi")


@pytest.mark.browser
def test_officer_edits_an_exchange_profile(demo):
    phone, expect = demo.walk("exchange"), demo.expect
    phone.login(OFFICER)
    phone.go("/admin/exchanges", "exchanges")
    page = phone.go("/admin/exchanges/postmart", "postmart")
    page.locator('input[name="limit_title"]').fill("100")
    page.get_by_role("button", name="Lưu hồ sơ", exact=True).click()
    expect(page.get_by_text("Đã lưu hồ sơ của sàn.")).to_be_visible()
    expect(page.locator('input[name="limit_title"]')).to_have_value("100")
    phone.check("saved")
    phone.go("/admin/exchanges/postmart/categories", "categories")


@pytest.mark.browser
def test_the_checks_catch_what_they_look_for(demo):
    """The harness itself: a page wider than the phone and an image without words fail."""
    phone = demo.walk("control")
    phone.go("/", "home")
    phone.page.evaluate("""() => { const wide = document.createElement('div'); wide.style.width = '500px';
        wide.textContent = 'x'; document.querySelector('main').append(wide);
        const img = document.createElement('img'); img.src = '/favicon.ico'; document.querySelector('main').append(img); }""")
    with pytest.raises(AssertionError) as wide:
        phone.check("wide")
    assert "DIV" in str(wide.value)
    phone.page.evaluate("() => document.querySelector('main > div:last-of-type').remove()")
    with pytest.raises(AssertionError) as unnamed:
        phone.check("no-alt")
    assert "image-alt" in str(unnamed.value)


FORMS_BY_ACCOUNT = {
    None: ("/account/login", "/account/register", "/report"),
    HOUSEHOLD: ("/dashboard/products/new", "/dashboard/certifications", "/account/password", "/account/tokens"),
    COOP: ("/dashboard/batches/new", "/dashboard/members", "/dashboard/team"),
    OFFICER: ("/admin/exchanges/postmart", "/admin/exchanges/postmart/categories"),
    ADMIN: ("/admin/users",),
}


@pytest.mark.browser
def test_every_form_fits_a_320px_screen(demo):
    """Every form page, and the pages that carry forms (a product's, a batch's, a run's, an
    officer's review and confirmations), on the narrowest phone still sold: nothing wider
    than the screen, every field inside it."""
    ids = demo.ids
    with demo.app.app_context():
        session = _db.session
        coop_product = session.scalar(select(Product.id).join(Producer)
                                      .where(Producer.slug == "htx-nong-nghiep-dong-tien").order_by(Product.id))
        household = session.scalar(select(Producer.id).where(Producer.slug == "ho-le-thi-mai"))
        run = session.scalar(select(StampRun.id).where(StampRun.batch_id == ids.batch))
        recognition = session.scalar(select(OcopRecognition.id).limit(1))
        _db.session.remove()
    pages = dict(FORMS_BY_ACCOUNT)
    pages[COOP] += (f"/dashboard/products/{coop_product}", f"/dashboard/products/{coop_product}/edit",
                    f"/dashboard/batches/{ids.batch}", f"/dashboard/runs/{run}")
    pages[HOUSEHOLD] += (f"/dashboard/producers/{household}",)
    pages[OFFICER] += (f"/admin/products/{ids.pending}", f"/dashboard/batches/{ids.batch}/recall",
                       f"/admin/ocop/{recognition}/revoke")
    visited = 0
    for email, urls in pages.items():
        phone = demo.walk("form", {"width": 320, "height": 640})
        if email:
            phone.login(email)
        for url in urls:
            step = re.sub(r"[^a-z0-9]+", "-", url.strip("/"))
            page = phone.go(url, step)
            outside = page.evaluate("""() => [...document.querySelectorAll(
                    'main input:not([type=hidden]), main select, main textarea, main button, main label')]
                .filter(e => e.offsetParent !== null && e.closest('.table-scroll') === null
                             && e.getBoundingClientRect().right > window.innerWidth + 0.5)
                .map(e => (e.name || e.textContent.trim().slice(0, 30)) + ' ' + Math.round(e.getBoundingClientRect().right))""")
            assert not outside, (url, outside)
            visited += 1
        phone.page.context.close()
    assert visited == sum(len(urls) for urls in pages.values())
