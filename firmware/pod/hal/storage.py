# pod/hal/storage.py - the pod's two kinds of persistent storage, with write counters.
#
# FileStorage: named byte files in one directory, written atomically (a write goes to
# "<name>.tmp" first and is renamed over the old file, so a power cut leaves the old or the new
# content, never a mix: rename is atomic on POSIX and on littlefs). Used for the rare snapshots.
#
# FlashRegion: a region of NOR flash for the append-only journal (pod/journal.py): sectors of
# 4 KB that are erased whole (every byte 0xFF) and pages of 256 bytes programmed in place, bits
# only going 1 -> 0. On unix it is a preallocated file written in place with exactly those rules,
# and it counts what real flash would do (page programs, sector erases, bytes), so the tests can
# hold the pod to a flash budget per delivered pulse. On a Pico it is raw flash below littlefs
# (pod/hal/rp2flash.py), or littlefs files (SectorFiles) where there is no room for it.

import os
import sys

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

SECTOR = const(4096)
PAGE = const(256)


def check_program(offset, n, size):
    """A program must lie in one 256-byte page of a region of `size` bytes (as on NOR flash)."""
    if n == 0 or offset < 0 or offset + n > size or offset // PAGE != (offset + n - 1) // PAGE:
        raise ValueError("a flash program must lie within one 256-byte page of the region")


def check_sector(sector, sectors):
    if not 0 <= sector < sectors:
        raise ValueError("no sector %d in a region of %d" % (sector, sectors))


def _is_dir(path):
    try:
        return (os.stat(path)[0] & 0x4000) != 0
    except OSError:
        return False


def make_dirs(path):
    """mkdir -p (MicroPython's os has no makedirs)."""
    if not path or _is_dir(path):
        return
    parent = path.rsplit("/", 1)[0] if "/" in path.rstrip("/") else ""
    if parent and parent != path:
        make_dirs(parent)
    os.mkdir(path)


class FileStorage:
    """hal.storage: read(name) -> bytes or None, write(name, data) (atomic), remove(name);
    region(name, sectors) -> the FlashRegion kept in file `name`. Counts files written and bytes."""

    def __init__(self, directory):
        self.directory = directory.rstrip("/") or "/"
        make_dirs(self.directory)
        self.files_written = 0
        self.bytes_written = 0
        self._regions = {}

    def _path(self, name):
        if not name or "/" in name or name.startswith("."):
            raise ValueError("storage names are plain file names, got %r" % name)
        return self.directory + "/" + name

    def read(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        path = self._path(name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
        self.files_written += 1
        self.bytes_written += len(data)

    def append(self, name, data):
        """Add data at the end of file `name` (created when missing): no rewrite of what is there."""
        with open(self._path(name), "ab") as f:
            f.write(data)
        self.bytes_written += len(data)

    def rename(self, name, new_name):
        """Give file `name` the name `new_name` (atomic; a file of that name is replaced)."""
        os.rename(self._path(name), self._path(new_name))

    def remove(self, name):
        r = self._regions.pop(name, None)
        if r is not None:
            r.close()
        try:
            os.remove(self._path(name))
        except OSError:
            pass

    def names(self):
        return sorted(n for n in os.listdir(self.directory) if not n.endswith(".tmp"))

    def region(self, name, sectors):
        """The flash region kept in file `name` (created erased on first use); one object per name."""
        r = self._regions.get(name)
        if r is None:
            r = _platform_region(self._path(name), name, sectors)
            self._regions[name] = r
        return r

    def region_kinds(self):
        """{name: "file" | "littlefs" | "raw"}: where each flash region opened so far lives."""
        out = {}
        for name in self._regions:
            out[name] = self._regions[name].kind
        return out

    def counters(self):
        """Writes so far: files rewritten and their bytes; the regions' page programs, sector
        erases and bytes programmed."""
        out = {"files_written": self.files_written, "bytes_written": self.bytes_written,
               "programs": 0, "erases": 0, "bytes_programmed": 0}
        for name in self._regions:
            r = self._regions[name]
            out["programs"] += r.programs
            out["erases"] += r.erases
            out["bytes_programmed"] += r.bytes_programmed
        return out


def _platform_region(path, name, sectors):
    """Every storage object of the process must pick the same kind of region for a name, or one
    erases what another reads: on a Pico raw flash below littlefs (pod/hal/rp2flash.py), else
    littlefs files; elsewhere a file written in place."""
    if sys.platform != "rp2":
        return FlashRegion(path, sectors)
    from pod.hal import rp2flash

    r = rp2flash.region(name, sectors)
    return r if r is not None else SectorFiles(path, sectors)


class FlashRegion:
    """`sectors` x 4 KB of NOR flash in a file: read(offset, n), program(offset, data) within one
    page, erase(sector). A power cut (the process killed) leaves each program done or not done;
    the journal's CRCs cover the torn ones of real flash."""

    kind = "file"

    def __init__(self, path, sectors):
        self.sectors = sectors
        self.size = sectors * SECTOR
        self.programs = 0
        self.erases = 0
        self.bytes_programmed = 0
        try:
            f = open(path, "r+b", buffering=0)  # unbuffered: every handle sees every write
            f.seek(0, 2)
            if f.tell() != self.size:  # another geometry: start over erased
                f.close()
                raise OSError("size")
        except OSError:
            f = open(path, "wb")
            blank = b"\xff" * PAGE
            for _ in range(sectors * (SECTOR // PAGE)):
                f.write(blank)
            f.close()
            f = open(path, "r+b", buffering=0)
        self._f = f

    def read(self, offset, n):
        self._f.seek(offset)
        return self._f.read(n)

    def program(self, offset, data):
        """Program bytes that lie in one page; like NOR flash, a bit only goes from 1 to 0."""
        n = len(data)
        check_program(offset, n, self.size)
        old = self.read(offset, n)
        self._f.seek(offset)
        self._f.write(bytes(a & b for a, b in zip(old, data)))
        self._f.flush()
        self.programs += 1
        self.bytes_programmed += n

    def erase(self, sector):
        check_sector(sector, self.sectors)
        self._f.seek(sector * SECTOR)
        blank = b"\xff" * PAGE
        for _ in range(SECTOR // PAGE):
            self._f.write(blank)
        self._f.flush()
        self.erases += 1

    def close(self):
        try:
            self._f.close()
        except OSError:
            pass


class SectorFiles:
    """The same region as FlashRegion for a file system that copies on write (littlefs on a
    Pico): one file per sector, "<name>.NN", holding the sector's programmed prefix (beyond a
    file's end the sector reads erased). The journal programs a sector in order, so a program
    is an append to one small file and an erase removes it: writing in place in one 64 KB file
    made littlefs copy the whole file, ~17 erases a pulse."""

    kind = "littlefs"

    def __init__(self, path, sectors):
        self.sectors = sectors
        self.size = sectors * SECTOR
        self.programs = 0
        self.erases = 0
        self.bytes_programmed = 0
        self._path = path
        self._sizes = []
        for i in range(sectors):
            try:
                self._sizes.append(os.stat(self._name(i))[6])
            except OSError:
                self._sizes.append(0)

    def _name(self, sector):
        return "%s.%02d" % (self._path, sector)

    def read(self, offset, n):
        sector, at = divmod(offset, SECTOR)
        have = min(n, self._sizes[sector] - at)
        if have <= 0:
            return b"\xff" * n
        with open(self._name(sector), "rb") as f:
            f.seek(at)
            data = f.read(have)
        return data + b"\xff" * (n - len(data)) if len(data) < n else data

    def program(self, offset, data):
        """Program bytes that lie in one page; bits only go from 1 to 0, as on NOR flash."""
        n = len(data)
        check_program(offset, n, self.size)
        sector, at = divmod(offset, SECTOR)
        size = self._sizes[sector]
        if at >= size:  # the common case: past the programmed prefix, an append
            with open(self._name(sector), "ab") as f:
                if at > size:
                    f.write(b"\xff" * (at - size))
                f.write(data)
        else:
            old = self.read(offset, n)
            with open(self._name(sector), "r+b") as f:
                f.seek(at)
                f.write(bytes(a & b for a, b in zip(old, data)))
        self._sizes[sector] = max(size, at + n)
        self.programs += 1
        self.bytes_programmed += n

    def erase(self, sector):
        check_sector(sector, self.sectors)
        try:
            os.remove(self._name(sector))
        except OSError:
            pass
        self._sizes[sector] = 0
        self.erases += 1

    def close(self):
        pass
