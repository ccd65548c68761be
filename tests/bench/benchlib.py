"""Shared helpers of the benchmarks: recording results, timing, and a pod process to drive.

Every benchmark prints one `BENCH name: ...` line and appends a record to
build/bench-results.json (a JSON list; created when missing). Nothing here asserts a speed.
"""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from system.podlink import PodLink, PodProcess, free_port
from system.nullmodem import NullModem

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "build" / "bench-results.json"
MPY_DIR = ROOT / "build" / "mpy"
SOURCE_PATH = f"{ROOT / 'firmware'}:{ROOT / 'protocol'}:.frozen"
MPY_PATH = f"{MPY_DIR}:.frozen"


def micropypath(build: str) -> str:
    """MICROPYPATH for the firmware built as `build` ("source" or "mpy")."""
    if build == "source":
        return SOURCE_PATH
    if not (MPY_DIR / "pod" / "core.mpy").exists():
        import pytest
        pytest.fail(f"{MPY_DIR} holds no compiled firmware: run `make mpy` (or `make bench`, which does it) first")
    return MPY_PATH


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def p95(xs: list[float]) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, -(-95 * len(s) // 100) - 1))]   # nearest-rank


def record(name: str, line: str, **values: object) -> None:
    """Print the result line and append it, with its figures, to build/bench-results.json."""
    print(f"\nBENCH {name}: {line}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(RESULTS.read_text())
        if not isinstance(data, list):
            data = []
    except (OSError, ValueError):
        data = []
    data.append({"bench": name, "result": line, "values": values,
                 "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "host": platform.node(),
                 "python": platform.python_version(), "cpus": os.cpu_count()})
    RESULTS.write_text(json.dumps(data, indent=1) + "\n")


def micropython_version(micropython: str) -> str:
    r = subprocess.run([micropython, "-c", "import sys; print(sys.version)"], capture_output=True, text=True)
    return r.stdout.strip()


@contextmanager
def running_pod(micropython: str, state_dir: Path, *, target: str = "tcp", build: str = "source",
                heapsize: str | None = None, timeout: float = 5.0) -> Iterator[tuple[PodLink, PodProcess]]:
    """The real firmware in a fresh process (virtual clock, bench on) and an open link to it."""
    mpath = micropypath(build)
    modem = None
    proc = None
    try:
        if target == "tcp":
            port = free_port()
            proc = PodProcess(micropython, state_dir, ["--listen", f"127.0.0.1:{port}"], "listening on",
                              heapsize=heapsize, micropypath=mpath)
            proc.wait_ready()
            url = f"socket://127.0.0.1:{port}"
        elif target == "pty":
            modem = NullModem()
            proc = PodProcess(micropython, state_dir, ["--serial", modem.a_path], "link open",
                              heapsize=heapsize, micropypath=mpath)
            proc.wait_ready()
            url = modem.b_path
        else:
            raise ValueError(f"unknown target {target!r}")
        with PodLink(url, timeout=timeout) as link:
            yield link, proc
    finally:
        if proc is not None:
            proc.stop()
        if modem is not None:
            modem.close()
