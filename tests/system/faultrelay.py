"""A faulty radio between the handset-side test code and the pod: a TCP relay that, at seeded
random, drops, duplicates, truncates, corrupts, delays and reorders the Eros message frames
(channel 'P') in both directions. A delayed frame is held until the link has been quiet for
0.05 s; a reordered one goes out right after the next frame in its direction. Bench ('B') and log ('L') frames pass untouched: they are the test's own wiring, not
the radio link.

    with FaultRelay(upstream_port, seed=7, rates=FaultRates(drop=0.1, ...)) as relay:
        link = PodLink(relay.url)
        ...
        relay.counts   # {"to_pod": {"pass": n, "drop": n, ...}, "to_handset": {...}}

Corruption changes one byte of the message and truncation cuts it short, then the frame is
re-encoded whole, so the damage reaches the receiver's message layer (CRC, length) rather than
merely breaking the framing; a CRC-16 catches every single-byte change.
"""
from __future__ import annotations

import random
import select
import socket
import threading
from dataclasses import dataclass

from eros.link import CH_MESSAGE, Deframer, frame

ACTIONS = ("pass", "drop", "duplicate", "truncate", "corrupt", "delay", "reorder")
_FAULTS = ACTIONS[1:]


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault per message frame (the rest pass unharmed)."""

    drop: float = 0.1
    duplicate: float = 0.1
    truncate: float = 0.05
    corrupt: float = 0.05
    delay: float = 0.05
    reorder: float = 0.05


class FaultRelay:
    """Listens on 127.0.0.1:<port> (url `socket://...`) and relays one client at a time to the pod."""

    def __init__(self, upstream_port: int, seed: int, rates: FaultRates = FaultRates()) -> None:
        self.upstream_port = upstream_port
        self.rng = random.Random(seed)
        self.rates = rates
        self.counts = {d: {a: 0 for a in ACTIONS} for d in ("to_pod", "to_handset")}
        self._lock = threading.Lock()
        self._held: dict[str, list[tuple[str, bytes]]] = {"to_pod": [], "to_handset": []}
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(1)
        self.port = self._server.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="faultrelay", daemon=True)
        self._thread.start()

    # ---- faults
    def _choose(self) -> str:
        r = self.rng.random()
        for action in _FAULTS:
            p = getattr(self.rates, action)
            if r < p:
                return action
            r -= p
        return "pass"

    def _mangle(self, direction: str, channel: int, payload: bytes) -> bytes:
        """The bytes to forward for one received frame."""
        if channel != CH_MESSAGE:
            return frame(channel, payload)
        with self._lock:
            action = self._choose()
            self.counts[direction][action] += 1
            if action == "drop":
                return b""
            if action in ("delay", "reorder"):
                self._held[direction].append((action, frame(channel, payload)))
                return b""
            if action == "duplicate":
                return frame(channel, payload) * 2
            if action == "truncate" and len(payload) > 1:
                return frame(channel, payload[:self.rng.randrange(1, len(payload))])
            if action == "corrupt" and payload:
                i = self.rng.randrange(len(payload))
                damaged = bytearray(payload)
                damaged[i] ^= self.rng.randrange(1, 256)
                return frame(channel, bytes(damaged))
            return frame(channel, payload)

    # ---- relay
    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._server], [], [], 0.1)
            if not ready:
                continue
            client, _ = self._server.accept()
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()
                continue
            self._pump(client, upstream)

    def _release(self, direction: str, kinds: tuple[str, ...]) -> bytes:
        """Held frames of `kinds` in `direction`, taken out in the order they came."""
        with self._lock:
            held = self._held[direction]
            out = b"".join(f for k, f in held if k in kinds)
            self._held[direction] = [(k, f) for k, f in held if k not in kinds]
        return out

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        ends = {client: (upstream, "to_pod", Deframer()), upstream: (client, "to_handset", Deframer())}
        peers = {"to_pod": upstream, "to_handset": client}
        for sock in ends:
            # small frames go out at once, and are acknowledged at once: without this, Nagle and
            # delayed ACKs hold each reply ~40 ms, and a long run of faults takes hours
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select(list(ends), [], [], 0.05)
                if not ready:  # a quiet link: the delayed frames arrive now
                    for direction, peer in peers.items():
                        late = self._release(direction, ("delay", "reorder"))
                        if late:
                            peer.sendall(late)
                    continue
                for sock in ready:
                    data = sock.recv(4096)
                    if hasattr(socket, "TCP_QUICKACK"):
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                    if not data:
                        return
                    peer, direction, deframer = ends[sock]
                    out = b""
                    for ch, p in deframer.feed(data):
                        now = self._mangle(direction, ch, p)
                        if now and ch == CH_MESSAGE:  # a frame went: reordered ones follow it
                            now += self._release(direction, ("reorder",))
                        out += now
                    if out:
                        peer.sendall(out)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def faults(self) -> int:
        """Frames that were harmed in any way, both directions."""
        return sum(n for d in self.counts.values() for a, n in d.items() if a != "pass")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._server.close()

    def __enter__(self) -> "FaultRelay":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
