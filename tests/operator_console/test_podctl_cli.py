"""The `podctl` command against the real firmware: its output for a person and with --json,
its sentences and exit codes (2 bad input, 3 unreachable, 8 refused), `watch --once`."""
from __future__ import annotations

import json

import pytest

from system.podlink import free_port


def test_info_for_a_person_and_as_json(operator_pod) -> None:
    pod = operator_pod()
    r = pod.podctl("info")
    assert r.returncode == 0, r.stderr
    assert "progress       2 (filled, waiting for pairing)" in r.stdout
    assert "reservoir      200.00 U" in r.stdout
    as_json = json.loads(pod.podctl("--json", "info").stdout)
    assert as_json["pod"]["reservoir"] == 4000 and "ok" not in as_json and "id" not in as_json


def test_each_command_does_what_it_says(operator_pod) -> None:
    pod = operator_pod()
    assert "the pod clock is at 2h00m" in pod.podctl("advance", "2h").stdout
    assert pod.info()["now_ms"] == 2 * 3600 * 1000
    assert "blocked" in pod.podctl("occlude", "on").stdout and pod.bench.bench_ok({"op": "plant"})["occluded"]
    pod.podctl("occlude", "off")
    for args, armed in ((["lose-next-reply"], {"fault": "lose", "count": 1}),
                        (["drop-next-command", "-n", "3", "--block", "0x17"], {"fault": "drop", "count": 3, "block": 0x17}),
                        (["delay-next-reply", "3s"], {"fault": "delay", "count": 1, "ms": 3000}),
                        (["corrupt-next-reply"], {"fault": "corrupt", "count": 1, "how": "crc"}),
                        (["clear-faults"], None),
                        (["corrupt-next-reply", "--truncate"], {"fault": "corrupt", "count": 1, "how": "truncate"})):
        r = pod.podctl(*args)
        if armed is None:  # at most 4 are armed at a time
            assert r.returncode == 0 and pod.info()["armed"] == []
            continue
        assert r.returncode == 0 and r.stdout.startswith("Armed: "), r.stdout + r.stderr
        assert pod.info()["armed"][-1] == armed
    assert pod.podctl("lose-next-reply").returncode == 0
    full = [pod.podctl("lose-next-reply") for _ in range(3)][-1]
    assert full.returncode == 8 and "4 faults are armed already" in full.stderr
    assert pod.podctl("clear-faults").returncode == 0 and pod.info()["armed"] == []
    fresh = pod.podctl("fresh", "--lot", "5", "--tid", "6", "--fill", "80")
    assert fresh.returncode == 0 and "lot 5 tid 6, 80.00 U" in fresh.stdout, fresh.stdout + fresh.stderr
    assert "No beeps." in pod.podctl("beeps").stdout
    assert "Power cut armed" in pod.podctl("power-cut", "--within", "1m").stdout
    assert pod.podctl("power-cut", "--cancel").returncode == 0 and pod.info()["power_cut_ms"] is None
    watch = pod.podctl("watch", "--once")
    assert watch.returncode == 0 and "mechanism" in watch.stdout and "lot 5 tid 6" in watch.stdout


@pytest.mark.parametrize("args, words", [
    (["advance", "2 hours"], "is not understood: type it like 3s"),
    (["fault", "0x1ff"], "must be from 0x01 to 0xff"),
    (["fault", "fourteen"], "is not a number"),
    (["reservoir", "12.33"], "is not a multiple of 0.05 U"),
    (["age", "90s"], "is not a whole number of minutes"),
    (["lose-next-reply", "--block", "0x100"], "must be from 0x00 to 0xff"),
])
def test_bad_input_is_a_sentence_with_exit_code_2(operator_pod, args: list[str], words: str) -> None:
    pod = operator_pod()
    r = pod.podctl(*args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert pod.info()["armed"] == []


def test_refused_and_unreachable_have_their_exit_codes(operator_pod) -> None:
    pod = operator_pod()
    refused = pod.podctl("age", "71h")  # the pod is not activated
    assert refused.returncode == 8 and "activate it first" in refused.stderr
    env_port = f"socket://127.0.0.1:{free_port()}"
    gone = pod.podctl("--port", env_port, "info")
    assert gone.returncode == 3 and "--bench-listen" in gone.stderr and "Traceback" not in gone.stderr
