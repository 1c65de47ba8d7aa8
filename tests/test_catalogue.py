"""The public catalogue: listing, search, filters, pagination, product and producer pages,
structured data, language switch and response headers."""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from marketplace.catalogue import service
from marketplace.models import Certification, OcopRecognition, ProductGroup
from marketplace.models.base import local_today
from tests.conftest import make_producer, make_product

NBSP = "\u00a0"


# ---- helpers ----------------------------------------------------------------------------

def group(session, code):
    return session.scalars(select(ProductGroup).where(ProductGroup.code == code)).one()


def publish(session, producer, name, *, group_code="1.2", price=120000, **extra):
    """A published product in any group, with any extra producer fields."""
    data = {"name": name, "group_id": group(session, group_code).id, "net_quantity": Decimal("1"),
            "unit": "kg", "price_vnd": price, "stock": 10}
    data.update(extra)
    product = service.create_product(session, producer, data)
    service.submit_product(product)
    service.publish_product(product)
    return product


def recognise(session, product, stars, valid_until, *, revoked=False, decision_no="123/QĐ-UBND"):
    rec = OcopRecognition(product=product, stars=stars, decision_no=decision_no,
                          decision_date=valid_until - dt.timedelta(days=3 * 365),
                          issuer_level="central" if stars == 5 else "provincial",
                          issuer_name="UBND tỉnh Thanh Hóa", valid_until=valid_until, revoked=revoked)
    session.add(rec)
    return rec


def html(response) -> str:
    return response.get_data(as_text=True)


def card_names(response) -> list[str]:
    return re.findall(r'<span class="name">([^<]*)</span>', html(response))


def listing(client, **params) -> list[str]:
    response = client.get("/", query_string=params)
    assert response.status_code == 200
    return card_names(response)


# ---- listing -------------------------------------------------------------------------------

def test_index_lists_only_published_products_of_approved_producers(world, client, db):
    s = db.session
    pending = make_producer(s, "Hộ Chờ Duyệt", status="pending")
    suspended = make_producer(s, "Hộ Tạm Ngừng", status="suspended")
    s.flush()
    make_product(s, pending, "Bánh đa của hộ chờ duyệt", status="published")
    make_product(s, suspended, "Bánh đa của hộ tạm ngừng", status="published")
    make_product(s, world.b, "Mật ong chờ duyệt", status="pending")
    archived = make_product(s, world.b, "Mật ong lưu trữ", status="published")
    service.archive_product(archived)
    s.commit()

    names = listing(client)
    assert names == ["Nem chua Đồng Tiến"]


def test_index_empty_catalogue_renders(client):
    response = client.get("/")
    assert response.status_code == 200
    assert card_names(response) == []
    assert 'class="empty"' in html(response)


# ---- search -------------------------------------------------------------------------------

@pytest.fixture
def shelf(world, db):
    """A few published products with different names, groups and communes."""
    s = db.session
    products = {
        "gao": publish(s, world.a, "Gạo nếp cái hoa vàng"),
        "mat_ong": publish(s, world.b, "Mật ong hoa vải", group_code="1.3"),
        "banh": publish(s, world.b, "Bánh gai lá gai rừng", group_code="1.3",
                        description="Bánh gai truyền thống"),
        "gio": publish(s, world.b, "Giỏ mây đan tay", group_code="5.1"),
        "ruou": publish(s, world.b, "Rượu nếp", group_code="2.1", origin_ward_code=15724),
        "percent": publish(s, world.b, "Gia vị 100% tự nhiên", group_code="1.4"),
    }
    s.commit()
    return products


def test_search_without_diacritics_finds_accented_names(shelf, client):
    assert listing(client, q="gao") == ["Gạo nếp cái hoa vàng"]
    assert listing(client, q="GAO NEP") == ["Gạo nếp cái hoa vàng"]
    assert listing(client, q="mat ong") == ["Mật ong hoa vải"]


def test_search_with_diacritics(shelf, client):
    assert listing(client, q="Gạo") == ["Gạo nếp cái hoa vàng"]
    assert listing(client, q="mật ong") == ["Mật ong hoa vải"]
    assert listing(client, q="MẬT   ONG") == ["Mật ong hoa vải"]


def test_search_words_all_must_match_in_any_order(shelf, client):
    assert listing(client, q="vai ong") == ["Mật ong hoa vải"]
    assert listing(client, q="mat ong gao") == []


def test_search_finds_commune_and_producer(shelf, world, client):
    # A's products are from Xã Đồng Tiến (its address); the wine's origin is Đồng Tiến too,
    # though its producer B lives in Thọ Bình.
    found = set(listing(client, q="dong tien"))
    assert found == {"Gạo nếp cái hoa vàng", "Nem chua Đồng Tiến", "Rượu nếp"}
    assert set(listing(client, q="Đồng Tiến")) == found
    # Producer name: "Hộ Lê Thị B" makes B's products findable by "le thi".
    assert set(listing(client, q="le thi")) == {
        "Mật ong hoa vải", "Bánh gai lá gai rừng", "Giỏ mây đan tay", "Rượu nếp", "Gia vị 100% tự nhiên"}
    # Commune of B (Thọ Bình), but the wine's origin overrides it.
    assert "Rượu nếp" not in listing(client, q="tho binh")
    assert "Mật ong hoa vải" in listing(client, q="tho binh")


def test_search_matches_description_and_group(shelf, client):
    assert listing(client, q="truyen thong") == ["Bánh gai lá gai rừng"]
    # The group name (in both languages) is searchable.
    assert "Giỏ mây đan tay" in listing(client, q="thu cong my nghe")
    assert "Giỏ mây đan tay" in listing(client, q="handicrafts")


def test_search_percent_and_underscore_are_literal(shelf, client):
    assert listing(client, q="%") == ["Gia vị 100% tự nhiên"]
    assert listing(client, q="100%") == ["Gia vị 100% tự nhiên"]
    assert listing(client, q="_") == []
    assert listing(client, q="g_o") == []
    assert listing(client, q="m%t") == []
    assert listing(client, q="\\") == []


def test_search_echoes_query_escaped(shelf, client):
    response = client.get("/", query_string={"q": '"><script>alert(1)</script>'})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in html(response)


def test_search_very_long_query_does_not_fail(shelf, client):
    response = client.get("/", query_string={"q": "gao " * 200})
    assert response.status_code == 200


# ---- filters ------------------------------------------------------------------------------

def test_stars_filter_counts_only_valid_recognitions(shelf, world, client, db):
    s = db.session
    today = local_today()
    recognise(s, shelf["gao"], 4, today + dt.timedelta(days=30))
    recognise(s, shelf["mat_ong"], 3, today + dt.timedelta(days=30))
    recognise(s, shelf["banh"], 5, today - dt.timedelta(days=1))           # expired
    recognise(s, shelf["gio"], 5, today + dt.timedelta(days=30), revoked=True)  # revoked
    recognise(s, shelf["ruou"], 4, today)                                   # last valid day
    s.commit()

    assert set(listing(client, stars=3)) == {"Gạo nếp cái hoa vàng", "Mật ong hoa vải", "Rượu nếp"}
    assert set(listing(client, stars=4)) == {"Gạo nếp cái hoa vàng", "Rượu nếp"}
    assert listing(client, stars=5) == []


def test_stars_filter_uses_best_valid_recognition(shelf, client, db):
    s = db.session
    today = local_today()
    recognise(s, shelf["gao"], 5, today - dt.timedelta(days=10), decision_no="old")
    recognise(s, shelf["gao"], 3, today + dt.timedelta(days=300), decision_no="new")
    s.commit()
    assert listing(client, stars=3) == ["Gạo nếp cái hoa vàng"]
    assert listing(client, stars=4) == []


def test_group_filter_top_level_includes_subgroups(shelf, client, db):
    s = db.session
    food = group(s, "1").id
    crafts = group(s, "5").id
    processed = group(s, "1.3").id
    drinks = group(s, "2").id
    assert set(listing(client, group=food)) == {
        "Gạo nếp cái hoa vàng", "Nem chua Đồng Tiến", "Mật ong hoa vải", "Bánh gai lá gai rừng",
        "Gia vị 100% tự nhiên"}
    assert listing(client, group=crafts) == ["Giỏ mây đan tay"]
    assert listing(client, group=drinks) == ["Rượu nếp"]
    assert set(listing(client, group=processed)) == {"Mật ong hoa vải", "Bánh gai lá gai rừng"}


def test_commune_filter_uses_origin_then_producer_address(shelf, client):
    assert set(listing(client, commune=15724)) == {"Gạo nếp cái hoa vàng", "Nem chua Đồng Tiến", "Rượu nếp"}
    assert set(listing(client, commune=15667)) == {
        "Mật ong hoa vải", "Bánh gai lá gai rừng", "Giỏ mây đan tay", "Gia vị 100% tự nhiên"}
    assert listing(client, commune=15664) == []


def test_filters_combine(shelf, client, db):
    s = db.session
    recognise(s, shelf["mat_ong"], 3, local_today() + dt.timedelta(days=30))
    recognise(s, shelf["gao"], 3, local_today() + dt.timedelta(days=30))
    s.commit()
    assert listing(client, stars=3, commune=15667, group=group(s, "1").id, q="mat") == ["Mật ong hoa vải"]


HUGE = "99999999999999999999999"


@pytest.mark.parametrize("params", [
    {"stars": "abc"}, {"stars": "2"}, {"stars": "99"}, {"stars": "-3"}, {"stars": "4.5"},
    {"stars": HUGE}, {"page": "-1"}, {"page": "0"}, {"page": "99999"}, {"page": "abc"},
    {"page": "1e9"}, {"page": HUGE}, {"group": "abc"}, {"group": "99999"}, {"group": "-1"},
    {"group": HUGE}, {"group": "2147483648"},  # beyond PostgreSQL's int4
    {"commune": "xyz"}, {"commune": "-5"}, {"commune": "2147483648"}, {"commune": HUGE},
    {"q": "%_%"}, {"q": "\u202egao"},
])
def test_bad_filter_values_never_fail(shelf, client, params):
    response = client.get("/", query_string=params)
    assert response.status_code == 200


@pytest.mark.parametrize("url", ["/?q=gao%00", "/p/%00", "/producers/x%00y", "/?commune=1%00"])
def test_nul_bytes_are_a_clear_400(client, url):
    """PostgreSQL refuses NUL in text: the app answers 400 before any query, on every backend."""
    assert client.get(url).status_code == 400


def test_nul_bytes_in_forms_are_refused(client, world, db):
    from sqlalchemy import select

    from marketplace.models import User

    r = client.post("/account/login", data={"email": "a@example.vn\x00", "password": "x"})
    assert r.status_code == 400
    r = client.post("/account/register", data={"email": "n@example.vn", "name": "A\x00B"})
    assert r.status_code == 400
    assert db.session.scalar(select(User).where(User.email == "n@example.vn")) is None


def test_bad_stars_value_means_no_filter(shelf, client):
    assert len(listing(client, stars="abc")) == len(listing(client)) == 7


# ---- pagination -------------------------------------------------------------------------

def test_pagination_12_per_page(world, client, db, app):
    assert app.config["CATALOGUE_PAGE_SIZE"] == 12
    s = db.session
    for i in range(12):  # with world's published product: 13
        publish(s, world.b, f"Sản phẩm số {i:02d}")
    s.commit()

    first = client.get("/")
    assert len(card_names(first)) == 12
    assert 'rel="next"' in html(first)
    second = client.get("/?page=2")
    assert second.status_code == 200
    assert len(card_names(second)) == 1
    assert 'rel="prev"' in html(second)
    assert 'rel="next"' not in html(second)
    # Every product shown exactly once across the two pages.
    assert len(set(card_names(first)) | set(card_names(second))) == 13
    # Past the end: an empty page, not an error.
    third = client.get("/?page=3")
    assert third.status_code == 200
    assert card_names(third) == []


def test_pagination_keeps_filters_in_links(world, client, db):
    s = db.session
    for i in range(13):
        publish(s, world.b, f"Mật ong số {i:02d}")
    s.commit()
    page = html(client.get("/?q=mat+ong&page=1"))
    next_link = re.search(r'<a rel="next" href="([^"]+)"', page).group(1)
    assert "q=mat+ong" in next_link.replace("&amp;", "&")
    assert "page=2" in next_link


# ---- product page ----------------------------------------------------------------------

def product_page(client, product):
    response = client.get(f"/p/{product.slug}")
    assert response.status_code == 200, response.status_code
    return html(response)


def json_ld(page: str) -> dict:
    m = re.search(r'<script type="application/ld\+json">(.*?)</script>', page, re.S)
    assert m, "no JSON-LD block"
    return json.loads(m.group(1))


def test_product_page_shows_price_and_producer(world, client):
    page = product_page(client, world.published_a)
    assert "<h1>Nem chua Đồng Tiến</h1>" in page
    assert f"120.000{NBSP}₫" in page
    assert f'href="/producers/{world.a.slug}"' in page
    assert "Hộ Trịnh Văn A" in page
    assert 'href="tel:0912345678"' in page
    assert "Xã Đồng Tiến, Thanh Hóa" in page


def test_product_page_quantity_with_decimal_comma(world, client, db):
    product = publish(db.session, world.a, "Bột nếp", net_quantity=Decimal("0.5"), price=45000)
    db.session.commit()
    page = product_page(client, product)
    assert f"45.000{NBSP}₫" in page
    assert "/ 0,5 kg" in page


def test_product_page_shows_ocop_stars_only_while_valid(world, client, db):
    s = db.session
    product = world.published_a
    rec = recognise(s, product, 4, local_today() + dt.timedelta(days=100), decision_no="555/QĐ-UBND")
    s.commit()
    page = product_page(client, product)
    assert 'class="stars"' in page
    assert "★★★★" in page and "★★★★★" not in page
    assert "555/QĐ-UBND" in page
    assert json_ld(page)["award"] == "OCOP 4★ (555/QĐ-UBND)"
    # Listing card shows them too.
    assert "★★★★" in html(client.get("/"))

    rec.valid_until = local_today() - dt.timedelta(days=1)
    s.commit()
    page = product_page(client, product)
    assert 'class="stars"' not in page
    assert "★" not in page
    assert "555/QĐ-UBND" not in page
    assert "award" not in json_ld(page)
    assert "★" not in html(client.get("/"))


def test_product_page_hides_revoked_recognition(world, client, db):
    recognise(db.session, world.published_a, 3, local_today() + dt.timedelta(days=100), revoked=True)
    db.session.commit()
    assert "★" not in product_page(client, world.published_a)


def test_product_page_lists_only_verified_certifications(world, client, db):
    s = db.session
    today = local_today()
    s.add_all([
        Certification(producer=world.a, product=world.published_a, scheme="vietgap", number="VG-VERIFIED",
                      body="Trung tâm Chứng nhận", verified=True, valid_to=today + dt.timedelta(days=90)),
        Certification(producer=world.a, product=world.published_a, scheme="organic", number="ORG-UNVERIFIED",
                      body="Tổ chức X", verified=False),
        Certification(producer=world.a, product=world.published_a, scheme="haccp", number="HACCP-EXPIRED",
                      body="Tổ chức Y", verified=True, valid_to=today - dt.timedelta(days=1)),
    ])
    s.commit()
    page = product_page(client, world.published_a)
    assert "VG-VERIFIED" in page
    assert "VietGAP" in page
    assert "ORG-UNVERIFIED" not in page
    assert "HACCP-EXPIRED" not in page


def test_product_json_ld(world, client, app):
    page = product_page(client, world.published_a)
    data = json_ld(page)
    assert data["@context"] == "https://schema.org"
    assert data["@type"] == "Product"
    assert data["name"] == "Nem chua Đồng Tiến"
    offers = data["offers"]
    assert offers["@type"] == "Offer"
    assert offers["price"] == 120000
    assert type(offers["price"]) is int
    assert offers["priceCurrency"] == "VND"
    assert offers["availability"] == "https://schema.org/InStock"
    assert offers["url"] == f"{app.config['PUBLIC_BASE_URL']}/p/{world.published_a.slug}"
    assert data["brand"]["name"] == "Hộ Trịnh Văn A"
    assert data["manufacturer"]["address"]["addressLocality"] == "Xã Đồng Tiến"
    assert data["manufacturer"]["address"]["addressCountry"] == "VN"
    assert "award" not in data


def test_product_json_ld_gtin_and_out_of_stock(world, client, db):
    product = publish(db.session, world.a, "Mắm tép", gtin="08935049501015", stock=0)
    db.session.commit()
    data = json_ld(product_page(client, product))
    assert data["gtin14"] == "08935049501015"
    assert data["offers"]["availability"] == "https://schema.org/OutOfStock"


def test_product_json_ld_cannot_break_out_of_script(world, client, db):
    name = "Mứt </script><script>alert(1)</script>"
    product = publish(db.session, world.a, name, description="</SCRIPT> & <!-- -->")
    db.session.commit()
    page = product_page(client, product)
    assert "<script>alert(1)</script>" not in page
    data = json_ld(page)
    assert data["name"] == name


def test_unknown_product_404(world, client):
    assert client.get("/p/khong-co-san-pham-nay").status_code == 404


def test_unpublished_products_404(world, client, db):
    s = db.session
    pending = make_product(s, world.a, "Chờ duyệt", status="pending")
    archived = make_product(s, world.a, "Lưu trữ", status="published")
    service.archive_product(archived)
    s.commit()
    for product in (world.product_a, pending, archived):
        assert client.get(f"/p/{product.slug}").status_code == 404, product.status


def test_product_of_unapproved_producer_404(world, client, db):
    s = db.session
    pending = make_producer(s, "Hộ Mới", status="pending")
    s.flush()
    product = make_product(s, pending, "Sản phẩm hộ mới", status="published")
    s.commit()
    assert client.get(f"/p/{product.slug}").status_code == 404


# ---- producer page ------------------------------------------------------------------------

def test_producer_page(world, client, db):
    response = client.get(f"/producers/{world.a.slug}")
    assert response.status_code == 200
    page = html(response)
    assert "<h1>Hộ Trịnh Văn A</h1>" in page
    assert 'href="tel:0912345678"' in page
    assert "Nem chua Đồng Tiến" in page
    assert f'href="/p/{world.published_a.slug}"' in page
    assert "Gạo nếp cái hoa vàng" not in page      # its draft
    # Member of an approved cooperative: linked.
    assert f'href="/producers/{world.coop.slug}"' in page


def test_producer_page_without_products(world, client):
    response = client.get(f"/producers/{world.coop.slug}")
    assert response.status_code == 200
    assert 'class="empty"' in html(response)


def test_producer_page_of_unknown_or_pending_producer_404(world, client, db):
    pending = make_producer(db.session, "Hộ Chờ", status="pending")
    db.session.commit()
    assert client.get("/producers/khong-co").status_code == 404
    assert client.get(f"/producers/{pending.slug}").status_code == 404


# ---- language -------------------------------------------------------------------------------

def test_default_language_is_vietnamese(world, client):
    assert '<html lang="vi">' in html(client.get("/"))


def test_accept_language_en(world, client):
    response = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in html(response)
    response = client.get(f"/p/{world.published_a.slug}", headers={"Accept-Language": "en"})
    page = html(response)
    assert '<html lang="en">' in page
    assert "₫120,000" in page


def test_accept_language_unknown_falls_back_to_vi(world, client):
    assert '<html lang="vi">' in html(client.get("/", headers={"Accept-Language": "fr, de;q=0.5"}))


def test_language_switch_sets_cookie_and_redirects_locally(world, client):
    response = client.get("/lang/en?next=/p/x")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/p/x"
    assert location.netloc in ("", "localhost")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("lang=en;")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    # The cookie wins over Accept-Language from now on.
    assert '<html lang="en">' in html(client.get("/", headers={"Accept-Language": "vi"}))
    client.get("/lang/vi")
    assert '<html lang="vi">' in html(client.get("/", headers={"Accept-Language": "en"}))


@pytest.mark.parametrize("target", [
    "https://evil.example", "https://evil.example/p/x", "//evil.example", "/\\evil.example",
    "\\\\evil.example", "javascript:alert(1)", "evil.example", "",
])
def test_language_switch_refuses_foreign_next(world, client, target):
    response = client.get("/lang/en", query_string={"next": target})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/"
    assert location.netloc in ("", "localhost")


def test_language_switch_unknown_language_404(client):
    response = client.get("/lang/fr?next=/")
    assert response.status_code == 404
    assert "Set-Cookie" not in response.headers


# ---- headers --------------------------------------------------------------------------------

def test_public_pages_set_no_cookie(world, client):
    for path in ("/", "/?q=gao&stars=3", f"/p/{world.published_a.slug}", f"/producers/{world.a.slug}",
                 "/p/khong-co", "/healthz"):
        response = client.get(path)
        assert response.status_code in (200, 404), path
        assert "Set-Cookie" not in response.headers, path
    response = client.get("/", headers={"Accept-Language": "en"})
    assert "Set-Cookie" not in response.headers


def test_security_headers(world, client):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    directives = {d.strip().split()[0]: d.strip().split()[1:] for d in csp.split(";") if d.strip()}
    script_src = directives.get("script-src", directives.get("default-src"))
    assert script_src is not None
    assert "'unsafe-inline'" not in script_src
    assert "'unsafe-eval'" not in script_src
    assert directives["frame-ancestors"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] in (
        "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin")
    # Error pages carry them as well.
    missing = client.get("/p/khong-co")
    assert missing.status_code == 404
    assert "frame-ancestors 'none'" in missing.headers["Content-Security-Policy"]
    assert missing.headers["X-Content-Type-Options"] == "nosniff"


def test_product_page_inline_script_is_only_json_ld(world, client):
    """With script-src 'self', the only inline <script> must be data (JSON-LD)."""
    page = product_page(client, world.published_a)
    scripts = re.findall(r"<script([^>]*)>", page)
    assert scripts
    for attrs in scripts:
        assert 'type="application/ld+json"' in attrs or "src=" in attrs


def test_trusted_hosts(app_factory):
    app = app_factory(TRUSTED_HOSTS=["market.example"])
    client = app.test_client()
    assert client.get("/", headers={"Host": "market.example"}).status_code == 200
    assert client.get("/", base_url="https://market.example").status_code == 200
    # Refused before routing: the error page must not need url_for (no URL adapter then).
    for kwargs in ({"headers": {"Host": "evil.example"}}, {"base_url": "http://evil.example"}):
        response = client.get("/", **kwargs)
        assert response.status_code == 400
        assert "evil.example" not in response.get_data(as_text=True)
    assert client.get("/p/x", headers={"Host": "evil.example"}).status_code == 400


def test_trusted_hosts_default_allows_any_host(client):
    assert client.get("/", headers={"Host": "anything.example"}).status_code == 200
