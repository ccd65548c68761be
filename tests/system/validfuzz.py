"""Structurally valid mutated messages for the pod, and the state oracle that judges each reply.

A message is built from a real command (bolus, temp basal, basal program, cancel, alerts, beep
config, acknowledge, status requests, fault config, deactivation, several at once), then its
contents are mutated (a byte of a block's body changed, a length byte changed, blocks dropped,
doubled or swapped), and finally made structurally valid again: every nonce-bearing block gets the
pod's current nonce, the address is the pod's and the CRC is right. So the pod's checks of the
contents — not the CRC, the address or the nonce — decide.

The oracle (`judge`) holds the pure pod logic (the same code as the firmware, under CPython) to
what a correct pod does: a refused message (06) changes nothing but the kept reply (and, for
06 0x14, the nonce resync); an accepted one changes exactly what its commands say.
"""
from __future__ import annotations

import random

from eros import schedule
from eros.blocks import encode_block
from eros.crc import crc16

NONCE_TYPES = (0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1F)


def _alert(rng: random.Random) -> dict:
    return {"slot": rng.randrange(8), "active": rng.randrange(2), "units_trigger": rng.randrange(2),
            "auto_off": rng.randrange(2), "duration_minutes": rng.randrange(512),
            "trigger": rng.randrange(1 << 14), "beep_repeat": rng.randrange(9), "beep_type": rng.randrange(16)}


def _command(rng: random.Random) -> list[bytes]:
    """One real command as encoded blocks."""
    k = rng.randrange(100)
    if k < 22:
        blocks = schedule.bolus_blocks(rng.randrange(1, 120), 0)
    elif k < 40:
        blocks = schedule.temp_basal_blocks(rng.randrange(0, 60), rng.randrange(1, 25), 0)
    elif k < 46:
        rates = [rng.randrange(1, 40)] * 48
        blocks = schedule.basal_schedule_blocks(rates, rng.randrange(86_400_000), 0)
    elif k < 60:
        blocks = [{"type": 0x1F, "nonce": 0, "beep_type": rng.randrange(10), "cancel": rng.randrange(1, 8)}]
    elif k < 68:
        blocks = [{"type": 0x19, "nonce": 0, "alerts": [_alert(rng) for _ in range(rng.randrange(1, 3))]}]
    elif k < 74:
        blocks = [{"type": 0x11, "nonce": 0, "mask": rng.randrange(256)}]
    elif k < 80:
        blocks = [{"type": 0x1E, "beep_type": rng.randrange(16), "basal_beep": rng.randrange(128),
                   "temp_basal_beep": rng.randrange(128), "bolus_beep": rng.randrange(128)}]
    elif k < 94:
        blocks = [{"type": 0x0E, "request": rng.choice((0, 1, 2, 3, 5, 6, 0x46, 0x50, 0x51, 7))}]
    elif k < 99 or rng.random() < 0.8:
        blocks = [{"type": 0x08, "nonce": 0, "tab5_16": rng.randrange(256), "tab5_17": rng.randrange(256)}]
    else:  # 0.2 %: a deactivation ends the pod (the run then starts a new one)
        blocks = [{"type": 0x1C, "nonce": 0}]
    return [encode_block(b) if isinstance(b, dict) else bytes(b) for b in blocks]


def _mutate(rng: random.Random, blocks: list[bytes]) -> list[bytes]:
    blocks = [bytearray(b) for b in blocks]
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        op = rng.randrange(10)
        i = rng.randrange(len(blocks))
        b = blocks[i]
        if op < 5 and len(b) > 2:                       # a content byte
            j = rng.randrange(2, len(b))
            b[j] = rng.randrange(256) if rng.random() < 0.5 else b[j] ^ (1 << rng.randrange(8))
        elif op == 5:                                   # the length byte
            b[1] = (b[1] + rng.choice((-2, -1, 1, 2, 7))) & 0xFF
        elif op == 6 and len(blocks) > 1:               # a block dropped
            del blocks[i]
        elif op == 7:                                   # a block doubled
            blocks.insert(i, bytearray(b))
        elif op == 8 and len(blocks) > 1:               # two blocks swapped
            j = rng.randrange(len(blocks))
            blocks[i], blocks[j] = blocks[j], blocks[i]
        else:                                           # the block type
            b[0] = rng.choice((0x03, 0x07, 0x08, 0x0E, 0x11, 0x13, 0x16, 0x17, 0x19, 0x1A, 0x1C,
                               0x1D, 0x1E, 0x1F, 0x02, 0x06, rng.randrange(256)))
    return [bytes(b) for b in blocks]


def _set_nonces(body: bytearray, nonce: int) -> None:
    """Every nonce-bearing block that the length bytes reach gets `nonce` (the pod's current)."""
    i = 0
    while i + 1 < len(body):
        t, n = body[i], body[i + 1]
        if t in NONCE_TYPES and n >= 4 and i + 6 <= len(body):
            body[i + 2:i + 6] = nonce.to_bytes(4, "big")
        i += 2 + n


def message(rng: random.Random, address: int, seq: int, nonce: int) -> bytes:
    """One structurally valid mutated message: right address, CRC and nonce; contents mutated."""
    blocks = _command(rng)
    if rng.random() < 0.2:
        blocks += _command(rng)
    body = bytearray(b"".join(_mutate(rng, blocks)))[:1023]
    if rng.random() < 0.7:
        _set_nonces(body, nonce)
    out = bytearray(address.to_bytes(4, "big") + bytes(((seq & 15) << 2 | len(body) >> 8, len(body) & 0xFF)))
    out += body
    c = crc16(bytes(out), 0, len(out))
    return bytes(out + bytes((c >> 8, c & 0xFF)))


def _without(state: dict, *keys: str) -> dict:
    return {k: v for k, v in state.items() if k not in keys}


def judge(before: dict, after: dict, reply: dict, sent: bytes) -> str | None:
    """What is wrong with the pod's handling of `sent` (None when nothing is): `before`/`after`
    are Pod.to_state() around it, `reply` the parsed first reply block."""
    t = reply["type"]
    if t == 0x06:
        if reply["code"] == 0x14:                      # bad nonce: only the resync changes
            if _without(after, "last", "nonce", "bad_nonces") != _without(before, "last", "nonce", "bad_nonces"):
                return "a bad-nonce refusal changed more than the nonce"
            if after["bad_nonces"] != before["bad_nonces"] + 1:
                return "a bad nonce was not counted once"
            return None
        if _without(after, "last") != _without(before, "last"):
            changed = sorted(k for k in after if after.get(k) != before.get(k) and k != "last")
            return f"a refused message (06 0x{reply['code']:02x}) changed {changed}"
        return None
    if t not in (0x1D, 0x02, 0x01):
        return f"reply block type 0x{t:02x}"
    if after["delivered"] != before["delivered"]:
        return "a message delivered insulin by itself"
    if after["fill"] != before["fill"] or after["address"] != before["address"] or after["lot"] != before["lot"]:
        return "a message changed the pod's identity or fill"
    body_types = _types(sent)
    had_nonce = any(x in NONCE_TYPES for x in body_types)
    if had_nonce and after["nonce"] == before["nonce"]:
        return "an accepted message with a nonce did not advance the nonce"
    if not had_nonce and after["nonce"] != before["nonce"]:
        return "an accepted message without a nonce moved the nonce"
    d0, d1 = before["delivery"], after["delivery"]
    if 0x1A in body_types and 0x1F not in body_types and 0x1C not in body_types:
        if not any(d1[k] != d0[k] for k in ("basal", "temp", "bolus")):
            return "an accepted 1A started no program"
    if 0x1C in body_types and after["progress"] != 15:
        return "an accepted 1C did not deactivate the pod"
    if 0x1A not in body_types and 0x1F not in body_types and 0x1C not in body_types:
        if any(d1[k] != d0[k] for k in ("basal", "temp", "bolus")) and not after["fault"][0]:
            return "programs changed without a program command"
    if 0x1A not in body_types and 0x1F not in body_types and 0x1C not in body_types and 0x03 not in body_types:
        if after["progress"] != before["progress"] and not after["fault"][0]:
            return "progress changed without a command that changes it"
    return None


def _types(message: bytes) -> list[int]:
    body = message[6:-2]
    out = []
    i = 0
    while i + 1 < len(body):
        out.append(body[i])
        i += 2 + body[i + 1]
    return out
