"""Insulin schedules: the codec of blocks 1A/13/16/17 and the 1A table checksum.

The 1A SetInsulinSchedule block carries a table of whole pulses per half-hour (with a checksum);
the 13/16/17 block that always follows it carries the precise timing in tenths of a pulse and
microseconds. eros.schedule builds the pair as the PDM does (the pod never loads it); eros.plan
turns the two blocks back into pulse times on the pod. Integers only.
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
