"""Run by the real MicroPython binary: the eros codec round-trips the reference corpus.

usage: micropython codec_captures.py SHARED_OMNIPOD_DIR   (MICROPYPATH must include protocol/)

Reads captures.jsonl (every message: parse_message then build_message, byte for byte) and
vectors.json (whole messages, the whole message inside RF packets, single command/response blocks),
and checks the nonce vectors. Prints one `COUNT name passed total` line per check and exits 1 on
any failure, 0 otherwise; prints `SKIP ...` and exits 0 when the reference data is absent.
"""
import binascii
import json
import sys

from eros.blocks import decode_blocks, encode_blocks
from eros.errors import ProtocolError
from eros.message import build_message, parse_message
from eros.nonce import NonceState, seed_from_resync

failures = []


def _exists(path):
    try:
        open(path).close()
        return True
    except OSError:
        return False


def _round_trip(data):
    m = parse_message(data)
    return build_message(m["address"], m["seq"], m["blocks"], m["followup"]) == data


def captures(path):
    passed = total = 0
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            total += 1
            text = json.loads(line)["hex"]
            try:
                ok = _round_trip(binascii.unhexlify(text))
            except ProtocolError as e:
                ok = False
                text = text + " " + str(e)
            if ok:
                passed += 1
            else:
                failures.append("capture " + text)
    print("COUNT captures", passed, total)


def _first_block(data):
    """The bytes of the first block (1D has no length byte), or None when they are not all there."""
    size = 10 if data[0] == 0x1D else 2 + data[1]
    return data[:size] if size <= len(data) else None


def _has_02_prefix(data):
    # some 0x02 vectors are the subtype payload alone (the source test skipped `02 LL`)
    return data[0] == 0x02 and data[1] + 2 in (len(data), len(data) - 2)


def vectors(path):
    with open(path) as f:
        items = json.load(f)
    passed = total = 0
    for v in items:
        kind = v["kind"]
        check = v.get("independent_check") or {}
        data = binascii.unhexlify(v["hex"])
        if kind == "full message":
            pass
        elif kind == "packet" and check.get("embedded_message"):
            data = binascii.unhexlify(check["embedded_message"])
            kind = "full message"
        elif kind in ("command", "response") and (v["block_type"] != "0x02" or _has_02_prefix(data)):
            data = _first_block(data)
            if data is None:
                continue
        else:
            continue  # RF fragments, CRC inputs, lone alert configs, subtype-only 02 payloads
        total += 1
        try:
            if kind == "full message":
                ok = _round_trip(data)
            else:
                ok = encode_blocks(decode_blocks(data)) == data
        except ProtocolError as e:
            ok = False
            print("vector", v["hex"], e)
        if ok:
            passed += 1
        else:
            failures.append("vector " + v["hex"])
    print("COUNT vectors", passed, total)


def nonces():
    checks = []
    s = NonceState(42560, 661771)
    checks.append([s.advance() for _ in range(4)] == [0x8C61EE59, 0xC0256620, 0x15022C8A, 0xACF076CA])
    s = NonceState(0xA518, 0x5304E)
    checks.append([s.advance() for _ in range(5)] == [0xC9FBBD58, 0xDDE7B946, 0x074455D5, 0x08E7FBE2, 0x513E326E])
    for lot, tid, failed, seq, word, new in ((42539, 140445, 0x2E07C7C7, 9, 0x92C4, 0x40CCDACB),
                                             (42125, 170175, 0x851072AA, 1, 0x2FFA, 0xF1488FC3),
                                             (0xA742, 0x7F050, 0x8ECD89D7, 13, 0xA197, 0xDA1289D7),
                                             (43620, 560313, 2232447658, 5, 0xA9E4, 1521036535)):
        checks.append(NonceState(lot, tid, seed_from_resync(failed, seq, lot, tid, word)).current() == new)
    passed = sum(1 for c in checks if c)
    if passed != len(checks):
        failures.append("nonce vectors")
    print("COUNT nonces", passed, len(checks))


def main():
    if len(sys.argv) < 2:
        print("usage: micropython codec_captures.py SHARED_OMNIPOD_DIR")
        sys.exit(2)
    base = sys.argv[1].rstrip("/") + "/"
    nonces()
    if not _exists(base + "captures.jsonl") or not _exists(base + "vectors.json"):
        print("SKIP reference data absent in", base)
        return
    captures(base + "captures.jsonl")
    vectors(base + "vectors.json")
    for f in failures[:20]:
        print("FAIL", f)
    if failures:
        sys.exit(1)


main()
