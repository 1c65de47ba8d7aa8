"""Accounts: registration, login limits, revocable sessions, password policy, redirects."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from marketplace.models import Producer, User
from tests.conftest import TEST_PASSWORD, login

REGISTRATION = {
    "email": "Nong.Dan@Example.vn", "name": "Nguyễn Văn Nông", "password": "Lua-Chin-Vang-2025",
    "confirm": "Lua-Chin-Vang-2025", "kind": "household", "producer_name": "Hộ Nguyễn Văn Nông",
    "phone": "0912 345 678", "tax_code": "", "province_code": "38", "ward_code": "15724",
}


def test_register_creates_pending_producer_and_owner(client, db):
    r = client.post("/account/register", data=REGISTRATION)
    assert r.status_code == 302 and r.headers["Location"] == "/dashboard/"
    user = db.session.scalars(select(User).where(User.email == "nong.dan@example.vn")).one()
    assert user.producer_role == "owner" and user.role == "producer"
    assert user.producer.status == "pending"
    assert user.producer.slug == "ho-nguyen-van-nong"
    assert user.producer.phone == "0912345678"
    assert user.password_hash.startswith("pbkdf2:sha256:1000")  # the test config's fast hash
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.parametrize("field,value,message", [
    ("password", "short1!", "ít nhất 8 ký tự"),
    ("password", "x" * 129, "tối đa 128"),
    ("password", "matkhau123", "quá phổ biến"),
    ("confirm", "different-2025", "không khớp"),
    ("email", "not-an-email", "Địa chỉ email không hợp lệ"),
    ("phone", "12345", "Số điện thoại không hợp lệ"),
    ("tax_code", "0300588568", "Mã số thuế"),
    ("ward_code", "4", "xã/phường thuộc tỉnh"),       # Hà Nội's ward with province Thanh Hóa
    ("province_code", "999", "Lựa chọn không hợp lệ"),
    ("kind", "officer", "Lựa chọn không hợp lệ"),
])
def test_register_bad_input_shows_field_error_and_saves_nothing(client, db, field, value, message):
    data = dict(REGISTRATION, **{field: value})
    if field == "password":
        data["confirm"] = value
    r = client.post("/account/register", data=data)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert message in page
    assert 'class="error"' in page
    assert db.session.scalar(select(User.id)) is None
    assert db.session.scalar(select(Producer.id)) is None


def test_register_duplicate_email_refused(client, world, db):
    r = client.post("/account/register", data=dict(REGISTRATION, email="A@example.vn"))
    assert r.status_code == 200
    assert "đã được đăng ký" in r.get_data(as_text=True)


def test_a_128_character_password_is_not_truncated(client, db):
    long_password = "Ab1-" * 32
    assert len(long_password) == 128
    r = client.post("/account/register", data=dict(REGISTRATION, password=long_password, confirm=long_password))
    assert r.status_code == 302
    client.post("/account/logout")
    other = client.application.test_client()
    r = other.post("/account/login", data={"email": REGISTRATION["email"], "password": long_password[:-1] + "X"})
    assert r.status_code == 200
    r = other.post("/account/login", data={"email": REGISTRATION["email"], "password": long_password})
    assert r.status_code == 302


def test_production_hash_is_scrypt_n_2_17():
    from marketplace import create_app
    from marketplace.passwords import hash_password

    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x"})
    method = app.config["PASSWORD_HASH_METHOD"]
    assert method.startswith("scrypt:")
    n = int(method.split(":")[1])
    assert n >= 2 ** 17
    hashed = hash_password("Lua-Chin-Vang-2025", method)
    assert hashed.startswith(f"scrypt:{n}:8:1$")


def test_login_wrong_password_and_unknown_email_look_the_same(client, world):
    a = client.post("/account/login", data={"email": "a@example.vn", "password": "wrong-password"})
    b = client.post("/account/login", data={"email": "nobody@example.vn", "password": "wrong-password"})
    assert a.status_code == b.status_code == 200
    assert "Email hoặc mật khẩu không đúng" in a.get_data(as_text=True)
    assert "Email hoặc mật khẩu không đúng" in b.get_data(as_text=True)


def test_login_email_is_case_insensitive(client, world):
    login(client, "A@Example.VN")


def _session_cookie(client, name="session"):
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def test_logout_revokes_a_captured_session_cookie(app, world):
    victim = app.test_client()
    login(victim, "a@example.vn")
    stolen = _session_cookie(victim)
    assert victim.get("/dashboard/").status_code == 200
    victim.post("/account/logout")

    attacker = app.test_client()
    attacker.set_cookie("session", stolen)
    r = attacker.get("/dashboard/")
    assert r.status_code == 302 and r.headers["Location"].startswith("/account/login")


def test_password_change_revokes_other_sessions_and_remember_cookies(app, world, db):
    phone = app.test_client()
    r = phone.post("/account/login", data={"email": "a@example.vn", "password": TEST_PASSWORD, "remember": "y"})
    assert r.status_code == 302
    remember = phone.get_cookie("remember_token").value
    session = _session_cookie(phone)

    laptop = app.test_client()
    login(laptop, "a@example.vn")
    r = laptop.post("/account/password", data={"current": TEST_PASSWORD, "password": "Mua-Gat-2026-Moi",
                                                "confirm": "Mua-Gat-2026-Moi"})
    assert r.status_code == 302
    assert laptop.get("/dashboard/").status_code == 200  # the browser that changed it stays in

    for cookies in ({"session": session}, {"remember_token": remember}):
        replay = app.test_client()
        for name, value in cookies.items():
            replay.set_cookie(name, value)
        r = replay.get("/dashboard/")
        assert r.status_code == 302 and r.headers["Location"].startswith("/account/login"), cookies
    fresh = app.test_client()
    login(fresh, "a@example.vn", "Mua-Gat-2026-Moi")


def test_password_change_checks_current_password(client, world):
    login(client, "a@example.vn")
    r = client.post("/account/password", data={"current": "wrong", "password": "Mua-Gat-2026-Moi",
                                               "confirm": "Mua-Gat-2026-Moi"})
    assert r.status_code == 200
    assert "Mật khẩu hiện tại không đúng" in r.get_data(as_text=True)


def test_deactivation_ends_sessions(app, world, db):
    user_client = app.test_client()
    login(user_client, "b@example.vn")
    admin = app.test_client()
    login(admin, "admin@example.vn")
    r = admin.post(f"/admin/users/{world.users['producer_b'].id}/active", data={"active": "0"})
    assert r.status_code == 302
    assert user_client.get("/dashboard/").status_code == 302
    r = app.test_client().post("/account/login", data={"email": "b@example.vn", "password": TEST_PASSWORD})
    assert r.status_code == 200  # a deactivated account cannot log in


def test_cookie_flags(app_factory, world):
    app = app_factory(PUBLIC_BASE_URL="https://cho-ocop.example")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    client = app.test_client()
    r = client.post("/account/login", data={"email": "a@example.vn", "password": TEST_PASSWORD, "remember": "y"},
                    base_url="https://cho-ocop.example")
    cookies = r.headers.getlist("Set-Cookie")
    assert cookies
    for c in cookies:
        assert "HttpOnly" in c and "SameSite=Lax" in c and "Secure" in c, c


def test_cookie_not_secure_over_plain_http_by_default(app, world):
    client = app.test_client()
    r = login(client, "a@example.vn")
    for c in r.headers.getlist("Set-Cookie"):
        assert "HttpOnly" in c and "SameSite=Lax" in c and "Secure" not in c


@pytest.mark.parametrize("target,expected", [
    ("/dashboard/products/new", "/dashboard/products/new"),
    ("https://evil.example/phish", "/dashboard/"),
    ("//evil.example/phish", "/dashboard/"),
    ("/\\evil.example", "/dashboard/"),
    ("javascript:alert(1)", "/dashboard/"),
])
def test_next_redirects_only_to_this_site(client, world, target, expected):
    r = client.post("/account/login", query_string={"next": target},
                    data={"email": "a@example.vn", "password": TEST_PASSWORD})
    assert r.status_code == 302
    assert r.headers["Location"] == expected


def test_failed_logins_limited_per_account(app_factory, world):
    app = app_factory(LOGIN_RATE_PER_ACCOUNT="3 per minute", LOGIN_RATE_PER_CLIENT="100 per minute")
    for i in range(3):
        # different clients (addresses), same account
        r = app.test_client().post("/account/login", data={"email": "a@example.vn", "password": "bad"},
                                   environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        assert r.status_code == 200
    r = app.test_client().post("/account/login", data={"email": "a@example.vn", "password": TEST_PASSWORD},
                               environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert r.status_code == 429
    # another account is not affected
    r = app.test_client().post("/account/login", data={"email": "b@example.vn", "password": TEST_PASSWORD},
                               environ_base={"REMOTE_ADDR": "10.0.0.99"})
    assert r.status_code == 302


def test_failed_logins_limited_per_client(app_factory, world):
    app = app_factory(LOGIN_RATE_PER_ACCOUNT="100 per minute", LOGIN_RATE_PER_CLIENT="3 per minute")
    client = app.test_client()
    for i in range(3):
        r = client.post("/account/login", data={"email": f"guess{i}@example.vn", "password": "bad"})
        assert r.status_code == 200
    r = client.post("/account/login", data={"email": "a@example.vn", "password": TEST_PASSWORD})
    assert r.status_code == 429
    assert "Retry-After" in r.headers
    assert "thử lại" in r.get_data(as_text=True)


def test_successful_logins_do_not_count(app_factory, world):
    app = app_factory(LOGIN_RATE_PER_ACCOUNT="2 per minute", LOGIN_RATE_PER_CLIENT="2 per minute")
    for _ in range(5):
        client = app.test_client()
        login(client, "a@example.vn")


def test_logout_needs_post(client, world):
    login(client, "a@example.vn")
    assert client.get("/account/logout").status_code == 405
    assert client.get("/dashboard/").status_code == 200


def test_create_user_cli(runner, db, world):
    r = runner.invoke(args=["create-user", "--email", "New.Officer@example.vn", "--role", "officer",
                            "--password-stdin"], input="Can-Bo-Huyen-2025\n")
    assert r.exit_code == 0, r.output
    user = db.session.scalars(select(User).where(User.email == "new.officer@example.vn")).one()
    assert user.role == "officer"
    r = runner.invoke(args=["create-user", "--email", "staff@example.vn", "--role", "producer",
                            "--producer", world.a.slug, "--password-stdin"], input="Nhan-Vien-2025\n")
    assert r.exit_code == 0, r.output
    assert "staff of" in r.output  # A already has an owner
    r = runner.invoke(args=["create-user", "--email", "x@example.vn", "--role", "admin", "--password-stdin"],
                      input="12345678\n")
    assert r.exit_code != 0 and "too common" in r.output
    r = runner.invoke(args=["create-user", "--email", "y@example.vn", "--role", "producer", "--producer",
                            "no-such-producer", "--password-stdin"], input="Good-Pass-2025\n")
    assert r.exit_code != 0 and "no producer" in r.output


def test_csrf_token_present_in_forms(app_factory):
    app = app_factory(WTF_CSRF_ENABLED=True)
    page = app.test_client().get("/account/login").get_data(as_text=True)
    assert re.search(r'name="csrf_token" type="hidden" value="[^"]+"', page)


def test_login_limits_work_with_redis_storage(app_factory, world):
    """The documented scale path: limits shared by all workers through Redis."""
    import socket
    import uuid

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    app = app_factory(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
                      RATELIMIT_KEY_PREFIX=f"test-{uuid.uuid4().hex}",
                      LOGIN_RATE_PER_ACCOUNT="2 per minute", LOGIN_RATE_PER_CLIENT="100 per minute")
    for _ in range(2):
        assert app.test_client().post("/account/login", data={"email": "a@example.vn", "password": "bad"}).status_code == 200
    # a second app (another worker) sees the same counter
    other = app_factory(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
                        RATELIMIT_KEY_PREFIX=app.config["RATELIMIT_KEY_PREFIX"],
                        LOGIN_RATE_PER_ACCOUNT="2 per minute", LOGIN_RATE_PER_CLIENT="100 per minute")
    r = other.test_client().post("/account/login", data={"email": "a@example.vn", "password": TEST_PASSWORD})
    assert r.status_code == 429
