"""What the API reads, as pydantic models (what it answers is :mod:`.answers`).

Bodies are strict (a JSON number is not taken from a string, unknown fields are refused):
what the OpenAPI document says is exactly what is accepted.  Query strings are text by
nature, so their models convert ("50" → 50).
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Optional

from flask_babel import gettext as _
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from .. import params
from ..text import cleaner
from ..catalogue.service import PRODUCT_NUMBER_LIMITS, PRODUCT_REQUIRED, PRODUCT_TEXT_LIMITS, VAT_RATES
from ..models import UNITS, EventKind
from ..stamps.service import MAX_RUN
from ..stamps.sheets import LAYOUT_CHOICES
from ..trace.service import BATCH_QUANTITY, GROWING_AREA_MAX, LOT_MAX

Unit = Literal[UNITS]  # type: ignore[valid-type]
Kind = Literal[tuple(k.value for k in EventKind)]  # type: ignore[valid-type]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError(_("Không được chứa ký tự NUL."))
    return value


def _trimmed(*, lines: bool):
    clean = cleaner(lines=lines)

    def trim(value):
        value = clean(value)
        return value.strip() if isinstance(value, str) else value
    return trim


def Text(max_length: int, min_length: int = 0, pattern: str | None = None, *, lines: bool = False):  # noqa: N802
    """A string cleaned as every door cleans text (``text.clean``: NFC, no control
    characters, tab and newline only when ``lines``), then trimmed, of ``min_length`` to
    ``max_length`` characters counted after both ("  ab  " is 2, "   " is 0).  (A type
    factory.)  The limits come first: pydantic checks them inside the string type, after
    the cleaning and trimming that wrap it (listed after the limits, they run before)."""
    limits = StringConstraints(min_length=min_length, max_length=max_length, pattern=pattern)
    return Annotated[str, limits, BeforeValidator(_trimmed(lines=lines)), AfterValidator(_no_nul)]


def _without_null(schema: dict) -> None:
    branches = schema.get("anyOf", [])
    kept = [b for b in branches if b != {"type": "null"}]
    if len(kept) == 1 and len(branches) == 2:
        del schema["anyOf"]
        schema.update(kept[0])
    if schema.get("default", 0) is None:
        del schema["default"]


class NotNull:
    """``field: NotNull[X] = None``: may be left out of a PATCH but not sent as null; the
    document shows ``X`` only, and the view answers 422 for a null.  (``Optional`` inside,
    so a validation error names the field itself, not a branch of a union.)"""

    def __class_getitem__(cls, item):
        return Annotated[Optional[item], Field(json_schema_extra=_without_null)]


def _no_null_defaults(schema: dict) -> None:
    """A field that may be left out but not sent as null: no ``"default": null`` beside a
    type that has no null."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", 0) is None and "anyOf" not in prop and prop.get("type") != "null":
            del prop["default"]


class Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", json_schema_extra=_no_null_defaults, defer_build=True)


def _iso_moment(value):
    """ISO 8601 with a time zone, nothing else (pydantic would also read "0.0" as 1970)."""
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ValueError(_("Phải là thời điểm dạng ISO 8601, có múi giờ."))
    try:
        return params.parse_moment(value, require_zone=True)
    except params.ParamError as exc:
        if exc.reason == "zone":
            raise ValueError(_("Thời điểm phải có múi giờ.")) from None
        if exc.reason == "range":
            raise ValueError(_("Thời điểm nằm ngoài khoảng cho phép.")) from None
        raise ValueError(_("Phải là thời điểm dạng ISO 8601, có múi giờ.")) from None


Moment = Annotated[dt.datetime, BeforeValidator(_iso_moment)]


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # a misspelt parameter is an error, not ignored
    cursor: Optional[Annotated[str, StringConstraints(max_length=200)]] = Field(
        None, description="next_cursor of the previous page; leave out for the first page")
    limit: Annotated[int, Field(ge=1, le=100)] = Field(50, description="items per page (1–100)")
    updated_since: Optional[Moment] = Field(
        None, description="only items changed at or after this moment (ISO 8601 with a time zone), and in the "
                          "minute before it: a change is stamped before it commits, so none is missed")


class ProductListQuery(ListQuery):
    status: Optional[Literal["draft", "pending", "published", "rejected", "archived"]] = None


class BatchListQuery(ListQuery):
    product_id: Optional[Id] = None
    status: Optional[Literal["open", "closed", "recalled"]] = None


class DeliveryListQuery(ListQuery):
    exchange: Optional[Annotated[str, StringConstraints(max_length=32)]] = Field(None, description="exchange code")
    status: Optional[Literal["pending", "delivered", "dead", "superseded", "unneeded"]] = None


class PdfQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    layout: Literal[LAYOUT_CHOICES] = Field("a4-3x8", description="label sheet or roll")  # type: ignore[valid-type]
    part: Annotated[int, Field(ge=1, le=42)] = Field(1, description="part of a run over 2,400 stamps")


class CatalogueQuery(ListQuery):
    q: Optional[Annotated[str, StringConstraints(max_length=100)]] = Field(None, description="words to search for")


# ---- products ---------------------------------------------------------------------------------

def _product_text(name: str):
    least, most = PRODUCT_TEXT_LIMITS[name]
    return Text(most, least, lines=name not in ("name", "short_name", "name_en"))


def _bound(value) -> int | float:
    """A limit as JSON writes it (999999, not 999999.0)."""
    return int(value) if value == int(value) else float(value)


def _number(kind: type, limits: tuple, **extra):
    return Annotated[kind, Field(ge=_bound(limits[0]), le=_bound(limits[1]), **extra)]


def _product_number(name: str, kind: type, **extra):
    return _number(kind, PRODUCT_NUMBER_LIMITS[name], **extra)


GTIN = Annotated[str, StringConstraints(pattern=r"^[0-9]{8}$|^[0-9]{12,14}$")]
VatRate = Literal[VAT_RATES]  # type: ignore[valid-type]
_SHORT_NAME = "for exchanges whose titles are shorter than the name (Postmart 120, Google 150)"
_WEIGHT = "grams, packed as a carrier weighs it (not the net quantity of the label)"
_SIDE = "centimetres, to 1 decimal; give all three sides or none"
_VAT = "percent; null: the product group's usual rate"


class ProductFields(Body):
    name: _product_text("name")
    name_en: _product_text("name_en") = Field("", description="English name (English pages, search)")
    group_id: Id = Field(description="an OCOP sub-group (see the catalogue's groups)")
    description: _product_text("description") = ""
    description_en: _product_text("description_en") = ""
    ingredients: _product_text("ingredients") = ""
    net_quantity: _product_number("net_quantity", float, description="rounded to 3 decimals")
    unit: Unit
    price_vnd: _product_number("price_vnd", int, description="whole đồng")
    stock: _product_number("stock", int) = 0
    shelf_life_days: Optional[_product_number("shelf_life_days", int)] = None
    storage_instructions: _product_text("storage_instructions") = ""
    usage_instructions: _product_text("usage_instructions") = ""
    warnings: _product_text("warnings") = ""
    ingredients_en: _product_text("ingredients_en") = ""
    storage_instructions_en: _product_text("storage_instructions_en") = ""
    usage_instructions_en: _product_text("usage_instructions_en") = ""
    warnings_en: _product_text("warnings_en") = ""
    origin_ward_code: Optional[Id] = Field(None, description="commune of origin, when not the producer's")
    gtin: Optional[GTIN] = Field(None, description="GTIN-8, -12, -13 or -14 with a correct check digit")
    short_name: _product_text("short_name") = Field("", description=_SHORT_NAME)
    packed_weight_g: Optional[_product_number("packed_weight_g", int)] = Field(None, description=_WEIGHT)
    package_length_cm: Optional[_product_number("package_length_cm", float)] = Field(None, description=_SIDE)
    package_width_cm: Optional[_product_number("package_width_cm", float)] = Field(None, description=_SIDE)
    package_height_cm: Optional[_product_number("package_height_cm", float)] = Field(None, description=_SIDE)
    vat_rate: Optional[VatRate] = Field(None, description=_VAT)


class ProductCreate(ProductFields):
    producer_id: Optional[Id] = Field(None, description="a member of your cooperative; yours when left out")


class ProductUpdate(Body):
    """Only the fields sent are changed."""
    name: NotNull[_product_text("name")] = None
    name_en: NotNull[_product_text("name_en")] = None
    description_en: NotNull[_product_text("description_en")] = None
    group_id: NotNull[Id] = None
    description: NotNull[_product_text("description")] = None
    ingredients: NotNull[_product_text("ingredients")] = None
    net_quantity: NotNull[_product_number("net_quantity", float)] = None
    unit: NotNull[Unit] = None
    price_vnd: NotNull[_product_number("price_vnd", int)] = None
    stock: NotNull[_product_number("stock", int)] = None
    shelf_life_days: Optional[_product_number("shelf_life_days", int)] = None
    storage_instructions: NotNull[_product_text("storage_instructions")] = None
    usage_instructions: NotNull[_product_text("usage_instructions")] = None
    warnings: NotNull[_product_text("warnings")] = None
    ingredients_en: NotNull[_product_text("ingredients_en")] = None
    storage_instructions_en: NotNull[_product_text("storage_instructions_en")] = None
    usage_instructions_en: NotNull[_product_text("usage_instructions_en")] = None
    warnings_en: NotNull[_product_text("warnings_en")] = None
    origin_ward_code: Optional[Id] = None
    gtin: Optional[GTIN] = None
    short_name: NotNull[_product_text("short_name")] = None
    packed_weight_g: Optional[_product_number("packed_weight_g", int)] = Field(None, description=_WEIGHT)
    package_length_cm: Optional[_product_number("package_length_cm", float)] = Field(None, description=_SIDE)
    package_width_cm: Optional[_product_number("package_width_cm", float)] = Field(None, description=_SIDE)
    package_height_cm: Optional[_product_number("package_height_cm", float)] = Field(None, description=_SIDE)
    vat_rate: Optional[VatRate] = Field(None, description=_VAT)


def not_null(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` declared ``NotNull`` (the view answers 422 for a null)."""
    return tuple(name for name, field in model.model_fields.items() if field.json_schema_extra is _without_null)


# ---- batches and the diary --------------------------------------------------------------------

LotCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=LOT_MAX,
                                           pattern=r"^[A-Za-z0-9-]*[A-Za-z0-9][A-Za-z0-9-]*$")]
BatchQuantity = _number(float, BATCH_QUANTITY)


class BatchCreate(Body):
    product_id: Id
    lot_code: LotCode = Field(description="A–Z, 0–9 and '-', up to 20 characters (upper-cased)")
    quantity: Annotated[BatchQuantity, Field(description="rounded to 3 decimals")]
    unit: Unit
    production_date: dt.date
    expiry_date: Optional[dt.date] = Field(None, description="worked out from the product's shelf life when left out")
    growing_area: Text(GROWING_AREA_MAX) = ""


class BatchUpdate(Body):
    """Corrections while the batch is open; only the fields sent are changed."""
    quantity: NotNull[BatchQuantity] = None
    expiry_date: Optional[dt.date] = None
    growing_area: NotNull[Text(GROWING_AREA_MAX)] = None


class RecallBody(Body):
    reason: Text(2000, 1, lines=True)


class EventDetails(Body):
    input_name: Text(120) = ""
    input_quantity: Text(60) = ""
    input_lot: Text(60) = ""
    supplier: Text(120) = ""
    counterpart: Text(120) = ""
    document_no: Text(60) = ""


class EventCreate(Body):
    kind: Kind
    occurred_at: dt.datetime = Field(description="with a time zone; not in the future")
    place: Text(200) = ""
    description: Text(2000, lines=True) = ""
    details: EventDetails = Field(default_factory=EventDetails)
    corrects_id: Optional[Id] = Field(None, description="the diary entry this one corrects (entries are never edited)")


# ---- stamps -------------------------------------------------------------------------------------

class RunCreate(Body):
    count: Annotated[int, Field(ge=1, le=MAX_RUN)]
    scratch: bool = Field(False, description="scratch-off run (tem cào): each label also prints a secret code in a "
                                             "box for a scratch-off sticker, and the run's CSV gets a scratch_code "
                                             "column (the file is then secret: for the print shop only)")
