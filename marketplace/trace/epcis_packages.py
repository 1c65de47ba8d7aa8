"""The packages of a batch in its EPCIS document: every stamp (tem) names one package.

A stamp's EPC is exactly what its QR code carries (:func:`marketplace.stamps.service.stamp_url`):
for a product with a GTIN the GS1 Digital Link ``<base>/01/<gtin14>/10/<LOT>/21/<SERIAL>``
(EPCIS 2.0 accepts Digital Link URIs wherever an EPC is expected, and GS1 parsers read GTIN,
lot and serial from it), otherwise the stamp page ``<BASE>/S/<SERIAL>``.  So a partner who
scans a package finds it in the document by plain string comparison.

Events (CBV 2.0 words; the reasons are the CBV's own definitions):

* **A stamp run** is an ``ObjectEvent`` ``ADD``, bizStep ``commissioning`` ("associating an
  instance-level identifier with a specific object"), disposition ``active`` ("a commissioned
  object has just been introduced into the supply chain"), at the run's creation time, whose
  ``epcList`` holds every stamp of the run, each exactly once (voided ones too: they were
  commissioned, and their voiding is an event of its own).  Its ``ilmd`` carries the lot
  number and expiry date of what it commissions.  Without a GTIN the stamp URL says nothing
  of the lot, so the event also has a ``quantityList`` with the lot's class URI and the run's
  stamp count: the same packages counted as instances of the lot, not more of them.
* **Voiding** (a lost roll, a torn stretch, a copied stamp) is an ``ObjectEvent`` ``DELETE``,
  bizStep ``decommissioning`` ("disassociating an instance-level identifier from an object;
  the object may be re-commissioned, only with a new identifier"), disposition ``inactive``
  ("decommissioned object that may be reintroduced to the supply chain").  Not ``destroyed``
  ("fully rendered non-usable"): the EPC names a package, and voiding a label says nothing
  of the goods; a torn label is replaced by a new stamp and the package goes on.  One event
  per voiding action, at its time, read from the audit trail (``stamps.void`` on the run,
  ``stamp.void`` on one stamp: every path that voids, the producers' pages, the API and the
  officers' alerts, writes one); its ``epcList`` lists the stamps it voided (the void stamps
  in its range that no earlier action covered).  Void stamps no action accounts for (voided
  outside those paths) are one last event at the run's ``voided_at``, else at the document's
  creation time.
* **Recall and its lifting** (lot-level events, :mod:`.epcis`) name in ``epcList`` the lot's
  packages at that moment: the stamps of runs issued by then, less those voided before it.

Memory: URIs are never held as one list.  Each ``epcList`` is a :class:`.epcis_json.Streamed`
array read from the database in pages of :data:`PAGE` stamps (keyset on the stamp id, which
the ``run_id`` index serves), so a 100,000-stamp run costs one page of memory when written by
:func:`.epcis_json.iter_json`.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterator

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session

from ..models import AuditEntry, Batch, Stamp, StampRun, StampStatus
from ..stamps.service import stamp_url
from .epcis_common import event_uri, ext, local_time, lot_class_uri, lot_ilmd
from .epcis_json import Streamed

PAGE = 5_000
_VOID = Stamp.status == StampStatus.void.value


def package_uri_prefix(batch: Batch, base_url: str) -> str:
    """What every stamp URI of ``batch`` starts with: its printed QR content, less the serial."""
    return stamp_url(base_url, "", gtin=batch.product.gtin, lot=batch.lot_code)


@dataclass(frozen=True)
class Voiding:
    """One voiding action on a run: when, and the positions it named."""

    at: dt.datetime
    name: str
    first: int
    last: int


def _named(voidings: list[Voiding]) -> ColumnElement[bool]:
    """SQL: the stamp's position is in the range of one of ``voidings``."""
    return or_(false(), *(Stamp.position.between(v.first, v.last) for v in voidings))


class Packages:
    """The stamps of one batch, as EPCIS events and ``epcList`` arrays (read page by page).

    ``session`` None (a batch outside any session) means no stamps are read.
    """

    def __init__(self, session: Session | None, batch: Batch, base_url: str, now: dt.datetime):
        self.session, self.batch, self.base_url, self.now = session, batch, base_url, now
        self.prefix = package_uri_prefix(batch, base_url)
        self.runs: list[StampRun] = [] if session is None else list(session.scalars(
            select(StampRun).where(StampRun.batch_id == batch.id).order_by(StampRun.id)))
        self._voidings: dict[int, list[Voiding]] = {}

    # ---- reading stamps -----------------------------------------------------------------

    def uris(self, run: StampRun, *where) -> Streamed:
        """The URIs of ``run``'s stamps matching ``where``, in issue order, a page at a time."""
        session, prefix = self.session, self.prefix

        def pages():
            last = 0
            while True:
                rows = session.execute(select(Stamp.id, Stamp.serial).where(
                    Stamp.run_id == run.id, Stamp.id > last, *where).order_by(Stamp.id).limit(PAGE)).all()
                if not rows:
                    return
                yield [prefix + serial for _, serial in rows]
                last = rows[-1][0]

        return Streamed(pages)

    def _count(self, run: StampRun, *where) -> int:
        return self.session.scalar(select(func.count()).select_from(Stamp).where(Stamp.run_id == run.id, *where))

    def voidings(self, run: StampRun) -> list[Voiding]:
        """The voiding actions of ``run`` from the audit trail, oldest first."""
        if run.id in self._voidings:
            return self._voidings[run.id]
        found = []
        for entry_id, at, after in self.session.execute(select(AuditEntry.id, AuditEntry.at, AuditEntry.after).where(
                AuditEntry.action == "stamps.void", AuditEntry.target_type == StampRun.__tablename__,
                AuditEntry.target_id == run.id)):
            after = after or {}
            first, last = after.get("first"), after.get("last")
            found.append((at, entry_id, 1 if first is None else int(first), run.count if last is None else int(last)))
        for entry_id, at, position in self.session.execute(
                select(AuditEntry.id, AuditEntry.at, Stamp.position).join(Stamp, Stamp.id == AuditEntry.target_id)
                .where(AuditEntry.action == "stamp.void", AuditEntry.target_type == Stamp.__tablename__,
                       Stamp.run_id == run.id)):
            found.append((at, entry_id, position, position))
        self._voidings[run.id] = [Voiding(at, f"run-{run.id}-void-{entry_id}", first, last)
                                  for at, entry_id, first, last in sorted(found)]
        return self._voidings[run.id]

    def _unaccounted_at(self, run: StampRun) -> dt.datetime:
        """When the void stamps no audited action covers were voided, as far as we know."""
        return run.voided_at or self.now

    # ---- events ---------------------------------------------------------------------------

    def run_events(self) -> Iterator[dict]:
        """Per run, in issue order: its commissioning, then its voidings, oldest first."""
        if not self.runs:
            return
        void_counts = dict(self.session.execute(select(Stamp.run_id, func.count()).where(
            Stamp.batch_id == self.batch.id, _VOID).group_by(Stamp.run_id)).all())
        for run in self.runs:
            yield self._commissioning(run)
            if void_counts.get(run.id):
                yield from self._voiding_events(run)

    def _commissioning(self, run: StampRun) -> dict:
        event_time, offset = local_time(run.created_at)
        event = {
            "type": "ObjectEvent",
            "eventTime": event_time,
            "eventTimeZoneOffset": offset,
            "eventID": event_uri(self.base_url, f"run-{run.id}-commissioning"),
            "action": "ADD",
            "bizStep": "commissioning",
            "disposition": "active",
            "epcList": self.uris(run),
        }
        if not self.batch.product.gtin:
            event["quantityList"] = [{"epcClass": lot_class_uri(self.batch, self.base_url), "quantity": run.count}]
        event["ilmd"] = lot_ilmd(self.batch)
        event[ext("stampRun")] = run.id
        return event

    def _voiding_events(self, run: StampRun) -> Iterator[dict]:
        voidings = self.voidings(run)
        for i, voiding in enumerate(voidings):
            where = (_VOID, Stamp.position.between(voiding.first, voiding.last), ~_named(voidings[:i]))
            if self._count(run, *where):
                yield self._decommissioning(run, voiding.at, voiding.name, where)
        where = (_VOID, ~_named(voidings))
        if self._count(run, *where):
            yield self._decommissioning(run, self._unaccounted_at(run), f"run-{run.id}-void", where)

    def _decommissioning(self, run: StampRun, moment: dt.datetime, name: str, where) -> dict:
        event_time, offset = local_time(moment)
        return {
            "type": "ObjectEvent",
            "eventTime": event_time,
            "eventTimeZoneOffset": offset,
            "eventID": event_uri(self.base_url, name),
            "action": "DELETE",
            "bizStep": "decommissioning",
            "disposition": "inactive",
            "epcList": self.uris(run, *where),
            ext("stampRun"): run.id,
        }

    # ---- the lot's packages at a moment ---------------------------------------------------

    def live_at(self, moment: dt.datetime) -> Streamed | None:
        """The lot's packages at ``moment`` (a recall, its lifting): stamps of runs issued by
        then, less those voided before it; None when no run was issued by then."""
        runs = [run for run in self.runs if run.created_at <= moment]
        if not runs:
            return None

        def pages():
            for run in runs:
                voidings = self.voidings(run)
                voided = _named([v for v in voidings if v.at < moment])
                if self._unaccounted_at(run) < moment:
                    voided = or_(voided, ~_named(voidings))
                yield from self.uris(run, ~and_(_VOID, voided)).chunks()

        return Streamed(pages)
