"""The public pages' reads on PostgreSQL (issue 19, point 2): one round trip each, in
autocommit on a pool of their own (``rawsql.reader``), and a connection the server dropped
is read through again instead of failing the buyer's scan."""
from __future__ import annotations

import psycopg
import pytest
from flask import request
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from marketplace import rawsql
from marketplace.config import POOL_RECYCLE_SECONDS
from marketplace.extensions import db as _db
from marketplace.transactions import UndeclaredWrite, _strict
from tests.conftest import PG_URL, login
from tests.test_scan import client, make_run, web  # noqa: F401

pytestmark = pytest.mark.skipif(not PG_URL, reason="PostgreSQL's connections (SQLite reads a file in autocommit already)")


def test_the_reader_is_autocommit_and_never_pinged(app):
    reader = rawsql.reader(_db.engine)
    assert reader is rawsql.reader(_db.engine) and reader is not _db.engine
    assert reader.pool._pre_ping is False and reader.pool._recycle == POOL_RECYCLE_SECONDS
    with reader.connect() as connection:
        assert connection.connection.dbapi_connection.autocommit


def test_a_connection_the_server_dropped_is_read_again(db, world, web):
    _batch, _run, serials = make_run(db, world, 1)
    server = web()
    buyer = server.test_client()
    assert buyer.get(f"/s/{serials[0]}").status_code == 200
    with server.app_context():
        reader = rawsql.reader(_db.engine)
    with reader.connect() as connection:  # the pool's one idle connection, the page's next
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()
    page = buyer.get(f"/s/{serials[0]}")
    assert page.status_code == 200 and serials[0][:4] in page.get_data(as_text=True)
    with reader.connect() as connection:
        assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid


def test_the_app_pool_is_not_pinged_and_is_recycled(app):
    pool = _db.engine.pool
    assert pool._pre_ping is False and pool._recycle == POOL_RECYCLE_SECONDS


def test_no_connection_of_the_app_compiles_statements_with_jit(app):
    """The server's JIT compiled the scan writer's UPDATE (estimated costly, 15 ms of work)
    for 143 ms on every flush: the app's connections, read-write, reader and one made after
    a rollback, run with it off."""
    with _db.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
        connection.rollback()
        assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
    with rawsql.reader(_db.engine).connect() as connection:
        assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)) as plain:
        assert plain.execute("SHOW jit").fetchone()[0] == "on"  # the server's default, for contrast


def _terminate(pid: int) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    admin.dispose()


def test_a_read_that_meets_a_dropped_connection_runs_again(db, world, web):
    """An ORM page (the lot page) whose pooled connection the server killed answers as if
    nothing happened; a POST that meets one is not run twice."""
    batch, _run, _serials = make_run(db, world, 1)
    batch_id, lot = batch.id, batch.lot_code
    db.session.commit()  # the test's own session holds no connection from here on
    server = web()
    buyer = server.test_client()
    assert buyer.get(f"/lot/{batch_id}").status_code == 200
    with server.app_context():
        engine = _db.engine
        with engine.connect() as connection:  # the pool's one idle connection, the page's next
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        _terminate(pid)
        page = buyer.get(f"/lot/{batch_id}")
        assert page.status_code == 200 and lot in page.get_data(as_text=True)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid


def test_a_batchs_facts_are_read_in_one_pipeline_and_again_on_a_dropped_connection(db, world, web):
    """The stamp page's facts of a batch (``scan.facts.build_batch_facts``): five selects
    sent together on one reader connection (``rawsql.fetch_lists``, psycopg's pipeline mode),
    read again on a fresh one when the server dropped it."""
    from marketplace.scan.facts import build_batch_facts

    batch, _run, _serials = make_run(db, world, 1)
    batch_id, lot = batch.id, batch.lot_code
    db.session.commit()
    server = web()
    with server.app_context():
        engine = _db.engine
        reader = rawsql.reader(engine)
        with reader.connect() as connection:  # the pool's one idle connection, the next read's
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        _terminate(pid)
        pipelines = []
        real = psycopg.Connection.pipeline

        def counted(self, *args, **kwargs):
            pipelines.append(self)
            return real(self, *args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(psycopg.Connection, "pipeline", counted)
            facts = build_batch_facts(engine, batch_id)
        assert facts["batch"]["lot"] == lot and facts["product"]["name"] == world.product_a.name
        assert len(pipelines) == 2 and pipelines[0] is not pipelines[1]  # the dropped one, then a fresh one


def test_the_catalogue_and_the_api_read_in_autocommit_and_writers_do_not(db, world, web, monkeypatch):
    """A GET of the catalogue or the API runs its statements with no BEGIN or ROLLBACK around
    them (autocommit: two round trips fewer); a producer's dashboard and every write keep
    their transaction, and the pool's connections go back as they came."""
    seen = []

    def spy(connection, cursor, statement, parameters, context, executemany):
        if request:  # (a request's statements only)
            seen.append((request.method, request.path, connection.connection.dbapi_connection.autocommit))

    server = web()
    event.listen(Engine, "before_cursor_execute", spy)
    try:
        buyer = server.test_client()
        assert buyer.get(f"/p/{world.published_a.slug}").status_code == 200
        assert buyer.get("/api/v1/catalogue").status_code in (200, 401)
        producer = server.test_client()
        login(producer, "a@example.vn")
        assert producer.get("/dashboard/").status_code == 200
    finally:
        event.remove(Engine, "before_cursor_execute", spy)
    by_path = {}
    for method, path, autocommit in seen:
        by_path.setdefault((method, path.split("/")[1]), set()).add(autocommit)
    assert by_path[("GET", "p")] == {True}, by_path
    assert by_path[("GET", "dashboard")] == {False} and by_path[("POST", "account")] == {False}, by_path
    with server.app_context():
        with _db.engine.connect() as connection:
            assert connection.connection.dbapi_connection.autocommit is False


def test_a_write_in_an_autocommit_read_is_refused_even_when_not_strict(db, world, web, monkeypatch):
    """In autocommit a write could not be rolled back with the request, so an undeclared one
    is refused, not only logged, whatever STRICT_TRANSACTIONS says."""
    server = web()
    monkeypatch.setitem(_strict, "on", False)
    with server.test_request_context(f"/p/{world.published_a.slug}"):
        assert request.blueprint == "catalogue"
        with pytest.raises(UndeclaredWrite):
            _db.session.execute(text("UPDATE producer SET name = name WHERE id = -1"))
        _db.session.rollback()
        _db.session.remove()


def test_a_reader_connection_left_to_the_garbage_collector_goes_back_without_autocommit(db, world, web):
    """A connection a public read turned to autocommit, never closed (no commit, no rollback:
    collected as garbage), reaches the next user of the pool with its transactions back."""
    import gc

    server = web()
    engine = create_engine(PG_URL, pool_size=1, max_overflow=0)
    try:
        with server.test_request_context(f"/p/{world.published_a.slug}"):
            left = engine.connect()
            left.execute(text("SELECT 1"))
            assert left.connection.dbapi_connection.autocommit is True
            del left
            gc.collect()
        with engine.connect() as writer:  # outside any request: a writer
            writer.execute(text("SELECT 1"))
            assert writer.connection.dbapi_connection.autocommit is False
    finally:
        engine.dispose()
