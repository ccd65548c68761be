"""Every checkable test vector of ../shared/omnipod/vectors.json through the construct schema.

The expectations (field names of SPEC.md §3) come from vector_expect.py, shared with the struct
codec's tests; a vector passes when the decode matches what its source test asserted and the
bytes rebuild exactly.
"""
from __future__ import annotations

from typing import Any, Callable

from handset import spec
from vector_expect import expectations, mismatches


def _check(kind: str, data: bytes, expected: dict[str, Any]) -> list[str]:
    """Problems with one vector (empty when it passes)."""
    try:
        if kind == "crc16":
            # the CRC input plus its expected CRC must be a message the schema accepts
            msg = spec.parse_message(data + expected["crc16"].to_bytes(2, "big"))
            rebuilt = spec.build_message(msg)
            return [] if rebuilt == data + expected["crc16"].to_bytes(2, "big") else ["rebuilt CRC differs"]
        if kind == "message":
            decoded: dict[str, Any] = spec.parse_message(data)
            rebuilt = spec.build_message(decoded)
        else:
            decoded = {"blocks": spec.parse_blocks(data, offset=0)}
            rebuilt = spec.build_blocks(decoded["blocks"])
    except spec.SpecError as err:
        return [f"does not decode: {err}"]
    problems = mismatches(decoded, expected)
    if rebuilt != data:
        problems.append(f"rebuilds as {rebuilt.hex()}")
    return problems


def test_every_checkable_vector(vectors: list[dict], record: Callable[[str, str, int, int], None]) -> None:
    checked = 0
    failures = []
    for vector in vectors:
        kind, hex_text, expected = expectations(vector)
        if kind == "skip":
            continue
        assert hex_text is not None and expected is not None
        checked += 1
        problems = _check(kind, bytes.fromhex(hex_text), expected)
        if problems:
            failures.append(f"{vector['test_name']} {vector['hex']}: " + "; ".join(problems))
    record("construct", "vectors", checked - len(failures), checked)
    assert checked >= 120, f"only {checked} vectors were checkable; vector_expect.py should give about 129"
    assert not failures, "\n".join(failures)
