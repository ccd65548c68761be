"""Runs tests/mp/plan_check.py under the real unix-port MicroPython (and CPython for parity)."""
from __future__ import annotations

from pathlib import Path

from testenv import run_check_script

SCRIPT = Path(__file__).with_name("plan_check.py")


def test_plans_under_micropython(micropython: str) -> None:
    assert run_check_script(SCRIPT, "micropython") >= 18


def test_the_same_checks_pass_under_cpython(micropython: str) -> None:
    assert run_check_script(SCRIPT, "cpython") == run_check_script(SCRIPT, "micropython")
