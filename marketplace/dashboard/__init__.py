"""The producers' own pages under ``/dashboard``: products, photos, certifications, the
producer's profile (``routes.py``) and its staff and cooperative members (``team.py``).
Importing the package gives the blueprint with all of them."""
from .routes import bp
from . import team  # noqa: E402,F401  (adds the team pages to bp)

__all__ = ["bp"]
