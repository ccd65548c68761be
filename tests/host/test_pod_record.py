"""Issue 9, "the pod is the record": every case of the issue against the REAL firmware over TCP
(virtual clock; the handset and the test move it with bench advances), through the `handset` CLI.
"""
from __future__ import annotations

import pytest

from eros import constants as C
from handset.pod import PodClient
from handset_rig import RATES, RadioRelay, bench, handset, one_json


@pytest.fixture
def pod(firmware_tcp, tmp_path):
    """(firmware url, state dir) with a pod activated by `handset activate`."""
    state = tmp_path / "hs"
    result = handset(["activate"], state, firmware_tcp.url)
    assert result.returncode == 0, result.stdout + result.stderr
    return firmware_tcp.url, state


def status(url, state) -> dict:
    result = handset(["status", "--json"], state, url)
    assert result.returncode == 0, result.stderr
    return one_json(result)


def test_extended_bolus_is_followed_by_part_and_counted_whole(pod):
    url, state = pod
    result = handset(["bolus", "1", "--extended", "1", "--over", "1h"], state, url)
    assert result.returncode == 0, result.stderr
    # Before: "Bolus cancelled: 0.00 U of 1.00 U delivered" (the extended part's pulses were read as lost).
    assert "cancelled" not in result.stdout
    assert "Immediate part done: 1.00 U delivered; the extended 1.00 U goes on over 1h" in result.stdout
    running = status(url, state)
    assert running["bolus"]["immediate_delivered_pulses"] == 20 and running["bolus"]["final"] is False
    bench(url, "advance", ms=61 * 60_000)
    done = status(url, state)
    assert done["last_bolus"]["delivered_pulses"] == 40 and done["last_bolus"]["how"] == "done"
    assert done["bolus"]["extended_delivered_pulses"] == 20
    assert 0 < done["iob_pulses"] <= 40


def test_refused_boluses_are_recorded_as_refused_and_never_counted(pod):
    url, state = pod
    assert handset(["bolus", "0.5", "--extended", "2", "--over", "2h", "--no-wait"], state, url).returncode == 0
    before = status(url, state)
    for _ in range(3):
        refused = handset(["bolus", "1", "--json"], state, url)
        assert refused.returncode == 8, refused.stdout + refused.stderr
        doc = one_json(refused)
        assert doc["ok"] is False and doc["pod_error_code"] == C.ERROR_WRONG_STATE
        assert "error 0x0c" in doc["error"] and "did not run" in doc["error"]
    after = status(url, state)
    assert after["iob_pulses"] == before["iob_pulses"]  # three refusals added nothing
    history = one_json(handset(["history", "--json"], state, url))
    boluses = [r for r in history if r["category"] == "delivery" and r["event"] == "bolus"]
    assert len(boluses) == 1
    refusals = [r for r in history if r["category"] == "command" and r["event"] == "bolus"
                and r["detail"].startswith("rejected")]
    assert len(refusals) == 3


def test_bolus_while_suspended_is_refused_by_the_handset(pod):
    url, state = pod
    assert handset(["suspend"], state, url).returncode == 0
    result = handset(["bolus", "1"], state, url)
    assert result.returncode == 2 and "suspended" in result.stderr and "handset resume" in result.stderr
    assert status(url, state)["delivery"] == 0
    history = one_json(handset(["history", "--json"], state, url))
    assert not [r for r in history if r["category"] == "command" and r["event"] == "bolus"]


def test_a_restart_that_stopped_a_bolus_is_reconciled_and_said(pod):
    url, state = pod
    assert handset(["bolus", "10", "--no-wait"], state, url).returncode == 0
    bench(url, "advance", ms=40_000)  # about 20 of the 200 pulses
    bench(url, "reset")  # a power cycle: the pod does not resume the bolus
    result = handset(["status", "--json"], state, url)
    assert result.returncode == 0
    assert "The pod stopped the bolus of 10.00 U" in result.stderr  # said to the person
    doc = one_json(result)
    left = doc["bolus_remaining"]
    assert 0 < left < 200 and not doc["delivery"] & 4
    assert doc["last_bolus"]["how"] == "stopped by the pod"
    assert doc["last_bolus"]["delivered_pulses"] == 200 - left
    assert doc["iob_pulses"] <= 200 - left
    text = handset(["status"], state, url).stdout
    assert "bolus in progress" not in text and f"of 10.00 U, stopped by the pod" in text


def test_a_lost_bolus_reply_says_read_the_status_then_reconciles(firmware_tcp, tmp_path):
    state = tmp_path / "hs"
    lose = {"on": False}
    relay: RadioRelay

    def to_handset(reply: bytes) -> list[bytes]:
        # every reply to the bolus (1A) is lost; the status reads around it get through
        return [] if lose["on"] and relay.requests[-1][6] == C.BLOCK_INSULIN_SCHEDULE else [reply]

    with RadioRelay(firmware_tcp.tcp_port, to_handset=to_handset) as relay:
        assert handset(["activate"], state, relay.url).returncode == 0
        requests = len(relay.requests)
        lose["on"] = True
        result = handset(["--timeout", "0.3", "bolus", "1"], state, relay.url)
        assert result.returncode == 7
        assert "do NOT repeat the bolus" in result.stderr and "handset status" in result.stderr
        assert "repeat the command" not in result.stderr
        assert len(relay.requests) > requests
        lose["on"] = False
        after = handset(["status", "--json"], state, relay.url)
        assert "did run" in after.stderr
        assert one_json(after)["last_bolus"]["requested_pulses"] == 20


def test_insulin_on_board_and_history_follow_the_pods_clock(pod):
    url, state = pod
    assert handset(["bolus", "1"], state, url).returncode == 0
    first = status(url, state)
    assert first["iob_pulses"] == 20
    bench(url, "advance", ms=5 * 3600_000)  # 5 h of pod time, a moment of host time: DIA is 4 h
    later = status(url, state)
    assert later["iob_pulses"] == 0 and later["last_bolus"]["minutes_ago"] >= 300
    readings = [r for r in one_json(handset(["history", "--json"], state, url)) if r["event"] == "reading"]
    assert readings[-1]["pod_ms"] - readings[-2]["pod_ms"] >= 5 * 3600_000


def test_activation_is_done_only_at_progress_8_or_9(firmware_tcp, tmp_path):
    state = tmp_path / "hs"

    class Stop(Exception):
        pass

    def stop_after_basal(step: str, detail: str) -> None:
        if step == "basal":
            raise Stop

    with PodClient.open(firmware_tcp.url, state, reply_timeout_s=2.0) as client:
        client.wait_ms = lambda ms: client.bench("advance", ms=ms)
        with pytest.raises(Stop):
            client.activate(RATES, time_of_day_ms=8 * 3600_000, progress=stop_after_basal)
    bench(firmware_tcp.url, "advance", ms=61 * 60_000)  # past the pod's 1-hour set-up limit
    result = handset(["activate"], state, firmware_tcp.url)
    assert result.returncode == 12, result.stdout + result.stderr
    assert "activation time ran out" in result.stderr and "pod is active" not in result.stdout
    assert status(firmware_tcp.url, state)["progress"] == C.PROGRESS_ACTIVATION_TIME_EXCEEDED


def test_no_finish_setup_alert_after_the_real_pdms_activation(pod):
    url, state = pod
    bench(url, "advance", ms=10 * 60_000)
    # Before: slot 7 stayed the finish-setup reminder and fired at minute 5 of every pod.
    assert status(url, state)["alerts"] == 0
    slots = one_json(handset(["diag", "alerts", "--json"], state, url))["slots"]
    assert slots[7]["name"] == "pod expired (72 h)" and slots[7]["configured"]["trigger"] == 72 * 60 - 1
    assert slots[2]["configured"]["trigger"] == 79 * 60 - 1 and slots[0]["configured"]["active"] == 0


def test_activation_is_the_real_pdms_command_for_command(firmware_tcp, tmp_path):
    """Message by message as PROTOCOL-NOTES §7: 07 and 03 at seq 0, then 19 19 1A+17 19 1A+13 19 1A+17
    at seqs 2..14 (the 19 at seq 12 re-arms slots 7, 2 and 0); status reads in between are 0E."""
    with RadioRelay(firmware_tcp.tcp_port) as relay:
        assert handset(["activate"], tmp_path / "hs", relay.url).returncode == 0
        sent = [(m[4] >> 2 & 15, m[6]) for m in relay.requests if m[6] != C.BLOCK_GET_STATUS]
    assert sent == [(0, 0x07), (0, 0x03), (2, 0x19), (4, 0x19), (6, 0x1A), (8, 0x19), (10, 0x1A), (12, 0x19),
                    (14, 0x1A)]
