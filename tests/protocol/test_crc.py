"""CRC16 of the Eros message layer: table shape and the published vectors."""
from eros.crc import CRC16_TABLE, crc16


def test_table_is_the_msb_first_0x8005_table():
    assert len(CRC16_TABLE) == 256
    assert CRC16_TABLE[0] == 0 and CRC16_TABLE[1] == 0x8005 and CRC16_TABLE[255] == 0x0202


def test_table_entries_used_by_nonce_resync():
    assert list(CRC16_TABLE[:16]) == [0x0000, 0x8005, 0x800F, 0x000A, 0x801B, 0x001E, 0x0014, 0x8011,
                                      0x8033, 0x0036, 0x003C, 0x8039, 0x0028, 0x802D, 0x8027, 0x0022]


def test_published_vectors():
    assert crc16(bytes.fromhex("1f01482a10030e0100")) == 0x802C
    assert crc16(bytes.fromhex("1f00ee8628030e0100")) == 0x00D8


def test_range_without_copy():
    data = bytes.fromhex("aa1f01482a10030e0100bb")
    assert crc16(data, 1, 10) == 0x802C
    assert crc16(memoryview(data), 1, 10) == 0x802C


def test_empty_is_zero_and_sensitive_to_every_byte():
    assert crc16(b"") == 0
    base = bytes.fromhex("1f01482a10030e0100")
    for i in range(len(base)):
        changed = bytearray(base)
        changed[i] ^= 0x01
        assert crc16(changed) != 0x802C
