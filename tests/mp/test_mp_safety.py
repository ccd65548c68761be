"""Runs tests/mp/safety_check.py under the real unix-port MicroPython (and CPython for parity)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from testenv import FIRMWARE, micropython_env

SCRIPT = Path(__file__).with_name("safety_check.py")


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv + [str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60,
                          cwd=str(FIRMWARE.parent))


def _checks(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, f"safety checks failed:\n{result.stdout}\n{result.stderr}"
    found = re.search(r"^OK (\d+) checks$", result.stdout, re.M)
    assert found, f"no summary line in:\n{result.stdout}"
    return int(found.group(1))


def test_safety_modules_under_micropython(micropython: str) -> None:
    result = _run([micropython], micropython_env())
    count = _checks(result)
    assert count > 400
    cost = re.search(r"memory storage: (\d+) ns per call", result.stdout)
    assert cost and int(cost.group(1)) < 200_000, "the write-ahead counter must stay cheap enough for every pulse"
    print(result.stdout)


def test_the_same_checks_pass_under_cpython(micropython: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(FIRMWARE))
    cpython = _checks(_run([sys.executable], env))
    assert cpython == _checks(_run([micropython], micropython_env()))
