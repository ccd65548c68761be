"""Runs tests/mp/safety_check.py under the real unix-port MicroPython (and CPython for parity).

The script also prints the cost of the write-ahead counter write (`make test -s` shows it); cost is
measured there, never asserted.
"""
from __future__ import annotations

from pathlib import Path

from testenv import run_check_script

SCRIPT = Path(__file__).with_name("safety_check.py")


def test_safety_modules_under_micropython(micropython: str) -> None:
    assert run_check_script(SCRIPT, "micropython") > 400


def test_the_same_checks_pass_under_cpython(micropython: str) -> None:
    assert run_check_script(SCRIPT, "cpython") == run_check_script(SCRIPT, "micropython")
