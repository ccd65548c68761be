"""Fixtures of the operator tests: the real firmware with a handset port and a bench port.

`operator_pod(...)` starts the firmware under unix MicroPython with `--listen` (the handset's
port, with `--bench` so that the handset can move a virtual clock) and `--bench-listen` (the
operator's port), and gives the URLs, the environment for the `handset` and `podctl` commands, and
a bench link (tests/system/podlink.py) on the operator's port.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

from system.podlink import PodLink, PodProcess, free_port

BIN = Path(sys.executable).parent


@dataclass
class OperatorPod:
    """One running pod: its two ports, its process, and a bench link on the operator's port."""

    handset_url: str
    bench_url: str
    process: PodProcess
    bench: PodLink
    handset_state: Path
    env: dict[str, str] = field(default_factory=dict)

    def handset(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run the `handset` command against this pod (its output and exit code)."""
        return subprocess.run([str(BIN / "handset"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def podctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the `podctl` command against this pod's bench port."""
        return subprocess.run([str(BIN / "podctl"), *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def info(self) -> dict:
        return self.bench.bench_ok({"op": "info"})


@pytest.fixture
def operator_pod(micropython: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., OperatorPod]]:
    """A factory: operator_pod(clock="virtual", extra_args=[...], handset_bench=True)."""
    started: list[tuple[PodProcess, PodLink]] = []

    def start(clock: str = "virtual", extra_args: list[str] | None = None, handset_bench: bool = True) -> OperatorPod:
        n = len(started) + 1
        for attempt in range(3):  # a free port can be taken between the check and the bind
            port, bench_port = free_port(), free_port()
            proc = PodProcess(micropython, tmp_path / f"pod{n}-{attempt}",
                              ["--listen", f"127.0.0.1:{port}", "--bench-listen", f"127.0.0.1:{bench_port}"],
                              "listening on", extra_args=extra_args, clock=clock, bench=handset_bench,
                              micropypath=request.config.getoption("--micropypath"))
            try:
                proc.wait_ready()
                break
            except RuntimeError:
                proc.stop()
                if attempt == 2 or "cannot listen" not in proc.stderr():
                    raise
        bench = PodLink(f"socket://127.0.0.1:{bench_port}", timeout=10.0)
        started.append((proc, bench))
        env = dict(os.environ)
        env.update({"HANDSET_PORT": f"socket://127.0.0.1:{port}", "HANDSET_STATE": str(tmp_path / f"handset{n}"),
                    "PODCTL_PORT": f"socket://127.0.0.1:{bench_port}", "NO_COLOR": "1", "COLUMNS": "120"})
        return OperatorPod(f"socket://127.0.0.1:{port}", f"socket://127.0.0.1:{bench_port}", proc, bench,
                           tmp_path / f"handset{n}", env)

    try:
        yield start
    finally:
        crashed = []
        for proc, bench in started:
            bench.close()
            proc.stop()
            if "Traceback" in proc.stderr():
                crashed.append(proc.stderr())
    if crashed:
        pytest.fail("the firmware printed a traceback:\n" + "\n".join(crashed))
