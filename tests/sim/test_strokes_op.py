"""The bench op "strokes" on the real firmware: paged, refused with a sentence on bad input, and
kept across a hard kill of the pod process (the plant records itself after every stroke)."""
from __future__ import annotations

import signal
from pathlib import Path

import pytest

from handset.errors import HandsetError
from handset.pod import PodClient
from patient.podproc import VirtualPod


def all_strokes(client: PodClient) -> list[list[int]]:
    out: list[list[int]] = []
    cursor = 0
    while True:
        r = client.bench("strokes", since=cursor)
        assert r["first"] == cursor and len(r["strokes"]) <= 40
        out += r["strokes"]
        cursor = r["next"]
        if cursor >= r["count"]:
            return out


def test_strokes_are_paged_timed_and_survive_a_kill(tmp_path: Path) -> None:
    pod = VirtualPod(tmp_path)
    client = PodClient.open(pod.url, state_dir=tmp_path / "handset", reply_timeout_s=10.0)
    try:
        client.wait_ms = lambda ms: client.bench("advance", ms=ms) and None
        client.activate([20] * 48, time_of_day_ms=0)  # priming and the cannula fill are strokes too
        client.bench("advance", ms=30 * 60_000)      # 30 minutes of 1 U/h basal: 10 more strokes
        before = all_strokes(client)
        with pytest.raises(HandsetError, match='"since" must be from 0'):
            client.bench("strokes", since=-1)
    finally:
        client.close()
    assert len(before) >= 62 + 9 and all(ok == 1 for _, ok in before)
    times = [ms for ms, _ in before]
    assert times == sorted(times) and times[-1] - times[-2] == 180_000  # basal: a pulse every 3 minutes
    pod.proc.send_signal(signal.SIGKILL)
    pod.proc.wait(timeout=10)
    again = VirtualPod(tmp_path)
    client = PodClient.open(again.url, state_dir=tmp_path / "handset", reply_timeout_s=10.0)
    try:
        assert all_strokes(client)[:len(before)] == before
    finally:
        client.close()
        again.stop()
