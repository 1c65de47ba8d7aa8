"""Issue 18, point 4: a second factor for the accounts that can do the most harm.

Officers and admins give a time-based one-time code (RFC 6238) after their password, enrol
with a QR any authenticator app reads, get ten single-use recovery codes; wrong codes are
rate-limited; enrolment, recovery codes and an admin's reset are audited; producers may turn
it on; API tokens are unaffected.  Codes are made here with ``pyotp`` from the secret the QR
carries, decoded with zxing-cpp (independent readers of what the service shows)."""
from __future__ import annotations

import datetime as dt
import re

import lxml.html
import pyotp
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select, update

from marketplace import two_factor
from marketplace.models import AuditEntry, RecoveryCode, User
from tests.conftest import TEST_PASSWORD, TEST_TOTP_SECRET, fresh_code, login, make_user, signed_in
from tests.test_api import bearer, token_for
from tests.test_routes_matrix import ENTRIES, LOGIN, rich_world  # noqa: F401  (a fixture)

SECRET = TEST_TOTP_SECRET


def page_of(response):
    return lxml.html.fromstring(response.get_data(as_text=True))


def password_only(client, email: str):
    response = client.post("/account/login", data={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 302
    return response


def audit_actions(db, action: str) -> list[AuditEntry]:
    return db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)).all()


# ---- the code, after the password ---------------------------------------------------------------

def _officer_pages(world) -> list[str]:
    """Every GET route an officer or an admin may open (from the route matrix)."""
    urls = []
    for endpoint, (build, methods) in ENTRIES.items():
        access = methods.get("GET")
        if access and access.get("anonymous") == LOGIN and access.get("producer_a") in (403, 404) \
                and 200 in (access.get("officer"), access.get("admin")):
            urls.append(build(world))
    return urls


@pytest.mark.parametrize("email", ["officer@example.vn", "admin@example.vn"])
def test_the_password_alone_never_reaches_an_officer_page(app, db, rich_world, client, email):
    world = rich_world
    response = password_only(client, email)
    assert response.headers["Location"] == "/account/two-factor"
    assert "remember_token" not in response.headers.get("Set-Cookie", "")
    pages = _officer_pages(world)
    assert len(pages) >= 20
    for url in [*pages, "/account/", "/account/tokens"]:
        reached = client.get(url)
        assert reached.status_code == 302 and reached.headers["Location"].startswith("/account/login"), url
    # With the code, the same pages open.
    assert client.post("/account/two-factor", data={"code": fresh_code(email)}).status_code == 302
    assert client.get("/admin/").status_code == 200


def test_the_right_code_logs_in_and_keeps_next_and_remember(app, db, world, client):
    response = client.post("/account/login?next=/admin/products", data={
        "email": "officer@example.vn", "password": TEST_PASSWORD, "remember": "y"})
    assert response.headers["Location"] == "/account/two-factor"
    page = page_of(client.get("/account/two-factor"))
    code_input = page.cssselect('input[name="code"]')[0]
    assert code_input.get("autocomplete") == "one-time-code" and code_input.get("inputmode") == "numeric"
    done = client.post("/account/two-factor", data={"code": fresh_code("officer@example.vn")})
    assert done.status_code == 302 and done.headers["Location"] == "/admin/products"
    assert "remember_token=" in done.headers.get("Set-Cookie", "")


def test_a_replayed_code_is_refused(app, db, world):
    code = fresh_code("officer@example.vn")
    first = app.test_client()
    password_only(first, "officer@example.vn")
    assert first.post("/account/two-factor", data={"code": code}).status_code == 302
    second = app.test_client()  # the same code, seen over a shoulder, in the same 30 seconds
    password_only(second, "officer@example.vn")
    replayed = second.post("/account/two-factor", data={"code": code})
    assert replayed.status_code == 422
    assert "đã được dùng" in replayed.get_data(as_text=True)
    assert second.get("/admin/").status_code == 302


def test_wrong_codes_are_limited(app, db, world, client):
    password_only(client, "officer@example.vn")
    good = fresh_code("officer@example.vn")
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    odd = client.post("/account/two-factor", data={"code": "¹²³⁴⁵⁶"})  # not digits a phone's app shows
    assert odd.status_code == 422 and "Mã không đúng" in odd.get_data(as_text=True)
    statuses = [client.post("/account/two-factor", data={"code": wrong}).status_code for _ in range(5)]
    assert statuses == [422] * 4 + [429]
    assert client.post("/account/two-factor", data={"code": good}).status_code == 429  # even the right one, now


def test_the_half_way_state_expires(app_factory, db, world):
    app = app_factory(TWO_FACTOR_PENDING_SECONDS=-1)
    client = app.test_client()
    password_only(client, "officer@example.vn")
    late = client.post("/account/two-factor", data={"code": fresh_code("officer@example.vn")})
    assert late.status_code == 302 and late.headers["Location"] == "/account/login"


# ---- enrolment ----------------------------------------------------------------------------------

def _enrol(client, db, tmp_path) -> tuple[str, list[str]]:
    """Read the QR like a phone (zxing-cpp), answer with the app's code (pyotp)."""
    page = client.get("/account/two-factor/setup")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    svg = re.search(r'<figure class="totp-qr".*?(<svg.*?</svg>)', html, re.S).group(1)
    uri = _decode_svg_qr(svg, tmp_path)
    assert uri.startswith("otpauth://totp/")
    totp = pyotp.parse_uri(uri)
    assert totp.digits == 6 and totp.interval == 30 and totp.issuer == "Chợ OCOP Thanh Hóa"
    typed = page_of(page).get_element_by_id("totp-secret").text_content().replace(" ", "")
    assert typed == totp.secret  # the key to type by hand is the QR's
    done = client.post("/account/two-factor/setup", data={"code": totp.now()})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = [li.text_content() for li in page_of(done).cssselect("#recovery-codes li")]
    return totp.secret, codes


def _decode_svg_qr(svg: str, tmp_path) -> str:
    """Rasterise our SVG's runs (one path of rectangles) and decode it with zxing-cpp."""
    size = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).group(1))
    scale = 8
    image = Image.new("L", (size * scale, size * scale), 255)
    pixels = image.load()
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)", svg):
        for dx in range(int(n) * scale):
            for dy in range(scale):
                pixels[int(x) * scale + dx, int(y) * scale + dy] = 0
    found = zxingcpp.read_barcodes(image)
    assert found, "no QR found"
    return found[0].text


def test_an_officer_without_a_second_factor_enrols_at_login(app, db, world, client, tmp_path):
    officer = make_user(db.session, "moi@example.vn", role="officer")
    officer.clear_second_factor()
    db.session.commit()
    response = password_only(client, "moi@example.vn")
    assert response.headers["Location"] == "/account/two-factor/setup"
    assert client.get("/admin/").status_code == 302  # not before enrolling
    wrong = client.post("/account/two-factor/setup", data={"code": "000000"})
    assert wrong.status_code == 422
    secret, codes = _enrol(client, db, tmp_path)
    assert len(codes) == 10 and len(set(codes)) == 10 and all(re.fullmatch(r"[0-9A-Z]{5}-[0-9A-Z]{5}", c) for c in codes)
    assert client.get("/admin/").status_code == 200  # enrolled and logged in
    db.session.expire_all()
    user = db.session.get(User, officer.id)
    assert user.totp_secret == secret and user.has_second_factor
    stored = {c.code_hash for c in user.recovery_codes}
    assert len(stored) == 10 and not any(code in str(stored) for code in codes)  # hashed, never in clear
    assert [e.actor_email for e in audit_actions(db, "user.2fa_enrol")] == ["moi@example.vn"]


def test_a_recovery_code_works_once(app, db, world, tmp_path):
    officer = make_user(db.session, "khoiphuc@example.vn", role="officer")
    officer.clear_second_factor()
    db.session.commit()
    enrolling = app.test_client()
    password_only(enrolling, "khoiphuc@example.vn")
    _secret, codes = _enrol(enrolling, db, tmp_path)
    phone_lost = app.test_client()
    password_only(phone_lost, "khoiphuc@example.vn")
    used = phone_lost.post("/account/two-factor", data={"code": codes[3].lower().replace("-", " ")},
                           follow_redirects=True)
    assert used.status_code == 200 and "còn 9 mã" in used.get_data(as_text=True)
    again = app.test_client()
    password_only(again, "khoiphuc@example.vn")
    assert again.post("/account/two-factor", data={"code": codes[3]}).status_code == 422
    entries = audit_actions(db, "user.2fa_recovery_code")
    assert [(e.actor_email, e.after) for e in entries] == [("khoiphuc@example.vn", {"left": 9})]
    assert db.session.scalar(select(RecoveryCode.used_at).where(RecoveryCode.used_at.is_not(None))) is not None


# ---- an admin's reset, producers, API tokens ------------------------------------------------------

def test_an_admin_resets_a_lost_second_factor(app, db, world):
    officer_client = signed_in(app, "officer@example.vn")
    officer = db.session.scalars(select(User).where(User.email == "officer@example.vn")).one()
    token = token_for(db, officer)
    admin = signed_in(app, "admin@example.vn")
    assert admin.post(f"/admin/users/{officer.id}/two-factor/reset").status_code == 302
    db.session.expire_all()
    assert not db.session.get(User, officer.id).has_second_factor
    entries = audit_actions(db, "user.2fa_reset")
    assert [(e.actor_email, e.target_id, e.summary) for e in entries] == [("admin@example.vn", officer.id,
                                                                         "officer@example.vn")]
    assert officer_client.get("/admin/").status_code == 302  # its sessions ended
    again = app.test_client()
    assert password_only(again, "officer@example.vn").headers["Location"] == "/account/two-factor/setup"
    assert app.test_client().get("/api/v1/producers", headers=bearer(token)).status_code == 200  # tokens stay
    # Only admins reset.
    assert signed_in(app, "a@example.vn").post(
        f"/admin/users/{officer.id}/two-factor/reset").status_code == 403


def test_api_tokens_need_no_code(app, db, world, client):
    officer = db.session.scalars(select(User).where(User.email == "officer@example.vn")).one()
    assert client.get("/api/v1/products", headers=bearer(token_for(db, officer))).status_code == 200


def test_a_producer_may_turn_it_on_and_off(app, db, world, tmp_path):
    client = signed_in(app, "a@example.vn")  # no code yet
    account = page_of(client.get("/account/"))
    assert account.cssselect('a[href="/account/two-factor/setup"]')
    secret, _codes = _enrol(client, db, tmp_path)
    later = app.test_client()
    assert password_only(later, "a@example.vn").headers["Location"] == "/account/two-factor"
    assert later.get("/dashboard/").status_code == 302
    assert later.post("/account/two-factor", data={"code": _code_now(db, "a@example.vn", secret)}).status_code == 302
    assert later.get("/dashboard/").status_code == 200
    kept = later.post("/account/two-factor/disable", data={"code": "123"})
    assert kept.status_code == 303
    db.session.expire_all()
    assert db.session.scalars(select(User).where(User.email == "a@example.vn")).one().has_second_factor
    off = later.post("/account/two-factor/disable", data={"code": _code_now(db, "a@example.vn", secret)})
    assert off.status_code == 302
    db.session.expire_all()
    assert not db.session.scalars(select(User).where(User.email == "a@example.vn")).one().has_second_factor
    assert [e.actor_email for e in audit_actions(db, "user.2fa_disable")] == ["a@example.vn"]
    assert password_only(app.test_client(), "a@example.vn").headers["Location"] == "/dashboard/"


def _code_now(db, email: str, secret: str) -> str:
    """The app's current code, made acceptable again (the test uses several codes within one
    30-second step; the replay test shows a taken step refused)."""
    db.session.execute(update(User).where(User.email == email).values(totp_last_step=None))
    db.session.commit()
    return pyotp.TOTP(secret).now()


def test_officers_cannot_turn_it_off(app, db, world):
    client = signed_in(app, "officer@example.vn")
    response = client.post("/account/two-factor/disable", data={"code": fresh_code("officer@example.vn")},
                           follow_redirects=True)
    assert "luôn cần xác thực hai bước" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(select(User).where(User.email == "officer@example.vn")).one().has_second_factor


# ---- the codes themselves ------------------------------------------------------------------------

def test_codes_are_accepted_one_step_either_side_and_once():
    now = dt.datetime(2026, 12, 6, 9, 0, 15, tzinfo=dt.timezone.utc)
    step = two_factor.step_at(now)
    totp = pyotp.TOTP(SECRET)
    for offset in (-1, 0, 1):
        code = totp.at(now + dt.timedelta(seconds=30 * offset))
        assert two_factor.verify_code(SECRET, code, now=now, last_step=None) == step + offset
        assert two_factor.verify_code(SECRET, code, now=now, last_step=step + offset) is None  # taken already
    for offset in (-2, 2):
        assert two_factor.verify_code(SECRET, totp.at(now + dt.timedelta(seconds=30 * offset)), now=now,
                                      last_step=None) is None
    spaced = totp.at(now)
    assert two_factor.verify_code(SECRET, f"{spaced[:3]} {spaced[3:]}", now=now, last_step=None) == step
    for junk in ("", "12345", "abcdef", "1234567", None, "¹²³⁴⁵⁶", "①②③④⑤⑥", "١٢٣٤٥٦"):
        assert two_factor.verify_code(SECRET, junk, now=now, last_step=None) is None


def test_recovery_codes_read_as_people_type_them():
    code = "K7M2P-9QX4R"
    assert two_factor.recovery_hash(code) == two_factor.recovery_hash("k7m2p 9qx4r")
    assert two_factor.recovery_hash("K7M2P-9QX41") == two_factor.recovery_hash("K7M2P-9QX4l")  # l read as 1
    assert two_factor.recovery_hash("short") is None and two_factor.recovery_hash("K7M2P-9QX4U") is None


def test_the_command_line_resets_a_lost_second_factor(app, db, world):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reset-second-factor", "--email", "Admin@Example.vn"])
    assert result.exit_code == 0 and "enrols again" in result.output, result.output
    db.session.expire_all()
    admin = db.session.scalars(select(User).where(User.email == "admin@example.vn")).one()
    assert not admin.has_second_factor
    assert [(e.actor_role, e.target_id) for e in audit_actions(db, "user.2fa_reset")] == [("cli", admin.id)]
    again = runner.invoke(args=["reset-second-factor", "--email", "admin@example.vn"])
    assert again.exit_code == 0 and "nothing to reset" in again.output
    missing = runner.invoke(args=["reset-second-factor", "--email", "nobody@example.vn"])
    assert missing.exit_code != 0 and "no user" in missing.output
