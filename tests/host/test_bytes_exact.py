"""For the same intent, the handset builds the same bytes as the real PDM.

Each PDM message of the captured activation (activation-session.json) is rebuilt from what the
person asked for (address, seq, date, alerts, prime, basal rates, cannula, cancel, bolus, deactivate)
through the handset's own block builders and its real ``Session`` (nonce stamping, seq, follow-up
bit), over a ``loop://`` link, then compared byte for byte with the capture. Nonces come from
``NonceState`` of the pod's lot/tid where the capture reveals them (pod 1f07b1ee: lot 42125 / tid
170175; pod 1f014828: lot 0xa518 / tid 0x5304e, PROTOCOL-NOTES §3.1); for the other pods the nonce
is part of the intent (their lot/tid were not captured).
"""
from __future__ import annotations

import datetime as dt

import pytest

from eros import constants as C
from eros.blocks import encode_block
from eros.nonce import NonceState
from handset import flows
from handset.pod import ack_alerts_block, cancel_block, deactivate_block, status_request_block
from handset.session import NoReply, Session
from handset.transport import Link

LOT, TID = 42125, 170175          # pod 1f07b1ee (temp_basals.txt)
LOT_B, TID_B = 0xA518, 0x5304E    # pod 1f014828 (all.txt)


class GivenNonce:
    """The nonce of a capture whose pod's lot/tid are unknown: an input of the intent."""

    def __init__(self, value: int) -> None:
        self.value = value

    def current(self) -> int:
        return self.value

    def advance(self) -> None:
        self.value = None  # a second message would need a new nonce: fail loudly


def nonce_at(lot: int, tid: int, index: int, seed: int = 0) -> NonceState:
    state = NonceState(lot, tid, seed)
    for _ in range(index):
        state.advance()
    return state


def handset_bytes(address, seq, blocks, nonce=None, followup=False, message_address=None) -> bytes:
    """What the handset's session puts on the wire for these blocks (no pod answers on loop://)."""
    link = Link.open("loop://")
    try:
        session = Session(link, address=address, lot=LOT, tid=TID, nonce=nonce, reply_timeout_s=0.01, attempts=1)
        with pytest.raises(NoReply) as caught:
            session.send(blocks, followup=followup, seq=seq, address=message_address)
        return caught.value.exchange.request
    finally:
        link.close()


def captured(activation_session, hex_prefix: str) -> bytes:
    hits = [m for m in activation_session if m["direction"] == "PDM" and m["hex"].startswith(hex_prefix)]
    assert len(hits) == 1, f"expected one captured PDM message starting {hex_prefix}"
    return bytes.fromhex(hits[0]["hex"])


POD_A = 0x1F07B1EE
WHEN = dt.datetime(2016, 10, 10, 11, 18)


def test_assign_address(activation_session):
    got = handset_bytes(POD_A, 0, flows.assign_address_blocks(POD_A), message_address=C.ADDRESS_PAIRING)
    assert got == captured(activation_session, "ffffffff000607")


def test_setup_pod_with_date_and_time(activation_session):
    got = handset_bytes(POD_A, 0, flows.setup_pod_blocks(POD_A, LOT, TID, WHEN), message_address=C.ADDRESS_PAIRING)
    assert got == captured(activation_session, "ffffffff001503")


@pytest.mark.parametrize(
    "seq, index, alert, prefix",
    [
        (2, 0, flows.low_reservoir_alert(20), "1f07b1ee080c19"),
        (4, 1, flows.finish_setup_alert(), "1f07b1ee100c19"),
        (8, 3, flows.expiration_alert(1), "1f07b1ee200c19"),
    ],
    ids=["low-reservoir-slot4", "finish-setup-slot7", "expiration-slot3"],
)
def test_activation_alerts(activation_session, seq, index, alert, prefix):
    from handset.pod import configure_alerts_block

    got = handset_bytes(POD_A, seq, [configure_alerts_block([alert])], nonce_at(LOT, TID, index))
    assert got == captured(activation_session, prefix)


def test_prime(activation_session):
    got = handset_bytes(POD_A, 6, flows.prime_blocks(52), nonce_at(LOT, TID, 2))
    assert got == captured(activation_session, "1f07b1ee181f1a")


def test_activation_basal_with_follow_up_bit(activation_session):
    """Pod 1f014828: 1.4 U/h for 5.5 h, 2.0 U/h for 3 h, 1.25 U/h for the rest; 20:54:16."""
    rates = [28] * 11 + [40] * 6 + [25] * 31
    want = captured(activation_session, "1f014828a832")
    got = handset_bytes(0x1F014828, 10, flows.activation_basal_blocks(rates, 75_256_000), nonce_at(LOT_B, TID_B, 4),
                        followup=True)
    assert got == want


def test_seq_12_alerts_after_the_basal():
    """PROTOCOL-NOTES §2.4: the real PDM's one more ConfigureAlerts at message seq 12 (nonce #6):
    slot 7 re-armed as the 72 h advisory, slot 2 shutdown imminent at 79 h, slot 0 auto-off off."""
    from handset.pod import configure_alerts_block

    got = handset_bytes(POD_A, 12, [configure_alerts_block(flows.after_basal_alerts())], nonce_at(LOT, TID, 5))
    assert got[:6] == bytes.fromhex("1f07b1ee3018") and got[6:8] == bytes.fromhex("1916")
    assert got[8:12] == nonce_at(LOT, TID, 5).current().to_bytes(4, "big")
    assert got[12:30] == bytes.fromhex("79a410df0502" "280012830602" "020f00000202")


def test_cannula_insertion(activation_session):
    got = handset_bytes(0x1F014828, 14, flows.prime_blocks(10), nonce_at(LOT_B, TID_B, 6))
    assert got == captured(activation_session, "1f014828381f1a")


def test_status_request(activation_session):
    got = handset_bytes(POD_A, 0, [status_request_block(0)])
    assert got == captured(activation_session, "1f07b1ee00030e0100")


@pytest.mark.parametrize("info, prefix", [(0x01, "1f01482b18030e0101"), (0x46, "1f01482b18030e0146"),
                                          (0x51, "1f01482b18030e0151")])
def test_deactivation_info_reads_reuse_the_seq(activation_session, info, prefix):
    got = handset_bytes(0x1F01482B, 6, [status_request_block(info)])
    assert got == captured(activation_session, prefix)


def test_cancel_temp_basal_with_beep(activation_session):
    got = handset_bytes(POD_A, 8, [cancel_block(C.CANCEL_TEMP_BASAL, 6)], nonce_at(LOT, TID, 8))
    assert got == captured(activation_session, "1f07b1ee20071f")


def test_cancel_all_before_deactivation(activation_session):
    got = handset_bytes(0x1F01482B, 4, [cancel_block(7, 0)], GivenNonce(0x8AE8A962), followup=True)
    assert got == captured(activation_session, "1f01482b90071f")


def test_deactivate(activation_session):
    got = handset_bytes(0x1F01482B, 10, [deactivate_block()], GivenNonce(0x6E2CB928))
    assert got == captured(activation_session, "1f01482b28061c")


def test_thirty_unit_bolus(activation_session):
    from eros import schedule

    blocks = list(schedule.bolus_blocks(600, 0, interval_ms=2000))
    got = handset_bytes(0x1F01482B, 6, blocks, GivenNonce(0xDF39ABCA))
    assert got == captured(activation_session, "1f01482b181f1a")


def test_temp_basal_vectors(vectors):
    """OmniKit's temp-basal encodings (0.20 U/h 30 min, 2.00 U/h 1.5 h, 30 U/h 12 h) from pulses/hour."""
    from eros import schedule

    cases = {"1a0eea2d0a3b01007d01384000020002": (4, 1, 0xEA2D0A3B),
             "1a0e87e8d03a0100cb03384000142014": (40, 3, 0x87E8D03A),
             "1a10a958c5ad0104f5183840012cf12c712c": (600, 24, 0xA958C5AD)}
    hexes = {v["hex"] for v in vectors}
    for hex_, (rate_pph, half_hours, nonce) in cases.items():
        assert hex_ in hexes
        blocks = schedule.temp_basal_blocks(rate_pph, half_hours, nonce)
        assert encode_block(blocks[0]).hex() == hex_


def test_cancel_and_ack_vectors(vectors):
    hexes = {v["hex"] for v in vectors}
    for hex_, block in {
        "1f054d91f8ff64": dict(cancel_block(C.CANCEL_BOLUS, 6), nonce=0x4D91F8FF),
        "1f05f76d34c402": dict(cancel_block(C.CANCEL_TEMP_BASAL, 0), nonce=0xF76D34C4),
        "1f056fede14a01": dict(cancel_block(C.CANCEL_BASAL, 0), nonce=0x6FEDE14A),
        "11052f9b5b2f10": dict(ack_alerts_block(0x10), nonce=0x2F9B5B2F),
    }.items():
        assert hex_ in hexes
        assert encode_block(block).hex() == hex_


def test_bad_nonce_resync_resends_the_real_pdms_bytes(activation_session, scripted_pod):
    """Stale nonce 0x851072aa at seq 1 → 06 14 2ffa → the same seq with nonce 0xf1488fc3, as captured."""
    stale = captured(activation_session, "1f07b1ee04071f05851072aa")
    retry = captured(activation_session, "1f07b1ee04071f05f1488fc3")
    error = bytes.fromhex("1f07b1ee08050603142ffa83cd")
    ok = bytes.fromhex("1f07b1ee080a1d18001d0800000017ff82b8")
    pod = scripted_pod([error, ok])
    with Link.open(pod.url) as link:
        session = Session(link, address=POD_A, lot=LOT, tid=TID, nonce=GivenNonce(0x851072AA), next_seq=1)
        ex = session.send([cancel_block(C.CANCEL_TEMP_BASAL, 6)])
    assert pod.received == [stale, retry]
    assert ex.resynced and ex.seq == 1 and ex.reply["blocks"][0]["type"] == C.BLOCK_STATUS
    # The handset's nonce state now continues from the resynced seed (seed 1).
    expect = NonceState(LOT, TID, 1)
    expect.advance()
    assert session.nonce.current() == expect.current()
