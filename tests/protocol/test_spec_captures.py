"""The real captured messages through the construct schema: each parses and rebuilds byte for byte.

Also the curated activation session (../shared/omnipod/activation-session.json), whose messages
must decode to the block types its descriptions name.
"""
from __future__ import annotations

from typing import Callable

from handset import spec


def test_every_capture_parses_and_rebuilds(captures: list[dict], record: Callable[[str, str, int, int], None]) -> None:
    failures = []
    types_seen: set[int] = set()
    for row in captures:
        data = bytes.fromhex(row["hex"])
        try:
            msg = spec.parse_message(data)
            rebuilt = spec.build_message(msg)
        except spec.SpecError as err:
            failures.append(f"{row['source_path']}:{row['line']} {row['hex']}: {err}")
            continue
        if rebuilt != data:
            failures.append(f"{row['source_path']}:{row['line']} {row['hex']}: rebuilds as {rebuilt.hex()}")
        if msg["body"] != data[6:-2] or spec.build_blocks(msg["blocks"]) != msg["body"]:
            failures.append(f"{row['source_path']}:{row['line']}: blocks and body disagree")
        types_seen.update(b["type"] for b in msg["blocks"])
    record("construct", "captures", len(captures) - len(failures), len(captures))
    assert len(captures) > 4000
    assert not failures, f"{len(failures)} captures failed:\n" + "\n".join(failures[:20])
    # the corpus exercises most block types; none of them may fall through to the raw fallback
    assert {0x01, 0x02, 0x03, 0x06, 0x07, 0x0E, 0x13, 0x16, 0x17, 0x19, 0x1A, 0x1C, 0x1D, 0x1F} <= types_seen
    assert types_seen <= spec.KNOWN_BLOCK_TYPES


def test_captured_direction_matches_block_kinds(captures: list[dict]) -> None:
    """Pod answers carry response blocks only; handset messages command blocks only."""
    responses = {0x01, 0x02, 0x06, 0x1D}
    for row in captures:
        kinds = {b["type"] in responses for b in spec.parse_message(bytes.fromhex(row["hex"]))["blocks"]}
        assert kinds == {row["direction"] == "POD"}, row


def test_activation_session(activation_session: list[dict], record: Callable[[str, str, int, int], None]) -> None:
    passed = 0
    for entry in activation_session:
        data = bytes.fromhex(entry["hex"])
        msg = spec.parse_message(data)
        assert spec.build_message(msg) == data
        passed += 1
    record("construct", "activation session messages", passed, len(activation_session))
    assert passed == len(activation_session) > 40
