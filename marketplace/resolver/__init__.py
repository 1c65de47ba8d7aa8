"""GS1-Conformant resolver (standard 1.2) for the marketplace's GS1 Digital Link URIs."""
from .routes import bp

__all__ = ["bp"]
