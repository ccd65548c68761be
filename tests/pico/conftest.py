"""Fixtures of the emulated-Pico tests: one board per module, a fresh pod per test."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from .board import Board, BoardLink
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
    board = EmulatedPico(flash)
    try:
        yield board
    finally:
        board.kill()


@pytest.fixture
def board_link(emulated: EmulatedPico) -> Iterator[BoardLink]:
    """An open link to a fresh pod (virtual clock, 200 U) on the emulated Pico, plunger free."""
    board = Board(emulated.url, emulated)
    emulated.block(False)
    link = board.connect()
    try:
        reply = link.bench({"op": "fresh", "clock": "virtual"})
        assert reply.get("ok") is True, reply
        yield link
    finally:
        link.close()
