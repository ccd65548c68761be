"""Persistent store (firmware/pod/store.py, pod/journal.py): A/B snapshots that survive torn writes
and bit flips, and the append-only journal on a flash region that survives torn programs."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest


from pod.hal.storage import PAGE, SECTOR
from pod.journal import MAX_CHUNK, Journal
from pod.store import REC_MESSAGE, REC_STROKE, STATE_NAMES, Store, decode_record, encode_record

STATE_1 = {"progress": 8, "delivered": 120, "alerts": [None, [1, 2, 3]], "lot": 41847, "name": "pod"}
STATE_2 = {"progress": 9, "delivered": 3000, "alerts": [], "lot": 41847, "name": "pod"}
STATE_3 = {"progress": 9, "delivered": 3001, "alerts": [], "lot": 41847, "name": "pod"}


class PowerCut(Exception):
    """The simulated power failed in the middle of a write."""


class MemoryFlash:
    """In-memory NOR flash region (the FlashRegion rules) whose next program can be torn."""

    def __init__(self, sectors: int) -> None:
        self.sectors = sectors
        self.size = sectors * SECTOR
        self.data = bytearray(b"\xff" * self.size)
        self.programs = 0
        self.erases = 0
        self._tear_at: int | None = None

    def read(self, offset: int, n: int) -> bytes:
        return bytes(self.data[offset:offset + n])

    def program(self, offset: int, data: bytes) -> None:
        assert offset // PAGE == (offset + len(data) - 1) // PAGE, "a program crossed a page"
        self.programs += 1
        keep = len(data)
        if self._tear_at is not None:
            keep, self._tear_at = self._tear_at, None
        for i in range(keep):
            self.data[offset + i] &= data[i]
        if keep < len(data):
            raise PowerCut("program")

    def erase(self, sector: int) -> None:
        self.erases += 1
        self.data[sector * SECTOR:(sector + 1) * SECTOR] = b"\xff" * SECTOR

    def tear_next_program(self, k: int) -> None:
        self._tear_at = k


class FaultyStorage:
    """In-memory hal.storage with the medium-level fault model: torn writes and bit flips."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes: list[str] = []
        self._tear_at: int | None = None
        self.flash: MemoryFlash | None = None

    def region(self, name: str, sectors: int) -> MemoryFlash:
        if self.flash is None:
            self.flash = MemoryFlash(sectors)
        return self.flash

    def read(self, name: str) -> bytes | None:
        return self.files.get(name)

    def write(self, name: str, data: bytes) -> None:
        self.writes.append(name)
        if self._tear_at is not None:
            k, self._tear_at = self._tear_at, None
            self.files[name] = bytes(data[:k])
            raise PowerCut(name)
        self.files[name] = bytes(data)

    def remove(self, name: str) -> None:
        self.files.pop(name, None)

    def tear_next_write(self, k: int) -> None:
        """The next write keeps only its first k bytes, then the power goes."""
        self._tear_at = k

    def flip(self, name: str, bit: int) -> None:
        data = bytearray(self.files[name])
        data[bit // 8] ^= 1 << (bit % 8)
        self.files[name] = bytes(data)


def seq_of(data: bytes) -> int:
    return struct.unpack_from(">I", data, 4)[0]


def two_saves() -> tuple[FaultyStorage, Store]:
    storage = FaultyStorage()
    store = Store(storage)
    store.save(STATE_1)
    store.save(STATE_2)
    return storage, store


def test_empty_storage_has_nothing() -> None:
    store = Store(FaultyStorage())
    assert store.load() is None and store.load_delivered() is None


def test_saves_alternate_slots_with_a_monotonic_sequence() -> None:
    storage, store = two_saves()
    assert storage.writes == list(STATE_NAMES)
    assert Store(storage).load() == STATE_2
    restarted = Store(storage)  # a new instance after a restart continues the sequence
    restarted.save(STATE_3)
    restarted.save(STATE_1)
    assert storage.writes == list(STATE_NAMES) * 2
    assert [seq_of(storage.files[n]) for n in STATE_NAMES] == [2, 3]
    assert Store(storage).load() == STATE_1


def test_record_layout() -> None:
    storage, _ = two_saves()
    record = storage.files[STATE_NAMES[1]]
    assert record[:4] == b"EP\x01\x01" and seq_of(record) == 1
    assert struct.unpack_from(">I", record, 8)[0] == len(record) - 16
    assert decode_record(1, record) is not None and decode_record(2, record) is None


def test_every_torn_length_keeps_the_last_good_state() -> None:
    scratch, store = two_saves()
    store.save(STATE_3)
    full = len(scratch.files[STATE_NAMES[0]])
    for k in range(full):
        storage, store = two_saves()
        storage.tear_next_write(k)
        with pytest.raises(PowerCut):
            store.save(STATE_3)
        assert storage.writes[-1] == STATE_NAMES[0], "the older slot is the one overwritten"
        after = Store(storage)
        assert after.load() == STATE_2, f"torn at {k} bytes lost the last good state"
        after.save(STATE_3)  # goes into the torn slot again, not over the good one
        assert storage.writes[-1] == STATE_NAMES[0]
        assert Store(storage).load() == STATE_3
    storage, store = two_saves()
    storage.tear_next_write(full)  # the whole record made it before the cut
    with pytest.raises(PowerCut):
        store.save(STATE_3)
    assert Store(storage).load() == STATE_3


def test_every_single_bit_flip_of_the_newest_record_falls_back() -> None:
    storage, _ = two_saves()
    newest = STATE_NAMES[1]
    good = storage.files[newest]
    for bit in range(len(good) * 8):
        storage.files[newest] = good
        storage.flip(newest, bit)
        assert Store(storage).load() == STATE_1, f"bit {bit} flipped went unnoticed"


@pytest.mark.parametrize("garbage", [
    b"", b"E", b"EP\x01\x01", bytes(16), bytes(300), b"\xff" * 64, b"not a record at all, just text....",
    b"XP" + b"\x00" * 30,
])
def test_garbage_in_both_slots_gives_none(garbage: bytes) -> None:
    storage = FaultyStorage()
    for name in STATE_NAMES:
        storage.files[name] = garbage
    store = Store(storage)
    assert store.load() is None and store.load_delivered() is None
    store.save(STATE_1)
    store.stroke(1000, 1, 120)
    assert Store(storage).load() == STATE_1 and Store(storage).load_delivered() == 121


def test_wrong_length_version_kind_and_magic_are_rejected() -> None:
    storage, _ = two_saves()
    good = storage.files[STATE_NAMES[1]]
    for bad in (good + b"\x00", good[:-1], b"EQ" + good[2:], good[:2] + b"\x02" + good[3:],
                good[:3] + b"\x02" + good[4:]):
        storage.files[STATE_NAMES[1]] = bad
        assert Store(storage).load() == STATE_1
    storage.files[STATE_NAMES[0]] = good[:10]
    assert Store(storage).load() is None  # both slots bad


def test_valid_crc_around_a_bad_payload_falls_back() -> None:
    storage, _ = two_saves()
    for payload in (b"{not json", b"[1, 2, 3]", b"\xff\xfe", b""):
        storage.files[STATE_NAMES[1]] = encode_record(1, 99, payload)
        assert Store(storage).load() == STATE_1


def test_unreadable_medium_gives_none() -> None:
    class Broken(FaultyStorage):
        def read(self, name: str) -> bytes | None:
            raise OSError(5, "I/O error")

    store = Store(Broken())
    assert store.load() is None and store.load_delivered() is None


def test_save_refuses_what_it_cannot_store() -> None:
    storage = FaultyStorage()
    store = Store(storage)
    with pytest.raises(ValueError):
        store.save([1, 2])  # type: ignore[arg-type]
    assert storage.files == {}


def test_write_ahead_count_follows_strokes_and_blocked_strokes() -> None:
    storage, store = two_saves()                       # STATE_2: 3000 delivered
    assert Store(storage).load_delivered() == 3000
    store.stroke(5000, 3001, 3000)
    assert Store(storage).load_delivered() == 3001     # the stroke may have gone
    store.blocked(3001)
    assert Store(storage).load_delivered() == 3000     # it did not
    store.stroke(6000, 3002, 3000)
    assert Store(storage).load_delivered() == 3001
    store.save(STATE_3)                                # a snapshot covers the journal so far
    assert Store(storage).load_delivered() == 3001
    assert Store(storage).snapshots()[0][1] == store.journal.position()


def test_a_stroke_is_one_small_page_program() -> None:
    storage, store = two_saves()
    flash = storage.flash
    assert flash is not None
    before = flash.programs
    for i in range(1, 1001):
        store.stroke(i * 180_000, i, i - 1)
    # one program per stroke, plus one sector header every ~4 KB: no file written, no erase
    assert flash.programs - before <= 1000 + 1000 // 150 + 1
    assert storage.writes == list(STATE_NAMES) and flash.erases == 0


def test_journal_records_come_back_in_order_across_sectors_and_long_payloads() -> None:
    storage = FaultyStorage()
    store = Store(storage)
    sent = []
    for i in range(150):
        payload = bytes([i & 0xFF]) * (1 + (i * 37) % (3 * MAX_CHUNK))  # some span several records
        store.append(REC_MESSAGE, payload)
        sent.append((REC_MESSAGE, payload))
    assert store.journal.head_seq > 8
    assert list(Store(storage).records([0, 0])) == sent


def test_every_torn_program_loses_only_the_record_being_written() -> None:
    for k in range(0, 22):
        storage = FaultyStorage()
        store = Store(storage)
        for i in range(1, 11):
            store.stroke(i * 1000, i, i - 1)
        assert storage.flash is not None
        storage.flash.tear_next_program(k)
        with pytest.raises(PowerCut):
            store.stroke(11_000, 11, 10)
        after = Store(storage)
        kept = [r for r in list(after.records([0, 0])) if r[0] == REC_STROKE]
        assert [struct.unpack(">QII", p)[1] for _, p in kept] == list(range(1, 11)), f"torn at {k}"
        after.stroke(11_000, 11, 10)                   # the writer goes on past the torn bytes
        after.stroke(12_000, 12, 11)
        again = [struct.unpack(">QII", p)[1] for kind, p in list(Store(storage).records([0, 0])) if kind == REC_STROKE]
        assert again == list(range(1, 13)), f"torn at {k}"


def test_bit_flips_in_the_journal_drop_records_never_invent_them() -> None:
    storage = FaultyStorage()
    store = Store(storage)
    for i in range(1, 21):
        store.stroke(i * 1000, i, i - 1)
    flash = storage.flash
    assert flash is not None
    good = bytes(flash.data[:PAGE])
    for bit in range(16 * 8, 80 * 8):                  # the first records after the sector header
        flash.data[:PAGE] = good
        flash.data[bit // 8] ^= 1 << (bit % 8)
        got = [struct.unpack(">QII", p)[1] for kind, p in list(Store(storage).records([0, 0])) if kind == REC_STROKE]
        assert set(got) <= set(range(1, 21)) and got == sorted(got), f"bit {bit}"
        assert len(got) < 20 or bit // 8 >= 16 + 22 * 3, f"bit {bit} flipped went unnoticed"


def test_the_journal_erases_only_what_no_snapshot_needs() -> None:
    storage = FaultyStorage()
    store = Store(storage, sectors=6)
    store.save(STATE_1)
    i = 0
    while not store.wants_snapshot():
        i += 1
        store.stroke(i, i, i - 1)
    flash = storage.flash
    assert flash is not None and flash.erases == 0
    with pytest.raises(OSError):                       # without a snapshot nothing may be erased
        for _ in range(2000):
            i += 1
            store.stroke(i, i, i - 1)
    assert Store(storage, sectors=6).load_delivered() == i - 1   # the failed stroke was not journaled
    store.save(STATE_2)                                # covers everything so far
    for _ in range(2000):
        i += 1
        store.stroke(i, i, i - 1)
        if store.wants_snapshot():
            store.save(STATE_3)
    assert flash.erases > 0
    snap, pos = Store(storage, sectors=6).snapshots()[0]
    assert snap == STATE_3
    recs = list(Store(storage, sectors=6).records(pos))
    assert [struct.unpack(">QII", p)[1] for _, p in recs] == list(range(i - len(recs) + 1, i + 1))


def test_erase_removes_everything() -> None:
    storage, store = two_saves()
    store.stroke(1, 3001, 3000)
    store.erase()
    assert storage.files == {} and store.load() is None and store.load_delivered() is None
    assert not store.used()
    store.save(STATE_3)
    assert Store(storage).load() == STATE_3


def test_real_files_in_a_temp_directory(tmp_path: Path) -> None:
    from pod.hal.storage import FileStorage
    storage = FileStorage(str(tmp_path / "pod"))
    store = Store(storage)
    store.save(STATE_1)
    store.save(STATE_2)
    store.stroke(10_000, 3001, 3000)
    assert sorted(p.name for p in (tmp_path / "pod").iterdir()) == sorted(STATE_NAMES + ("journal",))
    assert (tmp_path / "pod" / "journal").stat().st_size == 16 * SECTOR
    fresh = Store(FileStorage(str(tmp_path / "pod")))
    assert fresh.load() == STATE_2 and fresh.load_delivered() == 3001
    counters = storage.counters()
    assert counters["files_written"] == 2 and counters["programs"] == 2 and counters["erases"] == 0
    newest = tmp_path / "pod" / STATE_NAMES[1]
    newest.write_bytes(newest.read_bytes()[:-3])  # a torn file on disk
    assert Store(FileStorage(str(tmp_path / "pod"))).load() == STATE_1
    fresh = Store(FileStorage(str(tmp_path / "pod")))
    fresh.save(STATE_3)
    assert newest.stat().st_size > 16
    assert Store(FileStorage(str(tmp_path / "pod"))).load() == STATE_3


def test_a_region_of_another_size_starts_erased(tmp_path: Path) -> None:
    from pod.hal.storage import FlashRegion
    path = str(tmp_path / "journal")
    r = FlashRegion(path, 2)
    r.program(16, b"\x01\x02")
    assert FlashRegion(path, 2).read(16, 2) == b"\x01\x02"
    assert FlashRegion(path, 3).read(16, 2) == b"\xff\xff"
    with pytest.raises(ValueError):
        FlashRegion(path, 3).program(250, b"\x00" * 10)   # crosses a page


def test_journal_reads_garbage_without_raising() -> None:
    flash = MemoryFlash(2)
    flash.data[:] = bytes((i * 7919) & 0xFF for i in range(len(flash.data)))
    j = Journal(flash)
    assert j.records([0, 0]) == []
