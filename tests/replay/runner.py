"""Replays a rebuilt session against a pod and compares every reply with the real pod's.

The pod is reached through two callables, so the same runner drives the real firmware (bench
`advance` over a link, tests/system/test_replay.py) or the pure core in this process (quick
experiments): exchange(message) -> reply bytes, advance_to(ms) moves the pod's clock.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from eros.message import parse_message
from eros.nonce import NonceState, seed_from_resync

from .sessions import Session

# The real pods' crystals run fast against the capture machine's clock: fitted on the 0.2 U/h
# pulse grid of pod 1f07b1ee (360..520 ppm fit all 24 pulses of its first 12 h; README.md).
POD_CLOCK_PPM = 440

# Radio fields that say how the pod heard the PDM, not what it did: not compared.
_RADIO = ("gain", "rssi")
_TOLERANT = {"pulses_delivered": 1, "minutes": 1, "fault_minutes": 1}


@dataclass
class Figures:
    """What one session's replay found."""

    name: str
    replies: int = 0              # real replies compared
    statuses: int = 0             # of them 1D statuses and detailed statuses
    pulses_within_1: int = 0
    pulses_exact: int = 0
    minutes_within_1: int = 0
    prime_offset: int | None = None    # our pulses minus the real pod's right after the prime
    fields_wrong: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    nonce_out_of_step: int = 0    # captured nonces our generator did not expect

    def wrong(self, name: str, line: int, ours: object, real: object) -> None:
        self.fields_wrong[name] = self.fields_wrong.get(name, 0) + 1
        if len(self.examples) < 12:
            self.examples.append("line %d: %s ours %r, real %r" % (line, name, ours, real))

    def pulse_share(self) -> float:
        return self.pulses_within_1 / self.statuses if self.statuses else 1.0

    def line(self) -> str:
        bad = sum(self.fields_wrong.values())
        return ("%-28s %4d replies, %4d statuses: pulses within ±1 %6.2f %% (exact %6.2f %%), "
                "minutes within ±1 %d/%d, other fields wrong %d%s, prime %s"
                % (self.name, self.replies, self.statuses, 100 * self.pulse_share(),
                   100 * self.pulses_exact / max(self.statuses, 1), self.minutes_within_1, self.statuses, bad,
                   (" " + str(self.fields_wrong)) if bad else "",
                   "as real" if not self.prime_offset else "%+d pulses vs real" % self.prime_offset))


def _nonce_of(message: dict) -> int | None:
    for b in message["blocks"]:
        if "nonce" in b:
            return b["nonce"]
    return None


def replay(session: Session, exchange: Callable[[bytes], bytes | None], advance_to: Callable[[int], None],
           ppm: int = POD_CLOCK_PPM) -> Figures:
    """Send every step at its time (capture seconds, scaled to the pod's clock); compare replies."""
    fig = Figures(session.name)
    nonces = NonceState(session.lot, session.tid)
    for step in session.steps:
        advance_to(int(round(step.t * (1000000 + ppm) / 1000)))
        if step.raw is not None:
            msg = step.raw
        else:
            assert step.build is not None
            msg = step.build(step.seq, nonces.current())
        sent = parse_message(msg)
        nonce = _nonce_of(sent)
        if nonce is not None and nonce != nonces.current() and step.raw is not None and nonce != 2232447658:
            fig.nonce_out_of_step += 1
        reply = exchange(msg)
        ours = parse_message(reply) if reply else None
        if ours is not None and nonce is not None:
            first = ours["blocks"][0]
            if first["type"] == 0x06 and first.get("code") == 0x14:
                nonces = NonceState(session.lot, session.tid,
                                    seed_from_resync(nonce, sent["seq"], session.lot, session.tid, first["word"]))
            elif first["type"] != 0x06:
                nonces.advance()
        if step.expect is not None:
            _compare(fig, step.line, ours, parse_message(step.expect))
    return fig


def _compare(fig: Figures, line: int, ours: dict | None, real: dict) -> None:
    fig.replies += 1
    if ours is None:
        fig.wrong("reply", line, None, "a reply")
        return
    if ours["seq"] != real["seq"]:
        fig.wrong("seq", line, ours["seq"], real["seq"])
    if len(ours["blocks"]) != len(real["blocks"]):
        fig.wrong("blocks", line, len(ours["blocks"]), len(real["blocks"]))
        return
    for a, b in zip(ours["blocks"], real["blocks"]):
        if a["type"] != b["type"] or a.get("subtype") != b.get("subtype"):
            fig.wrong("type", line, "%02x" % a["type"], "%02x" % b["type"])
            continue
        status = "pulses_delivered" in b
        if status:
            fig.statuses += 1
            if fig.prime_offset is None and b.get("progress", 0) >= 5:
                fig.prime_offset = a["pulses_delivered"] - b["pulses_delivered"]
        for k, v in b.items():
            if k in ("raw", "body") or k in _RADIO:
                continue
            mine = a.get(k)
            if k == "entries":
                continue           # pulse log words hold the mechanism's sensor readings: not modelled
            if k in ("count", "last_index") and b.get("subtype") in (0x50, 0x51):
                if mine - (fig.prime_offset or 0) != v:   # strokes logged: the prime's count differs
                    fig.wrong(k, line, mine, v)
            elif k == "pulses_delivered":
                diff = abs(mine - (fig.prime_offset or 0) - v)
                fig.pulses_within_1 += diff <= 1
                fig.pulses_exact += diff == 0
            elif k in _TOLERANT:
                if k == "minutes":
                    fig.minutes_within_1 += abs(mine - v) <= 1
                if abs(mine - v) > _TOLERANT[k]:
                    fig.wrong(k, line, mine, v)
            elif mine != v:
                fig.wrong(k, line, mine, v)
