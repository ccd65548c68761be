"""The construct schema (handset.spec) on hand-made messages: bit layouts, plain dicts, errors.

The expected bytes here are worked out by hand from SPEC.md; the real vectors and captures are in
test_spec_vectors.py and test_spec_captures.py.
"""
from __future__ import annotations

import pytest

from eros.crc import crc16
from handset import spec
from handset.spec import SpecError

STATUS = {
    "type": 0x1D, "delivery": 2, "progress": 8, "pulses_delivered": 0x1ABC, "last_prog_seq": 9,
    "bolus_remaining": 0x2A5, "alerts": 0x81, "minutes": 0x1234, "reservoir": 0x3FF,
}


def _assert_plain(value: object) -> None:
    """Only dict/list/int/bytes: no construct Containers, no bools."""
    if isinstance(value, dict):
        assert type(value) is dict
        for key, item in value.items():
            assert isinstance(key, str) and not key.startswith("_")
            _assert_plain(item)
    elif isinstance(value, list):
        assert type(value) is list
        for item in value:
            _assert_plain(item)
    else:
        assert type(value) in (int, bytes), f"{value!r} is a {type(value).__name__}"


def test_header_bits_length_and_crc() -> None:
    body = spec.build_blocks([{"type": 0x0E, "request": 0}] * 100)  # 300 bytes: length needs bit 8
    data = spec.build_message({"address": 0x1F07B1EE, "seq": 10, "followup": True, "body": body})
    assert data[:4] == bytes.fromhex("1f07b1ee")
    assert data[4] == 0x80 | (10 << 2) | (300 >> 8)
    assert data[5] == 300 & 0xFF
    assert len(data) == 6 + 300 + 2
    assert int.from_bytes(data[-2:], "big") == crc16(data[:-2])
    msg = spec.parse_message(data)
    assert (msg["address"], msg["seq"], msg["followup"]) == (0x1F07B1EE, 10, 1)
    assert len(msg["blocks"]) == 100 and msg["body"] == body
    _assert_plain(msg)


def test_message_with_blocks_and_body_must_agree() -> None:
    msg = {"address": 1, "seq": 0, "blocks": [{"type": 0x0E, "request": 2}]}
    data = spec.build_message(msg)
    parsed = spec.parse_message(data)
    assert spec.build_message(parsed) == data  # blocks and body agree
    with pytest.raises(SpecError, match="does not match"):
        spec.build_message(dict(parsed, body=b"\x0e\x01\x03"))
    assert spec.build_message({"address": 1, "seq": 0, "body": parsed["body"]}) == data


def test_status_response_bits() -> None:
    data = spec.build_block(STATUS)
    # delivery|progress, then 0000 I(13) S(4) x B(10), then f A(8) T(13) R(10)
    word1 = (0x1ABC << 15) | (9 << 11) | 0x2A5
    word2 = (0x81 << 23) | (0x1234 << 10) | 0x3FF
    assert data == bytes([0x1D, 0x28]) + word1.to_bytes(4, "big") + word2.to_bytes(4, "big")
    assert spec.parse_block(data) == STATUS


@pytest.mark.parametrize("flip", [(2, 0x10), (4, 0x04), (6, 0x80)])
def test_status_response_reserved_bits_are_rejected(flip: tuple[int, int]) -> None:
    data = bytearray(spec.build_block(STATUS))
    data[flip[0]] |= flip[1]
    with pytest.raises(SpecError, match="reserved bit"):
        spec.parse_block(bytes(data))


def test_schedule_element_bits() -> None:
    block = {
        "type": 0x1A, "nonce": 0x01020304, "table": 0, "checksum": 0xBEEF, "segment": 47, "seconds_x8": 0x3840,
        "pulses": 3,
        "elements": [{"segments": 16, "alternate": 1, "pulses": 0x3FF}, {"segments": 1, "alternate": 0, "pulses": 0}],
    }
    data = spec.build_block(block)
    assert data == bytes.fromhex("1a10" "01020304" "00" "beef" "2f" "3840" "0003" "fbff" "0000")
    assert spec.parse_block(data) == block
    bad = bytearray(data)
    bad[-2] |= 0x04  # the unused bit between the alternate flag and the pulse count
    with pytest.raises(SpecError, match="0x1a"):
        spec.parse_block(bytes(bad))
    with pytest.raises(SpecError, match="segments must be 1..16"):
        spec.build_block(dict(block, elements=[{"segments": 17, "alternate": 0, "pulses": 1}]))


def test_alert_config_bits() -> None:
    alert = {"slot": 7, "active": 1, "units_trigger": 0, "auto_off": 1, "duration_minutes": 0x1A4,
             "trigger": 0x10DF, "beep_repeat": 5, "beep_type": 2}
    data = spec.build_block({"type": 0x19, "nonce": 0xFEB6268B, "alerts": [alert]})
    assert data == bytes.fromhex("190a" "feb6268b" "7b" "a4" "10df" "05" "02")
    assert spec.parse_block(data)["alerts"] == [alert]


def test_cancel_nibbles_and_simple_blocks() -> None:
    assert spec.build_block({"type": 0x1F, "nonce": 0x4D91F8FF, "beep_type": 6, "cancel": 4}) == bytes.fromhex(
        "1f054d91f8ff64"
    )
    assert spec.build_block({"type": 0x06, "code": 0x14, "word": 0x2FFA}) == bytes.fromhex("0603142ffa")
    assert spec.build_block({"type": 0x11, "nonce": 1, "mask": 0x10}) == bytes.fromhex("11050000000110")
    assert spec.build_block({"type": 0x1C, "nonce": 0xAABBCCDD}) == bytes.fromhex("1c04aabbccdd")
    beeps = {"type": 0x1E, "beep_type": 2, "basal_beep": 0x40, "temp_basal_beep": 0x7C, "bolus_beep": 0x3C}
    assert spec.build_block(beeps) == bytes.fromhex("1e0402407c3c")


def test_version_response_forms() -> None:
    short = {"type": 1, "pm_version": [2, 8, 1], "pi_version": [2, 7, 0], "product_id": 2, "progress": 2,
             "lot": 0x1234, "tid": 0x56789A, "gain": 1, "rssi": 40, "address": 0x1F000001}
    data = spec.build_block(short)
    assert data[:2] == b"\x01\x15" and data[-5] == (1 << 6) | 40
    assert spec.parse_block(data) == short
    long = {k: v for k, v in short.items() if k not in ("gain", "rssi")}
    long.update(pulse_volume=5000, bolus_interval_eighths=16, prime_interval_eighths=8, prime_pulses=52,
                cannula_pulses=10, pod_life_hours=80)
    data = spec.build_block(long)
    assert data[:4] == bytes.fromhex("011b1388")
    assert spec.parse_block(data) == long
    with pytest.raises(SpecError, match="21 or 27"):
        spec.parse_block(bytes([1, 22]) + bytes(22))


@pytest.mark.parametrize(
    "block",
    [
        {"type": 2, "subtype": 1, "word": 0x1234, "alert_minutes": [0, 1, 2, 3, 4, 5, 6, 0xFFFF]},
        {"type": 2, "subtype": 2, "progress": 13, "delivery": 0, "bolus_remaining": 5, "last_prog_seq": 4,
         "pulses_delivered": 2034, "fault_code": 0x86, "fault_minutes": 0xFFFF, "reservoir": 0x3FF,
         "minutes": 2562, "alerts": 0x80, "table_fault": 2, "table_corruption": 1, "occlusion_type": 2,
         "bolus_in_progress": 1, "progress_at_fault": 8, "gain": 3, "rssi": 63, "previous_progress": 8,
         "tail": 0xBEEF},
        {"type": 2, "subtype": 3, "fault_code": 1, "fault_minutes": 1, "minutes": 1, "entry_size": 4,
         "max_entries": 60, "entries": [0xDEADBEEF, 1]},
        {"type": 2, "subtype": 5, "fault_code": 0x92, "fault_minutes": 1, "reserved": bytes(8), "month": 9,
         "day": 25, "year": 18, "hour": 23, "minute": 14},
        {"type": 2, "subtype": 0x50, "last_index": 1000, "entries": []},
        {"type": 2, "subtype": 0x51, "count": 2, "entries": [5, 6]},
        {"type": 2, "subtype": 0x46, "data": bytes(range(30))},
        {"type": 0x42, "raw": b"\x00\x01"},
        {"type": 0x03, "address": 0x1F07B1EE, "unknown": 0x14, "packet_timeout": 4, "month": 10, "day": 10,
         "year": 16, "hour": 11, "minute": 18, "lot": 42125, "tid": 170175},
        {"type": 0x08, "nonce": 5, "tab5_16": 0, "tab5_17": 0},
        {"type": 0x13, "beep_options": 0x40, "current_entry": 2, "remaining_tenths": 600,
         "delay_until_next_tenth_us": 9_000_000, "entries": [{"tenths": 100, "interval_us": 18_000_000}] * 3},
        {"type": 0x16, "beep_options": 0, "current_entry": 0, "remaining_tenths": 0,
         "delay_until_next_tenth_us": 1_800_000_000, "entries": [{"tenths": 0, "interval_us": 1_800_000_000}]},
        {"type": 0x17, "beep_options": 0x7C, "immediate_tenths": 6000, "immediate_interval_us": 200_000,
         "extended_tenths": 200, "extended_interval_us": 18_000_000},
    ],
)
def test_round_trip_and_plain_dicts(block: dict) -> None:
    data = spec.build_block(block)
    back = spec.parse_block(data)
    assert back == block
    _assert_plain(back)
    assert spec.build_block(back) == data


def test_detailed_status_layout() -> None:
    block = {"type": 2, "subtype": 2, "progress": 13, "delivery": 0, "bolus_remaining": 0, "last_prog_seq": 0,
             "pulses_delivered": 171, "fault_code": 0x6A, "fault_minutes": 900, "reservoir": 0x3FF, "minutes": 902,
             "alerts": 0, "table_fault": 0, "table_corruption": 0, "occlusion_type": 1, "bolus_in_progress": 0,
             "progress_at_fault": 8, "gain": 1, "rssi": 23, "previous_progress": 8, "tail": 0}
    data = spec.build_block(block)
    assert data == bytes.fromhex("0216020d0000000000ab6a038403ff0386000028570800 00".replace(" ", ""))


@pytest.mark.parametrize(
    ("data", "match", "offset"),
    [
        ("1f07b1ee0c", "at least 10 bytes", 0),
        ("1f07b1ee0c0b1d0300001000000003ff0000", "header says the body is 11 bytes", 4),
        ("1f07b1ee4c0a1d0300001000000003ff0000", "header", 4),
    ],
)
def test_message_errors(data: str, match: str, offset: int) -> None:
    raw = bytes.fromhex(data)
    if "0000" == data[-4:]:  # give the frame a correct CRC so that only the stated fault remains
        raw = raw[:-2] + crc16(raw[:-2]).to_bytes(2, "big")
    with pytest.raises(SpecError, match=match) as info:
        spec.parse_message(raw)
    assert info.value.offset == offset
    assert isinstance(info.value, ValueError)


def test_crc_error_names_both_values() -> None:
    good = spec.build_message({"address": 5, "seq": 1, "blocks": [{"type": 0x0E, "request": 0}]})
    bad = good[:-1] + bytes([good[-1] ^ 1])
    with pytest.raises(SpecError, match=f"0x{crc16(good[:-2]):04x}") as info:
        spec.parse_message(bad)
    assert info.value.offset == len(good) - 2


@pytest.mark.parametrize(
    ("body", "match", "offset"),
    [
        ("0e0100" "07", "no length byte", 9),
        ("0e0100" "0705aabb", "says it has 5 bytes", 9),
        ("0e0100" "1d0102", "needs 10 bytes", 9),
        ("0e020000", "0x0e at byte 6", 6),
        ("1908aabbccdd11223344", "0x19", 6),
    ],
)
def test_block_errors_say_where(body: str, match: str, offset: int) -> None:
    with pytest.raises(SpecError, match=match) as info:
        spec.parse_blocks(bytes.fromhex(body))
    assert info.value.offset == offset


@pytest.mark.parametrize(
    ("block", "match"),
    [
        ({"type": 0x07}, "missing the field 'address'"),
        ({"type": 0x07, "address": 1, "colour": 2}, "does not carry: colour"),
        ({"type": 0x07, "address": 1 << 32}, "does not fit 32 bits"),
        ({"type": 0x1D, **{k: v for k, v in STATUS.items() if k != "type"}, "delivery": 16}, "'delivery'"),
        ({"type": 0x0E, "raw": b"\x00"}, "known block type"),
        ({"type": 0x40}, "'raw' bytes"),
        ({"type": 300, "raw": b""}, "not a byte"),
        ({"type": 0x02, "subtype": 1, "word": 0, "alert_minutes": [0]}, "expected 8 elements"),
        ({"type": 0x01, "pm_version": [2, 7, 0], "product_id": 2}, "missing the field"),
        ("0e0100", "dictionary"),
    ],
)
def test_build_errors(block: object, match: str) -> None:
    with pytest.raises(SpecError, match=match):
        spec.build_block(block)  # type: ignore[arg-type]


def test_message_build_errors() -> None:
    with pytest.raises(SpecError, match="0..15"):
        spec.build_message({"address": 1, "seq": 16, "blocks": [{"type": 0x0E, "request": 0}]})
    with pytest.raises(SpecError, match="at least one block"):
        spec.build_message({"address": 1, "seq": 1, "blocks": []})
    with pytest.raises(SpecError, match="at most 1023"):
        spec.build_message({"address": 1, "seq": 1, "blocks": [{"type": 0x0E, "request": 0}] * 342})
    with pytest.raises(SpecError, match="address"):
        spec.build_message({"address": -1, "seq": 1, "blocks": [{"type": 0x0E, "request": 0}]})


def test_schedule_checksum_is_computed_when_left_out() -> None:
    block = {"type": 0x1A, "nonce": 9, "table": 1, "segment": 1, "seconds_x8": 0x3840, "pulses": 2,
             "elements": [{"segments": 1, "alternate": 0, "pulses": 2}]}
    # 0x01 + 0x38 + 0x40 + 0x00 + 0x02 + (0x00 + 0x02) = 0x7d
    assert spec.build_block(block)[7:9] == b"\x00\x7d"
    assert spec.build_block(dict(block, checksum=None)) == spec.build_block(block)
    alternate = dict(block, elements=[{"segments": 3, "alternate": 1, "pulses": 255}])
    # segments of 255, 256, 255 pulses: 255 + (1 + 0) + 255, plus the header bytes 0x7b
    assert spec.table_checksum(alternate) == 0x7B + 255 + 1 + 255


@pytest.mark.parametrize(
    ("block", "match"),
    [
        ({"table": 3}, "'table'"),
        ({"elements": []}, "at least one"),
    ],
)
def test_schedule_rules(block: dict, match: str) -> None:
    base = {"type": 0x1A, "nonce": 9, "table": 1, "segment": 1, "seconds_x8": 0x3840, "pulses": 2,
            "elements": [{"segments": 1, "alternate": 0, "pulses": 2}]}
    with pytest.raises(SpecError, match=match):
        spec.build_block(dict(base, **block))


def test_parse_block_wants_exactly_one() -> None:
    with pytest.raises(SpecError, match="one block but found 2"):
        spec.parse_block(bytes.fromhex("0e01000e0100"))
