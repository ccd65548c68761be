"""Status building (firmware/pod/status.py): the reply blocks of a pod, checked against the real
pod's bytes where a capture exists, and round-tripped through the codec otherwise."""
from __future__ import annotations


import pytest


from eros.blocks import decode_blocks, encode_block
from system.pdm_driver import InProcessPod, Pdm, activate
from pod import status

MIN = 60_000


def test_reservoir_field():
    assert status.reservoir_field(4000) == 0x3FF
    assert status.reservoir_field(1001) == 0x3FF
    assert status.reservoir_field(1000) == 1000
    assert status.reservoir_field(991) == 991
    assert status.reservoir_field(0) == 0


def test_minutes_since():
    assert status.minutes_since(None, 10 * MIN) == 0
    assert status.minutes_since(5, 5 + MIN - 1) == 0
    assert status.minutes_since(5, 5 + MIN) == 1
    assert status.minutes_since(10 * MIN, 0) == 0


def _paired() -> InProcessPod:
    bench = InProcessPod(42125, 170175, 4000)
    pdm = Pdm(bench.exchange, 42125, 170175, 0x1F07B1EE)
    pdm.assign_address()
    pdm.setup_pod()
    return bench


def test_version_blocks_are_the_real_pods(activation_session):
    bench = InProcessPod(42125, 170175, 4000)
    bench.pod.address = 0x1F07B1EE
    short = bytes.fromhex(activation_session[1]["hex"])[6:-2]
    assert encode_block(status.version_short(bench.pod)) == short
    bench.pod.progress = 3
    long_ = bytes.fromhex(activation_session[3]["hex"])[6:-2]
    assert encode_block(status.version_long(bench.pod)) == long_


def test_status_fields():
    bench = _paired()
    bench.now += 5 * MIN
    bench.pod.delivered = 3010
    s = status.status(bench.pod, bench.now)
    assert (s["progress"], s["delivery"], s["minutes"], s["pulses_delivered"], s["reservoir"]) == (3, 0, 5, 3010, 990)
    assert decode_blocks(encode_block(s)) == [s]


def test_error_word():
    bench = _paired()
    assert status.error(0x0C, bench.pod) == {"type": 0x06, "code": 0x0C, "word": 0x0003}
    bench.pod.fault_code, bench.pod.progress = 0x18, 13
    assert status.error(0x07, bench.pod)["word"] == 0x180D


def test_detailed_status_of_a_faulted_pod():
    bench = InProcessPod(42125, 170175, 4000)
    pdm = Pdm(bench.exchange, 42125, 170175)
    activate(pdm, bench.advance, [20] * 48, 0)
    pdm.bolus(100)
    bench.advance(10_000)
    bench.pod.fault(0x14, bench.now)
    d = status.detailed(bench.pod, bench.now + 3 * MIN)
    assert d["progress"] == 13 and d["delivery"] == 0 and d["fault_code"] == 0x14
    assert d["progress_at_fault"] == 8 == d["previous_progress"]
    assert d["bolus_in_progress"] == 1 and d["occlusion_type"] == 1
    assert d["bolus_remaining"] == 95 and d["fault_minutes"] == d["minutes"] - 3
    assert decode_blocks(encode_block(d)) == [d]


@pytest.mark.parametrize("info", [1, 2, 3, 5, 6, 0x46, 0x50, 0x51])
def test_pod_info_round_trips(info):
    bench = _paired()
    block = status.pod_info(bench.pod, info, bench.now)
    assert block["subtype"] == info
    assert decode_blocks(encode_block(block)) == [block]
