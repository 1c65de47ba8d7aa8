"""Field usability in Chromium (issue 7, "Proof"): a cheap phone on a rural network, and
accessibility.

- Network throttled through the DevTools protocol to 1.6 Mbps down and up with 150 ms
  round-trip time, viewport 360×740: the stamp page's first contentful paint < 1 s and at
  most 30 KB transferred (HTML, CSS, headers) before the product photo; the catalogue and a
  product page paint within 2 s.
- axe-core (vendored from the npm registry, ``tests/vendor/axe-core``) finds no serious or
  critical violation on the home page, a product page, a stamp page, the login page, the
  product form and the label-printing page.

The measured figures are written to ``tests/artifacts/field.json`` (git-ignored).
"""
from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import TEST_PASSWORD, make_producer, make_product, make_user
from tests.test_browser import CHROMIUM, LAUNCH_ARGS, _playwright
from tests.test_browser_trace import _served

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).parent / "artifacts"
PHONE = {"width": 360, "height": 740}
# 1.6 Mbps each way and 150 ms round trip: a rural 3G connection.
RURAL_3G = {"offline": False, "latency": 150, "downloadThroughput": 1_600_000 / 8,
            "uploadThroughput": 1_600_000 / 8}
OWNER = "htx.field@example.vn"


def _photo_bytes() -> bytes:
    """A phone photo: 1600×1200 with detail, so its renditions have realistic sizes."""
    img = Image.effect_mandelbrot((1600, 1200), (-2.0, -1.2, 1.0, 1.2), 60).convert("RGB")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92)
    return out.getvalue()


def _seed(app) -> dict:
    from marketplace.extensions import db
    from marketplace.media import store_image
    from marketplace.models import ProductPhoto, Stamp
    from marketplace.stamps.service import activate_run, issue_run, stamp_url
    from marketplace.trace.service import LOCAL_TZ, append_event, create_batch

    with app.app_context():
        s = db.session
        coop = make_producer(s, "HTX Nông nghiệp Đồng Tiến", kind="cooperative")
        s.flush()
        make_user(s, OWNER, producer=coop)
        product = make_product(s, coop, "Gạo nếp cái hoa vàng Đồng Tiến", status="published")
        stored = store_image(_photo_bytes(), app.config["UPLOAD_DIR"], max_bytes=5 * 1024 * 1024,
                             max_pixels=24_000_000)
        s.add(ProductPhoto(product=product, stem=stored.stem, width=stored.width, height=stored.height, position=1))
        batch = create_batch(s, product, lot_code="DT-2025-12", quantity=Decimal("100"), unit="kg",
                             production_date=dt.date(2025, 11, 1))
        s.flush()
        for day, kind, place in ((28, "harvest", "Cánh đồng thôn 3"), (30, "processing", "Xưởng HTX"),
                                 (31, "packing", "Xưởng HTX")):
            append_event(s, batch, kind=kind, occurred_at=dt.datetime(2025, 10, day, 7, tzinfo=LOCAL_TZ), place=place)
        run = issue_run(s, batch, 24)
        activate_run(s, run)
        s.commit()
        serial = s.scalar(db.select(Stamp.serial).where(Stamp.run_id == run.id, Stamp.position == 1))
        ids = {"slug": product.slug, "run": run.id,
               "stamp_url": stamp_url(app.config["PUBLIC_BASE_URL"], serial)}
        s.remove()
    return ids


def _open_phone(p, *, bypass_csp: bool = False):
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
    context = browser.new_context(viewport=PHONE, locale="vi-VN", extra_http_headers={"Accept-Language": "vi"},
                                  bypass_csp=bypass_csp)
    context.set_default_timeout(20_000)
    return browser, context


def _measure(context, url: str) -> dict:
    """Open ``url`` on a fresh throttled page: first contentful paint, load, and bytes
    transferred (bodies + headers) for everything but images, and for the images."""
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", RURAL_3G)
    finished = []
    page.on("requestfinished", lambda request: finished.append(request))
    response = page.goto(url, wait_until="load")
    assert response.status == 200, (url, response.status)
    # (Playwright's response.headers leaves cookies out: ask for the header, and the jar)
    set_cookie, cookies = response.header_value("set-cookie"), len(context.cookies())
    # The paint entry can be reported a little after "load": wait for it (buffered observer).
    timing = page.evaluate("""() => new Promise(resolve => {
      const nav = performance.getEntriesByType('navigation')[0];
      const done = fcp => resolve({fcp, load: nav ? nav.loadEventEnd : null});
      new PerformanceObserver(list => {
        const paint = list.getEntriesByName('first-contentful-paint')[0];
        if (paint) done(paint.startTime);
      }).observe({type: 'paint', buffered: true});
      setTimeout(() => done(null), 5000);
    })""")
    before_photo = images = 0
    for request in finished:
        sizes = request.sizes()
        size = sizes["responseBodySize"] + sizes["responseHeadersSize"]
        if request.resource_type == "image":
            images = max(images, sizes["responseBodySize"])
        else:
            before_photo += size
    page.close()
    return {"url": url, "fcp_ms": round(timing["fcp"] or 1e9), "load_ms": round(timing["load"] or 1e9),
            "bytes_before_photo": before_photo, "largest_image_bytes": images,
            "set_cookie": set_cookie, "cookies": cookies}


@pytest.mark.browser
def test_pages_on_a_rural_network_and_a_small_phone(app_factory):
    sync_playwright, _expect = _playwright()
    holder = {}
    with _served(holder) as base:
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base)
        ids = _seed(app)
        with sync_playwright() as p:
            browser, context = _open_phone(p)
            try:
                _measure(context, base + "/healthz")  # the browser's own start-up, not the pages'
                figures = []
                for url in (ids["stamp_url"], base + "/", f"{base}/p/{ids['slug']}"):
                    context.close()  # each page as a first visit: nothing cached
                    context = browser.new_context(viewport=PHONE, locale="vi-VN",
                                                  extra_http_headers={"Accept-Language": "vi"})
                    figures.append(_measure(context, url))
                stamp, home, product = figures
            finally:
                browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "field.json").write_text(json.dumps(
        {"network": RURAL_3G, "viewport": PHONE, "stamp": stamp, "catalogue": home, "product": product}, indent=1))
    assert stamp["fcp_ms"] < 1000, stamp
    assert stamp["bytes_before_photo"] <= 30 * 1024, stamp
    assert 0 < stamp["largest_image_bytes"] <= 60 * 1024, stamp  # the right-sized photo did load
    assert stamp["set_cookie"] is None and stamp["cookies"] == 0
    assert home["fcp_ms"] < 2000, home
    assert product["fcp_ms"] < 2000, product


AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
}"""


@pytest.mark.browser
def test_no_serious_accessibility_violations(app_factory):
    sync_playwright, expect = _playwright()
    holder = {}
    with _served(holder) as base:
        app = holder["app"] = app_factory(PUBLIC_BASE_URL=base)
        ids = _seed(app)
        with sync_playwright() as p:
            # The pages' CSP allows only their own scripts: axe is injected with it bypassed.
            browser, context = _open_phone(p, bypass_csp=True)
            found = {}
            try:
                page = context.new_page()

                def audit(path: str) -> None:
                    page.goto(path if path.lower().startswith("http") else base + path)
                    page.add_script_tag(path=str(AXE))
                    found[path] = page.evaluate(AXE_RUN)

                for path in ("/", f"/p/{ids['slug']}", ids["stamp_url"], "/account/login"):
                    audit(path)
                page.get_by_label("Email", exact=True).fill(OWNER)
                page.get_by_label("Mật khẩu", exact=True).fill(TEST_PASSWORD)
                page.get_by_role("main").get_by_role("button", name="Đăng nhập").click()
                page.wait_for_load_state()
                assert page.url == f"{base}/dashboard/"
                for path in ("/dashboard/products/new", f"/dashboard/runs/{ids['run']}"):
                    audit(path)
                # The harness itself finds a violation when there is one (an image without alt).
                page.set_content('<html lang="vi"><body><main><img src="/x.png"></main></body></html>')
                page.add_script_tag(path=str(AXE))
                control = page.evaluate(AXE_RUN)
            finally:
                browser.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "axe.json").write_text(json.dumps(found, indent=1, ensure_ascii=False))
    assert len(found) == 6
    assert any(v["id"] == "image-alt" and v["impact"] == "critical" for v in control), control
    serious = {path: [v for v in violations if v["impact"] in ("serious", "critical")]
               for path, violations in found.items()}
    assert not any(serious.values()), json.dumps(serious, indent=1, ensure_ascii=False)
