"""The Eros message frame: address(4) | B9 | BLEN | body | CRC16, big-endian.

B9 = f0ssssll: f the "critical follow-up" flag, ssss the 4-bit sequence number, ll bits 9..8 of
the body length (BLEN holds bits 7..0). The CRC16 (eros.crc) covers everything before it.
"""

from eros.blocks import decode_blocks, encode_blocks
from eros.crc import crc16
from eros.errors import ProtocolError

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

_HEADER = const(6)
_MIN_LEN = const(10)
_MAX_BODY = const(1023)


def build_message(address, seq, blocks, followup=False):
    """The full message bytes; blocks is a list of block dicts or of already-encoded block bytes."""
    if not isinstance(address, int) or address < 0 or address > 0xFFFFFFFF:
        raise ProtocolError("the message address must be a 32-bit unsigned integer, not %r" % (address,))
    if not isinstance(seq, int) or seq < 0 or seq > 15:
        raise ProtocolError("the message sequence number must be between 0 and 15, not %r" % (seq,))
    if followup not in (0, 1):  # also accepts True/False
        raise ProtocolError("followup must be True or False, not %r" % (followup,))
    body = encode_blocks(blocks)
    n = len(body)
    if n == 0:
        raise ProtocolError("a message needs at least one block")
    if n > _MAX_BODY:
        raise ProtocolError("the message body would be %d bytes; the 10-bit length field allows at most %d"
                            % (n, _MAX_BODY))
    out = bytearray(_HEADER + n + 2)
    out[0] = (address >> 24) & 0xFF
    out[1] = (address >> 16) & 0xFF
    out[2] = (address >> 8) & 0xFF
    out[3] = address & 0xFF
    out[4] = (0x80 if followup else 0) | (seq << 2) | (n >> 8)
    out[5] = n & 0xFF
    out[_HEADER:_HEADER + n] = body
    c = crc16(out, 0, _HEADER + n)
    out[_HEADER + n] = c >> 8
    out[_HEADER + n + 1] = c & 0xFF
    return bytes(out)


def parse_header(data):
    """(address, seq, followup, body_length) of the first 6 bytes; checks nothing else."""
    if len(data) < _HEADER:
        raise ProtocolError("a message header is 6 bytes, only %d were given" % len(data), len(data))
    b9 = data[4]
    address = (data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]
    return address, (b9 >> 2) & 0x0F, (b9 >> 7) & 1, ((b9 & 3) << 8) | data[5]


def parse_message(data):
    """Check and decode one message: {"address", "seq", "followup", "blocks", "body"}.

    Raises ProtocolError for a message shorter than 10 bytes, a length field that does not match
    the data, the unused header bit set, a bad CRC or any malformed block.
    """
    n = len(data)
    if n < _MIN_LEN:
        raise ProtocolError("the message is %d bytes; an Eros message has at least 10 "
                            "(6 header, a block, 2 CRC)" % n, 0)
    address, seq, followup, blen = parse_header(data)
    if data[4] & 0x40:
        raise ProtocolError("bit 6 of the header byte B9 must be 0, it is set (B9 = 0x%02x)" % data[4], 4)
    if _HEADER + blen + 2 != n:
        raise ProtocolError("the length field says the body has %d bytes, but the message carries %d "
                            "(after the 6-byte header, before the 2-byte CRC)" % (blen, n - _HEADER - 2), 5)
    end = _HEADER + blen
    want = crc16(data, 0, end)
    got = (data[end] << 8) | data[end + 1]
    if want != got:
        raise ProtocolError("CRC mismatch: the message carries 0x%04x, its bytes give 0x%04x" % (got, want), end)
    mv = memoryview(data)
    return {"address": address, "seq": seq, "followup": followup,
            "blocks": decode_blocks(mv[_HEADER:end], _HEADER), "body": bytes(mv[_HEADER:end])}
