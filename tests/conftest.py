"""Fixtures: a fresh migrated database per test (SQLite by default, PostgreSQL when
``TEST_DATABASE_URL`` is set), the app, clients, and a small world of tenants.
"""
from __future__ import annotations

import gc
import os
import secrets
import shutil
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, text

from marketplace import create_app
from marketplace.extensions import db as _db
from marketplace.rawsql import dispose_reader

PG_URL = os.environ.get("TEST_DATABASE_URL", "").strip()
TEST_PASSWORD = "Trau-Vang-2025!"  # passes the password policy
# Officers and admins made by make_user are enrolled with this second factor (issue 18):
# login() below types its current code, as a person would.
TEST_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
FAST_HASH = "pbkdf2:sha256:1000"  # tests only; production uses scrypt N=2**17 (see test_auth)


class SharedTemplateCode(BytecodeCache):
    """Compiled templates kept for every app this test process builds.  Each test builds its
    own app, and compiling the same templates again for each took a quarter of a page test's
    time.  Jinja checks each template's source checksum before reusing its code."""

    def __init__(self):
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        code = self.store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


# every app made by create_app here has the same Jinja settings (the factory's)
Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": SharedTemplateCode()}

# Each test builds an app (Flask object, Jinja environment, engine, extensions), which ends as
# cyclic garbage that only a full collection frees.  With Python's default thresholds a full
# collection, each over the whole heap, ran every ~9 tests: 44% of tests/test_routes_matrix.py's
# time (measured with gc.callbacks: 119 s of 273 s).  Here young objects are collected less
# often and the whole heap every FULL_COLLECTION_EVERY tests (that file: 161 s, peak RSS
# 339 MB instead of 302 MB; the suite without browsers and one-truth: 644 s instead of 752 s).
FULL_COLLECTION_EVERY = 40
_tests_since_collection = 0


def pytest_configure(config):
    gc.set_threshold(10_000, 50, 1_000_000)  # (the third: no automatic full collection)


def pytest_runtest_teardown(item, nextitem):
    global _tests_since_collection
    _tests_since_collection += 1
    if _tests_since_collection >= FULL_COLLECTION_EVERY:
        _tests_since_collection = 0
        gc.collect()


def migrate_to_head(url: str) -> None:
    """Run the real Alembic migrations (never create_all) against ``url``."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "x"})
    with app.app_context():
        upgrade()
        _db.engine.dispose()


def pg_url_with_schema(schema: str) -> str:
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """SQLite: a migrated template file copied per test.  PostgreSQL: a schema of our own,
    made empty and migrated once, truncated after each test."""
    if PG_URL:
        schema = f"t_{os.getpid()}_{secrets.token_hex(3)}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = pg_url_with_schema(schema)
        migrate_to_head(url)
        yield {"kind": "pg", "url": url, "schema": schema}
        for engine, _tables, _sequences in _truncating.values():
            engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("db") / "template.db"
        migrate_to_head(f"sqlite:///{path}")
        yield {"kind": "sqlite", "path": path}


# Tables whose rows come from migrations (seed data); kept across tests, their columns that
# tests change put back as the migration left them.
SEEDED_TABLES = {"alembic_version", "product_group", "exchange"}
SEEDED_RESETS = ("UPDATE exchange SET profile = NULL, profile_changed_at = NULL, feed_token_hash = NULL, feed_token_created_at = NULL, "
                 "endpoint_url = '', enabled = FALSE, secret = NULL, previous_secret = NULL, "
                 "previous_secret_until = NULL",)


_truncating: dict[str, tuple] = {}  # url → (engine, tables, sequences), made once per run


def _truncate(url: str) -> None:
    """Empty what a test wrote, fast: DELETE from the tables that have rows, with foreign-key
    triggers off for the transaction (``session_replication_role``; the test role is a
    superuser), and restart every sequence so ids start at 1 again even where a rolled-back
    insert used one.  TRUNCATE rewrites each table's files: ~0.13 s a test for all of them,
    0.2 s for the dozen a rich test fills; DELETE of a few rows takes milliseconds."""
    if url not in _truncating:
        engine = create_engine(url)
        with engine.connect() as conn:
            tables = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"))
                if r[0] not in SEEDED_TABLES]
            seeded = {f"{t}_id_seq" for t in SEEDED_TABLES}
            sequences = [r[0] for r in conn.execute(text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = current_schema()")) if r[0] not in seeded]
        _truncating[url] = (engine, tables, sequences)
    engine, tables, sequences = _truncating[url]
    with engine.begin() as conn:
        used = conn.execute(text(" UNION ALL ".join(
            f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables))).scalars().all()
        if used:
            conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            conn.exec_driver_sql("; ".join(f'DELETE FROM "{t}"' for t in used))
        conn.exec_driver_sql("; ".join(f'ALTER SEQUENCE "{s}" RESTART' for s in sequences))
        for statement in SEEDED_RESETS:
            conn.execute(text(statement))


@pytest.fixture
def database_url(database_template, tmp_path):
    if database_template["kind"] == "pg":
        yield database_template["url"]
        _truncate(database_template["url"])
    else:
        path = tmp_path / "test.db"
        shutil.copy(database_template["path"], path)
        yield f"sqlite:///{path}"


def make_config(database_url: str, tmp_path: Path, **extra) -> dict:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-" + uuid.uuid4().hex,
        "UPLOAD_DIR": str(tmp_path / "uploads"),
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": True,
        "PUBLIC_BASE_URL": "http://127.0.0.1:5000",
        "SCAN_FLUSH_SECONDS": 0,  # scans written when each response closes
    }
    config.update(extra)
    return config


def _fresh_g():
    from flask import g

    for name in list(vars(g)):
        delattr(g, name)


@pytest.fixture
def app_factory(database_url, tmp_path):
    """Build apps on the test's database with extra config; engines disposed afterwards."""
    apps = []

    def factory(**extra):
        app = create_app(make_config(database_url, tmp_path, **extra))
        # Tests keep an app context pushed, and Flask reuses it for test-client requests, so
        # ``g`` (Flask-Login's user, Flask-Babel's locale…) would leak from one request to
        # the next.  In production every request has a fresh context: give tests the same.
        app.before_request_funcs.setdefault(None, []).insert(0, _fresh_g)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        with app.app_context():
            _db.session.remove()
            dispose_reader(_db.engine)
            _db.engine.dispose()


@pytest.fixture
def app(app_factory):
    app = app_factory()
    with app.app_context():
        yield app
        _db.session.remove()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---- a small world: producers, users, products -------------------------------------

@dataclass
class World:
    coop: object
    a: object
    b: object
    users: dict
    product_a: object
    product_b: object
    published_a: object


def make_producer(session, name, *, kind="household", ward=15724, cooperative=None, status="approved"):
    from marketplace.catalogue.service import create_producer

    p = create_producer(session, {
        "kind": kind, "name": name, "representative": "Người Đại Diện", "phone": "0912345678",
        "province_code": 38, "ward_code": ward,
    }, cooperative=cooperative)
    p.status = status
    return p


def make_user(session, email, *, role="producer", producer=None, producer_role="owner"):
    from marketplace.models import User
    from marketplace.passwords import hash_password

    u = User(email=email, name=email.split("@")[0], role=role, producer=producer,
             producer_role=producer_role if producer else None,
             password_hash=hash_password(TEST_PASSWORD, FAST_HASH))
    if role in ("officer", "admin"):  # must have a second factor: enrolled with the tests' secret
        from marketplace.models.base import utcnow

        u.totp_secret, u.totp_enabled_at = TEST_TOTP_SECRET, utcnow()
    session.add(u)
    return u


# A package every exchange can price shipping for (Postmart requires one).
PACKED = {"packed_weight_g": 1050, "package_length_cm": Decimal("25"), "package_width_cm": Decimal("15"),
          "package_height_cm": Decimal("8")}


def make_product(session, producer, name, *, status="draft", price=120000):
    from marketplace.catalogue import service
    from marketplace.models import ProductGroup

    group = session.scalars(_db.select(ProductGroup).where(ProductGroup.code == "1.2")).one()
    p = service.create_product(session, producer, {
        "name": name, "group_id": group.id, "net_quantity": Decimal("1"), "unit": "kg",
        "price_vnd": price, "stock": 10, **PACKED,
    })
    if status in ("pending", "published"):
        service.submit_product(p)
    if status == "published":
        service.publish_product(p)
    return p


def listed(product):
    """Publish ``product`` (stamps are issued only for listed products); its producer must be
    approved already.  Returns it."""
    from marketplace.catalogue import service

    if product.status in ("draft", "rejected"):
        service.submit_product(product)
    if product.status == "pending":
        service.publish_product(product)
    return product


@pytest.fixture
def world(app, db):
    s = db.session
    coop = make_producer(s, "HTX Đồng Tiến", kind="cooperative")
    a = make_producer(s, "Hộ Trịnh Văn A", cooperative=coop)
    b = make_producer(s, "Hộ Lê Thị B", ward=15667)
    s.flush()
    users = {
        "producer_a": make_user(s, "a@example.vn", producer=a),
        "producer_b": make_user(s, "b@example.vn", producer=b),
        "coop": make_user(s, "coop@example.vn", producer=coop),
        "officer": make_user(s, "officer@example.vn", role="officer"),
        "admin": make_user(s, "admin@example.vn", role="admin"),
    }
    product_a = make_product(s, a, "Gạo nếp cái hoa vàng")
    product_b = make_product(s, b, "Mật ong hoa vải")
    published_a = make_product(s, a, "Nem chua Đồng Tiến", status="published")
    s.commit()
    return World(coop, a, b, users, product_a, product_b, published_a)


def login(client, email, password=TEST_PASSWORD):
    """Log ``client`` in with the password, then, for an account with a second factor, the
    code its authenticator app shows now."""
    response = client.post("/account/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.data[:500]
    if response.headers["Location"] == "/account/two-factor/setup":  # an officer without one yet: enrol
        import re

        import pyotp

        page = client.get("/account/two-factor/setup").get_data(as_text=True)
        secret = re.search(r'id="totp-secret"[^>]*>([^<]+)<', page).group(1).replace(" ", "")
        response = client.post("/account/two-factor/setup", data={"code": pyotp.TOTP(secret).now()})
        assert response.status_code == 200 and 'id="recovery-codes"' in response.get_data(as_text=True)
    elif response.headers["Location"] == "/account/two-factor":
        response = client.post("/account/two-factor", data={"code": fresh_code(email, client.application)})
        assert response.status_code == 302, response.data[:500]
    return response


def fresh_code(email: str, app=None) -> str:
    """The current TOTP code of ``email``'s account (make_user's secret), made acceptable
    again: a code is taken once per 30-second step, and tests log one officer in many times
    a step, so the account's last accepted step is cleared first (the replay test does not)."""
    from sqlalchemy import update

    from marketplace import two_factor
    from marketplace.models import User
    from marketplace.models.base import utcnow

    from flask import has_app_context

    if has_app_context() or app is None:  # the test's own session (it may hold SQLite's write lock)
        _db.session.execute(update(User).where(User.email == email).values(totp_last_step=None))
        _db.session.commit()
    else:
        with app.app_context():
            _db.session.execute(update(User).where(User.email == email).values(totp_last_step=None))
            _db.session.commit()
    return two_factor.code_at(TEST_TOTP_SECRET, two_factor.step_at(utcnow()))


def signed_in(app, email):
    """A new test client of ``app``, logged in as ``email``."""
    client = app.test_client()
    login(client, email)
    return client
