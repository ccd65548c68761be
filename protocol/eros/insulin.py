"""Insulin schedules: the codec of blocks 1A/13/16/17 and the builders the PDM uses to fill them.

The 1A SetInsulinSchedule block carries a table of whole pulses per half-hour (with a checksum);
the 13/16/17 block that always follows it carries the precise timing in tenths of a pulse and
microseconds. The builders reproduce the real PDM's encoding byte for byte (SPEC.md §4, checked
against the reference vectors and the real captures); eros.plan turns the two blocks back into
pulse times on the pod. Integers only: insulin in pulses or tenths of a pulse, time in ms or µs.
"""

from eros.errors import ProtocolError

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

TABLE_BASAL = const(0)
TABLE_TEMP_BASAL = const(1)
TABLE_BOLUS = const(2)

SEGMENT_MS = const(1800000)            # one half-hour segment of the 1A table
SEGMENT_X8 = const(0x3840)             # 1800 s x 8
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


# ---------------------------------------------------------------- small helpers

def _int(v, name, lo, hi, where):
    """v as an int in lo..hi, or ProtocolError naming the field."""
    if v is True or v is False:
        v = 1 if v else 0
    if not isinstance(v, int):
        raise ProtocolError("%s of %s must be an integer, not %r" % (name, where, v))
    if v < lo or v > hi:
        raise ProtocolError("%s of %s is %d; it must be between %d and %d" % (name, where, v, lo, hi))
    return v


def _get(d, name, lo, hi, where):
    try:
        v = d[name]
    except KeyError:
        raise ProtocolError("%s needs the field '%s'" % (where, name))
    except TypeError:
        raise ProtocolError("%s must be a dict of fields" % where)
    return _int(v, "field '%s'" % name, lo, hi, where)


def _list(d, name, where):
    try:
        v = d[name]
    except KeyError:
        raise ProtocolError("%s needs the field '%s'" % (where, name))
    if not isinstance(v, (list, tuple)):
        raise ProtocolError("field '%s' of %s must be a list" % (name, where))
    return v


def _put(buf, v, n):
    shift = 8 * (n - 1)
    while shift >= 0:
        buf.append((v >> shift) & 0xFF)
        shift -= 8


def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


def _u32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def _finish(t, payload):
    if len(payload) > 255:
        raise ProtocolError("block 0x%02x would have %d data bytes; a block holds at most 255"
                            % (t, len(payload)))
    return bytes(bytearray([t, len(payload)]) + payload)


def _ceil_div(a, b):
    return -((-a) // b)


# ---------------------------------------------------------------- 0x1A SetInsulinSchedule

def element_pulses(element):
    """The whole pulses of each half-hour segment of one 1A element (alternate: odd ones get +1)."""
    n = element["segments"]
    p = element["pulses"]
    if element["alternate"]:
        return [p + (i & 1) for i in range(n)]
    return [p] * n


def expand_elements(elements):
    """The per-half-hour pulse list of a whole 1A table."""
    out = []
    for e in elements:
        out.extend(element_pulses(e))
    return out


def table_checksum(segment, seconds_x8, pulses, elements):
    """The 1A CCCC: 16-bit sum of the bytes HH SSSS PPPP and of both bytes of every segment's pulses.

    Summed over the expanded segments (the definition), so an alternating element whose +1 carries
    into the high byte (255 -> 256) is counted as the bytes really are.
    """
    s = (segment & 0xFF) + (seconds_x8 >> 8) + (seconds_x8 & 0xFF) + (pulses >> 8) + (pulses & 0xFF)
    for e in elements:
        p = e["pulses"]
        n = e["segments"]
        if e["alternate"]:
            half = n >> 1
            even = n - half
            q = p + 1
            s += ((p >> 8) + (p & 0xFF)) * even + ((q >> 8) + (q & 0xFF)) * half
        else:
            s += ((p >> 8) + (p & 0xFF)) * n
    return s & 0xFFFF


def _check_elements(elements, where):
    if not elements:
        raise ProtocolError("%s needs at least one table element" % where)
    for i in range(len(elements)):
        e = elements[i]
        w = "%s element %d" % (where, i)
        _get(e, "segments", 1, 16, w)
        _get(e, "alternate", 0, 1, w)
        _get(e, "pulses", 0, 0x3FF, w)


def encode_1a(d):
    """Block 1A (type, length, data) from its dict; a missing/None checksum is computed."""
    w = "block 0x1a SetInsulinSchedule"
    nonce = _get(d, "nonce", 0, 0xFFFFFFFF, w)
    table = _get(d, "table", 0, 2, w)
    seg = _get(d, "segment", 0, 0xFF, w)
    sx8 = _get(d, "seconds_x8", 0, 0xFFFF, w)
    pulses = _get(d, "pulses", 0, 0xFFFF, w)
    elements = _list(d, "elements", w)
    _check_elements(elements, w)
    if len(elements) > 121:
        raise ProtocolError("%s has %d table elements; at most 121 fit in a block" % (w, len(elements)))
    if d.get("checksum") is None:
        csum = table_checksum(seg, sx8, pulses, elements)
    else:
        csum = _get(d, "checksum", 0, 0xFFFF, w)
    out = bytearray()
    _put(out, nonce, 4)
    out.append(table)
    _put(out, csum, 2)
    out.append(seg)
    _put(out, sx8, 2)
    _put(out, pulses, 2)
    for e in elements:
        _put(out, ((e["segments"] - 1) << 12) | ((1 if e["alternate"] else 0) << 11) | e["pulses"], 2)
    return _finish(_B1A, out)


def decode_1a(payload, offset=0):
    """The dict of a 1A block from its data bytes (after the length byte) at message byte `offset`.

    The checksum is not checked here (so traces decode); verify_1a does that.
    """
    n = len(payload)
    if n < 14 or (n - 12) & 1:
        raise ProtocolError("block 0x1a SetInsulinSchedule needs 12 bytes plus 2 per table element "
                            "(at least one); it has %d data bytes" % n, offset - 1)
    table = payload[4]
    if table > 2:
        raise ProtocolError("block 0x1a names insulin table %d; only 0 (basal), 1 (temp basal) "
                            "and 2 (bolus) exist" % table, offset + 4)
    elements = []
    for i in range(12, n, 2):
        v = _u16(payload, i)
        if v & 0x0400:
            raise ProtocolError("block 0x1a table element 0x%04x has the reserved bit 0x0400 set" % v,
                                offset + i)
        elements.append({"segments": (v >> 12) + 1, "alternate": (v >> 11) & 1, "pulses": v & 0x3FF})
    return {"type": _B1A, "nonce": _u32(payload, 0), "table": table, "checksum": _u16(payload, 5),
            "segment": payload[7], "seconds_x8": _u16(payload, 8), "pulses": _u16(payload, 10),
            "elements": elements}


def verify_1a(d):
    """Raise ProtocolError unless the 1A dict's checksum matches its table."""
    want = table_checksum(d["segment"], d["seconds_x8"], d["pulses"], d["elements"])
    if want != d["checksum"]:
        raise ProtocolError("checksum of the insulin table is 0x%04x but its contents sum to 0x%04x; "
                            "the schedule was corrupted, send it again" % (d["checksum"], want))


# ---------------------------------------------------------------- 0x13 / 0x16 rate entries

def _encode_rates(t, d, where):
    bo = _get(d, "beep_options", 0, 0xFF, where)
    mm = _get(d, "current_entry", 0, 0xFF, where)
    nnnn = _get(d, "remaining_tenths", 0, 0xFFFF, where)
    x = _get(d, "delay_until_next_tenth_us", 0, 0xFFFFFFFF, where)
    entries = _list(d, "entries", where)
    if not entries:
        raise ProtocolError("%s needs at least one rate entry" % where)
    if len(entries) > 41:
        raise ProtocolError("%s has %d rate entries; at most 41 fit in a block" % (where, len(entries)))
    out = bytearray([bo, mm])
    _put(out, nnnn, 2)
    _put(out, x, 4)
    for i in range(len(entries)):
        e = entries[i]
        w = "%s entry %d" % (where, i)
        _put(out, _get(e, "tenths", 0, 0xFFFF, w), 2)
        _put(out, _get(e, "interval_us", 0, 0xFFFFFFFF, w), 4)
    return _finish(t, out)


def _decode_rates(t, name, payload, offset):
    n = len(payload)
    if n < 14 or (n - 8) % 6:
        raise ProtocolError("block 0x%02x %s needs 8 bytes plus 6 per rate entry (at least one); "
                            "it has %d data bytes" % (t, name, n), offset - 1)
    entries = []
    for i in range(8, n, 6):
        entries.append({"tenths": _u16(payload, i), "interval_us": _u32(payload, i + 2)})
    return {"type": t, "beep_options": payload[0], "current_entry": payload[1],
            "remaining_tenths": _u16(payload, 2), "delay_until_next_tenth_us": _u32(payload, 4),
            "entries": entries}


def encode_13(d):
    """Block 13 BasalScheduleExtra from its dict."""
    return _encode_rates(_B13, d, "block 0x13 BasalScheduleExtra")


def decode_13(payload, offset=0):
    """The dict of a 13 block from its data bytes at message byte `offset`."""
    return _decode_rates(_B13, "BasalScheduleExtra", payload, offset)


def encode_16(d):
    """Block 16 TempBasalExtra from its dict."""
    return _encode_rates(_B16, d, "block 0x16 TempBasalExtra")


def decode_16(payload, offset=0):
    """The dict of a 16 block from its data bytes at message byte `offset`."""
    return _decode_rates(_B16, "TempBasalExtra", payload, offset)


# ---------------------------------------------------------------- 0x17 BolusExtra

def encode_17(d):
    """Block 17 BolusExtra from its dict."""
    w = "block 0x17 BolusExtra"
    out = bytearray([_get(d, "beep_options", 0, 0xFF, w)])
    _put(out, _get(d, "immediate_tenths", 0, 0xFFFF, w), 2)
    _put(out, _get(d, "immediate_interval_us", 0, 0xFFFFFFFF, w), 4)
    _put(out, _get(d, "extended_tenths", 0, 0xFFFF, w), 2)
    _put(out, _get(d, "extended_interval_us", 0, 0xFFFFFFFF, w), 4)
    return _finish(_B17, out)


def decode_17(payload, offset=0):
    """The dict of a 17 block from its data bytes at message byte `offset`."""
    if len(payload) != 13:
        raise ProtocolError("block 0x17 BolusExtra must have 13 data bytes, its length byte says %d"
                            % len(payload), offset - 1)
    return {"type": _B17, "beep_options": payload[0], "immediate_tenths": _u16(payload, 1),
            "immediate_interval_us": _u32(payload, 3), "extended_tenths": _u16(payload, 7),
            "extended_interval_us": _u32(payload, 9)}


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
