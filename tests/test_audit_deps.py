"""scripts/audit_deps.py, the dependency audit in .ci/run, against a stand-in for PyPI's JSON
API on 127.0.0.1: it fails on an advisory, lists what it cannot audit, and never passes
when PyPI does not answer."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "audit_deps.py"


@pytest.fixture
def fake_pypi():
    """Answers like https://pypi.org/pypi/<name>/json; ``answers[name]`` overrides one project."""
    answers: dict[str, dict] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.strip("/").split("/")[1]
            version = metadata.version(name)
            body = answers.get(name, {"info": {"version": version}, "vulnerabilities": []})
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/pypi/{{name}}/json", answers
    server.shutdown()
    server.server_close()


def audit(url: str, requirements: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(requirements)], capture_output=True, text=True,
                          env=dict(os.environ, AUDIT_PYPI_URL=url), timeout=120)


def test_clean_when_no_advisory(fake_pypi, tmp_path):
    url, _answers = fake_pypi
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Flask==3.1.3\n")
    result = audit(url, requirements)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 known vulnerabilities" in result.stdout
    # Flask and what it requires (Werkzeug, Jinja2, click…), each at the version installed
    counts = re.search(r"(\d+) packages, (\d+) audited", result.stdout)
    assert counts and int(counts[1]) >= 6 and counts[1] == counts[2], result.stdout


def test_an_advisory_on_a_transitive_dependency_fails_the_audit(fake_pypi, tmp_path):
    url, answers = fake_pypi
    answers["werkzeug"] = {"info": {"version": metadata.version("werkzeug")}, "vulnerabilities": [
        {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "fixed_in": ["99.0"], "withdrawn": None},
        {"id": "PYSEC-2099-2", "aliases": [], "fixed_in": [], "withdrawn": "2099-01-01T00:00:00"}]}
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Flask==3.1.3  # via werkzeug\n")
    result = audit(url, requirements)
    assert result.returncode == 1
    assert "VULNERABLE werkzeug" in result.stdout and "CVE-2099-0001" in result.stdout
    assert "PYSEC-2099-2" not in result.stdout  # a withdrawn advisory does not count


def test_a_package_behind_its_latest_release_fails_unless_held_back(fake_pypi, tmp_path):
    """A fix release usually comes with its advisory: "behind" is when an audit matters."""
    url, answers = fake_pypi
    answers["itsdangerous"] = {"info": {"version": "99.0"}, "vulnerabilities": []}
    answers["sqlalchemy"] = {"info": {"version": "99.0"}, "vulnerabilities": []}  # in HELD_BACK
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Flask==3.1.3\nSQLAlchemy==2.0.44\n")
    result = audit(url, requirements)
    assert result.returncode == 1 and "CANNOT AUDIT itsdangerous" in result.stdout
    assert "not audited: sqlalchemy" in result.stdout and "held back" in result.stdout
    requirements.write_text("SQLAlchemy==2.0.44\n")
    assert audit(url, requirements).returncode == 0


def test_an_answer_without_advisory_data_is_not_a_pass(fake_pypi, tmp_path):
    url, answers = fake_pypi
    answers["werkzeug"] = {"info": {"version": metadata.version("werkzeug")}}  # a mirror that drops the field
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Flask==3.1.3\n")
    result = audit(url, requirements)
    assert result.returncode == 2 and "NOT DONE" in result.stdout


def test_no_answer_from_pypi_is_not_a_pass(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Flask==3.1.3\n")
    result = audit("http://127.0.0.1:9/pypi/{name}/json", requirements)  # nothing listens on port 9
    assert result.returncode == 2 and "NOT DONE" in result.stdout
