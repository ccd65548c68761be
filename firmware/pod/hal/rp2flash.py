# pod/hal/rp2flash.py - the journal's flash region in raw flash on a Pico, below littlefs.
#
# On littlefs every append rewrites metadata (~11 page programs and ~1 erase a pulse, measured on
# the emulated Pico); raw NOR flash takes a record as one page program. The raw area is the free
# flash between the end of the MicroPython binary and the start of its filesystem, both read from
# the binary's own "binary info" (the table picotool reads), so another build with a bigger
# binary or another filesystem size is seen, never overwritten. Access goes through rp2.Flash(),
# the filesystem's block device: block numbers below 0 address flash below the filesystem (its
# offsets are unchecked 32-bit sums in the rp2 port). That this reaches the intended address is
# checked once, by reading the binary's last sector both ways. When anything does not fit, the
# caller falls back to littlefs files (pod/hal/storage.SectorFiles).

import struct

import uctypes
from micropython import const

from pod.hal.storage import PAGE, SECTOR, check_program, check_sector

_XIP_BASE = const(0x10000000)       # flash as the CPU reads it (execute-in-place window)
_XIP_END = const(0x11000000)
_HEADER_FROM = const(0x100)         # the binary info header lies in the 256 bytes after boot2
_MARKER_START = b"\xf2\xeb\x88\x71"  # 0x7188EBF2, little-endian
_TYPE_ID_AND_INT = const(5)
_TYPE_BLOCK_DEVICE = const(7)
_ID_BINARY_END = const(0x68F465DE)
_BLOCK_ERASE = const(6)             # block device ioctl
_BLANK_PAGE = b"\xff" * 256


def _word(addr):
    return struct.unpack("<I", uctypes.bytearray_at(addr, 4))[0]


def flash_layout():
    """(end of the binary, start of the filesystem) as flash offsets, from the binary info of
    the running MicroPython; None when it does not say both."""
    head = bytes(uctypes.bytearray_at(_XIP_BASE + _HEADER_FROM, 256))
    at = head.find(_MARKER_START)
    if at < 0 or at % 4:
        return None
    first, last = struct.unpack_from("<II", head, at + 4)
    code_end = fs_start = None
    for entry_at in range(first, last, 4):
        entry = _word(entry_at)
        if not _XIP_BASE <= entry < _XIP_END:
            continue  # an entry in RAM: not one of the two we need
        kind = _word(entry) & 0xFFFF
        if kind == _TYPE_ID_AND_INT and _word(entry + 4) == _ID_BINARY_END:
            code_end = _word(entry + 8) - _XIP_BASE
        elif kind == _TYPE_BLOCK_DEVICE:
            fs_start = _word(entry + 8) - _XIP_BASE
    if code_end is None or fs_start is None:
        return None
    return code_end, fs_start


class RawArea:
    """The free flash below the filesystem; hands out regions downwards from its top in the order
    they are first asked for (the pod asks for one, its journal), one object per name."""

    def __init__(self):
        import rp2

        self.reason = None
        self._dev = rp2.Flash()
        self._regions = {}
        layout = flash_layout()
        if layout is None:
            self.reason = "the MicroPython binary does not say where it ends"
            return
        self.floor = (layout[0] + SECTOR - 1) // SECTOR * SECTOR
        self.fs_start = self._next_end = layout[1]
        probe = layout[0] - 16  # the binary's last bytes, read through the device and directly
        seen = bytearray(16)
        try:
            self._dev.readblocks(self._block(probe), seen, probe % SECTOR)
            reached = bytes(seen) == bytes(uctypes.bytearray_at(_XIP_BASE + probe, 16))
        except (OSError, ValueError):  # a MicroPython that checks block numbers
            reached = False
        if not reached:
            self.reason = "rp2.Flash does not reach below the filesystem on this MicroPython"

    def _block(self, offset):
        return (offset - self.fs_start) // SECTOR  # negative below the filesystem

    def region(self, name, sectors):
        """The region `name` of `sectors` x 4 KB, or None when it does not fit."""
        r = self._regions.get(name)
        if r is None and self.reason is None:
            start = self._next_end - sectors * SECTOR
            if start < self.floor:
                return None
            r = RawRegion(self, start, sectors)
            self._regions[name] = r
            self._next_end = start
        return r


class RawRegion:
    """hal FlashRegion in raw flash (pod/hal/storage.py has the interface). Reads are views of
    the memory-mapped flash (no copy, no heap); a program writes one aligned page with 0xFF
    around the new bytes (NOR: 0xFF leaves a byte as it is): one page program; an erase is one
    4 KB sector."""

    kind = "raw"

    def __init__(self, area, start, sectors):
        self.sectors = sectors
        self.size = sectors * SECTOR
        self._area = area
        self._start = start
        self._page = bytearray(PAGE)
        self.programs = 0
        self.erases = 0
        self.bytes_programmed = 0

    def read(self, offset, n):
        if offset < 0 or offset + n > self.size:
            raise ValueError("a flash read must lie within the region")
        return uctypes.bytearray_at(_XIP_BASE + self._start + offset, n)

    def program(self, offset, data):
        """Program bytes that lie in one page; like NOR flash, a bit only goes from 1 to 0."""
        n = len(data)
        check_program(offset, n, self.size)
        at = offset % PAGE
        page = self._page
        page[:] = _BLANK_PAGE
        page[at:at + n] = data
        where = self._start + offset - at
        self._area._dev.writeblocks(self._area._block(where), page, where % SECTOR)
        self.programs += 1
        self.bytes_programmed += n

    def erase(self, sector):
        check_sector(sector, self.sectors)
        self._area._dev.ioctl(_BLOCK_ERASE, self._area._block(self._start) + sector)
        self.erases += 1

    def close(self):
        pass


_area = None


def region(name, sectors):
    """The raw region `name` (the same object for every caller in this boot), or None when raw
    flash cannot hold it (RawArea.reason says why when it cannot be used at all)."""
    global _area
    if _area is None:
        _area = RawArea()
    return _area.region(name, sectors)
