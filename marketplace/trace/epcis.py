"""EPCIS 2.0 JSON-LD export of one batch (lô) and its diary.

:func:`batch_epcis_document` returns a plain ``dict`` (serialise it with ``json.dumps(...,
ensure_ascii=False)``; media type ``application/ld+json``).  It validates against the GS1
EPCIS 2.0 JSON Schema (``tests/test_epcis.py``).  No database session is needed: the batch's
diary is read through the batch's own session.

What goes in, and why
---------------------
* **The lot** is a class-level identifier (EPCIS ``quantityList`` / ``epcClass``):

  - product with a GTIN: the GS1 Digital Link URI ``https://id.gs1.org/01/<gtin14>/10/<LOT>``
    (EPCIS 2.0 accepts Digital Link URIs wherever an EPC is expected; the LGTIN URN form
    ``urn:epc:class:lgtin:…`` would need the GS1 company-prefix length, which we do not
    know);
  - otherwise a URI of our own: ``<base_url>/lot/<batch id>`` (an identifier; no page has to
    answer there).

* **Events**, in this order (the list is in *recording* order, not sorted by ``eventTime``:
  seeding naturally happens before the lot exists):

  1. an ``ObjectEvent`` ``ADD`` with bizStep ``commissioning`` and disposition ``active`` at
     the batch's production date (00:00 Asia/Ho_Chi_Minh), with the quantity, ILMD
     (``cbvmda:lotNumber``, ``cbvmda:itemExpirationDate``) and the growing area;
  2. one ``ObjectEvent`` ``OBSERVE`` per diary entry, in ``seq`` order (see *Diary kinds*);
  3. for a recalled batch, an ``ObjectEvent`` ``OBSERVE`` with disposition ``recalled`` at the
     recall time, with ``ocop:recallReason``; when an officer has lifted that recall, a last
     ``OBSERVE`` with disposition ``conformant`` at the lift time.  So the newest event's
     disposition is ``recalled`` exactly while the recall is in force
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
  The synthetic events use ``<base_url>/epcis/event/lot-<batch id>-commissioning`` and
  ``…-recall``.  The hash is also given as ``ocop:entryHash``.

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
  vocabularies ``BusinessLocation`` and ``ReadPoint``, attribute ``urn:epcglobal:cbv:mda#name``).

* **Parties.**  Shipping carries ``sourceList`` = our producer (``owning_party``), receiving
  ``destinationList`` = our producer, the producer's URI being its public page
  ``<base_url>/producers/<slug>``.  The counterpart and the document number are free text,
  not identifiers, so they go in ``ocop:counterpart`` and ``ocop:documentNumber``.

* **Extension fields** use the prefix ``ocop`` bound, in ``@context``, to
  ``<base_url>/epcis/voc/``: ``ocop:diarySeq``, ``ocop:diaryKind``, ``ocop:entryHash``,
  ``ocop:place``, ``ocop:description``, ``ocop:inputName``, ``ocop:inputQuantity``,
  ``ocop:inputLot``, ``ocop:supplier``, ``ocop:counterpart``, ``ocop:documentNumber``,
  ``ocop:corrects``, and on the commissioning event ``ocop:productName``,
  ``ocop:producerName``, ``ocop:origin``, ``ocop:growingArea``, ``ocop:unit``.

* **Stamp runs are omitted.**  Stamps are labels, not supply-chain events of the lot, and
  listing their serials (up to 100,000 per run) as instance-level EPCs would swamp the
  document; run counts are in the lot report (:mod:`marketplace.trace.report`).  Photos
  and who recorded an entry are not exported either.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import object_session

from .. import geo, public_facts
from ..models import Batch, EventKind, TraceEvent
from ..models.base import LOCAL_TZ, utcnow
from ..text import slugify

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SCHEMA_VERSION = "2.0"
PREFIX = "ocop"

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
# UN/ECE Recommendation 20 codes for measured units; counted units (piece, box, bottle…) carry
# no ``uom``, which in EPCIS means "number of instances".
UOM = {"g": "GRM", "kg": "KGM", "ml": "MLT", "l": "LTR"}
DETAIL_FIELDS = {
    "input_name": "inputName", "input_quantity": "inputQuantity", "input_lot": "inputLot",
    "supplier": "supplier", "counterpart": "counterpart", "document_no": "documentNumber",
}
VTYPE_BUSINESS_LOCATION = "urn:epcglobal:epcis:vtype:BusinessLocation"
VTYPE_READ_POINT = "urn:epcglobal:epcis:vtype:ReadPoint"
MDA_NAME = "urn:epcglobal:cbv:mda#name"


# ---- identifiers ----------------------------------------------------------------------

def _base(base_url: str) -> str:
    return base_url.strip().rstrip("/")


def vocab_namespace(base_url: str) -> str:
    """The namespace of our extension fields and bizSteps (bound to the ``ocop`` prefix)."""
    return f"{_base(base_url)}/epcis/voc/"


def bizstep_for(kind: str, base_url: str) -> str:
    """The ``bizStep`` of a diary kind: a CBV word, or a URI under :func:`vocab_namespace`."""
    if kind in CBV_BIZSTEPS:
        return CBV_BIZSTEPS[kind]
    return f"{vocab_namespace(base_url)}BizStep-{OWN_BIZSTEPS.get(kind, kind)}"


def lot_class_uri(batch: Batch, base_url: str) -> str:
    """The lot as an EPC class: GS1 Digital Link for a GTIN product, else our own URI."""
    gtin = batch.product.gtin
    if gtin:
        return f"https://id.gs1.org/01/{gtin.zfill(14)}/10/{batch.lot_code}"
    return f"{_base(base_url)}/lot/{batch.id}"


def event_id(event: TraceEvent, base_url: str) -> str:
    return f"{_base(base_url)}/epcis/event/{event.entry_hash}"


def location_uri(batch: Batch, place: str, base_url: str) -> str:
    return f"{_base(base_url)}/epcis/loc/{batch.product.producer_id}/{slugify(place, max_length=80)}"


def producer_uri(batch: Batch, base_url: str) -> str:
    return f"{_base(base_url)}/producers/{batch.product.producer.slug}"


# ---- times ----------------------------------------------------------------------------

def _zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else LOCAL_TZ
    except (ZoneInfoNotFoundError, ValueError):
        return LOCAL_TZ


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def _utc(moment: dt.datetime) -> str:
    return _iso(moment.astimezone(dt.timezone.utc)).replace("+00:00", "Z")


def _offset(moment: dt.datetime) -> str:
    """"+07:00" for an aware datetime (EPCIS wants ±hh:mm)."""
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def _local_time(moment: dt.datetime, zone: str | None) -> tuple[str, str]:
    local = moment.astimezone(_zone(zone))
    return _iso(local), _offset(local)


# ---- building blocks ------------------------------------------------------------------

def _number(value: Decimal | int | float) -> int | float:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _quantity_element(batch: Batch, base_url: str, *, with_quantity: bool = False) -> dict:
    element: dict = {"epcClass": lot_class_uri(batch, base_url)}
    if with_quantity:
        element["quantity"] = _number(batch.quantity)
        if batch.unit in UOM:
            element["uom"] = UOM[batch.unit]
    return element


def _ext(name: str) -> str:
    return f"{PREFIX}:{name}"


class _Places:
    """Collects the location URIs used, with their text, for the master data."""

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
    event_time, offset = _local_time(start, None)
    product = batch.product
    event = {
        "type": "ObjectEvent",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "eventID": f"{_base(base_url)}/epcis/event/lot-{batch.id}-commissioning",
        "action": "ADD",
        "bizStep": "commissioning",
        "disposition": "active",
        "quantityList": [_quantity_element(batch, base_url, with_quantity=True)],
    }
    if batch.created_at:
        event["recordTime"] = _utc(batch.created_at)
    if batch.growing_area:
        uri = places.uri(batch.growing_area)
        event["readPoint"] = {"id": uri}
        event["bizLocation"] = {"id": uri}
    ilmd = {"cbvmda:lotNumber": batch.lot_code}
    if batch.expiry_date:
        ilmd["cbvmda:itemExpirationDate"] = batch.expiry_date.isoformat()
    event["ilmd"] = ilmd
    event[_ext("productName")] = product.name
    event[_ext("producerName")] = product.producer.name
    origin = geo.place_name(product.origin_ward_code or product.producer.ward_code)
    if origin:
        event[_ext("origin")] = origin
    if batch.growing_area:
        event[_ext("growingArea")] = batch.growing_area
    event[_ext("unit")] = batch.unit
    return event


def _diary_event(batch: Batch, event: TraceEvent, base_url: str, places: _Places,
                 ids: dict[int, str]) -> dict:
    event_time, offset = _local_time(event.occurred_at, event.timezone)
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
        out["recordTime"] = _utc(event.recorded_at)
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
    out[_ext("diarySeq")] = event.seq
    out[_ext("diaryKind")] = event.kind
    out[_ext("entryHash")] = event.entry_hash
    if event.place:
        out[_ext("place")] = event.place
    if event.description:
        out[_ext("description")] = event.description
    details = event.details or {}
    for key, name in DETAIL_FIELDS.items():
        if details.get(key):
            out[_ext(name)] = str(details[key])
    if event.corrects_id is not None and event.corrects_id in ids:
        out[_ext("corrects")] = ids[event.corrects_id]
    return out


def _observed(batch: Batch, base_url: str, moment: dt.datetime, name: str, disposition: str, **extra) -> dict:
    """An ``OBSERVE`` of the whole lot with a new disposition (its recall, or its lifting)."""
    event_time, offset = _local_time(moment, None)
    return {
        "type": "ObjectEvent",
        "eventTime": event_time,
        "eventTimeZoneOffset": offset,
        "eventID": f"{_base(base_url)}/epcis/event/lot-{batch.id}-{name}",
        "action": "OBSERVE",
        "disposition": disposition,
        "quantityList": [_quantity_element(batch, base_url)],
        **extra,
    }


def _events_of(batch: Batch) -> list[TraceEvent]:
    """The diary in ``seq`` order, queried afresh (``batch.events`` may be a stale list when
    events were appended in the same session after it was loaded)."""
    session = object_session(batch)
    if session is None:
        return sorted(batch.events, key=lambda e: e.seq)
    return list(session.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch.id)
                                .order_by(TraceEvent.seq)))


# ---- the document ---------------------------------------------------------------------

def batch_epcis_document(batch: Batch, *, base_url: str, now: dt.datetime | None = None) -> dict:
    """The EPCIS 2.0 JSON-LD document (``EPCISDocument``) of ``batch``; see the module doc.

    ``base_url`` is the site's public base URL (``PUBLIC_BASE_URL``, never the request's
    Host); ``now`` (aware) sets ``creationDate`` and defaults to the current time.
    """
    places = _Places(batch, base_url)
    events = _events_of(batch)
    ids = {e.id: event_id(e, base_url) for e in events}
    by_id = {e.id: e for e in events}

    event_list = [_commissioning(batch, base_url, places)]
    for event in events:
        corrected = by_id.get(event.corrects_id) if event.corrects_id is not None else None
        if corrected is not None:
            declaration = _diary_event(batch, corrected, base_url, places, ids)
            declaration["errorDeclaration"] = {
                "declarationTime": _utc(event.recorded_at or event.occurred_at),
                "reason": "incorrect_data",
                "correctiveEventIDs": [ids[event.id]],
            }
            event_list.append(declaration)
        event_list.append(_diary_event(batch, event, base_url, places, ids))
    if batch.recalled_at:
        event_list.append(_observed(batch, base_url, batch.recalled_at, "recall", "recalled",
                                    **{_ext("recallReason"): batch.recall_reason or ""}))
        if not public_facts.recall_in_force(batch.status) and batch.recall_lifted_at:
            event_list.append(_observed(batch, base_url, batch.recall_lifted_at, "recall-lifted", "conformant"))

    document: dict = {
        "@context": [EPCIS_CONTEXT, {PREFIX: vocab_namespace(base_url)}],
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": _utc(now or utcnow()),
    }
    master_data = places.master_data()
    if master_data:
        document["epcisHeader"] = {"epcisMasterData": {"vocabularyList": master_data}}
    document["epcisBody"] = {"eventList": event_list}
    return document
