"""Eros message codec: the wire format shared by the pod firmware (MicroPython) and the host (CPython).

Submodules: constants, errors, crc, message, blocks, nonce (codec); insulin, plan (schedules);
link (framing). Import the submodule you need; this package file stays empty so that importing
one part on a Pico does not pull in the others.
"""
