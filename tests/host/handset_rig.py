"""Test rig for the handset against the real firmware: the `handset` CLI run as a real process
(stdout and stderr apart), bench operations from the test's side, and a radio relay that can
duplicate, drop, hold back (reorder) or rewrite the Eros message frames on the real link.
"""
from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Self

from eros.link import CH_MESSAGE, Deframer, frame
from handset.session import Session
from handset.transport import Link

HANDSET = [sys.executable, "-m", "handset"]
RATES = [20] * 16 + [30] * 16 + [24] * 16  # 1.0, 1.5 and 1.2 U/h

#: What the relay does with one message frame: the payloads to pass on now (none = drop; two =
#: duplicate); ``Hold`` keeps it back and sends it after the next frame in the same direction.
Transform = Callable[[bytes], "list[bytes] | Hold"]


class Hold:
    """Returned by a transform: pass this frame on only after the next one (a reordering)."""


def handset(args: list[str], state: Path, port: str | None, stdin: str | None = "",
            env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `handset ARGS` as a process; stdin is empty (not a terminal) unless given."""
    full = dict(os.environ, HANDSET_STATE=str(state), **(env or {}))
    if port:
        full["HANDSET_PORT"] = port
    return subprocess.run([*HANDSET, *args], env=full, input=stdin, capture_output=True, text=True, timeout=timeout)


def one_json(result: subprocess.CompletedProcess) -> dict:
    """stdout must hold exactly one JSON document: parse it (fails with both streams shown)."""
    try:
        return json.loads(result.stdout)
    except ValueError as exc:
        raise AssertionError(f"stdout is not one JSON document ({exc}):\n{result.stdout}\n--- stderr\n{result.stderr}")


def bench(url: str, op: str, **args: object) -> dict:
    """One bench operation from the test's side (the pod takes one connection at a time)."""
    link = Link.open(url)
    try:
        answer = Session(link).bench({"op": op, **args}, timeout_s=60)
    finally:
        link.close()
    assert answer.get("ok") is not False, answer
    return answer


class LoopbackServer:
    """A listener on a free 127.0.0.1 port (``url`` names it) served by the subclass's ``_serve``
    on a daemon thread until ``close`` (``_stop`` is set then). A subclass sets what ``_serve``
    uses first, then calls ``super().__init__()``, which starts the thread."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        self.url = f"socket://127.0.0.1:{self._server.getsockname()[1]}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop serving (waits up to 2 s for the thread) and close the listener."""
        self._stop.set()
        self._thread.join(2)
        self._server.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RadioRelay(LoopbackServer):
    """A TCP relay between the handset and the pod; ``to_pod``/``to_handset`` transform each 'P' frame.

    Bench and log frames pass untouched. ``requests``/``replies`` record what each side sent.
    """

    def __init__(self, upstream_port: int, to_pod: Transform | None = None,
                 to_handset: Transform | None = None) -> None:
        self.upstream_port = upstream_port
        self.transforms = {"to_pod": to_pod or (lambda p: [p]), "to_handset": to_handset or (lambda p: [p])}
        self.requests: list[bytes] = []
        self.replies: list[bytes] = []
        self._held: dict[str, bytes | None] = {"to_pod": None, "to_handset": None}
        super().__init__()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not select.select([self._server], [], [], 0.1)[0]:
                continue
            client, _ = self._server.accept()
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            ends = {client: (upstream, "to_pod", Deframer()), upstream: (client, "to_handset", Deframer())}
            try:
                while not self._stop.is_set():
                    ready, _, _ = select.select(list(ends), [], [], 0.1)
                    closed = False
                    for sock in ready:
                        data = sock.recv(4096)
                        if not data:
                            closed = True
                            break
                        peer, direction, deframer = ends[sock]
                        out = b"".join(self._pass(direction, ch, p) for ch, p in deframer.feed(data))
                        if out:
                            peer.sendall(out)
                    if closed:
                        break
            except OSError:
                pass
            finally:
                client.close()
                upstream.close()
                self._held = {"to_pod": None, "to_handset": None}

    def _pass(self, direction: str, channel: int, payload: bytes) -> bytes:
        if channel != CH_MESSAGE:
            return frame(channel, payload)
        (self.requests if direction == "to_pod" else self.replies).append(bytes(payload))
        result = self.transforms[direction](bytes(payload))
        held = self._held[direction]
        if isinstance(result, Hold):
            self._held[direction] = bytes(payload)
            return b""
        self._held[direction] = None
        out = [frame(CH_MESSAGE, p) for p in result]
        if held is not None:
            out.append(frame(CH_MESSAGE, held))  # the held frame goes after this one: reordered
        return b"".join(out)
