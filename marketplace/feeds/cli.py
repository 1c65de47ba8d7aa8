"""``flask --app wsgi feed export|push``, ``exchange token|set`` and ``worker`` (docs/architecture.md, "Command line")."""
from __future__ import annotations

import logging
import signal
import sys
import time

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from .. import audit
from ..extensions import db
from ..models.base import local_today
from ..scan import frames, retention
from ..scan.recorder import drain_waiting
from ..scan.scanner import forget_old_keys
from ..transactions import keep_wal_small
from . import dates, push, worker
from .profiles import FORMATS
from .service import FeedError, configure_push, enqueue_all, find_exchange, keep_verdicts, open_feed, parse_since

log = logging.getLogger("marketplace.push")
feed_cli = AppGroup("feed", help="Catalogue feeds for the exchanges.")
exchange_cli = AppGroup("exchange", help="Exchanges: pull-feed tokens, push endpoints and secrets.")


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _exchange_or_fail(code: str):
    exchange = find_exchange(db.session, code)
    if exchange is None:
        fail(f"no exchange {code!r}")
    return exchange


@feed_cli.command("export")
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True,
              help="File to write (`-` for standard output).")
@click.option("--updated-since", help="Only items changed after this ISO 8601 moment (with tombstones).")
def export(code: str, fmt: str, output: str, updated_since: str | None) -> None:
    """Write EXCHANGE's feed to a file, for exchanges that take uploads by hand."""
    exchange = _exchange_or_fail(code)
    try:
        feed = open_feed(db.session, exchange, fmt, base_url=current_app.config["PUBLIC_BASE_URL"],
                         updated_since=parse_since(updated_since))
    except FeedError as exc:
        fail(exc.message)
    # The feed streams from a reading session of its own; this one (a writer outside a
    # request: on SQLite it holds the write lock) must not stay open meanwhile.
    db.session.commit()
    try:
        handle = click.open_file(output, "wb")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    with handle:
        for chunk in feed.chunks:
            handle.write(chunk)
    if output != "-":
        click.echo(f"wrote {output}", err=True)


@exchange_cli.command("token")
@click.argument("code")
def token(code: str) -> None:
    """Make a new pull-feed token for EXCHANGE and print it (once; the old one stops working)."""
    exchange = _exchange_or_fail(code)
    value = exchange.new_feed_token()
    audit.record(db.session, "exchange.token", exchange, summary=exchange.code)  # never the token itself
    db.session.commit()
    click.echo(value)


@exchange_cli.command("set")
@click.argument("code")
@click.option("--endpoint", help="URL that receives pushes (http or https).")
@click.option("--secret", help="Standard Webhooks signing secret (whsec_…); a new one is made when none is set.")
@click.option("--enable/--disable", "enabled", default=None, help="Turn pushes to this exchange on or off.")
def set_exchange(code: str, endpoint: str | None, secret: str | None, enabled: bool | None) -> None:
    """Configure EXCHANGE's push endpoint, secret and switch; prints a generated secret."""
    exchange = _exchange_or_fail(code)
    allow_private = current_app.config["PUSH_ALLOW_PRIVATE"]
    before = audit.snapshot(exchange, ("endpoint_url", "enabled"))
    try:
        generated = configure_push(exchange, endpoint=endpoint, secret=secret, enabled=enabled,
                                   allow_private=allow_private)
    except push.EndpointRefused as exc:
        db.session.rollback()
        fail(exc.reason)
    audit.record(db.session, "exchange.settings", exchange, summary=exchange.code, before=before,
                 after=dict(audit.snapshot(exchange, ("endpoint_url", "enabled")),
                            new_secret=bool(generated or secret)))
    db.session.commit()
    if generated:
        click.echo(generated)
    state = "enabled" if exchange.enabled else "disabled"
    click.echo(f"{exchange.code}: push {state}, endpoint {exchange.endpoint_url or '(none)'}", err=True)


@feed_cli.command("push")
@click.argument("code", required=False)
def push_all(code: str | None) -> None:
    """Queue every listed product for EXCHANGE (or every enabled exchange): a full resend."""
    exchanges = [_exchange_or_fail(code)] if code else None
    count = enqueue_all(db.session, exchanges)
    audit.record(db.session, "exchange.resend", target_type="exchange",
                 target_id=exchanges[0].id if exchanges else None, summary=f"{code or 'all'}: {count}")
    db.session.commit()
    click.echo(f"queued {count} deliveries", err=True)


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Deliver everything due now, then exit.")
@click.option("--batch", default=20, show_default=True, help="Deliveries claimed per round.")
def worker_command(once: bool, batch: int) -> None:
    """Deliver pending pushes to the exchanges (run one or more; safe in parallel)."""
    settings = worker.Settings.from_config(current_app.config)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    swept_on, sweep_after = None, 0.0
    frames.edition(current_app)  # fixed now: frames this worker renders are of the code it runs
    inbox = current_app.config["SCAN_BUFFER"] == "database"
    drained_at = 0.0
    while not stopping:
        try:
            if time.monotonic() - drained_at >= 1.0:
                drained_at = time.monotonic()
                if inbox:  # scans left by an app server that stopped (scan/recorder.py),
                    drain_waiting(db.engine)  # counted even while no server is answering any
                keep_wal_small(db.engine)  # SQLite: the log of what was written stays bounded
            today = local_today()
            if today != swept_on and time.monotonic() >= sweep_after:
                # Once a day: items that changed by date alone (OCOP lapses…), as `flask expire`.
                try:
                    bumped = dates.sweep(db.session, today=today)
                    forget_old_keys(db.session, today)  # the scanner keys of days gone (scan/scanner.py)
                    folded = retention.daily(db.session, current_app.config, today=today)  # old raw scans
                    # every exchange's verdict on every product, kept for the officers' figure
                    keep_verdicts(db.session, base_url=current_app.config["PUBLIC_BASE_URL"], today=today)
                    swept_on = today
                    if folded.deleted:
                        log.info("%d days of old scans folded, %d raw scans deleted", folded.days, folded.deleted)
                    if bumped:
                        log.info("%d products changed by date: queued for the exchanges", bumped)
                except Exception:  # noqa: BLE001 - deliveries go on meanwhile
                    db.session.rollback()
                    sweep_after = time.monotonic() + 60
                    log.exception("expiry sweep failed; trying again in a minute")
                if swept_on == today:  # each lot's stamp page for the day, ahead (scan/frames.py)
                    try:
                        log.info("%d stamp page frames rendered ahead", frames.render_ahead(current_app, db.engine))
                    except Exception:  # noqa: BLE001 - the pages are then rendered as they are scanned
                        log.exception("rendering stamp pages ahead failed")
            if worker.run_once(db.session, settings, batch):
                continue
            wait = worker.next_due_in(db.session)
        except Exception:  # noqa: BLE001 - the database busy or gone for a moment: keep going
            db.session.rollback()
            log.exception("delivery round failed; retrying in a second")
            time.sleep(1.0)
            continue
        if once and (wait is None or wait > 0):
            break
        time.sleep(max(0.05, min(1.0, wait if wait is not None else 1.0)))  # never a busy loop
    db.session.remove()
