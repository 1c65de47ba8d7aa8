"""``flask --app wsgi stamps issue|pdf|csv`` (docs/architecture.md, "Command line")."""
from __future__ import annotations

import csv
import os
import sys

import click
from flask import current_app

from ..access import MAX_ID
from ..extensions import db
from ..models import Batch, StampRun
from . import service, sheets
from .scratch import key_from_config

# Why the domain refused (StampError codes), for standard error.
REFUSALS = {
    "batch_recalled": "the batch is recalled",
    "run_void": "the run is void",
    "product_not_listed": "the product is not published, or its producer not approved: "
                          "stamps are issued and activated only for listed products",
}

SECRET_WARNING = ("this file holds the run's secret scratch-off codes: give it to the print shop only, "
                  "never publish or share it")

stamps_cli = click.Group("stamps", help="Traceability stamps: issue runs, print label sheets, export CSV.")
ID = click.IntRange(1, MAX_ID)  # an INTEGER primary key: beyond it the database refuses the parameter


def _keep_private(path: str) -> None:
    """A file with scratch-off codes is readable by its owner only (where the OS allows)."""
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _open_or_fail(path: str, mode: str, **kwargs):
    """The output file, opened for writing; a clear error when it cannot be (no such folder…)."""
    try:
        return open(path, mode, **kwargs)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}")


def _run_or_fail(run_id: int) -> StampRun:
    run = db.session.get(StampRun, run_id)
    if run is None:
        fail(f"no stamp run with id {run_id}")
    return run


@stamps_cli.command("issue")
@click.option("--batch", "batch_id", type=ID, required=True, help="Batch id (see `batches list`).")
@click.option("--count", type=int, required=True, help=f"Number of stamps, 1 to {service.MAX_RUN:,}.")
@click.option("--scratch", is_flag=True,
              help="Scratch-off run (tem cào): each label also carries a secret code under a scratch-off sticker.")
def issue(batch_id: int, count: int, scratch: bool) -> None:
    """Issue a run of unique stamps for a batch; prints the run id."""
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        fail(f"no batch with id {batch_id}")
    if not 1 <= count <= service.MAX_RUN:
        fail(f"--count must be between 1 and {service.MAX_RUN:,}")
    try:
        with click.progressbar(length=count, label="issuing stamps", file=sys.stderr) as bar:
            run = service.issue_run(db.session, batch, count, progress=bar.update, scratch=scratch)
        db.session.commit()
    except service.StampError as exc:
        db.session.rollback()
        fail(REFUSALS.get(exc.code, exc.code))
    click.echo(run.id)


@stamps_cli.command("activate")
@click.argument("run_id", type=ID)
def activate(run_id: int) -> None:
    """Activate a printed run: its stamps are on packages and their pages say "genuine"."""
    run = _run_or_fail(run_id)
    try:
        n = service.activate_run(db.session, run)
        db.session.commit()
    except service.StampError as exc:
        db.session.rollback()
        fail(REFUSALS.get(exc.code, exc.code))
    click.echo(f"activated {n} stamps of run {run.id}")


@stamps_cli.command("pdf")
@click.argument("run_id", type=ID)
@click.option("--layout", type=click.Choice(sheets.LAYOUT_CHOICES), default="a4-3x8", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
@click.option("--calibration", is_flag=True, help="Draw each label's outline (printer alignment).")
def pdf(run_id: int, layout: str, output: str, calibration: bool) -> None:
    """Render the whole run as a label sheet PDF."""
    run = _run_or_fail(run_id)
    base = current_app.config["PUBLIC_BASE_URL"]
    key = key_from_config(current_app.config)
    with _open_or_fail(output, "wb") as fh:
        if run.scratch:
            _keep_private(output)
        with click.progressbar(length=run.count, label=f"rendering {layout}", file=sys.stderr) as bar:
            def counted():
                for label in sheets.label_data(db.session, run, base, scratch_key=key):
                    bar.update(1)
                    yield label

            sheets.render_sheet(counted(), sheets.layout_or_none(layout), fh, calibration=calibration)
    run.downloads += 1
    db.session.commit()
    click.echo(f"wrote {output}: {run.count} labels ({layout})")
    if run.scratch:
        click.echo(f"Warning: {SECRET_WARNING}", err=True)


@stamps_cli.command("csv")
@click.argument("run_id", type=ID)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), required=True)
def csv_export(run_id: int, output: str) -> None:
    """serial,url,lot,product for print shops (UTF-8 with BOM, opens in Excel); a scratch-off
    run adds scratch_code, which makes the file secret."""
    run = _run_or_fail(run_id)
    key = key_from_config(current_app.config)
    with _open_or_fail(output, "w", newline="", encoding="utf-8-sig") as fh:
        if run.scratch:
            _keep_private(output)
        writer = csv.writer(fh)
        with click.progressbar(length=run.count + 1, label="writing CSV", file=sys.stderr) as bar:
            for row in sheets.csv_rows(db.session, run, current_app.config["PUBLIC_BASE_URL"], scratch_key=key):
                writer.writerow(row)
                bar.update(1)
    click.echo(f"wrote {output}: {run.count} stamps")
    if run.scratch:
        click.echo(f"Warning: {SECRET_WARNING}", err=True)
