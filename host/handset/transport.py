"""The handset's link to a pod: a pyserial port carrying COBS frames on channels (eros.link).

One string names the port, anything ``serial.serial_for_url`` accepts:

* a device path: ``/dev/ttyACM0`` (a Pico), ``/dev/pts/7`` (the emulator on a pty);
* ``socket://127.0.0.1:7777`` or just ``127.0.0.1:7777`` (the emulator listening on TCP);
* ``rfc2217://host:port``, ``spy://...``, ``loop://`` (tests).

Channels: ``P`` carries Eros messages, ``B`` bench operations (the operator's side door into the
emulator), ``L`` the pod's log lines, which are collected (``Link.logs``) and never answered.
The link only moves frames; sequence numbers, nonces and retries live in ``handset.session``.
"""
from __future__ import annotations

import collections
import time
from typing import Callable

import serial

from eros import link as eros_link
from handset.errors import PodUnreachable

CH_MESSAGE = eros_link.CH_MESSAGE
CH_BENCH = eros_link.CH_BENCH
CH_LOG = eros_link.CH_LOG

#: The reply timeout (seconds) a link of each kind gets unless one is given (--timeout, HANDSET_TIMEOUT):
#: a socket to the emulator answers within milliseconds; a serial line or a board is slower.
DEFAULT_TIMEOUT_S = {"socket": 1.5, "serial": 3.0, "loop": 0.5}


def normalize_url(url: str) -> str:
    """``HOST:PORT`` (no scheme, not a path) means a socket: ``socket://HOST:PORT``; others unchanged."""
    text = url.strip()
    if "://" in text or text.startswith("/") or text.startswith("."):
        return text
    host, sep, port = text.rpartition(":")
    if sep and host and port.isdigit():
        return f"socket://{text}"
    return text


def link_kind(url: str) -> str:
    """"socket" (socket://, rfc2217://), "loop" (loop://, spy://) or "serial" (a device path)."""
    text = normalize_url(url)
    if text.startswith(("socket://", "rfc2217://")):
        return "socket"
    if "://" in text:
        return "loop"
    return "serial"


# How long one read() may block: short, so that deadlines are honoured to within this slice.
_POLL_S = 0.05

FrameHook = Callable[[str, int, bytes], None]  # (direction ">" or "<", channel, payload)


class Link:
    """A framed, channelled byte link to one pod.

    :param port: an open pyserial port (any ``SerialBase``, also ``loop://``).
    :param url: the port's name, used in error sentences.
    """

    def __init__(self, port: serial.SerialBase, url: str = "") -> None:
        self.port = port
        self.url = url or str(getattr(port, "port", "") or "the port")
        self._deframer = eros_link.Deframer()
        self._queues: dict[int, collections.deque[bytes]] = collections.defaultdict(collections.deque)
        #: the pod's log lines (channel L), newest last; bounded so a chatty pod cannot fill memory.
        self.logs: collections.deque[str] = collections.deque(maxlen=2000)
        #: called for every frame sent (">") or received ("<"), e.g. by the session's trace.
        self.hooks: list[FrameHook] = []

    @classmethod
    def open(cls, url: str, baudrate: int = 115200) -> "Link":
        """Open the port named by ``url``.

        :raises PodUnreachable: the port does not exist, is in use, or nothing listens there.
        """
        url = normalize_url(url)
        kwargs: dict = {"baudrate": baudrate, "timeout": _POLL_S, "write_timeout": 2.0, "do_not_open": True}
        if "://" not in url:
            kwargs["exclusive"] = True  # two handsets on one serial line would corrupt each other
        try:
            port = serial.serial_for_url(url, **kwargs)
            port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PodUnreachable(
                f"Cannot open the link to the pod at {url} ({_reason(exc)}): check that the pod emulator is "
                "running, that the address or device path is right, and that no other program uses it."
            ) from exc
        link = cls(port, url)
        # A lone delimiter ends whatever partial frame an earlier writer left on the line (SPEC §1).
        link._write(b"\x00")
        return link

    def close(self) -> None:
        """Close the port (idempotent)."""
        try:
            self.port.close()
        except (serial.SerialException, OSError):
            pass

    def __enter__(self) -> "Link":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, channel: int, payload: bytes) -> None:
        """Send one frame.

        :raises PodUnreachable: the link broke while writing.
        """
        self._write(eros_link.frame(channel, payload))
        for hook in self.hooks:
            hook(">", channel, payload)

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc

    def receive(self, channel: int, timeout_s: float) -> bytes | None:
        """Wait for the next frame on ``channel``; None when ``timeout_s`` passes without one.

        Log frames are collected on the way; frames of other channels wait in their own queue.

        :raises PodUnreachable: the link broke (e.g. the pod's socket closed).
        """
        deadline = time.monotonic() + max(timeout_s, 0.0)
        queue = self._queues[channel]
        while True:
            if queue:
                return queue.popleft()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._pump(min(remaining, _POLL_S))

    def discard(self, channel: int) -> list[bytes]:
        """Drop (and return) every frame already waiting on ``channel``; reads what the port holds now."""
        self._pump(0.0)
        queue = self._queues[channel]
        dropped = list(queue)
        queue.clear()
        return dropped

    def _pump(self, wait_s: float) -> None:
        """Read what the port has (waiting at most ``wait_s``) and sort the frames into queues."""
        try:
            self.port.timeout = wait_s
            waiting = int(getattr(self.port, "in_waiting", 0))
            chunk = self.port.read(waiting or 1) if (waiting or wait_s > 0) else b""
        except (serial.SerialException, OSError) as exc:
            raise self._lost(exc) from exc
        if not chunk:
            return
        for ch, payload in self._deframer.feed(chunk):
            for hook in self.hooks:
                hook("<", ch, payload)
            if ch == CH_LOG:
                self.logs.append(payload.decode("utf-8", "replace"))
            else:
                self._queues[ch].append(bytes(payload))

    def _lost(self, exc: BaseException) -> PodUnreachable:
        return PodUnreachable(
            f"The link to the pod at {self.url} was lost ({_reason(exc)}): check that the pod emulator is still "
            "running, then read the status with `handset status` (it tells whether the last command ran) before "
            "sending anything again; never repeat a bolus without it."
        )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".")
    return text or type(exc).__name__
