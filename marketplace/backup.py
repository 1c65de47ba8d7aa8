"""Backups of a running instance: a consistent copy of the SQLite database and the uploads
folder, and restoring one into an empty instance (``flask --app wsgi backup|restore PATH``).

The database is copied with SQLite's online backup API in one step: the copy is the
database as of one moment (a read transaction; in WAL mode writers go on meanwhile), never
a file copy, which could catch a half-written page or miss the WAL.  The copy is checked
(``PRAGMA integrity_check``) and its row counts are written beside it in ``manifest.json``;
a restore checks the same before it puts anything in place.  Uploads are written once under
random names and never changed, so copying the files is consistent.

A backup is a directory::

    PATH/marketplace.db     the database
    PATH/uploads/…          product photos, certificate scans, diary photos
    PATH/manifest.json      when, the schema revision, row counts, files

PostgreSQL has its own tools (``pg_dump``/``pg_restore``); :func:`pg_dump_advice` says how.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

DB_NAME = "marketplace.db"
MANIFEST = "manifest.json"
UPLOADS = "uploads"


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True)
class Result:
    path: Path
    tables: dict[str, int]
    files: int


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases, or an in-memory one)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def pg_dump_advice(database_url: str, path: str) -> str:
    url = make_url(database_url)
    # Never the password: pg_dump reads it from PGPASSWORD or ~/.pgpass.
    safe = URL.create("postgresql", username=url.username, host=url.host, port=url.port,
                      database=url.database).render_as_string(hide_password=False)
    return (f"This instance runs on PostgreSQL: back it up with PostgreSQL's own tools, e.g.\n"
            f"  pg_dump --format=custom --file={path}/marketplace.dump '{safe}'\n"
            f"  (the password from PGPASSWORD or ~/.pgpass), and restore into an empty database with\n"
            f"  pg_restore --no-owner --dbname=<url> {path}/marketplace.dump\n"
            f"Copy the uploads folder beside it (files are never changed once written).")


def _counts(connection: sqlite3.Connection) -> dict[str, int]:
    tables = [r[0] for r in connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return {t: connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


def _check(connection: sqlite3.Connection, what: str) -> None:
    result = [r[0] for r in connection.execute("PRAGMA integrity_check")]
    if result != ["ok"]:
        raise BackupError(f"{what} failed its integrity check: {'; '.join(result[:5])}")


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return row[0] if row else None


def _copy_files(source: Path, target: Path) -> int:
    """Copy the uploads; a file removed meanwhile (a photo deleted) is skipped."""
    count = 0
    if not source.is_dir():
        return 0
    for root, _dirs, files in os.walk(source):
        for name in files:
            src = Path(root) / name
            dst = target / src.relative_to(source)
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(src, dst)
            except FileNotFoundError:
                continue
            count += 1
    return count


def _empty_dir(path: Path) -> bool:
    return not path.exists() or (path.is_dir() and not any(path.iterdir()))


def backup(database: Path, upload_dir: Path, path: Path, *, now: dt.datetime | None = None) -> Result:
    """Copy the live database ``database`` and ``upload_dir`` into the new directory ``path``."""
    if not database.is_file():
        raise BackupError(f"no database at {database}")
    if not _empty_dir(path):
        raise BackupError(f"{path} exists and is not empty: choose a new directory")
    path.mkdir(parents=True, exist_ok=True)
    target_file = path / DB_NAME
    source = sqlite3.connect(database, timeout=30)  # only reads
    target = sqlite3.connect(target_file)
    try:
        source.execute("PRAGMA busy_timeout = 30000")
        source.backup(target)  # one step: a single consistent snapshot
        target.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        _check(target, "the copy")
        tables, revision = _counts(target), _revision(target)
    finally:
        target.close()
        source.close()
    files = _copy_files(upload_dir, path / UPLOADS)
    manifest = {"created_at": (now or dt.datetime.now(dt.timezone.utc)).isoformat(), "revision": revision,
                "tables": tables, "uploads": files, "database": DB_NAME}
    (path / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return Result(path, tables, files)


def read_manifest(path: Path) -> dict:
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BackupError(f"{path} is not a backup (no readable {MANIFEST})") from None
    if not (path / manifest.get("database", DB_NAME)).is_file():
        raise BackupError(f"{path} has no {DB_NAME}")
    return manifest


# Rows every migrated database has (seeded by the migrations), or a new instance's worker
# writes before anyone uses it (the daily sweep's day).
SEEDED_TABLES = frozenset({"alembic_version", "product_group", "exchange", "daily_job"})


def _holds_nothing(connection: sqlite3.Connection) -> bool:
    """No table, or none with rows beyond what the migrations seed (a new instance on which
    ``flask db upgrade`` already ran)."""
    return not any(count for table, count in _counts(connection).items() if table not in SEEDED_TABLES)


def restore(path: Path, database: Path, upload_dir: Path) -> Result:
    """Restore the backup in ``path`` into an empty instance (no database or an empty one,
    no uploads); checks the copy and its row counts against the manifest first.

    Stop the app and the worker first.  The backup is copied *into* the instance's database
    file through SQLite's backup API (which takes SQLite's own locks), never by replacing the
    file: a process that still had it open would go on writing to a deleted file.
    """
    manifest = read_manifest(path)
    if not _empty_dir(upload_dir):
        raise BackupError(f"the uploads folder {upload_dir} is not empty: restore only into a new instance")
    source = sqlite3.connect(f"file:{path / manifest.get('database', DB_NAME)}?mode=ro", uri=True)
    try:
        _check(source, "the backup")
        tables = _counts(source)
        if tables != manifest.get("tables"):
            raise BackupError("the backup's row counts differ from its manifest: it was changed or damaged")
        database.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(database, timeout=30)
        try:
            if not _holds_nothing(target):  # checked on the connection that writes, just before
                raise BackupError(f"the database {database} is not empty: restore only into a new instance")
            source.backup(target)
            target.execute("PRAGMA journal_mode = WAL")
            _check(target, "the restored database")
        finally:
            target.close()
    finally:
        source.close()
    files = _copy_files(path / UPLOADS, upload_dir)
    return Result(path, tables, files)
