"""Exchanges the catalogue is published to (docs/architecture.md, "Exchanges"): their profile, pull-feed token and
push endpoint, and the deliveries (outbox) of product changes to them."""
from __future__ import annotations

import datetime as dt
import hmac
import secrets
from typing import Optional

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, hash_token, utcnow

TOKEN_PREFIX = "feed_"


class Exchange(db.Model):
    """One exchange (``thanhhoa``, ``postmart``, ``google``, ``dfc``): seeded by migration.

    ``profile`` holds an officer's edited profile; ``None`` means the profile shipped in
    ``marketplace/feeds/profiles/<code>.json``.  The pull-feed token is stored hashed and
    shown once, when made.
    """

    __tablename__ = "exchange"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    profile: Mapped[Optional[dict]] = mapped_column(JSON)
    # When the profile last changed (an edit or a reset): every item of its feeds changed then.
    profile_changed_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    feed_token_hash: Mapped[Optional[str]] = mapped_column(String(64))
    feed_token_created_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # Push: where deliveries go and the Standard Webhooks secret(s) that sign them.  During a
    # rotation the previous secret keeps signing too, until previous_secret_until.
    endpoint_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    enabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    secret: Mapped[Optional[str]] = mapped_column(String(100))
    previous_secret: Mapped[Optional[str]] = mapped_column(String(100))
    previous_secret_until: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    def new_feed_token(self) -> str:
        """A new pull-feed token (the old one stops working); returns it, stores its hash."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self.feed_token_hash = hash_token(token)
        self.feed_token_created_at = utcnow()
        return token

    @property
    def pullable(self) -> bool:
        """It pulls our feed: it holds a feed token (``public_facts.exchange_listing``)."""
        return self.feed_token_hash is not None

    def token_matches(self, token: str | None) -> bool:
        if not token or not self.feed_token_hash:
            return False
        return hmac.compare_digest(hash_token(token), self.feed_token_hash)

    def set_profile(self, data: dict | None) -> None:
        """An officer's profile (``None``: the shipped one); a real change is dated, as every
        item of the exchange's feeds changes with it (``Last-Modified``)."""
        if data != self.profile:
            self.profile = data
            self.profile_changed_at = utcnow()

    def __repr__(self) -> str:
        return f"<Exchange {self.code}>"


class DeliveryStatus:
    pending = "pending"
    delivered = "delivered"
    dead = "dead"
    superseded = "superseded"  # a newer change of the same product went (or goes) instead
    unneeded = "unneeded"      # a deletion for an exchange that never received the item: not sent


class Delivery(db.Model):
    """A product change to push to one exchange, written in the change's own transaction.

    The payload is built when it is sent, from the product as it is then, so it always
    carries the latest ``version``; ``sent_version`` records what went.  A worker claims a
    due row by setting ``locked_until`` (a lease: a killed worker's rows come back when it
    runs out), so no row is sent by two workers at once.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_due", "status", "next_attempt_at"),
        Index("ix_delivery_exchange_product", "exchange_id", "product_id"),
        # a product's deliveries (its pending ones, its acknowledged ones, counted by the pages
        # kept per state: listings_changed_sql); it replaced the index on product_id alone
        Index("ix_delivery_product_status", "product_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"))  # ix_delivery_product_status
    version: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    last_status: Mapped[Optional[int]] = mapped_column()
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_version: Mapped[Optional[int]] = mapped_column()
    # What the acknowledged push carried: the item (False) or its deletion (True).
    sent_deleted: Mapped[Optional[bool]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    exchange: Mapped[Exchange] = relationship()
    product: Mapped["Product"] = relationship()  # noqa: F821

    @property
    def webhook_id(self) -> str:
        """The same for every attempt: receivers spot duplicates by it (``webhook-id``)."""
        return f"dlv_{self.id}"


class ExchangePage(db.Model):
    """A product's own page on one exchange, where buyers buy it again (issue 20): named by the
    exchange in its answer to a push (``named_url``, with its id for the product), or typed by
    a province officer (``typed_url``), which stands before the exchange's until cleared.

    Only what the exchange told us or an officer typed lives here.  Whether the exchange has
    the product now is never copied here: it is decided from the deliveries and the
    pre-flight (``public_facts.exchange_listing``), and the link shows only while that says
    "listed" and the product is sellable (``public_facts.buyable_on``).  ``changed_at``
    moves with every change, so the pages kept per state follow it.
    """

    __tablename__ = "exchange_page"

    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), primary_key=True)
    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id", ondelete="CASCADE"), primary_key=True)
    typed_url: Mapped[Optional[str]] = mapped_column(String(500))
    named_url: Mapped[Optional[str]] = mapped_column(String(500))
    external_id: Mapped[Optional[str]] = mapped_column(String(120))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    exchange: Mapped[Exchange] = relationship()

    @property
    def url(self) -> str | None:
        """The page buyers are sent to: the officer's, else the exchange's."""
        return self.typed_url or self.named_url

    @property
    def source(self) -> str | None:
        """Who named :attr:`url`: ``officer``, ``exchange`` or None."""
        return "officer" if self.typed_url else "exchange" if self.named_url else None


def listings_changed_sql(product_id: str) -> str:
    """SQL for what moves when what a product's exchanges tell a buyer may change, for the
    pages kept per state (``product_id``: an SQL expression naming the product): how many
    pushes of it exchanges acknowledged (a delivered row never goes back: each
    acknowledgement adds one; ``ix_delivery_product_status``), the newest change of its pages
    on the exchanges (None while it has none: the stamp page then asks nothing more), and of
    any exchange (its profile, its feed token)."""
    return (f"(SELECT COUNT(*) FROM delivery d WHERE d.product_id = {product_id} AND d.status = 'delivered'), "
            f"(SELECT MAX(ep.changed_at) FROM exchange_page ep WHERE ep.product_id = {product_id}), "
            "(SELECT MAX(e.updated_at) FROM exchange e)")


class FeedItem(db.Model):
    """One product's item as one exchange's JSON feed last carried it, kept so that the next
    feed sends it as is instead of building it again (exchanges poll the whole catalogue,
    which rarely changes between two polls).

    ``fingerprint`` names what the item was built from: the product's ``version`` (bumped by
    every change of the product, its photos, OCOP, certifications, producer, recalls), its
    newest batch (the traceability link), the public base URL and the exchange's profile.
    ``fresh_until`` is the last day it stays true without any change (an OCOP recognition or
    certificate lapses the day after, a certificate starts counting); ``None``: no such day.
    ``body`` is the item in the exchange's fields as JSON, ``None`` when the exchange would
    refuse it (pre-flight reasons).
    """

    __tablename__ = "feed_item"

    exchange_id: Mapped[int] = mapped_column(ForeignKey("exchange.id", ondelete="CASCADE"), primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)
    fingerprint: Mapped[str] = mapped_column(String(120))
    fresh_until: Mapped[Optional[dt.date]] = mapped_column()
    body: Mapped[Optional[bytes]] = mapped_column(LargeBinary)


class DailyJob(db.Model):
    """The last day a once-a-day job ran (compare-and-set by whichever worker gets there first)."""

    __tablename__ = "daily_job"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_day: Mapped[dt.date] = mapped_column()
