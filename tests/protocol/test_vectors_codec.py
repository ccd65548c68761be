"""Every vectors.json entry with something whole to decode: the eros codec gives the asserted field
values (translated by vector_expect) and re-encodes byte for byte. Counts go to the end-of-run summary."""
import importlib.util

import pytest

from eros.blocks import decode_blocks, encode_blocks
from eros.crc import crc16
from eros.message import build_message, parse_message
from vector_expect import count_fields, expectations, mismatches, reason

HAVE_INSULIN = importlib.util.find_spec("eros.insulin") is not None
INSULIN_TYPES = ("0x1a", "0x13", "0x16", "0x17")


def _check(vector):
    """None when the vector checks out, else a description of what failed."""
    kind, hex_text, expected = expectations(vector)
    data = bytes.fromhex(hex_text)
    if kind == "crc16":
        actual = {"crc16": crc16(data)}
        rebuilt = data
    elif kind == "message":
        actual = parse_message(data)
        rebuilt = build_message(actual["address"], actual["seq"], actual["blocks"], actual["followup"])
    else:
        actual = {"blocks": decode_blocks(data)}
        rebuilt = encode_blocks(actual["blocks"])
    problems = mismatches(actual, expected)
    if rebuilt != data:
        problems.append(f"re-encoded as {rebuilt.hex()}")
    return "; ".join(problems) or None


def test_every_checkable_vector(vectors, record):
    checked = passed = fields = 0
    failures, skipped, waiting = [], {}, 0
    for v in vectors:
        why = reason(v)
        if why is not None:
            skipped[why] = skipped.get(why, 0) + 1
            continue
        if not HAVE_INSULIN and v["block_type"] in INSULIN_TYPES:
            waiting += 1
            continue
        checked += 1
        problem = _check(v)
        if problem is None:
            passed += 1
            fields += count_fields(expectations(v)[2])
        else:
            failures.append(f"{v['test_name']} {v['hex']}: {problem}")
    record("eros", f"vectors decoded with the asserted fields ({fields} field values) and re-encoded", passed,
           checked)
    if skipped:
        detail = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
        record("eros", f"vectors set aside as not checkable ({detail})", sum(skipped.values()), len(vectors))
    if waiting:
        record("eros", "vectors waiting for eros.insulin (1A/13/16/17)", 0, waiting)
    assert not failures, "\n".join(failures)
    assert checked + sum(skipped.values()) + waiting == len(vectors) == 136
    assert sum(skipped.values()) == 7  # 5 RF fragments, the CRC8 input, the ACK packet


@pytest.mark.skipif(not HAVE_INSULIN, reason="eros.insulin (schedules engineer) is not there yet")
def test_insulin_vectors_present(vectors):
    # guards against the counting above silently dropping the schedule blocks
    assert sum(1 for v in vectors if v["block_type"] in INSULIN_TYPES and reason(v) is None) == 68


def test_translation_asserts_something_for_most_vectors(vectors):
    # a translation that silently asserted nothing would make the check above empty
    asserted = sum(1 for v in vectors if reason(v) is None and count_fields(expectations(v)[2]) > 0)
    assert asserted >= 90  # 94 today; the others' tests assert only that they parse
