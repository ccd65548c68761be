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
from array import array

try:
    from micropython import const
except ImportError:  # CPython (tests): const() is only a compiler hint
    const = int

PLANT_FILE = "plant.json"
STROKES_FILE = "strokes.log"  # "<first stroke number>" then one "<ms * 2 + pushed>" line per stroke
STROKES_OLD = "strokes.old"   # the previous log file, STROKES_KEPT strokes before the current one
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
        # Each stroke is one int (ms * 2 + pushed) in a ring allocated once (512 pairs of lists
        # cost ~30 KB of a 64-bit port's heap, and a growing list needs ever larger blocks).
        # The log file is appended to, never rewritten; when it holds STROKES_KEPT strokes it
        # becomes the old file and a new one starts (no buffer of the whole log is ever built).
        self.clock = None  # set by the hal: the emulator clock that times each stroke
        self.stroke_count = 0
        self._ring = array("q", [0] * STROKES_KEPT)
        self._file_lines = -1  # strokes in the log file after its first line; -1: start a new one

    def pulse(self):
        """One stroke of the mechanism; True when a pulse of insulin was pushed."""
        moved = self._stroke()
        entry = (self.clock.now_ms() if self.clock is not None else 0) * 2 + (1 if moved else 0)
        self._ring[self.stroke_count % STROKES_KEPT] = entry
        self.stroke_count += 1
        storage = self.storage
        if storage is not None:
            if not 0 <= self._file_lines < STROKES_KEPT:
                self._new_log_file(storage)
            storage.append(STROKES_FILE, b"%d\n" % entry)
            self._file_lines += 1
        self.record()
        return moved

    def _kept(self, first, end):
        ring = self._ring
        return [[ring[n % STROKES_KEPT] >> 1, ring[n % STROKES_KEPT] & 1] for n in range(first, end)]

    @property
    def strokes(self):
        """The kept strokes, oldest first, as [clock ms, 1 pushed | 0 not]."""
        return self._kept(self._oldest(), self.stroke_count)

    def _oldest(self):
        return max(0, self.stroke_count - STROKES_KEPT)

    def _new_log_file(self, storage):
        """The current file (when whole) becomes the old one; a new one starts at this stroke."""
        storage.remove(STROKES_OLD)
        if self._file_lines >= 0:
            storage.rename(STROKES_FILE, STROKES_OLD)
        storage.write(STROKES_FILE, b"%d\n" % (self.stroke_count - 1))
        self._file_lines = 0

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
        first = max(since, self._oldest())
        return first, self._kept(first, min(self.stroke_count, first + most))

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
        if len(state) >= 7:  # a state that carried its stroke log itself
            p._restore_log(int(state[5]) - len(state[6]), [int(ms) * 2 + int(ok) for ms, ok in state[6]])
        return p

    @classmethod
    def load(cls, storage, fallback_state, fill_pulses):
        """The plant recorded in storage, else the one of fallback_state (older sim.json), else a
        full reservoir of fill_pulses; it records itself to storage from now on."""
        plant = None
        for state in (_read(storage), fallback_state):
            if state is not None:
                try:
                    plant = cls.from_state(state, storage)
                    break
                except (TypeError, ValueError, IndexError, KeyError):
                    pass
        if plant is None:
            plant = cls(fill_pulses, storage)
        plant._read_log()
        return plant

    def _read_log(self):
        """The stroke log files, when there are any, are the log (the first line of each numbers
        its first stroke); a line cut by a power cut ends the log there."""
        if self.storage is None:
            return
        log = []
        first = None
        whole = False
        for name in (STROKES_OLD, STROKES_FILE):
            raw = self.storage.read(name)
            if not raw:
                continue
            lines = raw.split(b"\n")
            try:
                start = int(lines[0])
                entries = [int(line) for line in lines[1:-1]]  # the last piece follows the final newline
            except ValueError:
                continue
            if first is None or start != first + len(log):
                first, log = start, []  # not contiguous with the old file: keep the current one
            log.extend(entries)
            whole = raw.endswith(b"\n")
            self._file_lines = len(entries) if whole else -1
        if first is not None:
            self._restore_log(first, log)

    def _restore_log(self, first, log):
        self.stroke_count = first + len(log)
        for i in range(max(0, len(log) - STROKES_KEPT), len(log)):
            self._ring[(first + i) % STROKES_KEPT] = log[i]


def _read(storage):
    raw = storage.read(PLANT_FILE)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None
