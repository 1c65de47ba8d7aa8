"""What the API answers, as pydantic models (the request side is :mod:`.schemas`).

Answers are read from the database objects where the names agree (``from_attributes``:
:func:`.shapes.shaped`), so a column's name and type are stated once, in the model, and
the OpenAPI document shows exactly what is sent.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "Out", "Place", "ProducerOut", "ProducerPage", "PhotoOut", "OcopOut", "RecallOut",
    "Availability", "FactsOut", "ProductOut", "ProductPage", "BatchOut", "BatchPage", "EventOut",
    "EventList", "RunOut", "StampOut", "DeliveryOut", "DeliveryPage", "CatalogueItem",
    "CataloguePage",
]


class Out(BaseModel):
    """An answer: read from a model's attributes where the names agree (``shapes.shaped``)."""
    model_config = ConfigDict(extra="forbid", from_attributes=True, defer_build=True)


class Place(Out):
    ward_code: Optional[int]
    ward: str
    province_code: Optional[int]
    province: str


class ProducerOut(Out):
    id: int
    kind: str
    name: str
    slug: str
    status: str
    representative: str
    phone: str
    zalo_phone: str = Field(description="the number buyers message on Zalo; empty: none")
    email: str
    address_line: str
    place: Place
    cooperative_id: Optional[int]
    url: Optional[str] = Field(description="the public page, once the producer is approved")
    updated_at: dt.datetime


class ProducerPage(Out):
    data: list[ProducerOut]
    next_cursor: Optional[str]


class PhotoOut(Out):
    id: int
    url: str
    thumbnail_url: str
    width: int
    height: int
    position: int


class OcopOut(Out):
    stars: int
    decision_no: str
    valid_until: dt.date


class RecallOut(Out):
    lot_code: str
    reason: str
    recalled_at: Optional[dt.datetime]


Availability = Literal["in_stock", "out_of_stock", "recalled", "not_listed"]


class FactsOut(Out):
    """What buyers are told, decided in one place (the same on every channel)."""
    listed: bool = Field(description="published by an approved producer: on the public catalogue")
    sellable: bool = Field(description="listed, in stock and no recall in force: for sale")
    availability: Availability
    recalls: list[RecallOut] = Field(description="the product's lots whose recall is in force")


class ProductOut(Out):
    id: int
    producer_id: int
    name: str
    name_en: str
    slug: str
    status: str
    review_note: str
    group_id: int
    description: str
    description_en: str
    ingredients: str
    net_quantity: float
    unit: str
    price_vnd: int
    stock: int
    shelf_life_days: Optional[int]
    storage_instructions: str
    usage_instructions: str
    warnings: str
    ingredients_en: str
    storage_instructions_en: str
    usage_instructions_en: str
    warnings_en: str
    origin_ward_code: Optional[int]
    gtin: Optional[str]
    short_name: str
    packed_weight_g: Optional[int]
    package_length_cm: Optional[float]
    package_width_cm: Optional[float]
    package_height_cm: Optional[float]
    vat_rate: Optional[int] = Field(description="its own rate; null: its group's usual rate")
    version: int
    ocop: Optional[OcopOut] = Field(description="the OCOP recognition in force (most stars)")
    photos: list[PhotoOut]
    facts: FactsOut
    url: Optional[str] = Field(description="the public page, while listed")
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductPage(Out):
    data: list[ProductOut]
    next_cursor: Optional[str]


class BatchOut(Out):
    id: int
    product_id: int
    lot_code: str
    quantity: float
    unit: str
    production_date: dt.date
    expiry_date: Optional[dt.date]
    growing_area: str
    status: str
    recall_reason: str
    recalled_at: Optional[dt.datetime]
    trace_url: str = Field(description="the public traceability page of the lot")
    created_at: dt.datetime
    updated_at: dt.datetime


class BatchPage(Out):
    data: list[BatchOut]
    next_cursor: Optional[str]


class EventOut(Out):
    id: int
    seq: int
    kind: str
    occurred_at: dt.datetime
    place: str
    description: str
    details: dict[str, str]
    corrects_id: Optional[int]
    recorded_at: dt.datetime
    entry_hash: str


class EventList(Out):
    data: list[EventOut]


class RunOut(Out):
    id: int
    batch_id: int
    count: int
    status: str
    created_at: dt.datetime
    activated_at: Optional[dt.datetime]
    voided_at: Optional[dt.datetime]
    scratch: bool = Field(description="a scratch-off run (tem cào): labels and CSV carry secret codes")
    stamps: dict[str, int] = Field(description="stamps per status")
    pdf_url: str
    csv_url: str


class StampOut(Out):
    serial: str
    url: str = Field(description="what the stamp's QR code carries")
    status: str
    run_id: int
    batch_id: int
    position: int
    scan_count: int
    first_scan_at: Optional[dt.datetime]


class DeliveryOut(Out):
    id: int
    exchange: str
    product_id: int
    version: int
    status: str
    attempts: int
    last_status: Optional[int]
    last_error: str
    sent_version: Optional[int]
    created_at: dt.datetime
    next_attempt_at: dt.datetime
    delivered_at: Optional[dt.datetime]


class DeliveryPage(Out):
    data: list[DeliveryOut]
    next_cursor: Optional[str]


class CatalogueItem(Out):
    id: int
    name: str
    url: str
    producer: str
    producer_url: str
    place: Place
    group_id: int
    price_vnd: int
    net_quantity: float
    unit: str
    in_stock: bool = Field(description="the same as sellable (kept for older clients)")
    sellable: bool = Field(description="in stock and no recall in force: for sale")
    availability: Availability
    recalls: list[RecallOut]
    ocop_stars: Optional[int]
    gtin: Optional[str]
    photo_url: Optional[str]
    updated_at: dt.datetime


class CataloguePage(Out):
    data: list[CatalogueItem]
    next_cursor: Optional[str]
