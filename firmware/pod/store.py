"""Persistent pod state over hal.storage: rare snapshots plus an append-only journal.

* A snapshot is the whole pod (a JSON dict, pulse log included) in "state.a" / "state.b", written
  only when a restart or a bench change needs one, or when the journal must make room. Each save
  writes the slot NOT holding the newest valid record, so a torn or corrupt write never destroys
  the last good one; loading never raises on garbage (missing, empty, truncated, bit-flipped).
* The journal (pod/journal.py, in the flash region "journal") holds what happened since: every
  message the pod handled (with its pod time), every stroke BEFORE it is pushed (write-ahead:
  pod time, stroke number, pulses delivered before it), every stroke that did not move the
  plunger, and a time checkpoint when nothing else was written for 10 minutes. A snapshot names
  the journal position it covers up to; the pod after a restart is that snapshot with the
  journal's records replayed on it (pod/persist.py). One stroke costs one record: one page
  program, no file rewritten, no sector erased except once per 4 KB of records.

Record: header ">2sBBIII" = magic b"EP", version, kind, sequence, payload length, CRC32 of the
first 12 header bytes and the payload; then the payload (UTF-8 JSON, or a big-endian u32).
"""
import binascii
import json
import struct

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

from pod.journal import Journal

_MAGIC = b"EP"
_VERSION = const(1)
_KIND_STATE = const(1)
_HEADER = ">2sBBIII"
_HEADER_LEN = const(16)
_CRC_SPAN = const(12)       # header bytes covered by the CRC (all but the CRC itself)
_SEQ_MAX = const(0xFFFFFFFF)
STATE_NAMES = ("state.a", "state.b")
JOURNAL_NAME = "journal"
JOURNAL_SECTORS = const(16)  # 64 KB: about 2,900 strokes between two snapshots
_SPARE_SECTORS = const(3)    # a snapshot is due when only this many sectors can still be erased
_LIVE_SECTORS = const(3)     # or when the journal since the last one spans more (~500 strokes)
_OLD_NAMES = ("dlv.a", "dlv.b", "plog.a", "plog.b")
# journal record kinds
REC_MESSAGE = const(1)   # u64 pod time, then the message bytes
REC_STROKE = const(2)    # u64 pod time, u32 stroke number (1-based), u32 pulses delivered before it
REC_BLOCKED = const(3)   # u32 stroke number: it did not move the plunger
REC_TICK = const(4)      # u64 pod time: a checkpoint


def encode_record(kind, seq, payload):
    """Bytes of one record."""
    if not 0 <= seq <= _SEQ_MAX:
        raise ValueError("Record sequence %d does not fit 32 bits; erase the store." % seq)
    head = struct.pack(">2sBBII", _MAGIC, _VERSION, kind, seq, len(payload))
    crc = binascii.crc32(payload, binascii.crc32(head)) & 0xFFFFFFFF
    return head + struct.pack(">I", crc) + payload


def decode_record(kind, data):
    """(seq, payload) of a valid record of `kind`, or None for anything else."""
    if not data or len(data) < _HEADER_LEN:
        return None
    magic, version, k, seq, length, crc = struct.unpack_from(_HEADER, data, 0)
    if magic != _MAGIC or version != _VERSION or k != kind or length != len(data) - _HEADER_LEN:
        return None
    payload = bytes(data[_HEADER_LEN:])
    if binascii.crc32(payload, binascii.crc32(bytes(data[:_CRC_SPAN]))) & 0xFFFFFFFF != crc:
        return None
    return seq, payload


class _Pair:
    """One A/B record pair: remembers which slot holds the newest valid record."""

    def __init__(self, storage, names, kind):
        self._storage = storage
        self._names = names
        self._kind = kind
        self._seq = -1        # newest valid sequence number, -1 = none
        self._newest = -1     # slot index holding it, -1 = none
        self._scanned = False

    def _read(self, slot):
        try:
            return decode_record(self._kind, self._storage.read(self._names[slot]))
        except Exception:  # unreadable medium or foreign bytes: treat as no record
            return None

    def records(self):
        """Valid (seq, payload) of both slots, newest first; refreshes the slot bookkeeping."""
        found = []
        for slot in (0, 1):
            r = self._read(slot)
            if r is not None:
                found.append((r[0], slot, r[1]))
        found.sort(reverse=True)
        self._seq = found[0][0] if found else -1
        self._newest = found[0][1] if found else -1
        self._scanned = True
        return [(seq, payload) for seq, _, payload in found]

    def write(self, payload):
        """Write payload as the next record into the slot not holding the newest one."""
        if not self._scanned:
            self.records()
        slot = 1 if self._newest == 0 else 0
        seq = self._seq + 1
        self._storage.write(self._names[slot], encode_record(self._kind, seq, payload))
        self._seq = seq
        self._newest = slot

    def erase(self):
        for name in self._names:
            try:
                self._storage.remove(name)
            except OSError:
                pass  # already absent
        self._seq = -1
        self._newest = -1
        self._scanned = True


class Store:
    """Snapshots and journal over a hal.storage object (read/write/remove files, region())."""

    def __init__(self, storage, sectors=JOURNAL_SECTORS):
        self._storage = storage
        self._state = _Pair(storage, STATE_NAMES, _KIND_STATE)
        self._sectors = sectors
        self._journal = None

    @property
    def journal(self):
        """The journal, opened (scanned) on first use."""
        if self._journal is None:
            self._journal = Journal(self._storage.region(JOURNAL_NAME, self._sectors))
        return self._journal

    def load(self):
        """Newest valid snapshot dict, or None when there is none."""
        states = self.states()
        return states[0] if states else None

    def states(self):
        """Every valid snapshot dict, newest first (at most two: the A/B slots)."""
        return [s[0] for s in self.snapshots()]

    def snapshots(self):
        """Every valid snapshot as (state dict, journal position it covers up to), newest first."""
        out = []
        for _, payload in self._state.records():
            try:
                snap = json.loads(payload)
                state, pos = snap["pod"], snap["journal"]
            except Exception:  # CRC passed but not a snapshot: skip to the older record
                continue
            if isinstance(state, dict) and isinstance(pos, list) and len(pos) == 2:
                out.append((state, pos))
        return out

    def used(self):
        """True when this pod has run before: a snapshot file (valid or not) or a journal record."""
        for name in STATE_NAMES:
            try:
                if self._storage.read(name) is not None:
                    return True
            except Exception:  # unreadable: it exists but cannot be trusted
                return True
        return self.journal.head_seq > 0

    def save(self, state):
        """Save a JSON-able dict as the newest snapshot, covering the journal up to now; the
        journal sectors before it may then be erased (storage errors propagate)."""
        if not isinstance(state, dict):
            raise ValueError("Pod state must be a dict to be saved.")
        pos = self.journal.position()
        self._state.write(json.dumps({"journal": pos, "pod": state}).encode())
        self.journal.keep_from = pos[0]

    def keep(self, position):
        """After a restart from the snapshot of `position`: the journal from there on is needed."""
        self.journal.keep_from = position[0]

    def wants_snapshot(self):
        """True when the pod should save a snapshot at its next quiet moment (between delivery
        events, after a message): the journal since the last one spans more than _LIVE_SECTORS
        (a restart replays it: bounded work and heap), or the journal must make room."""
        j = self.journal
        return j.live_sectors() > _LIVE_SECTORS or j.free_sectors() <= _SPARE_SECTORS

    def records(self, position):
        """(kind, payload) journaled from `position` on, one at a time; ValueError (at once) when
        they are gone."""
        return self.journal.iter_records(position)

    def append(self, kind, payload):
        self.journal.append(kind, payload)

    def stroke(self, t, index, delivered_before):
        """Write-ahead, before stroke number `index` is pushed."""
        self.journal.append(REC_STROKE, struct.pack(">QII", t, index, delivered_before))

    def blocked(self, index):
        """Stroke `index` did not move the plunger."""
        self.journal.append(REC_BLOCKED, struct.pack(">I", index))

    def message(self, t, data):
        self.journal.append(REC_MESSAGE, struct.pack(">Q", t) + bytes(data))

    def tick(self, t):
        self.journal.append(REC_TICK, struct.pack(">Q", t))

    def journaled_before(self, position):
        """The write-ahead count of the strokes journaled before `position` (None when none are
        left in the journal): a snapshot at `position` that knows fewer pulses is stale."""
        try:
            recs = self.journal.iter_records([0, 0], position)
        except ValueError:
            return None
        return _count(None, recs)

    def load_delivered(self):
        """The write-ahead delivered count: pulses that may have gone, as far as the store knows
        (the newest snapshot's count, or the last stroke's count plus the stroke unless it was
        blocked); None when nothing was saved."""
        snaps = self.snapshots()
        state, pos = snaps[0] if snaps else (None, [0, 0])
        try:
            recs = self.journal.iter_records(pos)
        except ValueError:
            recs = ()
        return _count(state.get("delivered") if state is not None else None, recs)

    def erase(self):
        """Remove every snapshot and journal record (a new pod starts clean)."""
        self._state.erase()
        self.journal.erase_all()
        for name in _OLD_NAMES:  # files of the previous store layout
            self._storage.remove(name)


def _count(n, records):
    """Pulses that may have gone after `records`, starting from n: the last stroke's count plus
    that stroke, unless it was blocked."""
    for kind, payload in records:
        if kind == REC_STROKE and len(payload) == 16:
            n = struct.unpack(">QII", payload)[2] + 1
        elif kind == REC_BLOCKED and n is not None:
            n -= 1
    return n
