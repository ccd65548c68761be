"""Runs longer than a pod: the handset deactivates the old pod and activates a new one (the
emulator's bench "fresh"), and the patient's insulin carries on. The pod's life is shortened here
to one hour so that the test takes seconds."""
from __future__ import annotations

from pathlib import Path

from handset.pod import PodClient
from patient import loop, scenario
from patient.podproc import VirtualPod


def test_the_pod_is_changed_and_delivery_carries_on(tmp_path: Path) -> None:
    sc = scenario.build("adult#001", hours=3, meals=["06:30=40"])
    loop._fresh_work(tmp_path)
    with VirtualPod(tmp_path) as pod:
        client = PodClient.open(pod.url, state_dir=tmp_path / "handset", reply_timeout_s=10.0)
        try:
            run = loop.ClosedLoop(sc, client, lambda text: None)
            run.pod_life_min = 60
            result = run.run()
        finally:
            client.close()
    changes = [e["minute"] for e in result.events if e["kind"] == "pod_change"]
    assert changes == [60, 120]
    assert result.stroke_pushed == result.pod_delivered > 0 and result.pod_bolus == 80
    for minute in changes:  # basal (25 pulses/h) goes on with the new pod
        assert sum(r.pushed for r in result.rows[minute:minute + 10]) >= 3
    history = (tmp_path / "handset" / "history.jsonl").read_text()
    assert history.count('"deactivate"') >= 2
    assert all(r.pod_ms >= 0 for r in result.rows) and result.rows[60].pod_ms < result.rows[59].pod_ms
