from __future__ import annotations

import datetime as dt
import enum
import secrets
from typing import TYPE_CHECKING, Optional

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .producers import Producer


class UserRole(str, enum.Enum):
    producer = "producer"
    officer = "officer"
    admin = "admin"


class ProducerRole(str, enum.Enum):
    owner = "owner"
    staff = "staff"


def new_session_token() -> str:
    return secrets.token_urlsafe(32)


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16), default=UserRole.producer.value)
    producer_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("producer.id", ondelete="RESTRICT"), index=True
    )
    producer_role: Mapped[Optional[str]] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    # Flask-Login's user id.  Rotated on logout, password change and deactivation so a
    # captured session or remember cookie stops working (issue 2, "Sessions are revocable").
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    locale: Mapped[Optional[str]] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    producer: Mapped[Optional["Producer"]] = relationship(back_populates="users")

    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def revoke_sessions(self) -> None:
        self.session_token = new_session_token()

    @property
    def is_officer(self) -> bool:
        return self.role in (UserRole.officer.value, UserRole.admin.value)

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.admin.value

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"
