"""`make deploy` against the emulated Pico: mpremote over the board's USB serial link gets in through
main.py's Ctrl-C window after a reset, replaces the code and the options, and the new pod runs
with its state in /state, apart from the code."""
from __future__ import annotations

import sys
from pathlib import Path

from system.pdm_driver import Pdm

from .board import Board
from .emulator import ROOT, EmulatedPico, read_files

sys.path.insert(0, str(ROOT / "tools" / "pico"))
import deploy  # noqa: E402  (tools/pico/deploy.py: what `make deploy` runs)


def test_deploy_onto_a_running_pod_after_a_reset(flash: Path, tmp_path: Path) -> None:
    own = tmp_path / "flash.bin"
    own.write_bytes(flash.read_bytes())  # a board running the pod (lot 42125)
    board = EmulatedPico(own)
    try:
        link = Board(board.url, board).connect()
        assert link.bench_ok({"op": "info"})["pod"]["lot"] == 42125
        link.bench_ok({"op": "fresh", "clock": "virtual"})
        pdm = Pdm(link.send_message, 42125, 170175, 0x1F07B1EE)
        pdm.assign_address()
        pdm.setup_pod()  # a paired pod: its journal in raw flash holds these messages
        link.close()
    finally:
        board.kill()
    board = EmulatedPico(own)  # the reset button: main.py waits 1 s for Ctrl-C
    try:
        deploy.deploy(board.url, "--clock virtual --lot 1234", fresh=True, wait=120)
        link = Board(board.url, board).connect()
        info = link.bench_ok({"op": "info"})
        assert info["pod"]["lot"] == 1234 and info["firmware"]["platform"] == "rp2"
        assert info["clock"] == "virtual"
        assert info["pod"]["progress"] == 2 and not info["pod"]["fault"], "--fresh leaves a new, unpaired pod"
        link.bench_ok({"op": "advance", "seconds": 60})  # the pod saves its state
        link.close()
    finally:
        board.kill()
    files = read_files(own)
    assert files["/pod-options.txt"] == b"--clock virtual --lot 1234\n"
    code = [name for name in files if name.startswith(("/pod/", "/eros/"))]
    assert code and all(name.endswith(".mpy") for name in code), "only code in the code folders"
    assert any(name.startswith("/state/") for name in files), "the pod's state lives in /state"
