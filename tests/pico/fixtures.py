"""The emulated board as pytest fixtures, for tests/pico and the Pico benchmarks: one flash file
(MicroPython, the .mpy build, main.py, virtual clock) and one running board per module."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from .emulator import EmulatedPico, build_flash, missing


@pytest.fixture(scope="module")
def flash(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flash file with MicroPython, the .mpy build and main.py (virtual clock), for one module."""
    why = missing()
    if why:
        pytest.skip(f"no emulated Pico: {why}")
    path = tmp_path_factory.mktemp("pico") / "flash.bin"
    build_flash(path, "--clock virtual")
    return path


@pytest.fixture(scope="module")
def emulated(flash: Path) -> Iterator[EmulatedPico]:
    """The board of one module, started on `flash` and killed (a power cut) at the end."""
    board = EmulatedPico(flash)
    try:
        yield board
    finally:
        board.kill()
