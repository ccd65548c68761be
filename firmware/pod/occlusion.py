"""Occlusion detector: counts the pulses the mechanism could not push since the last one that did.

Pure logic. The pod reports every attempted pulse with on_pulse(pushed); once the missed insulin
reaches the threshold (default 60 pulses = 3 U, settable 60..100 = 3..5 U, the published Omnipod
trigger "3-5 U missed") the detector latches `occluded` and the pod faults 0x14 and stops.

Why this meets the published maximum times to alarm (SAFETY-NOTES §5.3, R7.6). In the worst case
the line blocks just after a good pulse, so the alarm comes threshold x pulse interval later:
* 5 U bolus (2 s per pulse, 100 pulses): 60 missed pulses after 120 s (100 -> 200 s), far below
  the 35 min maximum; a bolus shorter than the threshold is completed by the basal that follows.
* 1 U/h basal (20 pulses/h, one every 180 s): 60 x 180 s = 3.0 h (100 -> 5.0 h) <= 5.5 h.
* 0.05 U/h basal (1 pulse/h): 60 h (80 pulses -> 80 h) <= 80 h; above 80 pulses the 80 h end of
  service (fault 0x1C) stops the pod first, which is the label's stated maximum (= pod expiry).
"""
try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

DEFAULT_THRESHOLD = const(60)   # pulses = 3 U
MIN_THRESHOLD = const(60)
MAX_THRESHOLD = const(100)      # 5 U


class OcclusionDetector:
    """Missed-pulse counter with a latched occlusion verdict."""

    def __init__(self, threshold_pulses=DEFAULT_THRESHOLD):
        self.threshold = DEFAULT_THRESHOLD
        self.set_threshold(threshold_pulses)
        self.missed = 0
        self.occluded = False

    def set_threshold(self, pulses):
        """Set the missed-pulse threshold (60..100); raises ValueError and keeps the old one otherwise."""
        if not isinstance(pulses, int) or not MIN_THRESHOLD <= pulses <= MAX_THRESHOLD:
            raise ValueError("Occlusion threshold %r is out of range; give %d..%d pulses (3..5 U)."
                             % (pulses, MIN_THRESHOLD, MAX_THRESHOLD))
        self.threshold = pulses

    def on_pulse(self, pushed):
        """Record one attempted pulse; True once the missed insulin reached the threshold (latched)."""
        if not self.occluded:
            if pushed:
                self.missed = 0
            else:
                self.missed += 1
                if self.missed >= self.threshold:
                    self.occluded = True
        return self.occluded

    def reset(self):
        """Forget missed pulses and the verdict (a new pod)."""
        self.missed = 0
        self.occluded = False

    def to_state(self):
        """JSON-able [threshold, missed, occluded]."""
        return [self.threshold, self.missed, 1 if self.occluded else 0]

    @classmethod
    def from_state(cls, state):
        """Rebuild from to_state(); raises ValueError when the state is not one."""
        try:
            threshold, missed, occluded = state
        except (TypeError, ValueError):
            raise ValueError("Occlusion state must be [threshold, missed, occluded]; discard it.")
        det = cls(threshold)
        if not isinstance(missed, int) or missed < 0:
            raise ValueError("Occlusion missed-pulse count %r is invalid; discard the state." % (missed,))
        det.missed = missed
        det.occluded = bool(occluded) or missed >= det.threshold
        return det
