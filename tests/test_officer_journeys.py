"""What a district officer meets (issue 17, point 5): revoking an OCOP recognition behind a
confirmation page, in words of its own; charts with dated axes, captions above and colours
told apart by colour-blind readers; tables that scroll inside their own box on a phone.
(Decisions: tests/test_admin.py; recalls: tests/test_recall.py; exchange profiles:
tests/test_exchange_admin.py.)"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import lxml.html
import pytest
from sqlalchemy import select

from marketplace import stats
from marketplace.admin.dashboard import OKABE_ITO, SERIES
from marketplace.catalogue.service import submit_product
from marketplace.extensions import db as _db
from marketplace.feeds.service import configure_push, find_exchange
from marketplace.models import AuditEntry, OcopRecognition
from marketplace.models.base import local_today
from tests.conftest import TEST_PASSWORD, make_producer, make_product, make_user, signed_in
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, _no_horizontal_overflow, _playwright, give_second_factor
from tests.test_browser_trace import _served
from tests.test_routes_matrix import add_dead_delivery, add_trace
from tests.test_stats import district  # noqa: F401  (the figures' fixture)

ROOT = Path(__file__).resolve().parent.parent


def page_of(response):
    assert response.status_code == 200, response.status_code
    return lxml.html.fromstring(response.get_data(as_text=True))


def flashes(page) -> list[str]:
    return [p.text_content().strip() for p in page.cssselect(".flash")]


# ---- Hủy công nhận OCOP -------------------------------------------------------------------

def recognition(product, stars: int, no: str, **extra) -> OcopRecognition:
    today = local_today()
    return OcopRecognition(product=product, stars=stars, decision_no=no, decision_date=today - dt.timedelta(days=30),
                           issuer_level="provincial", issuer_name="UBND tỉnh Thanh Hóa",
                           valid_until=today + dt.timedelta(days=700), **extra)


@pytest.fixture
def recognised(app, db, world):
    """Producer A's product, listed, with a lot of three stamps, recognised 4★ (shown) and 3★;
    DFC takes pushes (and takes the item), Postmart pulls but refuses it (no photo)."""
    add_trace(db.session, world)
    product = world.product_a
    world.four, world.three = recognition(product, 4, "44/QĐ-UBND"), recognition(product, 3, "33/QĐ-UBND")
    db.session.add_all([world.four, world.three])
    configure_push(find_exchange(db.session, "dfc"), endpoint="http://127.0.0.1:9/dfc", enabled=True,
                   allow_private=True)
    find_exchange(db.session, "postmart").new_feed_token()
    db.session.commit()
    return world


def test_revoking_a_recognition_is_confirmed_first(app, db, recognised):
    officer = signed_in(app, "officer@example.vn")
    product_page = page_of(officer.get(f"/admin/products/{recognised.product_a.id}"))
    revoke = [a for a in product_page.cssselect("a.button.danger") if "OCOP" in a.text_content()]
    recall = [a for a in product_page.cssselect("a.button.danger") if "lô hàng" in a.text_content()]
    assert [a.text_content().strip() for a in revoke] == ["Hủy công nhận OCOP…"] * 2
    assert [a.text_content().strip() for a in recall] == ["Thu hồi lô hàng…"]
    assert not any(b.text_content().strip() == "Thu hồi" for b in product_page.cssselect("button, a"))

    url = f"/admin/ocop/{recognised.four.id}/revoke"
    page = page_of(officer.get(url))
    assert page.cssselect("h1")[0].text_content() == "Hủy công nhận OCOP"
    assert "hiện 3★ (quyết định 33/QĐ-UBND) thay cho 4★" in page.get_element_by_id("revoke-stars").text_content()
    assert page.get_element_by_id("revoke-stamps").get("data-stamps") == "3"
    told = [li.get("data-exchange") for li in page.cssselect("#revoke-exchanges li[data-exchange]")]
    assert told == ["dfc"]

    # Without the confirmation nothing changes: the post leads to the page.
    response = officer.post(url, data={})
    assert response.status_code == 302 and response.headers["Location"] == url
    db.session.rollback()
    assert not db.session.get(OcopRecognition, recognised.four.id).revoked

    response = officer.post(url, data={"confirm": "1"}, follow_redirects=True)
    assert "Đã hủy công nhận OCOP 4★ của sản phẩm «Gạo nếp cái hoa vàng»." in flashes(page_of(response))
    db.session.rollback()
    assert db.session.get(OcopRecognition, recognised.four.id).revoked
    assert db.session.scalars(select(AuditEntry.action).where(AuditEntry.action == "ocop.revoke")).all() == [
        "ocop.revoke"]
    page = page_of(officer.get(url))  # once revoked, nothing left to confirm
    assert not page.cssselect('input[name="confirm"]') and "đã bị hủy" in page.text_content()


def test_revoking_the_only_recognition_says_the_stars_go(app, db, recognised):
    recognised.three.revoked = True
    db.session.commit()
    officer = signed_in(app, "officer@example.vn")
    page = page_of(officer.get(f"/admin/ocop/{recognised.four.id}/revoke"))
    assert "không còn hiện sao OCOP" in page.get_element_by_id("revoke-stars").text_content()
    # A recognition whose stars are not the ones shown changes nothing buyers see.
    recognised.three.revoked = False
    db.session.commit()
    page = page_of(officer.get(f"/admin/ocop/{recognised.three.id}/revoke"))
    assert "không thấy thay đổi" in page.get_element_by_id("revoke-stars").text_content()
    assert not page.cssselect("#revoke-stamps")


def test_only_officers_revoke(app, db, recognised):
    url = f"/admin/ocop/{recognised.four.id}/revoke"
    assert app.test_client().get(url).status_code == 302  # to the login page
    for email in ("a@example.vn", "coop@example.vn"):
        client = signed_in(app, email)
        assert client.get(url).status_code == 403
        assert client.post(url, data={"confirm": "1"}).status_code == 403
    assert signed_in(app, "admin@example.vn").get(url).status_code == 200
    db.session.rollback()
    assert not db.session.get(OcopRecognition, recognised.four.id).revoked


# ---- charts ---------------------------------------------------------------------------------

def test_time_charts_have_dated_axes_and_captions_above(app, db, district):  # noqa: F811
    officer = signed_in(app, "officer@example.vn")
    page = page_of(officer.get("/admin/"))
    first, last = stats.Filters().period(local_today())
    for key in ("scans", "stamps_issued"):
        figure = page.cssselect(f'figure.columns[data-series="{key}"]')[0]
        children = [child.tag for child in figure]
        assert children.index("figcaption") < children.index("svg") < children.index("p")  # caption above
        dates = [span.text_content() for span in figure.cssselect("p.axis span")]
        assert dates[0] == first.strftime("%d/%m/%Y") and dates[-1] == last.strftime("%d/%m/%Y")
        assert len(dates) == 3
        chart = next(child for child in figure if child.tag == "svg")
        assert first.strftime("%d/%m/%Y") in chart.get("aria-label")
    weekly = page_of(officer.get("/admin/", query_string={"by": "week", "from": "2026-01-05", "to": "2026-02-01"}))
    dates = [span.text_content() for span in weekly.cssselect('figure[data-series="scans"] p.axis span')]
    assert dates[0] == "05/01/2026" and dates[-1] == "26/01/2026"  # the weeks' Mondays


def test_star_levels_and_states_are_told_apart(app, db, district):  # noqa: F811
    """Okabe–Ito colours (distinct for colour-blind readers), a pattern on every other series,
    a legend with the same swatches; attributes, not inline style (the CSP forbids it)."""
    officer = signed_in(app, "officer@example.vn")
    html = officer.get("/admin/").get_data(as_text=True)
    page = lxml.html.fromstring(html)
    colours = {key: SERIES[key][0] for key in ("3", "4", "5")}
    assert len(set(colours.values())) == 3 and set(colours.values()) <= set(OKABE_ITO)
    legend = page.cssselect("#fig-products + p.legend")[0]
    fills = [rect.get("fill") for rect in legend.cssselect("svg.swatch rect")]
    assert fills == ["#56B4E9", "url(#pat-4) #E69F00", "#0072B2", "url(#pat-none) #999999"]
    assert [item.text_content().strip() for item in legend.cssselect(".item")] == ["3★", "4★", "5★", "Chưa có sao"]
    for key, (colour, pattern) in SERIES.items():
        assert colour in html
        if pattern:
            defined = page.cssselect(f'svg.chart-defs pattern[id="pat-{key}"]')[0]
            assert defined.cssselect("rect")[0].get("fill") == colour
    bars = page.cssselect(".hbars .chartbar rect[data-series]")
    assert {bar.get("data-series") for bar in bars} >= {"3", "4", "none", "delivered", "dead"}
    assert all(bar.get("fill") for bar in bars) and not page.cssselect("section.figures [style]")
    labelled = page.cssselect('.chartbar[aria-label*="4★: "]')
    assert labelled  # a screen reader hears each part, not only the total


# ---- tables on a phone ---------------------------------------------------------------------

ADMIN_PAGES = ("/admin/", "/admin/producers", "/admin/products", "/admin/certifications", "/admin/expiring",
               "/admin/alerts", "/admin/exchanges", "/admin/exchanges/postmart", "/admin/deliveries", "/admin/users",
               "/admin/audit")


def test_every_admin_table_scrolls_inside_its_own_box(app, db, recognised):
    admin = signed_in(app, "admin@example.vn")
    found = 0
    for url in (*ADMIN_PAGES, f"/admin/products/{recognised.product_a.id}"):
        for table in page_of(admin.get(url)).cssselect("table"):
            box = table.getparent()
            assert "table-scroll" in (box.get("class") or "").split(), (url, table.get("class"))
            # a keyboard reaches it to scroll it, a screen reader names it (axe: scrollable-region-focusable)
            assert box.get("tabindex") == "0" and box.get("role") == "region", url
            assert box.get("aria-label") or box.get("aria-labelledby"), url
            found += 1
    assert found >= 8
    css = (ROOT / "static" / "style.css").read_text(encoding="utf-8")
    assert ".table-scroll{overflow-x:auto" in css and ".table-scroll th{white-space:nowrap}" in css


# ---- on a phone and on a desktop, in Chromium ---------------------------------------------------

WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5)
    .map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))"""

@pytest.mark.browser
@pytest.mark.parametrize("viewport", [{"width": 360, "height": 740}, {"width": 1280, "height": 800}],
                         ids=["360x740", "1280x800"])
def test_officer_pages_fit_phone_and_desktop(app_factory, viewport):
    """Each page as the tester saw it: no page wider than the screen, every table header
    whole (the table scrolls in its box instead), the decision with nothing chosen, the
    recall's and the revocation's confirmation pages, the profile form."""
    sync_playwright, expect = _playwright()
    holder = {}
    with _served(holder) as base:
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base, WTF_CSRF_ENABLED=True)
        with app.app_context():
            producer = make_producer(_db.session, "HTX Nông nghiệp Đồng Tiến", kind="cooperative")
            make_user(_db.session, "canbo@huyen.gov.vn", role="officer")
            _db.session.flush()
            world = SimpleNamespace(
                product_a=make_product(_db.session, producer, "Gạo nếp cái hoa vàng Đồng Tiến"),
                published_a=make_product(_db.session, producer, "Mật ong hoa vải", status="published"))
            pending = make_product(_db.session, producer, "Nem chua Đồng Tiến")
            submit_product(pending)
            _db.session.commit()
            add_trace(_db.session, world)
            add_dead_delivery(_db.session, world)
            rec = recognition(world.product_a, 4, "44/QĐ-UBND")
            _db.session.add(rec)
            _db.session.commit()
            ids = {"batch": world.batch_a.id, "product": world.product_a.id, "pending": pending.id, "rec": rec.id}
            _db.session.remove()
        pages = {"deliveries": "/admin/deliveries", "exchanges": "/admin/exchanges",
                 "exchange": "/admin/exchanges/postmart", "review": f"/admin/products/{ids['pending']}",
                 "product": f"/admin/products/{ids['product']}", "recall": f"/dashboard/batches/{ids['batch']}/recall",
                 "revoke": f"/admin/ocop/{ids['rec']}/revoke", "figures": "/admin/"}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            try:
                context = browser.new_context(viewport=viewport, locale="vi-VN",
                                              extra_http_headers={"Accept-Language": "vi"})
                page = context.new_page()
                page.goto(base + "/account/login")
                page.get_by_label("Email").fill("canbo@huyen.gov.vn")
                page.get_by_label("Mật khẩu").fill(TEST_PASSWORD)
                page.get_by_role("button", name="Đăng nhập").click()
                give_second_factor(page)
                expect(page.get_by_role("heading", name="Số liệu của huyện")).to_be_visible()
                artifacts = Path(__file__).parent / "artifacts"
                artifacts.mkdir(exist_ok=True)
                size = f"{viewport['width']}x{viewport['height']}"
                for name, url in pages.items():
                    page.goto(base + url)
                    assert _no_horizontal_overflow(page), (name, size, page.evaluate(WIDER_THAN_THE_SCREEN))
                    cut = page.evaluate("""() => [...document.querySelectorAll('main th')]
                        .filter(th => th.scrollWidth > th.clientWidth + 1).map(th => th.textContent.trim())""")
                    assert not cut, (name, size, cut)
                    boxes = page.evaluate("""() => [...document.querySelectorAll('main table')]
                        .map(t => t.parentElement.classList.contains('table-scroll')
                                  && t.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)""")
                    assert all(boxes), (name, size, boxes)
                    page.screenshot(path=str(artifacts / f"officer-{name}-{size}.png"), full_page=True)
                page.goto(base + pages["deliveries"])
                dead = page.get_by_role("columnheader", name="Trạng thái")
                dead.scroll_into_view_if_needed()
                expect(dead).to_be_visible()
                page.goto(base + pages["review"])
                expect(page.get_by_role("radio", name="Duyệt")).not_to_be_checked()
                page.get_by_role("button", name="Lưu quyết định").click()
                expect(page.get_by_text("Hãy chọn duyệt hay từ chối.")).to_be_visible()
                page.goto(base + pages["recall"])
                page.get_by_label("Lý do thu hồi").fill("Dư lượng thuốc bảo vệ thực vật vượt ngưỡng")
                page.get_by_role("button", name="Xác nhận thu hồi lô hàng").click()
                expect(page.get_by_text("Đã thu hồi lô hàng LOT-A1.")).to_be_visible()
                assert _no_horizontal_overflow(page)
            finally:
                browser.close()
