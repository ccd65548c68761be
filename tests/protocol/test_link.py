"""Link framing (eros.link): COBS, frames, and the Deframer's resynchronisation and limits."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eros import link
from eros.link import CH_BENCH, CH_LOG, CH_MESSAGE, MAX_FRAME, Deframer, cobs_decode, cobs_encode, frame


@pytest.mark.parametrize(
    "raw, encoded",
    [
        (b"", b"\x01"),
        (b"\x00", b"\x01\x01"),
        (b"\x00\x00", b"\x01\x01\x01"),
        (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
        (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
        (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
        (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
        (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    ],
)
def test_cobs_known_encodings(raw: bytes, encoded: bytes) -> None:
    assert cobs_encode(raw) == encoded
    assert cobs_decode(encoded) == raw


@pytest.mark.parametrize("bad", [b"\x05\x11\x22", b"\x03\x11\x00", b"\x00"])
def test_cobs_decode_rejects_malformed(bad: bytes) -> None:
    with pytest.raises(ValueError):
        cobs_decode(bad)


@settings(max_examples=300)
@given(st.binary(max_size=1200))
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    enc = cobs_encode(data)
    assert 0 not in enc
    assert cobs_decode(enc) == data


@settings(max_examples=200)
@given(st.lists(st.tuples(st.sampled_from([CH_MESSAGE, CH_BENCH, CH_LOG]), st.binary(max_size=MAX_FRAME - 1)), max_size=5),
       st.integers(min_value=1, max_value=64))
def test_frames_round_trip_in_any_chunking(frames: list[tuple[int, bytes]], chunk: int) -> None:
    wire = b"".join(frame(ch, p) for ch, p in frames)
    d = Deframer()
    got = []
    for i in range(0, len(wire), chunk):
        got.extend(d.feed(wire[i:i + chunk]))
    assert got == frames
    assert d.dropped_cobs == d.dropped_oversize == d.dropped_channel == 0


MSG = bytes.fromhex("1f01482a10030e0100802c")
BENCH = b'{"op":"info"}'


def feed_all(d: Deframer, pieces: list[bytes]) -> list[tuple[int, bytes]]:
    out = []
    for p in pieces:
        out.extend(d.feed(p))
    return out


def test_split_feeding_whole_halves_and_byte_by_byte() -> None:
    wire = frame(CH_MESSAGE, MSG)
    half = len(wire) // 2
    assert Deframer().feed(wire) == [(CH_MESSAGE, MSG)]
    assert feed_all(Deframer(), [wire[:half], wire[half:]]) == [(CH_MESSAGE, MSG)]
    d = Deframer()
    results = [d.feed(wire[i:i + 1]) for i in range(len(wire))]
    assert all(r == [] for r in results[:-1])  # nothing until the delimiter
    assert results[-1] == [(CH_MESSAGE, MSG)]


def test_two_frames_in_one_chunk_and_a_partial_third() -> None:
    third = frame(CH_LOG, b"hello")
    wire = frame(CH_MESSAGE, MSG) + frame(CH_BENCH, BENCH) + third[:3]
    d = Deframer()
    assert d.feed(wire) == [(CH_MESSAGE, MSG), (CH_BENCH, BENCH)]
    assert d.feed(third[3:]) == [(CH_LOG, b"hello")]


def test_garbage_before_and_between_frames_is_dropped_and_counted() -> None:
    # Garbage that ends in a delimiter: a malformed or unknown-channel frame, then resync.
    d = Deframer()
    wire = b"\x07\x01\x02\x00" + frame(CH_MESSAGE, MSG) + b"\x02\x99\x00" + frame(CH_BENCH, BENCH)
    assert d.feed(wire) == [(CH_MESSAGE, MSG), (CH_BENCH, BENCH)]
    assert d.dropped_cobs == 1       # 0x07 promises 6 bytes, only 2 came
    assert d.dropped_channel == 1    # channel 0x99 is unknown


def test_garbage_without_delimiter_spoils_only_the_next_frame() -> None:
    d = Deframer()
    out = d.feed(b"\x05\x05\x05" + frame(CH_MESSAGE, MSG) + frame(CH_MESSAGE, MSG))
    assert out == [(CH_MESSAGE, MSG)]
    assert d.dropped_cobs + d.dropped_channel == 1


def test_empty_frames_and_repeated_delimiters_are_ignored() -> None:
    d = Deframer()
    assert d.feed(b"\x00\x00" + frame(CH_LOG, b"x") + b"\x00") == [(CH_LOG, b"x")]
    assert d.dropped_cobs == d.dropped_channel == d.dropped_oversize == 0


def test_oversize_frame_is_dropped_and_the_next_frame_survives() -> None:
    big = cobs_encode(bytes([CH_MESSAGE]) + b"\x01" * 5000) + b"\x00"
    d = Deframer()
    out = feed_all(d, [big[i:i + 700] for i in range(0, len(big), 700)] + [frame(CH_MESSAGE, MSG)])
    assert out == [(CH_MESSAGE, MSG)]
    assert d.dropped_oversize == 1
    # the buffer stays bounded while discarding
    assert len(d._buf) <= link._MAX_ENCODED


def test_largest_frame_passes_and_one_more_byte_is_dropped() -> None:
    payload = bytes(range(1, 256)) * 5
    ok = payload[: MAX_FRAME - 1]
    d = Deframer()
    assert d.feed(frame(CH_BENCH, ok)) == [(CH_BENCH, ok)]
    too_big = cobs_encode(bytes([CH_BENCH]) + payload[:MAX_FRAME]) + b"\x00"
    assert d.feed(too_big) == []
    assert d.dropped_oversize == 1


def test_frame_refuses_unknown_channel_and_oversize_payload() -> None:
    with pytest.raises(ValueError, match="channel"):
        frame(0x51, b"")
    with pytest.raises(ValueError, match="limit"):
        frame(CH_MESSAGE, bytes(MAX_FRAME))


def test_spec_example_bytes() -> None:
    # protocol/SPEC.md section 1 quotes these bytes
    assert frame(CH_BENCH, b'{"op":"info"}').hex(" ") == "0f 42 7b 22 6f 70 22 3a 22 69 6e 66 6f 22 7d 00"


def test_memoryview_chunks_are_accepted() -> None:
    wire = frame(CH_MESSAGE, MSG)
    assert Deframer().feed(memoryview(wire)) == [(CH_MESSAGE, MSG)]
