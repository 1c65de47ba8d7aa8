"""Officers configure the exchanges in the admin pages (issue 5): push settings, a feed token
and a signing secret shown once, the profile mapping (validated), pre-flight refusals, the
deliveries and their replay; producers see on their product page why an exchange refuses it.
"""
from __future__ import annotations

import json
import re

import lxml.html
import pytest
from sqlalchemy import select

from marketplace.feeds import push
from marketplace.feeds.profiles import profile_of, shipped
from marketplace.feeds.service import find_exchange
from marketplace.models import AuditEntry, Delivery, DeliveryStatus
from tests.conftest import login


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def officer(app, world):
    client = app.test_client()
    login(client, "officer@example.vn")
    return client


def test_the_exchanges_page_lists_all_four_and_the_refusals(officer, world):
    page = text(officer.get("/admin/exchanges"))
    for name in ("Sàn giao dịch nông sản Thanh Hóa", "Postmart", "Google Merchant Center", "Data Food Consortium"):
        assert name in page
    # The world's published product has no photo: Postmart and Google would refuse it.
    assert "Postmart: thiếu ảnh sản phẩm" in page
    assert world.published_a.name in page


def test_push_settings_refuse_private_and_non_http_endpoints(officer, db):
    response = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "http://127.0.0.1:9/x", "enabled": "y"})
    assert response.status_code == 422 and "loopback" in text(response)
    response = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "ftp://example.org/x"})
    assert response.status_code == 422 and "http" in text(response)
    response = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "", "enabled": "y"})
    assert response.status_code == 422 and "Nhập địa chỉ nhận trước khi bật tự động gửi." in text(response)
    exchange = find_exchange(db.session, "postmart")
    db.session.refresh(exchange)
    assert exchange.endpoint_url == "" and not exchange.enabled and exchange.secret is None


def test_enabling_push_shows_a_secret_once_and_queues_the_catalogue(officer, app, db, world):
    app.config["PUSH_ALLOW_PRIVATE"] = True
    response = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "http://127.0.0.1:9/hook",
                                                               "enabled": "y"})
    assert response.status_code == 200
    secret = re.search(r'<code class="secret">([^<]+)</code>', text(response)).group(1)
    exchange = find_exchange(db.session, "postmart")
    db.session.refresh(exchange)
    assert exchange.enabled and exchange.secret == secret and push.valid_secret(secret)
    assert secret not in text(officer.get("/admin/exchanges/postmart"))  # shown once
    queued = db.session.scalars(select(Delivery.product_id).where(Delivery.exchange_id == exchange.id)).all()
    assert queued == [world.published_a.id]
    # Rotating: a new secret, shown once; the old one still signs for a while.
    response = officer.post("/admin/exchanges/postmart/secret")
    rotated = re.search(r'<code class="secret">([^<]+)</code>', text(response)).group(1)
    db.session.refresh(exchange)
    assert rotated != secret and exchange.secret == rotated and exchange.previous_secret == secret


def test_a_feed_token_is_shown_once_and_opens_the_feed(officer, app, db):
    assert officer.get("/feeds/thanhhoa.json").status_code == 401
    response = officer.post("/admin/exchanges/thanhhoa/token")
    token = re.search(r'<code class="secret">([^<]+)</code>', text(response)).group(1)
    assert token.startswith("feed_")
    assert token not in text(officer.get("/admin/exchanges/thanhhoa"))
    feed = app.test_client().get("/feeds/thanhhoa.json", headers={"Authorization": f"Bearer {token}"})
    assert feed.status_code == 200 and "items" in json.loads(feed.get_data())
    again = officer.post("/admin/exchanges/thanhhoa/token")
    assert again.status_code == 200
    assert app.test_client().get("/feeds/thanhhoa.json", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_profile_edits_are_validated_saved_and_reset(officer, db):
    data = shipped("postmart")
    data["fields"].append(["mau_sac", "colour"])
    response = officer.post("/admin/exchanges/postmart/profile", data={"profile": json.dumps(data)})
    assert response.status_code == 422 and "unknown canonical field" in text(response) and "colour" in text(response)
    response = officer.post("/admin/exchanges/postmart/profile", data={"profile": "{not json"})
    assert response.status_code == 422 and "Không phải JSON hợp lệ" in text(response)
    exchange = find_exchange(db.session, "postmart")
    db.session.refresh(exchange)
    assert exchange.profile is None  # nothing saved by a refused edit
    data = shipped("postmart")
    data["fields"][0] = ["ma_hang", "sku"]
    data["required"] = ["sku", "title", "price"]
    response = officer.post("/admin/exchanges/postmart/profile", data={"profile": json.dumps(data)})
    assert response.status_code == 302
    db.session.refresh(exchange)
    assert profile_of(exchange).columns[0] == "ma_hang" and "image_link" not in profile_of(exchange).required
    page = text(officer.get("/admin/exchanges/postmart"))
    assert "Đang dùng hồ sơ đã chỉnh sửa." in page and "ma_hang" in page
    assert officer.post("/admin/exchanges/postmart/profile", data={"reset": "1"}).status_code == 302
    db.session.refresh(exchange)
    assert exchange.profile is None


def test_deliveries_listed_and_a_dead_one_replayed(officer, db, world):
    exchange = find_exchange(db.session, "postmart")
    dead = Delivery(exchange=exchange, product=world.published_a, version=1, status=DeliveryStatus.dead,
                    attempts=7, last_error="HTTP 503: down")
    db.session.add(dead)
    db.session.commit()
    page = text(officer.get("/admin/deliveries?status=dead"))
    assert "HTTP 503: down" in page and world.published_a.name in page and "Gửi lại" in page
    assert officer.post(f"/admin/deliveries/{dead.id}/replay").status_code == 302
    db.session.refresh(dead)
    assert dead.status == DeliveryStatus.pending and dead.attempts == 0
    response = officer.post(f"/admin/deliveries/{dead.id}/replay", follow_redirects=True)
    assert "Chỉ gửi lại được lượt gửi đã hỏng." in text(response)
    assert officer.post("/admin/deliveries/999999/replay").status_code == 404


def test_producers_see_why_an_exchange_refuses_their_product(app, world):
    client = app.test_client()
    login(client, "a@example.vn")
    page = text(client.get(f"/dashboard/products/{world.published_a.id}"))
    assert "Trên các sàn giao dịch" in page
    # The exchange's name is in the row's first column, the refusal in its last.
    name, _state, why, _page = exchange_row(page, "postmart")
    assert name.startswith("Postmart") and why == "Sàn sẽ không nhận: thiếu ảnh sản phẩm."
    english = app.test_client()
    login(english, "a@example.vn")
    english.get("/lang/en?next=/")
    page = text(english.get(f"/dashboard/products/{world.published_a.id}"))
    assert "On the exchanges" in page
    name, _state, why, _page = exchange_row(page, "postmart")
    assert name == "Postmart (Vietnam Post)" and why == "The exchange will not take it: no product photo."


def exchange_row(page: str, code: str) -> list[str]:
    """The cells' text of ``code``'s row in a product page's exchange table."""
    row = lxml.html.fromstring(page).cssselect(f'tr[data-exchange="{code}"]')[0]
    return [" ".join(cell.text_content().split()) for cell in row.cssselect("td")]


def test_other_roles_cannot_reach_the_exchange_pages(app, world):
    client = app.test_client()
    login(client, "a@example.vn")
    assert client.get("/admin/exchanges").status_code == 403
    assert client.post("/admin/exchanges/postmart/token").status_code == 403
    assert app.test_client().get("/admin/exchanges").status_code == 302  # to the login page
    officer = app.test_client()
    login(officer, "officer@example.vn")
    assert officer.get("/admin/exchanges/nowhere").status_code == 404


# ---- the profile as a form (issue 17, point 5) ----------------------------------------------

def profile_form(officer, code="postmart"):
    """The exchange page's profile form, and what a browser would send from it unchanged."""
    page = lxml.html.fromstring(text(officer.get(f"/admin/exchanges/{code}")))
    form = page.cssselect(f'form[action="/admin/exchanges/{code}/fields"]')[0]
    data: dict[str, list[str]] = {}
    for name, value in form.form_values():
        data.setdefault(name, []).append(value)
    return page, form, data


def test_the_profile_is_a_form_and_its_json_is_advanced(officer):
    page, form, data = profile_form(officer)
    shipped_profile = shipped("postmart")
    rows = [(data[f"mapping-{i}-name"][0], data[f"mapping-{i}-canonical"][0])
            for i in range(len(shipped_profile["fields"]) + 3)]
    assert rows == [tuple(f) for f in shipped_profile["fields"]] + [("", "")] * 3  # three empty rows to add
    assert sorted(data["required"]) == sorted(shipped_profile["required"])
    assert len(form.cssselect('input[type="checkbox"][name="required"]')) > len(shipped_profile["required"])
    assert (data["limit_title"], data["limit_description"], data["limit_images"]) == (["120"], ["3000"], ["9"])
    select = form.cssselect('select[name="mapping-0-canonical"]')[0]
    assert "image_link" in [o.get("value") for o in select.cssselect("option")]
    # The raw JSON only inside a <details> ("advanced").
    textarea = page.cssselect('textarea[name="profile"]')[0]
    assert [a.tag for a in textarea.iterancestors()].count("details") == 1


def test_profile_form_round_trip_keeps_categories_and_formats(officer, db):
    exchange = find_exchange(db.session, "postmart")
    _page, _form, data = profile_form(officer)
    assert officer.post("/admin/exchanges/postmart/fields", data=data).status_code == 302
    db.session.refresh(exchange)
    assert exchange.profile is None  # unchanged: still the shipped profile

    edited = {k: v for k, v in shipped("postmart").items() if k != "code"}
    edited["categories"] = {"1.2": "nong-san-tuoi"}
    exchange.set_profile(edited)
    db.session.commit()
    _page, _form, data = profile_form(officer)
    first_empty = len(edited["fields"])
    data.update({f"mapping-{first_empty}-name": ["thue_gtgt"], f"mapping-{first_empty}-canonical": ["vat_rate"],
                 "mapping-1-name": [""], "mapping-1-canonical": [""],  # a row cleared: the field leaves
                 "limit_title": ["100"], "limit_images": [""]})
    data["required"] = [r for r in data["required"] if r != "image_link"]
    response = officer.post("/admin/exchanges/postmart/fields", data=data)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/exchanges/postmart#profile")
    db.session.refresh(exchange)
    profile = profile_of(exchange)
    assert ("thue_gtgt", "vat_rate") in profile.fields and ("product_id", "id") not in profile.fields
    assert profile.limits == {"title": 100, "description": 3000} and "image_link" not in profile.required
    assert profile.categories == {"1.2": "nong-san-tuoi"}
    assert [list(c) for c in profile.category_list] == shipped("postmart")["category_list"]
    assert list(profile.formats) == shipped("postmart")["formats"]
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.summary == "postmart: fields")).one()
    assert entry.actor_email == "officer@example.vn"


@pytest.mark.parametrize("change, message", [
    ({"mapping-0-name": [""]}, "Dòng 1: ghi cả tên trường trên sàn và dữ liệu điền vào"),
    ({"mapping-1-name": ["sku"]}, "Dòng 2: tên trường «sku» đã có ở dòng 1."),
    ({"mapping-0-canonical": ["colour"]}, "Lựa chọn không hợp lệ"),
    ({"limit_images": ["-1"]}, "#limit_images-error"),
    ({"limit_title": ["mười"]}, "#limit_title-error"),
    ({"required": ["sku", "no-such-field"]}, "fieldset.has-error .error"),
])
def test_profile_form_refuses_bad_input_and_saves_nothing(officer, db, change, message):
    _page, _form, data = profile_form(officer)
    data.update(change)
    response = officer.post("/admin/exchanges/postmart/fields", data=data)
    assert response.status_code == 422
    page = lxml.html.fromstring(text(response))
    assert page.cssselect(message) if message.startswith(("#", "fieldset")) else message in text(response)
    assert page.cssselect(".profile-form .error")
    exchange = find_exchange(db.session, "postmart")
    db.session.refresh(exchange)
    assert exchange.profile is None


def test_profile_form_keeps_at_least_one_field_and_xml_names(officer, db):
    _page, _form, data = profile_form(officer)
    emptied = {k: ([""] if k.startswith("mapping-") else v) for k, v in data.items()}
    response = officer.post("/admin/exchanges/postmart/fields", data=emptied)
    assert response.status_code == 422 and "Hãy giữ ít nhất một trường gửi sang sàn." in text(response)
    _page, _form, data = profile_form(officer, "google")  # an XML feed: names are element names
    data["mapping-0-name"] = ["g:mã hàng"]
    response = officer.post("/admin/exchanges/google/fields", data=data)
    assert response.status_code == 422 and "không dùng được làm tên thẻ XML" in text(response)
    for code in ("postmart", "google"):
        exchange = find_exchange(db.session, code)
        db.session.refresh(exchange)
        assert exchange.profile is None


def test_only_officers_save_a_profile(app, world, db):
    client = app.test_client()
    login(client, "a@example.vn")
    assert client.post("/admin/exchanges/postmart/fields", data={"mapping-0-name": "x"}).status_code == 403
    assert app.test_client().post("/admin/exchanges/postmart/fields").status_code == 302  # to the login page
    exchange = find_exchange(db.session, "postmart")
    db.session.refresh(exchange)
    assert exchange.profile is None


def test_exchange_pages_speak_plain_vietnamese(officer):
    for url in ("/admin/exchanges", "/admin/exchanges/postmart", "/admin/deliveries"):
        page = lxml.html.fromstring(text(officer.get(url)))
        for code in page.cssselect("code, textarea"):  # the feeds' addresses, the JSON
            code.drop_tree()
        words = page.get_element_by_id("main").text_content().lower()
        assert "feed" not in words and "endpoint" not in words, url
    page = lxml.html.fromstring(text(officer.get("/admin/exchanges/postmart")))
    button = next(b for b in page.cssselect("button") if b.text_content().strip() == "Đổi khóa ký")
    help_text = page.get_element_by_id(button.get("aria-describedby")).text_content()
    assert "24 giờ" in help_text and "khóa cũ" in help_text
