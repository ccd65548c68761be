"""Clocks of the pod (firmware/pod/hal/clock.py): wrap-proof real time, speed-up, virtual time."""
from __future__ import annotations


import pytest


from pod.hal.clock import RealClock, VirtualClock

PERIOD = 1 << 30  # the Pico's ticks_ms period


class FakeTicks:
    """A hand-driven ticks_ms with the Pico's wrap-around, and MicroPython's ticks_diff."""

    def __init__(self, start: int) -> None:
        self.t = start % PERIOD

    def ticks_ms(self) -> int:
        return self.t

    def move(self, ms: int) -> None:
        self.t = (self.t + ms) % PERIOD

    @staticmethod
    def ticks_diff(a: int, b: int) -> int:
        return ((a - b + PERIOD // 2) & (PERIOD - 1)) - PERIOD // 2


def test_real_clock_counts_across_the_ticks_wrap() -> None:
    ticks = FakeTicks(PERIOD - 600_000)  # wraps 10 minutes in
    clock = RealClock(ticks_ms=ticks.ticks_ms, ticks_diff=ticks.ticks_diff)
    assert clock.now_ms() == 0
    total = 0
    for _ in range(100):  # 100 h read every hour
        ticks.move(3_600_000)
        total += 3_600_000
        assert clock.now_ms() == total
    for _ in range(30):  # 30 more days, read every 5 days (under the 6.2-day ticks_diff horizon)
        ticks.move(5 * 86_400_000)
        total += 5 * 86_400_000
        assert clock.now_ms() == total
    assert total > 3 * PERIOD  # the wrap happened several times


def test_real_clock_speed_and_start() -> None:
    ticks = FakeTicks(123)
    clock = RealClock(speed=60, start_ms=5_000, ticks_ms=ticks.ticks_ms, ticks_diff=ticks.ticks_diff)
    ticks.move(1_000)
    assert clock.now_ms() == 5_000 + 60_000
    assert clock.wait_ms(5_000 + 60_000 + 6_000) == 100      # 6 pod seconds = 100 real ms
    assert clock.wait_ms(5_000 + 60_000 + 61) == 2            # rounded up, never early
    assert clock.wait_ms(1) == 0                              # already due


def test_real_clock_never_goes_back() -> None:
    ticks = FakeTicks(1_000_000)
    clock = RealClock(ticks_ms=ticks.ticks_ms, ticks_diff=ticks.ticks_diff)
    ticks.move(500)
    assert clock.now_ms() == 500
    ticks.t -= 200  # a misread tick source
    assert clock.now_ms() == 500
    ticks.move(300)
    assert clock.now_ms() == 600


def test_real_clock_runs_on_cpython_ticks() -> None:
    clock = RealClock()
    a = clock.now_ms()
    assert clock.now_ms() >= a >= 0


@pytest.mark.parametrize("speed", [0, -1, 2.5])
def test_real_clock_refuses_bad_speed(speed) -> None:
    with pytest.raises(ValueError, match="whole number"):
        RealClock(speed=speed)


def test_virtual_clock_moves_only_when_told() -> None:
    clock = VirtualClock(1_000)
    assert clock.now_ms() == clock.now_ms() == 1_000
    assert clock.advance_ms(80 * 3_600_000) == 1_000 + 288_000_000
    clock.set_ms(288_001_000)
    assert clock.now_ms() == 288_001_000
    with pytest.raises(ValueError, match="cannot go back"):
        clock.set_ms(5)
    assert clock.now_ms() == 288_001_000
