"""Restarts that always come back (SPEC.md 8): any state — running, temp basal, suspended,
faulted with any code, deactivated, mid-activation, timed out — comes back as itself after 1, 2
and 100 power losses, and a restart never turns a good pod into 0x3D. The pod here is the real
firmware logic on files (the snapshot + journal store), in this process."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from system.pdm_driver import Pdm, activate
from test_safety_integration import ADDR, FLAT_1U, HOUR, LOT, MIN, S, TID, FlashPod

Setup = Callable[[FlashPod, Pdm], None]


def _activated(bench: FlashPod, pdm: Pdm) -> None:
    activate(pdm, bench.advance, FLAT_1U, -55 * S)


def _paired(bench: FlashPod, pdm: Pdm) -> None:
    pdm.assign_address()
    pdm.setup_pod()


def _primed(bench: FlashPod, pdm: Pdm) -> None:
    _paired(bench, pdm)
    pdm.prime()
    bench.advance(60 * S)


def _occluded(bench: FlashPod, pdm: Pdm) -> None:
    _activated(bench, pdm)
    bench.plant.set_occluded(True)
    pdm.bolus(100)
    bench.advance(HOUR)
    assert bench.pod.fault_code == 0x14


def _empty(bench: FlashPod, pdm: Pdm) -> None:
    _activated(bench, pdm)
    for _ in range(3):
        pdm.bolus(600)
        bench.advance(HOUR)
    assert bench.pod.fault_code == 0x18


def _expired(bench: FlashPod, pdm: Pdm) -> None:
    _activated(bench, pdm)
    bench.advance(81 * HOUR)
    assert bench.pod.fault_code == 0x1C


def _piezo(bench: FlashPod, pdm: Pdm) -> None:
    _activated(bench, pdm)
    pdm.cancel(2, beep_type=0x0F)
    assert bench.pod.fault_code == 0x37


def _temp(bench: FlashPod, pdm: Pdm) -> None:
    _activated(bench, pdm)
    pdm.temp_basal(60, 4)
    bench.advance(20 * MIN)


def _suspended(bench: FlashPod, pdm: Pdm) -> None:
    _activated(bench, pdm)
    bench.advance(HOUR)
    pdm.cancel(1)


def _deactivated(bench: FlashPod, pdm: Pdm) -> None:
    _activated(bench, pdm)
    bench.advance(HOUR)
    pdm.deactivate()


def _timed_out(bench: FlashPod, pdm: Pdm) -> None:
    _paired(bench, pdm)
    bench.advance(2 * HOUR)
    assert bench.pod.progress == 14


STATES: dict[str, Setup] = {
    "fresh (2)": lambda bench, pdm: None,
    "paired (3)": _paired,
    "primed (5)": _primed,
    "running (8)": _activated,
    "temp basal": _temp,
    "suspended": _suspended,
    "occluded 0x14": _occluded,
    "empty 0x18": _empty,
    "expired 0x1C": _expired,
    "beep F 0x37": _piezo,
    "deactivated (15)": _deactivated,
    "timed out (14)": _timed_out,
}


def _state(bench: FlashPod) -> dict:
    """The pod's whole state; a stopped program's start time means nothing and is left out."""
    bench.pod.step(bench.now)
    state = bench.pod.to_state()
    d = state["delivery"]
    for name, extra in (("basal", ()), ("temp", ("temp_end",)), ("bolus", ("bolus_kind",))):
        if d.get(name) is None:
            for key in (name + "_start",) + extra:
                d.pop(key, None)
    return state


@pytest.mark.parametrize("name", sorted(STATES))
def test_every_state_comes_back_as_itself_after_1_2_and_100_restarts(tmp_path: Path, name: str) -> None:
    bench = FlashPod(tmp_path, fill=1000 if name == "empty 0x18" else 4000)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    STATES[name](bench, pdm)
    before = _state(bench)
    pushed = bench.plant.pushed
    for n in range(1, 101):
        bench.boot()
        assert _state(bench) == before, f"{name}: changed by restart {n}"
        if n in (1, 2):
            assert not [line for line in bench.logs if "unusable" in line or "0x3d" in line], bench.logs
    assert bench.plant.pushed == pushed
    if before["progress"] >= 3 and before["progress"] < 15:
        reply = pdm.status()                       # the PDM still reaches it at its address
        assert reply["type"] in (0x1D, 0x02) and reply["progress"] == before["progress"]


def test_occluded_pod_restarts_without_0x3d_and_can_be_deactivated(tmp_path: Path) -> None:
    """Issue 12: after fault 0x14 the first restart logged 'saved pod state unusable (63 pulses
    recorded, the state knows 62)' and became 0x3D without its address."""
    bench = FlashPod(tmp_path)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    _occluded(bench, pdm)
    delivered = bench.pod.delivered
    bench.boot()
    assert not [line for line in bench.logs if "unusable" in line or "no usable" in line], bench.logs
    assert bench.pod.fault_code == 0x14 and bench.pod.progress == 13 and bench.pod.address == ADDR
    assert bench.pod.delivered == delivered == bench.plant.pushed
    assert bench.recorded() == delivered
    detailed = pdm.status()
    assert detailed["type"] == 0x02 and detailed["fault_code"] == 0x14
    assert pdm.deactivate()["progress"] == 15
    bench.boot()
    assert bench.pod.progress == 15


def test_a_bolus_cut_by_a_restart_is_reported_once_then_stable(tmp_path: Path) -> None:
    bench = FlashPod(tmp_path)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    _activated(bench, pdm)
    pdm.bolus(40)
    bench.advance(21 * S)
    bench.boot()
    first = _state(bench)
    assert bench.pod.delivery.bolus is None and 0 < bench.pod.bolus_remaining() < 40
    for _ in range(5):
        bench.boot()
        assert _state(bench) == first


def test_restarts_during_a_day_of_delivery_lose_nothing_and_add_nothing(tmp_path: Path) -> None:
    """Restarts between pulses, with a temp basal and boluses: the count stays exact and equal
    to the mechanism's, and the next restart is again the same pod."""
    bench = FlashPod(tmp_path)
    pdm = Pdm(bench.exchange, LOT, TID, ADDR)
    _activated(bench, pdm)
    for hour in range(24):
        if hour % 6 == 1:
            pdm.temp_basal(10 * hour, 2)
        if hour % 5 == 2:
            pdm.bolus(5)
        bench.advance(HOUR // 2)
        bench.boot()
        bench.advance(HOUR // 2)
        assert bench.pod.delivered == bench.plant.pushed
        before = _state(bench)
        bench.boot()
        assert _state(bench) == before
    assert bench.pod.fault_code == 0
