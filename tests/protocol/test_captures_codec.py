"""The 4,644 real captured messages: each parses (CRC, length, every block) and rebuilds byte for byte."""
import importlib.util

from eros.errors import ProtocolError
from eros.message import build_message, parse_message

HAVE_INSULIN = importlib.util.find_spec("eros.insulin") is not None


def test_every_capture_round_trips(captures, record):
    passed, waiting, failures = 0, 0, []
    for c in captures:
        data = bytes.fromhex(c["hex"])
        try:
            m = parse_message(data)
        except ImportError:
            if HAVE_INSULIN:
                raise
            waiting += 1
            continue
        except ProtocolError as e:
            failures.append(f"{c['source_path']}:{c['line']} {c['hex']}: {e}")
            continue
        rebuilt = build_message(m["address"], m["seq"], m["blocks"], m["followup"])
        if rebuilt == data:
            passed += 1
        else:
            failures.append(f"{c['source_path']}:{c['line']} {c['hex']}: rebuilt as {rebuilt.hex()}")
    total = len(captures) - waiting
    record("eros", "captures parse and round-trip", passed, total)
    if waiting:
        record("eros", "captures waiting for eros.insulin (1A/13/16/17 blocks)", 0, waiting)
    assert not failures, "\n".join(failures[:20])
    assert len(captures) == 4644


def test_captures_directions_match_block_kinds(captures):
    # pod answers only carry responses (01, 02, 06, 1D); the handset only commands
    responses = {0x01, 0x02, 0x06, 0x1D}
    for c in captures:
        body = bytes.fromhex(c["hex"])[6:-2]
        assert (body[0] in responses) == (c["direction"] == "POD"), c
