"""Traceability: batches (lô), their diary (nhật ký), stamp runs and stamps (tem)."""
from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Optional

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow

if TYPE_CHECKING:
    from .accounts import User
    from .products import Product

# 64-bit keys on PostgreSQL (stamps run into the millions); SQLite's INTEGER is 64-bit already
# and only an INTEGER PRIMARY KEY autoincrements.
BigId = BigInteger().with_variant(Integer, "sqlite")


class BatchStatus(str, enum.Enum):
    open = "open"
    closed = "closed"
    recalled = "recalled"


class EventKind(str, enum.Enum):
    seeding = "seeding"
    input = "input"
    care = "care"
    harvest = "harvest"
    processing = "processing"
    packing = "packing"
    inspection = "inspection"   # inspection or lab test
    shipping = "shipping"
    receiving = "receiving"


class StampStatus(str, enum.Enum):
    issued = "issued"
    active = "active"
    void = "void"


class Batch(db.Model):
    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("product_id", "lot_code", name="uq_batch_product_lot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("product.id", ondelete="RESTRICT"), index=True)
    lot_code: Mapped[str] = mapped_column(String(20))
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))
    unit: Mapped[str] = mapped_column(String(16))
    production_date: Mapped[dt.date] = mapped_column()
    expiry_date: Mapped[Optional[dt.date]] = mapped_column()
    growing_area: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=BatchStatus.open.value, index=True)
    recall_reason: Mapped[str] = mapped_column(Text, default="")
    recalled_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    recalled_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Lifting a recall keeps its reason and time (recorded, not erased) and adds these.
    recall_lifted_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    recall_lifted_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    recall_lift_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    product: Mapped["Product"] = relationship()
    events: Mapped[list["TraceEvent"]] = relationship(back_populates="batch", order_by="TraceEvent.seq")
    runs: Mapped[list["StampRun"]] = relationship(back_populates="batch", order_by="StampRun.id")

    @property
    def is_recalled(self) -> bool:
        return self.status == BatchStatus.recalled.value


class TraceEvent(db.Model):
    """One diary entry.  Append-only: a correction is a new event pointing to the one it
    corrects; ``entry_hash`` chains each event to the previous one of its batch."""

    __tablename__ = "trace_event"
    __table_args__ = (UniqueConstraint("batch_id", "seq", name="uq_trace_event_batch_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="RESTRICT"), index=True)
    seq: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(40), default="Asia/Ho_Chi_Minh")
    place: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # input_name, input_quantity, input_lot, supplier, counterpart, document_no
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    photo: Mapped[Optional[str]] = mapped_column(String(64))
    corrects_id: Mapped[Optional[int]] = mapped_column(ForeignKey("trace_event.id", ondelete="RESTRICT"))
    recorded_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))

    batch: Mapped[Batch] = relationship(back_populates="events")
    corrects: Mapped[Optional["TraceEvent"]] = relationship(remote_side="TraceEvent.id")
    recorded_by: Mapped[Optional["User"]] = relationship()


class StampRun(db.Model):
    __tablename__ = "stamp_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="RESTRICT"), index=True)
    count: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(8), default=StampStatus.issued.value)
    downloads: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    voided_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # Each stamp of the run carries a scratch-off code (tem cào), derived from its serial
    # with a keyed hash (marketplace.stamps.scratch): nothing secret is stored.
    scratch: Mapped[bool] = mapped_column(default=False, server_default=false())

    batch: Mapped[Batch] = relationship(back_populates="runs")


class Stamp(db.Model):
    __tablename__ = "stamp"  # on PostgreSQL with fillfactor 90 (migration 0019): scans update its rows in place

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    serial: Mapped[str] = mapped_column(String(16), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("stamp_run.id", ondelete="RESTRICT"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="RESTRICT"), index=True)
    # position within its run (1…count): printing order, and ranges for voiding a torn roll
    position: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(8), default=StampStatus.issued.value)
    # buyers' page loads (test scans by its producer, cooperative or officers not included)
    scan_count: Mapped[int] = mapped_column(default=0)
    # distinct scanners among them (marketplace.scan.scanner): derived from the scan rows by
    # the scan writer on every write, never set by hand
    scanner_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Distinct scanners of the days whose raw scans were folded away (scan/retention.py):
    # scanner_count is this plus the distinct scanners of the scans kept.
    scanners_folded: Mapped[int] = mapped_column(default=0, server_default="0")
    first_scan_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    first_scan_province: Mapped[Optional[int]] = mapped_column()
    # set once a scan comes from a province other than the first one (a sign of copying)
    other_province_seen: Mapped[bool] = mapped_column(default=False, server_default=false())
    # An officer looked at its clone alert and dealt with it; scans after this raise it again.
    alert_handled_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    # the first correct entry of its scratch-off code (scratch runs only)
    scratch_verified_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)

    run: Mapped[StampRun] = relationship()
    batch: Mapped[Batch] = relationship()


class Scan(db.Model):
    """One look at a stamp page.  Coarse place only (province, from a trusted header), the
    user-agent family; never the raw IP.  Written in batches by the scan recorder.

    ``scanner`` is a keyed hash of the client's network prefix and user-agent family under
    a key that changes every day and is deleted after two (``ScannerKey``): one phone
    reloading a page is one scanner, and once the key is gone nobody can tell whose it
    was.  NULL for scans recorded before scanners were (counted together as one).  ``test``:
    a scan by someone logged in as the stamp's producer, its cooperative or an officer.
    """

    __tablename__ = "scan"
    # scanned_at: the figures by date and the daily folding of old scans read ranges of it
    __table_args__ = (Index("ix_scan_stamp_scanner", "stamp_id", "scanner"), Index("ix_scan_scanned_at", "scanned_at"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # indexed by ix_scan_stamp_scanner (stamp_id first): one index to keep up, not two
    stamp_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                          ForeignKey("stamp.id", ondelete="CASCADE"))
    scanned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    province_code: Mapped[Optional[int]] = mapped_column()
    agent_family: Mapped[str] = mapped_column(String(24), default="")
    scanner: Mapped[Optional[str]] = mapped_column(String(16))
    test: Mapped[bool] = mapped_column(default=False, server_default=false())


class ScanInbox(db.Model):
    """Scans answered but not yet counted, when ``SCAN_BUFFER = "database"`` (several app
    servers): the stamp page inserts one row before it answers, and any server's recorder
    moves rows from here into ``scan`` and the counters in one transaction (taken with
    ``FOR UPDATE SKIP LOCKED``, so two servers never take the same row).  A server killed
    mid-load leaves its answered scans here for the others: none is lost, none counted twice.
    ``new``: the scanner was not on the stamp's written scans when the page was served."""

    __tablename__ = "scan_inbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    stamp_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))  # no FK: one index less to check
    scanned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    province_code: Mapped[Optional[int]] = mapped_column()
    agent_family: Mapped[str] = mapped_column(String(24), default="")
    scanner: Mapped[Optional[str]] = mapped_column(String(16))
    test: Mapped[bool] = mapped_column(default=False, server_default=false())
    new: Mapped[bool] = mapped_column(default=False, server_default=false())


class ScanDay(db.Model):
    """Buyers' scans (never test scans) of one lot on one local day, by province (0: not
    known): what the officers' figures and the lot report count instead of raw rows.  The
    scan writer adds each batch of scans to it in the same transaction as the rows; a day
    is rebuilt from its raw rows by the daily job (yesterday's, as a check, and each day it
    folds).  ``stamps`` (distinct stamps scanned) is set when the day is folded: the raw
    rows that could tell it are then deleted (scan/retention.py)."""

    __tablename__ = "scan_day"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), primary_key=True, index=True)
    province_code: Mapped[int] = mapped_column(primary_key=True)
    scans: Mapped[int] = mapped_column(default=0)
    stamps: Mapped[Optional[int]] = mapped_column()


class StampFrame(db.Model):
    """A lot's stamp page, rendered ahead in one language with slots for the stamp
    (``scan/frames.py``): what each app process would otherwise render on its first scan of
    the lot.  ``key`` names everything the frame was made from (the lot's, product's and
    producer's ``updated_at``, the day, what the "buy again" links follow, and the edition of
    the templates, translations and code); a frame is served only while its key is the
    current one, so a stale one is never shown, only rendered again."""

    __tablename__ = "stamp_frame"

    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(400))
    html: Mapped[str] = mapped_column(Text)
    slot: Mapped[str] = mapped_column(String(32))  # the slots' token in ``html`` (scan/page.py: one per process)
    made_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScanFold(db.Model):
    """A local day whose raw scans were folded into ``scan_day`` (and are being, or have
    been, deleted): set in the transaction that folds it, so a second run never counts the
    day twice."""

    __tablename__ = "scan_fold"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    folded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScannerKey(db.Model):
    """The day's random key for scanner hashes (Vietnam's calendar day).  Made by the first
    scan of the day; keys older than yesterday are deleted then, which is what makes old
    scanner hashes unlinkable to anyone."""

    __tablename__ = "scanner_key"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64))


class SerialProbe(db.Model):
    """A Digital Link or ``/s/`` link naming a serial that does not exist (or not under that
    GTIN and lot): someone typing or printing made-up stamps.  What officers need to see it
    happening on a product: the GTIN and lot asked for, the coarse place, the time; never the
    client's address."""

    __tablename__ = "serial_probe"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    gtin: Mapped[Optional[str]] = mapped_column(String(14), index=True)
    lot: Mapped[Optional[str]] = mapped_column(String(20))
    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"), index=True)
    province_code: Mapped[Optional[int]] = mapped_column()
    probed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class ReportReason(str, enum.Enum):
    copied_stamp = "copied_stamp"
    wrong_product = "wrong_product"
    spoiled = "spoiled"
    other = "other"


class BuyerReport(db.Model):
    """A buyer's report of a suspicious product ("Báo cáo sản phẩm đáng ngờ"), sent without
    an account from a stamp page, the counterfeit page or a product page."""

    __tablename__ = "buyer_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    stamp_id: Mapped[Optional[int]] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                                    ForeignKey("stamp.id", ondelete="SET NULL"), index=True)
    product_id: Mapped[Optional[int]] = mapped_column(ForeignKey("product.id", ondelete="SET NULL"), index=True)
    code: Mapped[str] = mapped_column(String(32), default="", server_default="")  # a code typed by the buyer
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
    phone: Mapped[str] = mapped_column(String(20), default="", server_default="")
    photo: Mapped[Optional[str]] = mapped_column(String(64))
    province_code: Mapped[Optional[int]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    handled_at: Mapped[Optional[dt.datetime]] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[Optional[int]] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))

    stamp: Mapped[Optional[Stamp]] = relationship()
    product: Mapped[Optional["Product"]] = relationship()
    handled_by: Mapped[Optional["User"]] = relationship()
