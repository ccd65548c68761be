"""Benchmark 5: round-trip latency of a GetStatus (0E) over the TCP and the pty links, measured from
the test (build the message, frame it, send, wait for and deframe the reply, parse it)."""
from __future__ import annotations

import time

import pytest

from benchlib import median, micropython_version, p95, record, running_pod
from scenario import Run

WARMUP, COUNT = 20, 300


@pytest.mark.bench
@pytest.mark.parametrize("target", ["tcp", "pty"])
@pytest.mark.parametrize("build", ["source", "mpy"])
def test_get_status_round_trip(micropython, tmp_path, target, build):
    with running_pod(micropython, tmp_path / "pod", target=target, build=build) as (link, proc):
        run = Run(link)
        run.activate()
        for _ in range(WARMUP):
            run.pdm.status()
        times = []
        for _ in range(COUNT):
            t = time.perf_counter()
            status = run.pdm.status()
            times.append(time.perf_counter() - t)
            assert status["type"] == 0x1D and status["progress"] == 8
    ms = [t * 1000 for t in times]
    record(f"link-latency/{target}/{build}",
           f"GetStatus round trip over {target} ({build}): median {median(ms):.3f} ms, p95 {p95(ms):.3f} ms, "
           f"max {max(ms):.3f} ms ({COUNT} requests after {WARMUP} warm-up)",
           target=target, build=build, count=COUNT, median_ms=median(ms), p95_ms=p95(ms), max_ms=max(ms),
           min_ms=min(ms), micropython=micropython_version(micropython))
