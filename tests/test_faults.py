"""Faults (issue 7, "Proof"): an exchange that refuses connections for ten minutes while
1,000 product changes happen and delivery workers are SIGKILLed, then comes back.

Time is shortened a hundredfold instead of waited out: the retry backoff runs at 1/100 of its
production values (first retry 0.05 s instead of 5 s, at most 3 s apart instead of 300 s), so
the ten-minute outage lasts 6 s of the test (and at least as long as the 1,000 changes take).
During it nothing listens on the receiver's port (connection refused, not an HTTP error).
Afterwards: nothing lost (no delivery pending or dead), and the receiver holds exactly the
catalogue the exchange accepts, each item at its newest version.
"""
from __future__ import annotations

import random
import signal
import subprocess
import time

from sqlalchemy import func, select

from marketplace.catalogue.service import update_product
from marketplace.models import Delivery, DeliveryStatus
from tests.test_push import (connect, deliveries, expected_state, listed, normalised, papp,  # noqa: F401
                             pdb, pending_count, start_worker, stop_workers)

SCALE = 100  # production seconds per test second
OUTAGE_SECONDS = 10 * 60 / SCALE
UPDATES = 1_000


def _worker(database_url: str, tmp_path) -> subprocess.Popen:
    # a killed worker's claims come back after 3 s: longer than one send may take (2 s)
    return start_worker(database_url, tmp_path, batch=10, PUSH_LEASE_SECONDS="3", PUSH_TIMEOUT_SECONDS="2",
                        PUSH_RETRY_BASE_SECONDS=str(5 / SCALE), PUSH_RETRY_CAP_SECONDS=str(300 / SCALE))


def test_ten_minute_refusal_with_killed_workers_loses_nothing(pdb, papp, world, database_url, tmp_path):
    receiver, exchange = connect(pdb)
    receiver.close()  # the exchange goes down: connections to its port are refused
    rng = random.Random(11)
    workers = [_worker(database_url, tmp_path), _worker(database_url, tmp_path)]
    try:
        products = listed(pdb, world.a, 40)
        outage_started = time.monotonic()
        for n in range(UPDATES):
            product = products[rng.randrange(len(products))]
            update_product(pdb.session, product, {"stock": product.stock + 1, "price_vnd": 40_000 + n})
            pdb.session.commit()
            if n % 100 == 50:  # SIGKILL a worker mid-retry, start a fresh one
                victim = workers.pop(rng.randrange(len(workers)))
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                workers.append(_worker(database_url, tmp_path))
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
        tried = pdb.session.scalar(select(func.count(Delivery.id)).where(Delivery.attempts > 0,
                                                                         Delivery.status == DeliveryStatus.pending))
        refused = pdb.session.scalar(select(func.count(Delivery.id)).where(Delivery.last_error != ""))
        pdb.session.commit()
        assert tried > 0 and refused > 0, "the workers never tried the refused endpoint"
        assert pending_count(pdb) > 0

        receiver.restart()  # the exchange is back on the same address
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and pending_count(pdb):
            time.sleep(0.2)
        assert pending_count(pdb) == 0, "deliveries never went after the exchange came back"
    finally:
        stop_workers(workers)
        receiver.close()
    assert receiver.rejected == 0
    assert normalised(receiver.state) == normalised(expected_state(pdb, exchange))
    assert {d.status for d in deliveries(pdb)} <= {DeliveryStatus.delivered, DeliveryStatus.superseded}
    assert not [d for d in deliveries(pdb) if d.status == DeliveryStatus.dead]
