"""Runs tests/mp/plan_check.py under the real unix-port MicroPython (and CPython for parity)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from testenv import PROTOCOL, micropython_env

SCRIPT = Path(__file__).with_name("plan_check.py")


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv + [str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60,
                          cwd=str(PROTOCOL.parent))


def _checks(result: subprocess.CompletedProcess[str]) -> int:
    assert result.returncode == 0, f"plan checks failed:\n{result.stdout}\n{result.stderr}"
    found = re.search(r"^OK (\d+) checks$", result.stdout, re.M)
    assert found, f"no summary line in:\n{result.stdout}"
    return int(found.group(1))


def test_plans_under_micropython(micropython: str) -> None:
    assert _checks(_run([micropython], micropython_env())) >= 18


def test_the_same_checks_pass_under_cpython(micropython: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(PROTOCOL))
    assert _checks(_run([sys.executable], env)) == _checks(_run([micropython], micropython_env()))
