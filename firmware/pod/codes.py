"""Codes and limits the pod's modules share: 06 error codes, fault codes, activation pulses.

Public names (not _underscored): MicroPython's const() inlines them only inside a module, so
importers read them as ordinary globals.
"""
try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

PAIRING_ADDRESS = const(0xFFFFFFFF)
RESERVOIR_LOW = const(1000)          # 50 U: progress 8 -> 9
PRIME_PULSES = const(52)
CANNULA_PULSES = const(10)

# 06 error codes
E_ILLEGAL = const(0x07)
E_CHECKSUM = const(0x0A)
E_STATE = const(0x0C)
E_NONCE = const(0x14)

# faults
F_OCCLUDED = const(0x14)
F_EMPTY = const(0x18)
F_EXPIRED = const(0x1C)
F_AUTO_OFF = const(0x29)
F_PIEZO = const(0x37)
F_STATE_LOST = const(0x3D)   # emulator's choice: no saved state can be trusted after a restart
