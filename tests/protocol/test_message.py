"""Message frame: header bits, 10-bit length, CRC, and the checks parse_message makes."""
import importlib.util

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from eros.crc import crc16
from eros.errors import ProtocolError
from eros.message import build_message, parse_message

HAVE_INSULIN = importlib.util.find_spec("eros.insulin") is not None


def test_build_matches_the_published_get_status_message():
    assert build_message(0x1F01482A, 4, [{"type": 0x0E, "request": 0}]).hex() == "1f01482a10030e0100802c"


def test_parse_gives_header_fields_blocks_and_body():
    m = parse_message(bytes.fromhex("1f00ee84300a1d18003f1800004297ff8128"))
    assert (m["address"], m["seq"], m["followup"]) == (0x1F00EE84, 12, 0)
    assert m["body"] == bytes.fromhex("1d18003f1800004297ff")
    assert [b["type"] for b in m["blocks"]] == [0x1D]


def test_followup_bit_and_trailing_padding_blocks():
    # real cancel-all before deactivation: B9 = 0x90 (follow-up, seq 4)
    m = parse_message(bytes.fromhex("1f01482b90071f058ae8a96207032c"))
    assert m["followup"] == 1 and m["seq"] == 4
    assert m["blocks"] == [{"type": 0x1F, "nonce": 0x8AE8A962, "beep_type": 0, "cancel": 7}]
    padded = build_message(1, 3, [{"type": 0x1C, "nonce": 5}, {"type": 0x0E, "request": 0},
                                  {"type": 0x0E, "request": 0}], followup=True)
    assert parse_message(padded)["blocks"][1:] == [{"type": 0x0E, "request": 0}] * 2
    assert padded[4] == 0x80 | (3 << 2)


def test_length_above_255_uses_the_two_high_bits_of_b9():
    earlier = list(range(60))  # 0x51 pulse log: 2 + 3 + 240 bytes
    recent = list(range(60, 70))  # 0x50: 2 + 3 + 40 bytes
    data = build_message(0x1F07B1EE, 15, [{"type": 0x02, "subtype": 0x51, "count": 60, "entries": earlier},
                                          {"type": 0x02, "subtype": 0x50, "last_index": 69, "entries": recent}])
    body_len = len(data) - 8
    assert body_len == 290 and data[4] == (15 << 2) | 1 and data[5] == 290 & 0xFF
    blocks = parse_message(data)["blocks"]
    assert blocks[0]["entries"] == earlier and blocks[1]["entries"] == recent


def test_build_accepts_already_encoded_blocks():
    assert build_message(0x1F01482A, 4, [bytes.fromhex("0e0100")]).hex() == "1f01482a10030e0100802c"


@pytest.mark.parametrize("address, seq, followup, what", [
    (-1, 0, False, "address"), (1 << 32, 0, False, "address"), (1, 16, False, "sequence"),
    (1, -1, False, "sequence"), (1, 0, 2, "followup"),
])
def test_build_range_checks_the_header(address, seq, followup, what):
    with pytest.raises(ProtocolError, match=what):
        build_message(address, seq, [{"type": 0x0E, "request": 0}], followup)


def test_build_refuses_empty_and_oversized_bodies():
    with pytest.raises(ProtocolError, match="at least one block"):
        build_message(1, 0, [])
    big = [{"type": 0x02, "subtype": 0x51, "count": 0, "entries": [0] * 63}] * 5  # 5 x 257 bytes
    with pytest.raises(ProtocolError, match="at most 1023"):
        build_message(1, 0, big)


GOOD = bytes.fromhex("1f00ee84300a1d18003f1800004297ff8128")


def test_too_short():
    with pytest.raises(ProtocolError, match="at least 10") as e:
        parse_message(GOOD[:9])
    assert e.value.offset == 0


def test_length_field_must_match_the_data():
    with pytest.raises(ProtocolError, match="length field") as e:
        parse_message(GOOD + b"\x00")
    assert e.value.offset == 5
    with pytest.raises(ProtocolError, match="length field"):
        parse_message(GOOD[:-3] + GOOD[-2:])


def test_bad_crc_names_the_crc_byte():
    bad = GOOD[:-1] + bytes([GOOD[-1] ^ 1])
    with pytest.raises(ProtocolError, match="CRC") as e:
        parse_message(bad)
    assert e.value.offset == len(GOOD) - 2
    assert "at byte 16" in str(e.value)


def test_unused_header_bit_is_refused():
    data = bytearray(GOOD[:-2])
    data[4] |= 0x40
    c = crc16(data)
    with pytest.raises(ProtocolError, match="bit 6") as e:
        parse_message(bytes(data) + bytes([c >> 8, c & 0xFF]))
    assert e.value.offset == 4


def test_malformed_block_offset_is_from_the_start_of_the_message():
    # body 0e 05 00: the length byte (message byte 7) claims 5 bytes
    data = bytearray(bytes.fromhex("1f01482a1003") + bytes.fromhex("0e0500"))
    c = crc16(data)
    with pytest.raises(ProtocolError) as e:
        parse_message(bytes(data) + bytes([c >> 8, c & 0xFF]))
    assert e.value.offset == 7


def _with_crc(prefix: bytes) -> bytes:
    c = crc16(prefix)
    return prefix + bytes([c >> 8, c & 0xFF])


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=80), st.booleans())
def test_random_input_raises_only_protocol_error(data, fix_crc):
    if fix_crc and len(data) >= 6:
        # make the frame checks pass often, so that the block walk gets fuzzed too
        head = bytearray(data[:6])
        n = len(data) - 6
        head[4] = (head[4] & 0xBC) | (n >> 8)
        head[5] = n & 0xFF
        data = _with_crc(bytes(head) + data[6:])
    try:
        m = parse_message(data)
    except ProtocolError:
        return
    except ImportError:
        assume(HAVE_INSULIN)  # a 1A/13/16/17 block before eros.insulin exists
        raise
    # whatever parses must rebuild to the same bytes
    assert build_message(m["address"], m["seq"], m["blocks"], m["followup"]) == data
