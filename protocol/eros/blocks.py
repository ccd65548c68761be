"""Encode and decode the blocks of an Eros message body to and from the flat dicts of SPEC.md §3.

Decoding walks a memoryview of the body with offsets (no slicing copies except for the byte-string
fields the dicts must hold). Every malformed input raises ProtocolError with the byte offset from the
start of the message; every field is range-checked before it is written (MicroPython's struct would
truncate silently, so this module writes bytes itself). Blocks 1A/13/16/17 live in eros.insulin.
"""

from eros.errors import ProtocolError

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

_STATUS_LEN = const(10)

_NAMES = {
    0x01: "VersionResponse", 0x02: "PodInfoResponse", 0x03: "SetupPod", 0x06: "ErrorResponse",
    0x07: "AssignAddress", 0x08: "FaultConfig", 0x0E: "GetStatus", 0x11: "AcknowledgeAlerts",
    0x13: "BasalScheduleExtra", 0x16: "TempBasalExtra", 0x17: "BolusExtra", 0x19: "ConfigureAlerts",
    0x1A: "SetInsulinSchedule", 0x1C: "DeactivatePod", 0x1D: "StatusResponse", 0x1E: "BeepConfig",
    0x1F: "CancelDelivery",
}


def block_name(block_type):
    """Human name of a block type, e.g. "0x1f CancelDelivery"."""
    return "0x%02x %s" % (block_type, _NAMES.get(block_type, "(unknown)"))


# ---------------------------------------------------------------- reading helpers

def _u16(b, i):
    return (b[i] << 8) | b[i + 1]


def _u32(b, i):
    return (b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]


def _need_len(t, n, want, base):
    if n != want:
        raise ProtocolError("block %s must have %d data bytes, its length byte says %d"
                            % (block_name(t), want, n), base - 1)


def _words(pl, start, base, t):
    """The list of 32-bit words from pl[start:] (whose length must be a multiple of 4)."""
    n = len(pl) - start
    if n < 0 or n % 4:
        raise ProtocolError("block %s: the pulse-log entries take %d bytes, not a whole number of 4-byte words"
                            % (block_name(t), n), base + start)
    return [_u32(pl, i) for i in range(start, len(pl), 4)]


# ---------------------------------------------------------------- writing helpers

def _value(block, name, bits, where):
    """block[name] as an int that fits in `bits` unsigned bits, or ProtocolError naming the field."""
    try:
        v = block[name]
    except KeyError:
        raise ProtocolError("%s needs the field '%s'" % (where, name))
    except TypeError:
        raise ProtocolError("%s must be a dict of fields" % where)
    return _check(v, name, bits, where)


def _check(v, name, bits, where):
    if v is True or v is False:  # MicroPython's bool is not an int subclass
        v = 1 if v else 0
    if not isinstance(v, int):
        raise ProtocolError("field '%s' of %s must be an integer, not %r" % (name, where, v))
    if v < 0 or (v >> bits):
        raise ProtocolError("field '%s' of %s is %d; it must be between 0 and %d"
                            % (name, where, v, (1 << bits) - 1))
    return int(v)


def _put(buf, v, nbytes):
    """Append v (already range-checked) big-endian on nbytes bytes."""
    shift = 8 * (nbytes - 1)
    while shift >= 0:
        buf.append((v >> shift) & 0xFF)
        shift -= 8


def _field(buf, block, name, nbytes, where):
    _put(buf, _value(block, name, 8 * nbytes, where), nbytes)


def _int_list(block, name, count, bits, where):
    """block[name] as a list of ints of the given width; count None means any length."""
    try:
        items = block[name]
    except KeyError:
        raise ProtocolError("%s needs the field '%s'" % (where, name))
    if not isinstance(items, (list, tuple)):
        raise ProtocolError("field '%s' of %s must be a list" % (name, where))
    if count is not None and len(items) != count:
        raise ProtocolError("field '%s' of %s must hold %d values, it holds %d" % (name, where, count, len(items)))
    for i in range(len(items)):
        _check(items[i], "%s[%d]" % (name, i), bits, where)
    return items


def _bytes_field(block, name, where):
    try:
        v = block[name]
    except KeyError:
        raise ProtocolError("%s needs the field '%s'" % (where, name))
    if not isinstance(v, (bytes, bytearray, memoryview)):
        raise ProtocolError("field '%s' of %s must be bytes" % (name, where))
    return v


def _finish(t, payload):
    """Type byte + length byte + payload."""
    n = len(payload)
    if n > 255:
        raise ProtocolError("block %s would have %d data bytes; a block holds at most 255" % (block_name(t), n))
    out = bytearray(2 + n)
    out[0] = t
    out[1] = n
    out[2:] = payload
    return bytes(out)


# ---------------------------------------------------------------- 0x01 VersionResponse

def _dec_01(pl, base):
    n = len(pl)
    if n == 0x15:
        gs = pl[16]
        return {"type": 0x01, "pm_version": [pl[0], pl[1], pl[2]], "pi_version": [pl[3], pl[4], pl[5]],
                "product_id": pl[6], "progress": pl[7], "lot": _u32(pl, 8), "tid": _u32(pl, 12),
                "gain": gs >> 6, "rssi": gs & 0x3F, "address": _u32(pl, 17)}
    if n == 0x1B:
        return {"type": 0x01, "pulse_volume": _u16(pl, 0), "bolus_interval_eighths": pl[2],
                "prime_interval_eighths": pl[3], "prime_pulses": pl[4], "cannula_pulses": pl[5],
                "pod_life_hours": pl[6], "pm_version": [pl[7], pl[8], pl[9]],
                "pi_version": [pl[10], pl[11], pl[12]], "product_id": pl[13], "progress": pl[14],
                "lot": _u32(pl, 15), "tid": _u32(pl, 19), "address": _u32(pl, 23)}
    raise ProtocolError("block 0x01 VersionResponse must have 21 (short) or 27 (long) data bytes, "
                        "its length byte says %d" % n, base - 1)


def _enc_01(b):
    w = "block 0x01 VersionResponse"
    p = bytearray()
    long_form = "pulse_volume" in b
    if long_form:
        _field(p, b, "pulse_volume", 2, w)
        for name in ("bolus_interval_eighths", "prime_interval_eighths", "prime_pulses",
                     "cannula_pulses", "pod_life_hours"):
            _field(p, b, name, 1, w)
    for name in ("pm_version", "pi_version"):
        for v in _int_list(b, name, 3, 8, w):
            p.append(v)
    _field(p, b, "product_id", 1, w)
    _field(p, b, "progress", 1, w)
    _field(p, b, "lot", 4, w)
    _field(p, b, "tid", 4, w)
    if not long_form:
        p.append((_value(b, "gain", 2, w) << 6) | _value(b, "rssi", 6, w))
    _field(p, b, "address", 4, w)
    return _finish(0x01, p)


# ---------------------------------------------------------------- 0x02 PodInfoResponse

def _dec_02(pl, base):
    n = len(pl)
    if n < 1:
        raise ProtocolError("block 0x02 PodInfoResponse has no subtype byte", base - 1)
    st = pl[0]
    d = {"type": 0x02, "subtype": st}
    if st == 0x01:
        _need_sub_len(st, n, 19, base)
        d["word"] = _u16(pl, 1)
        d["alert_minutes"] = [_u16(pl, i) for i in range(3, 19, 2)]
    elif st == 0x02:
        _need_sub_len(st, n, 22, base)
        vv = pl[17]
        ws = pl[18]
        d["progress"] = pl[1]
        d["delivery"] = pl[2]
        d["bolus_remaining"] = _u16(pl, 3)
        d["last_prog_seq"] = pl[5]
        d["pulses_delivered"] = _u16(pl, 6)
        d["fault_code"] = pl[8]
        d["fault_minutes"] = _u16(pl, 9)
        d["reservoir"] = _u16(pl, 11)
        d["minutes"] = _u16(pl, 13)
        d["alerts"] = pl[15]
        d["table_fault"] = pl[16]
        d["table_corruption"] = vv >> 7
        d["occlusion_type"] = (vv >> 5) & 3
        d["bolus_in_progress"] = (vv >> 4) & 1
        d["progress_at_fault"] = vv & 0x0F
        d["gain"] = ws >> 6
        d["rssi"] = ws & 0x3F
        d["previous_progress"] = pl[19]
        d["tail"] = _u16(pl, 20)
    elif st == 0x03:
        if n < 8:
            raise ProtocolError("block 0x02 PodInfoResponse subtype 0x03 needs at least 8 data bytes, "
                                "its length byte says %d" % n, base - 1)
        d["fault_code"] = pl[1]
        d["fault_minutes"] = _u16(pl, 2)
        d["minutes"] = _u16(pl, 4)
        d["entry_size"] = pl[6]
        d["max_entries"] = pl[7]
        d["entries"] = _words(pl, 8, base, 0x02)
    elif st == 0x05:
        _need_sub_len(st, n, 17, base)
        d["fault_code"] = pl[1]
        d["fault_minutes"] = _u16(pl, 2)
        d["reserved"] = bytes(pl[4:12])
        d["month"] = pl[12]
        d["day"] = pl[13]
        d["year"] = pl[14]
        d["hour"] = pl[15]
        d["minute"] = pl[16]
    elif st == 0x50 or st == 0x51:
        if n < 3:
            raise ProtocolError("block 0x02 PodInfoResponse subtype 0x%02x needs at least 3 data bytes, "
                                "its length byte says %d" % (st, n), base - 1)
        d["last_index" if st == 0x50 else "count"] = _u16(pl, 1)
        d["entries"] = _words(pl, 3, base, 0x02)
    else:
        d["data"] = bytes(pl[1:])
    return d


def _need_sub_len(st, n, want, base):
    if n != want:
        raise ProtocolError("block 0x02 PodInfoResponse subtype 0x%02x must have %d data bytes, "
                            "its length byte says %d" % (st, want, n), base - 1)


def _enc_02(b):
    w = "block 0x02 PodInfoResponse"
    st = _value(b, "subtype", 8, w)
    w = "%s subtype 0x%02x" % (w, st)
    p = bytearray()
    p.append(st)
    if st == 0x01:
        _field(p, b, "word", 2, w)
        for v in _int_list(b, "alert_minutes", 8, 16, w):
            _put(p, v, 2)
    elif st == 0x02:
        _field(p, b, "progress", 1, w)
        _field(p, b, "delivery", 1, w)
        _field(p, b, "bolus_remaining", 2, w)
        _field(p, b, "last_prog_seq", 1, w)
        _field(p, b, "pulses_delivered", 2, w)
        _field(p, b, "fault_code", 1, w)
        _field(p, b, "fault_minutes", 2, w)
        _field(p, b, "reservoir", 2, w)
        _field(p, b, "minutes", 2, w)
        _field(p, b, "alerts", 1, w)
        _field(p, b, "table_fault", 1, w)
        p.append((_value(b, "table_corruption", 1, w) << 7) | (_value(b, "occlusion_type", 2, w) << 5)
                 | (_value(b, "bolus_in_progress", 1, w) << 4) | _value(b, "progress_at_fault", 4, w))
        p.append((_value(b, "gain", 2, w) << 6) | _value(b, "rssi", 6, w))
        _field(p, b, "previous_progress", 1, w)
        _field(p, b, "tail", 2, w)
    elif st == 0x03:
        _field(p, b, "fault_code", 1, w)
        _field(p, b, "fault_minutes", 2, w)
        _field(p, b, "minutes", 2, w)
        _field(p, b, "entry_size", 1, w)
        _field(p, b, "max_entries", 1, w)
        for v in _int_list(b, "entries", None, 32, w):
            _put(p, v, 4)
    elif st == 0x05:
        _field(p, b, "fault_code", 1, w)
        _field(p, b, "fault_minutes", 2, w)
        reserved = _bytes_field(b, "reserved", w)
        if len(reserved) != 8:
            raise ProtocolError("field 'reserved' of %s must be 8 bytes, it is %d" % (w, len(reserved)))
        p.extend(reserved)
        for name in ("month", "day", "year", "hour", "minute"):
            _field(p, b, name, 1, w)
    elif st == 0x50 or st == 0x51:
        _field(p, b, "last_index" if st == 0x50 else "count", 2, w)
        for v in _int_list(b, "entries", None, 32, w):
            _put(p, v, 4)
    else:
        p.extend(_bytes_field(b, "data", w))
    return _finish(0x02, p)


# ---------------------------------------------------------------- 0x03 SetupPod

_SETUP_DATE = ("month", "day", "year", "hour", "minute")


def _dec_03(pl, base):
    _need_len(0x03, len(pl), 19, base)
    return {"type": 0x03, "address": _u32(pl, 0), "unknown": pl[4], "packet_timeout": pl[5],
            "month": pl[6], "day": pl[7], "year": pl[8], "hour": pl[9], "minute": pl[10],
            "lot": _u32(pl, 11), "tid": _u32(pl, 15)}


def _enc_03(b):
    w = "block 0x03 SetupPod"
    p = bytearray()
    _field(p, b, "address", 4, w)
    _field(p, b, "unknown", 1, w)
    _field(p, b, "packet_timeout", 1, w)
    for name in _SETUP_DATE:
        _field(p, b, name, 1, w)
    _field(p, b, "lot", 4, w)
    _field(p, b, "tid", 4, w)
    return _finish(0x03, p)


# ---------------------------------------------------------------- small fixed blocks

def _dec_06(pl, base):
    _need_len(0x06, len(pl), 3, base)
    return {"type": 0x06, "code": pl[0], "word": _u16(pl, 1)}


def _enc_06(b):
    p = bytearray()
    _field(p, b, "code", 1, "block 0x06 ErrorResponse")
    _field(p, b, "word", 2, "block 0x06 ErrorResponse")
    return _finish(0x06, p)


def _dec_07(pl, base):
    _need_len(0x07, len(pl), 4, base)
    return {"type": 0x07, "address": _u32(pl, 0)}


def _enc_07(b):
    p = bytearray()
    _field(p, b, "address", 4, "block 0x07 AssignAddress")
    return _finish(0x07, p)


def _dec_08(pl, base):
    _need_len(0x08, len(pl), 6, base)
    return {"type": 0x08, "nonce": _u32(pl, 0), "tab5_16": pl[4], "tab5_17": pl[5]}


def _enc_08(b):
    w = "block 0x08 FaultConfig"
    p = bytearray()
    _field(p, b, "nonce", 4, w)
    _field(p, b, "tab5_16", 1, w)
    _field(p, b, "tab5_17", 1, w)
    return _finish(0x08, p)


def _dec_0e(pl, base):
    _need_len(0x0E, len(pl), 1, base)
    return {"type": 0x0E, "request": pl[0]}


def _enc_0e(b):
    p = bytearray()
    _field(p, b, "request", 1, "block 0x0e GetStatus")
    return _finish(0x0E, p)


def _dec_11(pl, base):
    _need_len(0x11, len(pl), 5, base)
    return {"type": 0x11, "nonce": _u32(pl, 0), "mask": pl[4]}


def _enc_11(b):
    w = "block 0x11 AcknowledgeAlerts"
    p = bytearray()
    _field(p, b, "nonce", 4, w)
    _field(p, b, "mask", 1, w)
    return _finish(0x11, p)


def _dec_1c(pl, base):
    _need_len(0x1C, len(pl), 4, base)
    return {"type": 0x1C, "nonce": _u32(pl, 0)}


def _enc_1c(b):
    p = bytearray()
    _field(p, b, "nonce", 4, "block 0x1c DeactivatePod")
    return _finish(0x1C, p)


def _dec_1e(pl, base):
    _need_len(0x1E, len(pl), 4, base)
    if pl[0] & 0xF0:
        raise ProtocolError("block 0x1e BeepConfig: the high nibble of the beep-type byte must be 0, it is 0x%02x"
                            % pl[0], base)
    return {"type": 0x1E, "beep_type": pl[0], "basal_beep": pl[1], "temp_basal_beep": pl[2],
            "bolus_beep": pl[3]}


def _enc_1e(b):
    w = "block 0x1e BeepConfig"
    p = bytearray()
    p.append(_value(b, "beep_type", 4, w))
    _field(p, b, "basal_beep", 1, w)
    _field(p, b, "temp_basal_beep", 1, w)
    _field(p, b, "bolus_beep", 1, w)
    return _finish(0x1E, p)


def _dec_1f(pl, base):
    _need_len(0x1F, len(pl), 5, base)
    return {"type": 0x1F, "nonce": _u32(pl, 0), "beep_type": pl[4] >> 4, "cancel": pl[4] & 0x0F}


def _enc_1f(b):
    w = "block 0x1f CancelDelivery"
    p = bytearray()
    _field(p, b, "nonce", 4, w)
    p.append((_value(b, "beep_type", 4, w) << 4) | _value(b, "cancel", 4, w))
    return _finish(0x1F, p)


# ---------------------------------------------------------------- 0x19 ConfigureAlerts

def _dec_19(pl, base):
    n = len(pl)
    if n < 4 or (n - 4) % 6:
        raise ProtocolError("block 0x19 ConfigureAlerts must have 4 + 6 per alert data bytes, "
                            "its length byte says %d" % n, base - 1)
    alerts = []
    for i in range(4, n, 6):
        b0 = pl[i]
        alerts.append({"slot": b0 >> 4, "active": (b0 >> 3) & 1, "units_trigger": (b0 >> 2) & 1,
                       "auto_off": (b0 >> 1) & 1, "duration_minutes": ((b0 & 1) << 8) | pl[i + 1],
                       "trigger": _u16(pl, i + 2), "beep_repeat": pl[i + 4], "beep_type": pl[i + 5]})
    return {"type": 0x19, "nonce": _u32(pl, 0), "alerts": alerts}


def _enc_19(b):
    w = "block 0x19 ConfigureAlerts"
    p = bytearray()
    _field(p, b, "nonce", 4, w)
    try:
        alerts = b["alerts"]
    except KeyError:
        raise ProtocolError("%s needs the field 'alerts'" % w)
    if not isinstance(alerts, (list, tuple)):
        raise ProtocolError("field 'alerts' of %s must be a list" % w)
    for i in range(len(alerts)):
        a = alerts[i]
        wa = "%s alert %d" % (w, i)
        dur = _value(a, "duration_minutes", 9, wa)
        p.append((_value(a, "slot", 4, wa) << 4) | (_value(a, "active", 1, wa) << 3)
                 | (_value(a, "units_trigger", 1, wa) << 2) | (_value(a, "auto_off", 1, wa) << 1) | (dur >> 8))
        p.append(dur & 0xFF)
        _field(p, a, "trigger", 2, wa)
        _field(p, a, "beep_repeat", 1, wa)
        _field(p, a, "beep_type", 1, wa)
    return _finish(0x19, p)


# ---------------------------------------------------------------- 0x1D StatusResponse (no length byte)

def _dec_1d(pl, base):
    # pl: the 9 bytes after the type byte
    w1 = _u32(pl, 1)
    w2 = _u32(pl, 5)
    if w1 & 0xF0000400:
        raise ProtocolError("block 0x1d StatusResponse: unused bits of bytes 2..5 are set (0x%08x)"
                            % (w1 & 0xF0000400), base + 1)
    if w2 & 0x80000000:
        raise ProtocolError("block 0x1d StatusResponse: the unused top bit of byte 6 is set", base + 5)
    return {"type": 0x1D, "delivery": pl[0] >> 4, "progress": pl[0] & 0x0F,
            "pulses_delivered": (w1 >> 15) & 0x1FFF, "last_prog_seq": (w1 >> 11) & 0x0F,
            "bolus_remaining": w1 & 0x3FF, "alerts": (w2 >> 23) & 0xFF, "minutes": (w2 >> 10) & 0x1FFF,
            "reservoir": w2 & 0x3FF}


def _enc_1d(b):
    w = "block 0x1d StatusResponse"
    out = bytearray()
    out.append(0x1D)
    out.append((_value(b, "delivery", 4, w) << 4) | _value(b, "progress", 4, w))
    _put(out, (_value(b, "pulses_delivered", 13, w) << 15) | (_value(b, "last_prog_seq", 4, w) << 11)
         | _value(b, "bolus_remaining", 10, w), 4)
    _put(out, (_value(b, "alerts", 8, w) << 23) | (_value(b, "minutes", 13, w) << 10)
         | _value(b, "reservoir", 10, w), 4)
    return bytes(out)


# ---------------------------------------------------------------- insulin blocks (eros.insulin)

def _insulin():
    # imported on first use: the schedules module is larger and not every caller needs it
    from eros import insulin
    return insulin


def _dec_1a(pl, base):
    return _insulin().decode_1a(pl, base)


def _dec_13(pl, base):
    return _insulin().decode_13(pl, base)


def _dec_16(pl, base):
    return _insulin().decode_16(pl, base)


def _dec_17(pl, base):
    return _insulin().decode_17(pl, base)


def _enc_1a(b):
    return _insulin().encode_1a(b)


def _enc_13(b):
    return _insulin().encode_13(b)


def _enc_16(b):
    return _insulin().encode_16(b)


def _enc_17(b):
    return _insulin().encode_17(b)


_DECODERS = {
    0x01: _dec_01, 0x02: _dec_02, 0x03: _dec_03, 0x06: _dec_06, 0x07: _dec_07, 0x08: _dec_08,
    0x0E: _dec_0e, 0x11: _dec_11, 0x13: _dec_13, 0x16: _dec_16, 0x17: _dec_17, 0x19: _dec_19,
    0x1A: _dec_1a, 0x1C: _dec_1c, 0x1E: _dec_1e, 0x1F: _dec_1f,
}
_ENCODERS = {
    0x01: _enc_01, 0x02: _enc_02, 0x03: _enc_03, 0x06: _enc_06, 0x07: _enc_07, 0x08: _enc_08,
    0x0E: _enc_0e, 0x11: _enc_11, 0x13: _enc_13, 0x16: _enc_16, 0x17: _enc_17, 0x19: _enc_19,
    0x1A: _enc_1a, 0x1C: _enc_1c, 0x1D: _enc_1d, 0x1E: _enc_1e, 0x1F: _enc_1f,
}


# ---------------------------------------------------------------- public API

def encode_block(block):
    """The wire bytes (type, length, data) of one block dict; ProtocolError names a bad field."""
    if not isinstance(block, dict):
        raise ProtocolError("a block must be a dict of fields, not %r" % (block,))
    t = _value(block, "type", 8, "a block")
    enc = _ENCODERS.get(t)
    if enc is not None:
        return enc(block)
    return _finish(t, _bytes_field(block, "raw", "block 0x%02x (unknown type)" % t))


def decode_block_payload(block_type, payload, offset):
    """Decode one block from its type and the data bytes after its length byte (after the type
    byte for 0x1D); offset is where those data bytes start in the message."""
    if block_type == 0x1D:
        if len(payload) != _STATUS_LEN - 1:
            raise ProtocolError("block 0x1d StatusResponse must have 9 data bytes, it has %d" % len(payload),
                                offset)
        return _dec_1d(payload, offset)
    dec = _DECODERS.get(block_type)
    if dec is None:
        return {"type": block_type, "raw": bytes(payload)}
    return dec(payload, offset)


def decode_blocks(body, offset=6):
    """Every block of a message body, in order; offset is where the body starts in the message
    (for the byte positions in errors). 0x1D has no length byte; unknown types give {"type", "raw"}."""
    mv = memoryview(body)
    n = len(mv)
    out = []
    i = 0
    while i < n:
        t = mv[i]
        if t == 0x1D:
            if i + _STATUS_LEN > n:
                raise ProtocolError("block 0x1d StatusResponse needs 10 bytes, only %d remain in the body"
                                    % (n - i), offset + i)
            out.append(_dec_1d(mv[i + 1:i + _STATUS_LEN], offset + i + 1))
            i += _STATUS_LEN
            continue
        if i + 1 >= n:
            raise ProtocolError("block %s has no length byte: the body ends after its type byte"
                                % block_name(t), offset + i)
        ln = mv[i + 1]
        if i + 2 + ln > n:
            raise ProtocolError("block %s says it has %d data bytes, only %d remain in the body"
                                % (block_name(t), ln, n - i - 2), offset + i + 1)
        out.append(decode_block_payload(t, mv[i + 2:i + 2 + ln], offset + i + 2))
        i += 2 + ln
    return out


def encode_blocks(blocks):
    """The body bytes for a list of block dicts (or already-encoded block bytes)."""
    body = bytearray()
    for b in blocks:
        if isinstance(b, (bytes, bytearray, memoryview)):
            body.extend(b)
        else:
            body.extend(encode_block(b))
    return bytes(body)
