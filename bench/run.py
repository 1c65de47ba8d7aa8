"""Benchmarks: `make bench`.  Public pages of the catalogue on the demo data.

Serves the app with gunicorn on 127.0.0.1 (SQLite, demo data in a temporary instance) and
times real HTTP requests from this process with the standard library only.  Prints, per
page: requests, errors, p50/p99 latency, requests/s, and the bytes a phone downloads
before images (HTML + CSS), which is what matters on a 3G connection.
"""
from __future__ import annotations

import concurrent.futures as cf
import http.client
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(port: int, path: str, headers: dict | None = None) -> tuple[int, bytes, float]:
    start = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body, time.perf_counter() - start


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def run_page(port: int, name: str, path: str) -> dict:
    fetch(port, path)  # warm up
    latencies, errors = [], 0
    started = time.perf_counter()
    with cf.ThreadPoolExecutor(CONCURRENCY) as pool:
        for status, _, seconds in pool.map(lambda _: fetch(port, path), range(REQUESTS)):
            latencies.append(seconds)
            errors += status != 200
    elapsed = time.perf_counter() - started
    return {"name": name, "n": REQUESTS, "errors": errors, "p50": percentile(latencies, 50) * 1000,
            "p99": percentile(latencies, 99) * 1000, "rps": REQUESTS / elapsed}


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp}/bench.db", UPLOAD_DIR=f"{tmp}/uploads",
                   SECRET_KEY="bench", FLASK_APP="wsgi")
        flask = str(BIN / "flask")
        subprocess.run([flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run([flask, "seed-demo"], cwd=ROOT, env=env, check=True, capture_output=True)
        port = free_port()
        server = subprocess.Popen(
            [str(BIN / "gunicorn"), "--workers", "2", "--threads", "4", "--bind", f"127.0.0.1:{port}",
             "--log-level", "warning", "wsgi:app"], cwd=ROOT, env=env)
        try:
            for _ in range(100):
                try:
                    if fetch(port, "/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            status, home, _ = fetch(port, "/")
            slug = re.search(r'href="/p/([^"]+)"', home.decode()).group(1)
            pages = [("catalogue /", "/"), ("search ?q=gao nep", "/?q=gao+nep"),
                     ("filter ?stars=3", "/?stars=3"), ("product /p/…", f"/p/{slug}")]
            print(f"OCOP Marketplace benchmark: gunicorn 2 workers × 4 threads on 127.0.0.1, SQLite, "
                  f"demo data; {REQUESTS} requests per page, {CONCURRENCY} concurrent clients")
            print(f"{'page':<22}{'requests':>9}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'HTML+CSS KB':>13}")
            css = len(fetch(port, "/static/style.css")[1])
            results = []
            for name, path in pages:
                r = run_page(port, name, path)
                html = len(fetch(port, path)[1])
                r["kb"] = (html + css) / 1024
                results.append(r)
                print(f"{r['name']:<22}{r['n']:>9}{r['errors']:>8}{r['p50']:>9.1f}{r['p99']:>9.1f}"
                      f"{r['rps']:>9.0f}{r['kb']:>13.1f}")
            base = results[0]["p50"]
            print("p50 relative to the catalogue page: " + ", ".join(
                f"{r['name']} {r['p50'] / base:.2f}×" for r in results[1:]))
            return 1 if any(r["errors"] for r in results) else 0
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
