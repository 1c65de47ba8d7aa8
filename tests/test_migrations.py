"""The migrations, run on an empty database: upgrade → downgrade → upgrade, then the models
must match the migrated schema exactly (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""
from __future__ import annotations

import os
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from marketplace import create_app
from marketplace.extensions import db
from tests.conftest import PG_URL, pg_url_with_schema


@pytest.fixture
def empty_database_url(tmp_path):
    if PG_URL:
        schema = f"mig_{os.getpid()}_{secrets.token_hex(3)}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield pg_url_with_schema(schema)
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'empty.db'}"


def _diff(app):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_downgrade_upgrade_and_models_match(empty_database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "SECRET_KEY": "x", "TESTING": True})
    with app.app_context():
        upgrade()
        tables = set(inspect(db.engine).get_table_names())
        assert {"producer", "product", "user", "product_group", "ocop_recognition"} <= tables
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        upgrade()
        assert _diff(app) == [], "models and migrations differ: write a migration"
        # The OCOP groups of Decision 148/QĐ-TTg are seeded by the migration.
        with db.engine.connect() as conn:
            groups = conn.execute(text("SELECT count(*) FROM product_group WHERE parent_id IS NULL")).scalar()
        assert groups == 6
        if db.engine.dialect.name == "postgresql":  # room on each page for a scanned stamp's new row version
            with db.engine.connect() as conn:
                options = conn.execute(text("SELECT reloptions FROM pg_class WHERE oid = 'stamp'::regclass")).scalar()
            assert "fillfactor=90" in (options or [])
        db.engine.dispose()


def test_sqlite_pragmas(app, db):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_sqlite_writers_begin_immediate(app, db):
    """Outside a safe request a transaction takes the write lock at BEGIN: a second writer
    waits for it instead of failing later with "database is locked"."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    import sqlite3

    path = db.engine.url.database
    with db.engine.connect() as conn:
        conn.execute(text("SELECT 1"))  # transaction begun here: BEGIN IMMEDIATE
        other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()


def test_get_requests_do_not_take_the_write_lock(app, db, client):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    import sqlite3

    other = sqlite3.connect(db.engine.url.database, timeout=0.1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer holds the lock
    try:
        assert client.get("/").status_code == 200  # readers are not blocked
    finally:
        other.execute("ROLLBACK")
        other.close()
