"""The Eros nonce generator (both sides) and the bad-nonce resync word.

The pod and the handset run the same generator seeded from the pod's lot and tid; nonce-bearing
blocks must carry current(), and each message that carries one advances it once. After a wrong
nonce the pod picks a new seed, answers 06 03 14 WWWW and restarts the generator; the handset
recovers the seed from WWWW. All arithmetic is unsigned 32-bit.
"""

from eros.crc import CRC16_TABLE
from eros.errors import ProtocolError

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

_M = const(0xFFFFFFFF)
_LOT_SALT = const(0x55543DC3)
_TID_SALT = const(0xAAAAE44E)


def _check32(value, name):
    if not isinstance(value, int) or value < 0 or value > _M:
        raise ProtocolError("%s must be a 32-bit unsigned integer, not %r" % (name, value))


class NonceState:
    """Generator state: two LCG words and a 16-entry table of nonces, plus the table index."""

    def __init__(self, lot, tid, seed=0):
        _check32(lot, "lot")
        _check32(tid, "tid")
        if not isinstance(seed, int) or seed < 0 or seed > 0xFFFF:
            raise ProtocolError("the nonce seed must be 0..65535, not %r" % (seed,))
        self.lot = lot
        self.tid = tid
        self.seed = seed
        t = [0] * 18
        # the high byte of the seed goes into the second word, as OmniKit does (§3.5 of the notes)
        t[0] = ((lot & 0xFFFF) + (lot >> 16) + _LOT_SALT + (seed & 0xFF)) & _M
        t[1] = ((tid & 0xFFFF) + (tid >> 16) + _TID_SALT + (seed >> 8)) & _M
        self._t = t
        for i in range(16):
            t[2 + i] = self._gen()
        self._idx = (t[0] + t[1]) & 0x0F

    def _gen(self):
        t = self._t
        t[0] = ((t[0] >> 16) + (t[0] & 0xFFFF) * 0x5D7F) & _M
        t[1] = ((t[1] >> 16) + (t[1] & 0xFFFF) * 0x8CA0) & _M
        return (t[1] + ((t[0] & 0xFFFF) << 16)) & _M

    def current(self):
        """The nonce the next nonce-bearing message must carry."""
        return self._t[2 + self._idx]

    def advance(self):
        """Consume current() (once per message) and return it."""
        n = self._t[2 + self._idx]
        self._t[2 + self._idx] = self._gen()
        self._idx = n & 0x0F
        return n

    def to_words(self):
        """The whole state as a list of ints, for persistence: [seed, idx, t0 .. t17]."""
        return [self.seed, self._idx] + self._t

    @classmethod
    def from_words(cls, lot, tid, words):
        """Restore a state saved by to_words() for the same lot and tid."""
        if not isinstance(words, (list, tuple)) or len(words) != 20:
            raise ProtocolError("a saved nonce state is a list of 20 integers")
        for i in range(20):
            _check32(words[i], "saved nonce word %d" % i)
        if words[0] > 0xFFFF or words[1] > 15:
            raise ProtocolError("the saved nonce state is corrupt (seed or index out of range)")
        obj = cls(lot, tid, words[0])
        obj._idx = words[1]
        obj._t = list(words[2:])
        return obj


def _resync_sum(nonce, seq, lot, tid):
    _check32(nonce, "the nonce")
    _check32(lot, "lot")
    _check32(tid, "tid")
    if not isinstance(seq, int) or seq < 0 or seq > 15:
        raise ProtocolError("the message sequence number must be 0..15, not %r" % (seq,))
    return ((nonce & 0xFFFF) + CRC16_TABLE[seq] + (lot & 0xFFFF) + (tid & 0xFFFF)) & 0xFFFF


def resync_word(failed_nonce, seq, lot, tid, new_seed):
    """Pod side: the 16-bit word WWWW of `06 03 14 WWWW` that tells the handset new_seed."""
    if not isinstance(new_seed, int) or new_seed < 0 or new_seed > 0xFFFF:
        raise ProtocolError("the new nonce seed must be 0..65535, not %r" % (new_seed,))
    return _resync_sum(failed_nonce, seq, lot, tid) ^ new_seed


def seed_from_resync(sent_nonce, seq, lot, tid, word):
    """Handset side: the pod's new seed, from the nonce and seq of the rejected message and WWWW."""
    if not isinstance(word, int) or word < 0 or word > 0xFFFF:
        raise ProtocolError("the resync word must be 0..65535, not %r" % (word,))
    return _resync_sum(sent_nonce, seq, lot, tid) ^ word
