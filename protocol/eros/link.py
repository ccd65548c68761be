# eros/link.py - link framing shared by the pod (MicroPython) and the host (CPython).
#
# A frame is COBS(channel byte + payload) followed by one 0x00 delimiter. COBS removes every
# zero from the encoded bytes, so a receiver that lost sync (line noise, a reset half-way
# through a frame) finds the next frame boundary at the next 0x00. SPEC.md section 1.

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

CH_MESSAGE = const(0x50)  # 'P': one Eros message
CH_BENCH = const(0x42)    # 'B': bench JSON (emulator control)
CH_LOG = const(0x4C)      # 'L': log text from the pod
CHANNELS = (CH_MESSAGE, CH_BENCH, CH_LOG)
MAX_FRAME = const(1100)   # largest decoded frame (channel byte + payload)

# Largest encoded frame without its delimiter: one overhead byte per 254 data bytes, plus one.
_MAX_ENCODED = const(1100 + 1100 // 254 + 1)


def cobs_encode(data):
    """Consistent Overhead Byte Stuffing: returns bytes without any 0x00."""
    out = bytearray()
    code_pos = 0
    out.append(0)  # placeholder for the first code byte
    code = 1
    for b in data:
        if b == 0:
            out[code_pos] = code
            code_pos = len(out)
            out.append(0)
            code = 1
        else:
            out.append(b)
            code += 1
            if code == 0xFF:
                out[code_pos] = code
                code_pos = len(out)
                out.append(0)
                code = 1
    out[code_pos] = code
    return bytes(out)


def cobs_decode(data):
    """Inverse of cobs_encode; raises ValueError on malformed input (a zero, a short block)."""
    if not isinstance(data, (bytes, bytearray)):
        data = bytes(data)
    zero = data.find(b"\x00")
    if zero >= 0:
        raise ValueError("COBS data contains a zero byte at offset %d" % zero)
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        end = i + code
        if end > n:
            raise ValueError("COBS block at offset %d runs past the end of the frame" % i)
        out.extend(data[i + 1:end])
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def frame(channel, payload):
    """One complete frame ready for the wire: COBS(channel + payload) + 0x00."""
    if channel not in CHANNELS:
        raise ValueError("unknown link channel 0x%02x" % channel)
    if len(payload) + 1 > MAX_FRAME:
        raise ValueError("payload of %d bytes is over the %d-byte frame limit" % (len(payload), MAX_FRAME - 1))
    return cobs_encode(bytes((channel,)) + bytes(payload)) + b"\x00"


class Deframer:
    """Push-based receiver: feed() any chunk, get back the complete frames it finished.

    Bad frames (too long, malformed COBS, unknown channel, empty) are dropped and counted;
    reception resumes at the next 0x00, so one bad frame never costs the following one.
    """

    def __init__(self):
        self._buf = bytearray()
        self._skipping = False  # inside an oversize frame: discard until the next 0x00
        self.dropped_oversize = 0
        self.dropped_cobs = 0
        self.dropped_channel = 0
        self.frames = 0

    def reset(self):
        """Forget any partial frame (a new connection starts clean)."""
        self._buf = bytearray()
        self._skipping = False

    def feed(self, chunk):
        out = []
        if not isinstance(chunk, (bytes, bytearray)):
            chunk = bytes(chunk)
        buf = self._buf
        start = 0
        n = len(chunk)
        while start < n:
            end = chunk.find(b"\x00", start)
            if end < 0:
                end = n
            piece = chunk[start:end]
            if not self._skipping:
                if len(buf) + len(piece) > _MAX_ENCODED:
                    self._skipping = True
                    self.dropped_oversize += 1
                    buf = bytearray()
                else:
                    buf.extend(piece)
            if end < n:  # delimiter reached: the frame is complete
                if self._skipping:
                    self._skipping = False
                elif buf:
                    self._finish(buf, out)
                buf = bytearray()
            start = end + 1
        self._buf = buf
        return out

    def _finish(self, encoded, out):
        try:
            data = cobs_decode(encoded)
        except ValueError:
            self.dropped_cobs += 1
            return
        if len(data) > MAX_FRAME:
            self.dropped_oversize += 1
        elif not data or data[0] not in CHANNELS:
            self.dropped_channel += 1
        else:
            self.frames += 1
            out.append((data[0], data[1:]))

    def counters(self):
        return {
            "frames": self.frames,
            "dropped_oversize": self.dropped_oversize,
            "dropped_cobs": self.dropped_cobs,
            "dropped_channel": self.dropped_channel,
        }
