"""How long the handset waits for the pod: a base reply timeout derived from the link (socket or
serial) or set by the person (``--timeout SECONDS`` / env ``HANDSET_TIMEOUT``), scaled per operation.

A slow board (an emulated Pico runs at 0.15-0.4x real time) gets a longer base, so it is slower,
not failed.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from handset.errors import InvalidInput
from handset.transport import DEFAULT_TIMEOUT_S, link_kind

ENV = "HANDSET_TIMEOUT"
MAX_TIMEOUT_S = 600.0


def parse_timeout(text: str, source: str) -> float:
    """Seconds from ``text`` (a positive number up to 600), or InvalidInput naming ``source``."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT_S:
        raise InvalidInput(f"{source} {text!r} is not a timeout: give the seconds to wait for a reply, "
                           f"a number above 0 and at most {MAX_TIMEOUT_S:g} (for example 5).")
    return value


@dataclass(frozen=True)
class Timeouts:
    """The waits of one handset run, all derived from ``base_s`` (one Eros reply)."""

    base_s: float

    @classmethod
    def for_link(cls, url: str, given: float | None = None) -> "Timeouts":
        """``given`` (from --timeout), else env HANDSET_TIMEOUT, else the default of the link's kind."""
        if given is not None:
            return cls(given)
        text = os.environ.get(ENV, "").strip()
        if text:
            return cls(parse_timeout(text, f"{ENV}="))
        return cls(DEFAULT_TIMEOUT_S[link_kind(url)])

    @property
    def reply_s(self) -> float:
        """One Eros reply (a status, a command): then the same bytes are sent again."""
        return self.base_s

    @property
    def bench_s(self) -> float:
        """One bench operation (an ``advance`` runs every pod step up to its target first)."""
        return max(5.0, 4 * self.base_s)

    def advance_s(self, pod_ms: int) -> float:
        """A bench ``advance`` of ``pod_ms``: the pod runs every step up to the target before it answers,
        so the wait grows with the pod time crossed (a quarter of the base per pod second)."""
        return self.bench_s + pod_ms / 1000 * self.base_s / 4

    @property
    def probe_s(self) -> float:
        """Asking a pod whether it has a bench at all (a real pod never answers)."""
        return self.base_s


#: the base reply timeout for a Pico (real, or emulated at 0.15-0.4x real time), unless one is given
SLOW_BOARD_TIMEOUT_S = 6.0


def for_board(timeouts: Timeouts, latency_s: float, info: dict) -> Timeouts | None:
    """Longer timeouts for the board a bench ``info`` answer (which took ``latency_s``) describes:
    a Pico gets at least ``SLOW_BOARD_TIMEOUT_S``, any pod at least four times what it took to
    answer (at most a minute); None when ``timeouts`` are long enough already."""
    firmware = info.get("firmware")
    platform = str(firmware.get("platform", "")) if isinstance(firmware, dict) else ""
    base = timeouts.base_s
    if platform.startswith("rp2"):
        base = max(base, SLOW_BOARD_TIMEOUT_S)
    base = min(max(base, 4 * latency_s), 60.0)
    return Timeouts(base) if base > timeouts.base_s else None
