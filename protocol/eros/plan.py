"""The pod's reverse of an insulin schedule: 1A + 13/16/17 blocks -> the times of whole pulses.

plan_from_blocks checks the 1A checksum and that the table agrees with its timing block, then
returns a PulsePlan that walks the 1/10-pulse timing: each rate entry delivers its tenths one
interval apart (the first after the block's delay), a whole pulse goes out at every tenth tenth.
Time is integer ms plus an integer µs carry (0..999), so no value outgrows a Pico's small ints.
"""

from eros.errors import ProtocolError
from eros.insulin import expand_elements, verify_1a

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

_MIN_INTERVAL_US = const(100000)       # 1 s per pulse: the fastest the pod delivers (prime)
_MAX_INTERVAL_US = 1800000000          # 5 h per pulse (0x6b49d200), also the zero-rate entry
_HALF_HOUR_US = 1800000000
_SLACK_US = const(1000000)             # durations rebuilt from floored µs intervals: 1 s slack

_KINDS = ("basal", "temp", "bolus")
_EXTRA_FOR_TABLE = (0x13, 0x16, 0x17)


def _fail(msg):
    raise ProtocolError(msg)


def _half_hours(tenths, interval_us, where):
    """Half-hours covered by a rate entry (a zero entry lasts its interval)."""
    dur = interval_us if tenths == 0 else tenths * interval_us
    hh = (dur + _HALF_HOUR_US // 2) // _HALF_HOUR_US
    if hh < 1 or abs(dur - hh * _HALF_HOUR_US) > _SLACK_US:
        _fail("%s lasts %d µs, not a whole number of half-hours" % (where, dur))
    return hh


def _check_interval(iv, where):
    if iv < _MIN_INTERVAL_US or iv > _MAX_INTERVAL_US:
        _fail("%s has %d µs per tenth pulse; it must be between %d and %d"
              % (where, iv, _MIN_INTERVAL_US, _MAX_INTERVAL_US))


def _check_rates(extra, segs, table):
    """Checks common to 13 and 16; returns the total tenths of the entries and their half-hours."""
    entries = extra["entries"]
    hours = []
    total = 0
    for i in range(len(entries)):
        e = entries[i]
        w = "rate entry %d" % i
        _check_interval(e["interval_us"], w)
        hours.append(_half_hours(e["tenths"], e["interval_us"], w))
        total += e["tenths"]
    mm = extra["current_entry"]
    if mm >= len(entries):
        _fail("the timing block starts at rate entry %d but has only %d entries" % (mm, len(entries)))
    cur = entries[mm]
    if extra["remaining_tenths"] > cur["tenths"]:
        _fail("the timing block leaves %d tenths in rate entry %d, which holds only %d"
              % (extra["remaining_tenths"], mm, cur["tenths"]))
    if extra["delay_until_next_tenth_us"] > cur["interval_us"]:
        _fail("the delay to the next tenth (%d µs) is longer than the entry's interval (%d µs)"
              % (extra["delay_until_next_tenth_us"], cur["interval_us"]))
    if sum(hours) != len(segs):
        _fail("the 1A table has %d half-hours but the timing block covers %d" % (len(segs), sum(hours)))
    return total, hours


def plan_from_blocks(block_1a, block_extra):
    """A PulsePlan from a decoded 1A block and the 13/16/17 block that follows it.

    Raises ProtocolError if the checksum is wrong or the two blocks disagree.
    """
    verify_1a(block_1a)
    table = block_1a["table"]
    if table > 2 or block_extra.get("type") != _EXTRA_FOR_TABLE[table]:
        _fail("insulin table %d must be followed by block 0x%02x, not 0x%02x"
              % (table, _EXTRA_FOR_TABLE[table] if table <= 2 else 0, block_extra.get("type", 0)))
    segs = expand_elements(block_1a["elements"])
    hh = block_1a["segment"]
    if table == 0:
        if len(segs) != 48:
            _fail("a basal table must cover 48 half-hours, this one covers %d" % len(segs))
        if hh >= 48 or not 0 < block_1a["seconds_x8"] <= 0x3840:
            _fail("the basal table's current half-hour (%d, %d/8 s left) is not a time of day"
                  % (hh, block_1a["seconds_x8"]))
        total, hours = _check_rates(block_extra, segs, table)
        start = sum(hours[:block_extra["current_entry"]])
        if not start <= hh < start + hours[block_extra["current_entry"]]:
            _fail("the 1A table is at half-hour %d but the timing block is in rate entry %d" % (hh, block_extra["current_entry"]))
        # a PDM generation rounds a lone odd half-pulse down: allow one pulse a day
        if abs(sum(segs) - total // 10) > 1:
            _fail("the basal table delivers %d pulses a day but its timing block %d" % (sum(segs), total // 10))
        # the real pod counts tenths from 0 when a program starts, not from midnight (SPEC 7.5)
        return PulsePlan("basal", _entries(block_extra["entries"]), True, block_extra["current_entry"],
                         block_extra["remaining_tenths"], block_extra["delay_until_next_tenth_us"], 0, 0)
    if table == 1:
        if hh != len(segs) or block_1a["seconds_x8"] != 0x3840 or block_1a["pulses"] != segs[0]:
            _fail("the temp basal table is inconsistent: %d half-hours announced, %d listed"
                  % (hh, len(segs)))
        if block_extra["current_entry"] != 0:
            _fail("a temp basal must start at rate entry 0")
        total, hours = _check_rates(block_extra, segs, table)
        if sum(segs) != total // 10:
            _fail("the temp basal table delivers %d pulses but its timing block %d" % (sum(segs), total // 10))
        return PulsePlan("temp", _entries(block_extra["entries"]), False, 0,
                         block_extra["remaining_tenths"], block_extra["delay_until_next_tenth_us"], 0, 0)
    # bolus
    imm_t = block_extra["immediate_tenths"]
    ext_t = block_extra["extended_tenths"]
    if hh != len(segs) or imm_t % 10 or ext_t % 10:
        _fail("the bolus table is inconsistent: %d half-hours announced, %d listed" % (hh, len(segs)))
    if segs[0] != block_1a["pulses"] or segs[0] * 10 != imm_t:
        _fail("the bolus table's immediate part (%d pulses) does not match its timing block (%d tenths)"
              % (segs[0], imm_t))
    if sum(segs[1:]) * 10 != ext_t:
        _fail("the bolus table's extended part (%d pulses) does not match its timing block (%d tenths)"
              % (sum(segs[1:]), ext_t))
    if imm_t + ext_t == 0:
        _fail("the bolus holds no insulin")
    entries = []
    imm = 0
    if imm_t:
        iv = block_extra["immediate_interval_us"]
        _check_interval(iv, "the immediate bolus")
        if block_1a["seconds_x8"] * 125000 != segs[0] * 10 * iv:
            _fail("the bolus table's duration (%d/8 s) does not match %d pulses at %d µs per tenth"
                  % (block_1a["seconds_x8"], segs[0], iv))
        entries.append((imm_t, iv))
        imm = 1
    if ext_t:
        iv = block_extra["extended_interval_us"]
        _check_interval(iv, "the extended bolus")
        dur = ext_t * iv
        nseg = (dur - _SLACK_US + _HALF_HOUR_US - 1) // _HALF_HOUR_US
        if nseg != len(segs) - 1:
            _fail("the extended bolus lasts %d µs but the table gives it %d half-hours" % (dur, len(segs) - 1))
        entries.append((ext_t, iv))
    elif len(segs) != 1:
        _fail("the bolus table lists extended half-hours but the timing block has no extended part")
    ent = _entries([{"tenths": t, "interval_us": iv} for t, iv in entries])
    return PulsePlan("bolus", ent, False, 0, entries[0][0], entries[0][1], 0, imm)


def _entries(entries):
    """[(tenths, interval_ms, interval_us_rest)] with the µs split so each part is a small int."""
    out = []
    for e in entries:
        ms, us = divmod(e["interval_us"], 1000)
        out.append((e["tenths"], int(ms), int(us)))
    return out


class PulsePlan:
    """Whole-pulse timing of one schedule (basal cycles forever; temp and bolus finish).

    The cursor is the next "tick": a tenth of a pulse when `rem` > 0, else the end of a zero entry.
    """

    def __init__(self, kind, entries, cyclic, idx, rem, first_delay_us, acc, imm):
        self.kind = kind
        self._e = entries
        self._cyclic = cyclic
        self._idx = idx
        self._rem = rem
        fms, fus = divmod(first_delay_us, 1000)
        self._fms = int(fms)     # first delay, until start()
        self._fus = int(fus)
        self._ms = -1            # time of the next tick (ms + µs carry); -1 = not started
        self._us = 0
        self._acc = acc          # tenths delivered since the last whole pulse
        self._imm = imm          # 1 when entry 0 is a bolus's immediate part
        self._done = False
        self._due = -1           # next_due_ms() cached until the plan moves (-1 = not known)

    # ---------------------------------------------------------------- public API

    def start(self, now_ms):
        """Anchor the plan at now_ms: the first tenth comes after the block's delay."""
        self._ms = now_ms + self._fms
        self._us = self._fus
        self._due = -1
        return self

    def finished(self):
        return self._done

    def next_due_ms(self):
        """ms of the next whole pulse (or of the plan's end if no pulse is left); None when finished."""
        if self._done or self._ms < 0:
            return None
        if self._due >= 0:
            return self._due     # the pod asks several times per step: walk the ticks once
        idx, rem, ms, us, acc = self._idx, self._rem, self._ms, self._us, self._acc
        guard = len(self._e) + 12
        while guard:
            guard -= 1
            if rem > 0:
                acc += 1
                rem -= 1
                if acc >= 10:
                    break
            if rem == 0:
                if idx + 1 >= len(self._e):
                    if not self._cyclic:
                        break      # the plan ends at this tick
                    acc = 0        # a basal table's end (midnight) drops the partial tenths
                idx = (idx + 1) % len(self._e)
                t, ims, ius = self._e[idx]
                rem = t
            else:
                ims, ius = self._e[idx][1], self._e[idx][2]
            us += ius
            ms += ims + us // 1000
            us %= 1000
        self._due = ms + (1 if us else 0)
        return self._due

    def take(self, now_ms):
        """Whole pulses due at or before now_ms (the plan advances past them)."""
        if self._ms < 0:
            raise ValueError("PulsePlan.take() before start()")
        self._due = -1
        pulses = 0
        e = self._e
        while not self._done and (self._ms < now_ms or (self._ms == now_ms and self._us == 0)):
            t, ims, ius = e[self._idx]
            if self._rem > 0:
                # every tick j with time < ms + 1 + j*(ims+1) <= now is surely due: take them at once
                k = 1
                if now_ms > self._ms + 1:
                    k += (now_ms - self._ms - 1) // (ims + 1)
                if k > self._rem:
                    k = self._rem
                self._acc += k
                pulses += self._acc // 10
                self._acc %= 10
                self._rem -= k
                self._add(k - 1, ims, ius)      # now at the last tick taken
            if self._rem == 0:
                if self._idx + 1 >= len(e):
                    if not self._cyclic:
                        self._done = True
                        break
                    self._acc = 0
                self._idx = (self._idx + 1) % len(e)
                t, ims, ius = e[self._idx]
                self._rem = t
            self._add(1, ims, ius)
        return pulses

    def remaining_pulses(self):
        """Whole pulses still to come (None for a basal program, which never ends)."""
        if self._cyclic:
            return None
        if self._done:
            return 0
        tenths = self._acc + self._rem
        for i in range(self._idx + 1, len(self._e)):
            tenths += self._e[i][0]
        return tenths // 10

    def immediate_remaining(self):
        """Pulses left of a bolus's immediate part (0 once the extended part runs, or for basal/temp)."""
        if self._done or not self._imm or self._idx != 0:
            return 0
        return (self._acc + self._rem) // 10

    def to_state(self):
        """A JSON-able list of ints to persist the plan (PulsePlan.from_state restores it)."""
        s = [_KINDS.index(self.kind), 1 if self._cyclic else 0, self._idx, self._rem, self._fms, self._fus,
             self._ms, self._us, self._acc, self._imm, 1 if self._done else 0, len(self._e)]
        for t, ims, ius in self._e:
            s.append(t)
            s.append(ims)
            s.append(ius)
        return s

    @staticmethod
    def from_state(s):
        try:
            n = s[11]
            p = PulsePlan(_KINDS[s[0]], [(s[12 + 3 * i], s[13 + 3 * i], s[14 + 3 * i]) for i in range(n)],
                          bool(s[1]), s[2], s[3], 0, s[8], s[9])
        except (IndexError, TypeError, KeyError):
            raise ProtocolError("the saved delivery plan is damaged and cannot be restored")
        p._fms, p._fus, p._ms, p._us = s[4], s[5], s[6], s[7]
        p._done = bool(s[10])
        return p

    # ---------------------------------------------------------------- internals

    def _add(self, k, ims, ius):
        if k <= 0:
            return
        us = self._us + k * ius
        self._ms += k * ims + us // 1000
        self._us = us % 1000
