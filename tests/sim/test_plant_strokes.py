"""The plant's stroke log (firmware/pod/hal/plant.py): each stroke with its clock time, paged
like the bench "strokes" op, bounded, and kept across a restart of the process."""
from __future__ import annotations

from pod.hal.clock import VirtualClock
from pod.hal.plant import STROKES_KEPT, Plant
from pod.hal.storage import FileStorage


def test_each_stroke_is_logged_with_its_clock_time_and_outcome(tmp_path) -> None:
    clock = VirtualClock()
    plant = Plant(2, FileStorage(str(tmp_path)))
    plant.clock = clock
    for ms in (1000, 3000):
        clock.set_ms(ms)
        assert plant.pulse() is True
    plant.set_occluded(True)
    clock.set_ms(5000)
    assert plant.pulse() is False
    assert plant.strokes_since(0, 40) == (0, [[1000, 1], [3000, 1], [5000, 0]])
    assert plant.strokes_since(2, 40) == (2, [[5000, 0]])
    assert plant.strokes_since(3, 40) == (3, [])


def test_the_log_survives_a_restart_from_storage(tmp_path) -> None:
    storage = FileStorage(str(tmp_path))
    clock = VirtualClock()
    plant = Plant(10, storage)
    plant.clock = clock
    clock.set_ms(60_000)
    plant.pulse()
    again = Plant.load(FileStorage(str(tmp_path)), None, 200)
    assert again.stroke_count == 1 and again.strokes == [[60_000, 1]]
    assert again.info() == plant.info()


def test_only_the_newest_strokes_are_kept_and_older_reads_start_at_the_oldest() -> None:
    plant = Plant(10_000)
    for _ in range(STROKES_KEPT + 10):
        plant.pulse()
    assert plant.stroke_count == STROKES_KEPT + 10
    first, kept = plant.strokes_since(0, 40)
    assert first == 10 and len(kept) == 40


def test_an_older_state_without_a_log_still_loads() -> None:
    plant = Plant.from_state([100, 5, 0, 0, 0])
    assert plant.stroke_count == 0 and plant.strokes == [] and plant.pushed == 5
