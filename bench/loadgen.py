"""The HTTP load harness of the benchmarks under ``bench/``: gunicorn servers, wrk (or a
Python load generator when wrk is absent), latency quantiles merged across slices, and the
memory of a server's workers.

A load is one slice: ``connections`` keep-alive connections for ``seconds`` against one
path, or walking a list of request paths one per request (wrk through :data:`WRK_SCRIPT`).
Every load returns ``{"requests", "ok", "errors", "seconds", "q"}``, ``q`` being 1,000
latency quantiles in ms, so :func:`combine` can merge the slices of one path.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import http.client
import json
import multiprocessing as mp
import os
import runpy
import socket
import subprocess
import sys
import time
from array import array
from pathlib import Path
from typing import Callable, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PRODUCTION_CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
BARE_CONFIG = ROOT / "bench" / "gunicorn_bare.conf.py"
# A phone browser, so the scan recorder classifies a realistic user agent.
USER_AGENT = ("Mozilla/5.0 (Linux; Android 13; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/120.0.0.0 Mobile Safari/537.36")

WRK_SCRIPT = r"""
-- args: [1] file of request paths (one a line, optional), [2] number of wrk threads
local paths, index, count = {}, 0, 0
local threads = {}
wrk.headers["User-Agent"] = os.getenv("BENCH_UA")

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  if args[1] then
    for line in io.lines(args[1]) do paths[#paths + 1] = line end
    count = #paths
    -- each wrk thread walks its own stretch of the shuffled list: one serial per request
    index = id * math.floor(count / tonumber(args[2] or 1))
  end
end

function request()
  if count == 0 then return wrk.request() end
  index = index % count + 1
  return wrk.format(nil, paths[index])
end

function done(summary, latency, requests)
  local e = summary.errors
  -- the latency distribution as 1,000 quantiles, so slices of a run can be merged
  local q = {}
  for i = 1, 1000 do q[i] = string.format("%d", latency:percentile(i / 10)) end
  io.write(string.format(
    'BENCHJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "q_us": [%s]}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(q, ",")))
end
"""


# ---- servers -------------------------------------------------------------------------------

def server_settings(config: Path = PRODUCTION_CONFIG) -> dict:
    """The settings a gunicorn config file sets (workers, threads…), as gunicorn reads them."""
    return runpy.run_path(str(config))


class Server(NamedTuple):
    port: int
    pid: int  # gunicorn's master; its children are the workers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(app: str, env: dict, config: Path = PRODUCTION_CONFIG, ready: str = "/healthz"):
    """``gunicorn -c <config> --bind 127.0.0.1:<free port> --log-level warning --pythonpath
    bench <app>``, yielded once ``ready`` answers; stopped gracefully on exit (SIGTERM: each
    worker writes the scans it holds before it exits)."""
    port = free_port()
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", str(config), "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
         "--pythonpath", str(ROOT / "bench"), app], cwd=ROOT, env=env)
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn {app} exited with status {server.returncode}")
            try:
                get(port, ready)
                break
            except (OSError, http.client.HTTPException):
                time.sleep(0.1)
        else:
            raise RuntimeError(f"gunicorn {app} did not start")
        yield Server(port, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@contextlib.contextmanager
def serving(env: dict):
    """The production app (``wsgi:app``, deploy/gunicorn.conf.py) on a free port: its port."""
    with gunicorn("wsgi:app", env) as server:
        yield server.port


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def _field_kb(path: str, field: str) -> float | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def worker_memory(master: int) -> list[tuple[int, float, float | None]]:
    """(pid, RSS MB, PSS MB or None when unreadable) of each worker of a gunicorn master.
    RSS counts the pages a worker shares with the master and its sibling (preload_app) in
    full; PSS divides each shared page between the processes sharing it."""
    out = []
    for pid in _children(master):
        rss = _field_kb(f"/proc/{pid}/status", "VmRSS")
        pss = _field_kb(f"/proc/{pid}/smaps_rollup", "Pss")
        if rss is not None:
            out.append((pid, rss / 1024, None if pss is None else pss / 1024))
    return out


# ---- HTTP helpers --------------------------------------------------------------------------

def get(port: int, path: str) -> tuple[int, bytes]:
    """One GET on a connection of its own (redirects are answers, never followed)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"User-Agent": USER_AGENT})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def warm_up(port: int, paths: list[str]) -> int:
    """Concurrent requests so every worker compiles templates and fills its caches; returns
    the number answered with a status below 400 (what wrk counts as a success)."""
    with cf.ThreadPoolExecutor(8) as pool:
        return sum(status < 400 for status, _ in pool.map(lambda p: get(port, p), paths))


def percentile(ordered, p: float) -> float:
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] if ordered else float("nan")


# ---- alternating slices ---------------------------------------------------------------------

class Load(NamedTuple):
    """A path to load in slices: one URL, or a list of request paths per slice."""

    label: str
    port: int
    path: str                         # what is requested when there are no serials
    warm: list[str]                   # warm-up requests
    slices: list[list[str]] | None    # per slice, its own request paths (one serial each)
    records: bool = False             # every answered request is a recorded scan


def chunks(items: list, n: int) -> list[list]:
    """``n`` consecutive chunks of the same size (the remainder left out)."""
    size = len(items) // n
    return [items[k * size:(k + 1) * size] for k in range(n)]


def warm(load: Load) -> tuple[int, int]:
    """Warm a path up: (answers below 400, bytes of the first answer's body)."""
    status, body = get(load.port, load.warm[0])
    return (status < 400) + warm_up(load.port, load.warm[1:]), len(body)


def alternate(loads: list[Load], connections: int, load: Callable, rounds: int,
              first_slice: int = 0) -> dict[str, dict]:
    """``rounds`` rounds of one slice per path in turn; per path its combined result, with how
    many requests re-used a serial (a slice that answered more requests than it had serials)."""
    runs: dict[str, list] = {item.label: [] for item in loads}
    reused = dict.fromkeys(runs, 0)
    for k in range(rounds):
        for item in loads:
            paths = item.slices[first_slice + k] if item.slices else None
            result = load(item.port, item.path, paths, connections)
            runs[item.label].append(result)
            reused[item.label] += max(0, result["requests"] - len(paths)) if paths else 0
    return {label: {**combine(results), "reused": reused[label]} for label, results in runs.items()}


# ---- load: wrk -----------------------------------------------------------------------------

def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    return (out.stdout + out.stderr).split("Copyright")[0].strip() or "wrk"


def load_wrk(wrk: str, port: int, path: str, paths_file: str | None, script: str,
             connections: int = 32, seconds: float = 2) -> dict:
    threads = 1  # one wrk thread drives 128 connections and leaves the 2 cores to the servers
    cmd = [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds:g}s", "--timeout", "5s",
           "-s", script, f"http://127.0.0.1:{port}{path}"]
    if paths_file:
        cmd += ["--", paths_file, str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, BENCH_UA=USER_AGENT))
    line = next((l for l in out.stdout.splitlines() if l.startswith("BENCHJSON ")), None)
    if out.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stdout}{out.stderr}")
    r = json.loads(line.split(" ", 1)[1])
    errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    # wrk counts a completed response in "requests" and, if its status is ≥ 400, in "status" too
    # (a 307 is a success); socket errors and timeouts are requests that never completed.
    return {"requests": r["requests"], "ok": r["requests"] - r["status"], "errors": errors,
            "seconds": r["duration_us"] / 1e6, "q": [v / 1000 for v in r["q_us"]]}


# ---- load: Python fallback -----------------------------------------------------------------

def _load_process(port: int, paths: list[str], threads: int, first: int, total_threads: int,
                  duration: float, barrier, results) -> None:
    """One generator process: ``threads`` keep-alive connections, each walking its own
    stretch of ``paths`` (thread ``first + k`` of ``total_threads``)."""
    import threading

    latencies: list[float] = []
    counts = {"ok": 0, "errors": 0}
    lock = threading.Lock()
    headers = {"User-Agent": USER_AGENT}
    conns = []
    for _ in range(threads):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.connect()
        conns.append(conn)
    barrier.wait()
    deadline = time.monotonic() + duration

    def run(k: int, conn) -> None:
        mine: list[float] = []
        ok = errors = 0
        step = max(1, len(paths) // total_threads)
        i = (first + k) * step
        clock = time.perf_counter
        while True:
            path = paths[i % len(paths)]
            i += 1
            start = clock()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            end = clock()
            if time.monotonic() > deadline:
                break  # like wrk: a response that arrives after the window is not counted
            mine.append(end - start)
            if 0 < status < 400:  # as wrk counts: a redirect is a success
                ok += 1
            else:
                errors += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            counts["ok"] += ok
            counts["errors"] += errors

    workers = [threading.Thread(target=run, args=(k, c)) for k, c in enumerate(conns)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    results.put((array("d", latencies).tobytes(), counts["ok"], counts["errors"]))


def load_python(port: int, path: str, paths: list[str] | None, connections: int = 32, seconds: float = 2,
                procs: int = 4) -> dict:
    ctx = mp.get_context("spawn")  # children import this module only, not the app
    procs = max(1, min(procs, connections))
    per = [connections // procs + (1 if i < connections % procs else 0) for i in range(procs)]
    barrier, results = ctx.Barrier(procs + 1), ctx.Queue()
    children, first = [], 0
    for n in per:
        child = ctx.Process(target=_load_process, args=(port, paths or [path], n, first, connections,
                                                        float(seconds), barrier, results))
        child.start()
        children.append(child)
        first += n
    barrier.wait(timeout=60)
    started = time.monotonic()
    latencies, ok, errors = array("d"), 0, 0
    for _ in children:
        data, o, e = results.get(timeout=seconds + 60)
        latencies.frombytes(data)
        ok, errors = ok + o, errors + e
    elapsed = max(time.monotonic() - started, seconds)
    for child in children:
        child.join()
    ordered = sorted(latencies)
    return {"requests": len(ordered), "ok": ok, "errors": errors, "seconds": elapsed,
            "q": [percentile(ordered, i / 10) * 1000 for i in range(1, 1001)]}


def combine(slices: list[dict]) -> dict:
    """One result from the slices of a path: counts add up, req/s over their total time,
    p50/p99 from the slices' latency quantiles weighted by their requests."""
    total = sum(r["requests"] for r in slices)
    points = sorted((v, r["requests"] / len(r["q"])) for r in slices for v in r["q"])

    def quantile(p: float) -> float:
        seen = 0.0
        for value, weight in points:
            seen += weight
            if seen >= p / 100 * total:
                return value
        return points[-1][0] if points else float("nan")

    return {"requests": total, "ok": sum(r["ok"] for r in slices), "errors": sum(r["errors"] for r in slices),
            "rps": total / sum(r["seconds"] for r in slices), "p50": quantile(50), "p99": quantile(99),
            "slices": [r["requests"] / r["seconds"] for r in slices]}
