"""The command line for batches and stamps, as a script or an operator uses it:
``flask --app wsgi batches list [--json]``, ``stamps issue``, ``stamps csv``, ``stamps pdf``.

Errors exit non-zero with a message on stderr and leave nothing behind.  Click ≥ 8.2 keeps
``result.stdout`` and ``result.stderr`` apart (``result.output`` has both).  ``stamps pdf``
needs ``marketplace.printing``: those tests skip while that package does not exist.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.models import Stamp, StampRun
from marketplace.stamps.serials import is_valid
from tests.conftest import listed, login

BASE = "HTTP://127.0.0.1:5000"
LAYOUTS = ("a4-3x8", "a4-5x13", "roll-50x30", "roll-40x25")


def invoke(runner, db, *args):
    """Run a command the way an operator would; the test's own transaction is ended first
    (the command shares the app context, and SQLite has a single writer)."""
    db.session.commit()
    result = runner.invoke(args=[str(a) for a in args], catch_exceptions=False)
    db.session.expire_all()
    return result


def count(db, model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture(autouse=True)
def stampable(world, db):
    """Producers A's and B's products listed: stamps are issued only for listed products."""
    listed(world.product_a), listed(world.product_b)
    db.session.commit()


@pytest.fixture
def batches(world, db):
    """Batch A1 (producer A), B1 (producer B), and A-OLD (A, recalled)."""
    from marketplace.trace.service import create_batch, recall_batch

    s = db.session
    a1 = create_batch(s, world.product_a, lot_code="dt-2025-01", quantity=Decimal("120"), unit="kg",
                      production_date=dt.date(2025, 10, 1))
    b1 = create_batch(s, world.product_b, lot_code="MO-2025-07", quantity=Decimal("40"), unit="l",
                      production_date=dt.date(2025, 7, 15))
    old = create_batch(s, world.published_a, lot_code="A-OLD", quantity=Decimal("5"), unit="kg",
                       production_date=dt.date(2025, 1, 5))
    s.flush()
    recall_batch(old, "Bao bì hở")
    s.commit()
    return {"a1": a1.id, "b1": b1.id, "old": old.id}


# ---- batches list ------------------------------------------------------------------

def test_batches_list_empty(runner, db, world):
    plain = invoke(runner, db, "batches", "list")
    assert plain.exit_code == 0 and plain.stdout == ""
    as_json = invoke(runner, db, "batches", "list", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == []


def test_batches_list_plain(runner, db, batches):
    result = invoke(runner, db, "batches", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    by_lot = {line.split()[1]: line for line in lines}
    assert set(by_lot) == {"DT-2025-01", "MO-2025-07", "A-OLD"}
    assert by_lot["DT-2025-01"].split()[0] == str(batches["a1"])
    assert "open" in by_lot["DT-2025-01"] and "Gạo nếp cái hoa vàng" in by_lot["DT-2025-01"]
    assert "recalled" in by_lot["A-OLD"]
    assert "Mật ong hoa vải" in by_lot["MO-2025-07"]


def test_batches_list_json_for_scripts(runner, db, batches):
    result = invoke(runner, db, "batches", "list", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout is exactly one JSON document
    assert [row["id"] for row in data] == sorted(batches.values())
    rows = {row["lot"]: row for row in data}
    for row in data:
        assert {"id", "product", "lot", "status"} <= set(row)
        assert isinstance(row["id"], int)
    assert rows["DT-2025-01"]["product"] == "Gạo nếp cái hoa vàng"
    assert rows["DT-2025-01"]["status"] == "open"
    assert rows["A-OLD"]["status"] == "recalled"
    assert rows["MO-2025-07"]["product"] == "Mật ong hoa vải"
    assert "Gạo nếp" in result.stdout  # Vietnamese kept readable, not \\u-escaped


# ---- stamps issue ------------------------------------------------------------------

def test_issue_prints_the_run_id_and_creates_the_stamps(runner, db, batches):
    result = invoke(runner, db, "stamps", "issue", "--batch", batches["a1"], "--count", 10)
    assert result.exit_code == 0, result.output
    run_id = int(result.stdout.strip())  # only the id on stdout: usable as $(flask … stamps issue …)
    run = db.session.get(StampRun, run_id)
    assert run.batch_id == batches["a1"] and run.count == 10 and run.status == "issued"
    serials = db.session.scalars(select(Stamp.serial).where(Stamp.run_id == run_id).order_by(Stamp.position)).all()
    assert len(serials) == len(set(serials)) == 10
    assert all(is_valid(s) for s in serials)
    assert "issuing stamps" in result.stderr  # the progress bar goes to stderr

    again = invoke(runner, db, "stamps", "issue", "--batch", batches["a1"], "--count", 1)
    assert again.exit_code == 0
    assert int(again.stdout.strip()) != run_id
    assert count(db, Stamp) == 11


@pytest.mark.parametrize("args,message", [
    (["--count", "0"], "--count must be between 1 and 100,000"),
    (["--count", "100001"], "--count must be between 1 and 100,000"),
    (["--count", "-3"], "--count must be between 1 and 100,000"),
], ids=["zero", "too-many", "negative"])
def test_issue_count_out_of_range(runner, db, batches, args, message):
    result = invoke(runner, db, "stamps", "issue", "--batch", batches["a1"], *args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stdout == ""
    assert count(db, StampRun) == 0 and count(db, Stamp) == 0


def test_issue_unknown_batch(runner, db, batches):
    result = invoke(runner, db, "stamps", "issue", "--batch", 999, "--count", 10)
    assert result.exit_code == 1
    assert "no batch with id 999" in result.stderr
    assert result.stdout == ""
    assert count(db, StampRun) == 0 and count(db, Stamp) == 0


def test_issue_for_a_recalled_batch_is_refused(runner, db, batches):
    result = invoke(runner, db, "stamps", "issue", "--batch", batches["old"], "--count", 5)
    assert result.exit_code == 1
    assert "recalled" in result.stderr
    assert count(db, StampRun) == 0 and count(db, Stamp) == 0


@pytest.mark.parametrize("args", [
    ["--batch", "1"],
    ["--count", "5"],
    ["--batch", "1", "--count", "abc"],
    ["--batch", "x", "--count", "5"],
], ids=["no-count", "no-batch", "count-not-int", "batch-not-int"])
def test_issue_usage_errors(runner, db, batches, args):
    result = invoke(runner, db, "stamps", "issue", *args)
    assert result.exit_code == 2
    assert "Error" in result.stderr
    assert count(db, StampRun) == 0 and count(db, Stamp) == 0


# ---- stamps csv --------------------------------------------------------------------

def issue(runner, db, batch_id, n) -> int:
    result = invoke(runner, db, "stamps", "issue", "--batch", batch_id, "--count", n)
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip())


def test_csv_writes_bom_header_and_rows(runner, db, batches, tmp_path, app, world):
    run_id = issue(runner, db, batches["a1"], 12)
    out = tmp_path / "serials.csv"
    result = invoke(runner, db, "stamps", "csv", run_id, "-o", out)
    assert result.exit_code == 0, result.output
    assert "12 stamps" in result.stdout
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["serial", "url", "lot", "product"]
    assert len(rows) == 13
    serials = db.session.scalars(select(Stamp.serial).where(Stamp.run_id == run_id).order_by(Stamp.position)).all()
    assert [r[0] for r in rows[1:]] == serials
    for serial, url, lot, product in rows[1:]:
        assert url == f"{BASE}/S/{serial}"
        assert lot == "DT-2025-01" and product == "Gạo nếp cái hoa vàng"

    # the same bytes as the print-shop CSV downloaded from the run page
    client = app.test_client()
    login(client, "a@example.vn")
    web = client.get(f"/dashboard/runs/{run_id}/stamps.csv")
    assert web.status_code == 200
    assert web.data == raw


def test_csv_digital_link_for_a_product_with_gtin(runner, db, batches, tmp_path, world):
    world.product_b.gtin = "08934567890120"
    db.session.commit()
    run_id = issue(runner, db, batches["b1"], 3)
    out = tmp_path / "b.csv"
    assert invoke(runner, db, "stamps", "csv", run_id, "--output", out).exit_code == 0
    rows = list(csv.reader(io.StringIO(out.read_text("utf-8-sig"))))
    assert [r[1] for r in rows[1:]] == [f"{BASE.replace('HTTP', 'http', 1)}/01/08934567890120/10/MO-2025-07/21/{r[0]}" for r in rows[1:]]  # lower-case scheme (GS1 parsers)


def test_csv_unknown_run(runner, db, batches, tmp_path):
    out = tmp_path / "nothing.csv"
    result = invoke(runner, db, "stamps", "csv", 999, "-o", out)
    assert result.exit_code == 1
    assert "no stamp run with id 999" in result.stderr
    assert not out.exists()
    assert invoke(runner, db, "stamps", "csv", 1).exit_code == 2  # -o is required


# ---- stamps pdf --------------------------------------------------------------------

def test_pdf_roll_40x25(runner, db, batches, tmp_path):
    pytest.importorskip("marketplace.printing.pdf")
    run_id = issue(runner, db, batches["a1"], 10)
    out = tmp_path / "labels.pdf"
    result = invoke(runner, db, "stamps", "pdf", run_id, "--layout", "roll-40x25", "-o", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    assert "10 labels (roll-40x25)" in result.stdout
    assert db.session.get(StampRun, run_id).downloads == 1


@pytest.mark.parametrize("layout", LAYOUTS)
def test_pdf_every_layout_and_calibration(runner, db, batches, tmp_path, layout):
    pytest.importorskip("marketplace.printing.pdf")
    run_id = issue(runner, db, batches["a1"], 5)
    for extra in ([], ["--calibration"]):
        out = tmp_path / f"{layout}{len(extra)}.pdf"
        result = invoke(runner, db, "stamps", "pdf", run_id, "--layout", layout, "-o", out, *extra)
        assert result.exit_code == 0, result.output
        assert out.read_bytes().startswith(b"%PDF")


def test_pdf_unknown_run(runner, db, batches, tmp_path):
    out = tmp_path / "labels.pdf"
    result = invoke(runner, db, "stamps", "pdf", 999, "--layout", "a4-3x8", "-o", out)
    assert result.exit_code == 1
    assert "no stamp run with id 999" in result.stderr
    assert not out.exists()


def test_pdf_unknown_layout_is_a_choice_error(runner, db, batches, tmp_path):
    run_id = issue(runner, db, batches["a1"], 2)
    out = tmp_path / "labels.pdf"
    result = invoke(runner, db, "stamps", "pdf", run_id, "--layout", "a4-9x9", "-o", out)
    assert result.exit_code == 2
    assert "Invalid value for '--layout'" in result.stderr
    assert "a4-3x8" in result.stderr  # the choices are listed
    assert not out.exists()
    assert db.session.get(StampRun, run_id).downloads == 0
