"""``flask --app wsgi batches list`` and ``flask --app wsgi trace verify BATCH_ID``."""
from __future__ import annotations

import json
import sys

import click
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Batch
from .service import verify_chain

batches_cli = click.Group("batches", help="Production batches (lô).")
trace_cli = click.Group("trace", help="Traceability checks.")


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
@click.argument("batch_id", type=int)
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
