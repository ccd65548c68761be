"""The operator's bench client: one request, one reply, matched by id (SPEC.md section 6).

It opens any pyserial URL: ``socket://127.0.0.1:7411`` (the pod's ``--bench-listen`` port), the
handset port of a pod started with ``--bench``, or a serial device (a Pico: channel B of its one
link). Every request carries a new ``id``; a reply with another id is the late answer to an earlier
request that timed out, and is dropped.
"""
from __future__ import annotations

import itertools
import json
import os
import threading
import time

import serial

from eros.link import CH_BENCH, Deframer, frame
from podctl.errors import Refused, Unreachable

DEFAULT_URL = "socket://127.0.0.1:7411"
DEFAULT_TIMEOUT_S = 5.0
_POLL_S = 0.05


class BenchClient:
    """A connection to the pod's bench; thread-safe (one request at a time).

    :param url: a pyserial URL or device path.
    :param timeout_s: how long one reply may take (a slow board: raise it).
    """

    def __init__(self, url: str = DEFAULT_URL, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._deframer = Deframer()
        self._ids = itertools.count(int.from_bytes(os.urandom(2), "big"))
        self.stale = 0  # replies dropped because their id was not the one awaited
        try:
            self._port = serial.serial_for_url(url, baudrate=115200, timeout=_POLL_S)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise Unreachable(
                f"Cannot reach the pod's bench at {url} ({exc}). Start the pod with --bench-listen "
                "HOST:PORT and give that address with --port socket://HOST:PORT (or PODCTL_PORT).") from exc
        self._port.write(b"\x00")  # ends whatever a previous client left half-sent

    def close(self) -> None:
        """Close the connection (idempotent)."""
        sock = getattr(self._port, "_socket", None)
        if sock is not None and self._port.is_open:
            sock.close()  # pyserial's socket close() sleeps 0.3 s first
            self._port._socket = None  # type: ignore[attr-defined]
            self._port.is_open = False
        self._port.close()

    def __enter__(self) -> "BenchClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, op: str, **members: object) -> dict:
        """Send ``{"op": op, **members}``; the reply's members (without ``ok`` and ``id``).

        :raises Refused: the bench answered with an error sentence.
        :raises Unreachable: no reply within the timeout, or the link closed.
        """
        with self._lock:
            rid = next(self._ids) & 0x7FFFFFFF
            payload = json.dumps({"op": op, **members, "id": rid}).encode()
            try:
                self._port.write(frame(CH_BENCH, payload))
                reply = self._await(rid, op)
            except serial.SerialException as exc:
                raise Unreachable(f"The link to the pod's bench at {self.url} closed ({exc}); is the pod running?") from exc
        if reply.get("ok") is not True:
            raise Refused(f"The pod refused {op}: {reply.get('error', 'no reason given')}.")
        reply.pop("ok", None)
        reply.pop("id", None)
        return reply

    def _await(self, rid: int, op: str) -> dict:
        end = time.monotonic() + self.timeout_s
        while time.monotonic() < end:
            data = self._port.read(max(1, self._port.in_waiting))
            for channel, body in self._deframer.feed(data):
                if channel != CH_BENCH:
                    continue  # log lines (and Eros replies on a shared link) are not ours
                try:
                    reply = json.loads(body)
                except ValueError:
                    continue
                if isinstance(reply, dict) and reply.get("id") == rid:
                    return reply
                self.stale += 1
        raise Unreachable(
            f"The pod's bench at {self.url} did not answer {op} within {self.timeout_s:g} s: check that the "
            "pod runs with --bench-listen (or --bench), or give a longer --timeout for a slow board.")
