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


# Where an import inside a function is allowed, and the docstring that says why.
LAZY_IMPORTS = {
    "marketplace/__init__.py": "the factory imports what it wires while it wires it",
    "marketplace/stamps/sheets.py": "printing (reportlab, fonts, zxing-cpp) is loaded only to print",
    "marketplace/internals.py": "reportlab's pdfdoc is loaded only when its canary runs",
    "marketplace/trace/report.py": "openpyxl is loaded only when a workbook is written",
    "marketplace/feeds/formats.py": "openpyxl is loaded only when a workbook is written",
    "marketplace/extensions.py": "Flask-Migrate and alembic are loaded only when migrations are used",
    "marketplace/validators.py": "biip is loaded only when a GS1 code is checked",
    "marketplace/resolver/digital_link.py": "biip is loaded only when a GS1 code is checked",
    "marketplace/catalogue/payments.py": "num2words is loaded only when an amount is written in words",
    "marketplace/media.py": "Pillow is loaded only when an uploaded image is handled",
    "marketplace/typeset.py": "Pillow and the font are loaded only when text is set on a picture",
    "marketplace/catalogue/previews.py": "Pillow is loaded only when a share preview is drawn",
    "marketplace/printing/qr.py": "zxing-cpp and Pillow are loaded only when a QR is drawn",
    "marketplace/feeds/profiles.py": "lxml is loaded only when a profile's field names are checked",
    "marketplace/cli.py": "the demo data and its drawn photos are loaded only by seed-demo",
    "marketplace/feeds/listings.py": "each database's INSERT … ON CONFLICT comes from its own dialect",
}


def _function_level_imports(path: Path) -> list[int]:
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_checking = {id(node) for guard in ast.walk(tree) if isinstance(guard, ast.If)
                     and "TYPE_CHECKING" in ast.unparse(guard.test) for node in ast.walk(guard)}
    found = []
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found += [node.lineno for node in ast.walk(function)
                      if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in type_checking]
    return sorted(set(found))


def test_imports_inside_functions_only_where_a_docstring_says_why():
    found = {str(path.relative_to(ROOT)): lines for path in sorted((ROOT / "marketplace").rglob("*.py"))
             if (lines := _function_level_imports(path))}
    assert set(found) <= set(LAZY_IMPORTS), {k: v for k, v in found.items() if k not in LAZY_IMPORTS}
    sheets = (ROOT / "marketplace/stamps/sheets.py").read_text(encoding="utf-8")
    assert "imported inside the functions that print" in sheets
    internals = (ROOT / "marketplace/internals.py").read_text(encoding="utf-8")
    assert "is imported here, when the canary runs, not at the" in internals
    for module in ("validators.py", "resolver/digital_link.py"):
        source = (ROOT / "marketplace" / module).read_text(encoding="utf-8")
        assert "is imported here, when a GS1 code is" in source, module
    for module in ("trace/report.py", "feeds/formats.py"):
        source = (ROOT / "marketplace" / module).read_text(encoding="utf-8")
        assert "is imported here, when a workbook is written" in source, module
    payments = (ROOT / "marketplace/catalogue/payments.py").read_text(encoding="utf-8")
    assert "num2words is loaded only when an amount is written in words" in payments


# What a process that serves pages never loads at start-up (issue 19, point 3): each is
# imported where it is used (LAZY_IMPORTS), so every worker and CLI command starts without it.
NOT_AT_START_UP = ("alembic", "flask_migrate", "openpyxl", "reportlab", "biip", "num2words", "PIL",
                   "zxingcpp", "fontpkg", "lxml", "marketplace.demo", "sqlalchemy.dialects.postgresql")


def test_importing_the_app_loads_none_of_what_only_some_commands_use(tmp_path):
    """``import wsgi`` in a process of its own (as gunicorn, ``flask`` and the worker do), on
    SQLite: none of NOT_AT_START_UP is in ``sys.modules`` afterwards, and the collector is on
    again with the start-up objects frozen out of its sight."""
    probe = ("import gc, sys, wsgi; "
             f"print(sorted(m for m in {NOT_AT_START_UP!r} if m in sys.modules)); "
             "print(gc.isenabled(), gc.get_freeze_count() > 100000)")
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": f"sqlite:///{tmp_path}/app.db", "SECRET_KEY": "t",
           "UPLOAD_DIR": str(tmp_path / "uploads")}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["[]", "True True"], done.stdout


def test_no_module_over_400_lines_unless_its_docstring_says_why():
    """Smaller rooms (issue 15, point 5): a longer module says in its docstring why it must
    be one piece (the words "one piece")."""
    import ast

    too_long = {}
    for path in sorted((ROOT / "marketplace").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 400 and "one piece" not in (ast.get_docstring(ast.parse(text)) or ""):
            too_long[str(path.relative_to(ROOT))] = text.count("\n")
    assert too_long == {}
