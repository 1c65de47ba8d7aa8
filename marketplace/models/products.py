from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Optional

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .accounts import User
    from .producers import Producer

# Units a label may state net quantity in (Decree 43/2017 uses SI units plus counts).
UNITS = ("g", "kg", "ml", "l", "piece", "box", "bottle", "bag", "jar", "bunch", "tray")


class ProductStatus(str, enum.Enum):
    draft = "draft"
    pending = "pending"
    published = "published"
    rejected = "rejected"
    archived = "archived"


class CertificationScheme(str, enum.Enum):
    vietgap = "vietgap"
    globalgap = "globalgap"
    organic = "organic"              # TCVN 11041
    haccp = "haccp"
    iso22000 = "iso22000"
    food_safety = "food_safety"      # giấy chứng nhận cơ sở đủ điều kiện ATTP
    self_declaration = "self_declaration"  # tự công bố sản phẩm


class ProductGroup(db.Model):
    """OCOP product groups and sub-groups (Decision 148/QĐ-TTg, 2023); seeded by migration."""

    __tablename__ = "product_group"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    parent_id: Mapped[Optional[int]] = mapped_column(ForeignKey("product_group.id"))
    name_vi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(default=0)

    parent: Mapped[Optional["ProductGroup"]] = relationship(remote_side="ProductGroup.id")

    def display_name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_vi


class Product(db.Model):
    __tablename__ = "product"
    __table_args__ = (
        CheckConstraint("price_vnd >= 0", name="price_nonnegative"),
        CheckConstraint("stock >= 0", name="stock_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Optional English name and description: English pages show them, search finds them.
    name_en: Mapped[str] = mapped_column(String(200), default="", server_default="")
    description_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    slug: Mapped[str] = mapped_column(String(220), unique=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("product_group.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    ingredients: Mapped[str] = mapped_column(Text, default="")
    net_quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit: Mapped[str] = mapped_column(String(16))
    price_vnd: Mapped[int] = mapped_column()
    stock: Mapped[int] = mapped_column(default=0)
    shelf_life_days: Mapped[Optional[int]] = mapped_column()
    storage_instructions: Mapped[str] = mapped_column(Text, default="")
    usage_instructions: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[str] = mapped_column(Text, default="")
    # The same in English, optional: English pages show them instead of the Vietnamese.
    ingredients_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    storage_instructions_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    usage_instructions_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    warnings_en: Mapped[str] = mapped_column(Text, default="", server_default="")
    origin_ward_code: Mapped[Optional[int]] = mapped_column(index=True)
    gtin: Mapped[Optional[str]] = mapped_column(String(14), unique=True)
    # A shorter name for the exchanges whose titles are shorter than ours (Postmart: 120).
    short_name: Mapped[str] = mapped_column(String(120), default="", server_default="")
    # The package as a carrier weighs and measures it (shipping prices), beside the net
    # quantity the label states: grams and centimetres.
    packed_weight_g: Mapped[Optional[int]] = mapped_column()
    package_length_cm: Mapped[Optional[Decimal]] = mapped_column(Numeric(6, 1))
    package_width_cm: Mapped[Optional[Decimal]] = mapped_column(Numeric(6, 1))
    package_height_cm: Mapped[Optional[Decimal]] = mapped_column(Numeric(6, 1))
    # VAT rate in percent; None: the product group's usual rate (catalogue.service.vat_rate_of).
    vat_rate: Mapped[Optional[int]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.draft.value, index=True)
    review_note: Mapped[str] = mapped_column(Text, default="")
    # Folded (no diacritics, lower case) name + producer + description for search.
    search_text: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    published_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    producer: Mapped["Producer"] = relationship(back_populates="products")
    group: Mapped[ProductGroup] = relationship()
    photos: Mapped[list["ProductPhoto"]] = relationship(
        back_populates="product", order_by="ProductPhoto.position", cascade="all, delete-orphan"
    )
    recognitions: Mapped[list["OcopRecognition"]] = relationship(
        back_populates="product", order_by="OcopRecognition.decision_date.desc()"
    )
    certifications: Mapped[list["Certification"]] = relationship(back_populates="product")
    # Its production batches, newest first (read-only here: batches are made in trace.service).
    batches: Mapped[list["Batch"]] = relationship(viewonly=True, order_by="Batch.id.desc()")  # noqa: F821

    @property
    def is_published(self) -> bool:
        return self.status == ProductStatus.published.value

    @property
    def cover(self) -> Optional["ProductPhoto"]:
        return self.photos[0] if self.photos else None

    def __repr__(self) -> str:
        return f"<Product {self.slug}>"


class ProductPhoto(db.Model):
    __tablename__ = "product_photo"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), index=True)
    # Random stem; files are <stem>.jpg (large) and <stem>-t.jpg (thumbnail) in UPLOAD_DIR.
    stem: Mapped[str] = mapped_column(String(64), unique=True)
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship(back_populates="photos")


class OcopRecognition(db.Model):
    """An OCOP star rating decision.  Written by officers only."""

    __tablename__ = "ocop_recognition"
    __table_args__ = (CheckConstraint("stars BETWEEN 3 AND 5", name="stars_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), index=True)
    stars: Mapped[int] = mapped_column()
    score: Mapped[Optional[int]] = mapped_column()
    decision_no: Mapped[str] = mapped_column(String(64))
    decision_date: Mapped[dt.date] = mapped_column()
    certificate_no: Mapped[str] = mapped_column(String(64), default="")
    issuer_level: Mapped[str] = mapped_column(String(16))  # central | provincial | district
    issuer_name: Mapped[str] = mapped_column(String(200))
    valid_until: Mapped[dt.date] = mapped_column(index=True)
    revoked: Mapped[bool] = mapped_column(default=False)
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped[Product] = relationship(back_populates="recognitions")
    recorded_by: Mapped[Optional["User"]] = relationship()


class Certification(db.Model):
    """VietGAP, organic, HACCP… of a producer, optionally for one product."""

    __tablename__ = "certification"

    id: Mapped[int] = mapped_column(primary_key=True)
    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("product.id", ondelete="SET NULL"), index=True
    )
    scheme: Mapped[str] = mapped_column(String(24))
    number: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(255), default="")
    valid_from: Mapped[Optional[dt.date]] = mapped_column()
    valid_to: Mapped[Optional[dt.date]] = mapped_column()
    document: Mapped[Optional[str]] = mapped_column(String(80))
    verified: Mapped[bool] = mapped_column(default=False)
    verified_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    verified_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    producer: Mapped["Producer"] = relationship(back_populates="certifications")
    product: Mapped[Optional[Product]] = relationship(back_populates="certifications")
