"""The stock `handset` command against the emulated Pico, with the timeouts it derives by itself:
activation, a bolus and a status over the board's USB serial link (a slow board is slower, not
failed)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from .board import Board
from .emulator import EmulatedPico

HANDSET = Path(sys.executable).parent / "handset"


def handset(url: str, state: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, HANDSET_STATE=str(state))
    env.pop("HANDSET_TIMEOUT", None)  # the handset's own defaults, derived from the link
    return subprocess.run([str(HANDSET), "--port", url, *args], env=env, capture_output=True, text=True,
                          timeout=600)


def test_stock_handset_activates_and_boluses(emulated: EmulatedPico, tmp_path: Path) -> None:
    link = Board(emulated.url, emulated).connect()
    link.bench_ok({"op": "fresh", "clock": "virtual"})
    link.close()  # the USB serial link serves one host at a time
    state = tmp_path / "handset"
    moved = emulated.counters()["position"]
    done = handset(emulated.url, state, "activate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "The pod is active" in done.stdout
    done = handset(emulated.url, state, "bolus", "0.5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0.50 U delivered" in done.stdout
    done = handset(emulated.url, state, "status")
    assert done.returncode == 0, done.stdout + done.stderr
    # 52 prime + 10 cannula + 10 bolus pulses (3.60 U), as the pod reports them
    assert [line.split()[-2:] for line in done.stdout.splitlines() if line.startswith("insulin delivered")] \
        == [["3.60", "U"]], done.stdout
    assert emulated.counters()["position"] - moved == 72  # and as the mechanism moved
