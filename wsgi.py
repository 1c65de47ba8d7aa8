"""WSGI entry point: ``gunicorn wsgi:app`` and ``flask --app wsgi …``."""
import gc

# Importing the app builds some 190,000 objects that live as long as the process and leaves
# under a thousand behind as garbage: the collections that the allocations would trigger on
# the way (a full one among them) find nothing and cost a fifth of every start (every worker,
# CLI command and ``flask worker``; bench/startup.py times it).  Collection resumes below.
gc.disable()
try:
    from marketplace import create_app

    app = create_app()

    # Everything made so far (models, routes, templates, translations…) lives as long as the
    # process: move it out of the collector's sight, so a full collection during traffic walks
    # only what requests create.  Measured on the stamp page: the longest pause went from
    # 74 ms to 11 ms (bench/scan.py measures the page's p99).
    gc.freeze()
finally:
    gc.enable()
