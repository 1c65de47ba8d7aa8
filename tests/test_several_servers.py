"""Several servers at once (issue 18, point 3): two app servers (gunicorn, separate process
groups on two ports, as two machines would be) and two delivery workers against one
PostgreSQL and one Redis, driven together, then one server and one worker SIGKILLed mid-load.

The client in front plays the proxy (deploy/nginx-ocop.conf): requests alternate between
the servers, and one that cannot reach a server (refused) goes to the other.  A request cut
off mid-way by the kill is retried elsewhere too, and counted as "cut": the killed server
may have done it or not, which bounds what can be checked exactly.

Checked afterwards:
- the API's per-token limit holds across both servers (Redis): the 41st call is refused,
  whichever server gets it;
- every scan a server answered is counted, once (``SCAN_BUFFER=database``): a stamp's count
  is what its buyers were answered, plus at most the scans cut off by the kill;
- every product version reaches the exchange, each delivery once except those the killed
  worker held (at-least-once, no version lost), and the exchange ends up holding exactly the
  catalogue;
- stamp runs issued on both servers at once have unique serials, and all of them exist.
"""
from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import pytest
from sqlalchemy import func, select

from marketplace.models import DeliveryStatus, Product, Scan, ScanDay, ScanInbox, Stamp, StampRun
from tests.conftest import PG_URL
from tests.test_api import token_for
from tests.test_push import (BASE_URL, ROOT, connect, deliveries, expected_state, listed, normalised,  # noqa: F401
                             papp, pdb, pending_count, start_worker, stop_workers)
from tests.test_scan import make_run

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
API_LIMIT = 40  # per token and minute, on both servers together

pytestmark = pytest.mark.skipif(not PG_URL, reason="several servers share one PostgreSQL: runs in the PostgreSQL "
                                                   "suite (TEST_DATABASE_URL), as .ci/run does")


@pytest.fixture
def redis_prefix():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    prefix = f"ocop-test-{uuid.uuid4().hex[:8]}"
    yield prefix
    for key in client.scan_iter(f"*{prefix}*"):
        client.delete(key)
    client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``gunicorn -c deploy/gunicorn.conf.py wsgi:app`` (the production settings: the app
    preloaded, a socket per worker; one worker here) in its own process group (killing it
    kills the whole machine)."""

    def __init__(self, env: dict, log_path):
        self.port = free_port()
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "-w", "1",
             "-b", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if request(self.port, "GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"server on {self.port} did not start: see {self.log.name}")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def request(port: int, method: str, path: str, body=None, token: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@dataclass
class Proxy:
    """Round robin over the servers; a refused connection goes to the next one."""
    servers: list[Server]
    cut: Counter = field(default_factory=Counter)  # requests cut off mid-way, by kind
    turn: itertools.count = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, method: str, path: str, body=None, token=None, kind: str = "") -> tuple[int, bytes]:
        start = next(self.turn)
        for attempt in range(2 * len(self.servers)):
            server = self.servers[(start + attempt) % len(self.servers)]
            try:
                return request(server.port, method, path, body, token)
            except ConnectionRefusedError:
                continue  # nothing reached that server: safe to send elsewhere
            except (OSError, http.client.HTTPException):  # reset or closed mid-request (a body cut
                with self.lock:                          # short too): the server was killed meanwhile
                    self.cut[kind] += 1
                continue
        raise AssertionError(f"no server answered {method} {path}")


def test_two_servers_and_two_workers_share_one_truth_and_survive_a_kill(
        pdb, papp, world, database_url, tmp_path, redis_prefix):
    db = pdb
    receiver, exchange = connect(db)
    products = [p.id for p in listed(db, world.a, 8, prefix="Mật ong")]
    _batch, _run, serials = make_run(db, world, 30)
    batch_id = _batch.id
    tokens = {name: token_for(db, world.users["producer_a"], name) for name in ("limit", "products", "stamps")}
    db.session.commit()
    env = dict(os.environ, DATABASE_URL=database_url, SECRET_KEY="several-servers", PUBLIC_BASE_URL=BASE_URL,
               UPLOAD_DIR=str(tmp_path / "uploads"), LOG_LEVEL="WARNING", RATELIMIT_STORAGE_URI=REDIS_URL,
               RATELIMIT_KEY_PREFIX=redis_prefix, API_RATE_LIMIT=f"{API_LIMIT} per minute",
               SCAN_BUFFER="database", SCAN_FLUSH_SECONDS="0.2", PUSH_ALLOW_PRIVATE="1")
    servers = [Server(env, tmp_path / f"server-{n}.log") for n in (1, 2)]
    workers = [start_worker(database_url, tmp_path, SCAN_BUFFER="database", PUSH_LEASE_SECONDS="2")
               for _ in range(2)]
    try:
        for server in servers:
            server.wait_ready()
        proxy = Proxy(servers)

        # 1. One token's limit across both servers: the 41st call is refused wherever it goes.
        statuses = [proxy.send("GET", "/api/v1/products", token=tokens["limit"])[0] for _ in range(API_LIMIT + 20)]
        assert statuses == [200] * API_LIMIT + [429] * 20

        # 2. Scans, product changes and stamp runs on both at once; one server and one worker
        #    SIGKILLed a third of the way through the scans.
        answered, done = Counter(), Counter()
        failures: list[str] = []
        prices: dict[int, int] = {}
        runs_made: list[int] = []

        def scans(offset: int) -> None:
            for n in range(150):
                serial = serials[(offset + n) % len(serials)]
                status, _ = proxy.send("GET", f"/s/{serial}", kind="scan")
                with proxy.lock:
                    done["scans"] += 1
                    if status == 200:
                        answered[serial] += 1
                    else:
                        failures.append(f"scan {serial}: {status}")

        def changes() -> None:
            for n in range(30):
                product_id = products[n % len(products)]
                price = 70_000 + n * 100
                status, body = proxy.send("PATCH", f"/api/v1/products/{product_id}", {"price_vnd": price},
                                          tokens["products"], kind="change")
                if status != 200:
                    failures.append(f"PATCH {product_id}: {status} {body[:200]!r}")
                prices[product_id] = price

        def runs() -> None:
            for _ in range(8):
                status, body = proxy.send("POST", f"/api/v1/batches/{batch_id}/stamp-runs", {"count": 250},
                                          tokens["stamps"], kind="run")
                if status != 201:
                    failures.append(f"stamp run: {status} {body[:200]!r}")
                else:
                    runs_made.append(json.loads(body)["id"])

        db.session.rollback()  # the test holds no transaction while the servers work
        threads = [threading.Thread(target=scans, args=(k * 5,)) for k in range(6)]
        threads += [threading.Thread(target=changes), threading.Thread(target=runs)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while done["scans"] < 300 and time.monotonic() < deadline:
            time.sleep(0.01)
        servers[1].kill()
        victim = workers.pop()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        for t in threads:
            t.join(timeout=120)
        assert not failures, failures[:10]

        # 3. Settle: the survivor counts the inbox (the dead server's rows too), the surviving
        #    worker takes over the dead one's leases.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (db.session.scalar(select(func.count()).select_from(ScanInbox))
                                               or pending_count(db)):
            db.session.rollback()
            time.sleep(0.2)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(ScanInbox)) == 0, "scans left uncounted"
        assert pending_count(db) == 0, "deliveries never went"
    finally:
        for server in servers:
            server.stop()
        stop_workers(workers)
        receiver.close()

    # Scans: each stamp counts what was answered, plus at most the scans the kill cut off.
    counts = dict(db.session.execute(select(Stamp.serial, Stamp.scan_count).where(Stamp.serial.in_(serials))).all())
    assert sum(answered.values()) == 900 and all(counts[s] >= answered[s] for s in serials), (counts, answered)
    extra = sum(counts[s] - answered[s] for s in serials)
    assert extra <= proxy.cut["scan"], f"{extra} scans counted that nobody was answered (cut: {proxy.cut['scan']})"
    assert db.session.scalar(select(func.count()).select_from(Scan)) == sum(counts.values())
    assert db.session.scalar(select(func.sum(ScanDay.scans))) == sum(counts.values())

    # Products: every change kept, every version at the exchange, nothing delivered twice but
    # what the killed worker held.
    for product_id, price in prices.items():
        assert db.session.get(Product, product_id).price_vnd == price
    assert receiver.rejected == 0
    assert normalised(receiver.state) == normalised(expected_state(db, exchange))
    assert {d.status for d in deliveries(db)} <= {DeliveryStatus.delivered, DeliveryStatus.superseded}
    twice = sum(n - 1 for n in receiver.ids.values())
    assert twice <= 5, f"{twice} deliveries received more than once (the killed worker claims at most 5)"

    # Stamps: every run answered exists; the serials of all runs are unique.
    runs = db.session.scalars(select(StampRun).where(StampRun.batch_id == batch_id)).all()
    assert set(runs_made) <= {r.id for r in runs} and len(runs_made) == 8
    issued = db.session.scalar(select(func.count(Stamp.id)).join(StampRun).where(StampRun.batch_id == batch_id))
    distinct = db.session.scalar(select(func.count(func.distinct(Stamp.serial))))
    assert issued == sum(r.count for r in runs) == 30 + 250 * (len(runs) - 1)
    assert distinct == db.session.scalar(select(func.count(Stamp.id)))
    print(f"\nseveral servers: 900 scans answered ({proxy.cut['scan']} cut by the kill, {extra} of those counted), "
          f"30 changes ({proxy.cut['change']} cut), {len(runs) - 1} runs of 250 stamps, "
          f"{len(receiver.ids)} deliveries received ({twice} twice)")
