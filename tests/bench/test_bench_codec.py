"""Benchmark 4: codec throughput, parse + build of the 4,644 captured messages (skips without
../shared): the eros struct codec and the construct spec under CPython, eros under MicroPython.
Every round must also round-trip every message byte for byte."""
from __future__ import annotations

import binascii
import json
import subprocess
import time
from pathlib import Path

import pytest

from benchlib import ROOT, median, micropython_version, record
from testenv import SHARED_OMNIPOD

ROUNDS = 5
SCRIPT = Path(__file__).with_name("codec_speed.py")


def _messages(captures: list[dict]) -> list[bytes]:
    return [binascii.unhexlify(c["hex"]) for c in captures]




def _report(name: str, impl: str, n: int, secs: list[float], same: int, **extra: object) -> None:
    assert same == n, f"{impl}: only {same} of {n} captures round-trip"
    rates = [n / s for s in secs]
    record(name, f"{impl}: median {median(rates):,.0f} messages/s parse+build "
                 f"({n} messages x {len(secs)} rounds, median round {median(secs) * 1000:.1f} ms, "
                 f"best {max(rates):,.0f}/s)",
           implementation=impl, messages=n, rounds=len(secs), round_s=secs, median_msgs_per_s=median(rates),
           **extra)


@pytest.mark.bench
def test_eros_cpython(captures):
    from eros.message import build_message, parse_message
    msgs = _messages(captures)
    secs = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        same = sum(1 for d in msgs
                   if (lambda m: build_message(m["address"], m["seq"], m["blocks"], m["followup"]))(parse_message(d)) == d)
        secs.append(time.perf_counter() - t)
    _report("codec/eros-cpython", "eros (struct) under CPython", len(msgs), secs, same)


@pytest.mark.bench
def test_construct_cpython(captures):
    from handset.spec import build_message, parse_message
    msgs = _messages(captures)
    secs = []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        same = sum(1 for d in msgs if build_message(parse_message(d)) == d)
        secs.append(time.perf_counter() - t)
    _report("codec/construct-cpython", "handset.spec (construct) under CPython", len(msgs), secs, same)


@pytest.mark.bench
@pytest.mark.parametrize("build", ["source", "mpy"])
def test_eros_micropython(micropython, captures, build):
    path = str(ROOT / "protocol") if build == "source" else str(ROOT / "build" / "mpy")
    if build == "mpy" and not (ROOT / "build" / "mpy" / "eros" / "message.mpy").exists():
        pytest.fail("build/mpy holds no compiled codec: run `make mpy` (or `make bench`) first")
    # a roomy heap: this measures speed, and the script holds all 4,644 messages at once
    r = subprocess.run([micropython, "-X", "heapsize=16m", str(SCRIPT), str(SHARED_OMNIPOD / "captures.jsonl"), str(ROUNDS)],
                       capture_output=True, text=True, env={"MICROPYPATH": path + ":.frozen"}, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr   # the unix port prints tracebacks on stdout
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["messages"] == len(captures)
    secs = [us / 1e6 for us in out["us"]]
    _report(f"codec/eros-micropython-{build}", f"eros under MicroPython ({build})", out["messages"], secs,
            out["round_tripped"], micropython=micropython_version(micropython))
