"""Pulse log of the pod: one 32-bit entry per pulse stroke, the last 100 kept in a ring.

Read by 0E types 0x50 (last 50), 0x51 (the 50 before those) and 0x03 (last 60, with fault info).
Entry layout (PROTOCOL-NOTES §2.11, the openomni wiki "Pulse Log Entry"), bit 31 first:

    eeeeee0a pppliiib cccccccc dfgggggg

eeeeee  encoder count: strokes that moved the plunger, mod 64 (a blocked stroke does not count)
a       coil driven: alternates LOAD1 (0) / LOAD2 (1) with every stroke attempted
ppp     pulse mode: 1 basal, 2 temp basal, 3 bolus (prime and cannula too), 4 extended bolus
l       low reservoir signal: 1 at or below 50 U
iii     immediate-bolus tick counter / 2: 0 (the emulator's pulses come exactly on time)
b, c    load count (9 bits, b its low bit): 0, the emulator has no motor load sensor
d       last comparator read: 1 when the stroke moved the plunger
f       encoder validation fault flag: 0
gggggg  signed 6-bit encoder deviation: 0 nominal, -1 (0x3f) when the stroke did not move
"""
import array

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

RING = const(100)
MODE_BASAL = const(1)
MODE_TEMP = const(2)
MODE_BOLUS = const(3)
MODE_EXTENDED = const(4)


def entry(attempt, moved, mode, low, pushed):
    """The dword of stroke number `attempt` (1-based); `moved` strokes so far moved the plunger."""
    return (((moved & 0x3F) << 26) | ((attempt & 1) << 24) | ((mode & 7) << 21) | ((1 if low else 0) << 20)
            | (0x80 if pushed else 0x3F))


class PulseLog:
    """Ring of the last RING entries plus the running counts (attempted, moved).

    The ring is a preallocated array of u32: an entry is a 32-bit word, beyond MicroPython's
    small ints, so a list of them put a fresh heap object per stroke among the pod's long-lived
    data and fragmented a Pico's heap until a snapshot could not be allocated (~48 h)."""

    def __init__(self):
        self.count = 0       # strokes ever logged
        self.moved = 0       # strokes that moved the plunger
        self._ring = array.array("I", [0] * RING)  # stroke k (1-based) at (k - 1) % RING
        self._size = 0       # entries held: the newest min(count, RING)

    def add(self, pushed, mode, low):
        self.count += 1
        if pushed:
            self.moved += 1
        self._ring[(self.count - 1) % RING] = entry(self.count, self.moved, mode, low, pushed)
        if self._size < RING:
            self._size += 1

    def _span(self, first, end):
        """Entries first..end-1 by age (0 = the oldest held), oldest first."""
        ring = self._ring
        base = self.count - self._size  # strokes before the oldest held
        return [ring[(base + i) % RING] for i in range(max(0, first), end)]

    @property
    def entries(self):
        """Every entry held, oldest first."""
        return self._span(0, self._size)

    def last(self, n):
        """The newest n entries, oldest first."""
        return self._span(self._size - n, self._size) if n else []

    def before_last(self, skip, n):
        """Up to n entries preceding the newest `skip`, oldest first."""
        end = self._size - skip
        if end <= 0:
            return []
        return self._span(end - n, end)

    def last_index(self):
        """Index (0-based, 16 bits) of the newest entry; 0 when empty."""
        return (self.count - 1) & 0xFFFF if self.count else 0

    def to_words(self):
        """[count, moved, entries...]: u32 words for Store.save_words."""
        return [self.count & 0xFFFFFFFF, self.moved & 0xFFFFFFFF] + self.entries

    @classmethod
    def from_words(cls, words):
        """Rebuild from to_words(); raises ValueError when the words are not a pulse log."""
        if (not isinstance(words, list) or not 2 <= len(words) <= RING + 2 or words[1] > words[0]
                or len(words) - 2 > words[0]):
            raise ValueError("Pulse log record is malformed; discard it.")
        log = cls()
        log.count, log.moved = words[0], words[1]
        log._size = len(words) - 2
        base = log.count - log._size
        for i in range(log._size):
            log._ring[(base + i) % RING] = words[2 + i]
        return log
