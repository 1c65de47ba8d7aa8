"""Identifiers, times and vocabulary shared by the EPCIS export (:mod:`.epcis`,
:mod:`.epcis_packages`).

Master data in one form.  The EPCIS 2.0 JSON-LD context binds the prefix ``cbvmda`` to
``urn:epcglobal:cbv:mda:`` (CBV 2.0's form: a colon, for every attribute); CBV 1.x spelt the
name attribute ``urn:epcglobal:cbv:mda#name`` and the others ``urn:epcglobal:cbv:mda:…``.  We
write every master-data attribute, in the ILMD as in ``epcisMasterData``, as ``cbvmda:<name>``
(:func:`mda`), which the context expands to the CBV 2.0 URN; no other spelling appears.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..models import Batch
from ..models.base import LOCAL_TZ

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
SCHEMA_VERSION = "2.0"
PREFIX = "ocop"
MDA_PREFIX = "cbvmda"  # bound by EPCIS_CONTEXT to "urn:epcglobal:cbv:mda:"
# UN/ECE Recommendation 20 codes for measured units; counted units (piece, box, bottle…) carry
# no ``uom``, which in EPCIS means "number of instances".
UOM = {"g": "GRM", "kg": "KGM", "ml": "MLT", "l": "LTR"}


def mda(name: str) -> str:
    """A CBV master-data attribute (``lotNumber``, ``name``…), always as ``cbvmda:<name>``."""
    return f"{MDA_PREFIX}:{name}"


def ext(name: str) -> str:
    """One of our extension fields, ``ocop:<name>``."""
    return f"{PREFIX}:{name}"


# ---- identifiers ----------------------------------------------------------------------

def base_of(base_url: str) -> str:
    return base_url.strip().rstrip("/")


def vocab_namespace(base_url: str) -> str:
    """The namespace of our extension fields and bizSteps (bound to the ``ocop`` prefix)."""
    return f"{base_of(base_url)}/epcis/voc/"


def event_uri(base_url: str, name: str) -> str:
    """``<base_url>/epcis/event/<name>``: the ``eventID`` of every event we write."""
    return f"{base_of(base_url)}/epcis/event/{name}"


def lot_class_uri(batch: Batch, base_url: str) -> str:
    """The lot as an EPC class: GS1 Digital Link for a GTIN product, else our own URI."""
    gtin = batch.product.gtin
    if gtin:
        return f"https://id.gs1.org/01/{gtin.zfill(14)}/10/{batch.lot_code}"
    return f"{base_of(base_url)}/lot/{batch.id}"


def lot_ilmd(batch: Batch) -> dict:
    """Instance/lot master data of what a commissioning event introduces: the lot number and
    the expiry date."""
    ilmd = {mda("lotNumber"): batch.lot_code}
    if batch.expiry_date:
        ilmd[mda("itemExpirationDate")] = batch.expiry_date.isoformat()
    return ilmd


# ---- numbers and times ----------------------------------------------------------------

def number(value: Decimal | int | float) -> int | float:
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _zone(name: str | None) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else LOCAL_TZ
    except (ZoneInfoNotFoundError, ValueError):
        return LOCAL_TZ


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")


def utc_text(moment: dt.datetime) -> str:
    """``2025-07-01T03:00:00Z`` (``recordTime``, ``creationDate``, ``declarationTime``)."""
    return _iso(moment.astimezone(dt.timezone.utc)).replace("+00:00", "Z")


def _offset(moment: dt.datetime) -> str:
    """"+07:00" for an aware datetime (EPCIS wants ±hh:mm)."""
    minutes = int(moment.utcoffset().total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def local_time(moment: dt.datetime, zone: str | None = None) -> tuple[str, str]:
    """(``eventTime``, ``eventTimeZoneOffset``) of an aware moment, in ``zone`` (default
    Asia/Ho_Chi_Minh)."""
    local = moment.astimezone(_zone(zone))
    return _iso(local), _offset(local)
