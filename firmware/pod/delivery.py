"""Pure delivery engine of the pod: which insulin programs run and when each whole pulse is due.

Three programs at most: the basal program (1A table 0), a temp basal (1A table 1) that replaces
it while it runs, and one bolus (1A table 2: prime, cannula, immediate and/or extended) that runs
on top of either. Each program is a PulsePlan from eros.plan (integer ms). The engine pushes no
pulse itself: the pod asks next_event() for the earliest due event, calls take() for it and
pushes the pulses it returns, so pulses due at one instant are carried out in a fixed order.
"""
try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

# events, in the order they are carried out when due at the same instant
EV_BOLUS = const(0)
EV_TEMP = const(1)
EV_TEMP_END = const(2)
EV_BASAL = const(3)

# what a bolus program is for
BOLUS_NORMAL = const(0)
BOLUS_PRIME = const(1)
BOLUS_CANNULA = const(2)

_HALF_HOUR_MS = const(1800000)


class Delivery:
    """The running programs. `*_src` keep the encoded 1A + extra blocks so a store can rebuild them."""

    def __init__(self):
        self.basal = None
        self.basal_src = None
        self.basal_start = 0
        self.temp = None
        self.temp_src = None
        self.temp_start = 0
        self.temp_end = 0
        self.bolus = None
        self.bolus_src = None
        self.bolus_start = 0
        self.bolus_kind = BOLUS_NORMAL
        self.undelivered = 0   # pulses left of the last bolus that was cancelled or stopped
        self.missed = 0        # bolus pulses of the running bolus the mechanism could not push
        self.finished = -1     # bolus kind of a bolus that just completed, -1 = none

    # ---- programs
    def start_basal(self, plan, src, now_ms):
        plan.start(now_ms)
        self.basal = plan
        self.basal_src = src
        self.basal_start = now_ms

    def start_temp(self, plan, src, half_hours, now_ms):
        plan.start(now_ms)
        self.temp = plan
        self.temp_src = src
        self.temp_start = now_ms
        self.temp_end = now_ms + half_hours * _HALF_HOUR_MS

    def start_bolus(self, plan, src, kind, now_ms):
        plan.start(now_ms)
        self.bolus = plan
        self.bolus_src = src
        self.bolus_start = now_ms
        self.bolus_kind = kind
        self.undelivered = 0
        self.missed = 0

    def cancel(self, bits):
        """Stop the programs of the 1F bits (4 bolus, 2 temp, 1 basal; basal also ends a temp)."""
        if bits & 4 and self.bolus is not None:
            self.undelivered = self.bolus_left() + self.missed
            self.missed = 0
            self.bolus = None
            self.bolus_src = None
        if bits & 3:
            self.temp = None
            self.temp_src = None
        if bits & 1:
            self.basal = None
            self.basal_src = None

    def stop_all(self):
        """Fault, timeout or deactivation: nothing runs any more."""
        self.cancel(7)

    # ---- reports
    def bolus_left(self):
        """Pulses of the running bolus not yet delivered (immediate + extended)."""
        if self.bolus is None:
            return 0
        n = self.bolus.remaining_pulses()
        return n if n else 0

    def immediate_left(self):
        if self.bolus is None:
            return 0
        n = self.bolus.immediate_remaining()
        return n if n else 0

    def bits(self):
        """Delivery status bits: 1 basal, 2 temp basal, 4 immediate bolus, 8 extended bolus."""
        b = 0
        if self.temp is not None:
            b = 2
        elif self.basal is not None:
            b = 1
        if self.bolus is not None:
            if self.immediate_left() > 0:
                b |= 4
            elif self.bolus_left() > 0:
                b |= 8
        return b

    # ---- time
    def next_event(self):
        """(due_ms, event) of the earliest event, or None when nothing is scheduled."""
        best = None
        ev = -1
        if self.bolus is not None:
            t = self.bolus.next_due_ms()
            if t is not None:
                best = t
                ev = EV_BOLUS
        if self.temp is not None:
            t = self.temp.next_due_ms()
            if t is not None and (best is None or t < best):
                best = t
                ev = EV_TEMP
            t = self.temp_end
            if best is None or t < best:
                best = t
                ev = EV_TEMP_END
        if self.basal is not None:
            t = self.basal.next_due_ms()
            if t is not None and (best is None or t < best):
                best = t
                ev = EV_BASAL
        if best is None:
            return None
        return best, ev

    def take(self, ev, t):
        """Carry out event `ev` due at `t`: the number of pulses to push now (0 for timers)."""
        if ev == EV_BOLUS:
            p = self.bolus
            if p is None:
                return 0
            n = p.take(t)
            if p.next_due_ms() is None:
                self.finished = self.bolus_kind
                self.bolus = None
                self.bolus_src = None
            return n
        if ev == EV_TEMP or ev == EV_TEMP_END:
            p = self.temp
            if p is None:
                return 0
            n = p.take(t) if ev == EV_TEMP else 0
            nxt = p.next_due_ms()
            if nxt is None and t >= self.temp_end:
                self.temp = None
                self.temp_src = None
            elif ev == EV_TEMP_END and nxt is not None:
                self.temp_end = nxt  # the temp ends after its last pulse when that comes later
            return n
        p = self.basal
        if p is None:
            return 0
        n = p.take(t)
        if self.temp is not None:
            return 0  # the basal keeps its place (and count) during a temp; its pulses due meanwhile are lost (SPEC 7.5)
        return n

    def pop_finished(self):
        """Kind of the bolus that just completed (BOLUS_*), or -1; clears it."""
        k = self.finished
        self.finished = -1
        return k

    # ---- persistence
    def to_state(self):
        """JSON-able dict: each running program as its encoded blocks (hex) and start time."""
        return {"basal": self.basal_src, "basal_start": self.basal_start,
                "temp": self.temp_src, "temp_start": self.temp_start, "temp_end": self.temp_end,
                "bolus": self.bolus_src, "bolus_start": self.bolus_start, "bolus_kind": self.bolus_kind,
                "undelivered": self.undelivered, "missed": self.missed}

    def restore(self, state, make_plan, upto_ms):
        """Rebuild from to_state(): make_plan(src) -> PulsePlan; pulses due up to upto_ms are
        taken as already carried out (they were, before the state was saved)."""
        self.undelivered = state["undelivered"]
        self.missed = state.get("missed", 0)
        src = state["basal"]
        if src:
            p = make_plan(src)
            self.start_basal(p, src, state["basal_start"])
            p.take(upto_ms)
        src = state["temp"]
        if src:
            p = make_plan(src)
            p.start(state["temp_start"])
            p.take(upto_ms)
            self.temp = p
            self.temp_src = src
            self.temp_start = state["temp_start"]
            self.temp_end = state["temp_end"]
        src = state["bolus"]
        if src:
            p = make_plan(src)
            p.start(state["bolus_start"])
            p.take(upto_ms)
            if p.next_due_ms() is None:
                return  # it had just finished
            self.bolus = p
            self.bolus_src = src
            self.bolus_start = state["bolus_start"]
            self.bolus_kind = state["bolus_kind"]
