"""The house's import rules (issue 15, point 1), checked with import-linter against
``.importlinter``: no cycle between the packages and modules of ``marketplace``; printing,
models, services and helpers import no blueprint; within a package, routes and commands sit
above forms, and forms above services."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_are_kept():
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--no-cache", "--config", ".importlinter"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:]
    assert "3 kept, 0 broken" in report, report[-2000:]


def test_the_contracts_would_catch_a_cycle(tmp_path):
    """The cycle contract is not vacuous: a copy of the package with one blueprint import
    added below it breaks both the cycle and the blueprint contracts."""
    import shutil

    copy = tmp_path / "marketplace"
    shutil.copytree(ROOT / "marketplace", copy, ignore=shutil.ignore_patterns("__pycache__", "translations", "data"))
    text = copy / "text.py"
    text.write_text(text.read_text() + "\nfrom .catalogue import routes as _routes  # noqa\n")
    shutil.copy(ROOT / ".importlinter", tmp_path / ".importlinter")
    done = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.'); "
                           "from importlinter.cli import lint_imports_command; lint_imports_command()",
                           "--no-cache", "--config", ".importlinter"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    report = done.stdout + done.stderr
    assert done.returncode != 0 and "BROKEN" in report, report[-2000:]
