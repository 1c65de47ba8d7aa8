from __future__ import annotations

import datetime as dt
import enum
import secrets
from typing import TYPE_CHECKING, Optional

from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, String, update
from sqlalchemy.orm import Mapped, mapped_column, object_session, relationship

from ..extensions import db
from .base import UTCDateTime, hash_token, utcnow

if TYPE_CHECKING:
    from .producers import Producer


class UserRole(str, enum.Enum):
    producer = "producer"
    officer = "officer"
    admin = "admin"


class OfficerScope(str, enum.Enum):
    """Where an officer acts: the whole province, or a list of its communes and wards."""
    province = "province"
    communes = "communes"


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
    # An officer's jurisdiction (issue 18): "province", or "communes" with the wards listed in
    # officer_ward (2025 codes).  Admins always act for the whole province.
    scope: Mapped[str] = mapped_column(String(16), default=OfficerScope.province.value,
                                       server_default=OfficerScope.province.value)
    # The second factor (marketplace.two_factor): the TOTP secret once enrolled, when, and the
    # last 30-second step accepted (a code is never accepted twice).
    totp_secret: Mapped[Optional[str]] = mapped_column(String(64))
    totp_enabled_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[Optional[int]] = mapped_column(BigInteger)

    producer: Mapped[Optional["Producer"]] = relationship(back_populates="users")
    scope_wards: Mapped[list["OfficerWard"]] = relationship(cascade="all, delete-orphan",
                                                            order_by="OfficerWard.ward_code")
    recovery_codes: Mapped[list["RecoveryCode"]] = relationship(cascade="all, delete-orphan", order_by="RecoveryCode.id")

    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def revoke_sessions(self) -> None:
        self.session_token = new_session_token()

    def revoke_credentials(self) -> None:
        """Every way in ends: browser sessions and personal access tokens (a password change
        or reset, a locked account; logging out ends only the sessions)."""
        self.revoke_sessions()
        session = object_session(self)
        if session is not None and self.id is not None:
            session.execute(update(ApiToken).where(ApiToken.user_id == self.id, ApiToken.revoked_at.is_(None))
                            .values(revoked_at=utcnow()))

    @property
    def is_officer(self) -> bool:
        return self.role in (UserRole.officer.value, UserRole.admin.value)

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.admin.value

    @property
    def ward_scope(self) -> frozenset[int] | None:
        """The ward codes an officer acts for; ``None``: the whole province (admins, province
        officers).  A commune officer with no ward left acts for none (an empty set)."""
        if self.is_admin or self.scope != OfficerScope.communes.value:
            return None
        return frozenset(w.ward_code for w in self.scope_wards)

    @property
    def is_province_officer(self) -> bool:
        """An officer of the whole province (or an admin): records OCOP recognitions and
        manages the exchanges, which are the province's."""
        return self.is_officer and self.ward_scope is None

    def set_scope(self, wards) -> None:
        """``None``: the whole province; else these ward codes (an iterable of ints)."""
        if wards is None:
            self.scope = OfficerScope.province.value
            self.scope_wards = []
            return
        self.scope = OfficerScope.communes.value
        wanted = sorted(set(wards))
        kept = [w for w in self.scope_wards if w.ward_code in wanted]
        have = {w.ward_code for w in kept}
        self.scope_wards = kept + [OfficerWard(ward_code=code) for code in wanted if code not in have]

    @property
    def has_second_factor(self) -> bool:
        return self.totp_enabled_at is not None and bool(self.totp_secret)

    def clear_second_factor(self) -> None:
        """No TOTP secret, no recovery codes (an admin's reset, a producer turning it off)."""
        self.totp_secret = None
        self.totp_enabled_at = None
        self.totp_last_step = None
        self.recovery_codes = []

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class RecoveryCode(db.Model):
    """One of an account's single-use recovery codes (SHA-256 of the code; shown once)."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)


class OfficerWard(db.Model):
    """One commune or ward (2025 code) of a commune officer's jurisdiction."""

    __tablename__ = "officer_ward"

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    ward_code: Mapped[int] = mapped_column(primary_key=True, index=True)


TOKEN_PREFIX = "ocop_pat_"


class ApiToken(db.Model):
    """A personal access token for ``/api/v1``: acts as its user (a producer's staff acts
    for that producer, an officer with officer rights).  Only a SHA-256 of the secret is
    stored; the secret is shown once, when the token is created."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # the first characters of the secret, shown in lists so a user can tell tokens apart
    hint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    revoked_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @classmethod
    def issue(cls, user: User, name: str) -> tuple["ApiToken", str]:
        """A new token for ``user`` and its secret (to show once; never stored)."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return cls(user=user, name=name, token_hash=hash_token(secret), hint=secret[:len(TOKEN_PREFIX) + 4]), secret

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
