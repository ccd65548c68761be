"""Where the pod's journal lives on a Pico: raw flash between the end of MicroPython's binary and
its littlefs (pod/hal/rp2flash.py), found from the binary's own binary-info table; when that table
leaves no room, littlefs files (one per sector) instead, and the pod works the same."""
from __future__ import annotations

import shutil
import struct
from pathlib import Path

from system.pdm_driver import Pdm, activate

from .board import Board
from .emulator import FS_OFFSET, EmulatedPico, read_files

LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
XIP = 0x10000000
BINARY_END_ID = 0x68F465DE  # binary info: "the binary ends here" (an id-and-int entry, type 5)


def binary_end_entry(image: bytes) -> int:
    """Offset in the flash image of the value of the binary-end entry of the binary info."""
    marker = image.index(struct.pack("<I", 0x7188EBF2), 0x100, 0x200)
    first, last = struct.unpack_from("<II", image, marker + 4)
    for at in range(first - XIP, last - XIP, 4):
        entry = struct.unpack_from("<I", image, at)[0] - XIP
        if 0 <= entry < len(image) and struct.unpack_from("<HHI", image, entry)[::2] == (5, BINARY_END_ID):
            return entry + 8
    raise AssertionError("no binary-end entry in the binary info")


def run_pod(flash: Path) -> tuple[dict, int]:
    """Activate, give a 10-pulse bolus; (the bench's storage reply, pulses the bolus gave)."""
    board = EmulatedPico(flash)
    try:
        link = Board(board.url, board).connect()
        link.bench_ok({"op": "fresh", "clock": "virtual"})
        pdm = Pdm(link.send_message, LOT, TID, ADDR)
        activate(pdm, lambda ms: link.bench_ok({"op": "advance", "ms": ms}), [1] * 48, 0)
        start = pdm.status()["pulses_delivered"]
        pdm.bolus(10)
        link.bench_ok({"op": "advance", "ms": 21_000})
        given = pdm.status()["pulses_delivered"] - start
        storage = link.bench_ok({"op": "storage"})
        link.close()
        return storage, given
    finally:
        board.kill()


def test_the_journal_is_in_raw_flash_just_below_littlefs(flash: Path, tmp_path: Path) -> None:
    own = tmp_path / "flash.bin"
    shutil.copyfile(flash, own)
    storage, given = run_pod(own)
    assert given == 10 and storage["regions"] == {"journal": "raw"}
    image = own.read_bytes()
    journal = image[FS_OFFSET - 16 * 4096:FS_OFFSET]
    assert journal.count(b"EJ\x01") >= 1, "journal sectors below littlefs"
    end = struct.unpack_from("<I", image, binary_end_entry(image))[0] - XIP
    assert end <= FS_OFFSET - 16 * 4096, "the journal stays above MicroPython's binary"
    assert not [n for n in read_files(own) if n.startswith("/state/journal")]


def test_no_room_below_littlefs_puts_the_journal_in_littlefs_files(flash: Path, tmp_path: Path) -> None:
    own = tmp_path / "flash.bin"
    image = bytearray(flash.read_bytes())
    # a MicroPython whose binary reaches up to its filesystem: nothing free below it
    struct.pack_into("<I", image, binary_end_entry(bytes(image)), XIP + FS_OFFSET - 100)
    own.write_bytes(bytes(image))
    storage, given = run_pod(own)
    assert given == 10 and storage["regions"] == {"journal": "littlefs"}
    assert [n for n in read_files(own) if n.startswith("/state/journal.")]
    assert own.read_bytes()[FS_OFFSET - 16 * 4096:FS_OFFSET] == image[FS_OFFSET - 16 * 4096:FS_OFFSET]
