"""Benchmark: start-up as whole processes (issue 19, point 3).

Every gunicorn worker, ``flask worker`` and CLI command pays the app's imports before it does
anything, so they are timed as whole processes (wall time, median of ``BENCH_RUNS``):

* ``python -c "import wsgi"`` (target ≤ 0.4 s) and ``flask --help`` (target ≤ 0.5 s), beside
  a bare ``python -c pass`` (the interpreter's own start);
* a 1,000-label ``a4-3x8`` PDF from the CLI (``flask stamps pdf``, on a temporary SQLite
  database made through the migrations) beside the reference pipeline of ``bench/labels.py``
  (``bench/label_reference.py``: zxing-cpp's QR matrix → one reportlab rectangle per dark
  module, QR only) run as its own process that imports only zxing-cpp and reportlab
  (target ≤ 1.3×).

Compiled bytecode is written first (``compileall``), as an installed deployment has it.
Run: ``.venv/bin/python bench/startup.py``.  Prints numbers; a missed target prints MISSED.
"""
from __future__ import annotations

import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
BIN = Path(sys.executable).parent
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
LABELS = 1000
TARGETS = {"import wsgi": 0.4, "flask --help": 0.5}
PDF_TARGET = 1.3

def timed(cmd: list[str], *, env: dict | None = None, stdin: str | None = None) -> float:
    """Median wall time of ``cmd`` over RUNS runs (each must exit 0)."""
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, env=env, input=stdin, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout[-500:]}{done.stderr[-2000:]}")
    return statistics.median(times)


def label_run(url: str) -> tuple[int, list[str]]:
    """A database with one run of LABELS stamps: (run id, the URLs its QRs carry)."""
    import scan as stamp_bench  # bench/scan.py: the migrated database with one batch

    from marketplace import create_app
    from marketplace.extensions import db
    from marketplace.stamps.service import stamp_url

    stamp_bench.build_database(url, LABELS, LABELS)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench"})
    with app.app_context():
        rows = db.session.execute(db.text(
            "SELECT s.run_id, s.serial, p.gtin, b.lot_code FROM stamp s JOIN batch b ON b.id = s.batch_id "
            "JOIN product p ON p.id = b.product_id ORDER BY s.id")).all()
        base = app.config["PUBLIC_BASE_URL"]
        db.session.remove()
        db.engine.dispose()
    return rows[0].run_id, [stamp_url(base, r.serial, gtin=r.gtin, lot=r.lot_code) for r in rows]


def main() -> int:
    compileall.compile_dir(str(ROOT / "marketplace"), quiet=1)
    compileall.compile_file(str(ROOT / "wsgi.py"), quiet=1)
    python, flask = str(BIN / "python"), str(BIN / "flask")
    print(f"Start-up as whole processes, median of {RUNS}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, FLASK_APP="wsgi", DATABASE_URL=f"sqlite:///{tmp}/bench.db", SECRET_KEY="bench",
                   UPLOAD_DIR=f"{tmp}/uploads")
        bare = timed([python, "-c", "pass"], env=env)
        print(f"  python -c pass (the interpreter alone)   {bare:6.3f} s")
        for label, cmd in (("import wsgi", [python, "-c", "import wsgi"]), ("flask --help", [flask, "--help"])):
            took = timed(cmd, env=env)
            ok = took <= TARGETS[label]
            print(f"  {label:<40} {took:6.3f} s   (target ≤ {TARGETS[label]} s: {'met' if ok else 'MISSED'})")
        run_id, urls = label_run(env["DATABASE_URL"])
        from marketplace.printing.layouts import LAYOUTS

        layout = LAYOUTS["a4-3x8"]
        grid = json.dumps({"urls": urls, "out": f"{tmp}/reference.pdf", "width": layout.page_width,
                           "height": layout.page_height,
                           "boxes": [layout.cell_box(i) for i in range(layout.per_page)]})
        reference = timed([python, str(ROOT / "bench" / "label_reference.py")], env=env, stdin=grid)
        ours = timed([flask, "stamps", "pdf", str(run_id), "--layout", "a4-3x8", "-o", f"{tmp}/ours.pdf"], env=env)
        ratio = ours / reference
        print(f"  reference pipeline, {LABELS:,} QRs, own process {reference:6.3f} s")
        print(f"  flask stamps pdf, {LABELS:,} labels            {ours:6.3f} s   "
              f"{ratio:.2f}× the reference (target ≤ {PDF_TARGET}×: {'met' if ratio <= PDF_TARGET else 'MISSED'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
