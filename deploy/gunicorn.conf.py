"""gunicorn settings for OCOP Marketplace: ``gunicorn -c deploy/gunicorn.conf.py wsgi:app``.

* ``preload_app``: the master imports the app once, builds the API's models
  (:func:`when_ready`), moves all of it out of the collector's sight (``gc.freeze()``) and
  forks the workers, which share those pages of memory instead of each importing the app
  again.  Nothing in ``create_app`` opens a connection, and each worker drops any pool state
  it inherited (:func:`post_fork`), so no socket is shared between processes.
* ``reuse_port``: each worker listens on a socket of its own (``SO_REUSEPORT``) and the
  kernel spreads new connections across them, so one worker cannot take nearly all the
  keep-alive connections while the other idles.
* 2 workers × 4 threads per 2 cores (what ``bench/`` measures); ``GUNICORN_BIND``,
  ``GUNICORN_WORKERS`` and ``GUNICORN_THREADS`` override them, as do command-line options.
"""
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
preload_app = True
reuse_port = True
graceful_timeout = 30


def when_ready(server):
    """In the master, after the app is loaded and before any worker is forked: the API's
    models, built on first use elsewhere, are built once here and shared by the workers."""
    import gc

    from marketplace.api import build_models

    build_models()
    gc.freeze()


def post_fork(server, worker):
    """A forked worker starts with empty connection pools (the master opened none, but a
    pool object copied across a fork must never hand out the parent's sockets)."""
    from marketplace.extensions import db
    from marketplace.rawsql import forget_pools
    from wsgi import app  # already imported by the master (preload_app)

    with app.app_context():
        forget_pools(db.engine)
