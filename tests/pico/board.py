"""A board at the end of a serial link (a Pico, real or emulated) as the system tests see it.

A board is never restarted by the test runner: `Board.connect()` waits until the pod answers, and
`Board.fresh_request()` turns a test's firmware options into the bench `fresh` request that makes
the board a new pod with them. Every timeout on a board's link is scaled (POD_TIMEOUT_SCALE,
default 10 for the emulated Pico and 3 for a real one): a slow board is slower, not failed.
"""
from __future__ import annotations

import os
import time
from typing import Any

import pytest

from pod import config
from system.podlink import PodLink


class BoardLink(PodLink):
    """A link to a board (--target serial) whose every timeout is `scale` times longer."""

    def __init__(self, url: str, scale: float) -> None:
        super().__init__(url, timeout=5.0 * scale)
        self.scale = scale

    def send_message(self, message: bytes, timeout: float | None = None) -> bytes:
        return super().send_message(message, None if timeout is None else timeout * self.scale)

    def bench_raw(self, payload: bytes, timeout: float | None = 30.0, *args: Any, **kw: Any) -> dict:
        return super().bench_raw(payload, None if timeout is None else timeout * self.scale, *args, **kw)


class Board:
    """The board of --target serial: its URL, and the emulated Pico when --port is emu."""

    def __init__(self, url: str, emulated: Any = None) -> None:
        self.url = url
        self.emulated = emulated  # a pico.emulator.EmulatedPico, or None for a real board
        default = "10" if emulated is not None else "3"
        self.scale = float(os.environ.get("POD_TIMEOUT_SCALE", default))

    def connect(self) -> BoardLink:
        """Open the link and wait until the pod answers (a board may still be booting)."""
        link = BoardLink(self.url, self.scale)
        end = time.monotonic() + 30 * self.scale
        while True:
            try:
                link.bench({"op": "info"}, timeout=2.0)
                return link
            except AssertionError:
                if time.monotonic() > end:
                    link.close()
                    raise

    # Firmware options a test may ask for, and the `fresh` member each one becomes.
    _FRESH = {"--fill": "fill_pulses", "--lot": "lot", "--tid": "tid", "--speed": "speed",
              "--occlusion-units": "occlusion_pulses"}

    def fresh_request(self, extra_args: list[str], clock: str) -> dict:
        """The bench `fresh` request that gives a board the options of a locally started pod."""
        # every option a locally started pod would have: a board keeps the last fresh's options
        req: dict[str, Any] = {"op": "fresh", "clock": clock, "lot": config.DEFAULT_LOT, "tid": config.DEFAULT_TID,
                               "fill_pulses": int(config.DEFAULT_FILL_UNITS) * 20}
        if clock == "real":
            req["speed"] = 1
        args = list(extra_args)
        while args:
            opt = args.pop(0)
            if opt not in self._FRESH or not args:
                pytest.skip(f"the firmware option {opt} cannot be set on a board through the bench")
            value = args.pop(0)
            if opt in ("--fill", "--occlusion-units"):
                whole, _, frac = value.partition(".")
                req[self._FRESH[opt]] = (int(whole) * 100 + int((frac + "00")[:2] or 0)) // 5
            else:
                req[self._FRESH[opt]] = int(value)
        return req
