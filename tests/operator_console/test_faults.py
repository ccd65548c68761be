"""Each message fault of the bench (SPEC.md section 6, op "inject") and a pod fault, against the
real firmware, with the stock `handset` command recovering as a real PDM must.

The pod runs a 0 U/h temp basal during each bolus, so that every pulse counted is the bolus':
"delivered once" is then an exact count (20 pulses for 1 U), read from the pod and from the plant.
The handset's --trace shows every frame, so "resent with the same bytes" is checked on the wire.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

BOLUS_PULSES = 20  # 1 U


def _ready(operator_pod):
    """An active pod on a 0 U/h temp basal; returns (pod, delivered before, pushed before)."""
    pod = operator_pod()
    r = pod.handset("activate")
    assert r.returncode == 0, r.stdout + r.stderr
    r = pod.handset("temp-basal", "0", "2h")
    assert r.returncode == 0, r.stdout + r.stderr
    plant = pod.bench.bench_ok({"op": "plant"})
    return pod, pod.info()["pod"]["delivered"], plant["pushed"]


def _sent_bolus_messages(trace: Path) -> list[str]:
    """Hex of every PDM message carrying a bolus block (0x17) sent, in order."""
    sent = re.findall(r"> P PDM ([0-9a-f]+)", trace.read_text())
    return [m for m in sent if _has_block(bytes.fromhex(m), 0x17)]


def _has_block(message: bytes, block_type: int) -> bool:
    i, end = 6, len(message) - 2
    while i + 1 < end:
        if message[i] == block_type:
            return True
        i += 2 + message[i + 1]
    return False


def _settle_and_count(pod, delivered0: int, pushed0: int) -> None:
    """Let every pulse go, then check the pod delivered the bolus exactly once."""
    pod.bench.bench_ok({"op": "advance", "seconds": 600})
    info = pod.info()["pod"]
    assert info["delivered"] - delivered0 == BOLUS_PULSES, "the bolus was not delivered exactly once"
    assert pod.bench.bench_ok({"op": "plant"})["pushed"] - pushed0 == BOLUS_PULSES
    assert info["bolus_remaining"] == 0


def test_lost_bolus_reply_is_settled_by_a_status_read_and_delivered_once(operator_pod, tmp_path: Path) -> None:
    pod, delivered0, pushed0 = _ready(operator_pod)
    armed = pod.podctl("lose-next-reply", "--count", "50", "--block", "0x17")  # every retry's reply too
    assert armed.returncode == 0, armed.stderr
    trace = tmp_path / "trace.txt"
    r = pod.handset("--trace", str(trace), "bolus", "1")
    assert r.returncode == 7, r.stdout + r.stderr  # unconfirmed: never "failed", never repeated
    assert "do NOT repeat" in r.stdout + r.stderr
    sent = _sent_bolus_messages(trace)
    assert len(sent) >= 2 and len(set(sent)) == 1, "the retries must be the same bytes"
    pod.podctl("clear-faults")
    status = pod.handset("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "did run" in status.stdout
    _settle_and_count(pod, delivered0, pushed0)


def test_dropped_command_is_resent_with_the_same_bytes(operator_pod, tmp_path: Path) -> None:
    pod, delivered0, pushed0 = _ready(operator_pod)
    assert pod.podctl("drop-next-command", "--block", "0x17").returncode == 0
    trace = tmp_path / "trace.txt"
    r = pod.handset("--trace", str(trace), "bolus", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    sent = _sent_bolus_messages(trace)
    assert len(sent) == 2 and sent[0] == sent[1], sent
    assert "dropped: not carried out" in trace.read_text()  # the pod's log line, seen on L
    _settle_and_count(pod, delivered0, pushed0)


@pytest.mark.parametrize("how", ["crc", "truncate"])
def test_corrupted_reply_is_rejected_and_the_command_retried(operator_pod, tmp_path: Path, how: str) -> None:
    pod, delivered0, pushed0 = _ready(operator_pod)
    args = ["corrupt-next-reply", "--block", "0x17"] + (["--truncate"] if how == "truncate" else [])
    assert pod.podctl(*args).returncode == 0
    trace = tmp_path / "trace.txt"
    r = pod.handset("--trace", str(trace), "bolus", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    sent = _sent_bolus_messages(trace)
    assert len(sent) == 2 and sent[0] == sent[1], sent
    assert "the first reply again, nothing carried out" in trace.read_text()  # the retry was a repeat
    _settle_and_count(pod, delivered0, pushed0)


def test_delayed_reply_is_waited_out_and_the_late_copy_ignored(operator_pod, tmp_path: Path) -> None:
    pod, delivered0, pushed0 = _ready(operator_pod)
    assert pod.podctl("delay-next-reply", "3s", "--block", "0x17").returncode == 0
    trace = tmp_path / "trace.txt"
    r = pod.handset("--trace", str(trace), "--timeout", "1", "bolus", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    sent = _sent_bolus_messages(trace)
    assert len(set(sent)) == 1 and len(sent) >= 2, sent
    _settle_and_count(pod, delivered0, pushed0)
    after = pod.handset("status")  # the late copy of the reply confuses nothing afterwards
    assert after.returncode == 0, after.stdout + after.stderr


def test_faulted_pod_is_reported_with_its_fault(operator_pod) -> None:
    pod, _, _ = _ready(operator_pod)
    r = pod.podctl("fault", "0x14")
    assert r.returncode == 0 and "0x14" in r.stdout, r.stdout + r.stderr
    info = pod.info()["pod"]
    assert (info["fault"], info["progress"], info["delivery"]) == (0x14, 13, 0)
    status = pod.handset("status")
    assert status.returncode == 4, status.stdout + status.stderr  # exit code 4: the pod is faulted
    assert "occlusion" in (status.stdout + status.stderr).lower()
    detailed = pod.handset("diag", "detailed", "--json")
    assert detailed.returncode == 0, detailed.stdout + detailed.stderr
    shown = json.loads(detailed.stdout)
    assert (shown["fault_code"], shown["progress"], shown["progress_at_fault"]) == (0x14, 13, 8)
    beeps = pod.bench.bench_ok({"op": "beeps"})["beeps"]
    assert beeps and beeps[-1][1] == 6  # the screamer, as for any fault
