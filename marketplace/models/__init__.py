"""Data model (DESIGN.md §4).  Import models from here."""
from .accounts import User, UserRole, ProducerRole
from .producers import Producer, ProducerKind, ProducerStatus
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
    "Certification", "CertificationScheme", "OcopRecognition", "Producer", "ProducerKind",
    "ProducerRole", "ProducerStatus", "Product", "ProductGroup", "ProductPhoto", "ProductStatus",
    "UNITS", "User", "UserRole",
]
