"""Real captured sessions rebuilt as the exchanges a PDM had with a pod, for the replay test.

captures.jsonl holds every distinct CRC-valid message once: a message identical to an earlier one
(most status requests: same address, seq and body) is kept only the first time, and some
messages were never reassembled. A session is rebuilt from what is there; every message that is
missing is inferred from the pod's reply that follows it, by the rules written in README.md
next to this file. The result is a list of Steps in capture order; the runner (replay.runner)
sends them to a pod at their captured times and compares each reply with the real one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from eros.message import build_message, parse_message
from eros.schedule import basal_schedule_blocks, bolus_blocks

# The stale nonce the captured PDM sends before every resync it provokes (23 of 23 captured cases).
STALE_NONCE = 2232447658

Builder = Callable[[int, int], bytes]      # (seq, nonce) -> message bytes


@dataclass
class Step:
    """One PDM message and, when it was captured, the real pod's reply."""

    t: float                     # seconds since the session's first message (capture clock)
    line: int                    # capture line of the message, or of the reply it was inferred from
    raw: bytes | None            # the captured message, or None when inferred
    build: Builder | None        # builds the inferred message from (seq, nonce)
    seq: int
    expect: bytes | None         # the real reply, or None when it was not captured
    note: str = ""               # what was inferred, for the log


@dataclass
class Session:
    """A rebuilt session of one pod."""

    name: str
    lot: int
    tid: int
    address: int
    steps: list[Step] = field(default_factory=list)
    inferred: dict[str, int] = field(default_factory=dict)

    def infer(self, kind: str) -> None:
        self.inferred[kind] = self.inferred.get(kind, 0) + 1


@dataclass
class Recipe:
    """Where a session is in the captures and what it needs that the captures do not hold."""

    name: str
    source: str                  # capture file (source_path ends with it)
    first_line: int
    last_line: int
    address: int
    lot: int
    tid: int
    # inferred messages that cannot be told from the reply alone: seq -> builder kind
    by_seq: dict[int, str] = field(default_factory=dict)
    basal_pph: list[int] | None = None     # the uncaptured basal program, pulses per hour
    pdm_clock_ahead_s: float = 0.0         # PDM time of day minus capture clock (uncaptured basal)
    leading_assign: bool = False           # the 07 of this session is a duplicate of an earlier one


RECIPES = [
    Recipe("1f07b1ee temp_basals.txt", "temp_basals.txt", 1, 11745, 0x1F07B1EE, 42125, 170175,
           by_seq={10: "basal", 12: "alerts_off", 14: "cannula"}, basal_pph=[4] * 48, pdm_clock_ahead_s=58.0),
    Recipe("1f014828 all.txt 2016-06-30", "all.txt", 392, 473, 0x1F014828, 42264, 340046,
           by_seq={12: "alerts_off"}),
    Recipe("1f01482b all.txt 2016-07-12", "all.txt", 1304, 2265, 0x1F01482B, 41847, 160030,
           by_seq={12: "alerts_off", 14: "cannula"}),
    Recipe("1f039cec all.txt 2016-07-12", "all.txt", 1528, 2212, 0x1F039CEC, 42344, 720372,
           by_seq={10: "basal", 12: "alerts_off"}, basal_pph=[20] * 48, pdm_clock_ahead_s=-570.0),
    Recipe("1f014828 all.txt 2016-07-12", "all.txt", 2271, 2303, 0x1F014828, 41847, 310414,
           by_seq={12: "alerts_off"}, leading_assign=True),
    Recipe("1f014829 all.txt 2016-11-25", "all.txt", 2481, 2534, 0x1F014829, 42295, 630204,
           by_seq={12: "alerts_off"}),
]


def _rows(captures: list[dict], r: Recipe) -> list[dict]:
    out = []
    for c in captures:
        if not c["source_path"].endswith(r.source) or not r.first_line <= c["line"] <= r.last_line:
            continue
        addr = int(c["hex"][:8], 16)
        if addr == r.address or (addr == 0xFFFFFFFF and ("%08x" % r.address) in c["hex"][12:]):
            out.append(c)
    # all.txt is not in time order everywhere (1f014829's afternoon precedes its pairing)
    out.sort(key=lambda c: c["timestamp"])
    return out


def _in_exchange_order(rows: list[dict]) -> list[dict]:
    """Rows with a reply that was reassembled just before its own request put after it."""
    out = list(rows)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        # a 06 before a PDM message of the same seq is the answer to an uncaptured try, not to it
        if a["direction"] == "POD" and b["direction"] == "PDM" and a["hex"][12:14] != "06" and \
                _seq(b) == (_seq(a) - 1) % 16 and abs(_secs(b) - _secs(a)) < 0.3 and \
                (i == 0 or out[i - 1]["direction"] == "POD" or _seq(out[i - 1]) != _seq(b)):
            out[i], out[i + 1] = b, a
    return out


def _seq(row: dict) -> int:
    return (int(row["hex"][8:10], 16) >> 2) & 0x0F


def _secs(row: dict) -> float:
    return datetime.fromisoformat(row["timestamp"]).timestamp()


def _with_nonce(template: bytes, address: int) -> Builder:
    """A builder that resends `template`'s blocks with a new seq and nonce."""
    blocks = parse_message(template)["blocks"]

    def build(seq: int, nonce: int) -> bytes:
        out = []
        for b in blocks:
            b = dict(b)
            b.pop("raw", None)
            if "nonce" in b:
                b["nonce"] = nonce
            out.append(b)
        return build_message(address, seq, out)
    return build


def _status(address: int) -> Builder:
    return lambda seq, nonce: bytes(build_message(address, seq, [{"type": 0x0E, "request": 0}]))


def _builders(r: Recipe, rows: list[dict]) -> dict[str, Builder]:
    a = r.address
    found: dict[str, Builder] = {}
    for c in rows:
        if c["direction"] != "PDM":
            continue
        blocks = parse_message(bytes.fromhex(c["hex"]))["blocks"]
        kind = {0x1A: "table%d" % blocks[0].get("table", -1), 0x1F: "cancel%d" % blocks[0].get("cancel", 0)}.get(
            blocks[0]["type"])
        if kind and kind not in found:
            found[kind] = _with_nonce(bytes.fromhex(c["hex"]), a)
    found["status"] = _status(a)
    found["alerts_off"] = lambda seq, nonce: build_message(a, seq, [{"type": 0x19, "nonce": nonce, "alerts": [
        {"slot": 7, "active": 0, "units_trigger": 0, "auto_off": 0, "duration_minutes": 0, "trigger": 0,
         "beep_repeat": 0, "beep_type": 0}]}])
    found["deactivate"] = lambda seq, nonce: build_message(a, seq, [{"type": 0x1C, "nonce": nonce}])
    found["cannula"] = lambda seq, nonce: build_message(a, seq, list(bolus_blocks(10, nonce, interval_ms=1000)))
    found["stale"] = lambda seq, nonce: found["cancel2"](seq, STALE_NONCE) if "cancel2" in found else \
        build_message(a, seq, [{"type": 0x1F, "nonce": STALE_NONCE, "beep_type": 0, "cancel": 2}])
    return found


def rebuild(captures: list[dict], r: Recipe) -> Session:
    """The Steps of one recipe's session (see README.md for every inference)."""
    rows = _in_exchange_order(_rows(captures, r))
    t0 = datetime.fromisoformat(rows[0]["timestamp"])
    s = Session(r.name, r.lot, r.tid, r.address)
    b = _builders(r, rows)
    tod0 = t0.hour * 3600 + t0.minute * 60 + t0.second + t0.microsecond / 1e6
    pending: tuple[float, int, bytes, int] | None = None    # captured PDM message awaiting its reply
    last_delivery = -1
    if r.leading_assign:     # its 07 is byte for byte an earlier session's, so kept only there
        pending = (0.0, rows[0]["line"], build_message(0xFFFFFFFF, 0, [{"type": 0x07, "address": r.address}]), 0)
        s.infer("assign")
    for c in rows:
        t = (datetime.fromisoformat(c["timestamp"]) - t0).total_seconds()
        data = bytes.fromhex(c["hex"])
        m = parse_message(data)
        if c["direction"] == "PDM":
            if pending is not None:
                s.steps.append(Step(pending[0], pending[1], pending[2], None, pending[3], None, "reply not captured"))
            pending = (t, c["line"], data, m["seq"])
            continue
        want_seq = (m["seq"] - 1) % 16
        if pending is not None and pending[3] == want_seq:
            s.steps.append(Step(pending[0], pending[1], pending[2], None, want_seq, data))
            pending = None
        else:
            if pending is not None:
                s.steps.append(Step(pending[0], pending[1], pending[2], None, pending[3], None, "reply not captured"))
                pending = None
            kind = _infer_kind(m["blocks"][0], last_delivery, r, want_seq, s)
            builder = _basal_builder(r, tod0 + t) if kind == "basal" else b[kind]
            s.infer(kind)
            s.steps.append(Step(max(t - 0.3, 0.0), c["line"], None, builder, want_seq, data, "inferred " + kind))
        blk = m["blocks"][0]
        if blk["type"] == 0x1D:
            last_delivery = blk["delivery"]
    if pending is not None:
        s.steps.append(Step(pending[0], pending[1], pending[2], None, pending[3], None, "reply not captured"))
    return s


def _infer_kind(reply: dict, last_delivery: int, r: Recipe, seq: int, s: Session) -> str:
    """Which message the PDM sent, judged from the pod's reply (README.md, "Inferred messages")."""
    t = reply["type"]
    if t == 0x06:
        return "stale"
    if t != 0x1D:
        raise ValueError("%s: cannot infer the request of a %02x reply" % (r.name, t))
    d = reply["delivery"]
    if reply["last_prog_seq"] == seq and seq in r.by_seq and (reply["progress"] < 8 or last_delivery < 0):
        return r.by_seq[seq]
    if reply["last_prog_seq"] == seq and reply["progress"] == 15:
        return "deactivate"
    if reply["last_prog_seq"] == seq and d != last_delivery:
        if last_delivery in (1, 5) and d & 3 == 2:
            return "table1"
        if last_delivery & 3 == 2 and d & 3 == 1:
            return "cancel2"
    return "status"


def _basal_builder(r: Recipe, capture_tod: float) -> Builder:
    """The uncaptured basal program: the recipe's rates at the PDM's time of day when it was sent."""
    if r.basal_pph is None:
        raise ValueError("%s: the basal program was not captured and the recipe gives no rates" % r.name)
    tod_ms = int(round((capture_tod + r.pdm_clock_ahead_s) * 1000)) % 86400000
    rates = r.basal_pph
    return lambda seq, nonce: build_message(r.address, seq, list(basal_schedule_blocks(rates, tod_ms, nonce)))


def sessions(captures: list[dict]) -> list[Session]:
    """Every session the recipes describe, rebuilt."""
    return [rebuild(captures, r) for r in RECIPES]
