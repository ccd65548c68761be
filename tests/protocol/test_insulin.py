"""Codec of blocks 1A/13/16/17 and the schedule builders: fields, checksum, range checks, errors."""
from __future__ import annotations

import pytest

from eros import insulin as I
from eros import schedule
from eros.errors import ProtocolError


def _payload(block: bytes) -> bytes:
    return block[2:]


def test_checksum_of_single_elements():
    # InsulinTableEntry examples: 2 x 300 pulses = 0x5a; 2 x 260 alternating = 0x0b
    assert I.table_checksum(0, 0, 0, [{"segments": 2, "alternate": 0, "pulses": 300}]) == 0x5A
    assert I.table_checksum(0, 0, 0, [{"segments": 2, "alternate": 1, "pulses": 260}]) == 0x0B


def test_checksum_counts_an_alternate_carry_into_the_high_byte():
    e = [{"segments": 2, "alternate": 1, "pulses": 255}]
    assert I.table_checksum(0, 0, 0, e) == 0xFF + 0x01 + 0x00


def test_1a_round_trip_and_verify():
    a, _ = schedule.bolus_blocks(52, 0xBED2E16B, interval_ms=1000)
    raw = I.encode_1a(a)
    assert raw.hex() == "1a0ebed2e16b02010a0101a000340034"
    back = I.decode_1a(_payload(raw), 2)
    assert back == a
    I.verify_1a(back)
    bad = dict(back, checksum=back["checksum"] ^ 1)
    assert I.decode_1a(_payload(I.encode_1a(bad)), 2)["checksum"] == bad["checksum"]  # decodes anyway
    with pytest.raises(ProtocolError, match="checksum"):
        I.verify_1a(bad)


def test_encode_1a_computes_a_missing_checksum():
    a, _ = schedule.temp_basal_blocks(4, 1, 0xEA2D0A3B)
    assert I.encode_1a(dict(a, checksum=None)) == I.encode_1a(a)


@pytest.mark.parametrize("data, offset_of_error", [
    (bytes(13), 9),                                   # odd element bytes
    (bytes(12), 9),                                   # no element
    (bytes([0, 0, 0, 0, 3]) + bytes(9), 14),          # table 3
    (bytes(12) + b"\x04\x00", 22),                    # reserved bit of an element
])
def test_decode_1a_rejects_malformed_data(data, offset_of_error):
    with pytest.raises(ProtocolError) as e:
        I.decode_1a(data, 10)
    assert e.value.offset == offset_of_error


def test_rate_blocks_round_trip_and_reject_bad_lengths():
    _, b13 = schedule.basal_schedule_blocks([20] * 24 + [30] * 24, 12 * 3600_000, 1, 0x40)
    raw = I.encode_13(b13)
    assert I.decode_13(_payload(raw), 2) == b13
    _, b16 = schedule.temp_basal_blocks(0, 3, 1, 0x7C)
    raw16 = I.encode_16(b16)
    assert I.decode_16(_payload(raw16), 2) == b16
    for bad in (bytes(8), bytes(15)):
        with pytest.raises(ProtocolError):
            I.decode_13(bad, 2)
        with pytest.raises(ProtocolError):
            I.decode_16(bad, 2)


def test_17_round_trip_and_length():
    _, b17 = schedule.bolus_blocks(40, 1, extended_pulses=80, extended_half_hours=6, beep_options=0x3C)
    raw = I.encode_17(b17)
    assert raw.hex() == "170d3c019000030d40032000cdfe60"
    assert I.decode_17(_payload(raw), 2) == b17
    with pytest.raises(ProtocolError) as e:
        I.decode_17(bytes(12), 7)
    assert e.value.offset == 6


def test_encoders_name_the_bad_field():
    a, b13 = schedule.basal_schedule_blocks([1] * 48, 0, 1)
    with pytest.raises(ProtocolError, match="nonce"):
        I.encode_1a(dict(a, nonce=1 << 32))
    with pytest.raises(ProtocolError, match="segments"):
        I.encode_1a(dict(a, elements=[{"segments": 17, "alternate": 0, "pulses": 0}]))
    with pytest.raises(ProtocolError, match="interval_us"):
        I.encode_13(dict(b13, entries=[{"tenths": 1, "interval_us": -1}]))
    with pytest.raises(ProtocolError, match="extended_tenths"):
        I.encode_17({"type": 0x17, "beep_options": 0, "immediate_tenths": 10, "immediate_interval_us": 1,
                     "extended_interval_us": 0})


@pytest.mark.parametrize("call, word", [
    (lambda: schedule.basal_schedule_blocks([0] * 48, 0, 1), "rates_pph"),
    (lambda: schedule.basal_schedule_blocks([601] * 48, 0, 1), "rates_pph"),
    (lambda: schedule.basal_schedule_blocks([1] * 47, 0, 1), "48"),
    (lambda: schedule.basal_schedule_blocks([1] * 48, 86_400_000, 1), "time_of_day_ms"),
    (lambda: schedule.basal_schedule_blocks([1] * 48, 0, 1, beep_options=256), "beep_options"),
    (lambda: schedule.temp_basal_blocks(601, 1, 1), "rate_pph"),
    (lambda: schedule.temp_basal_blocks(1, 0, 1), "half_hours"),
    (lambda: schedule.temp_basal_blocks(1, 25, 1), "half_hours"),
    (lambda: schedule.temp_basal_blocks_tenths(43, 1, 1), "even"),
    (lambda: schedule.bolus_blocks(601, 1), "pulses"),
    (lambda: schedule.bolus_blocks(0, 1), "no insulin"),
    (lambda: schedule.bolus_blocks(1, 1, interval_ms=1001), "interval_ms"),
    (lambda: schedule.bolus_blocks(1, 1, extended_pulses=1), "extended"),
    (lambda: schedule.bolus_blocks(1, 1, extended_pulses=1, extended_half_hours=17), "extended_half_hours"),
    (lambda: schedule.bolus_blocks(1, -1), "nonce"),
    (lambda: schedule.bolus_blocks(1.5, 1), "pulses"),
])
def test_builders_range_check_every_argument(call, word):
    with pytest.raises(ProtocolError, match=word):
        call()


def test_merge_is_greedy_constant_or_alternating():
    m = schedule.merge_segments([27, 28, 202, 1] + [0, 1] * 13)
    assert [(e["segments"], e["alternate"], e["pulses"]) for e in m] == [
        (2, 1, 27), (1, 0, 202), (1, 0, 1), (16, 1, 0), (10, 1, 0)]
    assert I.expand_elements(m) == [27, 28, 202, 1] + [0, 1] * 13


def test_basal_table_carries_half_pulses_across_the_day():
    a, b = schedule.basal_schedule_blocks([21] * 48, 0, 1)
    segs = I.expand_elements(a["elements"])
    assert segs == [10, 11] * 24 and sum(segs) == 504
    assert b["entries"] == [{"tenths": 5040, "interval_us": 17142857}]
    # at midnight: the whole day is left; next tenth one interval away
    assert (b["remaining_tenths"], b["delay_until_next_tenth_us"]) == (5040, 17142857)


def test_basal_time_is_rounded_to_the_second_and_wraps():
    a1, b1 = schedule.basal_schedule_blocks([20] * 48, 86_399_600, 1)
    a2, b2 = schedule.basal_schedule_blocks([20] * 48, 0, 1)
    assert (a1, b1) == (a2, b2)


def test_zero_temp_has_one_empty_entry_per_half_hour():
    a, b = schedule.temp_basal_blocks(0, 24, 7, 0x7C)
    assert I.expand_elements(a["elements"]) == [0] * 24
    assert b["entries"] == [{"tenths": 0, "interval_us": 1_800_000_000}] * 24
    assert I.encode_16(b)[1] == 0x98


def test_long_high_rate_entries_split_to_fit_16_bits():
    _, b = schedule.basal_schedule_blocks([480] * 48, 0, 1)
    assert [e["tenths"] for e in b["entries"]] == [64800, 50400]


def test_blocks_module_dispatches_here():
    blocks = pytest.importorskip("eros.blocks")
    a, b = schedule.bolus_blocks(10, 0x7E30BF16, interval_ms=1000)
    body = blocks.encode_block(a) + blocks.encode_block(b)
    assert body.hex() == "1a0e7e30bf16020065010050000a000a" + "170d000064000186a0000000000000"
    assert blocks.decode_blocks(body) == [a, b]
