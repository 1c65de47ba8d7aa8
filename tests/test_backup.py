"""Backups (issue 6): ``flask --app wsgi backup PATH`` copies the live SQLite database (online
backup API) and the uploads; ``restore PATH`` puts a backup into a new instance.  A writer
killed with SIGKILL leaves an intact database holding every row it acknowledged.

SQLite only (PostgreSQL instances use pg_dump; the command says so, tested here too).
"""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text

from marketplace import backup
from marketplace.extensions import db as _db
from marketplace.models import Producer
from tests.conftest import PG_URL, make_config

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite backups; PostgreSQL uses pg_dump")

INSERT = text(
    "INSERT INTO producer (kind, name, slug, representative, tax_code, phone, email, address_line, province_code, "
    "ward_code, description, status, review_note, created_at, updated_at) VALUES ('household', :name, :slug, "
    "'Người ghi', '', '0912345678', '', 'Thôn 1', 38, 15724, '', 'approved', '', "
    "'2025-11-01 00:00:00.000000', '2025-11-01 00:00:00.000000')")


def sqlite_file(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def integrity(path: Path) -> str:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()


def count(path: Path, table: str) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        connection.close()


def test_backup_while_four_threads_write_then_restore(app, database_url, tmp_path):
    uploads = Path(app.config["UPLOAD_DIR"])
    (uploads / "ab").mkdir(parents=True)
    for name in ("ab/photo1.jpg", "photo2.jpg"):
        (uploads / name).write_bytes(os.urandom(2048))
    engine = _db.engine
    stop, written, errors = threading.Event(), [], []

    def write(n: int) -> None:
        i = 0
        try:
            while not stop.is_set():
                with engine.begin() as connection:
                    connection.execute(INSERT, {"name": f"Hộ ghi {n}-{i}", "slug": f"ghi-{n}-{i}"})
                written.append((n, i))
                i += 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        before = len(written)
        copies = [backup.backup(sqlite_file(database_url), uploads, tmp_path / f"copy{k}") for k in range(3)]
        time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors and len(written) > before  # the writers went on during the backups
    for result in copies:
        copy = result.path / backup.DB_NAME
        assert integrity(copy) == "ok"
        manifest = json.loads((result.path / backup.MANIFEST).read_text())
        assert manifest["tables"]["producer"] == count(copy, "producer") == result.tables["producer"] > 0
        assert manifest["uploads"] == 2 and manifest["revision"]
    assert copies[0].tables["producer"] <= copies[1].tables["producer"] <= copies[2].tables["producer"]

    # Restore the last copy into a new instance: same rows, same files.
    target = tmp_path / "new-instance"
    restored = backup.restore(copies[2].path, target / "marketplace.db", target / "uploads")
    assert restored.tables == copies[2].tables
    assert integrity(target / "marketplace.db") == "ok"
    assert count(target / "marketplace.db", "producer") == copies[2].tables["producer"]
    assert (target / "uploads" / "ab" / "photo1.jpg").read_bytes() == (uploads / "ab" / "photo1.jpg").read_bytes()


def test_cli_backup_and_restore_into_a_new_instance(app, app_factory, world, runner, tmp_path):
    path = tmp_path / "nightly"
    result = runner.invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output
    assert "backed up" in result.output
    assert runner.invoke(args=["backup", str(path)]).exit_code == 1  # never over an existing backup

    fresh = tmp_path / "fresh"
    new = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{fresh / 'marketplace.db'}", UPLOAD_DIR=str(fresh / "up"))
    with new.app_context():  # the command runs in the new instance's context, as `flask` would
        restored = new.test_cli_runner().invoke(args=["restore", str(path)])
        assert restored.exit_code == 0, restored.output
        names = set(_db.session.scalars(select(Producer.name)))
        assert {"Hộ Trịnh Văn A", "Hộ Lê Thị B", "HTX Đồng Tiến"} <= names
        _db.session.remove()
        # The instance now holds data: a second restore is refused, nothing is overwritten.
        again = new.test_cli_runner().invoke(args=["restore", str(path)])
        assert again.exit_code == 1 and "not empty" in again.output


def test_restore_into_a_migrated_but_unused_instance(app_factory, world, runner, tmp_path, database_template):
    path = tmp_path / "b"
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    migrated = tmp_path / "migrated.db"
    migrated.write_bytes(Path(database_template["path"]).read_bytes())  # `flask db upgrade` ran, nothing else
    new = app_factory(SQLALCHEMY_DATABASE_URI=f"sqlite:///{migrated}", UPLOAD_DIR=str(tmp_path / "u2"))
    with new.app_context():
        assert new.test_cli_runner().invoke(args=["restore", str(path)]).exit_code == 0
    assert count(migrated, "producer") == 3


def test_restore_writes_into_the_file_a_process_may_hold_open(world, runner, tmp_path, database_template):
    """The backup goes into the existing database file (SQLite's backup API), never by
    replacing it: a connection still open on it sees the restored rows, not a deleted file."""
    path = tmp_path / "b"
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    target = tmp_path / "open.db"
    target.write_bytes(Path(database_template["path"]).read_bytes())
    held = sqlite3.connect(target)
    try:
        backup.restore(path, target, tmp_path / "up")
        assert held.execute("SELECT count(*) FROM producer").fetchone()[0] == 3
    finally:
        held.close()


def test_a_damaged_backup_is_refused(world, runner, tmp_path):
    path = tmp_path / "b"
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    manifest = json.loads((path / backup.MANIFEST).read_text())
    manifest["tables"]["producer"] += 1
    (path / backup.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(backup.BackupError, match="row counts"):
        backup.restore(path, tmp_path / "x" / "m.db", tmp_path / "x" / "up")
    assert not (tmp_path / "x" / "m.db").exists()
    with pytest.raises(backup.BackupError, match="not a backup"):
        backup.restore(tmp_path, tmp_path / "y.db", tmp_path / "yu")


def test_postgresql_instances_are_told_about_pg_dump(app_factory, tmp_path):
    pg = app_factory(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://officer:s3cret-pw@db.example:5432/ocop")
    with pg.app_context():
        for command in ("backup", "restore"):
            result = pg.test_cli_runner().invoke(args=[command, str(tmp_path)])
            assert result.exit_code == 1
            assert "pg_dump" in result.output and "s3cret-pw" not in result.output


# The service's own SQLite setup (WAL, synchronous=NORMAL, BEGIN IMMEDIATE: the hooks in
# marketplace.extensions), without building the whole app in each of the 20 processes.
WRITER = r"""
import os, sys
from sqlalchemy import create_engine, text
import marketplace.extensions  # noqa: F401  (registers the SQLite connection and BEGIN hooks)
engine = create_engine(os.environ["DATABASE_URL"])
insert = text(sys.argv[1])
i = int(sys.argv[2])
while True:
    with engine.begin() as connection:
        connection.execute(insert, {"name": f"Hộ bền {i}", "slug": f"ben-{i}"})
    print(i, flush=True)  # acknowledged: committed
    i += 1
"""


def test_killed_writers_leave_an_intact_database_with_every_acknowledged_row(database_url, tmp_path):
    path = sqlite_file(database_url)
    env = dict(os.environ, DATABASE_URL=database_url, SECRET_KEY="kill-test", UPLOAD_DIR=str(tmp_path / "up"))
    rng = random.Random(20)
    acknowledged: list[int] = []
    next_id = 0
    for _ in range(20):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, INSERT.text, str(next_id)], cwd=ROOT, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = writer.stdout.readline()  # started and writing
        assert first.strip(), f"the writer did not start: {writer.stderr.read()[-2000:]}"
        acknowledged.append(int(first))
        time.sleep(rng.uniform(0.02, 0.25))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        acknowledged.extend(int(line) for line in writer.stdout.read().split())
        writer.stdout.close()
        writer.stderr.close()
        assert integrity(path) == "ok"
        engine = create_engine(database_url)
        with engine.connect() as connection:
            stored = {int(s.removeprefix("ben-")) for s in connection.scalars(
                select(Producer.slug).where(Producer.slug.like("ben-%")))}
        engine.dispose()
        missing = set(acknowledged) - stored
        assert not missing, f"acknowledged rows lost: {sorted(missing)[:10]}"
        next_id = max(stored) + 1  # a row committed but killed before its acknowledgement is kept too
    assert len(acknowledged) >= 20
    with create_engine(database_url).connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Producer)) >= len(set(acknowledged))
