"""Accounts under ``/account``: the blueprint (``routes.py``: register, log in, password,
API tokens) and the second step of logging in (``second_factor.py``).  Importing the
package gives the blueprint with all of them."""
from .routes import bp
from . import second_factor  # noqa: E402,F401  (adds its pages to bp)

__all__ = ["bp"]
