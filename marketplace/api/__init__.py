"""The JSON API ``/api/v1``: the blueprint and its hooks in :mod:`.routes`, the operations by
resource in :mod:`.products`, :mod:`.batches` and :mod:`.stamps` (imported here so that the
blueprint the factory registers has all of them), plumbing in :mod:`.framework`.

The bodies and answers are pydantic models built on first use (``defer_build``): building
them all cost every process ~0.1 s at start-up, CLI commands and the delivery worker
included.  A server that forks its workers builds them once, before forking
(:func:`build_models`, called by ``deploy/gunicorn.conf.py``)."""
from __future__ import annotations

from pydantic import BaseModel

from . import answers, batches, products, schemas, stamps  # noqa: F401  (each declares its operations on bp)
from .routes import bp

__all__ = ["bp", "build_models"]


def build_models() -> int:
    """Build every body and answer model now; the number built."""
    models = [value for module in (answers, schemas) for value in vars(module).values()
              if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__]
    for model in models:
        model.model_rebuild(force=True)
    return len(models)
