"""The JSON API ``/api/v1``: the blueprint and its hooks in :mod:`.routes`, the operations by
resource in :mod:`.products`, :mod:`.batches` and :mod:`.stamps` (imported here so that the
blueprint the factory registers has all of them), plumbing in :mod:`.framework`."""
from __future__ import annotations

from . import batches, products, stamps  # noqa: F401  (each declares its operations on bp)
from .routes import bp

__all__ = ["bp"]
