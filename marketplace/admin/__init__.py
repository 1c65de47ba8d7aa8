"""Officers' and admins' pages under ``/admin``: the blueprint (``routes.py``: queues,
recognitions, certificates, users, audit) and its other pages, one module each: the figures
(``dashboard.py``), alerts, reports and probes (``alerts.py``), the exchanges
(``exchanges.py``), officers' jurisdictions (``scopes.py``).  Importing the package gives the blueprint with all of them."""
from .routes import bp
from . import alerts, dashboard, exchanges, scopes  # noqa: E402,F401  (each adds its pages to bp)

__all__ = ["bp"]
