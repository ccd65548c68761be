"""Waiting on the pod's clock: an emulated pod may run N times faster than real time, or on a virtual
clock that moves only when the handset asks (bench ``advance``); a real pod runs in real time.
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable

from handset.errors import HandsetError, InvalidInput

SPEED_REAL = 1
POLL_MS = 1000  # pod time between status reads while a bolus runs, at least 0.25 s of real time


def pod_speed(pod: Any = None) -> int | None:
    """How fast the emulated pod's clock runs: N times real time, or None for a virtual clock that
    the handset moves with the bench "advance" operation.

    From env HANDSET_POD_SPEED (a whole number, or "virtual"); otherwise asked once of the emulator's
    bench channel ("info", waiting the link's probe timeout); a pod without a bench (a real device)
    runs in real time.
    """
    text = os.environ.get("HANDSET_POD_SPEED", "").strip().lower()
    if text == "virtual":
        return None
    if text:
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput(f"HANDSET_POD_SPEED={text!r} is not understood: set a whole number like 60, or virtual.")
        return int(text)
    session = getattr(pod, "session", None)
    if session is None:
        return SPEED_REAL
    timeouts = getattr(pod, "timeouts", None)
    started = time.monotonic()
    try:
        info = session.bench({"op": "info"}, timeout_s=timeouts.probe_s if timeouts is not None else 0.5)
    except HandsetError:
        return SPEED_REAL
    adapt = getattr(pod, "adapt_timeouts", None)
    if adapt is not None:
        adapt(time.monotonic() - started, info)  # a slow board gets longer timeouts from now on
    if info.get("clock") == "virtual":
        return None
    speed = info.get("speed")
    return speed if isinstance(speed, int) and speed >= 1 else SPEED_REAL


class PodTime:
    """Waiting on the pod's clock: real sleep scaled by its speed, or bench advances (virtual clock)."""

    def __init__(self, pod: Any, tick: Callable[[int], None] | None = None) -> None:
        self.pod = pod
        self.tick = tick
        self._speed: int | None | str = "unknown"

    @property
    def speed(self) -> int | None:
        """The pod's speed (see pod_speed), asked once."""
        if self._speed == "unknown":
            self._speed = pod_speed(self.pod)
        return self._speed  # type: ignore[return-value]

    def poll_ms(self) -> int:
        """Pod milliseconds between status reads during a bolus: one pulse (2 s), at least 0.25 s real."""
        speed = self.speed
        return 2000 if speed is None else max(POLL_MS, 250 * speed)

    def wait(self, ms: int) -> None:
        """Let `ms` pod milliseconds pass; `tick` hears about it in slices (progress bars)."""
        speed = self.speed
        if speed is None:
            self.pod.bench("advance", ms=ms)
            if self.tick is not None:
                self.tick(ms)
            return
        left = ms
        while left > 0:
            step = min(left, 250 * speed)  # wake at least four times a second
            time.sleep(step / 1000 / speed)
            left -= step
            if self.tick is not None:
                self.tick(step)
