"""Nonce generator and resync (PROTOCOL-NOTES §3.1, §3.3), and the real PDM's nonce sequences."""
import pytest

from eros.errors import ProtocolError
from eros.message import parse_message
from eros.nonce import NonceState, resync_word, seed_from_resync


def _sequence(state, n):
    return [state.advance() for _ in range(n)]


def test_published_sequence():
    assert _sequence(NonceState(42560, 661771), 4) == [0x8C61EE59, 0xC0256620, 0x15022C8A, 0xACF076CA]


@pytest.mark.parametrize("lot, tid, first", [(42539, 140445, 0x8FD39264), (42125, 170175, 0x8D27868E)])
def test_first_nonce(lot, tid, first):
    assert NonceState(lot, tid).current() == first


def test_real_pdm_sequences_from_notes():
    assert _sequence(NonceState(42125, 170175), 5) == [0x8D27868E, 0x7F838E8A, 0xEB5701B2, 0xD508244B, 0x758E7829]
    assert _sequence(NonceState(0xA518, 0x5304E), 5) == [0xC9FBBD58, 0xDDE7B946, 0x074455D5, 0x08E7FBE2, 0x513E326E]


def test_current_does_not_advance():
    s = NonceState(42560, 661771)
    assert s.current() == s.current() == 0x8C61EE59


# (lot, tid, failed nonce, seq, word, seed, new nonce) from §3.3
RESYNC = [
    (42539, 140445, 0x2E07C7C7, 9, 0x92C4, 1, 0x40CCDACB),
    (42125, 170175, 0x851072AA, 1, 0x2FFA, 1, 0xF1488FC3),
    (0xA742, 0x7F050, 0x8ECD89D7, 13, 0xA197, 1, 0xDA1289D7),
    (43620, 560313, 2232447658, 5, 0xA9E4, 1, 1521036535),
]


@pytest.mark.parametrize("lot, tid, failed, seq, word, seed, new_nonce", RESYNC)
def test_resync_vectors_both_sides(lot, tid, failed, seq, word, seed, new_nonce):
    assert seed_from_resync(failed, seq, lot, tid, word) == seed
    assert resync_word(failed, seq, lot, tid, seed) == word
    assert NonceState(lot, tid, seed).current() == new_nonce


def test_next_nonce_after_a_successful_resync():
    s = NonceState(43620, 560313, 1)
    s.advance()
    assert s.current() == 545302454


def test_resync_round_trip_for_many_seeds():
    for seed in (0, 1, 0x4C, 0x7F, 0x80, 0x1234, 0xFFFF):
        w = resync_word(0xDEADBEEF, 7, 42125, 170175, seed)
        assert seed_from_resync(0xDEADBEEF, 7, 42125, 170175, w) == seed


def test_persistence_round_trip():
    s = NonceState(42125, 170175, 3)
    _sequence(s, 7)
    words = s.to_words()
    assert len(words) == 20 and all(isinstance(w, int) and 0 <= w <= 0xFFFFFFFF for w in words)
    r = NonceState.from_words(42125, 170175, words)
    assert r.seed == 3
    assert _sequence(r, 20) == _sequence(s, 20)


@pytest.mark.parametrize("call", [
    lambda: NonceState(-1, 1), lambda: NonceState(1, 1 << 32), lambda: NonceState(1, 1, 0x10000),
    lambda: resync_word(1, 16, 1, 1, 1), lambda: resync_word(1, 1, 1, 1, -1),
    lambda: seed_from_resync(1, 1, 1, 1, 0x10000), lambda: NonceState.from_words(1, 1, [0] * 19),
    lambda: NonceState.from_words(1, 1, [0, 16] + [0] * 18),
])
def test_bad_arguments_raise_protocol_error(call):
    with pytest.raises(ProtocolError):
        call()


NONCE_TYPES = (0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1F)


def _pdm_nonces(captures, source_path, lot, tid, count):
    """The nonces of the first `count` distinct nonce-bearing PDM messages (real capture order)."""
    seen = []
    for c in captures:
        if c["direction"] != "PDM" or c["source_path"] != source_path:
            continue
        body = bytes.fromhex(c["hex"])[6:-2]
        # the nonce sits right after the type and length bytes in every nonce block
        if body and body[0] in NONCE_TYPES:
            n = int.from_bytes(body[2:6], "big")
            if n not in seen:
                seen.append(n)
        if len(seen) == count:
            break
    return seen


def test_generator_reproduces_the_real_captured_sequence(captures):
    # pod 1f07b1ee: lot 42125 / tid 170175 (its VersionResponse is in the same capture)
    version = next(parse_message(bytes.fromhex(c["hex"])) for c in captures
                   if c["source_path"].endswith("temp_basals.txt") and c["direction"] == "POD"
                   and c["hex"].startswith("ffffffff") and c["hex"][12:16] == "0115")
    lot, tid = version["blocks"][0]["lot"], version["blocks"][0]["tid"]
    assert (lot, tid) == (42125, 170175)
    # the first four nonce messages of the session (later ones include replayed, stale messages)
    assert _pdm_nonces(captures, "analysis/data/temp_basals.txt", lot, tid, 4) == _sequence(NonceState(lot, tid), 4)
