"""Declared transaction intent (issue 15, point 3; docs/decisions/0006).

A request's transactions are readers unless its view declares ``@writes``; code that writes
on a connection of its own says ``with writes():``; a GET view that has read and then must
write says ``with writes(db.session):``.  Nothing reads the HTTP method.  The concurrency
tests run a real threaded server on a SQLite file: declared GET writers under load never see
"database is locked", and the same read-then-write left undeclared does.
"""
from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from werkzeug.serving import make_server

from marketplace.extensions import db as _db
from marketplace.transactions import READ, WRITE, UndeclaredWrite, declared, reads, short_write, writes

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def test_every_view_that_takes_a_body_declares_its_intent(app):
    undeclared = sorted(
        rule.rule for rule in app.url_map.iter_rules()
        if rule.methods & UNSAFE and declared(app.view_functions[rule.endpoint]) not in (READ, WRITE))
    assert undeclared == []


def test_declarations_are_kept_through_the_route_decorators(app):
    # the API's operation decorator and Flask-Limiter wrap the view: the mark must survive
    assert declared(app.view_functions["api.create_product"]) == WRITE
    assert declared(app.view_functions["dashboard.new_product"]) == WRITE
    assert declared(app.view_functions["scan.stamp"]) is None  # a GET: a reader


def _counter_app(app_factory, **config):
    """An app with three GET views that read a counter and then write it back + 1."""
    app = app_factory(**config)
    pause = config.get("PAUSE", 0.0)

    def bump():
        n = _db.session.execute(text("SELECT n FROM t_counter")).scalar_one()
        time.sleep(pause)
        _db.session.execute(text("UPDATE t_counter SET n = :n"), {"n": n + 1})
        _db.session.commit()
        return str(n + 1)

    def late():
        """Reads first (e.g. to decide), then declares the write."""
        _db.session.execute(text("SELECT n FROM t_counter")).scalar_one()
        with writes(_db.session):
            n = _db.session.execute(text("SELECT n FROM t_counter")).scalar_one()
            _db.session.execute(text("UPDATE t_counter SET n = :n"), {"n": n + 1})
            _db.session.commit()
        return str(n + 1)

    app.add_url_rule("/t/declared", "declared", writes(bump))
    app.add_url_rule("/t/undeclared", "undeclared", lambda: bump())
    app.add_url_rule("/t/late", "late", late)
    app.add_url_rule("/t/peek", "peek", writes(lambda: str(_db.session.execute(text("SELECT n FROM t_counter")).scalar_one())))
    with app.app_context():
        _db.session.execute(text("CREATE TABLE IF NOT EXISTS t_counter (n INTEGER NOT NULL)"))
        _db.session.execute(text("DELETE FROM t_counter"))
        _db.session.execute(text("INSERT INTO t_counter (n) VALUES (0)"))
        _db.session.commit()
        _db.session.remove()
    return app


def _counter(app) -> int:
    with app.app_context():
        try:
            return _db.session.execute(text("SELECT n FROM t_counter")).scalar_one()
        finally:
            _db.session.remove()


class _Server:
    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(5)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=60) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's write lock is what this is about; PostgreSQL has no such lock")


def test_an_undeclared_write_in_a_get_fails_loudly_in_tests(app_factory, caplog):
    app = _counter_app(app_factory)
    assert app.test_client().get("/t/undeclared").status_code == 500
    assert UndeclaredWrite.__name__ in caplog.text and "(GET /t/undeclared)" in caplog.text
    assert _counter(app) == 0
    assert app.test_client().get("/t/declared").status_code == 200
    assert app.test_client().get("/t/late").status_code == 200
    assert _counter(app) == 2


def test_declared_writes_from_get_requests_under_concurrent_load(app_factory, sqlite_only, caplog):
    """8 clients sending 100 GETs to each declared path (the view, and a late ``writes(session)``),
    each reading and then writing: every one answers 200, none is lost, nothing is locked."""
    app = _counter_app(app_factory, PAUSE=0.002)
    paths = ["/t/declared", "/t/late"] * 100
    with _Server(app) as server, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(server.get, paths))
    assert [status for status, _ in answers] == [200] * len(paths)
    assert _counter(app) == len(paths)
    assert "database is locked" not in caplog.text


def test_the_same_write_undeclared_is_what_locks(app_factory, sqlite_only):
    """Why the declaration matters: two GETs that read before either writes, left as
    readers (the app not strict, as in production), and one of them fails."""
    app = _counter_app(app_factory, STRICT_TRANSACTIONS=False, PROPAGATE_EXCEPTIONS=False)
    both_read = threading.Barrier(2, timeout=10)

    @app.before_request
    def wait_for_the_other():  # each request reads its snapshot, then waits for the other's
        _db.session.execute(text("SELECT n FROM t_counter")).scalar_one()
        both_read.wait()

    with _Server(app) as server, ThreadPoolExecutor(2) as pool:
        statuses = sorted(status for status, _ in pool.map(server.get, ["/t/undeclared"] * 2))
    assert statuses == [200, 500]
    assert _counter(app) == 1


def test_reads_scope_stays_deferred_while_a_writer_holds_the_lock(app, db, sqlite_only):
    import sqlite3

    other = sqlite3.connect(db.engine.url.database, timeout=0.1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with reads(), db.engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
        with pytest.raises(OperationalError, match="locked"), short_write(db.engine, 100):
            pass  # a writer waits for the lock (here 100 ms), and gives up
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_request_leaves_no_transaction_behind(app_factory, sqlite_only):
    """A writer view that only read still began IMMEDIATE: the transaction ends with the
    request even where the app context lives on (tests, a shell), so it never holds the
    write lock against the next writer."""
    import sqlite3

    app = _counter_app(app_factory)
    with app.app_context():
        assert app.test_client().get("/t/peek").data == b"0"
        other = sqlite3.connect(_db.engine.url.database, timeout=0.1, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # "database is locked" if the request's writer lived on
            other.execute("ROLLBACK")
        finally:
            other.close()
        _db.session.remove()


def test_a_suspended_stream_does_not_leak_its_reader_scope(app, db):
    """A streamed feed reads through ``feeds.service.reading_session`` inside a generator;
    while the generator waits between chunks, the thread's own transactions keep their intent."""
    from marketplace.feeds.service import reading_session
    from marketplace.transactions import current_intent

    def stream():
        with reading_session(db.engine) as session:
            yield session.execute(text("SELECT 1")).scalar()
            yield 2

    chunks = stream()
    assert next(chunks) == 1
    assert current_intent() == WRITE  # outside a request: a writer, not the suspended stream's reader
    chunks.close()


def _dropped() -> Exception:
    from sqlalchemy.exc import DBAPIError

    return DBAPIError("SELECT 1", {}, Exception("server closed the connection"), connection_invalidated=True)


@pytest.mark.parametrize("method, runs", [("GET", 2), ("HEAD", 2), ("POST", 1)])
def test_only_a_read_that_met_a_dropped_connection_is_dispatched_again(app, method, runs):
    from sqlalchemy.exc import DBAPIError

    from marketplace.transactions import dispatch_again_on_disconnect

    calls = []

    def dispatch():
        calls.append(1)
        if len(calls) == 1:
            raise _dropped()
        return "answered"

    with app.test_request_context("/lot/1", method=method):
        if runs == 2:
            assert dispatch_again_on_disconnect(dispatch, _db.session) == "answered"
        else:
            with pytest.raises(DBAPIError):
                dispatch_again_on_disconnect(dispatch, _db.session)
    assert len(calls) == runs


def test_other_database_errors_are_not_retried(app):
    from sqlalchemy.exc import DBAPIError

    from marketplace.transactions import dispatch_again_on_disconnect

    calls = []

    def dispatch():
        calls.append(1)
        raise DBAPIError("SELECT 1", {}, Exception("syntax"), connection_invalidated=False)

    with app.test_request_context("/lot/1"), pytest.raises(DBAPIError):
        dispatch_again_on_disconnect(dispatch, _db.session)
    assert len(calls) == 1
