"""Persistent store (firmware/pod/store.py): A/B records that survive torn writes and bit flips."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest


from pod.store import DELIVERED_NAMES, STATE_NAMES, Store, decode_record, encode_record

STATE_1 = {"progress": 8, "delivered": 120, "alerts": [None, [1, 2, 3]], "lot": 41847, "name": "pod"}
STATE_2 = {"progress": 9, "delivered": 3000, "alerts": [], "lot": 41847, "name": "pod"}
STATE_3 = {"progress": 9, "delivered": 3001, "alerts": [], "lot": 41847, "name": "pod"}


class PowerCut(Exception):
    """The simulated power failed in the middle of a write."""


class FaultyStorage:
    """In-memory hal.storage with the medium-level fault model: torn writes and bit flips."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.writes: list[str] = []
        self._tear_at: int | None = None

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
    full = len(encode_record(1, 2, b'{"progress": 9, "delivered": 3001, "alerts": [], "lot": 41847, "name": "pod"}'))
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
    for name in STATE_NAMES + DELIVERED_NAMES:
        storage.files[name] = garbage
    store = Store(storage)
    assert store.load() is None and store.load_delivered() is None
    store.save(STATE_1)
    store.save_delivered(7)
    assert Store(storage).load() == STATE_1 and Store(storage).load_delivered() == 7


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
    for bad in (-1, 2**32, "5", None):
        with pytest.raises(ValueError):
            store.save_delivered(bad)  # type: ignore[arg-type]
    assert storage.files == {}


def test_delivered_counter_write_ahead_and_torn_writes() -> None:
    storage = FaultyStorage()
    store = Store(storage)
    for total in range(1, 50):
        store.save_delivered(total)
    assert Store(storage).load_delivered() == 49
    assert storage.writes[:4] == [DELIVERED_NAMES[0], DELIVERED_NAMES[1]] * 2
    record_len = len(storage.files[DELIVERED_NAMES[0]])
    assert record_len == 20  # tiny: cheap enough for every pulse
    for k in range(record_len):
        storage.tear_next_write(k)
        with pytest.raises(PowerCut):
            store.save_delivered(50)
        assert Store(storage).load_delivered() == 49, f"torn at {k}"
        store = Store(storage)
    for bit in range(record_len * 8):
        storage = FaultyStorage()
        store = Store(storage)
        store.save_delivered(49)
        store.save_delivered(50)
        storage.flip(DELIVERED_NAMES[1], bit)
        assert Store(storage).load_delivered() == 49, f"bit {bit} flipped went unnoticed"


def test_state_and_delivered_records_are_independent() -> None:
    storage, store = two_saves()
    store.save_delivered(3005)
    storage.files[STATE_NAMES[0]] = storage.files[DELIVERED_NAMES[0]]  # a record of the wrong kind
    assert Store(storage).load() == STATE_2
    storage.files[DELIVERED_NAMES[0]] = storage.files[STATE_NAMES[1]]
    assert Store(storage).load_delivered() is None


def test_erase_removes_everything() -> None:
    storage, store = two_saves()
    store.save_delivered(5)
    store.erase()
    assert storage.files == {} and store.load() is None and store.load_delivered() is None
    store.save(STATE_3)
    assert Store(storage).load() == STATE_3


def test_real_files_in_a_temp_directory(tmp_path: Path) -> None:
    hal_storage = pytest.importorskip("pod.hal.storage", reason="the platform's file storage is not written yet")
    storage = hal_storage.FileStorage(str(tmp_path / "pod"))
    store = Store(storage)
    store.save(STATE_1)
    store.save(STATE_2)
    store.save_delivered(3000)
    assert sorted(p.name for p in (tmp_path / "pod").iterdir()) == sorted(STATE_NAMES + DELIVERED_NAMES[:1])
    fresh = Store(hal_storage.FileStorage(str(tmp_path / "pod")))
    assert fresh.load() == STATE_2 and fresh.load_delivered() == 3000
    newest = tmp_path / "pod" / STATE_NAMES[1]
    newest.write_bytes(newest.read_bytes()[:-3])  # a torn file on disk
    assert Store(hal_storage.FileStorage(str(tmp_path / "pod"))).load() == STATE_1
    fresh = Store(hal_storage.FileStorage(str(tmp_path / "pod")))
    fresh.save(STATE_3)
    assert newest.stat().st_size > 16
    assert Store(hal_storage.FileStorage(str(tmp_path / "pod"))).load() == STATE_3
