# pod/hal/plant.py - the simulated pumping mechanism: what physically happens to the insulin.
#
# Kept apart from the firmware's own bookkeeping on purpose: the firmware counts the pulses it
# commanded, the plant counts what was pushed, so a test can compare the two (occlusion, an empty
# reservoir, a power cut between the write-ahead counter and the pulse).
#
# The plant is the physical truth, so it outlives the process: with a storage it records itself
# (atomic write of "plant.json") right after every stroke and every change, so a SIGKILL loses
# nothing physical. Order per pulse: the firmware writes its delivered counter (write-ahead), the
# plant pushes, the plant records what it pushed.

import json

PLANT_FILE = "plant.json"


class Plant:
    """A reservoir of `reservoir_pulses` (0.05 U each) behind a plunger that can be occluded."""

    def __init__(self, reservoir_pulses, storage=None):
        if reservoir_pulses < 0:
            raise ValueError("the reservoir cannot hold a negative amount")
        self.storage = storage
        self.reservoir_pulses = reservoir_pulses  # physically left in the reservoir
        self.pushed = 0                           # pulses that went down the line
        self.occluded = False
        self.blocked = 0                          # pulse attempts stopped by an occlusion
        self.dry = 0                              # pulse attempts with an empty reservoir

    def pulse(self):
        """One stroke of the mechanism; True when a pulse of insulin was pushed."""
        if self.occluded:
            self.blocked += 1
            moved = False
        elif self.reservoir_pulses <= 0:
            self.dry += 1
            moved = False
        else:
            self.reservoir_pulses -= 1
            self.pushed += 1
            moved = True
        self.record()
        return moved

    def position(self):
        """Where the plunger stands, in pulses pushed since the fill (an absolute encoder's reading)."""
        return self.pushed

    def set_occluded(self, on):
        # A blocked line holds nothing back for later: when it clears, no stored-up bolus goes in.
        self.occluded = bool(on)
        self.record()

    def record(self):
        """Write the plant's state to its storage (no-op without one)."""
        if self.storage is not None:
            self.storage.write(PLANT_FILE, json.dumps(self.to_state()).encode())

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
    def from_state(cls, state, storage=None):
        p = cls(state[0], storage)
        p.pushed, p.occluded, p.blocked, p.dry = state[1], bool(state[2]), state[3], state[4]
        return p

    @classmethod
    def load(cls, storage, fallback_state, fill_pulses):
        """The plant recorded in storage, else the one of fallback_state (older sim.json), else a
        full reservoir of fill_pulses; it records itself to storage from now on."""
        for state in (_read(storage), fallback_state):
            if state is not None:
                try:
                    return cls.from_state(state, storage)
                except (TypeError, ValueError, IndexError, KeyError):
                    pass
        return cls(fill_pulses, storage)


def _read(storage):
    raw = storage.read(PLANT_FILE)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
