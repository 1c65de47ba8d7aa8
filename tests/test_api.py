"""The producer JSON API /api/v1 (issue 7): tokens from the account page, every resource as
its users would call it, tenancy, cursors, error bodies, rate limits and the generated
OpenAPI document with its reference page."""
from __future__ import annotations

import datetime as dt
import io

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from marketplace.api.framework import OPERATIONS
from marketplace.models import ApiToken, AuditEntry, Batch, Product, Stamp, TraceEvent
from marketplace.models.base import hash_token
from tests.conftest import TEST_PASSWORD, listed, signed_in
from tests.test_routes_matrix import add_dead_delivery, add_trace


def token_for(db, user, name="test") -> str:
    token, secret = ApiToken.issue(user, name)
    db.session.add(token)
    db.session.commit()
    return secret


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def api(world, app, db, client):
    """A client with a token per role; ``api.call(role, method, url, **kw)``."""
    tokens = {role: token_for(db, user) for role, user in world.users.items()}

    class Api:
        def call(self, role, method, url, **kwargs):
            headers = dict(kwargs.pop("headers", {}))
            if role is not None:
                headers.update(bearer(tokens[role]))
            db.session.commit()
            return client.open(url, method=method, headers=headers, **kwargs)

    a = Api()
    a.tokens = tokens
    return a


def error_of(response) -> dict:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}, body
    return body["error"]


PRODUCT = {"name": "Mật ong hoa nhãn", "group_id": None, "net_quantity": 0.5, "unit": "bottle", "price_vnd": 150000}


def group_id(db) -> int:
    from marketplace.models import ProductGroup

    return db.session.scalar(select(ProductGroup.id).where(ProductGroup.code == "1.2"))


# ---- tokens ------------------------------------------------------------------------------------

def test_a_token_is_made_on_the_account_page_shown_once_stored_hashed_and_revocable(world, app, db):
    browser = signed_in(app, "a@example.vn")
    page = browser.post("/account/tokens", data={"name": "Phần mềm kho"})
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    secret = html.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert secret.startswith("ocop_pat_") and len(secret) > 40
    stored = db.session.scalar(select(ApiToken))
    assert stored.token_hash == hash_token(secret) and secret not in (stored.hint, stored.token_hash)
    again = browser.get("/account/tokens").get_data(as_text=True)
    assert secret not in again and stored.hint in again and "Phần mềm kho" in again  # shown once

    client = app.test_client()
    db.session.commit()
    assert client.get("/api/v1/producers", headers=bearer(secret)).status_code == 200
    assert browser.post(f"/account/tokens/{stored.id}/revoke").status_code == 302
    refused = client.get("/api/v1/producers", headers=bearer(secret))
    assert refused.status_code == 401 and error_of(refused)["code"] == "unauthorized"
    # another user cannot revoke (or learn of) someone's token
    other = signed_in(app, "b@example.vn")
    assert other.post(f"/account/tokens/{stored.id}/revoke").status_code == 404


@pytest.mark.parametrize("name", ["  ", "x" * 81])
def test_the_token_form_refuses_an_empty_or_overlong_name(name, world, app, db):
    browser = signed_in(app, "a@example.vn")
    page = browser.post("/account/tokens", data={"name": name})
    assert page.status_code == 200 and "ocop_pat_" not in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(ApiToken.id))) == 0


@pytest.mark.parametrize("header", ["", "Bearer", "Bearer nope", "Basic YTpi", "Bearer " + "x" * 500, "bearer  "])
def test_missing_or_wrong_tokens_get_401_with_an_error_body(header, world, app, client):
    response = client.get("/api/v1/products", headers={"Authorization": header} if header else {})
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_deactivated_users_token_stops_working(api, world, db):
    assert api.call("producer_a", "GET", "/api/v1/products").status_code == 200
    world.users["producer_a"].active = False
    db.session.commit()
    assert api.call("producer_a", "GET", "/api/v1/products").status_code == 401


@pytest.mark.parametrize("how", ["password change", "admin reset", "locked by admin", "staff locked by owner"])
def test_ending_every_session_also_revokes_api_tokens(how, api, app, db, world):
    from tests.conftest import make_user

    staff = make_user(db.session, "staff@example.vn", producer=world.a, producer_role="staff")
    db.session.commit()
    api.tokens["staff"] = token_for(db, staff)
    role = "staff" if how == "staff locked by owner" else "producer_a"
    assert api.call(role, "GET", "/api/v1/products").status_code == 200
    if how == "password change":
        browser = signed_in(app, "a@example.vn")
        new = "Mat-khau-moi-2025!"
        assert browser.post("/account/password", data={"current": TEST_PASSWORD,
                                                       "password": new, "confirm": new}).status_code == 302
    elif how == "staff locked by owner":
        browser = signed_in(app, "a@example.vn")
        assert browser.post(f"/dashboard/team/{staff.id}/active", data={"active": "0"}).status_code == 302
    else:
        admin = signed_in(app, "admin@example.vn")
        user_id = world.users["producer_a"].id
        url = f"/admin/users/{user_id}/password" if how == "admin reset" else f"/admin/users/{user_id}/active"
        assert admin.post(url, data={"active": "0"}).status_code in (200, 302)
    assert api.call(role, "GET", "/api/v1/products").status_code == 401
    if how == "locked by admin":  # unlocking does not bring old tokens back
        admin.post(f"/admin/users/{world.users['producer_a'].id}/active", data={"active": "1"})
        assert api.call(role, "GET", "/api/v1/products").status_code == 401
    if how == "staff locked by owner":
        browser.post(f"/dashboard/team/{staff.id}/active", data={"active": "1"})
        assert api.call(role, "GET", "/api/v1/products").status_code == 401


def test_logging_out_of_the_browser_keeps_api_tokens(api, app):
    browser = signed_in(app, "a@example.vn")
    assert browser.post("/account/logout").status_code == 302
    assert api.call("producer_a", "GET", "/api/v1/products").status_code == 200


def test_a_browser_session_never_acts_on_the_api(world, app):
    """The API is CSRF-exempt, so a logged-in browser's cookie must not count there."""
    browser = signed_in(app, "a@example.vn")
    assert browser.get("/api/v1/products").status_code == 401
    assert browser.post("/api/v1/products", json={**PRODUCT, "group_id": 3}).status_code == 401


def test_a_token_records_when_it_was_last_used_after_the_answer(api, db, world):
    token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == world.users["producer_a"].id))
    response = api.call("producer_a", "GET", "/api/v1/products")
    db.session.expire_all()
    assert token.last_used_at is None  # a read stays a read: nothing written before the answer
    db.session.commit()
    response.close()  # the server has sent the answer (gunicorn closes every response)
    db.session.expire_all()
    assert token.last_used_at is not None


# ---- products and photos --------------------------------------------------------------------------

def test_a_producer_creates_updates_submits_and_archives_a_product(api, db, world):
    created = api.call("producer_a", "POST", "/api/v1/products", json={**PRODUCT, "group_id": group_id(db)})
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "draft" and body["producer_id"] == world.a.id and body["net_quantity"] == 0.5
    pid, version = body["id"], body["version"]

    changed = api.call("producer_a", "PATCH", f"/api/v1/products/{pid}", json={"price_vnd": 160000, "stock": 7})
    assert changed.status_code == 200
    assert changed.get_json()["price_vnd"] == 160000 and changed.get_json()["version"] == version + 1
    assert api.call("producer_a", "PATCH", f"/api/v1/products/{pid}", json={}).get_json()["version"] == version + 1

    assert api.call("producer_a", "POST", f"/api/v1/products/{pid}/submit").get_json()["status"] == "pending"
    again = api.call("producer_a", "POST", f"/api/v1/products/{pid}/submit")
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    assert api.call("producer_a", "POST", f"/api/v1/products/{pid}/archive").get_json()["status"] == "archived"
    assert db.session.get(Product, pid).status == "archived"


def test_a_cooperative_creates_for_its_member_but_not_for_another_producer(api, db, world):
    for_member = api.call("coop", "POST", "/api/v1/products",
                          json={**PRODUCT, "group_id": group_id(db), "producer_id": world.a.id})
    assert for_member.status_code == 201 and for_member.get_json()["producer_id"] == world.a.id
    for_stranger = api.call("coop", "POST", "/api/v1/products",
                            json={**PRODUCT, "group_id": group_id(db), "producer_id": world.b.id})
    assert for_stranger.status_code == 404
    officer = api.call("officer", "POST", "/api/v1/products", json={**PRODUCT, "group_id": group_id(db)})
    assert officer.status_code == 403


def test_officer_tokens_read_everything_but_change_producers_data_only_where_audited(api, db, world):
    """Officers edit producers' data from the admin pages (audited); through the API they
    read, recall and void (both audited), but do not do a producer's work."""
    add_trace(db.session, world)
    pid, bid, serial, status = world.product_a.id, world.batch_a.id, world.serial_a, world.product_a.status
    assert api.call("officer", "GET", f"/api/v1/products/{pid}").status_code == 200
    for method, url, body in [("PATCH", f"/api/v1/products/{pid}", {"price_vnd": 1}),
                              ("POST", f"/api/v1/products/{pid}/submit", None),
                              ("POST", f"/api/v1/products/{pid}/archive", None),
                              ("POST", "/api/v1/batches", {"product_id": pid, "lot_code": "X1", "quantity": 1,
                                                           "unit": "kg", "production_date": "2025-01-01"}),
                              ("PATCH", f"/api/v1/batches/{bid}", {"quantity": 2}),
                              ("POST", f"/api/v1/batches/{bid}/close", None),
                              ("POST", f"/api/v1/batches/{bid}/events", {"kind": "care",
                                                                          "occurred_at": "2025-10-02T08:00:00+07:00"}),
                              ("POST", f"/api/v1/batches/{bid}/stamp-runs", {"count": 1})]:
        refused = api.call("officer", method, url, **({"json": body} if body is not None else {}))
        assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden", (method, url)
    assert db.session.get(Product, pid).price_vnd == 120000 and db.session.get(Product, pid).status == status
    assert api.call("officer", "POST", f"/api/v1/stamps/{serial}/void").get_json()["status"] == "void"
    assert api.call("officer", "POST", f"/api/v1/batches/{bid}/recall", json={"reason": "Kiểm tra"}).status_code == 200
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"stamps.void", "batch.recall"} <= actions


@pytest.mark.parametrize("payload,fields", [
    ({"name": "ab", "group_id": 3, "net_quantity": 1, "unit": "kg", "price_vnd": 1}, {"name"}),
    ({**PRODUCT, "group_id": 1}, {"group_id"}),  # a top-level group: products go in a sub-group
    ({**PRODUCT, "group_id": 999999}, {"group_id"}),
    ({**PRODUCT, "group_id": 3, "price_vnd": "150000"}, {"price_vnd"}),  # strict: a number, not a string
    ({**PRODUCT, "group_id": 3, "unit": "tấn"}, {"unit"}),
    ({**PRODUCT, "group_id": 3, "gtin": "8936045100913"}, {"gtin"}),  # wrong check digit
    ({**PRODUCT, "group_id": 3, "origin_ward_code": 99999}, {"origin_ward_code"}),
    ({**PRODUCT, "group_id": 3, "status": "published"}, {"status"}),  # officer-owned: refused, not ignored
    ({**PRODUCT, "group_id": 3, "net_quantity": -1, "stock": -5}, {"net_quantity", "stock"}),
    ({**PRODUCT, "group_id": 3, "net_quantity": 0.0004}, {"net_quantity"}),  # would round to 0
    ({"name": "Mật ong"}, {"group_id", "net_quantity", "unit", "price_vnd"}),
])
def test_invalid_products_get_422_naming_each_field_and_nothing_is_saved(payload, fields, api, db):
    before = db.session.scalar(select(func.count(Product.id)))
    response = api.call("producer_a", "POST", "/api/v1/products", json=payload)
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "invalid" and set(error["fields"]) == fields, error
    assert all(error["fields"][f] and all(isinstance(m, str) and m for m in error["fields"][f]) for f in fields)
    assert db.session.scalar(select(func.count(Product.id))) == before


def test_error_messages_follow_accept_language(api, db):
    vi = error_of(api.call("producer_a", "POST", "/api/v1/products", json={"name": "Mật ong"}))
    en = error_of(api.call("producer_a", "POST", "/api/v1/products", json={"name": "Mật ong"},
                           headers={"Accept-Language": "en"}))
    assert vi["fields"]["unit"] != en["fields"]["unit"] and en["message"] == "The data is not valid."
    assert en["fields"]["unit"] == ["Required field."]


def test_bodies_must_be_json(api):
    wrong_type = api.call("producer_a", "POST", "/api/v1/products", data="name=x",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415 and error_of(wrong_type)["code"] == "unsupported_media_type"
    broken = api.call("producer_a", "POST", "/api/v1/products", data="{not json", content_type="application/json")
    assert broken.status_code == 422 and error_of(broken)["fields"]
    a_list = api.call("producer_a", "POST", "/api/v1/products", json=[1, 2])
    assert a_list.status_code == 422


def test_another_tenant_gets_404_everywhere(api, db, world):
    add_trace(db.session, world)
    serial, run, batch, product = world.serial_a, world.run_a.id, world.batch_a.id, world.product_a.id
    event, status = world.event_a.id, world.product_a.status
    photo = {"photo": (io.BytesIO(b"x"), "a.jpg")}
    calls = [("GET", f"/api/v1/products/{product}", None), ("PATCH", f"/api/v1/products/{product}", {"stock": 1}),
             ("POST", f"/api/v1/products/{product}/submit", None), ("POST", f"/api/v1/products/{product}/archive", None),
             ("POST", f"/api/v1/products/{product}/photos", "photo"),
             ("GET", f"/api/v1/producers/{world.a.id}", None), ("GET", f"/api/v1/batches/{batch}", None),
             ("POST", "/api/v1/batches", {"product_id": product, "lot_code": "B-1", "quantity": 1, "unit": "kg",
                                          "production_date": "2025-10-01"}),
             ("PATCH", f"/api/v1/batches/{batch}", {"quantity": 1}), ("POST", f"/api/v1/batches/{batch}/close", None),
             ("POST", f"/api/v1/batches/{batch}/recall", {"reason": "x"}),
             ("GET", f"/api/v1/batches/{batch}/events", None),
             ("POST", f"/api/v1/batches/{batch}/events", {"kind": "care", "occurred_at": "2025-10-02T08:00:00+07:00"}),
             ("POST", f"/api/v1/batches/{batch}/stamp-runs", {"count": 1}),
             ("GET", f"/api/v1/stamp-runs/{run}", None), ("GET", f"/api/v1/stamp-runs/{run}/stamps.csv", None),
             ("GET", f"/api/v1/stamp-runs/{run}/stamps.pdf", None), ("GET", f"/api/v1/stamps/{serial}", None),
             ("POST", f"/api/v1/stamps/{serial}/void", None)]
    for method, url, body in calls:
        if body == "photo":
            kwargs = {"data": dict(photo), "content_type": "multipart/form-data"}
        else:
            kwargs = {"json": body} if body is not None else {}
        refused = api.call("producer_b", method, url, **kwargs)
        assert refused.status_code == 404, (method, url, refused.get_json())
        assert error_of(refused)["code"] == "not_found" and world.product_a.name not in refused.get_data(as_text=True)
    # B's own batch cannot take a diary entry that corrects A's entry
    own = api.call("producer_b", "POST", "/api/v1/batches", json={
        "product_id": world.product_b.id, "lot_code": "B-1", "quantity": 1, "unit": "kg", "production_date": "2025-10-01"})
    correcting = api.call("producer_b", "POST", f"/api/v1/batches/{own.get_json()['id']}/events", json={
        "kind": "care", "occurred_at": "2025-10-02T08:00:00+07:00", "corrects_id": event})
    assert correcting.status_code == 422 and "corrects_id" in error_of(correcting)["fields"]
    # nothing of A's changed
    db.session.expire_all()
    assert db.session.get(Product, product).status == status and db.session.get(Product, product).stock == 10
    assert db.session.get(Batch, batch).status == "open" and db.session.get(Batch, batch).quantity == 10
    assert db.session.scalar(select(Stamp.status).where(Stamp.serial == serial)) == "issued"
    assert db.session.scalar(select(func.count(TraceEvent.id)).where(TraceEvent.batch_id == batch)) == 1
    lists = api.call("producer_b", "GET", "/api/v1/products").get_json()["data"]
    assert {p["producer_id"] for p in lists} == {world.b.id}
    # the cooperative acts for its member A: the same calls are its own
    for method, url, body in calls[:2] + calls[6:7] + calls[11:12] + calls[14:15] + calls[17:18]:
        assert api.call("coop", method, url, **({"json": body} if body else {})).status_code == 200, url


def _jpeg(size=(800, 600)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def test_photo_upload_stores_a_reencoded_photo_and_refuses_non_images(api, db, world, app):
    pid = world.product_a.id
    ok = api.call("producer_a", "POST", f"/api/v1/products/{pid}/photos",
                  data={"photo": (io.BytesIO(_jpeg()), "anh.jpg")}, content_type="multipart/form-data")
    assert ok.status_code == 201, ok.get_json()
    photo = ok.get_json()
    assert photo["url"].endswith(".jpg") and photo["position"] == 1
    media = app.test_client().get(photo["url"].removeprefix("http://127.0.0.1:5000"))
    assert media.status_code == 200 and media.data[:2] == b"\xff\xd8"
    bad = api.call("producer_a", "POST", f"/api/v1/products/{pid}/photos",
                   data={"photo": (io.BytesIO(b"MZ not an image"), "virus.jpg")}, content_type="multipart/form-data")
    assert bad.status_code == 422 and "photo" in error_of(bad)["fields"]
    missing = api.call("producer_a", "POST", f"/api/v1/products/{pid}/photos", data={},
                       content_type="multipart/form-data")
    assert missing.status_code == 422 and "photo" in error_of(missing)["fields"]
    assert len(api.call("producer_a", "GET", f"/api/v1/products/{pid}").get_json()["photos"]) == 1


# ---- batches, diary, stamps ---------------------------------------------------------------------------

def test_batch_diary_stamps_and_recall_through_the_api(api, db, world, app):
    pid = listed(world.product_a).id  # stamps are issued for listed products only
    db.session.commit()
    made = api.call("producer_a", "POST", "/api/v1/batches", json={
        "product_id": pid, "lot_code": "dt-2025-09", "quantity": 120.5, "unit": "kg", "production_date": "2025-09-20"})
    assert made.status_code == 201, made.get_json()
    batch = made.get_json()
    assert batch["lot_code"] == "DT-2025-09" and batch["status"] == "open"
    bid = batch["id"]
    duplicate = api.call("producer_a", "POST", "/api/v1/batches", json={
        "product_id": pid, "lot_code": "DT-2025-09", "quantity": 1, "unit": "kg", "production_date": "2025-09-20"})
    assert duplicate.status_code == 409 and "lot_code" in error_of(duplicate)["fields"]
    future = api.call("producer_a", "POST", "/api/v1/batches", json={
        "product_id": pid, "lot_code": "X", "quantity": 1, "unit": "kg", "production_date": "2999-01-01"})
    assert future.status_code == 422 and "production_date" in error_of(future)["fields"]

    fixed = api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"growing_area": "Thửa 12", "quantity": 118})
    assert fixed.get_json()["growing_area"] == "Thửa 12" and fixed.get_json()["quantity"] == 118

    harvest = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/events", json={
        "kind": "harvest", "occurred_at": "2025-09-20T06:30:00+07:00", "place": "Đồng Tiến"})
    assert harvest.status_code == 201 and harvest.get_json()["seq"] == 1
    no_input = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/events", json={
        "kind": "input", "occurred_at": "2025-09-21T06:30:00+07:00"})
    assert no_input.status_code == 422 and "details.input_name" in error_of(no_input)["fields"]
    naive = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/events", json={
        "kind": "harvest", "occurred_at": "2025-09-20T06:30:00"})
    assert naive.status_code == 422 and "occurred_at" in error_of(naive)["fields"]
    fix = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/events", json={
        "kind": "harvest", "occurred_at": "2025-09-20T07:00:00+07:00", "corrects_id": harvest.get_json()["id"]})
    assert fix.status_code == 201 and fix.get_json()["corrects_id"] == harvest.get_json()["id"]
    diary = api.call("producer_a", "GET", f"/api/v1/batches/{bid}/events").get_json()["data"]
    assert [e["seq"] for e in diary] == [1, 2]
    from marketplace.trace.service import verify_chain

    assert verify_chain(db.session, bid).ok

    run = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/stamp-runs", json={"count": 30})
    assert run.status_code == 201 and run.get_json()["stamps"] == {"issued": 30}
    run_id = run.get_json()["id"]
    csv_text = api.call("producer_a", "GET", f"/api/v1/stamp-runs/{run_id}/stamps.csv").get_data(as_text=True)
    rows = csv_text.strip().splitlines()
    assert rows[0] == "serial,url,lot,product" and len(rows) == 31
    serial, url = rows[1].split(",")[:2]
    pdf = api.call("producer_a", "GET", f"/api/v1/stamp-runs/{run_id}/stamps.pdf?layout=roll-40x25")
    assert pdf.status_code == 200 and pdf.data[:5] == b"%PDF-" and pdf.mimetype == "application/pdf"
    bad_layout = api.call("producer_a", "GET", f"/api/v1/stamp-runs/{run_id}/stamps.pdf?layout=a3")
    assert bad_layout.status_code == 422 and "layout" in error_of(bad_layout)["fields"]
    too_many = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/stamp-runs", json={"count": 100001})
    assert too_many.status_code == 422 and "count" in error_of(too_many)["fields"]

    stamp = api.call("producer_a", "GET", f"/api/v1/stamps/{serial.lower()}").get_json()
    assert stamp["serial"] == serial and stamp["url"] == url and stamp["status"] == "issued"
    voided = api.call("producer_a", "POST", f"/api/v1/stamps/{serial}/void")
    assert voided.get_json()["status"] == "void"
    db.session.commit()
    assert "Tem đã bị hủy" in app.test_client().get(f"/s/{serial}").get_data(as_text=True)
    assert api.call("producer_a", "GET", f"/api/v1/stamp-runs/{run_id}").get_json()["stamps"] == {"issued": 29, "void": 1}

    recall = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/recall", json={"reason": "Dư lượng vượt ngưỡng"})
    assert recall.status_code == 200 and recall.get_json()["status"] == "recalled"
    assert db.session.scalar(select(AuditEntry.summary).where(AuditEntry.action == "batch.recall",
                                                               AuditEntry.target_id == bid)).endswith("DT-2025-09")
    db.session.commit()  # SQLite: the stamp page records its scan; hold no lock here
    page = app.test_client().get(f"/s/{rows[2].split(',')[0]}").get_data(as_text=True)
    assert "Dư lượng vượt ngưỡng" in page
    assert api.call("producer_a", "POST", f"/api/v1/batches/{bid}/stamp-runs", json={"count": 1}).status_code == 409
    closed = api.call("producer_a", "POST", f"/api/v1/batches/{bid}/close")
    assert closed.status_code == 409
    assert api.call("producer_a", "POST", f"/api/v1/batches/{bid}/recall", json={"reason": " "}).status_code == 422


def test_batch_corrections(api, db, world):
    add_trace(db.session, world)  # a batch with a stamp run
    bid = world.batch_a.id
    before = api.call("producer_a", "GET", f"/api/v1/batches/{bid}").get_json()
    same = api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"quantity": 10})
    assert same.get_json()["updated_at"] == before["updated_at"]  # nothing changed, nothing moves
    assert api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"growing_area": None}).status_code == 422
    printed = api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"expiry_date": "2026-06-01"})
    assert printed.status_code == 409 and "expiry_date" in error_of(printed)["fields"]  # labels already carry it
    moved = api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"growing_area": "Thửa 7", "quantity": 9.5})
    assert moved.get_json()["quantity"] == 9.5 and moved.get_json()["updated_at"] > before["updated_at"]


def test_close_then_no_more_corrections(api, db, world):
    add_trace(db.session, world)
    bid = world.batch_a.id
    assert api.call("producer_a", "POST", f"/api/v1/batches/{bid}/close").get_json()["status"] == "closed"
    assert api.call("producer_a", "PATCH", f"/api/v1/batches/{bid}", json={"quantity": 2}).status_code == 409
    assert db.session.get(Batch, bid).quantity == 10


# ---- deliveries, catalogue ----------------------------------------------------------------------------

def test_deliveries_are_for_officers(api, db, world):
    add_dead_delivery(db.session, world)
    assert api.call("producer_a", "GET", "/api/v1/deliveries").status_code == 403
    rows = api.call("officer", "GET", "/api/v1/deliveries?status=dead&exchange=postmart").get_json()["data"]
    assert [(d["exchange"], d["status"], d["last_error"]) for d in rows] == [("postmart", "dead", "HTTP 500")]
    assert api.call("officer", "GET", "/api/v1/deliveries?status=delivered").get_json()["data"] == []


def test_the_catalogue_is_public_and_shows_only_published_products(api, world, client):
    response = client.get("/api/v1/catalogue")
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    names = [item["name"] for item in response.get_json()["data"]]
    assert names == [world.published_a.name]
    item = client.get(f"/api/v1/catalogue/{world.published_a.id}").get_json()
    assert item["url"].endswith(f"/p/{world.published_a.slug}") and item["place"]["province"]
    assert client.get(f"/api/v1/catalogue/{world.product_a.id}").status_code == 404  # a draft
    assert client.get("/api/v1/catalogue?q=nem").get_json()["data"][0]["id"] == world.published_a.id


# ---- cursors, filters, generic errors ------------------------------------------------------------------

def test_cursor_pagination_walks_every_item_once(api, db, world):
    for i in range(7):
        api.call("producer_a", "POST", "/api/v1/products", json={**PRODUCT, "name": f"Sản phẩm {i}", "group_id": group_id(db)})
    seen, url, pages = [], "/api/v1/products?limit=3", 0
    while url:
        body = api.call("producer_a", "GET", url).get_json()
        seen += [p["id"] for p in body["data"]]
        pages += 1
        url = f"/api/v1/products?limit=3&cursor={body['next_cursor']}" if body["next_cursor"] else None
    expected = list(db.session.scalars(select(Product.id).where(Product.producer_id == world.a.id).order_by(Product.id)))
    assert seen == expected and len(seen) == 9 and pages == 3


@pytest.mark.parametrize("query,field", [("cursor=bm9wZQ", "cursor"), ("cursor=eyJhZnRlciI6IC0xfQ", "cursor"),
                                         ("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"),
                                         ("updated_since=yesterday", "updated_since"),
                                         ("updated_since=2025-01-01T00:00:00", "updated_since"),
                                         ("updated_since=0.0", "updated_since"), ("stauts=draft", "stauts"),
                                         ("updated_since=9999-12-31T23:00:00-05:00", "updated_since"),
                                         ("updated_since=0001-01-01T00:00:00%2B05:00", "updated_since"),
                                         ("limit=1&limit=2", "limit")])
def test_bad_list_parameters_get_422_with_the_field(query, field, api):
    response = api.call("producer_a", "GET", f"/api/v1/products?{query}")
    assert response.status_code == 422 and field in error_of(response)["fields"], response.get_json()


@pytest.mark.parametrize("after", [2**31 - 1, 2**31, 2**63 - 1])
def test_a_cursor_beyond_every_key_is_an_empty_last_page(after, api, client):
    import base64
    import json

    cursor = base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")
    for url in (f"/api/v1/catalogue?cursor={cursor}", f"/api/v1/products?cursor={cursor}"):
        response = api.call("producer_a", "GET", url)
        assert response.status_code == 200 and response.get_json() == {"data": [], "next_cursor": None}, url
    assert api.call("officer", "GET", f"/api/v1/deliveries?cursor={cursor}").get_json()["data"] == []


@pytest.mark.parametrize("payload,field", [({"name": "ab"}, "name"), ({"price_vnd": 0}, "price_vnd"),
                                           ({"price_vnd": None}, "price_vnd"), ({"unit": "tấn"}, "unit")])
def test_invalid_patches_name_the_field_itself(payload, field, api, world):
    response = api.call("producer_a", "PATCH", f"/api/v1/products/{world.product_a.id}", json=payload,
                        headers={"Accept-Language": "en"})
    assert response.status_code == 422
    assert list(error_of(response)["fields"]) == [field], error_of(response)


def test_updated_since_returns_only_later_changes(api, db, world):
    """And those of the minute before (a change is stamped before it commits: base.delta_start)."""
    db.session.execute(update(Product).values(updated_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    db.session.commit()
    mark = dt.datetime.now(dt.timezone.utc)
    api.call("producer_a", "PATCH", f"/api/v1/products/{world.product_a.id}", json={"stock": 3})
    since = mark.isoformat().replace("+00:00", "Z")
    ids = [p["id"] for p in api.call("producer_a", "GET", f"/api/v1/products?updated_since={since}").get_json()["data"]]
    assert ids == [world.product_a.id]


def test_unknown_paths_and_methods_answer_in_the_error_shape(api):
    missing = api.call("producer_a", "GET", "/api/v1/nothing-here")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    wrong = api.call("producer_a", "DELETE", "/api/v1/products")
    assert wrong.status_code == 405 and error_of(wrong)["code"] == "method_not_allowed" and "GET" in wrong.headers["Allow"]


def test_rate_limit_per_token_with_retry_after(app_factory, database_url, tmp_path):
    from tests.conftest import make_producer, make_user

    app = app_factory(API_RATE_LIMIT="3 per minute")
    with app.app_context():
        from marketplace.extensions import db

        p = make_producer(db.session, "Hộ A")
        db.session.flush()
        one, two = make_user(db.session, "one@example.vn", producer=p), make_user(db.session, "two@example.vn", producer=p)
        db.session.commit()
        first, second = token_for(db, one), token_for(db, two)
    client = app.test_client()
    codes = [client.get("/api/v1/products", headers=bearer(first)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/batches", headers=bearer(first))  # one budget for every operation
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0 and error_of(limited)["code"] == "rate_limited"
    assert client.get("/api/v1/products", headers=bearer(second)).status_code == 200  # its own budget


def test_api_answers_carry_security_headers_and_no_cookie(api):
    from marketplace.security import SECURITY_HEADERS

    response = api.call("producer_a", "GET", "/api/v1/products")
    for name, _value in SECURITY_HEADERS:
        assert name in response.headers
    assert "Set-Cookie" not in response.headers and response.headers["Cache-Control"] == "no-store"


# ---- the document and the reference page -----------------------------------------------------------------

def test_the_openapi_document_covers_every_api_route_and_nothing_else(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0"
    documented = {(m.upper(), "/api/v1" + p) for p, methods in doc["paths"].items() for m in methods}
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint not in ("api.openapi_json", "api.reference"):
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", "{" + arg + "}").replace(f"<{arg}>", "{" + arg + "}")
            routed |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == routed
    assert len(OPERATIONS) == len(documented)
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            assert op["responses"] and op["summary"] and op["operationId"], (method, path)
            if op.get("security") != []:
                assert "401" in op["responses"]


def test_the_openapi_document_is_valid_openapi_31(client):
    import schemathesis

    doc = client.get("/api/v1/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI 3.1 meta-schema
    assert sum(1 for result in schema.get_all_operations() if result.ok()) == len(OPERATIONS)
    from jsonschema import Draft202012Validator

    for name, component in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(component)


def test_the_document_describes_the_api_and_each_parameter_its_own(client):
    """The document's description is the API's, not the last query parameter's (a local
    variable once shadowed it)."""
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["info"]["description"].startswith("Products, batches, diaries and traceability stamps")
    params = {p["name"]: p.get("description") for op in doc["paths"].values() for entry in op.values()
              if isinstance(entry, dict) for p in entry.get("parameters", []) if p["in"] == "query"}
    assert params["q"] == "words to search for" and params["part"] == "part of a run over 2,400 stamps"


def test_the_reference_page_lists_every_operation_in_both_languages(client):
    vi = client.get("/api/v1/docs")
    assert vi.status_code == 200 and "<script" not in vi.get_data(as_text=True)
    html = vi.get_data(as_text=True)
    for op in OPERATIONS:
        assert op.summary.replace("'", "&#39;") in html, op.summary
    en = client.get("/api/v1/docs", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Parameters" in en and "Tham số" in html


def test_a_unique_value_taken_by_a_parallel_request_is_a_409(api, db, world, monkeypatch):
    """Two integrations sending the same GTIN at once both pass the check before either
    commits: the database's unique index decides, and the loser gets a 409 naming the field."""
    from marketplace.api import products as routes

    taken = "08936045100912"
    world.published_a.gtin = taken
    db.session.commit()
    monkeypatch.setattr(routes, "_check_product_fields", lambda data, product_id: data)  # the check already passed
    response = api.call("producer_a", "POST", "/api/v1/products", json={**PRODUCT, "group_id": group_id(db),
                                                                        "gtin": taken})
    assert response.status_code == 409 and list(error_of(response)["fields"]) == ["gtin"], response.get_json()
    assert api.call("producer_a", "GET", "/api/v1/products").status_code == 200  # the session is usable again


def test_stamps_with_64_bit_ids_are_found(api, db, world):
    from marketplace.stamps.serials import new_serials

    add_trace(db.session, world)
    serial = new_serials(1)[0]
    db.session.add(Stamp(id=2**31 + 7, serial=serial, run_id=world.run_a.id, batch_id=world.batch_a.id, position=4,
                         status="issued", scan_count=0))
    db.session.commit()
    response = api.call("producer_a", "GET", f"/api/v1/stamps/{serial}")
    assert response.status_code == 200 and response.get_json()["serial"] == serial
    assert api.call("producer_b", "GET", f"/api/v1/stamps/{serial}").status_code == 404


def test_a_lot_code_taken_by_a_parallel_request_is_a_409(api, db, world, monkeypatch):
    from marketplace.trace import service

    add_trace(db.session, world)  # lot LOT-A1 of product A
    real = service.create_batch

    def racing(session, product, **kwargs):  # its check ran before the other request committed
        from marketplace.models import Batch as B

        batch = B(product=product, lot_code=kwargs["lot_code"], quantity=kwargs["quantity"], unit=kwargs["unit"],
                  production_date=kwargs["production_date"])
        session.add(batch)
        return batch

    monkeypatch.setattr(service, "create_batch", racing)
    response = api.call("producer_a", "POST", "/api/v1/batches", json={
        "product_id": world.product_a.id, "lot_code": "LOT-A1", "quantity": 1, "unit": "kg",
        "production_date": "2025-10-01"})
    assert response.status_code == 409 and list(error_of(response)["fields"]) == ["lot_code"], response.get_json()
    monkeypatch.setattr(service, "create_batch", real)
