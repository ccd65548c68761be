"""The pod end to end: the real firmware under unix MicroPython in virtual time, driven by the
test-side PDM (pdm_driver.py) over every target the harness offers (the same bodies for each).
Pulse counts are checked exactly, through the status response and through the bench `plant` op."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from eros.message import build_message, parse_message

from .pdm_driver import Pdm, activate, alert
from .podlink import PodLink

ROOT = Path(__file__).resolve().parents[2]
LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE     # the firmware's default lot/tid (pod/config.py)
S = 1000
MIN = 60 * S
HOUR = 60 * MIN
FLAT_1U = [20] * 48                             # 1 U/h: a pulse every 180 s
LOW_BASAL = [1] * 48                            # 0.05 U/h: a pulse every hour


class Session:
    """A PDM plus the bench of one firmware process."""

    def __init__(self, link: PodLink) -> None:
        self.link = link
        self.pdm = Pdm(link.send_message, LOT, TID, ADDR)

    def advance(self, ms: int) -> None:
        self.link.bench_ok({"op": "advance", "ms": ms})

    def pushed(self) -> int:
        return self.link.bench_ok({"op": "plant"})["pushed"]

    def delivered(self) -> int:
        """Pulses delivered by the status response; checked against the plant every time."""
        s = self.pdm.status()
        n = s["pulses_delivered"]
        assert n == self.pushed(), "the firmware's count and the mechanism disagree"
        return n

    def activate(self, rates: list[int]) -> list[dict]:
        # the basal is programmed 55 s in; a time of day of -55 s makes it start at midnight
        replies = activate(self.pdm, self.advance, rates, 24 * HOUR - 55 * S)
        assert [r["progress"] for r in replies[2:]] == [3, 3, 4, 5, 6, 7, 8]
        return replies


@pytest.fixture
def session(pod: PodLink) -> Session:
    return Session(pod)


def test_full_activation_and_basal(session: Session):
    replies = session.activate(FLAT_1U)
    assert replies[0]["type"] == 0x01 and replies[0]["lot"] == LOT and 30 <= replies[0]["rssi"] <= 59
    assert replies[1]["prime_pulses"] == 52 and replies[1]["pod_life_hours"] == 80
    assert replies[4]["bolus_remaining"] == 52 and replies[7]["bolus_remaining"] == 10
    start = session.delivered()
    assert start >= 62
    session.advance(3 * HOUR)
    assert session.delivered() - start == 60                   # 3 h of 1 U/h, exactly
    status = session.pdm.status()
    assert status["delivery"] == 1 and status["reservoir"] == 0x3FF and status["progress"] == 8
    assert status["minutes"] == (3 * HOUR + 67 * S) // MIN


def test_temp_basals(session: Session):
    session.activate(FLAT_1U)
    start = session.delivered()
    assert session.pdm.temp_basal(60, 2)["delivery"] == 2      # 3 U/h for 1 h
    session.advance(HOUR)
    assert session.delivered() - start == 60
    assert session.pdm.status()["delivery"] == 1              # back to the basal program
    base = session.delivered()
    assert session.pdm.temp_basal(0, 4)["delivery"] == 2       # zero temp for 2 h
    session.advance(2 * HOUR - 1)
    assert session.delivered() == base
    session.advance(1)
    assert session.pdm.status()["delivery"] == 1
    base = session.delivered()
    session.advance(3 * HOUR)
    assert session.delivered() - base == 60


def test_boluses_and_cancel(session: Session):
    session.activate(LOW_BASAL)
    start = session.delivered()
    reply = session.pdm.bolus(20)                               # immediate: 2 s per pulse
    assert reply["delivery"] == 5 and reply["bolus_remaining"] == 20
    session.advance(40 * S)
    assert session.delivered() - start == 20
    assert session.pdm.status()["delivery"] == 1
    # extended: 12 pulses over 1 h, evenly
    reply = session.pdm.bolus(0, extended_pulses=12, extended_half_hours=2)
    assert reply["delivery"] == 9 and reply["bolus_remaining"] == 12
    base = session.delivered()
    session.advance(30 * MIN)
    half = session.delivered() - base
    assert 5 <= half <= 7
    session.advance(30 * MIN)
    assert session.pdm.status()["bolus_remaining"] == 0
    total = session.delivered() - base
    assert total - 12 in (0, 1)                                 # + the hourly basal pulse at most
    # dual wave: 10 now, 10 over 30 min
    reply = session.pdm.bolus(10, extended_pulses=10, extended_half_hours=1)
    assert reply["delivery"] == 5 and reply["bolus_remaining"] == 20
    session.advance(20 * S)
    status = session.pdm.status()
    assert status["delivery"] == 9 and status["bolus_remaining"] == 10
    session.advance(30 * MIN)
    assert session.pdm.status()["bolus_remaining"] == 0
    # cancel a running bolus: the undelivered pulses are reported
    before = session.delivered()
    session.pdm.bolus(100)
    session.advance(61 * S)
    reply = session.pdm.cancel(4)
    given = session.delivered() - before
    assert reply["bolus_remaining"] == 100 - given and 0 < given < 100
    assert reply["delivery"] == 1
    session.advance(10 * MIN)
    assert session.delivered() - before - given <= 1


def test_suspend_resume_and_deactivate(session: Session):
    session.activate(FLAT_1U)
    assert session.pdm.cancel(3, beep_type=2)["delivery"] == 0
    before = session.delivered()
    session.advance(4 * HOUR)
    assert session.delivered() == before
    assert session.pdm.basal(FLAT_1U, 0)["delivery"] == 1
    session.advance(3 * HOUR)
    assert session.delivered() - before == 60
    last = session.pdm.deactivate()
    assert last["progress"] == 15 and last["delivery"] == 0
    stopped = session.delivered()
    session.advance(HOUR)
    assert session.delivered() == stopped


def test_bad_nonce_and_resync(session: Session):
    session.activate(FLAT_1U)
    pdm = session.pdm
    seq = pdm.seq
    raw = session.link.send_message(build_message(ADDR, seq, [{"type": 0x1F, "nonce": 0x851072AA,
                                                                "beep_type": 0, "cancel": 2}]))
    reply = parse_message(raw)
    assert reply["seq"] == (seq + 1) & 15
    block = reply["blocks"][0]
    assert block["type"] == 0x06 and block["code"] == 0x14
    pdm.seq = (seq + 2) & 15
    # the PDM's own nonce is now stale too: it resyncs from the pod's answer and succeeds
    assert pdm.temp_basal(40, 1)["delivery"] == 2
    assert pdm.resyncs == 1
    assert pdm.status()["last_prog_seq"] == (seq + 2) & 15


def _unchanged(session: Session, send, code: int) -> None:
    before = (session.pdm.status(2), session.link.bench_ok({"op": "plant"})["pushed"])
    reply = send()
    assert reply["type"] == 0x06 and reply["code"] == code, reply
    after = (session.pdm.status(2), session.link.bench_ok({"op": "plant"})["pushed"])
    strip = [{k: v for k, v in b.items() if k != "last_prog_seq"} for b in (before[0], after[0])]
    assert strip[0] == strip[1] and before[1] == after[1]
    assert after[0]["last_prog_seq"] == before[0]["last_prog_seq"]


def test_refusals_change_nothing(session: Session):
    pdm = session.pdm
    pdm.assign_address()
    pdm.setup_pod()
    _unchanged(session, lambda: pdm.basal(FLAT_1U, 0), 0x0C)          # basal before the prime
    _unchanged(session, lambda: pdm.bolus(10), 0x0C)
    _unchanged(session, lambda: pdm.cancel(0), 0x07)
    _unchanged(session, lambda: pdm.beep_config(beep_type=9), 0x07)
    _unchanged(session, lambda: pdm.configure_alerts([alert(3, 60, repeat=9)]), 0x07)
    pdm.prime()
    session.advance(55 * S)
    pdm.basal(FLAT_1U, 0)
    pdm.cannula()
    session.advance(12 * S)
    pdm.bolus(50)
    _unchanged(session, lambda: pdm.bolus(5), 0x0C)                   # a bolus is running
    _unchanged(session, lambda: pdm.fault_config(), 0x0C)             # only before the prime
    _unchanged(session, lambda: pdm.bolus(5, interval_ms=1000), 0x0C)
    _unchanged(session, lambda: pdm.send([{"type": 0x0E, "request": 7}])["blocks"][0], 0x07)
    # a message to another address or with a bad CRC is not answered at all
    good = build_message(ADDR, 0, [{"type": 0x0E, "request": 0}])
    session.link.send_frame(0x50, good[:-1] + bytes([good[-1] ^ 0xFF]))
    session.link.send_frame(0x50, build_message(ADDR ^ 1, 0, [{"type": 0x0E, "request": 0}]))
    session.link.poll(0.3)
    assert session.link.pending(0x50) == 0
    assert pdm.status()["type"] == 0x1D


def _compile_mpy(out: Path) -> str:
    """The firmware and codec compiled by tools/build_mpy.py (as deployed on a Pico); the MICROPYPATH."""
    spec = importlib.util.spec_from_file_location("build_mpy", ROOT / "tools" / "build_mpy.py")
    build_mpy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_mpy)
    errors = build_mpy.compile_all(build_mpy.mpy_cross(), out, [])
    assert not errors, errors
    return f"{out}:.frozen"


# The unix port is 64-bit: its objects are up to twice a Pico's. 192 KB held the firmware until
# the journal store, the fault-injection bench and the stroke log came (~20 KB more code); it now
# needs 240 KB. The Pico's own heap is measured on the emulated Pico (tests/pico, `make bench`).
SMALL_HEAP = "256k"


def test_three_days_in_a_pico_heap(start_pod, target, tmp_path, request, monkeypatch):
    """The whole activation and 3 days of basal (with a bolus a day) in a small heap, from .mpy."""
    if request.config.getoption("--micropypath") is None:   # unless the run already chose a path
        monkeypatch.setattr(request.config.option, "micropypath", _compile_mpy(tmp_path / "mpy"))
    session = Session(start_pod(target, heapsize=SMALL_HEAP))
    session.activate(FLAT_1U)
    start = session.delivered()
    for day in range(3):
        assert session.pdm.bolus(40)["delivery"] == 5
        for _ in range(4):
            session.advance(6 * HOUR)
    assert session.delivered() - start == 3 * 24 * 20 + 3 * 40
    status = session.pdm.status()
    assert status["progress"] == 8 and status["delivery"] == 1 and status["minutes"] >= 72 * 60
    session.advance(9 * HOUR)                                   # past 80 h: the pod faults 0x1C
    detailed = session.pdm.status()
    assert detailed["type"] == 0x02 and detailed["fault_code"] == 0x1C and detailed["progress"] == 13


def test_power_cycle_keeps_the_programs(session: Session):
    """A bench reset drops the Pod object; the pod restored from storage keeps its programs, but a
    bolus that was running is not resumed: its undelivered pulses are reported (SPEC.md §8)."""
    session.activate(FLAT_1U)
    session.pdm.bolus(30)
    session.pdm.temp_basal(60, 2)
    session.advance(20 * S)
    before = session.delivered()
    session.link.bench_ok({"op": "reset"})
    status = session.pdm.status()
    assert status["delivery"] == 2 and status["bolus_remaining"] == 20 and status["pulses_delivered"] == before
    session.advance(HOUR - 20 * S)
    assert session.delivered() - before == 60                # the whole temp hour, no bolus rest
    assert session.pdm.status()["delivery"] == 1
