"""Structurally valid mutated messages (right CRC, address and nonce; wrong contents) sent to the
running firmware, with a state oracle after each one (tests/system/validfuzz.py).

Each message goes to the firmware (MicroPython, over TCP) and to the same pod logic run here under
CPython; the two replies must be byte for byte the same, and every few messages the firmware's
state (bench `info`) must equal the CPython pod's. That differential check is what makes the oracle
fast: the CPython pod's whole state is compared before and after every message (`judge`) — a
refused message changes nothing, an accepted one exactly what its commands say — and the firmware
is held to the CPython pod. Seeded: FUZZ_SEED; `make soak` sends FUZZ_COUNT (default 10^6).
"""
from __future__ import annotations

import os
import random
import time

import pytest

from eros.link import CH_MESSAGE
from eros.message import parse_message
from eros.nonce import NonceState, seed_from_resync

from .pdm_driver import InProcessPod, Pdm, activate
from .safety_report import SafetyReport, safety_report  # noqa: F401 (fixture)
from .validfuzz import judge, message

LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
QUICK = 1500
INFO_KEYS = ("address", "progress", "delivered", "reservoir", "delivery", "bolus_remaining", "fault",
             "alerts", "last_prog_seq", "bad_nonces", "pod_ms", "pulse_log")


class Twin:
    """The firmware and the CPython pod, fed the same messages and the same time."""

    def __init__(self, link) -> None:
        self.link = link
        self.local = InProcessPod(LOT, TID, 4000)
        self.pdm = Pdm(self.exchange, LOT, TID, ADDR)

    def exchange(self, msg: bytes) -> bytes | None:
        theirs = self.link.send_message(msg)
        ours = self.local.exchange(msg)
        assert theirs == ours, f"firmware {theirs.hex() if theirs else None} != pure core {ours.hex() if ours else None}"
        return theirs

    def advance(self, ms: int) -> None:
        self.link.bench_ok({"op": "advance", "seconds": ms // 1000})
        self.local.advance(ms // 1000 * 1000)

    def fresh(self) -> None:
        """A new pod on both sides, activated and running."""
        self.link.bench_ok({"op": "fresh", "clock": "virtual"})
        now = self.link.bench_ok({"op": "info"})["now_ms"]
        self.local = InProcessPod(LOT, TID, 4000, now_ms=now)
        self.pdm = Pdm(self.exchange, LOT, TID, ADDR)
        activate(self.pdm, self.advance, [20] * 48, -55_000)

    def same_state(self) -> None:
        theirs = self.link.bench_ok({"op": "info"})["pod"]
        ours = self.local.pod.info(self.local.now)
        for k in INFO_KEYS:
            assert theirs.get(k) == ours.get(k), f"{k}: firmware {theirs.get(k)}, pure core {ours.get(k)}"


def run(link, count: int, seed: int, batch: int = 24) -> dict:
    """Send `count` mutated messages. The CPython pod answers each one first (so the next message
    carries the right nonce and seq) and the oracle judges it; the firmware gets them in batches
    of `batch` frames and its replies must equal the CPython pod's, in order."""
    rng = random.Random(seed)
    twin = Twin(link)
    twin.fresh()
    accepted = refused = pods = 0
    pending: list[tuple[int, bytes, bytes]] = []

    def flush() -> None:
        for _, msg, _ in pending:
            link.send_frame(CH_MESSAGE, msg)
        for i, msg, want in pending:
            got = link._wait(CH_MESSAGE, None, "reply message")
            assert got == want, f"FUZZ_SEED={seed} #{i}: firmware {got.hex()} != pure core {want.hex()} for {msg.hex()}"
        pending.clear()

    start = time.monotonic()
    for i in range(count):
        pod = twin.local.pod
        if pod.progress >= 13 or rng.random() < 0.0005:
            flush()
            twin.same_state()
            twin.fresh()
            pods += 1
            pod = twin.local.pod
        seq = twin.pdm.seq
        msg = message(rng, ADDR, seq, pod.nonce.current())
        before = pod.to_state()
        raw = twin.local.exchange(msg)
        assert raw is not None, f"FUZZ_SEED={seed} #{i}: a valid message was dropped: {msg.hex()}"
        pending.append((i, msg, raw))
        reply = parse_message(raw)["blocks"][0]
        why = judge(before, pod.to_state(), reply, msg)
        assert why is None, f"FUZZ_SEED={seed} #{i}: {why}: {msg.hex()} -> {raw.hex()}"
        if reply["type"] == 0x06:
            refused += 1
            if reply["code"] == 0x14:  # the PDM resyncs as a real one does
                sent = int.from_bytes(msg[8:12], "big")
                twin.pdm.nonce = NonceState(LOT, TID, seed_from_resync(sent, seq, LOT, TID, reply["word"]))
        else:
            accepted += 1
        twin.pdm.seq = (seq + 2) & 15
        if len(pending) >= batch:
            flush()
        if i % 97 == 0:
            flush()
            twin.advance(rng.choice((1000, 30_000, 600_000)))
        if i % 1000 == 0:
            flush()
            twin.same_state()
            if i and i % 50_000 == 0:  # a long soak says how far it got
                print(f"valid-message fuzz FUZZ_SEED={seed}: {i} messages, "
                      f"{i / (time.monotonic() - start):.0f}/s", flush=True)
    flush()
    twin.same_state()
    wall = time.monotonic() - start
    return {"messages": count, "accepted": accepted, "refused": refused, "pods": pods + 1,
            "per_s": count / wall if wall else 0.0}


def _report(safety_report: SafetyReport, label: str, figures: dict) -> None:
    safety_report.record("valid-message fuzz", f"{label}: seed {SEED}",
                         f"{figures['messages']} messages ({figures['accepted']} accepted, {figures['refused']} "
                         f"refused) on {figures['pods']} pod(s), firmware == pure core and the oracle held "
                         f"after every one; {figures['per_s']:.0f} messages/s")


def test_valid_mutated_messages_short_run(start_pod, safety_report: SafetyReport):
    link = start_pod("pty")
    figures = run(link, QUICK, SEED)
    _report(safety_report, f"{QUICK} messages", figures)
    assert figures["accepted"] > 50 and figures["refused"] > 50


@pytest.mark.soak
@pytest.mark.timeout(0)
def test_valid_mutated_messages_soak(start_pod, safety_report: SafetyReport):
    count = int(os.environ.get("FUZZ_COUNT", str(10 ** 6)))
    link = start_pod("pty")
    figures = run(link, count, SEED)
    _report(safety_report, f"soak {count}", figures)
