"""Fixtures of the handset tests: the real firmware (over TCP and over a pty), a dropping relay,
and a scripted pod for session-layer cases the firmware cannot be made to produce on demand.

The firmware is started with the system harness (tests/system/podlink.py PodProcess, free_port,
and tests/system/nullmodem.py NullModem), imported here rather than duplicated; the listeners
are handset_rig.py's LoopbackServer.
"""
from __future__ import annotations

import select
import socket
import threading
from pathlib import Path
from typing import Iterator

import pytest

from eros.link import CH_MESSAGE, Deframer, frame
from handset_rig import LoopbackServer
from system.nullmodem import NullModem
from system.podlink import PodProcess, free_port


class ScriptedPod(LoopbackServer):
    """A TCP listener that answers each Eros message it receives with the next scripted reply.

    ``received`` lists the message bytes that arrived. A reply of ``None`` means "stay silent"; a
    list of messages sends them all, in order, as the answer to one request.
    """

    def __init__(self, replies: list[bytes | list[bytes] | None]) -> None:
        self.replies = list(replies)
        self.received: list[bytes] = []
        super().__init__()

    def _serve(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                continue
            deframer = Deframer()
            with conn:
                conn.settimeout(0.1)
                while not self._stop.is_set():
                    try:
                        chunk = conn.recv(4096)
                    except socket.timeout:
                        continue
                    except OSError:
                        break
                    if not chunk:
                        break
                    for channel, payload in deframer.feed(chunk):
                        if channel != CH_MESSAGE:
                            continue
                        self.received.append(bytes(payload))
                        reply = self.replies.pop(0) if self.replies else None
                        for message in ([] if reply is None else [reply] if isinstance(reply, bytes) else reply):
                            conn.sendall(frame(CH_MESSAGE, message))


class DropRelay(LoopbackServer):
    """A TCP relay between the handset and a pod that can swallow the pod's next message reply.

    ``drop_next_reply()`` arms it; the next 'P' frame from the pod is dropped (``dropped`` counts);
    with ``after_block`` only a reply to a request whose first block has that type counts.
    ``requests`` records every 'P' payload the handset sent.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.requests: list[bytes] = []
        self.dropped = 0
        self._drop = 0
        self._after_block: int | None = None
        self._lock = threading.Lock()
        super().__init__()

    def drop_next_reply(self, count: int = 1, after_block: int | None = None) -> None:
        with self._lock:
            self._drop += count
            self._after_block = after_block

    def _armed_for_last_request(self) -> bool:
        if self._drop <= 0:
            return False
        if self._after_block is None:
            return True
        # the message body starts after address (4), flags/seq (1) and length (1)
        return bool(self.requests) and len(self.requests[-1]) > 6 and self.requests[-1][6] == self._after_block

    def _serve(self) -> None:
        self._server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                continue
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            to_pod, to_handset = Deframer(), Deframer()
            with client, upstream:
                while not self._stop.is_set():
                    ready, _, _ = select.select([client, upstream], [], [], 0.1)
                    if client in ready:
                        data = client.recv(4096)
                        if not data:
                            break
                        for ch, payload in to_pod.feed(data):
                            if ch == CH_MESSAGE:
                                self.requests.append(bytes(payload))
                        upstream.sendall(data)
                    if upstream in ready:
                        data = upstream.recv(4096)
                        if not data:
                            break
                        out = bytearray()
                        for ch, payload in to_handset.feed(data):
                            with self._lock:
                                drop = ch == CH_MESSAGE and self._armed_for_last_request()
                                if drop:
                                    self._drop -= 1
                                    self.dropped += 1
                            if not drop:
                                out += frame(ch, payload)
                        if out:
                            client.sendall(bytes(out))


@pytest.fixture
def scripted_pod():
    """A factory: ``scripted_pod([reply bytes or None, ...])`` → a started ScriptedPod (closed after)."""
    made: list[ScriptedPod] = []

    def make(replies: list[bytes | None]) -> ScriptedPod:
        pod = ScriptedPod(replies)
        made.append(pod)
        return pod

    yield make
    for pod in made:
        pod.close()


class FirmwarePod:
    """The real firmware running under unix MicroPython, reachable at ``url``."""

    def __init__(self, process: PodProcess, url: str, port: int | None) -> None:
        self.process = process
        self.url = url
        self.tcp_port = port


def _start_firmware(micropython: str, tmp_path: Path, target: str, extra: list[str] | None = None
                    ) -> Iterator[FirmwarePod]:
    state = tmp_path / "pod-state"
    if target == "tcp":
        port = free_port()
        proc = PodProcess(micropython, state, ["--listen", f"127.0.0.1:{port}"], "listening on", extra_args=extra)
        try:
            proc.wait_ready()
            yield FirmwarePod(proc, f"socket://127.0.0.1:{port}", port)
        finally:
            proc.stop()
    else:
        modem = NullModem()
        proc = PodProcess(micropython, state, ["--serial", modem.a_path], "link open", extra_args=extra)
        try:
            proc.wait_ready()
            yield FirmwarePod(proc, modem.b_path, None)
        finally:
            proc.stop()
            modem.close()
    if "Traceback" in proc.stderr():
        pytest.fail("the firmware printed a traceback:\n" + proc.stderr())


@pytest.fixture(params=["tcp", "pty"])
def firmware(request, micropython, tmp_path) -> Iterator[FirmwarePod]:
    """The real firmware (virtual clock, bench enabled) over TCP and over a pty."""
    yield from _start_firmware(micropython, tmp_path, request.param)


@pytest.fixture
def firmware_tcp(micropython, tmp_path) -> Iterator[FirmwarePod]:
    """The real firmware over TCP only (for the relay tests)."""
    yield from _start_firmware(micropython, tmp_path, "tcp")


@pytest.fixture
def drop_relay(firmware_tcp) -> Iterator[DropRelay]:
    """A relay in front of the TCP firmware that can drop the pod's replies."""
    relay = DropRelay(firmware_tcp.tcp_port)
    yield relay
    relay.close()
