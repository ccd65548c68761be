"""A realistic pod life for the benchmarks, and an independent count of the pulses it must give.

The basal program is 1 U/h by day (06:00-22:00, 20 pulses/h) and 0.8 U/h at night (16 pulses/h),
anchored at 08:00 when it is programmed. Both rates give whole pulses per half-hour, so pulse k of a
half-hour falls at its start + k * interval (the last one on its end); `expected_pulses` counts them
from that rule alone, not from the codec's plans. Temp basals and checks are placed off that grid
(and boluses long before any check), so no pulse sits on a boundary the model would have to guess.
"""
from __future__ import annotations

import time

from system.pdm_driver import Pdm, activate
from system.podlink import PodLink

LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE     # the firmware's defaults (pod/config.py)
S = 1000
MIN = 60 * S
HOUR = 60 * MIN
HALF_HOUR = 30 * MIN
DAY = 24 * HOUR
POD_LIFE_MS = 80 * HOUR                          # fault 0x1C at 80 h after pairing (pairing at 0)
BASAL_AT_MS = 55 * S                             # pdm_driver.activate programs the basal 55 s in
BASAL_TOD_MS = 8 * HOUR                          # ... as 08:00
SETUP_PULSES = 52 + 10                           # prime + cannula
RATES = [20 if 12 <= h < 44 else 16 for h in range(48)]   # pulses per hour per half-hour of the day


def bolus(at_ms: int, pulses: int, ext_pulses: int = 0, ext_half_hours: int = 0) -> tuple:
    return ("bolus", at_ms, pulses, ext_pulses, ext_half_hours)


def temp(at_ms: int, rate_pph: int, half_hours: int) -> tuple:
    return ("temp", at_ms, rate_pph, half_hours)


# the 80-hour run: a few boluses and a temp basal early, then the rest of the pod's life
EVENTS_80H = [bolus(1 * HOUR, 40), temp(2 * HOUR + 90 * S, 30, 4), bolus(4 * HOUR, 20, 10, 2)]
# three days of use, checked every 6 h, then the 80 h fault
EVENTS_3D = [bolus(4 * HOUR, 40), temp(10 * HOUR + 90 * S, 30, 4), bolus(26 * HOUR, 30),
             temp(34 * HOUR + 90 * S, 0, 2), bolus(50 * HOUR, 20, 10, 2), temp(58 * HOUR + 100 * S, 40, 2),
             bolus(66 * HOUR, 20)]
CHECKS_3D = [h * HOUR for h in range(6, 79, 6)]


def _basal_pulse_times(until_ms: int):
    t0, tod = BASAL_AT_MS, BASAL_TOD_MS
    seg = 0
    while True:
        start = t0 + seg * HALF_HOUR
        if start >= until_ms:
            return
        rate = RATES[((tod + seg * HALF_HOUR) % DAY) // HALF_HOUR]
        step = HOUR // rate
        for k in range(1, rate // 2 + 1):
            yield start + k * step
        seg += 1


def expected_pulses(events: list[tuple], at_ms: int) -> int:
    """Pulses the pod must have given by at_ms (capped at the 80 h fault)."""
    end = min(at_ms, POD_LIFE_MS)
    temps = [(e[1], e[1] + e[3] * HALF_HOUR, e[2]) for e in events if e[0] == "temp"]
    n = SETUP_PULSES
    for t in _basal_pulse_times(end + 1):
        if t <= end and not any(a < t <= b for a, b, _ in temps):
            n += 1
    for a, b, rate in temps:
        if rate:
            step = HOUR // rate
            n += sum(1 for k in range(1, rate * (b - a) // HOUR + 1) if a + k * step <= end)
    for e in events:
        if e[0] == "bolus" and e[1] < end:
            done = e[1] + e[2] * 2 * S + e[4] * HALF_HOUR + MIN
            assert end >= done, "the scenario checks while a bolus runs: move the check"
            n += e[2] + e[3]
    return n


class Run:
    """One PDM session against a running firmware, on the bench's virtual clock."""

    def __init__(self, link: PodLink) -> None:
        self.link = link
        self.pdm = Pdm(link.send_message, LOT, TID, ADDR)
        self.now = 0
        self.advance_calls = 0
        self.advance_wall = 0.0

    def advance(self, ms: int) -> None:
        t = time.perf_counter()
        reply = self.link.bench_ok({"op": "advance", "ms": ms}, timeout=300.0)
        self.advance_wall += time.perf_counter() - t
        self.advance_calls += 1
        self.now = reply["now_ms"]

    def advance_to(self, at_ms: int) -> None:
        if at_ms > self.now:
            self.advance(at_ms - self.now)

    def activate(self) -> None:
        replies = activate(self.pdm, self.advance, RATES, BASAL_TOD_MS - BASAL_AT_MS)
        progress = [r["progress"] for r in replies[2:]]
        assert progress == [3, 3, 4, 5, 6, 7, 8], f"activation went wrong: progress {progress}"

    def play(self, event: tuple) -> None:
        self.advance_to(event[1])
        if event[0] == "bolus":
            reply = self.pdm.bolus(event[2], extended_pulses=event[3], extended_half_hours=event[4])
        else:
            reply = self.pdm.temp_basal(event[2], event[3])
        assert reply["type"] == 0x1D and reply["delivery"] != 0, f"{event} refused: {reply}"

    def check(self, events: list[tuple]) -> int:
        """Status and mechanism must both show exactly the modelled pulse count."""
        status = self.pdm.status()
        pushed = self.link.bench_ok({"op": "plant"})["pushed"]
        want = expected_pulses(events, self.now)
        got = status["pulses_delivered"]
        assert got == pushed == want, f"at {self.now} ms: status {got}, plant {pushed}, expected {want}"
        if self.now < POD_LIFE_MS:
            assert status["type"] == 0x1D and status["progress"] in (8, 9), status
        return got

    def check_fault(self, events: list[tuple]) -> int:
        """At or after 80 h: the pod faulted 0x1C at 80 h and delivered exactly the expected pulses."""
        status = self.pdm.status()
        assert status["type"] == 0x02, f"no fault at {self.now} ms: {status}"
        assert status["fault_code"] == 0x1C and status["progress"] == 13, status
        assert status["fault_minutes"] == POD_LIFE_MS // MIN, status
        pushed = self.link.bench_ok({"op": "plant"})["pushed"]
        want = expected_pulses(events, self.now)
        assert status["pulses_delivered"] == pushed == want, \
            f"after the fault: status {status['pulses_delivered']}, plant {pushed}, expected {want}"
        return want

    def pod_errors(self) -> int:
        return self.link.bench_ok({"op": "info"})["pod_errors"]


def three_days(run: Run) -> int:
    """Activation, 3 days of boluses, temp basals and status checks, then the 80 h fault."""
    run.activate()
    run.check(EVENTS_3D)
    pending = sorted([(e[1], e) for e in EVENTS_3D] + [(c, None) for c in CHECKS_3D], key=lambda x: x[0])
    for at, event in pending:
        if event is None:
            run.advance_to(at)
            run.check(EVENTS_3D)
        else:
            run.play(event)
    run.advance_to(POD_LIFE_MS)
    return run.check_fault(EVENTS_3D)
