"""Fixtures of the emulated-Pico tests: one board per module, a fresh pod per test."""
from __future__ import annotations

from typing import Iterator

import pytest

from .board import Board, BoardLink
from .emulator import EmulatedPico
from .fixtures import emulated, flash  # noqa: F401 (fixtures)


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
