"""Issue 17, points 1–3, with the Flask test client: setup (`make run PORT=`, the loopback
warning, the demo accounts in the README), buyers (English names searched in both languages,
shelf life in months or years, "Nhắn Zalo", favicon and manifest) and producers (photos chosen
in the new-product form, the upload form above "Gửi duyệt", a message beside the field when no
file is chosen, the pre-flight table as sentences that say "Sẵn sàng")."""
from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path

import lxml.html
import pytest
from PIL import Image
from sqlalchemy import select

from marketplace.config import is_loopback_url
from marketplace.demo import DEMO_ACCOUNTS
from marketplace.i18n import zalo_link
from marketplace.models import Batch, Product, ProductGroup
from tests.conftest import listed, login, make_config, signed_in
from tests.test_api import bearer, token_for

ROOT = Path(__file__).resolve().parent.parent


def jpeg(colour=(200, 120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), colour).save(out, "JPEG")
    return out.getvalue()


def new_product_form(db, producer, **overrides) -> dict:
    group = db.session.scalars(select(ProductGroup.id).where(ProductGroup.code == "1.3")).one()
    data = {"producer_id": str(producer.id), "name": "Mật ong hoa vải Thọ Bình", "group_id": str(group),
            "net_quantity": "500", "unit": "ml", "price_vnd": "180.000", "stock": "10", "origin_ward_code": ""}
    data.update(overrides)
    return data


# ---- setup ----------------------------------------------------------------------------------

@pytest.mark.parametrize("url, loopback", [
    ("http://127.0.0.1:5000", True), ("http://localhost:5310", True), ("http://[::1]:8000", True),
    ("http://0.0.0.0:5000", True), ("http://127.8.9.10", True), ("https://cho-ocop.thanhhoa.gov.vn", False),
    ("http://192.168.1.20:5000", False), ("https://203.0.113.7", False),
])
def test_which_base_urls_phones_cannot_open(url, loopback):
    assert is_loopback_url(url) is loopback


def test_the_default_base_url_follows_the_port(tmp_path, monkeypatch, database_url):
    from marketplace import create_app

    monkeypatch.setenv("PORT", "5310")
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    config = make_config(database_url, tmp_path)
    config.pop("PUBLIC_BASE_URL", None)
    assert create_app(config).config["PUBLIC_BASE_URL"] == "http://127.0.0.1:5310"


def test_make_run_takes_port_and_host():
    plan = subprocess.run(["make", "-n", "run", "PORT=5310", "HOST=0.0.0.0"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    assert "flask run --host 0.0.0.0 --port 5310" in plan and "flask check-base-url" in plan
    default = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "flask run --host 127.0.0.1 --port 5000" in default


def test_check_base_url_warns_only_for_a_loopback_address(app_factory):
    local = app_factory(PUBLIC_BASE_URL="http://127.0.0.1:5000").test_cli_runner().invoke(args=["check-base-url"])
    assert local.exit_code == 0 and "PUBLIC_BASE_URL" in local.output and "phone" in local.output
    public = app_factory(PUBLIC_BASE_URL="https://cho-ocop.example.vn").test_cli_runner().invoke(
        args=["check-base-url"])
    assert public.exit_code == 0 and public.output == ""


def _batch_with_run(db, world):
    from marketplace.stamps.service import issue_run
    from marketplace.trace.service import create_batch
    import datetime as dt
    from decimal import Decimal

    batch = create_batch(db.session, world.published_a, lot_code="LO-17", quantity=Decimal("10"), unit="kg",
                         production_date=dt.date(2026, 11, 1))
    db.session.flush()
    run = issue_run(db.session, batch, 3)
    db.session.commit()
    return batch, run


def test_stamp_pages_warn_while_labels_would_open_on_this_computer_only(app_factory, db, world):
    batch, run = _batch_with_run(db, world)
    batch_id, run_id = batch.id, run.id
    db.session.close()  # other apps of the same database write (their logins)
    for base, warned in (("http://127.0.0.1:5000", True), ("https://cho-ocop.example.vn", False)):
        client = signed_in(app_factory(PUBLIC_BASE_URL=base), "a@example.vn")
        for url in (f"/dashboard/batches/{batch_id}", f"/dashboard/runs/{run_id}"):
            page = client.get(url).get_data(as_text=True)
            assert ('id="loopback-warning"' in page) is warned, (base, url)
            if warned:
                assert "PUBLIC_BASE_URL" in page and base in page


def test_the_run_page_speaks_vietnamese_and_keeps_the_checkbox_beside_its_words(client_a, db, world):
    _batch, run = _batch_with_run(db, world)
    page = lxml.html.fromstring(client_a.get(f"/dashboard/runs/{run.id}").get_data(as_text=True))
    box = page.cssselect('input[name="calibration"]')[0]
    label = box.getparent()
    assert label.tag == "label" and "check" in label.get("class").split()
    assert label.text_content().strip() == "Vẽ khung từng tem (để căn chỉnh máy in)"
    text = page.text_content()
    assert "serial" not in text and "url," not in text
    assert "Tải CSV cho nhà in (mã tem, đường dẫn, lô, sản phẩm)" in text
    css = (ROOT / "static" / "style.css").read_text(encoding="utf-8")
    assert "label.check{display:flex;" in css  # beside, not above (the browser journey measures it)


def test_the_readme_lists_every_demo_account():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for email, password, _role, _producer in DEMO_ACCOUNTS:
        assert re.search(rf"`{re.escape(email)}`\s*\|\s*`{re.escape(password)}`", readme), email


# ---- buyers ---------------------------------------------------------------------------------

@pytest.mark.parametrize("days, vi, en", [
    (730, "24 tháng kể từ ngày sản xuất", "24 months"), (365, "12 tháng", "12 months"),
    (1825, "5 năm", "5 years"), (180, "6 tháng", "6 months"), (540, "18 tháng", "18 months"),
    (45, "45 ngày", "45 days"), (7, "7 ngày", "7 days"),
])
def test_shelf_life_reads_as_a_label_states_it(app, db, world, client, days, vi, en):
    product = world.published_a
    product.shelf_life_days = days
    db.session.commit()
    assert vi in client.get(f"/p/{product.slug}").get_data(as_text=True)
    client.set_cookie("lang", "en")
    english = client.get(f"/p/{product.slug}").get_data(as_text=True)
    assert en in english and "kể từ" not in english


def test_favicon_and_manifest(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and Image.open(io.BytesIO(icon.data)).format == "ICO"
    manifest = client.get("/manifest.webmanifest")
    assert manifest.status_code == 200 and manifest.mimetype == "application/manifest+json"
    data = json.loads(manifest.data)
    assert data["name"] and data["start_url"] == "/" and data["display"] == "standalone"
    for icon in data["icons"]:
        image = Image.open(io.BytesIO(client.get(icon["src"]).data))
        assert f"{image.width}x{image.height}" == icon["sizes"]
    page = client.get("/").get_data(as_text=True)
    assert 'rel="manifest"' in page and 'rel="icon"' in page


def test_english_names_are_shown_and_searched_in_both_languages(client_a, db, world, client):
    response = client_a.post("/dashboard/products/new", data=new_product_form(
        db, world.a, name_en="Lychee blossom honey", description_en="Raw honey from lychee orchards."))
    assert response.status_code == 302
    product = db.session.scalars(select(Product).where(Product.name == "Mật ong hoa vải Thọ Bình")).one()
    assert (product.name_en, product.description_en) == ("Lychee blossom honey", "Raw honey from lychee orchards.")
    listed(product)
    db.session.commit()
    client.set_cookie("lang", "en")
    english = client.get(f"/p/{product.slug}").get_data(as_text=True)
    assert "<h1>Lychee blossom honey</h1>" in english and 'lang="vi">Mật ong hoa vải Thọ Bình' in english
    assert "Raw honey from lychee orchards." in english
    client.set_cookie("lang", "vi")
    assert "<h1>Mật ong hoa vải Thọ Bình</h1>" in client.get(f"/p/{product.slug}").get_data(as_text=True)
    for query in ("honey", "mat ong", "lychee"):
        for language in ("vi", "en"):
            client.set_cookie("lang", language)
            page = client.get(f"/?q={query}").get_data(as_text=True)
            assert f"/p/{product.slug}" in page, (query, language)


ENGLISH_WORDS = {"ingredients_en": "Lychee honey, nothing added.", "storage_instructions_en": "Store in a cool, dry place.",
                 "usage_instructions_en": "Stir into warm water.", "warnings_en": "Not for infants under one year."}


def test_english_pages_give_the_producers_own_english_words(client_a, db, world, client):
    """The stumble: "Storage: Bảo quản nơi khô ráo…" on an English page.  A producer may give
    ingredients, storage, usage and warnings in English too; English pages show those, and
    Vietnamese words only where no English was given (marked lang="vi")."""
    page = lxml.html.fromstring(client_a.get("/dashboard/products/new").get_data(as_text=True))
    english = page.cssselect("details.english")[0]
    assert english.get("open") is None  # folded away until used
    assert {e.get("name") for e in english.cssselect("textarea")} == {"description_en", *ENGLISH_WORDS}
    response = client_a.post("/dashboard/products/new", data=new_product_form(
        db, world.a, ingredients="Mật ong hoa vải nguyên chất.", storage_instructions="Bảo quản nơi khô ráo.",
        usage_instructions="Pha với nước ấm.", warnings="Không dùng cho trẻ dưới một tuổi.", **ENGLISH_WORDS))
    assert response.status_code == 302
    product = db.session.scalars(select(Product).where(Product.name == "Mật ong hoa vải Thọ Bình")).one()
    assert {key: getattr(product, key) for key in ENGLISH_WORDS} == ENGLISH_WORDS
    edit = lxml.html.fromstring(client_a.get(f"/dashboard/products/{product.id}/edit").get_data(as_text=True))
    assert edit.cssselect("details.english")[0].get("open") is not None  # unfolded once filled in
    listed(product)
    db.session.commit()

    def facts(language):
        client.set_cookie("lang", language)
        page = lxml.html.fromstring(client.get(f"/p/{product.slug}").get_data(as_text=True))
        return {dd.get("data-fact"): (dd.text_content(), dd.get("lang")) for dd in page.cssselect("dd[data-fact]")}

    assert facts("en") == {"ingredients": ("Lychee honey, nothing added.", None),
                           "storage": ("Store in a cool, dry place.", None),
                           "usage": ("Stir into warm water.", None),
                           "warnings": ("Not for infants under one year.", None)}
    assert facts("vi")["storage"] == ("Bảo quản nơi khô ráo.", None)
    product.storage_instructions_en = ""
    db.session.commit()
    assert facts("en")["storage"] == ("Bảo quản nơi khô ráo.", "vi")  # no English: Vietnamese, marked so
    officer = signed_in(client.application, "officer@example.vn")
    review = officer.get(f"/admin/products/{product.id}").get_data(as_text=True)
    assert "Not for infants under one year." in review and "Stir into warm water." in review


def test_english_words_through_the_api_and_in_search(app, db, world, client):
    headers = bearer(token_for(db, world.users["producer_a"]))
    body = {"name": "Mật ong hoa vải Thọ Bình", "group_id": int(new_product_form(db, world.a)["group_id"]),
            "net_quantity": 500, "unit": "ml", "price_vnd": 180000, **ENGLISH_WORDS}
    created = client.post("/api/v1/products", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert {key: created.get_json()[key] for key in ENGLISH_WORDS} == ENGLISH_WORDS
    product_id = created.get_json()["id"]
    too_long = client.patch(f"/api/v1/products/{product_id}", json={"warnings_en": "x" * 2001}, headers=headers)
    assert too_long.status_code == 422 and "warnings_en" in json.dumps(too_long.get_json())
    changed = client.patch(f"/api/v1/products/{product_id}", json={"usage_instructions_en": "Eat with a spoon."},
                           headers=headers)
    assert changed.status_code == 200 and changed.get_json()["usage_instructions_en"] == "Eat with a spoon."
    product = db.session.get(Product, product_id)
    listed(product)
    db.session.commit()
    client.set_cookie("lang", "en")
    assert f"/p/{product.slug}" in client.get("/?q=lychee").get_data(as_text=True)  # from ingredients_en


def test_a_zalo_number_gives_a_message_link_beside_the_call(client_a, db, world, client):
    page = client_a.get(f"/dashboard/producers/{world.a.id}").get_data(as_text=True)
    assert 'name="zalo_phone"' in page
    producer = world.a
    producer.zalo_phone = "0912 345 678"
    db.session.commit()
    page = client.get(f"/p/{world.published_a.slug}").get_data(as_text=True)
    assert 'href="https://zalo.me/0912345678"' in page and "Nhắn Zalo" in page
    assert zalo_link("+84 912 345 678") == "https://zalo.me/0912345678" and zalo_link("") == ""
    producer.zalo_phone = ""
    db.session.commit()
    # no message link (the page's "Chia sẻ" line still offers Zalo's share page: sp.zalo.me)
    assert 'href="https://zalo.me/' not in client.get(f"/p/{world.published_a.slug}").get_data(as_text=True)


# ---- producers ------------------------------------------------------------------------------

@pytest.fixture
def client_a(world, client):
    login(client, "a@example.vn")
    return client


def test_photos_are_chosen_in_the_new_product_form(client_a, db, world):
    page = client_a.get("/dashboard/products/new").get_data(as_text=True)
    photos = re.search(r'<input[^>]*name="photos"[^>]*>', page)
    assert 'enctype="multipart/form-data"' in page and photos and "multiple" in photos.group(0)
    data = new_product_form(db, world.a, photos=[(io.BytesIO(jpeg()), "a.jpg", "image/jpeg"),
                                                 (io.BytesIO(jpeg((20, 120, 40))), "b.jpg", "image/jpeg"),
                                                 (io.BytesIO(b"not an image"), "c.jpg", "image/jpeg")])
    response = client_a.post("/dashboard/products/new", data=data, content_type="multipart/form-data",
                             follow_redirects=True)
    page = response.get_data(as_text=True)
    product = db.session.scalars(select(Product).where(Product.name == "Mật ong hoa vải Thọ Bình")).one()
    assert len(product.photos) == 2  # the bad file is refused, the product and the others kept
    assert "c.jpg" in page and "2 ảnh" in page
    assert page.count('class="photo-list"') == 1 and page.count("-t.jpg") >= 2  # previews, no script


def test_the_upload_form_sits_above_the_submit_button_and_says_when_nothing_was_chosen(client_a, world):
    url = f"/dashboard/products/{world.product_a.id}"
    page = client_a.get(url).get_data(as_text=True)
    assert page.index("Tải ảnh lên") < page.index("Gửi duyệt")
    response = client_a.post(f"{url}/photos", data={"photo": (io.BytesIO(b""), "")},
                             content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and "Chưa chọn ảnh nào" in page and 'id="photo-error"' in page
    response = client_a.post(f"{url}/photos", data={"photo": [(io.BytesIO(jpeg()), "a.jpg"),
                                                              (io.BytesIO(jpeg((9, 9, 9))), "b.jpg")]},
                             content_type="multipart/form-data", follow_redirects=True)
    assert "Đã thêm 2 ảnh." in response.get_data(as_text=True)


def test_the_exchange_table_reads_as_sentences_and_says_ready(client_a, db, world):
    page = client_a.get(f"/dashboard/products/{world.published_a.id}").get_data(as_text=True)
    table = page[page.index('class="exchange-listing"'):]
    table = table[:table.index("</table>")]
    # No photo: the exchanges that need one say so once, without repeating their own name.
    assert "Sàn sẽ không nhận: thiếu ảnh sản phẩm." in table
    assert "Postmart: thiếu" not in table and "Postmart (Bưu điện Việt Nam): " not in table
    assert "Sẵn sàng." in table  # DFC takes it without a photo
    officer = signed_in(client_a.application, "officer@example.vn")
    assert "Postmart: thiếu ảnh sản phẩm" in officer.get("/admin/exchanges").get_data(as_text=True)


def test_a_draft_shows_what_each_exchange_would_say_once_published(client_a, world):
    page = client_a.get(f"/dashboard/products/{world.product_a.id}").get_data(as_text=True)
    assert "Khi được đăng, sàn sẽ không nhận: thiếu ảnh sản phẩm." in page
    assert "Sẵn sàng cho sàn này khi được đăng." in page


@pytest.mark.parametrize("zalo, saved", [("0912 345 678", "0912345678"), ("zalo-của-tôi", None), ("12", None)])
def test_the_zalo_number_is_checked_like_a_phone(client_a, db, world, zalo, saved):
    producer = world.a
    data = {"kind": producer.kind, "name": producer.name, "representative": "Trịnh Văn A", "tax_code": "",
            "phone": "0912345601", "zalo_phone": zalo, "email": "", "address_line": "Thôn 3",
            "province_code": str(producer.province_code), "ward_code": str(producer.ward_code), "description": ""}
    response = client_a.post(f"/dashboard/producers/{producer.id}", data=data)
    db.session.expire_all()
    if saved is None:
        assert response.status_code in (200, 422) and 'id="zalo_phone-error"' in response.get_data(as_text=True)
        assert db.session.get(type(producer), producer.id).zalo_phone == ""  # nothing saved
    else:
        assert response.status_code == 302 and db.session.get(type(producer), producer.id).zalo_phone == saved
