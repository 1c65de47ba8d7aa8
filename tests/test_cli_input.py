"""What the command line does with input out of range: ids beyond any INTEGER key, files that
cannot be written, account fields longer than their columns.  Each is refused with a clear
message and a non-zero exit, never a traceback (``catch_exceptions=False``: an exception the
command lets through fails the test).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from marketplace.access import MAX_ID
from marketplace.models import User

HUGE = 2**63  # beyond SQLite's INTEGER: OverflowError in the driver
BEYOND = MAX_ID + 1  # beyond PostgreSQL's INTEGER keys


def invoke(runner, db, *args, **kwargs):
    db.session.commit()  # the command writes with the test's app context (SQLite: one writer)
    result = runner.invoke(args=[str(a) for a in args], catch_exceptions=False, **kwargs)
    db.session.expire_all()
    return result


def id_commands(ident, out):
    """Every command that takes an id: (argv, the name click gives the id in its usage error)."""
    return [
        (["stamps", "activate", ident], "RUN_ID"),
        (["stamps", "pdf", ident, "-o", out], "RUN_ID"),
        (["stamps", "csv", ident, "-o", out], "RUN_ID"),
        (["stamps", "issue", "--batch", ident, "--count", 1], "--batch"),
        (["trace", "verify", ident], "BATCH_ID"),
        (["trace", "epcis", ident, "-o", out], "BATCH_ID"),
    ]


COMMAND_NAMES = [" ".join(str(a) for a in argv[:2]) for argv, _ in id_commands(1, "x")]


@pytest.mark.parametrize("ident", [HUGE, BEYOND, 0], ids=["2**63", "MAX_ID+1", "zero"])
@pytest.mark.parametrize("index", range(len(COMMAND_NAMES)), ids=COMMAND_NAMES)
def test_id_out_of_range_is_a_usage_error(runner, db, tmp_path, ident, index):
    out = tmp_path / "out.bin"
    argv, name = id_commands(ident, out)[index]
    result = invoke(runner, db, *argv)
    assert result.exit_code == 2, result.output
    assert name in result.stderr and str(ident) in result.stderr
    assert "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize("index", range(len(COMMAND_NAMES)), ids=COMMAND_NAMES)
def test_largest_id_is_looked_up(runner, db, tmp_path, index):
    """MAX_ID itself is a possible key: the command looks for it and says it is not there."""
    out = tmp_path / "out.bin"
    argv, _ = id_commands(MAX_ID, out)[index]
    result = invoke(runner, db, *argv)
    assert result.exit_code == 1, result.output
    assert f"with id {MAX_ID}" in result.stderr
    assert not out.exists()


# ---- files that cannot be written -----------------------------------------------------------------

@pytest.fixture
def batch_and_run(world, db):
    """A listed product's batch and a run of 2 stamps of it."""
    from marketplace.stamps import service
    from marketplace.trace.service import create_batch
    from tests.conftest import listed

    listed(world.product_a)
    batch = create_batch(db.session, world.product_a, lot_code="dt-2025-09", quantity=Decimal("10"), unit="kg",
                         production_date=dt.date(2025, 9, 1))
    db.session.flush()
    run = service.issue_run(db.session, batch, 2)
    db.session.commit()
    return batch.id, run.id


def test_feed_export_into_missing_directory(runner, db, tmp_path):
    out = tmp_path / "nonexistent" / "x.csv"
    result = invoke(runner, db, "feed", "export", "thanhhoa", "--format", "csv", "-o", out)
    assert result.exit_code != 0
    assert "Error" in result.stderr and str(out) in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["csv", "pdf"])
def test_stamps_file_into_missing_directory(runner, db, tmp_path, batch_and_run, command):
    out = tmp_path / "nonexistent" / f"x.{command}"
    result = invoke(runner, db, "stamps", command, batch_and_run[1], "-o", out)
    assert result.exit_code != 0
    assert "Error" in result.stderr and str(out) in result.stderr
    assert "Traceback" not in result.output


def test_epcis_into_missing_directory(runner, db, tmp_path, batch_and_run):
    out = tmp_path / "nonexistent" / "x.jsonld"
    result = invoke(runner, db, "trace", "epcis", batch_and_run[0], "-o", out)
    assert result.exit_code != 0
    assert "Error" in result.stderr and str(out) in result.stderr
    assert "Traceback" not in result.output


# ---- create-user: the web forms' email and name rules ------------------------------------------------

def create_user(runner, db, *args):
    return invoke(runner, db, "create-user", "--role", "admin", *args, "--password-stdin",
                  input="Good-Pass-2025\n")


def users(db) -> int:
    return db.session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize("args, option", [
    (["--email", "a" * 300 + "@x.vn"], "--email"),
    (["--email", "ok@x.vn", "--name", "N" * 500], "--name"),
    (["--email", "ok@x.vn", "--name", "N" * 121], "--name"),
    (["--email", "two@@x.vn"], "--email"),
])
def test_create_user_refuses_what_the_forms_refuse(runner, db, args, option):
    result = create_user(runner, db, *args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {option}")
    assert "Traceback" not in result.output
    assert users(db) == 0


def test_create_user_accepts_what_the_forms_accept(runner, db):
    result = create_user(runner, db, "--email", "Le.Thi.Binh@Dong-Tien.gov.vn", "--name", "N" * 120)
    assert result.exit_code == 0, result.output
    user = db.session.scalars(select(User)).one()
    assert (user.email, user.name) == ("le.thi.binh@dong-tien.gov.vn", "N" * 120)
    assert create_user(runner, db, "--email", "no-name@x.vn").exit_code == 0  # the name stays optional here
