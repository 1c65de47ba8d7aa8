from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Optional

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .accounts import User
    from .products import Certification, Product


class ProducerKind(str, enum.Enum):
    household = "household"            # hộ sản xuất / hộ kinh doanh
    cooperative = "cooperative"        # hợp tác xã (HTX)
    cooperative_group = "cooperative_group"  # tổ hợp tác
    enterprise = "enterprise"          # doanh nghiệp


class ProducerStatus(str, enum.Enum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    suspended = "suspended"


class Producer(db.Model):
    __tablename__ = "producer"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(220), unique=True)
    representative: Mapped[str] = mapped_column(String(120), default="")
    tax_code: Mapped[str] = mapped_column(String(20), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    # The number buyers message on Zalo (often the phone itself); empty: no Zalo link.
    zalo_phone: Mapped[str] = mapped_column(String(20), default="", server_default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    address_line: Mapped[str] = mapped_column(String(255), default="")
    province_code: Mapped[int] = mapped_column()
    ward_code: Mapped[int] = mapped_column(index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    logo: Mapped[Optional[str]] = mapped_column(String(64))
    cooperative_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("producer.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ProducerStatus.pending.value, index=True)
    review_note: Mapped[str] = mapped_column(Text, default="")
    reviewed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    cooperative: Mapped[Optional["Producer"]] = relationship(
        remote_side="Producer.id", back_populates="members"
    )
    members: Mapped[list["Producer"]] = relationship(back_populates="cooperative")
    users: Mapped[list["User"]] = relationship(back_populates="producer")
    products: Mapped[list["Product"]] = relationship(back_populates="producer")
    certifications: Mapped[list["Certification"]] = relationship(back_populates="producer")
    bank_account: Mapped[Optional["BankAccount"]] = relationship(back_populates="producer",
                                                                cascade="all, delete-orphan")

    @property
    def is_cooperative(self) -> bool:
        return self.kind in (ProducerKind.cooperative.value, ProducerKind.cooperative_group.value)

    @property
    def public_tax_code(self) -> str:
        """The tax code to show buyers: an organisation's, never a person's 12-digit citizen ID
        (households may register with it)."""
        return "" if len(self.tax_code) == 12 else self.tax_code

    @property
    def is_approved(self) -> bool:
        return self.status == ProducerStatus.approved.value

    def __repr__(self) -> str:
        return f"<Producer {self.slug}>"


class BankAccount(db.Model):
    """Where a producer's buyers pay it by bank transfer (VietQR, issue 20): one account.

    ``changed_at``/``changed_by`` name the last change (each is in the audit trail too);
    ``seen_at`` is when an owner of the producer last acknowledged the dashboard's notice
    of a change: someone else with access to the account could have changed where the
    money goes.
    """

    __tablename__ = "bank_account"

    producer_id: Mapped[int] = mapped_column(ForeignKey("producer.id", ondelete="CASCADE"), primary_key=True)
    bank_bin: Mapped[str] = mapped_column(String(6))
    account_number: Mapped[str] = mapped_column(String(19))
    account_name: Mapped[str] = mapped_column(String(50))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    changed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    seen_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    producer: Mapped[Producer] = relationship(back_populates="bank_account")
    changed_by: Mapped[Optional["User"]] = relationship()

    @property
    def unseen(self) -> bool:
        """Changed since an owner last said they saw it."""
        return self.seen_at is None or self.seen_at < self.changed_at
