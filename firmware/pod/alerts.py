"""Alert engine of the pod: the 8 slots configured by block 0x19, their triggers and beeps.

Pure logic (no clock, no I/O): the pod calls step(now_ms, reservoir_pulses) and sleeps until the
deadline it returns. Times are integer milliseconds of the scheduler's clock.

Behaviour (PROTOCOL-NOTES §2.4, §2.11, §2.16):
* a time trigger fires `trigger` minutes after the slot was configured; a units trigger fires when
  the reservoir drops to or below `trigger` x 0.1 U, i.e. trigger x 2 pulses;
* a fired slot sets its bit in active_mask() until 0x11 acknowledges it, and its fire time is
  kept for 0E type 1 (trigger_minutes) even after the acknowledgement;
* beeps follow beep_repeat (_PATTERNS), bounded by duration_minutes when non-zero (a beep is due
  only at offsets < duration from the fire time); acknowledging stops them;
* a slot fires once; configuring it again re-arms it; an inactive config clears it;
* auto_off slots whose duration runs out unacknowledged are reported by auto_off_expired() so
  the pod can fault (0x29 + slot).
Beep types 0 (none) and 0xF (no beep) are silent: the bit is set but beep() is not called.
"""
try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

SLOTS = const(8)
MINUTE_MS = const(60000)
_TIME_MASK = const(0x3FFF)  # time triggers are read as 14 bits (PROTOCOL-NOTES §2.4)
_MAX_DURATION = const(0x1FF)
_MAX_REPEAT = const(8)
_SILENT_TYPE = const(0xF)

# One slot is a list of ints (small, persistable), indexed by:
_UNITS = const(0)      # 1: trigger is 0.1 U of reservoir; 0: minutes
_AUTO = const(1)       # auto-off modifier
_DUR = const(2)        # duration minutes, 0 = unbounded
_TRIG = const(3)       # trigger value as configured
_REP = const(4)        # beep_repeat 0..8
_TYPE = const(5)       # beep_type 0..15
_ARMED = const(6)      # ms the countdown of a time trigger started
_FIRED = const(7)      # ms the slot fired (meaningful once _STATUS >= _ON)
_STATUS = const(8)     # _WAITING, _ON (fired, bit set) or _DONE (acknowledged)
_NEXT = const(9)       # index of the next beep of the pattern
_EXPIRED = const(10)   # 1 once an auto-off duration ran out unacknowledged
_FIELDS = const(11)
_WAITING = const(0)
_ON = const(1)
_DONE = const(2)

# beep_repeat -> (first beep minute, minutes between beeps of a burst, beeps per burst,
#                 minutes between bursts or 0 for a single burst)
_PATTERNS = (
    (0, 0, 1, 0),     # 0 once
    (0, 1, 3, 60),    # 1 every minute for 3 minutes, repeated every 60 minutes
    (0, 1, 15, 0),    # 2 every minute for 15 minutes
    (0, 1, 3, 15),    # 3 every minute for 3 minutes, repeated every 15 minutes
    (2, 3, 20, 0),    # 4 every 3 minutes for 60 minutes starting at 2 minutes (2, 5, ... 59)
    (0, 0, 1, 60),    # 5 every 60 minutes
    (0, 0, 1, 15),    # 6 every 15 minutes
    (14, 15, 4, 0),   # 7 every 15 minutes for 60 minutes starting at 14 minutes (14, 29, 44, 59)
    (0, 0, 1, 5),     # 8 every 5 minutes
)


def beep_minute(repeat, k):
    """Minute (from the fire time) of beep number k of pattern `repeat`, or None past its end."""
    start, step, count, period = _PATTERNS[repeat]
    if period == 0 and k >= count:
        return None
    return start + (k // count) * period + (k % count) * step


def check_configs(configs):
    """None when every 0x19 config can be applied, else a sentence saying what is wrong.

    Active configs with beep type 0, 9 or 0xA are refused (the real pod answers error 7);
    type 0xE's dependence on suspension is the pod logic's to check.
    """
    for c in configs:
        try:
            slot = c["slot"]
            active = c["active"]
            ranges = ((slot, 0, SLOTS - 1, "slot"), (c["duration_minutes"], 0, _MAX_DURATION, "duration"),
                      (c["trigger"], 0, 0xFFFF, "trigger"), (c["beep_repeat"], 0, _MAX_REPEAT, "beep repeat"),
                      (c["beep_type"], 0, 15, "beep type"), (active, 0, 1, "active flag"),
                      (c["units_trigger"], 0, 1, "units flag"), (c["auto_off"], 0, 1, "auto-off flag"))
        except (KeyError, TypeError):
            return "An alert configuration lacks a field; send all 8 fields of each config."
        for value, low, high, name in ranges:
            if not isinstance(value, (int, bool)) or value < low or value > high:  # MicroPython: bool is not int
                return "Alert %s %r is out of range %d..%d; send a value in range." % (name, value, low, high)
        if active and c["beep_type"] in (0, 9, 10):
            return "Alert slot %d is active with silent beep type %d; use 1..8 or 0xB..0xF." % (slot, c["beep_type"])
    return None


class Alerts:
    """The 8 alert slots. beep: callable(beep_type) that sounds one beep pattern."""

    def __init__(self, beep):
        self._beep = beep
        self._slots = [None] * SLOTS  # type: list

    # ---- commands
    def configure(self, configs, now_ms):
        """Apply decoded 0x19 configs (all or nothing): re-arm active slots, clear inactive ones."""
        problem = check_configs(configs)
        if problem:
            raise ValueError(problem)
        for c in configs:
            if not c["active"]:
                self._slots[c["slot"]] = None
                continue
            units = 1 if c["units_trigger"] else 0
            trig = c["trigger"] if units else c["trigger"] & _TIME_MASK
            self._slots[c["slot"]] = [units, 1 if c["auto_off"] else 0, c["duration_minutes"], trig,
                                      c["beep_repeat"], c["beep_type"], now_ms, 0, _WAITING, 0, 0]

    def acknowledge(self, mask, now_ms):
        """Acknowledge the fired slots of `mask` (0x11): clear their bits and stop their beeps."""
        for n in range(SLOTS):
            s = self._slots[n]
            if s is not None and mask & (1 << n) and s[_STATUS] == _ON:
                s[_STATUS] = _DONE

    def note_interaction(self, now_ms):
        """Restart the countdown of armed auto-off time slots (the pod heard from the PDM)."""
        for s in self._slots:
            if s is not None and s[_AUTO] and not s[_UNITS] and s[_STATUS] == _WAITING:
                s[_ARMED] = now_ms

    # ---- time
    def step(self, now_ms, reservoir_pulses):
        """Fire due triggers and beeps up to now_ms; return the next deadline (ms) or None.

        Beeps missed by a late call are sounded once, not replayed.
        """
        deadline = None
        for s in self._slots:
            if s is None:
                continue
            if s[_STATUS] == _WAITING:
                if s[_UNITS]:
                    if reservoir_pulses is None or reservoir_pulses > s[_TRIG] * 2:
                        continue
                    s[_FIRED] = now_ms
                else:
                    due = s[_ARMED] + s[_TRIG] * MINUTE_MS
                    if due > now_ms:
                        if deadline is None or due < deadline:
                            deadline = due
                        continue
                    s[_FIRED] = due
                s[_STATUS] = _ON
            if s[_STATUS] != _ON:
                continue
            t = self._beep_at(s, s[_NEXT])
            if t is not None and t <= now_ms:
                while t is not None and t <= now_ms:
                    s[_NEXT] += 1
                    t = self._beep_at(s, s[_NEXT])
                if s[_TYPE] != 0 and s[_TYPE] != _SILENT_TYPE:
                    self._beep(s[_TYPE])
            if t is not None and (deadline is None or t < deadline):
                deadline = t
            if s[_AUTO] and s[_DUR] and not s[_EXPIRED]:
                end = s[_FIRED] + s[_DUR] * MINUTE_MS
                if end <= now_ms:
                    s[_EXPIRED] = 1
                elif deadline is None or end < deadline:
                    deadline = end
        return deadline

    def _beep_at(self, s, k):
        minute = beep_minute(s[_REP], k)
        if minute is None or (s[_DUR] and minute >= s[_DUR]):
            return None
        return s[_FIRED] + minute * MINUTE_MS

    # ---- reports
    def active_mask(self):
        """8-bit mask of fired, unacknowledged slots (status 1D, detailed status)."""
        mask = 0
        for n in range(SLOTS):
            s = self._slots[n]
            if s is not None and s[_STATUS] == _ON:
                mask |= 1 << n
        return mask

    def trigger_minutes(self, activation_ms):
        """Pod minutes at which each slot fired (0 = not fired), for 0E type 1."""
        out = []
        for s in self._slots:
            m = 0
            if s is not None and s[_STATUS] != _WAITING:
                m = max(0, min(0xFFFF, (s[_FIRED] - activation_ms) // MINUTE_MS))
            out.append(m)
        return out

    def auto_off_expired(self):
        """Lowest slot whose auto-off duration ran out unacknowledged (pod faults 0x29 + slot), or None."""
        for n in range(SLOTS):
            s = self._slots[n]
            if s is not None and s[_EXPIRED] and s[_STATUS] == _ON:
                return n
        return None

    def configured(self, slot):
        """True when `slot` holds an active configuration."""
        return self._slots[slot] is not None

    # ---- persistence
    def shift(self, delta_ms):
        """Move every stored time by delta_ms (the clock was restarted after a power cycle)."""
        for s in self._slots:
            if s is not None:
                s[_ARMED] += delta_ms
                s[_FIRED] += delta_ms

    def to_state(self):
        """JSON-able list of 8 entries: None or a list of ints."""
        return [None if s is None else list(s) for s in self._slots]

    @classmethod
    def from_state(cls, beep, state):
        """Rebuild from to_state(); raises ValueError when the state is not one."""
        a = cls(beep)
        if not isinstance(state, list) or len(state) != SLOTS:
            raise ValueError("Alert state must be a list of 8 slots; discard it and reconfigure alerts.")
        for n in range(SLOTS):
            s = state[n]
            if s is None:
                continue
            if (not isinstance(s, list) or len(s) != _FIELDS or not all(isinstance(v, int) for v in s)
                    or not 0 <= s[_REP] <= _MAX_REPEAT or not _WAITING <= s[_STATUS] <= _DONE):
                raise ValueError("Alert slot %d state is malformed; discard it and reconfigure alerts." % n)
            a._slots[n] = list(s)
        return a
