"""The simulated pump mechanism (firmware/pod/hal/plant.py)."""
from __future__ import annotations


import pytest


from pod.hal.plant import Plant


def test_pulses_move_insulin_from_the_reservoir() -> None:
    p = Plant(3)
    assert [p.pulse() for _ in range(5)] == [True, True, True, False, False]
    assert (p.pushed, p.reservoir_pulses, p.dry, p.blocked) == (3, 0, 2, 0)


def test_occlusion_blocks_pulses_until_cleared() -> None:
    p = Plant(100)
    p.set_occluded(True)
    assert not any(p.pulse() for _ in range(10))
    assert (p.pushed, p.reservoir_pulses, p.blocked) == (0, 100, 10)
    p.set_occluded(False)
    assert p.pulse() is True
    assert p.info() == {"pushed": 1, "reservoir_pulses": 99, "occluded": False, "blocked": 10, "dry": 0}


def test_state_round_trip() -> None:
    p = Plant(50)
    p.pulse()
    p.set_occluded(True)
    p.pulse()
    q = Plant.from_state(p.to_state())
    assert q.info() == p.info()


def test_negative_reservoir_is_refused() -> None:
    with pytest.raises(ValueError):
        Plant(-1)
