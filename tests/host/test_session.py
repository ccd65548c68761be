"""The session layer: seq and address checks, retries of the same bytes, nonce resync, trace.

Cases the firmware cannot be told to produce (a reply with a wrong seq, a garbled reply, a pod
that refuses the resynced nonce too) run against a scripted pod on a real TCP socket; the normal
exchange and the resync also run against the real firmware.
"""
from __future__ import annotations

import io

import pytest

from eros import constants as C
from eros.message import build_message, parse_message
from eros.nonce import NonceState, resync_word
from handset.errors import NonceResyncFailed
from handset.pod import cancel_block, status_request_block
from handset.session import NoReply, Session
from handset.transport import Link

ADDR = 0x1F07B1EE
LOT, TID = 42125, 170175
STATUS_1D = {"type": C.BLOCK_STATUS, "delivery": 1, "progress": 8, "pulses_delivered": 58, "last_prog_seq": 2,
             "bolus_remaining": 0, "alerts": 0, "minutes": 7, "reservoir": 0x3FF}


def reply(seq: int, block: dict = STATUS_1D, address: int = ADDR) -> bytes:
    return build_message(address, seq, [block])


def test_reply_must_carry_seq_plus_one_and_the_address(scripted_pod):
    """A reply with the wrong seq, one for another address and a garbled one are ignored."""
    good = reply(5)
    garbled = good[:-1] + bytes([good[-1] ^ 0xFF])
    pod = scripted_pod([[reply(6), reply(5, address=0x1F000001), garbled, good]])
    trace = io.StringIO()
    with Link.open(pod.url) as link:
        session = Session(link, ADDR, next_seq=4, reply_timeout_s=1.0, trace=trace)
        ex = session.send([status_request_block()])
    assert ex.seq == 4 and ex.reply["seq"] == 5 and ex.reply["address"] == ADDR and ex.attempts == 1
    assert session.next_seq == 6
    assert trace.getvalue().count("# ignored") == 3


def test_no_reply_resends_the_same_bytes_then_gives_up(scripted_pod):
    pod = scripted_pod([None, None, None])
    with Link.open(pod.url) as link:
        session = Session(link, ADDR, lot=LOT, tid=TID, nonce=NonceState(LOT, TID), next_seq=2,
                          reply_timeout_s=0.2, attempts=3)
        with pytest.raises(NoReply) as caught:
            session.send([cancel_block(C.CANCEL_TEMP_BASAL)])
    assert len(pod.received) == 3 and len(set(pod.received)) == 1
    assert caught.value.exchange.attempts == 3 and caught.value.exit_code == 3
    # The nonce was used once for the message, whatever happened to it.
    fresh = NonceState(LOT, TID)
    fresh.advance()
    assert session.nonce.current() == fresh.current()


def test_a_second_bad_nonce_fails_after_one_resend(scripted_pod):
    nonce = NonceState(LOT, TID)
    first = nonce.current()
    word1 = resync_word(first, 2, LOT, TID, 1)
    after1 = NonceState(LOT, TID, 1).current()
    word2 = resync_word(after1, 2, LOT, TID, 2)
    bad1 = build_message(ADDR, 3, [{"type": C.BLOCK_ERROR, "code": C.ERROR_BAD_NONCE, "word": word1}])
    bad2 = build_message(ADDR, 3, [{"type": C.BLOCK_ERROR, "code": C.ERROR_BAD_NONCE, "word": word2}])
    pod = scripted_pod([bad1, bad2])
    saved = []
    with Link.open(pod.url) as link:
        session = Session(link, ADDR, LOT, TID, nonce, next_seq=2, reply_timeout_s=1.0,
                          persist=lambda s: saved.append(s.nonce.current()))
        with pytest.raises(NonceResyncFailed):
            session.send([cancel_block(C.CANCEL_BOLUS)])
    sent = [parse_message(m) for m in pod.received]
    assert [m["seq"] for m in sent] == [2, 2]
    assert [m["blocks"][0]["nonce"] for m in sent] == [first, after1]
    # The handset follows the pod's second seed so that the next command can succeed.
    assert session.nonce.current() == NonceState(LOT, TID, 2).current()
    assert saved and saved[-1] == session.nonce.current()


def test_trace_writes_every_frame_decoded(scripted_pod):
    pod = scripted_pod([reply(1)])
    trace = io.StringIO()
    with Link.open(pod.url) as link:
        Session(link, ADDR, next_seq=0, trace=trace).send([status_request_block()])
    text = trace.getvalue()
    assert "> P PDM 1f07b1ee00030e0100" in text
    assert "< P POD 1f07b1ee040a1d" in text
    assert "pulses_delivered=58 pulses (2.90 U)" in text


def test_status_exchange_with_the_real_firmware(firmware):
    """Unpaired pod: a GetStatus at ffffffff... the firmware answers; seq is request + 1."""
    with Link.open(firmware.url) as link:
        session = Session(link, C.ADDRESS_PAIRING, next_seq=0, reply_timeout_s=2.0)
        ex = session.send([{"type": C.BLOCK_ASSIGN_ADDRESS, "address": 0x1F012345}], seq=0)
    version = ex.reply["blocks"][0]
    assert ex.reply["seq"] == 1 and version["type"] == C.BLOCK_VERSION and version["address"] == 0x1F012345
