"""EPCIS 2.0 JSON-LD export of one batch (lô), its diary and its packages (stamps).

:func:`iter_epcis_json` writes the document as text pieces (media type
``application/ld+json``) with flat memory, whatever the number of stamps: ``flask trace
epcis`` uses it, and the HTTP routes through :func:`stream_batch_epcis`.
:func:`batch_epcis_document` returns the same document as a plain ``dict`` (every stamp URI
in memory: for small batches and tests);
``json.dumps(batch_epcis_document(…), ensure_ascii=False)`` is exactly the streamed text.
It validates against the GS1 EPCIS 2.0 JSON Schema (``tests/test_epcis.py``).  No database
session is passed: the diary and the stamps are read through the batch's own session.

What goes in, and why
---------------------
* **The lot** is a class-level identifier (EPCIS ``quantityList`` / ``epcClass``):

  - product with a GTIN: the GS1 Digital Link URI ``https://id.gs1.org/01/<gtin14>/10/<LOT>``
    (EPCIS 2.0 accepts Digital Link URIs wherever an EPC is expected; the LGTIN URN form
    ``urn:epc:class:lgtin:…`` would need the GS1 company-prefix length, which we do not
    know);
  - otherwise a URI of our own: ``<base_url>/lot/<batch id>`` (an identifier; no page has to
    answer there).

* **The packages** are instance-level identifiers: each stamp's URI as its QR carries it (the
  Digital Link ``…/01/<gtin14>/10/<LOT>/21/<SERIAL>`` with a GTIN, else ``<BASE>/S/<SERIAL>``);
  see :mod:`.epcis_packages` for their events and the CBV words chosen.

* **Events**, in this order (the list is in *recording* order, not sorted by ``eventTime``:
  seeding naturally happens before the lot exists):

  1. an ``ObjectEvent`` ``ADD`` with bizStep ``commissioning`` and disposition ``active`` at
     the batch's production date (00:00 Asia/Ho_Chi_Minh), with the quantity, ILMD
     (``cbvmda:lotNumber``, ``cbvmda:itemExpirationDate``) and the growing area;
  2. one ``ObjectEvent`` ``OBSERVE`` per diary entry, in ``seq`` order (see *Diary kinds*);
  3. per stamp run, in issue order: its commissioning (``ADD``, ``epcList`` = its stamps),
     then its voidings (``DELETE``, ``decommissioning``, ``inactive``);
  4. for a recalled batch, an ``ObjectEvent`` ``OBSERVE`` with disposition ``recalled`` at the
     recall time, with ``ocop:recallReason``, the lot in ``quantityList`` and its packages of
     that moment in ``epcList``; when an officer has lifted that recall, a last ``OBSERVE``
     with disposition ``conformant`` at the lift time, naming the packages again.  So the last
     event's disposition is ``recalled`` exactly while the recall is in force
     (:func:`marketplace.public_facts.recall_in_force`).

* **Diary kinds → bizStep.**  CBV 2.0 words where one fits — ``packing``, ``inspecting``,
  ``shipping`` (disposition ``in_transit``), ``receiving`` (disposition ``in_progress``) — and
  for the farm steps the CBV lacks, URIs of our own under ``<base_url>/epcis/voc/``:
  ``BizStep-seeding``, ``BizStep-applying_inputs``, ``BizStep-tending`` (care),
  ``BizStep-harvesting``, ``BizStep-processing`` (CBV's ``commissioning`` is taken by the lot's
  creation, and a diary "processing" entry observes the same lot, it does not transform it
  into another identifier).

* **Event ids.**  A diary event's ``eventID`` is ``<base_url>/epcis/event/<entry_hash>`` (the
  diary's own SHA-256 chain hash: stable, unique, tamper-evident).  We deliberately do not
  write it as ``ni:///sha-256;…?ver=CBV2.0``: that form promises the hash was computed with
  the CBV 2.0 event-hash algorithm, and a consumer re-computing it would find a mismatch.
  The synthetic events use ``<base_url>/epcis/event/lot-<batch id>-commissioning``,
  ``…-recall``, ``…/run-<run id>-commissioning`` and ``…/run-<run id>-void-<audit entry id>``.
  The hash is also given as ``ocop:entryHash``.

* **Corrections** (EPCIS 2.0 §7.4.1.4, error declarations).  The diary is append-only: an
  entry C with ``corrects_id`` → E is a new entry.  At C's place in the list we emit

  1. an *error declaration*: an exact copy of E's event (same ``eventID``, ``eventTime`` and
     fields) plus ``errorDeclaration`` = ``{declarationTime: C's recorded time, reason:
     "incorrect_data", correctiveEventIDs: [C's eventID]}``;
  2. C itself, the corrective event, with ``ocop:corrects`` = E's eventID (a back-link
     for readers that ignore error declarations).

  E also stays at its own place, unchanged: the document keeps history, as the diary does.

* **Places.**  Diary places and the growing area are free text.  Each becomes a location URI
  ``<base_url>/epcis/loc/<producer id>/<slug of the text>`` used as ``readPoint`` (and as
  ``bizLocation`` except for shipping, where the goods are in transit); the text itself is
  in ``ocop:place`` and in the document's master data (``epcisHeader.epcisMasterData``,
  vocabularies ``BusinessLocation`` and ``ReadPoint``, attribute ``cbvmda:name``).

* **One master-data form.**  Every CBV master-data attribute is written ``cbvmda:<name>``, the
  prefix GS1's EPCIS 2.0 context binds to CBV 2.0's ``urn:epcglobal:cbv:mda:``; the CBV 1.x
  spelling ``urn:epcglobal:cbv:mda#name`` is gone (:mod:`.epcis_common`).

* **Parties.**  Shipping carries ``sourceList`` = our producer (``owning_party``), receiving
  ``destinationList`` = our producer, the producer's URI being its public page
  ``<base_url>/producers/<slug>``.  The counterpart and the document number are free text,
  not identifiers, so they go in ``ocop:counterpart`` and ``ocop:documentNumber``.

* **Extension fields** use the prefix ``ocop`` bound, in ``@context``, to
  ``<base_url>/epcis/voc/``: ``ocop:diarySeq``, ``ocop:diaryKind``, ``ocop:entryHash``,
  ``ocop:place``, ``ocop:description``, ``ocop:inputName``, ``ocop:inputQuantity``,
  ``ocop:inputLot``, ``ocop:supplier``, ``ocop:counterpart``, ``ocop:documentNumber``,
  ``ocop:corrects``, ``ocop:stampRun`` (the run id, on stamp events), and on the commissioning
  event ``ocop:productName``, ``ocop:producerName``, ``ocop:origin``, ``ocop:growingArea``,
  ``ocop:unit``.  Photos and who recorded an entry are not exported.
"""
from __future__ import annotations

import datetime as dt
from typing import Iterator

from sqlalchemy import select
from sqlalchemy.orm import object_session

from .. import geo, public_facts
from ..models import Batch, EventKind, TraceEvent
from ..models.base import LOCAL_TZ, utcnow
from ..text import slugify
from .epcis_common import (EPCIS_CONTEXT, PREFIX, SCHEMA_VERSION, UOM, base_of, event_uri, ext, local_time,
                           lot_class_uri, lot_ilmd, mda, number, utc_text, vocab_namespace)
from .epcis_json import Streamed, iter_json, materialize
from .epcis_packages import Packages

__all__ = ["EPCIS_CONTEXT", "batch_epcis_document", "iter_epcis_json", "lot_class_uri", "stream_batch_epcis",
           "vocab_namespace"]

# Diary kind -> a CBV 2.0 bizStep word, or None for a URI of our own (see ``OWN_BIZSTEPS``).
CBV_BIZSTEPS = {
    EventKind.packing.value: "packing",
    EventKind.inspection.value: "inspecting",
    EventKind.shipping.value: "shipping",
    EventKind.receiving.value: "receiving",
}
OWN_BIZSTEPS = {
    EventKind.seeding.value: "seeding",
    EventKind.input.value: "applying_inputs",
    EventKind.care.value: "tending",
    EventKind.harvest.value: "harvesting",
    EventKind.processing.value: "processing",
}
DISPOSITIONS = {EventKind.shipping.value: "in_transit", EventKind.receiving.value: "in_progress"}
DETAIL_FIELDS = {
    "input_name": "inputName", "input_quantity": "inputQuantity", "input_lot": "inputLot",
    "supplier": "supplier", "counterpart": "counterpart", "document_no": "documentNumber",
}
VTYPE_BUSINESS_LOCATION = "urn:epcglobal:epcis:vtype:BusinessLocation"
VTYPE_READ_POINT = "urn:epcglobal:epcis:vtype:ReadPoint"
MDA_NAME = mda("name")


# ---- identifiers ----------------------------------------------------------------------

def bizstep_for(kind: str, base_url: str) -> str:
    """The ``bizStep`` of a diary kind: a CBV word, or a URI under :func:`vocab_namespace`."""
    if kind in CBV_BIZSTEPS:
        return CBV_BIZSTEPS[kind]
    return f"{vocab_namespace(base_url)}BizStep-{OWN_BIZSTEPS.get(kind, kind)}"


def event_id(event: TraceEvent, base_url: str) -> str:
    return event_uri(base_url, event.entry_hash)


def location_uri(batch: Batch, place: str, base_url: str) -> str:
    return f"{base_of(base_url)}/epcis/loc/{batch.product.producer_id}/{slugify(place, max_length=80)}"


def producer_uri(batch: Batch, base_url: str) -> str:
    return f"{base_of(base_url)}/producers/{batch.product.producer.slug}"


# ---- building blocks ------------------------------------------------------------------

def _quantity_element(batch: Batch, base_url: str, *, with_quantity: bool = False) -> dict:
    element: dict = {"epcClass": lot_class_uri(batch, base_url)}
    if with_quantity:
        element["quantity"] = number(batch.quantity)
        if batch.unit in UOM:
            element["uom"] = UOM[batch.unit]
    return element


class _Places:
    """The location URIs used, with their text, for the master data."""

    def __init__(self, batch: Batch, base_url: str):
        self.batch, self.base_url, self.names = batch, base_url, {}

    def uri(self, place: str) -> str:
        uri = location_uri(self.batch, place, self.base_url)
        self.names.setdefault(uri, place)
        return uri

    def master_data(self) -> list[dict]:
        elements = [{"id": uri, "attributes": [{"id": MDA_NAME, "attribute": name}]}
                    for uri, name in self.names.items()]
        return [{"type": vtype, "vocabularyElementList": elements}
                for vtype in (VTYPE_BUSINESS_LOCATION, VTYPE_READ_POINT)] if elements else []


def _commissioning(batch: Batch, base_url: str, places: _Places) -> dict:
    start = dt.datetime.combine(batch.production_date, dt.time(0, 0), tzinfo=LOCAL_TZ)
    event_time, offset = local_time(start)
    product = batch.product
    event = {
        "type": "ObjectEvent",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "eventID": event_uri(base_url, f"lot-{batch.id}-commissioning"),
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "quantityList": [_quantity_element(batch, base_url, with_quantity=True)],
    }
    if batch.created_at:
        event["recordTime"] = utc_text(batch.created_at)
    if batch.growing_area:
        uri = places.uri(batch.growing_area)
        event["readPoint"] = {"id": uri}
        event["bizLocation"] = {"id": uri}
    event["ilmd"] = lot_ilmd(batch)
    event[ext("productName")] = product.name
    event[ext("producerName")] = product.producer.name
    origin = geo.place_name(product.origin_ward_code or product.producer.ward_code)
    if origin:
        event[ext("origin")] = origin
    if batch.growing_area:
        event[ext("growingArea")] = batch.growing_area
    event[ext("unit")] = batch.unit
    return event


def _diary_event(batch: Batch, event: TraceEvent, base_url: str, places: _Places,
                 ids: dict[int, str]) -> dict:
    event_time, offset = local_time(event.occurred_at, event.timezone)
    out: dict = {
        "type": "ObjectEvent",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "eventID": event_id(event, base_url),
        "action": "OBSERVE",
        "bizStep": bizstep_for(event.kind, base_url),
    }
    if event.kind in DISPOSITIONS:
        out["disposition"] = DISPOSITIONS[event.kind]
    out["quantityList"] = [_quantity_element(batch, base_url)]
    if event.recorded_at:
        out["recordTime"] = utc_text(event.recorded_at)
    if event.place:
        uri = places.uri(event.place)
        out["readPoint"] = {"id": uri}
        if event.kind != EventKind.shipping.value:
            out["bizLocation"] = {"id": uri}
    party = [{"type": "owning_party", ("source" if event.kind == EventKind.shipping.value else "destination"):
              producer_uri(batch, base_url)}]
    if event.kind == EventKind.shipping.value:
        out["sourceList"] = party
    elif event.kind == EventKind.receiving.value:
        out["destinationList"] = party
    out[ext("diarySeq")] = event.seq
    out[ext("diaryKind")] = event.kind
    out[ext("entryHash")] = event.entry_hash
    if event.place:
        out[ext("place")] = event.place
    if event.description:
        out[ext("description")] = event.description
    details = event.details or {}
    for key, name in DETAIL_FIELDS.items():
        if details.get(key):
            out[ext(name)] = str(details[key])
    if event.corrects_id is not None and event.corrects_id in ids:
        out[ext("corrects")] = ids[event.corrects_id]
    return out


def _observed(batch: Batch, base_url: str, moment: dt.datetime, name: str, disposition: str,
              packages: Streamed | None, **extra) -> dict:
    """An ``OBSERVE`` of the whole lot with a new disposition (its recall, or its lifting),
    naming its packages of that moment when it has any."""
    event_time, offset = local_time(moment)
    event = {
        "type": "ObjectEvent",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "eventID": event_uri(base_url, f"lot-{batch.id}-{name}"),
        "action": "OBSERVE",
        "disposition": disposition,
    }
    if packages is not None:
        event["epcList"] = packages
    event["quantityList"] = [_quantity_element(batch, base_url)]
    event.update(extra)
    return event


def _events_of(batch: Batch) -> list[TraceEvent]:
    """The diary in ``seq`` order, queried afresh (``batch.events`` may be a stale list when
    events were appended in the same session after it was loaded)."""
    session = object_session(batch)
    if session is None:
        return sorted(batch.events, key=lambda e: e.seq)
    return list(session.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch.id)
                                .order_by(TraceEvent.seq)))


def _event_list(batch: Batch, base_url: str, places: _Places, events: list[TraceEvent],
                packages: Packages) -> Iterator[dict]:
    """The events in document order, one at a time (stamp lists stay :class:`Streamed`)."""
    ids = {e.id: event_id(e, base_url) for e in events}
    by_id = {e.id: e for e in events}
    yield _commissioning(batch, base_url, places)
    for event in events:
        corrected = by_id.get(event.corrects_id) if event.corrects_id is not None else None
        if corrected is not None:
            declaration = _diary_event(batch, corrected, base_url, places, ids)
            declaration["errorDeclaration"] = {
                "declarationTime": utc_text(event.recorded_at or event.occurred_at),
                "reason": "incorrect_data",
                "correctiveEventIDs": [ids[event.id]],
            }
            yield declaration
        yield _diary_event(batch, event, base_url, places, ids)
    yield from packages.run_events()
    if batch.recalled_at:
        yield _observed(batch, base_url, batch.recalled_at, "recall", "recalled", packages.live_at(batch.recalled_at),
                        **{ext("recallReason"): batch.recall_reason or ""})
        if not public_facts.recall_in_force(batch.status) and batch.recall_lifted_at:
            yield _observed(batch, base_url, batch.recall_lifted_at, "recall-lifted", "conformant",
                            packages.live_at(batch.recall_lifted_at))


# ---- the document ---------------------------------------------------------------------

def _document(batch: Batch, base_url: str, now: dt.datetime | None) -> dict:
    """The document with its event list and stamp lists as :class:`Streamed` arrays."""
    now = now or utcnow()
    events = _events_of(batch)
    places = _Places(batch, base_url)
    # Master data comes before the body: collect the places first, in order of first use.
    for place in [batch.growing_area] + [e.place for e in events]:
        if place:
            places.uri(place)
    packages = Packages(object_session(batch), batch, base_url, now)
    document: dict = {
        "@context": [EPCIS_CONTEXT, {PREFIX: vocab_namespace(base_url)}],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": utc_text(now),
    }
    master_data = places.master_data()
    if master_data:
        document["epcisHeader"] = {"epcisMasterData": {"vocabularyList": master_data}}
    document["epcisBody"] = {"eventList": Streamed.of(lambda: _event_list(batch, base_url, places, events, packages))}
    return document


def batch_epcis_document(batch: Batch, *, base_url: str, now: dt.datetime | None = None) -> dict:
    """The EPCIS 2.0 JSON-LD document (``EPCISDocument``) of ``batch`` as a ``dict``, every
    stamp URI included (see :func:`iter_epcis_json` for large batches).

    ``base_url`` is the site's public base URL (``PUBLIC_BASE_URL``, never the request's
    Host); ``now`` (aware) sets ``creationDate`` and defaults to the current time.
    """
    return materialize(_document(batch, base_url, now))


def iter_epcis_json(batch: Batch, *, base_url: str, now: dt.datetime | None = None) -> Iterator[str]:
    """The same document as JSON text in pieces of about 64 KB, stamps read a page at a time:
    ``"".join(iter_epcis_json(b, …)) == json.dumps(batch_epcis_document(b, …), ensure_ascii=False)``.

    Nothing is read before the first piece is asked for; the batch's session must stay open
    until the last (in an HTTP response, use :func:`stream_batch_epcis`).
    """
    yield from iter_json(_document(batch, base_url, now))


def stream_batch_epcis(session, batch_id: int, *, base_url: str, now: dt.datetime | None = None) -> Iterator[str]:
    """:func:`iter_epcis_json` of the batch ``batch_id``, loaded through ``session`` (the
    scoped ``db.session``) when the first piece is asked for: a streamed response's body is
    read after its view returned and its app context, with the view's session, ended
    (``stream_with_context`` pushes a new one, with a session of its own)."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise LookupError(f"no batch {batch_id}")
    yield from iter_epcis_json(batch, base_url=base_url, now=now)
