"""The flash a pulse costs (issue 8 item 5), counted by the unix storage layer (FlashRegion and
FileStorage count page programs, sector erases and files rewritten): one page program per
stroke, no file rewritten and no sector erased on the pulse path in the common case, and at most
64 sector erases in an 80-hour pod life of a closed loop (a temp basal every 30 minutes, a bolus
every 4 hours, a status every 5 minutes)."""
from __future__ import annotations

from pathlib import Path

from system.pdm_driver import Pdm, activate
from test_safety_integration import ADDR, FLAT_1U, HOUR, LOT, MIN, S, TID, FlashPod


def test_a_basal_pulse_costs_one_page_program_and_no_file(tmp_path: Path) -> None:
    bench = FlashPod(tmp_path)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    activate(pdm, bench.advance, FLAT_1U, -55 * S)
    storage = bench.hal.storage
    before = storage.counters()
    pushed = bench.plant.pushed
    bench.advance(10 * HOUR)                           # 1 U/h: 200 pulses, no message
    after = storage.counters()
    pulses = bench.plant.pushed - pushed
    programs = after["programs"] - before["programs"]
    assert 195 <= pulses <= 205
    assert after["files_written"] == before["files_written"], "a file was rewritten on the pulse path"
    assert after["erases"] == before["erases"]
    # one record per stroke, one checkpoint-free hour (pulses every 3 min), a sector header per 4 KB
    assert pulses <= programs <= pulses + 2
    print(f"\n10 h of basal: {pulses} pulses, {programs} page programs, 0 files, 0 erases")


def test_an_80_hour_closed_loop_life_stays_within_64_erases(tmp_path: Path) -> None:
    bench = FlashPod(tmp_path)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    activate(pdm, bench.advance, FLAT_1U, -55 * S)
    start_pushed = bench.plant.pushed
    storage = bench.hal.storage
    for half_hour in range(2 * 79):
        if pdm.temp_basal(10 + (half_hour * 7) % 40, 1)["type"] != 0x1D:
            pdm.cancel(2)
            pdm.temp_basal(10, 1)
        if half_hour % 8 == 3:
            pdm.bolus(20)
        for _ in range(6):
            pdm.status()
            bench.advance(5 * MIN)
    c = storage.counters()
    pulses = bench.plant.pushed - start_pushed
    assert bench.pod.fault_code == 0 and bench.pod.delivered == bench.plant.pushed
    print(f"\n79 h closed loop: {pulses} pulses, {c['programs']} page programs "
          f"({c['programs'] / pulses:.2f} per pulse, messages included), {c['erases']} sector erases, "
          f"{c['files_written']} snapshot files, {c['bytes_programmed']} bytes programmed")
    assert c["erases"] <= 64
    assert c["files_written"] <= 10
