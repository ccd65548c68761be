"""Talking to a pod from a test: the link (PodLink) and the firmware process (PodProcess).

PodLink opens any pyserial URL (socket://127.0.0.1:PORT, a pty or a real device) and speaks the
framing of protocol/eros/link.py: Eros messages on channel 'P', bench JSON on 'B', log lines
arriving on 'L'. Every bench request carries an "id" the pod echoes; a reply with another id (the
late answer to a request that timed out earlier) is discarded, never taken as this one's answer.
PodProcess starts the real firmware under the unix MicroPython binary.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from collections import deque
from pathlib import Path

import serial

from eros.link import CH_BENCH, CH_LOG, CH_MESSAGE, Deframer, frame

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "firmware" / "main.py"
DEFAULT_MICROPYPATH = f"{ROOT / 'firmware'}:{ROOT / 'protocol'}:.frozen"


class PodTimeout(AssertionError):
    """The pod did not answer in time (an AssertionError so that pytest shows it as a failure)."""


class PodLink:
    """One open connection to a pod."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self.port = serial.serial_for_url(url, baudrate=115200, timeout=0.02)
        self.deframer = Deframer()
        self.logs: list[str] = []
        self._queues: dict[int, deque[bytes]] = {CH_MESSAGE: deque(), CH_BENCH: deque()}
        self._next_id = int.from_bytes(os.urandom(2), "big")  # another link's stale ids differ too
        self.stale_replies = 0  # bench replies discarded because their id was not the one awaited

    def close(self) -> None:
        sock = getattr(self.port, "_socket", None)
        if sock is not None and self.port.is_open:
            # pyserial's socket:// close() sleeps 0.3 s "for quick reconnects"; tests reconnect
            # only after waiting for the pod, so close the socket directly (pyserial 3.5 pinned).
            sock.close()
            self.port._socket = None
            self.port.is_open = False
        self.port.close()

    def __enter__(self) -> "PodLink":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- raw traffic

    def send_raw(self, data: bytes) -> None:
        self.port.write(data)
        self.port.flush()

    def send_frame(self, channel: int, payload: bytes) -> None:
        self.send_raw(frame(channel, payload))

    def _read(self, wait: float) -> bytes:
        """What has arrived, waiting up to `wait` seconds for the first byte."""
        n = self.port.in_waiting
        if not n and wait > 0:
            self.port.timeout = wait
            first = self.port.read(1)
            if not first:
                return b""
            return first + self.port.read(self.port.in_waiting)
        return self.port.read(n) if n else b""

    def _sort(self, data: bytes) -> None:
        for channel, payload in self.deframer.feed(data):
            if channel == CH_LOG:
                self.logs.append(payload.decode(errors="replace"))
            else:
                self._queues[channel].append(payload)

    def poll(self, seconds: float = 0.0) -> None:
        """Take in whatever arrives within `seconds` and sort it by channel."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            data = self._read(min(left, 0.05))
            self._sort(data)
            if left <= 0 and not data:
                return

    def _wait(self, channel: int, timeout: float | None, what: str) -> bytes:
        limit = self.timeout if timeout is None else timeout
        end = time.monotonic() + limit
        q = self._queues[channel]
        while not q:
            left = end - time.monotonic()
            if left <= 0:
                said = f"; the pod's last log lines: {self.logs[-3:]}" if self.logs else ""
                raise PodTimeout(f"no {what} from the pod at {self.url} within {limit} s{said}")
            self._sort(self._read(min(left, 0.05)))
        return q.popleft()

    def pending(self, channel: int) -> int:
        self.poll()
        return len(self._queues[channel])

    # ---- requests

    def send_message(self, message: bytes, timeout: float | None = None) -> bytes:
        """Send one Eros message on 'P' and return the pod's reply message."""
        self.poll()
        self._queues[CH_MESSAGE].clear()
        self.send_frame(CH_MESSAGE, message)
        return self._wait(CH_MESSAGE, timeout, "reply message")

    def bench_raw(self, payload: bytes, timeout: float | None = 30.0, rid: int | None = None) -> dict:
        """Send raw bench bytes; the first reply (or, given `rid`, the first whose id is `rid`)."""
        self.poll()
        self._queues[CH_BENCH].clear()
        self.send_frame(CH_BENCH, payload)
        limit = self.timeout if timeout is None else timeout
        end = time.monotonic() + limit
        while True:
            reply = json.loads(self._wait(CH_BENCH, max(end - time.monotonic(), 0.0), "bench reply"))
            if rid is None or (isinstance(reply, dict) and reply.get("id") == rid):
                return reply
            self.stale_replies += 1

    def bench(self, request: dict, timeout: float | None = 30.0) -> dict:
        """Send one bench request (SPEC.md section 6) with a fresh id and return its reply."""
        self._next_id = (self._next_id + 1) & 0x7FFFFFFF
        rid = self._next_id
        reply = self.bench_raw(json.dumps({**request, "id": rid}).encode(), timeout, rid)
        reply.pop("id", None)
        return reply

    def bench_ok(self, request: dict, timeout: float | None = 30.0) -> dict:
        reply = self.bench(request, timeout)
        assert reply.get("ok") is True, f"bench {request} failed: {reply}"
        return reply


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PodProcess:
    """The firmware running as a subprocess (virtual clock and bench unless told otherwise).

    `link_args` are the firmware's link options (--listen ..., --serial ...); `url` is what a
    PodLink opens to reach it. stderr goes to `<state>/../pod-stderr.log`, read with stderr().
    """

    _started = 0  # numbers the stderr logs, so that a restarted pod gets a fresh one

    def __init__(self, micropython: str, state_dir: Path, link_args: list[str], ready_text: str,
                 extra_args: list[str] | None = None, heapsize: str | None = None,
                 micropypath: str | None = None, clock: str = "virtual", bench: bool = True) -> None:
        self.state_dir = state_dir
        PodProcess._started += 1
        self.log_path = state_dir.parent / f"{state_dir.name}-stderr-{PodProcess._started}.log"
        cmd = [micropython]
        if heapsize:
            cmd += ["-X", f"heapsize={heapsize}"]
        cmd += [str(MAIN), "--clock", clock, "--state", str(state_dir), *link_args]
        if bench:
            cmd.append("--bench")
        cmd += list(extra_args or [])
        self.cmd = cmd
        env = dict(os.environ)
        env["MICROPYPATH"] = micropypath or DEFAULT_MICROPYPATH
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log,  # tracebacks go to stdout
                                     stderr=self._log, env=env, cwd=str(ROOT))
        self._ready_text = ready_text

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while self._ready_text not in self.stderr():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the firmware exited with status {self.proc.returncode}:\n{self.stderr()}")
            if time.monotonic() > end:
                raise RuntimeError(f"the firmware did not become ready in {timeout} s:\n{self.stderr()}")
            time.sleep(0.01)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
        self._log.close()


def heap_of(link: PodLink) -> dict:
    """Heap use reported by the pod (after a collection): {"used", "free", "peak"}.

    Start the pod with heapsize="192k" (or pytest --heap 192k) to run it in a Pico-sized heap.
    """
    return link.bench_ok({"op": "info"})["heap"]
