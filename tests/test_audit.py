"""The audit trail and structured logs (issue 6): every officer and admin action leaves an
entry with who, when, what and before/after; admins see and export it; login lines are
JSON in UTC; no secret (password, feed token, signing secret, session cookie) appears in an
entry or a log line.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re

import pytest
from sqlalchemy import select

from marketplace import audit
from marketplace.logs import JsonFormatter
from marketplace.models import AuditEntry, Certification, OcopRecognition
from tests.conftest import TEST_PASSWORD, login, signed_in
from tests.test_routes_matrix import add_dead_delivery, add_trace


def entries(db, action=None) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    db.session.expire_all()
    return list(db.session.scalars(stmt))


@pytest.fixture
def officer(app, world):
    return signed_in(app, "officer@example.vn")


@pytest.fixture
def admin(app, world):
    return signed_in(app, "admin@example.vn")


def test_each_officer_action_is_recorded_with_before_and_after(app, db, world, officer):
    s = db.session
    pending = world.product_b
    from marketplace.catalogue.service import submit_product

    submit_product(pending)
    world.b.status = "pending"
    cert = Certification(producer=world.a, scheme="vietgap", number="VG-AUDIT", body="QUACERT")
    s.add(cert)
    s.commit()
    ids = {"producer": world.b.id, "product": pending.id, "cert": cert.id, "published": world.published_a.id}

    assert officer.post(f"/admin/producers/{ids['producer']}", data={"decision": "approve"}).status_code == 302
    assert officer.post(f"/admin/products/{ids['product']}", data={"decision": "reject", "note": "Thiếu ảnh"}
                        ).status_code == 302
    assert officer.post(f"/admin/products/{ids['published']}/ocop", data={
        "stars": "4", "decision_no": "12/QĐ-UBND", "decision_date": "2025-06-01", "issuer_level": "provincial",
        "issuer_name": "UBND tỉnh Thanh Hóa"}).status_code == 302
    rec = s.scalars(select(OcopRecognition)).one()
    assert officer.post(f"/admin/ocop/{rec.id}/revoke", data={"confirm": "1"}).status_code == 302
    assert officer.post(f"/admin/certifications/{ids['cert']}/verify").status_code == 302

    by_action = {e.action: e for e in entries(db)}
    approve = by_action["producer.approve"]
    assert approve.actor_email == "officer@example.vn" and approve.actor_role == "officer"
    assert approve.target_type == "producer" and approve.target_id == ids["producer"]
    assert approve.before["status"] == "pending" and approve.after["status"] == "approved"
    assert by_action["product.reject"].after == {"status": "rejected", "review_note": "Thiếu ảnh"}
    assert by_action["ocop.add"].after["stars"] == 4 and by_action["ocop.add"].after["decision_date"] == "2025-06-01"
    assert by_action["ocop.revoke"].before == {"revoked": False} and by_action["ocop.revoke"].after == {"revoked": True}
    assert by_action["certification.verify"].target_id == ids["cert"]
    now = dt.datetime.now(dt.timezone.utc)
    assert all(now - dt.timedelta(minutes=5) < e.at <= now for e in by_action.values())


def test_exchange_changes_are_recorded_without_their_secrets(app, db, world, officer):
    app.config["PUSH_ALLOW_PRIVATE"] = True
    page = officer.post("/admin/exchanges/postmart", data={"endpoint_url": "http://127.0.0.1:9/hook", "enabled": "y"})
    assert page.status_code == 200
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", page.get_data(as_text=True)).group(0)
    token_page = officer.post("/admin/exchanges/postmart/token").get_data(as_text=True)
    token = re.search(r"feed_[A-Za-z0-9_-]+", token_page).group(0)
    rotated = officer.post("/admin/exchanges/postmart/secret").get_data(as_text=True)
    new_secret = re.search(r"whsec_[A-Za-z0-9+/=]+", rotated).group(0)
    profile = {"formats": ["json"], "fields": [["sku", "id"], ["name", "title"]], "required": ["title"]}
    assert officer.post("/admin/exchanges/postmart/profile", data={"profile": json.dumps(profile)}).status_code == 302
    assert officer.post("/admin/exchanges/postmart/push").status_code == 302

    found = entries(db)
    actions = [e.action for e in found]
    for action in ("exchange.settings", "exchange.token", "exchange.secret", "exchange.profile", "exchange.resend"):
        assert action in actions
    settings = next(e for e in found if e.action == "exchange.settings")
    assert settings.before == {"endpoint_url": "", "enabled": False}
    assert settings.after == {"endpoint_url": "http://127.0.0.1:9/hook", "enabled": True, "new_secret": True}
    assert next(e for e in found if e.action == "exchange.profile").after["profile"]["fields"] == profile["fields"]
    dump = json.dumps([[e.summary, e.before, e.after] for e in found])
    for value in (secret, new_secret, token):
        assert value not in dump


def test_recall_void_and_account_actions_are_recorded(app, db, world, officer, admin):
    add_trace(db.session, world)
    add_dead_delivery(db.session, world)
    batch_id, run_id, delivery_id = world.batch_a.id, world.run_a.id, world.delivery.id
    producer = signed_in(app, "a@example.vn")
    assert producer.post(f"/dashboard/runs/{run_id}/void", data={"first": "1", "last": "2"}).status_code == 302
    assert officer.post(f"/dashboard/batches/{batch_id}/recall", data={"reason": "Nhiễm nấm mốc", "confirm": "1"}
                        ).status_code == 302
    assert officer.post(f"/admin/deliveries/{delivery_id}/replay").status_code == 302
    user_b = world.users["producer_b"].id
    assert admin.post(f"/admin/users/{user_b}/active", data={"active": "0"}).status_code == 302
    reset = admin.post(f"/admin/users/{user_b}/password")
    temporary = re.search(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[A-Z]", reset.get_data(as_text=True)).group(0)

    by_action = {e.action: e for e in entries(db)}
    void = by_action["stamps.void"]
    assert void.actor_email == "a@example.vn" and void.after == {"first": 1, "last": 2, "voided": 2}
    recall = by_action["batch.recall"]
    assert recall.actor_role == "officer" and recall.before == {"status": "open"}
    assert recall.after["status"] == "recalled" and recall.after["recall_reason"] == "Nhiễm nấm mốc"
    assert by_action["delivery.replay"].target_id == delivery_id
    assert by_action["user.deactivate"].before == {"active": True} and by_action["user.deactivate"].after == {
        "active": False}
    password = by_action["user.password_reset"]
    assert password.actor_role == "admin" and password.before is None and password.after is None
    assert temporary not in json.dumps([[e.summary, e.before, e.after] for e in entries(db)])


def test_a_rolled_back_action_leaves_no_entry(db, world):
    audit.record(db.session, "producer.approve", world.b, summary="x")
    db.session.rollback()
    assert entries(db) == []


def test_admins_see_filter_and_export_the_trail(app, db, world, admin, officer):
    audit.record(db.session, "exchange.token", target_type="exchange", target_id=2, summary="postmart")
    audit.record(db.session, "producer.approve", world.b, summary="=HYPERLINK(\"http://evil\")",
                 before={"status": "pending"}, after={"status": "approved"})
    db.session.commit()
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "exchange.token" in page and "producer.approve" in page and "status=pending" in page
    filtered = admin.get("/admin/audit", query_string={"action": "exchange"}).get_data(as_text=True)
    assert "exchange.token" in filtered and "producer.approve" not in filtered
    export = admin.get("/admin/audit.csv")
    assert export.status_code == 200 and export.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(export.data.decode("utf-8-sig"))))
    assert [r["action"] for r in rows] == ["producer.approve", "exchange.token"]
    assert rows[0]["summary"].startswith("'=")  # a spreadsheet shows it as text, never runs it
    assert json.loads(rows[0]["before"]) == {"status": "pending"}
    assert officer.get("/admin/audit").status_code == 403  # officers act; admins read the trail
    assert officer.get("/admin/audit.csv").status_code == 403


def test_redact_hides_secret_looking_values():
    assert audit.redact({"secret": "whsec_x", "feed_token_hash": "ab", "endpoint_url": "https://x", "n": {
        "password": "p", "ok": dt.date(2025, 1, 2)}, "new_secret": True}) == {
        "secret": "[redacted]", "feed_token_hash": "[redacted]", "endpoint_url": "https://x",
        "n": {"password": "[redacted]", "ok": "2025-01-02"}, "new_secret": True}
    # A receiver's URL may carry its key in the query: the trail keeps the address only.
    assert audit.redact({"endpoint_url": "https://san.example/hook?key=s3cr3t#x"}) == {
        "endpoint_url": "https://san.example/hook?[redacted]"}


def test_log_lines_are_json_in_utc_without_secrets():
    formatter = JsonFormatter()
    record = logging.LogRecord("marketplace.auth", logging.INFO, __file__, 1,
                               "sent with Bearer feed_AbCdEfGh12345678 and whsec_QUJDREVGR0hJSktMTU5PUA==", None, None)
    record.event, record.user_id, record.session_cookie = "login", 7, "eyJhbGciOi"
    line = json.loads(formatter.format(record))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert line["event"] == "login" and line["user_id"] == 7 and line["logger"] == "marketplace.auth"
    assert line["session_cookie"] == "[redacted]"
    assert "feed_AbCd" not in line["message"] and "QUJD" not in line["message"]
    plain = logging.LogRecord("marketplace.db", logging.ERROR, __file__, 1, "violates feed_item_exchange_id_fkey",
                              None, None)
    assert "feed_item_exchange_id_fkey" in json.loads(formatter.format(plain))["message"]  # a name, not a token


def test_database_errors_never_carry_statement_values(app, db, world):
    """SQLAlchemy puts a failed statement's values in its message (a password hash, a
    token…): the engine hides them, so error logs cannot leak them."""
    from sqlalchemy.exc import IntegrityError

    from marketplace.models import User

    db.session.add(User(email="a@example.vn", password_hash="scrypt:SECRET-HASH-VALUE", role="producer"))
    with pytest.raises(IntegrityError) as caught:
        db.session.commit()
    db.session.rollback()
    assert "SECRET-HASH-VALUE" not in str(caught.value)


def test_logging_setup_keeps_records_flowing_to_the_root_logger(app_factory, caplog):
    """An app built outside tests must not cut the ``marketplace`` loggers off the root
    logger (tests' caplog, a deployment's own handlers)."""
    app_factory(TESTING=False)
    caplog.set_level(logging.INFO)
    logging.getLogger("marketplace.auth").info("after", extra={"event": "probe"})
    assert logging.getLogger("marketplace").propagate
    assert any(r.getMessage() == "after" for r in caplog.records)


def test_logins_are_logged_and_no_secret_reaches_any_log_line(app, db, world, caplog):
    caplog.set_level(logging.DEBUG)
    client = app.test_client()
    assert client.post("/account/login", data={"email": "a@example.vn", "password": "wrong-password-1"}
                       ).status_code == 200
    login(client, "a@example.vn")
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records if r.name.startswith("marketplace")]
    events = [line.get("event") for line in lines]
    assert "login_failed" in events and "login" in events
    text = json.dumps(lines)
    for secret in (TEST_PASSWORD, "wrong-password-1", cookie):
        assert secret not in text


def test_command_line_accounts_and_resends_are_recorded(app, db, world, runner):
    result = runner.invoke(args=["create-user", "--email", "canbo2@huyen.gov.vn", "--role", "officer",
                                 "--password-stdin"], input="mot-cau-mat-khau-dai\n")
    assert result.exit_code == 0, result.output
    assert runner.invoke(args=["feed", "push", "postmart"]).exit_code == 0
    found = {e.action: e for e in entries(db)}
    assert found["user.create"].actor_role == "cli" and found["user.create"].after["role"] == "officer"
    assert "mot-cau-mat-khau-dai" not in json.dumps([e.after for e in found.values()])
    assert found["exchange.resend"].summary.startswith("postmart")


def test_command_line_exchange_changes_are_recorded(app, db, world, runner):
    app.config["PUSH_ALLOW_PRIVATE"] = True
    token = runner.invoke(args=["exchange", "token", "thanhhoa"]).output.strip()
    result = runner.invoke(args=["exchange", "set", "thanhhoa", "--endpoint", "http://127.0.0.1:9/h", "--enable"])
    assert result.exit_code == 0, result.output
    found = {e.action: e for e in entries(db)}
    assert found["exchange.token"].actor_role == "cli" and found["exchange.token"].actor_email == ""
    assert found["exchange.settings"].after == {"endpoint_url": "http://127.0.0.1:9/h", "enabled": True,
                                               "new_secret": True}
    assert token not in json.dumps([[e.summary, e.before, e.after] for e in found.values()])


def test_audit_filters_take_any_input_without_error(db, world, admin):
    """Wildcards are matched literally, over-long values are cut: never a 500, never a match
    that was not asked for."""
    audit.record(db.session, "exchange.token", target_type="exchange", target_id=2, summary="postmart")
    db.session.commit()
    for query in ({"action": "%"}, {"action": "_"}, {"action": "x" * 5000}, {"actor": "' OR 1=1 --"},
                  {"actor": "\u0301" * 300}):
        page = admin.get("/admin/audit", query_string=query)
        assert page.status_code == 200, query
        assert "exchange.token" not in page.get_data(as_text=True), query
        assert admin.get("/admin/audit.csv", query_string=query).data.count(b"\n") == 1, query  # the header only
