"""The same faults seen by the independent PDM driver of the tests (tests/system/pdm_driver.py),
which sends exactly the bytes the test chooses: a lost bolus reply, then a status read or a resend
of the same bytes; a pod faulted from the bench, read with 0E types 2 and 3."""
from __future__ import annotations

import pytest

from system.pdm_driver import Pdm, PodError, activate
from system.podlink import PodLink, PodTimeout

RATES_PPH = [20] * 48  # 1 U/h
BOLUS = 20


@pytest.fixture
def pdm_pod(operator_pod):
    """(operator pod, a PDM paired with it on a 0 U/h temp basal, the PDM's link)."""
    pod = operator_pod()
    link = PodLink(pod.handset_url, timeout=2.0)

    def exchange(message: bytes) -> bytes | None:
        try:
            return link.send_message(message, timeout=1.0)
        except PodTimeout:
            return None  # as a PDM's radio: no answer

    pdm = Pdm(exchange, 42125, 170175)
    activate(pdm, lambda ms: pod.bench.bench_ok({"op": "advance", "ms": ms}), RATES_PPH, 0)
    pdm.temp_basal(0, 4)
    yield pod, pdm
    link.close()


def _delivered(pod) -> int:
    return pod.info()["pod"]["delivered"]


def test_lost_reply_then_status_read_shows_the_bolus_once(pdm_pod) -> None:
    pod, pdm = pdm_pod
    before = _delivered(pod)
    pod.bench.bench_ok({"op": "inject", "fault": "lose", "block": 0x17})
    with pytest.raises(PodError):
        pdm.bolus(BOLUS)  # the driver raises on silence; it never sends a new bolus
    pdm.seq = (pdm.seq + 2) & 0x0F  # the PDM moves on to its next message
    status = pdm.status()
    assert status["delivery"] & 0x04, "the status read shows the bolus running"
    assert status["bolus_remaining"] + (status["pulses_delivered"] - before) == BOLUS
    pod.bench.bench_ok({"op": "advance", "seconds": 300})
    assert _delivered(pod) - before == BOLUS
    assert pdm.status()["bolus_remaining"] == 0


def test_lost_reply_then_same_bytes_get_the_first_reply_and_nothing_more(pdm_pod) -> None:
    pod, pdm = pdm_pod
    before = _delivered(pod)
    pod.bench.bench_ok({"op": "inject", "fault": "lose", "block": 0x17})
    with pytest.raises(PodError):
        pdm.bolus(BOLUS)
    again = pdm.send_raw(pdm.last_request)  # the same bytes: seq, nonce, CRC
    assert again is not None and again["blocks"][0]["type"] == 0x1D
    assert again["blocks"][0]["delivery"] & 0x04
    pod.bench.bench_ok({"op": "advance", "seconds": 300})
    assert _delivered(pod) - before == BOLUS


def test_bench_fault_shows_in_detailed_status_and_pulse_log_plus(pdm_pod) -> None:
    pod, pdm = pdm_pod
    pod.bench.bench_ok({"op": "advance", "seconds": 120})
    pod.bench.bench_ok({"op": "fault", "code": 0x6A})
    detailed = pdm.status(2)
    assert (detailed["fault_code"], detailed["progress"], detailed["progress_at_fault"]) == (0x6A, 13, 8)
    assert detailed["delivery"] == 0
    plus = pdm.status(3)
    assert plus["fault_code"] == 0x6A and plus["fault_minutes"] == detailed["fault_minutes"]
    # a faulted pod answers a plain status request with the detailed status, as a real one does
    assert pdm.status(0)["type"] == 0x02
