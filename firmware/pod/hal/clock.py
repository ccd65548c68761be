# pod/hal/clock.py - the pod's clocks: one monotonic integer millisecond counter each.
#
# The scheduler reads time only through these objects, never through time.ticks_ms directly.
# The real clock accumulates bounded ticks_diff() deltas into an unbounded integer, so the
# 2**30 ms ticks period of a Pico (12.4 days) never shows through; the virtual clock moves only
# when the scheduler sets it (bench "advance").

import time

_PERIOD = 1 << 30  # the Pico's ticks_ms period; CPython tests use it too


def _py_ticks_ms():
    return (getattr(time, "monotonic_ns")() // 1000000) & (_PERIOD - 1)


def _py_ticks_diff(a, b):
    return ((a - b + _PERIOD // 2) & (_PERIOD - 1)) - _PERIOD // 2


if hasattr(time, "ticks_ms"):  # MicroPython
    _TICKS = (getattr(time, "ticks_ms"), getattr(time, "ticks_diff"))
else:  # CPython (tests)
    _TICKS = (_py_ticks_ms, _py_ticks_diff)


class RealClock:
    """Wall-clock time, optionally sped up `speed` times (integer). now_ms() never goes back."""

    kind = "real"

    def __init__(self, speed=1, start_ms=0, ticks_ms=None, ticks_diff=None):
        if not isinstance(speed, int) or speed < 1:
            raise ValueError("the clock speed must be a whole number of at least 1")
        self.speed = speed
        self._ticks_ms = ticks_ms or _TICKS[0]
        self._ticks_diff = ticks_diff or _TICKS[1]
        self._last = self._ticks_ms()
        self._now = start_ms

    def now_ms(self):
        t = self._ticks_ms()
        d = self._ticks_diff(t, self._last)
        if d >= 0:  # a negative delta is a misread tick source: ignore it, never go back
            self._now += d * self.speed
            self._last = t
        return self._now

    def resume_at(self, ms):
        """Move the clock forward to ms if it is behind (the pod saved a later time)."""
        self.now_ms()
        if ms > self._now:
            self._now = ms

    def wait_ms(self, deadline_ms):
        """Real milliseconds to sleep until the pod clock reaches deadline_ms (0 when due)."""
        left = deadline_ms - self.now_ms()
        if left <= 0:
            return 0
        return (left + self.speed - 1) // self.speed


class VirtualClock:
    """Simulated time: stands still until set_ms()/advance_ms() moves it forward."""

    kind = "virtual"
    speed = 0

    def __init__(self, start_ms=0):
        self._now = start_ms

    def now_ms(self):
        return self._now

    def set_ms(self, ms):
        if ms < self._now:
            raise ValueError("the virtual clock cannot go back (%d ms < %d ms)" % (ms, self._now))
        self._now = ms

    def resume_at(self, ms):
        """Move the clock forward to ms if it is behind (the pod saved a later time)."""
        if ms > self._now:
            self._now = ms

    def advance_ms(self, ms):
        self.set_ms(self._now + ms)
        return self._now
