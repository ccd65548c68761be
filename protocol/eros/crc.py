"""The Eros message CRC16: an MSB-first 0x8005 table applied with a right-shifting update.

This matches no catalogued CRC-16; the same table also feeds the nonce-resync formula.
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

_POLY = const(0x8005)


def _make_table():
    table = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ _POLY) if (c & 0x8000) else (c << 1)
        table.append(c & 0xFFFF)
    # a tuple is immutable: nobody can corrupt the table at run time
    return tuple(table)


CRC16_TABLE = _make_table()


def crc16(data, start=0, end=None):
    """CRC16 of data[start:end] (no copy): init 0, no final XOR."""
    if end is None:
        end = len(data)
    table = CRC16_TABLE
    acc = 0
    for i in range(start, end):
        acc = (acc >> 8) ^ table[(acc ^ data[i]) & 0xFF]
    return acc
