"""Canaries for the library internals the service relies on (marketplace/internals.py): an
upgrade that removes or reshapes one fails here, by name, before anything fails at run time."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from marketplace.internals import CANARIES

PACKAGE = Path(__file__).resolve().parents[1] / "marketplace"


@pytest.mark.parametrize("library,relied_on,check", CANARIES, ids=[f"{lib}: {what}" for lib, what, _ in CANARIES])
def test_the_internal_is_still_there(library, relied_on, check):
    assert check(), f"{library} no longer provides {relied_on}: see marketplace/internals.py before upgrading"


def test_every_canary_can_fail():
    """A check that cannot fail proves nothing: each one is false for something it does not
    describe (the same check run against a stand-in without the internal)."""
    from marketplace import internals

    assert not internals._has_params(lambda self: None, "self", "append_unknown")
    assert not internals._has_params(None, "func")


# Private names of these libraries may appear only in marketplace/internals.py.
LIBRARIES = ("werkzeug", "flask_limiter", "flask_login", "jinja2", "reportlab", "flask_babel", "flask_wtf")
PRIVATE_USES = {"_login_user", "_make_new_gettext", "_check_request_limit", "_compile_builder", "_doc", "useA85"}


def test_no_private_internal_outside_the_adapter():
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "internals.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            name = node.attr if isinstance(node, ast.Attribute) else node.name if isinstance(node, ast.alias) else None
            if name in PRIVATE_USES:
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert not found, found


def test_the_pins_point_to_the_adapter():
    requirements = (PACKAGE.parent / "requirements.txt").read_text().splitlines()
    pinned = {line.split("==")[0].lower(): line for line in requirements if "==" in line}
    for library in {lib for lib, _, _ in CANARIES}:
        line = pinned[library.lower()]
        assert "internals.py" in line, f"the pin of {library} should say it is canary-tested: {line}"
