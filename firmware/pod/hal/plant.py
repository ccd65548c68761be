# pod/hal/plant.py - the simulated pumping mechanism: what physically happens to the insulin.
#
# Kept apart from the firmware's own bookkeeping on purpose: the firmware counts the pulses it
# commanded, the plant counts what was pushed, so a test can compare the two (occlusion, an empty
# reservoir, a power cut between the write-ahead counter and the pulse).


class Plant:
    """A reservoir of `reservoir_pulses` (0.05 U each) behind a plunger that can be occluded."""

    def __init__(self, reservoir_pulses):
        if reservoir_pulses < 0:
            raise ValueError("the reservoir cannot hold a negative amount")
        self.reservoir_pulses = reservoir_pulses  # physically left in the reservoir
        self.pushed = 0                           # pulses that went down the line
        self.occluded = False
        self.blocked = 0                          # pulse attempts stopped by an occlusion
        self.dry = 0                              # pulse attempts with an empty reservoir

    def pulse(self):
        """One stroke of the mechanism; True when a pulse of insulin was pushed."""
        if self.occluded:
            self.blocked += 1
            return False
        if self.reservoir_pulses <= 0:
            self.dry += 1
            return False
        self.reservoir_pulses -= 1
        self.pushed += 1
        return True

    def set_occluded(self, on):
        self.occluded = bool(on)

    def info(self):
        return {
            "pushed": self.pushed,
            "reservoir_pulses": self.reservoir_pulses,
            "occluded": self.occluded,
            "blocked": self.blocked,
            "dry": self.dry,
        }

    def to_state(self):
        return [self.reservoir_pulses, self.pushed, 1 if self.occluded else 0, self.blocked, self.dry]

    @classmethod
    def from_state(cls, state):
        p = cls(state[0])
        p.pushed, p.occluded, p.blocked, p.dry = state[1], bool(state[2]), state[3], state[4]
        return p
