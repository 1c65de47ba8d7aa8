"""``flask --app wsgi batches list``, ``flask --app wsgi trace verify BATCH_ID`` and
``flask --app wsgi trace epcis BATCH_ID [-o FILE]``."""
from __future__ import annotations

import json
import sys

import click
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..access import MAX_ID
from ..extensions import db
from ..models import Batch
from ..transactions import reads
from .epcis import iter_epcis_json
from .service import verify_chain

batches_cli = click.Group("batches", help="Production batches (lô).")
trace_cli = click.Group("trace", help="Traceability checks.")
ID = click.IntRange(1, MAX_ID)  # an INTEGER primary key: beyond it the database refuses the parameter


@batches_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def list_batches(as_json: bool) -> None:
    """id, product, lot and status of every batch."""
    rows = db.session.scalars(select(Batch).options(selectinload(Batch.product)).order_by(Batch.id)).all()
    data = [{"id": b.id, "product": b.product.name, "product_id": b.product_id, "lot": b.lot_code,
             "status": b.status, "production_date": b.production_date.isoformat()} for b in rows]
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    for row in data:
        click.echo(f"{row['id']:>6}  {row['lot']:<20}  {row['status']:<9}  {row['product']}")


@trace_cli.command("verify")
@click.argument("batch_id", type=ID)
def verify(batch_id: int) -> None:
    """Check a batch's diary hash chain; exits 1 and names the first broken link."""
    if db.session.get(Batch, batch_id) is None:
        click.echo(f"Error: no batch with id {batch_id}", err=True)
        sys.exit(1)
    report = verify_chain(db.session, batch_id)
    if report.ok:
        click.echo(f"batch {batch_id}: diary intact ({report.checked} events)")
        return
    click.echo(f"batch {batch_id}: diary broken at event #{report.first_broken_seq}: {report.problem} "
               f"({report.checked} earlier events intact)", err=True)
    sys.exit(1)


@trace_cli.command("epcis")
@click.argument("batch_id", type=ID)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              show_default=True, help="File to write (UTF-8 JSON-LD); - for standard output.")
def epcis(batch_id: int, output: str) -> None:
    """The batch's EPCIS 2.0 JSON-LD document (its diary, stamp runs, voids and recall),
    written as it is read: memory stays flat for 100,000 stamps."""
    with reads():  # on SQLite a deferred transaction: writers (the stamp pages' scans) are not held up
        batch = db.session.get(Batch, batch_id)
        if batch is None:
            click.echo(f"Error: no batch with id {batch_id}", err=True)
            sys.exit(1)
        try:
            fh = click.open_file(output, "w", encoding="utf-8")
        except OSError as exc:
            click.echo(f"Error: cannot write {output}: {exc.strerror or exc}", err=True)
            sys.exit(1)
        with fh:
            for piece in iter_epcis_json(batch, base_url=current_app.config["PUBLIC_BASE_URL"]):
                fh.write(piece)
            if output == "-":
                fh.write("\n")
    if output != "-":
        click.echo(f"wrote {output}: EPCIS 2.0 document of batch {batch_id} ({batch.lot_code})", err=True)
