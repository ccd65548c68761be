"""`make run` (python -m handset.demo) stops the pod it started however it is stopped.

A real demo process runs the real firmware; the test waits for the output line it needs (never a
fixed time), sends a real signal to the demo, and checks that the pod process is gone, its port
closed, and the demo's last line says where its files are.
"""
from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

LINE_TIMEOUT_S = 180.0  # generous: a loaded 2-core machine; the test waits for a line, not this long


class Demo:
    """The demo as a subprocess, its output read line by line on a thread."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.proc = subprocess.Popen([sys.executable, "-m", "handset.demo", "--state", str(work), "--speed", "300"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=dict(os.environ, HANDSET_PORT="", HANDSET_STATE=""))
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first line (from now on) matching `pattern`; fails when the demo ends without it."""
        while True:
            try:
                line = self.lines.get(timeout=LINE_TIMEOUT_S)
            except queue.Empty:
                pytest.fail(f"no line matching {pattern!r} within {LINE_TIMEOUT_S:g} s; output:\n" + "\n".join(self.seen))
            if line is None:
                pytest.fail(f"the demo ended without a line matching {pattern!r}; output:\n" + "\n".join(self.seen))
            self.seen.append(line)
            match = re.search(pattern, line)
            if match:
                return match

    def rest(self) -> list[str]:
        """Every line until the demo's output ends."""
        out = []
        while (line := self.lines.get(timeout=LINE_TIMEOUT_S)) is not None:
            out.append(line)
        self.seen += out
        return out


def pod_pids(work: Path) -> list[int]:
    """The firmware processes started for this demo (their command line names its state dir)."""
    marker = str(work / "pod").encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split(") ", 1)[1][0]
        except OSError:
            continue
        if marker in cmdline and b"main.py" in cmdline and state != "Z":
            pids.append(int(entry.name))
    return pids


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="needs /proc to find the pod process")
@pytest.mark.parametrize("sig, after", [
    (signal.SIGINT, r"Press Ctrl-C here to stop the pod"),   # the README's way: the session done, Ctrl-C
    (signal.SIGTERM, r"^\$ handset activate"),                # in the middle of the activation
    (signal.SIGHUP, r"^\$ handset bolus 1"),                  # the terminal closed during the bolus
    (signal.SIGTERM, None),                                   # while the pod is starting
])
def test_demo_stops_its_pod_and_says_where_its_files_are(tmp_path: Path, sig: signal.Signals,
                                                         after: str | None) -> None:
    work = tmp_path / "demo"
    demo = Demo(work)
    pids: list[int] = []
    try:
        port = int(demo.wait_for(r"Starting the emulated pod on 127\.0\.0\.1:(\d+)").group(1))
        if after is not None:
            demo.wait_for(after)
            pids = pod_pids(work)
            assert len(pids) == 1, f"expected the demo's one pod process, found {pids}"
        demo.proc.send_signal(sig)
        rest = demo.rest()
        assert demo.proc.wait(timeout=LINE_TIMEOUT_S) == 0
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
            demo.proc.wait()
    name = "Ctrl-C" if sig == signal.SIGINT else sig.name
    last = rest[-1]
    if after is None:  # the signal may land before the pod process exists, or while it starts
        assert re.match(rf"Stopped (the pod|before the pod started) \({name}\)\. Its files are in {re.escape(str(work.resolve()))}",
                        last), rest
    else:
        assert last.startswith(f"Stopped the pod ({name}). Its files are in {work.resolve()}: pod.log (the pod's log)"), rest
        assert (work / "pod.log").exists()
    assert "Traceback" not in "\n".join(demo.seen)
    assert pod_pids(work) == [] and all(not Path(f"/proc/{pid}").exists() for pid in pids)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
