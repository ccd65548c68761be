"""The handset uses the CGM: the calculator takes a CGM reading at most 5 minutes old (pod time)
when no BG is typed, and never an older one."""
from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from handset.cli import main
from patient import cgm


def calc_json(state: Path, *args: str) -> dict:
    done = CliRunner().invoke(main, ["--state", str(state), "calc", "--json", *args])
    assert done.exit_code == 0, done.output
    return json.loads(done.output)


def test_the_calculator_corrects_with_a_fresh_cgm_reading_only(tmp_path: Path) -> None:
    # No pod paired: the calculator's "now" on the pod clock is 0, so a reading at pod_ms 0 is fresh.
    cgm.write_log(tmp_path, [cgm.Reading(0, 0, 250, "→", 0)])
    fresh = calc_json(tmp_path, "--carbs", "30")
    assert fresh["correction_pulses"] > 0  # 250 mg/dL is above correct-above (150)
    cgm.write_log(tmp_path, [cgm.Reading(0, -301_000, 250, "→", 0)])  # 5 min 1 s before now
    stale = calc_json(tmp_path, "--carbs", "30")
    assert stale["correction_pulses"] == 0 and stale["suggested_pulses"] == fresh["suggested_pulses"] - fresh["correction_pulses"]
    typed = calc_json(tmp_path, "--carbs", "30", "--bg", "100")  # a typed BG wins over the CGM
    assert typed["correction_pulses"] == 0


def test_status_shows_the_latest_cgm_reading_and_trend(tmp_path: Path) -> None:
    from handset.pod import PodClient
    from patient.podproc import VirtualPod
    state = tmp_path / "handset"
    with VirtualPod(tmp_path / "pod") as pod:
        client = PodClient.open(pod.url, state_dir=state, reply_timeout_s=10.0)
        try:
            client.wait_ms = lambda ms: client.bench("advance", ms=ms) and None
            client.activate([20] * 48, time_of_day_ms=0)
            now_ms = int(client.bench("advance", ms=10 * 60_000)["now_ms"])
        finally:
            client.close()
        cgm.write_log(state, [cgm.Reading(0, now_ms - 240_000, 112, "↘", -12)])
        done = CliRunner().invoke(main, ["--port", pod.url, "--state", str(state), "status"])
        shown = CliRunner().invoke(main, ["--port", pod.url, "--state", str(state), "status", "--json"])
    assert done.exit_code == 0, done.output
    # The pod's status counts whole minutes since pairing: 3 or 4 minutes, whichever side it falls.
    assert re.search(r"CGM\s+112 mg/dL ↘, [34] min ago \(pod time\)", done.output), done.output
    assert re.fullmatch(r"112 mg/dL ↘, [34] min ago \(pod time\)", json.loads(shown.output)["cgm"])
