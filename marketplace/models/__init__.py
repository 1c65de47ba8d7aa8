"""Data model (docs/architecture.md, "Data model").  Import models from here."""
from .audit import AuditEntry
from .accounts import ApiToken, OfficerScope, OfficerWard, RecoveryCode, User, UserRole, ProducerRole
from .feeds import DailyJob, Delivery, DeliveryStatus, Exchange, ExchangePage, FeedItem, listings_changed_sql
from .producers import BankAccount, Producer, ProducerKind, ProducerStatus
from .trace import (Batch, BatchStatus, BuyerReport, EventKind, ReportReason, Scan, ScanDay, ScanFold, ScanInbox, ScannerKey, SerialProbe, Stamp,
                    StampFrame,
                    StampRun, StampStatus, TraceEvent)
from .products import (
    Certification,
    CertificationScheme,
    OcopRecognition,
    Product,
    ProductGroup,
    ProductPhoto,
    ProductStatus,
    UNITS,
)

__all__ = [
    "ApiToken", "BankAccount", "OfficerScope", "OfficerWard", "RecoveryCode", "AuditEntry", "Batch", "BatchStatus", "BuyerReport", "ReportReason", "ScanDay", "ScanFold", "ScanInbox", "ScannerKey", "SerialProbe", "DailyJob", "Delivery", "DeliveryStatus", "Exchange", "ExchangePage", "listings_changed_sql", "EventKind", "FeedItem", "Scan", "Stamp", "StampFrame", "StampRun", "StampStatus", "TraceEvent",
    "Certification", "CertificationScheme", "OcopRecognition", "Producer", "ProducerKind",
    "ProducerRole", "ProducerStatus", "Product", "ProductGroup", "ProductPhoto", "ProductStatus",
    "UNITS", "User", "UserRole",
]
