"""Benchmarks on the emulated Pico (tests/pico/emulator.py): the official MicroPython rp2 build
running the .mpy firmware on rp2040js, its flash written through the boot ROM's functions.

- boot: power-up to the first bench reply, in wall time and in emulated time; heap after start.
- pulse cost: emulated CPU time, flash sector erases and page programs per delivered pulse (a 2 U
  bolus on the virtual clock, less the same advance without it).
- three days: the 3-day scenario of scenario.py (exact pulse checks every 6 h, the 80 h fault)
  with the free heap and the largest free block at start, after activation, after a day, and the
  least seen at any check; the sector erases of the whole 80-hour pod life.
- pulse lateness: the real clock, a bolus every pulse of which is timed by the rig (emulated time)
  while the host sends a status request every emulated second; lateness of pulse k is its time
  less (first pulse + k * 2 s).

Figures are recorded, never asserted; what is asserted is that each run was correct.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchlib import record
from pico.board import Board, BoardLink
from pico.emulator import EmulatedPico, build_flash
from pico.fixtures import emulated, flash  # noqa: F401 (fixtures)
from scenario import Run, three_days
from system.pdm_driver import Pdm, activate

pytestmark = pytest.mark.bench

LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
S = 1000
HOUR = 3600 * S
LOW_BASAL = [1] * 48


@pytest.fixture(scope="module")
def heap_flash(tmp_path_factory: pytest.TempPathFactory, flash: Path) -> Path:
    """The same board with --heap-report: the pod logs its heap after every message and reports its
    largest free block (a search that costs ~0.5 s of CPU, so the timing benches run without it)."""
    path = tmp_path_factory.mktemp("pico-bench-heap") / "flash.bin"
    build_flash(path, "--clock virtual --heap-report")
    return path


def fresh_link(emulated: EmulatedPico, **fresh: object) -> BoardLink:
    link = Board(emulated.url, emulated).connect()
    link.bench_ok({"op": "fresh", "clock": "virtual", **fresh})
    return link


def heap(link: BoardLink) -> dict:
    return link.bench_ok({"op": "info"})["heap"]


def test_pico_boot(heap_flash: Path, tmp_path: Path) -> None:
    own = tmp_path / "flash.bin"
    own.write_bytes(heap_flash.read_bytes())
    wall = time.monotonic()
    board = EmulatedPico(own)
    try:
        link = Board(board.url, board).connect()
        wall = time.monotonic() - wall
        counters = board.counters()
        emulated_s, cpu_s = counters["emulated_ns"] / 1e9, counters["busy_ns"] / 1e9
        h = heap(link)
        link.close()
    finally:
        board.kill()
    record("pico boot", f"power-up to the first bench reply: {emulated_s:.1f} s emulated ({wall:.1f} s wall, "
           f"1 s of it main.py's REPL window, {cpu_s:.2f} s of it CPU); heap free {h['free']} B, "
           f"largest block {h.get('largest_free')} B", emulated_s=emulated_s, cpu_s=cpu_s, wall_s=wall,
           heap_free=h["free"], largest_free=h.get("largest_free"))


@pytest.mark.timeout(0)
def test_pico_pulse_cost(emulated: EmulatedPico) -> None:
    link = fresh_link(emulated)
    pdm = Pdm(link.send_message, LOT, TID, ADDR)
    activate(pdm, lambda ms: link.bench_ok({"op": "advance", "ms": ms}), LOW_BASAL, 24 * HOUR - 55 * S)
    window = 81 * S  # a 2 U bolus: 40 pulses, 2 s apart

    def measured(bolus: bool) -> tuple[dict, int]:
        before, delivered = emulated.counters(), pdm.status()["pulses_delivered"]
        if bolus:
            pdm.bolus(40)
        link.bench_ok({"op": "advance", "ms": window}, timeout=600)
        after = emulated.counters()
        pulses = pdm.status()["pulses_delivered"] - delivered
        return {k: after[k] - before[k] for k in ("busy_ns", "erases", "programs", "flash_ns")}, pulses

    idle, idle_pulses = measured(False)
    busy, pulses = measured(True)
    assert pulses - idle_pulses == 40, f"the bolus gave {pulses - idle_pulses} pulses"
    n = pulses - idle_pulses
    cpu_ms = (busy["busy_ns"] - idle["busy_ns"]) / n / 1e6
    erases = (busy["erases"] - idle["erases"]) / n
    programs = (busy["programs"] - idle["programs"]) / n
    flash_ms = (busy["flash_ns"] - idle["flash_ns"]) / n / 1e6
    record("pico pulse cost", f"per delivered pulse: {cpu_ms:.1f} ms of CPU (emulated), {erases:.2f} sector erases, "
           f"{programs:.2f} page programs (+{flash_ms:.1f} ms waiting for the flash at 45 ms an erase, "
           f"0.4 ms a page)", cpu_ms=cpu_ms, erases=erases, programs=programs, flash_ms=flash_ms, pulses=n)
    link.close()


@pytest.mark.timeout(0)
def test_pico_three_days(heap_flash: Path) -> None:
    emulated = EmulatedPico(heap_flash)
    try:
        _three_days(emulated)
    finally:
        emulated.kill()


def _three_days(emulated: EmulatedPico) -> None:
    link = fresh_link(emulated)
    stages: dict[str, dict] = {"start": heap(link)}
    start = emulated.counters()
    run = Run(link)
    seen: list[dict] = []
    check = run.check

    def check_and_measure(events: list[tuple]) -> int:
        got = check(events)
        h = heap(link)
        seen.append(h)
        if "activation" not in stages:
            stages["activation"] = h
        elif run.now >= 24 * HOUR and "day" not in stages:
            stages["day"] = h
        return got

    run.check = check_and_measure  # type: ignore[method-assign]
    wall = time.monotonic()
    try:
        pulses = three_days(run)
    except AssertionError as e:
        line = ", ".join(f"{k} {v['free']} B free (largest block {v.get('largest_free')} B)" for k, v in stages.items())
        record("pico three days", f"FAILED at {run.now / HOUR:.1f} h: {str(e).splitlines()[0][:120]}; the pod "
               f"logged {link.logs[-3:]}; heap {line}", failed_at_ms=run.now, stages=stages, logs=link.logs[-10:])
        raise
    wall = time.monotonic() - wall
    end = emulated.counters()
    assert run.pod_errors() == 0
    least = min(h["free"] for h in seen)
    least_block = min(h.get("largest_free", 0) for h in seen)
    erases = end["erases"] - start["erases"]
    programs = end["programs"] - start["programs"]
    line = ", ".join(f"{k} {v['free']} B free (largest block {v.get('largest_free')} B)" for k, v in stages.items())
    record("pico three days", f"{line}; least free at any check {least} B (largest block {least_block} B); "
           f"the 80 h pod life: {pulses} pulses, {erases} sector erases, {programs} page programs; {wall:.0f} s wall",
           stages=stages, least_free=least, least_largest=least_block, erases_per_life=erases,
           programs_per_life=programs, pulses=pulses, wall_s=wall)
    link.close()


@pytest.mark.timeout(0)
def test_pico_pulse_lateness(emulated: EmulatedPico) -> None:
    link = fresh_link(emulated, clock="real", speed=20)  # activation 20x faster, then real time
    pdm = Pdm(link.send_message, LOT, TID, ADDR)

    def wait_pod(ms: int) -> None:  # on the real clock: wait until the pod's time has moved on
        target = link.bench_ok({"op": "info"})["now_ms"] + ms
        while link.bench_ok({"op": "info"})["now_ms"] < target:
            time.sleep(0.2)

    activate(pdm, wait_pod, LOW_BASAL, 24 * HOUR - 55 * S)
    link.bench_ok({"op": "speed", "speed": 1})
    before = emulated.counters()
    first = before["steps"]
    pulses = 60
    pdm.bolus(pulses)  # 2 s a pulse
    statuses = 0
    while emulated.counters()["steps"] - first < pulses:
        due = emulated.counters()["emulated_ns"] + 1e9
        pdm.status()
        statuses += 1
        while emulated.counters()["emulated_ns"] < due:
            time.sleep(0.05)
    cpu_ms = (emulated.counters()["busy_ns"] - before["busy_ns"]) / pulses / 1e6
    times = emulated.step_times_us(first)[:pulses]
    assert len(times) == pulses
    late_ms = sorted((t - (times[0] + 2_000_000 * k)) / 1000 for k, t in enumerate(times))
    p50 = late_ms[len(late_ms) // 2]
    p99 = late_ms[min(len(late_ms) - 1, -(-99 * len(late_ms) // 100) - 1)]
    record("pico pulse lateness", f"{pulses} bolus pulses with a status request every emulated second "
           f"({statuses} answered): lateness after the first pulse p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
           f"max {late_ms[-1]:.1f} ms (emulated time); CPU {cpu_ms:.1f} ms a pulse with its two statuses "
           f"and the idle collections", p50_ms=p50, p99_ms=p99, max_ms=late_ms[-1], statuses=statuses,
           cpu_ms_per_pulse=cpu_ms)
    link.close()
