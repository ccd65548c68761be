"""The pod on the emulated Pico: the official MicroPython rp2 build running the .mpy firmware, over
the USB serial link, the real rp2 hardware layer driving a mechanism that moves (GP2 step -> GP3
encoder), state on littlefs flash written through to a host file.

A representative part of the system suite, run by `make test` (the whole suite: `make hil-emu`):
activation, a bolus with an exact pulse count, a temp basal, a bad nonce, a power cut mid-bolus
with the state back from flash, an occlusion by blocking the encoder.
"""
from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Iterator

from eros.message import build_message, parse_message
from eros.schedule import bolus_blocks
from system.pdm_driver import Pdm, activate

from .board import Board, BoardLink
from .emulator import EmulatedPico

LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
S = 1000
MIN = 60 * S
HOUR = 60 * MIN
LOW_BASAL = [1] * 48  # 0.05 U/h: one pulse an hour, so that boluses are counted exactly


class Session:
    """A PDM and the bench of one board link."""

    def __init__(self, link: BoardLink) -> None:
        self.link = link  # replaced after a power cut; the PDM (and its sequence numbers) stays
        self.pdm = Pdm(lambda message: self.link.send_message(message), LOT, TID, ADDR)

    def advance(self, ms: int) -> None:
        self.link.bench_ok({"op": "advance", "ms": ms})

    def delivered(self) -> int:
        return self.pdm.status()["pulses_delivered"]

    def activate(self) -> None:
        replies = activate(self.pdm, self.advance, LOW_BASAL, 24 * HOUR - 55 * S)
        assert [r["progress"] for r in replies[2:]] == [3, 3, 4, 5, 6, 7, 8]


def test_activation_bolus_and_temp_basal(board_link: BoardLink, emulated: EmulatedPico) -> None:
    session = Session(board_link)
    moved = emulated.counters()["position"]
    session.activate()
    primed = session.delivered()
    assert primed == 52 + 10  # prime and cannula insertion pulses
    # every pulse the pod counts moved the plunger: the rp2 layer read the encoder each time
    assert emulated.counters()["position"] - moved == primed
    start = session.delivered()
    reply = session.pdm.bolus(20)  # 1 U, 2 s a pulse
    assert reply["delivery"] == 5 and reply["bolus_remaining"] == 20
    flash_before = emulated.counters()
    session.advance(41 * S)
    flash_after = emulated.counters()
    assert session.delivered() - start == 20
    # the pulse path's flash budget: one page program a pulse (the journal in raw flash below
    # littlefs; on littlefs files it was ~11), a few more for the records around the bolus, and
    # no sector erase but where the journal opens a new sector
    assert session.link.bench_ok({"op": "storage"})["regions"] == {"journal": "raw"}
    assert flash_after["programs"] - flash_before["programs"] <= 25
    assert flash_after["erases"] - flash_before["erases"] <= 1
    assert emulated.counters()["position"] - moved == session.delivered()
    assert session.link.bench_ok({"op": "plant"})["pushed"] == session.delivered()
    reply = session.pdm.temp_basal(40, 1)  # 2 U/h for 30 min: a pulse every 90 s
    assert reply["delivery"] == 2
    base = session.delivered()
    session.advance(30 * MIN)
    assert session.delivered() - base == 20
    assert session.pdm.status()["delivery"] == 1  # back to the basal program


def test_bad_nonce_is_refused_then_resynced(board_link: BoardLink) -> None:
    session = Session(board_link)
    session.activate()
    pdm = session.pdm
    seq = pdm.seq
    raw = board_link.send_message(build_message(ADDR, seq, [{"type": 0x1F, "nonce": 0x851072AA,
                                                             "beep_type": 0, "cancel": 2}]))
    block = parse_message(raw)["blocks"][0]
    assert block["type"] == 0x06 and block["code"] == 0x14
    pdm.seq = (seq + 2) & 15
    assert pdm.temp_basal(40, 1)["delivery"] == 2
    assert pdm.resyncs == 1


def test_occlusion_by_blocking_the_encoder(board_link: BoardLink, emulated: EmulatedPico) -> None:
    session = Session(board_link)
    session.activate()
    before = emulated.counters()
    emulated.block(True)  # the plunger stops: step pulses no longer move the encoder
    session.pdm.bolus(100)  # 5 U; 3 U missed faults the pod (0x14, occlusion)
    session.advance(4 * MIN)
    status = board_link.bench_ok({"op": "info"})["pod"]
    assert status["fault"] == 0x14
    after = emulated.counters()
    assert after["position"] == before["position"]  # nothing went in
    assert after["steps"] - before["steps"] >= 60  # the pod stroke and the encoder did not move


@contextlib.contextmanager
def power_on(flash: Path) -> Iterator[BoardLink]:
    """One power-up of a board of its own on `flash`; leaving the block is a power cut (only what
    reached the flash survives)."""
    board = EmulatedPico(flash)
    try:
        link = Board(board.url, board).connect()
        yield link
        link.close()
    finally:
        board.kill()


def activated(link: BoardLink) -> Session:
    assert link.bench({"op": "fresh", "clock": "virtual"})["ok"] is True
    session = Session(link)
    session.activate()
    return session


def test_power_cut_mid_bolus_comes_back_from_flash(flash: Path, tmp_path: Path) -> None:
    own = tmp_path / "flash.bin"
    shutil.copyfile(flash, own)
    with power_on(own) as link:
        session = activated(link)
        start = session.delivered()
        session.pdm.bolus(100)
        session.advance(31 * S)  # 15 of the 100 pulses
    pushed = _position(own)
    with power_on(own) as session.link:
        status = session.pdm.status()
        delivered = status["pulses_delivered"]
        # the pod remembers every pulse that went in and over-counts at most the one in flight
        assert pushed - start in (15, 16)
        assert pushed <= delivered <= pushed + 1
        assert status["delivery"] != 5  # the interrupted bolus is not resumed after a power cut
        session.advance(5 * MIN)
        assert _position(own) == pushed  # and nothing more of it goes in


def test_a_command_repeated_after_a_power_cut_gets_its_kept_reply(flash: Path, tmp_path: Path) -> None:
    """At most once through a real power cut: the reply to a bolus is kept in flash, and the same
    bytes sent again after power-up get that reply, not a second bolus."""
    own = tmp_path / "flash.bin"
    shutil.copyfile(flash, own)
    with power_on(own) as link:
        session = activated(link)
        start = session.delivered()
        seq = session.pdm.seq
        message = build_message(ADDR, seq, list(bolus_blocks(40, session.pdm.nonce.current())))
        first = link.send_message(message)
        assert parse_message(first)["blocks"][0]["type"] == 0x1D
        session.advance(10 * S)  # 5 of the 40 pulses
    # the power cut came before the handset saw the reply (it was "lost")
    pushed = _position(own)
    with power_on(own) as session.link:
        assert session.link.send_message(message) == first, "the repeated bolus was not answered with its reply"
        session.advance(2 * MIN)
        assert _position(own) == pushed, "the repeated bolus was carried out again"
        session.pdm.nonce.advance()
        session.pdm.seq = (seq + 2) & 0x0F
        assert pushed - start in (5, 6) and session.delivered() in (pushed, pushed + 1)


def _position(flash: Path) -> int:
    """The plunger's position as the rig keeps it across power cuts (pulses since the fill)."""
    import json

    return json.loads(flash.with_suffix(".mechanism.json").read_text())["position"]
