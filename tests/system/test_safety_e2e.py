"""Safety requirements end to end, against the real firmware under unix MicroPython in virtual
time: every alarm at its exact time (low reservoir, the pod-life slots as the real PDM configures
them, 80 h end of service, empty reservoir), and occlusion detection at three delivery rates with
the measured time from occlusion to alarm (SAFETY-NOTES §5.3 limits). Seeded: SAFETY_SEED.

Times are found exactly by stepping the virtual clock from one pod deadline to the next (bench
`info` deadline_ms, then `advance` to it), so an alarm is seen at the very step that raised it.
"""
from __future__ import annotations

import os
import random

import pytest

from .pdm_driver import Pdm, alert
from .podlink import PodLink
from .safety_report import SafetyReport, minutes_text, safety_report  # noqa: F401 (fixture)

LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
S = 1000
MIN = 60 * S
HOUR = 60 * MIN
POD_LIFE = 80 * HOUR
SEED = int(os.environ.get("SAFETY_SEED", "20240611"))

# Alert configurations exactly as the real PDM sends them (PROTOCOL-NOTES §2.4).
LOW_RESERVOIR = alert(4, 200, units=1, repeat=1, beep=2)                 # 4c0000c80102: 20 U
FINISH_SETUP = alert(7, 5, duration=55, repeat=8, beep=2)                # 783700050802
FINISH_SETUP_OFF = alert(7, 0, active=0, beep=0)
EXPIRATION_REMINDER = alert(3, 4260, repeat=3, beep=2)                   # 380010a40302: 71 h
EXPIRED_ADVISORY = alert(7, 4319, duration=420, repeat=5, beep=2)        # 79a410df0502: 72 h - 1 min
SHUTDOWN_IMMINENT = alert(2, 4739, repeat=6, beep=2)                     # 280012830602: 79 h - 1 min

F_OCCLUDED, F_EMPTY, F_EXPIRED = 0x14, 0x18, 0x1C


class Rig:
    """A test-side PDM plus the bench of one firmware process (virtual clock)."""

    def __init__(self, link: PodLink) -> None:
        self.link = link
        self.pdm = Pdm(link.send_message, LOT, TID, ADDR)
        self.paired_ms = 0

    # ---- bench
    def info(self) -> dict:
        return self.link.bench_ok({"op": "info"})

    def now(self) -> int:
        return self.info()["now_ms"]

    def advance(self, ms: int) -> dict:
        return self.link.bench_ok({"op": "advance", "ms": ms})

    def advance_to(self, ms: int) -> None:
        now = self.now()
        assert ms >= now, f"cannot go back in time from {now} to {ms}"
        self.advance(ms - now)

    def step(self) -> int | None:
        """Advance to the pod's next deadline; its time, or None when the pod has none."""
        info = self.info()
        if info["deadline_ms"] is None:
            return None
        self.advance(max(0, info["deadline_ms"] - info["now_ms"]))
        return info["deadline_ms"]

    def plant(self) -> dict:
        return self.link.bench_ok({"op": "plant"})

    def occlude(self, on: bool) -> dict:
        return self.link.bench_ok({"op": "occlude", "on": on})

    def beeps_since(self, index: int) -> list[list[int]]:
        out: list[list[int]] = []
        while True:
            r = self.link.bench_ok({"op": "beeps", "since": index})
            out += r["beeps"]
            if r["next"] >= r["count"] or not r["beeps"]:
                return out
            index = r["next"]

    def beep_count(self) -> int:
        return self.link.bench_ok({"op": "beeps", "since": 1 << 29})["count"]

    # ---- pod
    def activate(self, rates_pph: list[int]) -> None:
        """The activation in the real PDM's order (PROTOCOL-NOTES §2.4, §7)."""
        pdm = self.pdm
        pdm.assign_address()
        self.paired_ms = self.now()
        pdm.setup_pod()
        assert pdm.configure_alerts([dict(LOW_RESERVOIR)])["progress"] == 3
        pdm.configure_alerts([dict(FINISH_SETUP)])
        assert pdm.prime()["progress"] == 4
        self.advance(55 * S)
        pdm.configure_alerts([dict(FINISH_SETUP_OFF)])
        assert pdm.basal(rates_pph, 0)["progress"] == 6
        assert pdm.cannula()["progress"] == 7
        self.advance(12 * S)
        assert self.pdm.status()["progress"] in (8, 9)

    def fault(self) -> int:
        return self.info()["pod"]["fault"]

    def detailed(self) -> dict:
        block = self.pdm.status(2)
        assert block["type"] == 0x02 and block["subtype"] == 2, block
        return block

    def recorded(self) -> int:
        """The firmware's write-ahead pulse counter (bench `recorded`, else the pod's info)."""
        plant = self.plant()
        if "recorded" in plant:
            return plant["recorded"]
        return self.info()["pod"]["delivered"]

    def pod_minutes(self, ms: int) -> int:
        return (ms - self.paired_ms) // MIN


@pytest.fixture
def rig(pod: PodLink) -> Rig:
    return Rig(pod)


def _expect_fault_detail(rig: Rig, code: int, fault_ms: int) -> dict:
    """A faulted pod answers every status request with the detailed status."""
    plain = rig.pdm.status(0)
    assert plain["type"] == 0x02 and plain["subtype"] == 2, f"status on a faulted pod gave {plain}"
    d = rig.detailed()
    assert {k: v for k, v in plain.items() if k != "last_prog_seq"} == \
        {k: v for k, v in d.items() if k != "last_prog_seq"}
    assert d["fault_code"] == code and d["progress"] == 13 and d["delivery"] == 0
    assert d["fault_minutes"] == rig.pod_minutes(fault_ms)
    plant = rig.plant()  # the pod reports what went in, and its write-ahead counter is at most one ahead
    assert d["pulses_delivered"] == plant["pushed"] <= rig.recorded() <= plant["pushed"] + 1
    return d


def _assert_stopped(rig: Rig, hours: int = 3) -> None:
    before = (rig.plant()["pushed"], rig.recorded())
    rig.advance(hours * HOUR)
    plant = rig.plant()
    assert (plant["pushed"], rig.recorded()) == before, "insulin moved after the pod faulted"


# ============================================================ alarms at their exact times

def test_low_reservoir_empty_and_acknowledge(start_pod, target, safety_report: SafetyReport):
    rig = Rig(start_pod(target, extra_args=["--fill", "30"]))           # 600 pulses
    rig.activate([20] * 48)
    threshold = LOW_RESERVOIR["trigger"] * 2                            # 0.1 U units -> pulses
    left = 600 - rig.recorded()
    rig.pdm.bolus(left - threshold - 3)                                 # lands 3 pulses above it
    crossed = None
    for _ in range(400):
        t = rig.step()
        assert t is not None
        reservoir = 600 - rig.recorded()
        alerts = rig.pdm.status()["alerts"]
        if reservoir > threshold:
            assert not alerts & 0x10, f"low reservoir fired early, {reservoir} pulses left"
        else:
            assert alerts & 0x10, f"low reservoir not fired at {reservoir} pulses left"
            crossed = t
            break
    assert crossed is not None
    status = rig.pdm.status()
    assert status["reservoir"] in (threshold, threshold - 1) and status["progress"] == 9
    assert rig.pdm.status(1)["alert_minutes"][4] == rig.pod_minutes(crossed)
    beeps = [b for b in rig.beeps_since(0) if b[0] >= crossed]
    assert beeps and beeps[0] == [crossed, 2], f"no low-reservoir beep at {crossed} ms: {beeps[:3]}"
    # acknowledge clears the bit; configuring the slot again re-arms it and it fires again
    assert not rig.pdm.acknowledge(0x10)["alerts"] & 0x10
    rig.advance(10 * MIN)
    assert not rig.pdm.status()["alerts"] & 0x10
    rearmed = rig.now()
    rig.pdm.configure_alerts([dict(LOW_RESERVOIR)])
    t = rig.step()                              # at the latest at the next pulse
    assert rig.pdm.status()["alerts"] & 0x10
    assert rig.pod_minutes(rearmed) <= rig.pdm.status(1)["alert_minutes"][4] <= rig.pod_minutes(t)
    # drain: suspend the basal (so that the bolus alone empties the reservoir), then a bolus
    # larger than what is left; the pod faults 0x18 when a pulse is due on empty
    assert rig.pdm.cancel(1)["delivery"] == 0
    left = 600 - rig.recorded()
    rig.pdm.bolus(left + 5)
    fault_ms = None
    for _ in range(700):
        t = rig.step()
        if rig.fault():
            fault_ms = t
            break
    assert fault_ms is not None, "the pod never reported its empty reservoir"
    d = _expect_fault_detail(rig, F_EMPTY, fault_ms)
    plant = rig.plant()
    assert plant["pushed"] == 600 and plant["reservoir_pulses"] == 0 and d["pulses_delivered"] == 600
    assert plant["dry"] == 0, "the mechanism stroked an empty reservoir"
    assert d["bolus_remaining"] == 5 and d["bolus_in_progress"] == 1
    _assert_stopped(rig)
    assert rig.pdm.deactivate()["progress"] == 15
    safety_report.record("alarms", f"low reservoir [{target}]",
                         f"fired at {minutes_text(crossed - rig.paired_ms)} after pairing, at 400 pulses left")


def test_pod_life_alerts_and_end_of_service(rig: Rig, target, safety_report: SafetyReport):
    rig.activate([1] * 48)                                              # 0.05 U/h
    configured = rig.now()
    rig.pdm.configure_alerts([dict(EXPIRATION_REMINDER)])
    rig.pdm.configure_alerts([dict(EXPIRED_ADVISORY), dict(SHUTDOWN_IMMINENT)])
    mask = 0
    for slot, cfg in ((3, EXPIRATION_REMINDER), (7, EXPIRED_ADVISORY), (2, SHUTDOWN_IMMINENT)):
        due = configured + cfg["trigger"] * MIN
        rig.advance_to(due - 1)
        assert rig.pdm.status()["alerts"] == mask, f"slot {slot} fired before its minute"
        count = rig.beep_count()
        rig.advance(1)
        mask |= 1 << slot
        status = rig.pdm.status()
        assert status["alerts"] == mask, f"slot {slot} did not fire at {due} ms"
        assert rig.pdm.status(1)["alert_minutes"][slot] == rig.pod_minutes(due)
        assert [due, 2] in rig.beeps_since(count), f"no beep of slot {slot} at {due} ms"
        safety_report.record("alarms", f"slot {slot} [{target}]",
                             f"fired at pod minute {rig.pod_minutes(due)}")
    # 80 h after pairing: fault 0x1C, delivery stopped for good
    end = rig.paired_ms + POD_LIFE
    rig.advance_to(end - 1)
    assert rig.fault() == 0
    pushed = rig.plant()["pushed"]
    count = rig.beep_count()
    rig.advance(1)
    assert rig.fault() == F_EXPIRED
    assert any(ms == end for ms, _ in rig.beeps_since(count)), "the end-of-service fault did not beep"
    d = _expect_fault_detail(rig, F_EXPIRED, end)
    assert d["alerts"] == mask and d["progress_at_fault"] == 8
    assert rig.plant()["pushed"] == pushed
    _assert_stopped(rig, hours=5)
    assert rig.pdm.deactivate()["progress"] == 15


# ============================================================ occlusion

OCCLUSION_CASES = {
    # name: (basal pph, bolus pulses, limit ms, window in which the line blocks)
    "bolus 5 U": ([20] * 48, 100, 35 * MIN, 3 * MIN),
    "basal 1 U/h": ([20] * 48, 0, 5 * HOUR + 30 * MIN, 3 * MIN),
    "basal 0.05 U/h": ([1] * 48, 0, 80 * HOUR, HOUR),
}


@pytest.mark.parametrize("case", list(OCCLUSION_CASES))
def test_occlusion_time_to_alarm(rig: Rig, target, case: str, safety_report: SafetyReport):
    rates, bolus, limit, window = OCCLUSION_CASES[case]
    rng = random.Random(f"{SEED}-{case}")
    rig.activate(rates)
    rig.advance(rng.randrange(HOUR, 3 * HOUR))
    before = rig.plant()["pushed"]
    occluded_at = rig.now()
    rig.occlude(True)
    if bolus:
        # the line is blocked a random moment before the bolus goes into it
        rig.advance(rng.randrange(0, window))
        start_pushed = rig.plant()["pushed"]
        assert rig.pdm.bolus(bolus)["bolus_remaining"] == bolus
    else:
        rig.advance(rng.randrange(0, window))
    fault_ms = None
    for _ in range(400):
        t = rig.step()
        assert t is not None, "the pod has nothing left to do and has not alarmed"
        code = rig.fault()
        if code:
            assert code == F_OCCLUDED, f"the pod faulted {code:#04x} instead of reporting the occlusion"
            fault_ms = t
            break
    assert fault_ms is not None, "no occlusion alarm after 400 pod steps"
    elapsed = fault_ms - occluded_at
    safety_report.record("occlusion: time from occlusion to alarm", f"{case} [{target}] seed {SEED}",
                         f"{minutes_text(elapsed)} (limit {minutes_text(limit)})")
    assert elapsed <= limit, f"{case}: occlusion alarm after {minutes_text(elapsed)}, over the limit"
    d = _expect_fault_detail(rig, F_OCCLUDED, fault_ms)
    assert d["occlusion_type"] == 1 and d["progress_at_fault"] in (8, 9)
    if bolus:
        # the line was blocked before the bolus began: none of it went in, and the pod says so
        assert d["bolus_in_progress"] == 1 and d["bolus_remaining"] == bolus
        assert d["pulses_delivered"] == start_pushed
    plant = rig.plant()
    assert plant["pushed"] == before, "insulin went down a blocked line"
    # the occlusion clears: nothing more goes in than was programmed (and nothing at all, stopped)
    rig.occlude(False)
    _assert_stopped(rig, hours=6)
    assert rig.plant()["pushed"] <= rig.recorded()
    d2 = rig.detailed()
    assert (d2["fault_code"], d2["fault_minutes"], d2["bolus_remaining"]) == \
        (d["fault_code"], d["fault_minutes"], d["bolus_remaining"])
    last = rig.pdm.deactivate()
    assert last["progress"] == 15
