"""Officers configure the exchanges in the admin pages (issue 5): push settings, a feed token
and a signing secret shown once, the profile mapping (validated), pre-flight refusals, the
deliveries and their replay; producers see on their product page why an exchange refuses it.
"""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from marketplace.feeds import push
from marketplace.feeds.profiles import profile_of, shipped
from marketplace.feeds.service import find_exchange
from marketplace.models import Delivery, DeliveryStatus
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
    assert "Postmart (Bưu điện Việt Nam): thiếu ảnh sản phẩm" in page
    assert world.published_a.name in page


def test_push_settings_refuse_private_and_non_http_endpoints(officer, db):
    response = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "http://127.0.0.1:9/x", "enabled": "y"})
    assert response.status_code == 422 and "loopback" in text(response)
    response = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "ftp://example.org/x"})
    assert response.status_code == 422 and "http" in text(response)
    response = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "", "enabled": "y"})
    assert response.status_code == 422 and "Nhập địa chỉ nhận trước khi bật tự động đẩy." in text(response)
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
    assert "Postmart (Bưu điện Việt Nam): thiếu ảnh sản phẩm" in page
    english = app.test_client()
    login(english, "a@example.vn")
    english.get("/lang/en?next=/")
    page = text(english.get(f"/dashboard/products/{world.published_a.id}"))
    assert "On the exchanges" in page and "Postmart (Vietnam Post): no product photo" in page


def test_other_roles_cannot_reach_the_exchange_pages(app, world):
    client = app.test_client()
    login(client, "a@example.vn")
    assert client.get("/admin/exchanges").status_code == 403
    assert client.post("/admin/exchanges/postmart/token").status_code == 403
    assert app.test_client().get("/admin/exchanges").status_code == 302  # to the login page
    officer = app.test_client()
    login(officer, "officer@example.vn")
    assert officer.get("/admin/exchanges/nowhere").status_code == 404
