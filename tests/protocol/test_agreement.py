"""The two codec implementations agree: the struct codec (eros.*) and the construct schema
(handset.spec) give identical bytes for random valid block dicts, and identical dicts for those
bytes, in both directions; on random byte strings both accept or both reject.

Hypothesis example counts are kept moderate so that the suite stays fast.
"""
from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eros.blocks import decode_blocks, encode_block
from eros.errors import ProtocolError
from eros.message import build_message as eros_build_message
from eros.message import parse_message as eros_parse_message
from handset import spec

# EROS_AGREEMENT_EXAMPLES raises the count for a long local run (e.g. 2000); the default keeps `make test` fast.
EXAMPLES = int(os.environ.get("EROS_AGREEMENT_EXAMPLES", "60"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def u(bits: int) -> st.SearchStrategy[int]:
    return st.integers(0, (1 << bits) - 1)


flag = st.integers(0, 1)
byte = u(8)
version = st.lists(byte, min_size=3, max_size=3)
words = lambda n: st.lists(u(32), max_size=n)  # noqa: E731 (pulse-log entries)


def block(block_type: int, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"type": st.just(block_type), **fields})


VERSION_SHORT = block(0x01, pm_version=version, pi_version=version, product_id=byte, progress=byte, lot=u(32),
                      tid=u(32), gain=u(2), rssi=u(6), address=u(32))
VERSION_LONG = block(0x01, pulse_volume=u(16), bolus_interval_eighths=byte, prime_interval_eighths=byte,
                     prime_pulses=byte, cannula_pulses=byte, pod_life_hours=byte, pm_version=version,
                     pi_version=version, product_id=byte, progress=byte, lot=u(32), tid=u(32), address=u(32))
POD_INFO = st.one_of(
    block(0x02, subtype=st.just(0x01), word=u(16), alert_minutes=st.lists(u(16), min_size=8, max_size=8)),
    block(0x02, subtype=st.just(0x02), progress=byte, delivery=byte, bolus_remaining=u(16), last_prog_seq=byte,
          pulses_delivered=u(16), fault_code=byte, fault_minutes=u(16), reservoir=u(16), minutes=u(16),
          alerts=byte, table_fault=byte, table_corruption=flag, occlusion_type=u(2), bolus_in_progress=flag,
          progress_at_fault=u(4), gain=u(2), rssi=u(6), previous_progress=byte, tail=u(16)),
    block(0x02, subtype=st.just(0x03), fault_code=byte, fault_minutes=u(16), minutes=u(16), entry_size=byte,
          max_entries=byte, entries=words(61)),
    block(0x02, subtype=st.just(0x05), fault_code=byte, fault_minutes=u(16), reserved=st.binary(min_size=8,
          max_size=8), month=byte, day=byte, year=byte, hour=byte, minute=byte),
    block(0x02, subtype=st.just(0x50), last_index=u(16), entries=words(63)),
    block(0x02, subtype=st.just(0x51), count=u(16), entries=words(63)),
    block(0x02, subtype=byte.filter(lambda s: s not in (0x01, 0x02, 0x03, 0x05, 0x50, 0x51)),
          data=st.binary(max_size=254)),
)
ALERT = st.fixed_dictionaries({
    "slot": u(4), "active": flag, "units_trigger": flag, "auto_off": flag, "duration_minutes": u(9),
    "trigger": u(16), "beep_repeat": byte, "beep_type": byte,
})
PLAIN_BLOCKS = st.one_of(
    VERSION_SHORT,
    VERSION_LONG,
    POD_INFO,
    block(0x03, address=u(32), unknown=byte, packet_timeout=byte, month=byte, day=byte, year=byte, hour=byte,
          minute=byte, lot=u(32), tid=u(32)),
    block(0x06, code=byte, word=u(16)),
    block(0x07, address=u(32)),
    block(0x08, nonce=u(32), tab5_16=byte, tab5_17=byte),
    block(0x0E, request=byte),
    block(0x11, nonce=u(32), mask=byte),
    block(0x19, nonce=u(32), alerts=st.lists(ALERT, max_size=8)),
    block(0x1C, nonce=u(32)),
    block(0x1D, delivery=u(4), progress=u(4), pulses_delivered=u(13), last_prog_seq=u(4), bolus_remaining=u(10),
          alerts=byte, minutes=u(13), reservoir=u(10)),
    block(0x1E, beep_type=u(4), basal_beep=byte, temp_basal_beep=byte, bolus_beep=byte),
    block(0x1F, nonce=u(32), beep_type=u(4), cancel=u(4)),
    st.fixed_dictionaries({
        "type": byte.filter(lambda t: t not in spec.KNOWN_BLOCK_TYPES),
        "raw": st.binary(max_size=255),
    }),
)

RATE_ENTRY = st.fixed_dictionaries({"tenths": u(16), "interval_us": u(32)})
ELEMENT = st.fixed_dictionaries({"segments": st.integers(1, 16), "alternate": flag, "pulses": u(10)})


def rate_block(block_type: int) -> st.SearchStrategy[dict]:
    return block(block_type, beep_options=byte, current_entry=byte, remaining_tenths=u(16),
                 delay_until_next_tenth_us=u(32), entries=st.lists(RATE_ENTRY, min_size=1, max_size=41))


INSULIN_BLOCKS = st.one_of(
    block(0x1A, nonce=u(32), table=st.integers(0, 2), checksum=u(16), segment=byte, seconds_x8=u(16),
          pulses=u(16), elements=st.lists(ELEMENT, min_size=1, max_size=48)),
    rate_block(0x13),
    rate_block(0x16),
    block(0x17, beep_options=byte, immediate_tenths=u(16), immediate_interval_us=u(32), extended_tenths=u(16),
          extended_interval_us=u(32)),
)


def _insulin_codec_present() -> bool:
    try:
        import eros.insulin  # noqa: F401
    except ImportError:
        return False
    return True


ALL_BLOCKS = st.one_of(PLAIN_BLOCKS, INSULIN_BLOCKS) if _insulin_codec_present() else PLAIN_BLOCKS


def _same(a: Any, b: Any) -> bool:
    """Equal as plain values (flags as 0/1, bytes-likes as bytes)."""
    return spec._equal(spec._plain(a), spec._plain(b))  # noqa: SLF001 (the spec's own comparison)


def _check_block(b: dict) -> None:
    by_struct = encode_block(b)
    by_construct = spec.build_block(b)
    assert by_struct == by_construct, f"{b}: struct {by_struct.hex()} != construct {by_construct.hex()}"
    from_struct = decode_blocks(by_construct, 0)
    from_construct = [spec.parse_block(by_struct)]
    assert _same(from_struct, from_construct), f"{by_struct.hex()}: {from_struct} != {from_construct}"
    assert _same(from_construct[0], b)


@SETTINGS
@given(PLAIN_BLOCKS)
def test_blocks_agree(b: dict) -> None:
    _check_block(b)


@SETTINGS
@given(INSULIN_BLOCKS)
def test_insulin_blocks_agree(b: dict) -> None:
    if not _insulin_codec_present():
        pytest.skip("eros.insulin (blocks 1A/13/16/17 of the struct codec) is not there yet")
    _check_block(b)


@SETTINGS
@given(address=u(32), seq=u(4), followup=flag, blocks=st.lists(ALL_BLOCKS, min_size=1, max_size=4))
def test_messages_agree(address: int, seq: int, followup: int, blocks: list[dict]) -> None:
    by_struct = eros_build_message(address, seq, blocks, followup=bool(followup))
    msg = {"address": address, "seq": seq, "followup": followup, "blocks": blocks}
    assert spec.build_message(msg) == by_struct
    from_construct = spec.parse_message(by_struct)
    from_struct = eros_parse_message(by_struct)
    assert _same(from_struct, from_construct)
    assert _same(from_construct["blocks"], blocks)


def _outcome(parse: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", spec._plain(parse(data))  # noqa: SLF001
    except (ProtocolError, spec.SpecError):
        return "rejected", None


def _mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """The bytes with one byte changed (the CRC fixed up for messages), or cut short."""
    return st.one_of(
        st.tuples(st.integers(0, len(data) - 1), byte).map(lambda ib: data[: ib[0]] + bytes([ib[1]]) + data[ib[0] + 1:]),
        st.integers(0, len(data)).map(lambda n: data[:n]),
    )


@SETTINGS
@given(st.data())
def test_both_reject_or_both_agree_on_damaged_bodies(data: st.DataObject) -> None:
    """A valid body with one byte changed: both implementations reject it, or both decode it alike."""
    blocks = data.draw(st.lists(ALL_BLOCKS, min_size=1, max_size=3))
    body = spec.build_blocks(blocks)
    damaged = data.draw(_mutations(body))
    struct_result = _outcome(lambda d: decode_blocks(d, 0) if d else _empty(), damaged)
    construct_result = _outcome(lambda d: spec.parse_blocks(d, 0), damaged)
    assert struct_result[0] == construct_result[0], (
        f"{damaged.hex()}: struct {struct_result} vs construct {construct_result}"
    )
    if struct_result[0] == "ok":
        assert _same(struct_result[1], construct_result[1])


def _empty() -> list:
    raise ProtocolError("empty body")


@SETTINGS
@given(st.binary(min_size=0, max_size=40))
def test_random_bytes_as_messages(data: bytes) -> None:
    """Arbitrary bytes (mostly with a bad CRC, some made valid): the same verdict from both."""
    if len(data) >= 8:
        # give half of the cases a consistent header and CRC so that the blocks get examined
        from eros.crc import crc16

        body_len = len(data) - 8
        framed = bytearray(data)
        framed[4] = (framed[4] & 0xBC) | (body_len >> 8)
        framed[5] = body_len & 0xFF
        framed[-2:] = crc16(bytes(framed[:-2])).to_bytes(2, "big")
        data = bytes(framed) if data[0] & 1 else data
    struct_result = _outcome(eros_parse_message, data)
    construct_result = _outcome(spec.parse_message, data)
    assert struct_result[0] == construct_result[0], f"{data.hex()}: {struct_result} vs {construct_result}"
    if struct_result[0] == "ok":
        assert _same(struct_result[1], construct_result[1])
