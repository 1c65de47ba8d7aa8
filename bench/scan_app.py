"""WSGI module for ``bench/scan.py`` only: the production app plus a bare ``/hello`` route.

The stamp page is measured beside this route of the *same* app (same before/after-request
hooks, same gunicorn workers), so the ratio stamp/hello shows what the page itself costs.
``wsgi.py`` (production) never gets this route.

    gunicorn --pythonpath bench scan_app:app      (from the project root)
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from wsgi import app  # noqa: E402  (the production entry point, as gunicorn serves it)


@app.get("/hello")
def hello():
    return app.response_class("hello", mimetype="text/plain")
