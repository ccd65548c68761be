"""Persistent pod state over hal.storage: CRC-protected records in A/B slots.

Three independent record pairs:
* the full state (a JSON dict) in "state.a" / "state.b";
* the write-ahead delivered-pulse counter in "dlv.a" / "dlv.b", written BEFORE each pulse is
  pushed, so a power cut can over-count by one pulse but never forget one that was delivered
  (the pod never re-delivers insulin it cannot account for);
* the pulse log (pod/pulselog.py) in "plog.a" / "plog.b": big-endian u32 words, kept apart so
  that the frequent state records stay small (a 192 KB heap).
Each save writes the slot NOT holding the newest valid record, so a torn or corrupt write never
destroys the last good one; load returns the valid record with the highest sequence number and
never raises on garbage (missing, empty, truncated, bit-flipped, foreign data).

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

_MAGIC = b"EP"
_VERSION = const(1)
_KIND_STATE = const(1)
_KIND_DELIVERED = const(2)
_KIND_LOG = const(3)
_HEADER = ">2sBBIII"
_HEADER_LEN = const(16)
_CRC_SPAN = const(12)       # header bytes covered by the CRC (all but the CRC itself)
_SEQ_MAX = const(0xFFFFFFFF)
STATE_NAMES = ("state.a", "state.b")
DELIVERED_NAMES = ("dlv.a", "dlv.b")
LOG_NAMES = ("plog.a", "plog.b")


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
    """Pod state and write-ahead delivered counter over a hal.storage object."""

    def __init__(self, storage):
        self._storage = storage
        self._state = _Pair(storage, STATE_NAMES, _KIND_STATE)
        self._delivered = _Pair(storage, DELIVERED_NAMES, _KIND_DELIVERED)
        self._log = _Pair(storage, LOG_NAMES, _KIND_LOG)

    def load(self):
        """Newest valid saved state dict, or None when there is none."""
        states = self.states()
        return states[0] if states else None

    def states(self):
        """Every valid saved state dict, newest first (at most two: the A/B slots)."""
        out = []
        for _, payload in self._state.records():
            try:
                state = json.loads(payload)
            except Exception:  # CRC passed but not JSON: skip to the older record
                continue
            if isinstance(state, dict):
                out.append(state)
        return out

    def used(self):
        """True when any record file exists, valid or not (this pod has run before)."""
        for name in STATE_NAMES + DELIVERED_NAMES:
            try:
                if self._storage.read(name) is not None:
                    return True
            except Exception:  # unreadable: it exists but cannot be trusted
                return True
        return False

    def save(self, state):
        """Save a JSON-able dict as the newest record (storage errors propagate)."""
        if not isinstance(state, dict):
            raise ValueError("Pod state must be a dict to be saved.")
        self._state.write(json.dumps(state).encode())

    def load_delivered(self):
        """Newest valid delivered-pulse total, or None."""
        for _, payload in self._delivered.records():
            if len(payload) == 4:
                return struct.unpack(">I", payload)[0]
        return None

    def save_delivered(self, total_pulses):
        """Write-ahead: record total_pulses (including the pulse about to be pushed)."""
        if not isinstance(total_pulses, int) or not 0 <= total_pulses <= _SEQ_MAX:
            raise ValueError("Delivered total %r must be 0..2^32-1 pulses." % (total_pulses,))
        self._delivered.write(struct.pack(">I", total_pulses))

    def load_words(self):
        """Newest valid pulse-log record as a list of u32 words, or None."""
        for _, payload in self._log.records():
            if len(payload) % 4 == 0:
                return list(struct.unpack(">%dI" % (len(payload) // 4), payload))
        return None

    def save_words(self, words):
        """Save a list of u32 words (the pulse log's state) as the newest record."""
        for w in words:
            if not isinstance(w, int) or not 0 <= w <= _SEQ_MAX:
                raise ValueError("Pulse-log word %r must be 0..2^32-1." % (w,))
        self._log.write(struct.pack(">%dI" % len(words), *words))

    def erase(self):
        """Remove every record (a deactivated pod starts clean)."""
        self._state.erase()
        self._delivered.erase()
        self._log.erase()
