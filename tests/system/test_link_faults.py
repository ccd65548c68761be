"""Link faults: the real firmware behind a relay (faultrelay.py) that drops, duplicates, truncates
corrupts, delays and reorders message frames both ways, driven by a PDM that resends the same bytes on timeout and
resyncs its nonce when told to. The pod answers a repeated identical message at most once (same
reply, not carried out again), so at the end the insulin delivered equals the insulin programmed
EXACTLY: the same seeded program run over a clean link to a second pod is the reference, and
every command's outcome must match it. Seeded: LINK_SEED. `make soak` runs chunks of seeded
programs (seeds LINK_SEED, LINK_SEED + 1, ...) until LINK_FAULTS faults (default 10^5) were made.
"""
from __future__ import annotations

import os
import random
from typing import Callable

import pytest

from eros import schedule
from eros.errors import ProtocolError
from eros.link import CH_MESSAGE
from eros.message import build_message, parse_message

from .faultrelay import FaultRates, FaultRelay
from .pdm_driver import Pdm, activate
from .podlink import PodLink, PodTimeout
from .safety_report import SafetyReport, safety_report  # noqa: F401 (fixture)

LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
MIN = 60_000
SEED = int(os.environ.get("LINK_SEED", "20240612"))
OPERATIONS = 60


class RetryingRadio:
    """The PDM's radio: sends a message and waits for the reply to it, resending the SAME bytes
    on timeout (a real PDM does not rebuild a message it is not sure was heard)."""

    def __init__(self, link: PodLink, timeout: float = 0.12, tries: int = 40) -> None:
        self.link = link
        self.timeout = timeout
        self.tries = tries
        self.sent = 0
        self.resent = 0
        self.garbled = 0
        self.stale = 0
        self._last: tuple[bytes, bytes] | None = None   # (request, reply) of the last exchange

    def exchange(self, message: bytes) -> bytes:
        request = parse_message(message)
        want_seq = (request["seq"] + 1) & 0x0F
        for attempt in range(self.tries):
            if attempt:
                self.resent += 1
            self.sent += 1
            self.link.poll()
            self.link._queues[CH_MESSAGE].clear()
            self.link.send_frame(CH_MESSAGE, message)
            while True:
                try:
                    raw = self.link._wait(CH_MESSAGE, self.timeout, "reply message")
                except PodTimeout:
                    break
                try:
                    reply = parse_message(raw)
                except ProtocolError:
                    self.garbled += 1          # a damaged reply is no reply
                    continue
                if reply["seq"] != want_seq:
                    self.stale += 1            # a late duplicate of an earlier reply
                    continue
                if self._last is not None and raw == self._last[1] and message != self._last[0]:
                    # the previous exchange's reply again (delayed or duplicated): after a nonce
                    # resync the PDM resends with the same seq, so the seq alone cannot tell
                    self.stale += 1
                    continue
                self._last = (message, raw)
                return raw
        raise AssertionError(f"no reply after {self.tries} tries of {message.hex()}")


def program(seed: int, operations: int = OPERATIONS) -> list[tuple]:
    """The seeded sequence of operations: boluses, temp basals, cancels, lost nonce state, time."""
    rng = random.Random(seed)
    ops: list[tuple] = []
    for _ in range(operations):
        r = rng.random()
        if r < 0.35:
            ops.append(("bolus", rng.randrange(1, 41)))
        elif r < 0.6:
            ops.append(("temp", rng.randrange(0, 61), rng.randrange(1, 5)))
        elif r < 0.7:
            ops.append(("cancel_temp",))
        elif r < 0.8:
            ops.append(("lose_nonce", rng.randrange(1, 5)))
        ops.append(("advance", rng.randrange(1, 40) * MIN + rng.randrange(0, 60_000)))
    ops.append(("advance", 13 * 60 * MIN))                  # let every program run to its end
    return ops


class Handset:
    """The PDM of one run; its radio can be swapped (activation on a clean link, then the faulty one)."""

    def __init__(self, link: PodLink) -> None:
        self.link = link
        self.exchange: Callable[[bytes], bytes] = link.send_message
        self.pdm = Pdm(lambda m: self.exchange(m), LOT, TID, ADDR)

    def advance(self, ms: int) -> None:
        self.link.bench_ok({"op": "advance", "ms": ms})

    def activate(self) -> None:
        replies = activate(self.pdm, self.advance, [20] * 48, 0)
        assert [r["progress"] for r in replies[2:]] == [3, 3, 4, 5, 6, 7, 8], replies

    def run(self, ops: list[tuple]) -> list:
        """Carry out `ops`; the outcome of every command, for comparison."""
        pdm = self.pdm
        outcomes: list = []
        for op in ops:
            if op[0] == "advance":
                self.advance(op[1])
                continue
            if op[0] == "lose_nonce":                    # the PDM's nonce state went stale
                for _ in range(op[1]):
                    pdm.nonce.advance()
                continue
            if op[0] == "bolus":
                r = pdm.bolus(op[1])
            elif op[0] == "temp":
                r = pdm.temp_basal(op[1], op[2])
            else:
                r = pdm.cancel(2)
            outcomes.append((op, r["type"], r.get("code"), r.get("delivery"), r.get("bolus_remaining"),
                             r.get("pulses_delivered")))
        final = pdm.status()
        plant = self.link.bench_ok({"op": "plant"})
        outcomes.append(("final", final["pulses_delivered"], final["delivery"], plant["pushed"]))
        assert final["pulses_delivered"] == plant["pushed"], "the pod's count and the mechanism disagree"
        return outcomes


def faulty_run(start_pod, seed: int, operations: int = OPERATIONS) -> dict:
    """One seeded program over a clean link (the reference, a pod on a pty) and over the faulty
    relay (another pod on TCP); every outcome must be the same and delivered == programmed."""
    ops = program(seed, operations)
    clean = Handset(start_pod("pty"))
    clean.activate()
    reference = clean.run(ops)
    direct = start_pod("tcp")
    faulty = Handset(direct)
    faulty.activate()                                   # pairing over a clean link (see below)
    port = int(direct.url.rsplit(":", 1)[1])
    direct.close()                                      # the pod serves one connection at a time
    with FaultRelay(port, seed=seed) as relay:
        with PodLink(relay.url) as link:
            radio = RetryingRadio(link)
            faulty.link = link
            faulty.exchange = radio.exchange
            outcomes = faulty.run(ops)
        counts = relay.counts
        faults = relay.faults()
    programmed = reference[-1][3]
    for got, want in zip(outcomes, reference):
        assert got == want, f"LINK_SEED={seed}: over the faulty link {got}, over a clean link {want}"
    assert outcomes[-1][3] == programmed, (
        f"LINK_SEED={seed}: {outcomes[-1][3]} pulses pushed over the faulty link, {programmed} programmed")
    return {"counts": counts, "faults": faults, "resent": radio.resent, "resyncs": faulty.pdm.resyncs,
            "delivered": outcomes[-1][3], "programmed": programmed}


def test_faulty_link_delivers_exactly_what_was_programmed(start_pod, safety_report: SafetyReport):
    r = faulty_run(start_pod, SEED)
    counts = r["counts"]
    safety_report.record("link faults", f"seed {SEED}",
                         f"{sum(counts['to_pod'].values())} frames to the pod, "
                         f"{sum(counts['to_handset'].values())} back; faults to pod {counts['to_pod']}, "
                         f"to handset {counts['to_handset']}; {r['resent']} resends, {r['resyncs']} nonce "
                         f"resyncs; delivered {r['delivered']} pulses, programmed {r['programmed']}")
    assert r["faults"] > 30 and r["resent"] > 0 and r["resyncs"] > 0, "the link was not faulty enough"
    assert all(r["counts"]["to_pod"][a] + r["counts"]["to_handset"][a] > 0 for a in ("delay", "reorder"))


@pytest.mark.soak
@pytest.mark.timeout(0)
def test_faulty_link_soak(start_pod, safety_report: SafetyReport):
    target = int(os.environ.get("LINK_FAULTS", str(10 ** 5)))
    faults = delivered = runs = 0
    seed = SEED
    while faults < target:
        r = faulty_run(start_pod, seed, 400)
        faults += r["faults"]
        delivered += r["delivered"]
        runs += 1
        print(f"link faults: seed {seed}: {r['faults']} faults, delivered {r['delivered']} == programmed "
              f"{r['programmed']}; {faults} faults so far", flush=True)
        seed += 1
        start_pod.close()                               # the pods of finished runs go
    safety_report.record("link faults", f"soak: seeds {SEED}..{seed - 1}",
                         f"{faults} link faults over {runs} runs, delivered == programmed in every run "
                         f"({delivered} pulses in all)")


def test_repeated_message_answered_at_most_once(pod: PodLink):
    handset = Handset(pod)
    handset.activate()
    pdm = handset.pdm
    base = pdm.status()["pulses_delivered"]
    seq = pdm.seq
    message = build_message(ADDR, seq, list(schedule.bolus_blocks(30, pdm.nonce.current())))
    first = pod.send_message(message)
    again = pod.send_message(message)                   # the reply was "lost": the same bytes again
    assert parse_message(first)["blocks"][0]["type"] == 0x1D
    assert again == first, "a repeated identical message was not answered with the same reply"
    handset.advance(61_000)
    assert pod.send_message(message) == first           # even once the bolus is over
    pdm.nonce.advance()
    pdm.seq = (seq + 2) & 0x0F
    status = pdm.status()
    assert status["pulses_delivered"] - base == 30, "the repeated bolus was carried out again"
    assert pod.bench_ok({"op": "plant"})["pushed"] == status["pulses_delivered"]
    assert pdm.temp_basal(10, 1)["type"] == 0x1D and pdm.resyncs == 0   # the PDM's nonce is still good


def test_repeated_pairing_answered_at_most_once(pod: PodLink):
    """A lost reply during pairing: 07 and 03 sent again with the same bytes get the same reply."""
    pdm = Pdm(pod.send_message, LOT, TID, ADDR)
    sent: list[bytes] = []
    pdm.exchange = lambda m: (sent.append(m), pod.send_message(m))[1]  # noqa: E731
    pdm.assign_address()
    first_07 = pod.send_message(sent[-1])
    assert pod.send_message(sent[-1]) == first_07
    pdm.setup_pod()
    setup = sent[-1]
    first_03 = pod.send_message(setup, timeout=1.0)     # the 03 again, as a PDM retries it
    assert parse_message(first_03)["blocks"][0]["type"] == 0x01
    assert pod.send_message(setup, timeout=1.0) == first_03
    assert pdm.status()["progress"] == 3
