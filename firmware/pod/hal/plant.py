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

try:
    from micropython import const
except ImportError:  # CPython (tests): const() is only a compiler hint
    const = int

PLANT_FILE = "plant.json"
STROKES_KEPT = const(512)  # the newest strokes kept (with their times) for the bench "strokes" op


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
        # The stroke log: [clock ms, 1 pushed | 0 not] per stroke, newest last; strokes[0] is
        # stroke number stroke_count - len(strokes). A virtual patient on the host reads it to
        # receive exactly the insulin that went in, at the time it went in.
        self.clock = None  # set by the hal: the emulator clock that times each stroke
        self.stroke_count = 0
        self.strokes = []

    def pulse(self):
        """One stroke of the mechanism; True when a pulse of insulin was pushed."""
        moved = self._stroke()
        self.stroke_count += 1
        self.strokes.append([self.clock.now_ms() if self.clock is not None else 0, 1 if moved else 0])
        if len(self.strokes) > STROKES_KEPT:
            self.strokes.pop(0)
        self.record()
        return moved

    def _stroke(self):
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
        return moved

    def strokes_since(self, since, most):
        """(first, strokes): up to `most` logged strokes from number `since` on (or from the
        oldest one still kept, `first`, when `since` is older)."""
        oldest = self.stroke_count - len(self.strokes)
        first = max(since, oldest)
        return first, self.strokes[first - oldest:first - oldest + most]

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
        return [self.reservoir_pulses, self.pushed, 1 if self.occluded else 0, self.blocked, self.dry,
                self.stroke_count, self.strokes]

    @classmethod
    def from_state(cls, state, storage=None):
        p = cls(state[0], storage)
        p.pushed, p.occluded, p.blocked, p.dry = state[1], bool(state[2]), state[3], state[4]
        if len(state) >= 7:  # older states have no stroke log
            p.stroke_count, p.strokes = int(state[5]), [[int(ms), int(ok)] for ms, ok in state[6]]
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
