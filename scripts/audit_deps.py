"""Audit the runtime dependencies for known vulnerabilities (run by ``.ci/run``).

``pip-audit`` cannot work from this project's machines: it asks PyPI for each release's own
JSON (``/pypi/<name>/<version>/json``) or OSV's API, and the network here reaches neither
(the first answers 404 through it, the second not at all).  What it does reach is each
project's JSON (``/pypi/<name>/json``), whose ``vulnerabilities`` are PyPI's advisories (the
OSV data pip-audit uses) for the project's latest release.  So this audit:

- takes the packages ``requirements.txt`` installs (its pins and everything they require,
  as installed in the running environment);
- for each package installed at its latest release, fails on any advisory that is not
  withdrawn;
- fails for a package installed behind its latest release: its advisories cannot be read
  here, and an advisory usually comes out with the release that fixes it, so "behind" is
  exactly when it matters.  Upgrade the pin, or hold the package back in ``HELD_BACK`` with
  the reason (it is then listed as not audited);
- fails when PyPI cannot be reached or answers without advisory data, so that an audit that
  did not happen never passes.

Run: ``.venv/bin/python scripts/audit_deps.py [requirements.txt]``.
"""
from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# Packages kept behind their latest release on purpose, and why (listed as not audited).
HELD_BACK = {
    "sqlalchemy": "2.1 changes relationship cascades: SAWarnings (errors in this suite) to fix first",
    "deprecated": "its 3.x releases need Python >= 3.12 (required by limits, Flask-Limiter's storage layer)",
}
PYPI = os.environ.get("AUDIT_PYPI_URL", "https://pypi.org/pypi/{name}/json")  # tests point it elsewhere


def runtime_packages(requirements: Path) -> dict[str, str]:
    """{canonical name: installed version} of the pins and their requirements, recursively."""
    todo: list[tuple[str, frozenset[str]]] = []
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            req = Requirement(line)
            todo.append((req.name, frozenset(req.extras)))
    found: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        dist = metadata.distribution(name)
        found[canonicalize_name(name)] = dist.version
        for spec in dist.requires or []:
            req = Requirement(spec)
            wanted = req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in (extras or {""}))
            if wanted:
                todo.append((req.name, frozenset(req.extras)))
    return found


def project(name: str) -> dict:
    for attempt in range(3):
        try:
            with urllib.request.urlopen(PYPI.format(name=name), timeout=20) as response:
                return json.load(response)
        except (urllib.error.URLError, TimeoutError) as exc:
            if attempt == 2:
                raise RuntimeError(f"PyPI did not answer for {name}: {exc}") from exc
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def main(argv: list[str]) -> int:
    requirements = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parent.parent / "requirements.txt")
    packages = runtime_packages(requirements)
    vulnerable, behind, unaudited, audited = [], [], [], 0
    try:
        for name, version in sorted(packages.items()):
            data = project(name)
            latest = data["info"]["version"]
            if Version(latest) != Version(version):
                if name in HELD_BACK:
                    unaudited.append(f"{name} {version} (latest {latest}; held back: {HELD_BACK[name]})")
                else:
                    behind.append(f"{name} {version} is behind its latest release {latest}: upgrade the pin, "
                                  f"or hold it back in HELD_BACK with the reason")
                continue
            advisories = data.get("vulnerabilities")
            if not isinstance(advisories, list):
                raise RuntimeError(f"PyPI's answer for {name} carries no advisory data")
            audited += 1
            for advisory in advisories:
                if not advisory.get("withdrawn"):
                    vulnerable.append(f"{name} {version}: {advisory.get('id')} {', '.join(advisory.get('aliases') or [])} "
                                      f"(fixed in {', '.join(advisory.get('fixed_in') or ['?'])})")
    except RuntimeError as exc:
        print(f"dependency audit NOT DONE: {exc}")
        return 2
    print(f"dependency audit of {requirements.name}: {len(packages)} packages, {audited} audited against PyPI's "
          f"advisories, {len(vulnerable)} known vulnerabilities, {len(behind)} behind their latest release")
    for line in vulnerable:
        print(f"  VULNERABLE {line}")
    for line in behind:
        print(f"  CANNOT AUDIT {line}")
    for line in unaudited:
        print(f"  not audited: {line}")
    return 1 if vulnerable or behind else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
