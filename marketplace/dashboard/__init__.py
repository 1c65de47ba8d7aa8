"""The producers' own pages under ``/dashboard``: products, photos, certifications, the
producer's profile (``routes.py``), its staff and cooperative members (``team.py``) and its
bank account for buyers' transfers (``bank.py``).
Importing the package gives the blueprint with all of them."""
from .routes import bp
from . import team  # noqa: E402,F401  (adds the team pages to bp)
from . import bank  # noqa: E402,F401  (adds the bank account pages to bp)

__all__ = ["bp"]
