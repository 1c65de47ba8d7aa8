"""Share previews (issue 20, point 2): product, producer and lot pages carry Open Graph and
Twitter card tags whose picture is a 1200×630 JPEG drawn from the product's photo, kept per
product version; "Chia sẻ" opens Zalo's and Facebook's share pages; the stamp page is never
shared with its serial (its share link is the product page's) and stays small, without
script or cookie."""
from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import html as lxml_html
from PIL import Image

from marketplace.catalogue import previews
from marketplace.catalogue.service import update_product
from tests.test_scan import client, make_run, web  # noqa: F401

BASE = "http://127.0.0.1:5000"  # PUBLIC_BASE_URL of the tests (tests/conftest.py)


def card_of(page: str) -> dict:
    """The page's Open Graph and Twitter tags, read as a crawler reads them."""
    tree = lxml_html.fromstring(page)
    found = {m.get("property") or m.get("name"): m.get("content")
             for m in tree.xpath("//head/meta[@property or @name]")}
    return {k: v for k, v in found.items() if k.startswith(("og:", "twitter:"))}


def share_links(page: str) -> dict:
    tree = lxml_html.fromstring(page)
    return {a.text: a.get("href") for a in tree.xpath('//p[@class="share"]/a')}


def shared(link: str, parameter: str) -> str:
    """The URL a share page is asked to share."""
    (value,) = parse_qs(urlsplit(link).query)[parameter]
    return value


@pytest.fixture
def counted(monkeypatch):
    drawn = []
    real = previews.draw

    def draw(**kwargs):
        drawn.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(previews, "draw", draw)
    return drawn


def test_a_shared_product_page_names_its_picture_and_the_picture_is_right(db, client, world, counted):
    product = world.published_a
    page = client.get(f"/p/{product.slug}").get_data(as_text=True)
    card = card_of(page)
    assert card["og:title"] == product.name and card["og:url"] == f"{BASE}/p/{product.slug}"
    assert card["og:image"] == f"{BASE}/p/{product.slug}/preview.jpg?v={product.version}"
    assert card["twitter:card"] == "summary_large_image" and card["og:image:width"] == "1200"
    assert 0 < len(card["og:description"]) <= 200 and card["og:locale"] == "vi_VN"
    response = client.get(card["og:image"].removeprefix(BASE))
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert response.cache_control.max_age == 31536000 and response.cache_control.public
    picture = Image.open(io.BytesIO(response.data))
    assert picture.format == "JPEG" and picture.size == (1200, 630)
    # name and price in Vietnamese, whatever the language of the page that shared it
    assert counted[-1]["name"] == product.name and counted[-1]["price"] == "120.000\xa0₫ / 1 kg"
    client.get(card["og:image"].removeprefix(BASE), headers={"Accept-Language": "en"})
    assert len(counted) == 1  # drawn once for this version, then kept
    links = share_links(page)
    assert shared(links["Facebook"], "u") == card["og:url"] and shared(links["Zalo"], "href") == card["og:url"]
    assert links["Facebook"].startswith("https://www.facebook.com/sharer/sharer.php?")
    assert links["Zalo"].startswith("https://sp.zalo.me/plugins/share?")


def test_a_new_version_shares_a_new_picture_and_forgets_the_old(db, app, client, world, counted):
    product = world.published_a
    first = card_of(client.get(f"/p/{product.slug}").get_data(as_text=True))["og:image"]
    client.get(first.removeprefix(BASE))
    old_file = previews.path_of(app.config["UPLOAD_DIR"], product.id, product.version)
    assert old_file.exists()
    update_product(db.session, product, {"price_vnd": 95000})
    db.session.commit()
    second = card_of(client.get(f"/p/{product.slug}").get_data(as_text=True))["og:image"]
    assert second != first and second.endswith(f"v={product.version}")
    assert client.get(second.removeprefix(BASE)).status_code == 200
    assert counted[-1]["price"].startswith("95.000") and len(counted) == 2
    assert not old_file.exists()
    stale = client.get(first.removeprefix(BASE))  # an old link still gets the current picture, not for long
    assert stale.status_code == 200 and stale.cache_control.max_age == 300


def test_an_unlisted_products_picture_is_not_served(db, client, world):
    assert client.get(f"/p/{world.product_a.slug}/preview.jpg").status_code == 404  # a draft


def test_producer_and_lot_pages_carry_cards_and_share_links(db, client, world):
    batch, _run, _serials = make_run(db, world, 1)
    producer = world.a
    page = client.get(f"/producers/{producer.slug}").get_data(as_text=True)
    card = card_of(page)
    assert card["og:title"] == producer.name and card["og:url"] == f"{BASE}/producers/{producer.slug}"
    assert re.fullmatch(rf"{BASE}/p/[^/]+/preview\.jpg\?v=\d+", card["og:image"])
    assert set(share_links(page)) == {"Zalo", "Facebook"}
    lot = client.get(f"/lot/{batch.id}").get_data(as_text=True)
    card = card_of(lot)
    assert card["og:url"] == f"{BASE}/lot/{batch.id}" and batch.lot_code in card["og:title"]
    assert card["og:image"] == f"{BASE}/p/{world.product_a.slug}/preview.jpg?v={world.product_a.version}"
    assert client.get(card["og:image"].removeprefix(BASE)).status_code == 200
    assert shared(share_links(lot)["Facebook"], "u") == f"{BASE}/lot/{batch.id}"


def test_the_stamp_page_is_never_shared_with_its_serial(db, client, world):
    _batch, _run, (serial,) = make_run(db, world, 1)
    response = client.get(f"/s/{serial}")
    page = response.get_data(as_text=True)
    assert card_of(page) == {} and 'rel="canonical"' not in page
    links = share_links(page)
    product_url = f"{BASE}/p/{world.product_a.slug}"
    assert shared(links["Facebook"], "u") == product_url and shared(links["Zalo"], "href") == product_url
    assert serial not in "".join(links.values()) and serial[:4] not in "".join(links.values())
    assert len(response.data) <= 30 * 1024 and "<script" not in page and "Set-Cookie" not in response.headers
