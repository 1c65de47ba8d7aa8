"""The public pages' reads on PostgreSQL (issue 19, point 2): one round trip each, in
autocommit on a pool of their own (``rawsql.reader``), and a connection the server dropped
is read through again instead of failing the buyer's scan."""
from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import create_engine, text

from marketplace import rawsql
from marketplace.config import POOL_RECYCLE_SECONDS
from marketplace.extensions import db as _db
from tests.conftest import PG_URL
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
