"""The PDM's side of insulin schedules: a basal program, a temp basal or a bolus as 1A + 13/16/17.

The builders reproduce the real PDM's encoding byte for byte (SPEC.md §4, checked against the
reference vectors and the real captures). The pod never imports this module: it only decodes
(eros.insulin) and plans (eros.plan). Integers only: insulin in pulses or tenths of a pulse,
time in ms or µs.
"""

from eros.errors import ProtocolError
from eros.insulin import (SEGMENT_MS, SEGMENT_X8, TABLE_BASAL, TABLE_BOLUS, TABLE_TEMP_BASAL,
                          _ceil_div, _int, table_checksum)

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

HOUR_US = 3600000000                   # µs per hour (above 2**30: a long int on a Pico)
ZERO_INTERVAL_US = 1800000000          # 0x6b49d200: the "no pulse for 30 min" entry of a zero temp
MAX_ENTRY_TENTHS = const(0xFFFF)
MAX_RATE_PPH = const(600)              # 30 U/h
MAX_BOLUS_PULSES = const(600)          # 30 U
MAX_EXTENDED_MS = const(28800000)      # 8 h

_B13 = const(0x13)
_B16 = const(0x16)
_B17 = const(0x17)
_B1A = const(0x1A)


# ---------------------------------------------------------------- building tables

def merge_segments(pulses):
    """1A elements for a per-half-hour pulse list, merged as the PDM does.

    Greedy from the left, at most 16 segments per element: a run is constant (p, p, p…) when the
    second segment equals the first, alternating (p, p+1, p, …) when it is one more; else the
    segment stands alone.
    """
    elements = []
    i = 0
    n = len(pulses)
    while i < n:
        p = pulses[i]
        alt = 1 if (i + 1 < n and pulses[i + 1] == p + 1) else 0
        j = i + 1
        while j < n and j - i < 16 and pulses[j] == p + (alt & (j - i)):
            j += 1
        if j - i == 1:
            alt = 0
        elements.append({"segments": j - i, "alternate": alt, "pulses": p})
        i = j
    return elements


def _spread(tenths_list):
    """Whole pulses per half-hour for a list of tenths per half-hour, carrying the fractions.

    Segment i gets floor(cumulative tenths at its end / 10) - floor(cumulative at its start / 10).
    """
    out = []
    cum = 0
    for t in tenths_list:
        out.append((cum + t) // 10 - cum // 10)
        cum += t
    return out


def _rate_entries(tph_per_half_hour):
    """13/16 rate entries: adjacent equal rates merged, split so an entry's tenths fit 16 bits.

    Returns a list of (tph, half_hours). A zero rate gets one entry per half-hour.
    """
    runs = []
    for r in tph_per_half_hour:
        if runs and runs[-1][0] == r and r:
            runs[-1][1] += 1
        else:
            runs.append([r, 1])
    out = []
    for r, h in runs:
        if r == 0:
            out.append((0, h))
            continue
        most = (2 * MAX_ENTRY_TENTHS) // r  # half-hours whose tenths (r*h/2) fit 16 bits
        while h > 0:
            k = h if h < most else most
            out.append((r, k))
            h -= k
    return out


def _entry_dict(tph, half_hours):
    if tph == 0:
        return {"tenths": 0, "interval_us": ZERO_INTERVAL_US}
    return {"tenths": tph * half_hours // 2, "interval_us": HOUR_US // tph}


def _check_beep(beep_options):
    return _int(beep_options, "beep_options", 0, 0xFF, "the schedule")


def basal_schedule_blocks(rates_pph, time_of_day_ms, nonce, beep_options=0):
    """The 1A (table 0, nonce included) and 13 block dicts of a basal program.

    rates_pph: 48 ints, pulses per hour of each half-hour from midnight (1..600 = 0.05..30 U/h);
    time_of_day_ms: the pod's time of day now (0..86,399,999), rounded to whole seconds as the PDM does.
    """
    w = "the basal program"
    if not isinstance(rates_pph, (list, tuple)) or len(rates_pph) != 48:
        raise ProtocolError("rates_pph of %s must be a list of 48 rates (one per half-hour)" % w)
    for i in range(48):
        _int(rates_pph[i], "rates_pph[%d]" % i, 1, MAX_RATE_PPH, w)
    _int(time_of_day_ms, "time_of_day_ms", 0, 86399999, w)
    nonce = _int(nonce, "nonce", 0, 0xFFFFFFFF, w)
    _check_beep(beep_options)

    sec = ((time_of_day_ms + 500) // 1000) % 86400
    seg = sec // 1800
    seg_left = 1800 - sec % 1800          # 1..1800 s left in the current half-hour
    tph = [10 * r for r in rates_pph]
    table = _spread([t // 2 for t in tph])
    elements = merge_segments(table)
    # pulses left in this half-hour: the tenths still to come (a started one counts) in tens
    seg_pulses = _ceil_div(seg_left * tph[seg], 3600) // 10

    entries = _rate_entries(tph)
    start = 0
    mm = 0
    left = rate = 1
    for i in range(len(entries)):
        r, h = entries[i]
        if start <= seg < start + h:
            mm = i
            left = (start + h) * 1800 - sec   # seconds to the end of the current entry
            rate = r
        start += h
    n = _ceil_div(left * rate, 3600)      # tenths left in the entry, the started one included
    # exact time to the next tenth: left - (n-1) tenth-intervals, floored to µs
    x = ((left * rate - (n - 1) * 3600) * 1000000) // rate
    b1a = {"type": _B1A, "nonce": nonce, "table": TABLE_BASAL, "checksum": None, "segment": seg,
           "seconds_x8": seg_left * 8, "pulses": seg_pulses, "elements": elements}
    b1a["checksum"] = table_checksum(seg, seg_left * 8, seg_pulses, elements)
    b13 = {"type": _B13, "beep_options": beep_options, "current_entry": mm, "remaining_tenths": n,
           "delay_until_next_tenth_us": x, "entries": [_entry_dict(r, h) for r, h in entries]}
    return b1a, b13


def temp_basal_blocks(rate_pph, half_hours, nonce, beep_options=0):
    """The 1A (table 1) and 16 block dicts of a temp basal: rate_pph 0..600 for half_hours 1..24."""
    _int(rate_pph, "rate_pph", 0, MAX_RATE_PPH, "the temp basal")
    _int(half_hours, "half_hours", 1, 24, "the temp basal")
    return temp_basal_blocks_tenths(rate_pph * 10, half_hours, nonce, beep_options)


def temp_basal_blocks_tenths(tenths_per_hour, half_hours, nonce, beep_options=0):
    """Temp basal at a rate in tenth-pulses per hour (even, 0..6000), as the PDM's percent temps use.

    E.g. 42 = 0.21 U/h. Even, so that every half-hour holds a whole number of tenths. Lower level
    than temp_basal_blocks: half_hours may go to 48 (the pod's table allows it; the PDM offers 24).
    """
    w = "the temp basal"
    tph = _int(tenths_per_hour, "tenths_per_hour", 0, MAX_RATE_PPH * 10, w)
    if tph & 1:
        raise ProtocolError("tenths_per_hour of %s is %d; it must be even so that each half-hour "
                            "holds whole tenths of a pulse" % (w, tph))
    hh = _int(half_hours, "half_hours", 1, 48, w)
    if tph == 0 and hh > 41:
        raise ProtocolError("a zero temp basal takes one entry per half-hour; at most 41 fit in a block")
    nonce = _int(nonce, "nonce", 0, 0xFFFFFFFF, w)
    _check_beep(beep_options)
    table = _spread([tph // 2] * hh)
    elements = merge_segments(table)
    entries = [_entry_dict(r, h) for r, h in _rate_entries([tph] * hh)]
    b1a = {"type": _B1A, "nonce": nonce, "table": TABLE_TEMP_BASAL, "checksum": None, "segment": hh,
           "seconds_x8": SEGMENT_X8, "pulses": table[0], "elements": elements}
    b1a["checksum"] = table_checksum(hh, SEGMENT_X8, table[0], elements)
    b16 = {"type": _B16, "beep_options": beep_options, "current_entry": 0,
           "remaining_tenths": entries[0]["tenths"], "delay_until_next_tenth_us": entries[0]["interval_us"],
           "entries": entries}
    return b1a, b16


def bolus_blocks(pulses, nonce, interval_ms=2000, extended_pulses=0, extended_half_hours=0, beep_options=0):
    """The 1A (table 2) and 17 block dicts of a bolus.

    pulses: immediate pulses 0..600 at one per interval_ms (2000; prime and cannula use 1000);
    extended_pulses 0..600 spread evenly over extended_half_hours 1..16 (8 h) after the immediate part.
    """
    hh = _int(extended_half_hours, "extended_half_hours", 0, 16, "the bolus")
    return bolus_blocks_ms(pulses, nonce, interval_ms, extended_pulses, hh * SEGMENT_MS, beep_options)


def bolus_blocks_ms(pulses, nonce, interval_ms=2000, extended_pulses=0, extended_ms=0, beep_options=0):
    """Like bolus_blocks with the extended duration in ms (1..28,800,000), e.g. a remainder of 382 s."""
    w = "the bolus"
    imm = _int(pulses, "pulses", 0, MAX_BOLUS_PULSES, w)
    nonce = _int(nonce, "nonce", 0, 0xFFFFFFFF, w)
    iv = _int(interval_ms, "interval_ms", 125, 8000, w)
    if iv % 125:
        raise ProtocolError("interval_ms of %s is %d; it must be a multiple of 125 ms (1/8 s)" % (w, iv))
    ext = _int(extended_pulses, "extended_pulses", 0, MAX_BOLUS_PULSES, w)
    dur = _int(extended_ms, "extended_ms", 0, MAX_EXTENDED_MS, w)
    _check_beep(beep_options)
    if imm + ext == 0:
        raise ProtocolError("the bolus has no insulin: give pulses or extended_pulses above 0")
    if (ext == 0) != (dur == 0):
        raise ProtocolError("an extended bolus needs both extended_pulses and a duration above 0")
    if imm * iv // 125 > 0xFFFF:
        raise ProtocolError("the immediate bolus of %d pulses at %d ms each does not fit the table"
                            % (imm, iv))
    ext_table = []
    if ext:
        nseg = _ceil_div(dur, SEGMENT_MS)
        done = 0
        for k in range(1, nseg + 1):
            end = k * SEGMENT_MS
            if end > dur:
                end = dur
            upto = ext * (end // 1000) // (dur // 1000) if dur % 1000 == 0 else ext * end // dur
            ext_table.append(upto - done)
            done = upto
    elements = [{"segments": 1, "alternate": 0, "pulses": imm}] + merge_segments(ext_table)
    seg = 1 + len(ext_table)
    sx8 = imm * iv // 125
    b1a = {"type": _B1A, "nonce": nonce, "table": TABLE_BOLUS, "checksum": None, "segment": seg,
           "seconds_x8": sx8, "pulses": imm, "elements": elements}
    b1a["checksum"] = table_checksum(seg, sx8, imm, elements)
    # µs per extended tenth: duration / tenths, floored
    ext_iv = (dur * 100) // ext if ext else 0
    b17 = {"type": _B17, "beep_options": beep_options, "immediate_tenths": imm * 10,
           "immediate_interval_us": iv * 100, "extended_tenths": ext * 10, "extended_interval_us": ext_iv}
    return b1a, b17
