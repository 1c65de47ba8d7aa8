"""The design lives in the repository (issue 15, point 8): ``docs/architecture.md`` and the
decision records in ``docs/decisions/``.  Code comments point there and nowhere else, every
record has its three parts, and every room of ``marketplace/`` is named in the architecture.
Plain file reads: no app, no database."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "marketplace"
DOCS = ROOT / "docs"
ARCHITECTURE = DOCS / "architecture.md"
DECISIONS = DOCS / "decisions"

DOC_PATH = re.compile(r"docs/[A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md")
SECTION = re.compile(r'docs/architecture\.md, "([^"]+)"')
CODE_PATH = re.compile(r"(?<![\w/.])((?:marketplace|tests|bench)/[A-Za-z0-9_./-]*[A-Za-z0-9_])")
RECORD_NAME = re.compile(r"(\d{4})-[a-z0-9-]+\.md")
PARTS = ("## Context", "## Decision", "## Consequences")


def _sources() -> list[Path]:
    """What carries code comments: the package, the tests (but this file) and the pins."""
    files = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "tests").glob("*.py"))
    files += sorted(ROOT.glob("requirements*.txt"))
    return [f for f in files if f.resolve() != Path(__file__).resolve()]


def _headings(path: Path) -> set[str]:
    return {line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")}


def _records() -> list[Path]:
    return sorted(p for p in DECISIONS.glob("*.md"))


def test_every_docs_path_cited_in_the_code_exists():
    missing = [f"{source.relative_to(ROOT)}: {cited}"
               for source in _sources()
               for cited in DOC_PATH.findall(source.read_text(encoding="utf-8"))
               if not (ROOT / cited).is_file()]
    assert not missing, "cited but absent:\n" + "\n".join(missing)


def test_every_section_of_the_architecture_cited_in_the_code_exists():
    headings = _headings(ARCHITECTURE)
    missing = [f"{source.relative_to(ROOT)}: {name!r}"
               for source in _sources()
               for name in SECTION.findall(source.read_text(encoding="utf-8"))
               if name not in headings]
    assert not missing, "no such heading in docs/architecture.md:\n" + "\n".join(missing)


def test_every_decision_record_has_its_three_parts():
    records = _records()
    assert len(records) >= 7
    numbers = []
    for record in records:
        match = RECORD_NAME.fullmatch(record.name)
        assert match, f"{record.name}: decision records are named NNNN-title.md"
        numbers.append(match.group(1))
        lines = record.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith(f"# {match.group(1)} — "), f"{record.name}: the title names its number"
        found = [line.strip() for line in lines if line.strip() in PARTS]
        assert found == list(PARTS), f"{record.name}: {found} (want {list(PARTS)}, once each, in that order)"
    assert len(set(numbers)) == len(numbers), f"two records share a number: {numbers}"


def test_every_decision_record_is_listed_in_the_architecture():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert [r.name for r in _records() if f"`{r.name}`" not in text] == []


def test_the_architecture_names_every_room():
    """A new package (or top-level module) of ``marketplace/`` without a room fails here."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    packages = [f"{p.parent.name}/" for p in sorted(PACKAGE.glob("*/__init__.py"))]
    modules = [p.name for p in sorted(PACKAGE.glob("*.py")) if p.name != "__init__.py"]
    assert packages, "no package found under marketplace/"
    absent = [name for name in packages + modules if f"`{name}`" not in text]
    assert not absent, "not named in docs/architecture.md: " + ", ".join(absent)


def test_every_code_path_named_in_the_docs_exists():
    """The docs follow the code: a moved or renamed file named in them fails here."""
    missing = []
    for doc in sorted(DOCS.rglob("*.md")):
        for name in CODE_PATH.findall(doc.read_text(encoding="utf-8")):
            if "*" in name or "<" in name:
                continue
            if not (ROOT / name).exists():
                missing.append(f"{doc.relative_to(ROOT)}: {name}")
    assert not missing, "named in docs/ but absent:\n" + "\n".join(missing)


def test_no_comment_cites_the_old_design_document():
    citing = [f"{source.relative_to(ROOT)}:{number}"
              for source in _sources()
              for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
              if "DESIGN.md" in line]
    assert not citing, "point to docs/architecture.md or docs/decisions/ instead:\n" + "\n".join(citing)
