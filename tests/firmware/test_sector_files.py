"""SectorFiles (the journal's flash region on a Pico's littlefs) reads back exactly what
FlashRegion (the NOR-flash model in one file) does, through programs, overlaps, erases and a
reopen: the journal can sit on either."""
from __future__ import annotations

import random

from pod.hal.storage import PAGE, SECTOR, FlashRegion, SectorFiles


def test_sector_files_read_back_like_nor_flash(tmp_path) -> None:
    rng = random.Random(20261130)
    sectors = 4
    flash = FlashRegion(str(tmp_path / "flash"), sectors)
    files = SectorFiles(str(tmp_path / "journal"), sectors)
    ends = [0] * sectors
    for _ in range(600):
        sector = rng.randrange(sectors)
        roll = rng.random()
        if roll < 0.05:
            flash.erase(sector)
            files.erase(sector)
            ends[sector] = 0
            continue
        if roll < 0.15 and ends[sector]:  # reprogram inside what is there: bits only go 1 -> 0
            at = rng.randrange(ends[sector])
        else:  # the journal's way: after the last record, sometimes skipping to the next page
            at = ends[sector] + (rng.randrange(40) if rng.random() < 0.2 else 0)
        if at >= SECTOR:
            continue
        n = rng.randrange(1, min(40, PAGE - at % PAGE) + 1)
        data = bytes(rng.randrange(256) for _ in range(n))
        flash.program(sector * SECTOR + at, data)
        files.program(sector * SECTOR + at, data)
        ends[sector] = max(ends[sector], at + n)
    reopened = SectorFiles(str(tmp_path / "journal"), sectors)
    for offset in range(0, sectors * SECTOR, PAGE):
        assert files.read(offset, PAGE) == flash.read(offset, PAGE), offset
        assert reopened.read(offset, PAGE) == flash.read(offset, PAGE), offset
    assert files.read(5, 12) == flash.read(5, 12)
    assert (files.programs, files.erases) == (flash.programs, flash.erases)
