"""Command-line interface (docs/architecture.md, "Command line"): ``flask --app wsgi <command>``."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click
import wtforms
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.engine import make_url

from . import audit, backup
from .access import parse_scope
from .auth.forms import RegisterForm
from .config import is_loopback_url
from .extensions import db
from .feeds import dates
from .feeds.cli import exchange_cli, feed_cli, worker_command
from .feeds.service import keep_verdicts
from .models import Producer, ProducerRole, User, UserRole
from .models.base import local_today
from .passwords import MAX_LENGTH, hash_password, password_problem
from .scan import frames, retention
from .scan.scanner import forget_old_keys
from .stamps.cli import stamps_cli
from .text import clean
from .trace.cli import batches_cli, trace_cli


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


class AccountFields(wtforms.Form):
    """An account's email and name with the rules of the web's account form, and wtforms'
    own (English) messages."""

    email = RegisterForm.email
    name = RegisterForm.name


def account_problem(email: str, name: str) -> str | None:
    """What the account form would refuse in ``--email`` or ``--name`` (which may stay empty here)."""
    form = AccountFields(data={"email": email, "name": name})
    form.validate()
    for field in form:
        if field.errors and (field.name == "email" or name):
            return f"--{field.name}: {field.errors[0]}"
    return None


@click.command("create-user")
@click.option("--email", required=True, help="Login email.")
@click.option("--role", required=True, type=click.Choice([r.value for r in UserRole]))
@click.option("--producer", "producer_slug", help="Producer slug (role producer only).")
@click.option("--name", default="", help="Display name.")
@click.option("--scope", "scope_text", help="An officer's jurisdiction: 'province' (the default) or "
                                                 "comma-separated 2025 ward codes, e.g. 15724,15667.")
@click.option("--password-stdin", is_flag=True, help="Read the password as one line from standard input.")
def create_user(email: str, role: str, producer_slug: str | None, name: str, password_stdin: bool,
                scope_text: str | None) -> None:
    """Create an account.  Prompts for the password unless --password-stdin is given."""
    email, name = clean(email).strip().casefold(), clean(name).strip()
    if "@" not in email:
        fail("--email must be an email address")
    problem = account_problem(email, name)
    if problem:
        fail(problem)
    wards = None
    if scope_text is not None:
        if role != UserRole.officer.value:
            fail("--scope is only for --role officer (admins act for the whole province)")
        try:
            wards = parse_scope(clean(scope_text))
        except ValueError as exc:
            fail(f"--scope: {exc}")
    producer = None
    if role == UserRole.producer.value:
        if not producer_slug:
            fail("--producer SLUG is required for --role producer")
        producer = db.session.scalars(select(Producer).where(Producer.slug == producer_slug)).first()
        if producer is None:
            fail(f"no producer with slug {producer_slug!r}")
    elif producer_slug:
        fail("--producer is only for --role producer")
    if db.session.scalars(select(User.id).where(User.email == email)).first() is not None:
        fail(f"a user with email {email} already exists")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = password_problem(password, email)
    if problem:
        fail({"too_short": "password shorter than 8 characters",
              "too_long": f"password longer than {MAX_LENGTH} characters",
              "common": "password is too common"}[problem])
    producer_role = None
    if producer is not None:
        has_owner = db.session.scalars(select(User.id).where(
            User.producer_id == producer.id, User.producer_role == ProducerRole.owner.value)).first()
        producer_role = ProducerRole.staff.value if has_owner else ProducerRole.owner.value
    user = User(email=email, name=name, role=role, producer=producer, producer_role=producer_role,
                password_hash=hash_password(password, current_app.config["PASSWORD_HASH_METHOD"]))
    if role == UserRole.officer.value:
        user.set_scope(wards)
    db.session.add(user)
    audit.record(db.session, "user.create", user, summary=email,  # from the command line: actor "cli"
                 after={"email": email, "role": role, "producer": producer.slug if producer else None,
                        **({"scope": user.scope, "wards": wards or []} if role == UserRole.officer.value else {})})
    db.session.commit()
    scope = "" if role != UserRole.officer.value else (
        " for the whole province" if wards is None else f" for wards {','.join(map(str, wards))}")
    click.echo(f"created {role} {email}" + (f" ({producer_role} of {producer.slug})" if producer else "") + scope)


@click.command("reset-second-factor")
@click.option("--email", required=True, help="The account whose phone (authenticator app) is lost.")
@with_appcontext
def reset_second_factor_command(email: str) -> None:
    """Remove an account's second factor and end its sessions: it enrols again at its next
    login (the way back when the only admin has lost both phone and recovery codes)."""
    email = clean(email).strip().casefold()
    user = db.session.scalars(select(User).where(User.email == email)).first()
    if user is None:
        fail(f"no user with email {email}")
    if not user.has_second_factor:
        click.echo(f"{email} has no second factor: nothing to reset")
        return
    user.clear_second_factor()
    user.revoke_sessions()
    audit.record(db.session, "user.2fa_reset", user, summary=email)  # from the command line: actor "cli"
    db.session.commit()
    click.echo(f"second factor of {email} removed; it enrols again at its next login")


@click.command("seed-demo")
def seed_demo_command() -> None:
    """Load the Triệu Sơn demo data (idempotent)."""
    from .demo import seed_demo  # its drawn photos are loaded only to seed, not by every command

    seed_demo(db.session, current_app.config, echo=click.echo)


@click.command("db-empty")
def db_empty_command() -> None:
    """Exit 0 when the database has no producers yet (used by `make run`)."""
    sys.exit(0 if db.session.scalar(select(Producer.id).limit(1)) is None else 1)


@click.command("check-base-url")
@with_appcontext
def check_base_url_command() -> None:
    """Warn when PUBLIC_BASE_URL names this machine only (used by `make run`): stamps printed
    then carry links no buyer's phone can open."""
    url = current_app.config["PUBLIC_BASE_URL"]
    if is_loopback_url(url):
        click.echo(f"warning: PUBLIC_BASE_URL is {url}: labels printed now encode a link that opens on this "
                   f"computer only, never on a buyer's phone. Set PUBLIC_BASE_URL to the address phones "
                   f"reach (e.g. PUBLIC_BASE_URL=https://cho-ocop.example.vn make run) before printing stamps.",
                   err=True)


def _sqlite_database(path: Path) -> Path:
    """The instance's SQLite file; on PostgreSQL, how to use pg_dump instead (and exit)."""
    url = current_app.config["SQLALCHEMY_DATABASE_URI"]
    database = backup.sqlite_path(url)
    if database is None:
        if make_url(url).get_backend_name() == "postgresql":
            fail(backup.pg_dump_advice(url, str(path)))
        fail("backup and restore work on a SQLite database file only")
    return database


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
def backup_command(path: Path) -> None:
    """Copy the running database (consistently, while the app runs) and the uploads folder
    into PATH, a new directory."""
    database = _sqlite_database(path)
    try:
        result = backup.backup(database, Path(current_app.config["UPLOAD_DIR"]), path)
    except (backup.BackupError, OSError, sqlite3.Error) as exc:
        fail(f"backup failed: {exc}")
    click.echo(f"backed up {sum(result.tables.values())} rows in {len(result.tables)} tables "
               f"and {result.files} uploaded files to {path}")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore_command(path: Path) -> None:
    """Restore the backup in PATH into this instance, which must be new (no data, no uploads).
    Stop the app and the worker first."""
    database = _sqlite_database(path)
    db.engine.dispose()  # no pooled connection to the file being replaced
    try:
        result = backup.restore(path, database, Path(current_app.config["UPLOAD_DIR"]))
    except (backup.BackupError, OSError, sqlite3.Error) as exc:
        fail(f"restore failed: {exc}")
    click.echo(f"restored {sum(result.tables.values())} rows in {len(result.tables)} tables and "
               f"{result.files} uploaded files; run `flask --app wsgi db upgrade` if this code is newer")


@click.command("expire")
@with_appcontext
def expire_command() -> None:
    """Apply OCOP and certificate expiry: products whose recognition or certificate lapsed
    (or started) since the last run get a new version, queued for the exchanges.  Pages,
    labels and pull feeds already judge validity on the day they are made.  Idempotent: a
    second run on the same day does nothing (the worker runs it daily too)."""
    today = local_today()
    changed = dates.sweep(db.session, today=today)
    forget_old_keys(db.session, today)
    folded = retention.daily(db.session, current_app.config, today=today)
    keep_verdicts(db.session, base_url=current_app.config["PUBLIC_BASE_URL"], today=today)  # for the figures
    rendered = frames.render_ahead(current_app, db.engine)  # each lot's stamp page, for today
    if changed is None:
        click.echo(f"expiry already applied for {today:%d/%m/%Y}")
    else:
        click.echo(f"expiry applied for {today:%d/%m/%Y}: {changed} products changed, queued for the exchanges")
    click.echo(f"scans older than {current_app.config['SCAN_RETENTION_DAYS']} days: {folded.days} days folded, "
               f"{folded.deleted} raw scans deleted in {folded.batches} batches")
    click.echo(f"stamp pages rendered ahead: {rendered}")


def register_cli(app) -> None:
    app.cli.add_command(batches_cli)
    app.cli.add_command(trace_cli)
    app.cli.add_command(stamps_cli)
    app.cli.add_command(feed_cli)
    app.cli.add_command(exchange_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(create_user)
    app.cli.add_command(reset_second_factor_command)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(db_empty_command)
    app.cli.add_command(check_base_url_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(expire_command)
    app.cli.add_command(restore_command)
