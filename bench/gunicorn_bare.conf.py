"""gunicorn settings of ``bench/scan.py``'s bare servers (``hello_app``, ``raw_stamp_app``):
those of deploy/gunicorn.conf.py, read from it so they stay the same (bind, workers, gthread
threads, preload_app, reuse_port, graceful_timeout), without its ``post_fork``, which imports
the production app (``wsgi``) to reset its database pools.

    gunicorn -c bench/gunicorn_bare.conf.py --pythonpath bench hello_app:app
"""
import runpy
from pathlib import Path

_production = runpy.run_path(str(Path(__file__).resolve().parent.parent / "deploy" / "gunicorn.conf.py"))

bind = _production["bind"]
workers = _production["workers"]
worker_class = _production["worker_class"]
threads = _production["threads"]
preload_app = _production["preload_app"]
reuse_port = _production["reuse_port"]
graceful_timeout = _production["graceful_timeout"]
