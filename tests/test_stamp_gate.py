"""Approval gates stamps (issue 13): a run is issued and activated only for a listed product
(published, of an approved producer), with a clear refusal on the web, the API and the CLI."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from marketplace.models import StampRun
from marketplace.stamps.service import issue_run
from marketplace.trace.service import create_batch
from tests.conftest import listed, signed_in
from tests.test_api import api, error_of  # noqa: F401 (fixture)

REFUSAL = "Chỉ phát hành và kích hoạt tem cho sản phẩm đã được duyệt"


def batch_of(db, product, lot="GATE-1"):
    batch = create_batch(db.session, product, lot_code=lot, quantity=Decimal("10"), unit="kg",
                         production_date=dt.date(2025, 10, 1))
    db.session.commit()
    return batch


def runs(db) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(StampRun))


def test_the_web_refuses_and_says_why(app, db, world):
    batch = batch_of(db, world.product_a)  # a draft
    a = signed_in(app, "a@example.vn")
    db.session.rollback()
    page = a.get(f"/dashboard/batches/{batch.id}").get_data(as_text=True)
    assert 'id="stamps-need-listing"' in page and REFUSAL in page
    refused = a.post(f"/dashboard/batches/{batch.id}/runs", data={"count": "10"}, follow_redirects=True)
    assert REFUSAL in refused.get_data(as_text=True) and runs(db) == 0
    listed(world.product_a)
    db.session.commit()
    made = a.post(f"/dashboard/batches/{batch.id}/runs", data={"count": "10"})
    assert made.status_code == 302 and runs(db) == 1
    run_id = db.session.scalar(select(StampRun.id))
    world.a.status = "suspended"
    db.session.commit()
    activated = a.post(f"/dashboard/runs/{run_id}/activate", follow_redirects=True)
    assert REFUSAL in activated.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(StampRun, run_id).status == "issued"


def test_the_api_refuses_with_409_and_activates_once_listed(api, db, world):
    batch = batch_of(db, world.product_a)
    refused = api.call("producer_a", "POST", f"/api/v1/batches/{batch.id}/stamp-runs", json={"count": 5})
    assert refused.status_code == 409 and REFUSAL in error_of(refused)["message"] and runs(db) == 0
    listed(world.product_a)
    db.session.commit()
    made = api.call("producer_a", "POST", f"/api/v1/batches/{batch.id}/stamp-runs", json={"count": 5})
    assert made.status_code == 201
    run_id = made.get_json()["id"]
    db.session.rollback()
    world.product_a.status = "archived"
    db.session.commit()
    blocked = api.call("producer_a", "POST", f"/api/v1/stamp-runs/{run_id}/activate")
    assert blocked.status_code == 409 and REFUSAL in error_of(blocked)["message"]
    db.session.rollback()
    world.product_a.status = "published"
    db.session.commit()
    other = api.call("producer_b", "POST", f"/api/v1/stamp-runs/{run_id}/activate")
    assert other.status_code == 404
    done = api.call("producer_a", "POST", f"/api/v1/stamp-runs/{run_id}/activate")
    assert done.status_code == 200 and done.get_json()["stamps"] == {"active": 5}


def test_the_cli_refuses_on_standard_error(app, db, world, runner):
    batch = batch_of(db, world.product_b)  # a draft of producer B
    result = runner.invoke(args=["stamps", "issue", "--batch", str(batch.id), "--count", "3"])
    assert result.exit_code == 1 and "not published, or its producer not approved" in result.output
    assert runs(db) == 0
    listed(world.product_b)
    db.session.commit()
    run = issue_run(db.session, batch, 3)
    db.session.commit()
    world.b.status = "suspended"
    db.session.commit()
    refused = runner.invoke(args=["stamps", "activate", str(run.id)])
    assert refused.exit_code == 1 and "not published, or its producer not approved" in refused.output
    world.b.status = "approved"
    db.session.commit()
    ok = runner.invoke(args=["stamps", "activate", str(run.id)])
    assert ok.exit_code == 0 and "activated 3 stamps" in ok.output
