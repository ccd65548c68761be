"""One command at a time (SPEC.md 7.2): the blocks of one message are checked in order against
the state the blocks before them leave; a message whose commands conflict is refused as a whole
(06 with the code of the first conflicting block) and changes nothing. The repeat cache keys on
the whole message, whatever its first block."""
from __future__ import annotations

import pytest

from eros import schedule
from eros.message import build_message, parse_message
from test_core import FLAT_1U, frozen, pod_state, running
from system.pdm_driver import InProcessPod, Pdm

S = 1000


def bolus(pulses: int) -> list[dict]:
    return list(schedule.bolus_blocks(pulses, 0))


def temp(rate_pph: int, half_hours: int) -> list[dict]:
    return list(schedule.temp_basal_blocks(rate_pph, half_hours, 0))


def cancel(bits: int) -> list[dict]:
    return [{"type": 0x1F, "nonce": 0, "beep_type": 0, "cancel": bits}]


def basal() -> list[dict]:
    return list(schedule.basal_schedule_blocks(FLAT_1U, 0, 0))


DEACTIVATE = [{"type": 0x1C, "nonce": 0}]
STATUS_PAD = [{"type": 0x0E, "request": 0}]

# message -> the 06 code of its first conflicting block
CONFLICTS = {
    "bolus + bolus": (lambda: bolus(10) + bolus(40), 0x0C),
    "temp + temp": (lambda: temp(40, 2) + temp(10, 2), 0x0C),
    "cancel basal + temp": (lambda: cancel(1) + temp(40, 2), 0x0C),
    "deactivate + bolus": (lambda: DEACTIVATE + bolus(20), 0x0C),
    "deactivate + cancel": (lambda: DEACTIVATE + cancel(4), 0x0C),
    "deactivate + deactivate": (lambda: DEACTIVATE + DEACTIVATE, 0x0C),
    "bolus + basal while running": (lambda: bolus(10) + basal(), 0x0C),
    "cancel with beep F + bolus": (lambda: [{"type": 0x1F, "nonce": 0, "beep_type": 0x0F, "cancel": 4}]
                                   + bolus(10), 0x0C),
    "pad + bolus + bolus": (lambda: STATUS_PAD + bolus(10) + bolus(40), 0x0C),
}


def send_as_one(pdm: Pdm, blocks: list[dict]) -> dict:
    """All blocks in one message, every nonce-bearing block with the PDM's current nonce."""
    pdm._fill_nonce(blocks)
    return pdm.send(blocks)["blocks"][0]


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_conflicting_commands_in_one_message_are_refused_as_a_whole(case):
    bench, pdm = running()
    make, code = CONFLICTS[case]
    before = frozen(bench)
    delivered = bench.pod.delivered
    reply = send_as_one(pdm, make())
    assert reply["type"] == 0x06, reply
    assert reply["code"] == code
    assert reply["word"] == bench.pod.progress
    assert pod_state(bench.pod) == before, "a refused message changed the pod"
    # the first block alone was fine: nothing of it was carried out either
    bench.advance(60 * S)
    assert bench.pod.delivery.bolus is None
    assert bench.pod.delivered - delivered <= 1   # basal only (1 U/h: a pulse every 180 s)


def test_cancel_then_new_program_in_one_message_is_accepted():
    bench, pdm = running()
    assert pdm.bolus(40)["type"] == 0x1D
    bench.advance(4 * S)
    reply = send_as_one(pdm, cancel(4) + bolus(10))
    assert reply["type"] == 0x1D, reply
    assert reply["delivery"] & 4
    assert reply["bolus_remaining"] == 10
    reply = send_as_one(pdm, cancel(1) + basal())
    assert reply["type"] == 0x1D and reply["delivery"] & 1, reply


def test_bolus_blocks_each_get_the_state_their_predecessor_leaves():
    """Sent apart the second bolus is refused 0x0C; sent together too (not: last one wins)."""
    bench, pdm = running()
    start = bench.pod.delivered
    reply = send_as_one(pdm, bolus(10) + bolus(40))
    assert reply["type"] == 0x06 and reply["code"] == 0x0C
    assert pdm.bolus(10)["type"] == 0x1D   # the PDM resyncs and sends the one bolus
    bench.advance(30 * S)
    assert bench.pod.delivered - start == 10


def test_retried_message_starting_with_a_status_pad_gets_its_first_reply():
    bench, pdm = running()
    blocks = STATUS_PAD + bolus(10)
    pdm._fill_nonce(blocks)
    message = build_message(pdm.address, pdm.seq, blocks)
    first = bench.exchange(message)
    assert first is not None and parse_message(first)["blocks"][0]["type"] == 0x1D
    bench.advance(2 * S)
    again = bench.exchange(message)
    assert again == first, "a retry must get exactly the first reply"
    bench.advance(60 * S)
    assert bench.pod.bolus_remaining() == 0
    assert not any("bad nonce" in line for line in bench.logs)
    assert pdm.status()["type"] == 0x1D


def test_status_only_message_is_answered_afresh():
    bench, pdm = running()
    message = build_message(pdm.address, pdm.seq, STATUS_PAD + STATUS_PAD)
    first = parse_message(bench.exchange(message) or b"")["blocks"][0]
    bench.advance(400 * S)
    second = parse_message(bench.exchange(message) or b"")["blocks"][0]
    assert second["pulses_delivered"] > first["pulses_delivered"]


def test_conflict_refusal_is_the_same_on_a_fresh_pod():
    """Pairing commands still come alone, whatever the order."""
    bench = InProcessPod()
    pdm = Pdm(bench.exchange, 42125, 170175)
    reply = pdm.send([{"type": 0x07, "address": pdm.address}, {"type": 0x07, "address": pdm.address}])
    assert reply["blocks"][0]["type"] == 0x06
