"""Issuing, activating and voiding stamps; the URL each stamp's QR carries."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import public_facts
from ..models import Batch, BatchStatus, Stamp, StampRun, StampStatus
from ..models.base import utcnow
from .serials import new_serials

MAX_RUN = 100_000
CHUNK = 5_000
MAX_ATTEMPTS = 5


class StampError(ValueError):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def stamp_url(base_url: str, serial: str, *, gtin: str | None = None, lot: str | None = None) -> str:
    """The URL printed in a stamp's QR code.

    ``PUBLIC_BASE_URL`` + ``/S/<SERIAL>``, or the GS1 Digital Link form
    ``/01/<gtin14>/10/<LOT>/21/<SERIAL>`` for a product with a GTIN.  Scheme and host are
    case-insensitive, so they are written in capitals too: with digits, capitals, ``/``, ``:``,
    ``.`` and ``-`` only, the whole URL is QR alphanumeric and the code stays small.  (The
    Digital Link keeps a lower-case scheme, which GS1 parsers require.)  Never built from a
    request's Host header.
    """
    parts = urlsplit(base_url.rstrip("/"))
    if gtin and lot:
        # GS1 tools (biip among them) recognise a Digital Link only with a lower-case scheme;
        # the host and the path stay in capitals.
        base = urlunsplit((parts.scheme.lower(), parts.netloc.upper(), parts.path, "", ""))
        return f"{base}/01/{gtin}/10/{lot}/21/{serial}"
    base = urlunsplit((parts.scheme.upper(), parts.netloc.upper(), parts.path, "", ""))
    return f"{base}/S/{serial}"


def check_listed(batch: Batch) -> None:
    """Stamps vouch for a product: they are issued and activated only while it is listed
    (published by an approved producer); ``StampError("product_not_listed")`` otherwise."""
    product = batch.product
    if not public_facts.is_listed(product.status, product.producer.status):
        raise StampError("product_not_listed")


def issue_run(session, batch: Batch, count: int, *, user=None, serial_factory=None,
              progress=None, scratch: bool = False) -> StampRun:
    """Create a run of ``count`` unique stamps for ``batch`` (1 ≤ count ≤ 100,000) of a
    listed product (:func:`check_listed`).  ``scratch``: each stamp also carries a
    scratch-off code (:mod:`.scratch`), derived from its serial, so nothing more is stored.

    Serials are inserted in chunks inside savepoints; a chunk that hits the unique index
    (a collision, or another cooperative's concurrent run) is regenerated and retried, so
    concurrent issuance never yields a duplicate or an error.  The caller commits; on any
    failure it rolls back and no stamp of the run remains.
    """
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_RUN:
        raise StampError("count_range")
    if batch.status == BatchStatus.recalled.value:
        raise StampError("batch_recalled")
    check_listed(batch)
    run = StampRun(batch=batch, count=count, status=StampStatus.issued.value, created_by_id=getattr(user, "id", None),
                   scratch=bool(scratch))
    session.add(run)
    session.flush()
    insert_stamps, issued = Stamp.__table__.insert(), StampStatus.issued.value
    done = 0
    while done < count:
        size = min(CHUNK, count - done)
        for attempt in range(MAX_ATTEMPTS):
            serials = new_serials(size) if serial_factory is None else [serial_factory() for _ in range(size)]
            if len(set(serials)) != size:
                continue  # a duplicate inside the chunk itself
            rows = [{"serial": serial, "run_id": run.id, "batch_id": batch.id, "position": done + i,
                     "status": issued, "scan_count": 0} for i, serial in enumerate(serials, start=1)]
            try:
                with session.begin_nested():
                    session.connection().execute(insert_stamps, rows)
                break
            except IntegrityError:
                if attempt == MAX_ATTEMPTS - 1:
                    raise
        else:  # every attempt drew a duplicate inside the chunk: never issue fewer than asked
            raise StampError("collision")
        done += size
        if progress:
            progress(size)
    return run


def activate_run(session, run: StampRun) -> int:
    """The run was printed and applied: its issued stamps become active (only while the
    product is listed: :func:`check_listed`)."""
    if run.status == StampStatus.void.value:
        raise StampError("run_void")
    check_listed(run.batch)
    result = session.execute(update(Stamp).where(Stamp.run_id == run.id, Stamp.status == StampStatus.issued.value)
                             .values(status=StampStatus.active.value))
    run.status = StampStatus.active.value
    run.activated_at = utcnow()
    return result.rowcount


def void_stamps(session, run: StampRun, *, first: int | None = None, last: int | None = None) -> int:
    """Void a whole run (a lost roll) or the positions first…last of it (a damaged stretch)."""
    stmt = update(Stamp).where(Stamp.run_id == run.id, Stamp.status != StampStatus.void.value)
    if first is not None or last is not None:
        first = 1 if first is None else first
        last = run.count if last is None else last
        if not 1 <= first <= last <= run.count:
            raise StampError("range")
        stmt = stmt.where(Stamp.position.between(first, last))
    else:
        run.status = StampStatus.void.value
        run.voided_at = utcnow()
    return session.execute(stmt.values(status=StampStatus.void.value)).rowcount


def positions_of(session, run: StampRun, first_serial: str, last_serial: str) -> tuple[int, int]:
    """Positions of two serials of ``run`` (a printed roll is voided "from this label to that")."""
    found = dict(session.execute(select(Stamp.serial, Stamp.position).where(
        Stamp.run_id == run.id, Stamp.serial.in_([first_serial, last_serial]))).all())
    if first_serial not in found or last_serial not in found:
        raise StampError("serial_not_in_run")
    a, b = found[first_serial], found[last_serial]
    return min(a, b), max(a, b)


def run_stamps(session, run: StampRun, chunk: int = 2000):
    """Stamps of a run in printing order, streamed in chunks (flat memory for 100,000)."""
    last = 0
    while True:
        rows = session.execute(select(Stamp.serial, Stamp.position).where(
            Stamp.run_id == run.id, Stamp.position > last).order_by(Stamp.position).limit(chunk)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].position
