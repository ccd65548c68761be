"""Outcomes of seeded closed-loop runs against the real firmware (unix MicroPython, virtual clock).

The runs are short (hours, not days) and go through the population engine's local processes, two
at a time; each test reads the files a run writes (run.csv, events.json, figures.json).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from patient import population, scenario

ADOLESCENT = "adolescent#001"
CHILD = "child#004"  # over-bolused, this child goes far below 54 mg/dL within hours


def _scenarios() -> dict[str, scenario.Scenario]:
    meal = ["07:00=45"]
    lgs_case = dict(hours=6, meals=meal, announced_percent=200)
    return {
        "meal_no_bolus": scenario.build(ADOLESCENT, hours=4, meals=meal, bolus="none"),
        "meal_big_bolus": scenario.build(ADOLESCENT, hours=4, meals=meal, announced_percent=200),
        "steady": scenario.build(ADOLESCENT, hours=6, meals=[], sensor_out=["d1 08:00-08:30"]),
        "occluded": scenario.build(ADOLESCENT, hours=6, meals=[], occlusions=["d1 06:32"]),  # applied at its step, 06:30
        "lgs_off": scenario.build(CHILD, lgs_mode="off", **lgs_case),  # type: ignore[arg-type]
        "lgs_threshold": scenario.build(CHILD, lgs_mode="threshold", **lgs_case),  # type: ignore[arg-type]
        "lgs_predictive": scenario.build(CHILD, lgs_mode="predictive", **lgs_case),  # type: ignore[arg-type]
    }


class Run:
    """The files of one finished run."""

    def __init__(self, folder: Path, figures: dict) -> None:
        self.figures = figures
        with open(folder / "run.csv", newline="", encoding="utf-8") as f:
            self.rows = list(csv.DictReader(f))
        self.events = json.loads((folder / "events.json").read_text(encoding="utf-8"))

    def glucose(self, minute: int) -> float:
        return float(self.rows[minute]["glucose_mgdl"])

    def pushed(self, first: int, end: int) -> int:
        return sum(int(r["pulses_pushed"]) for r in self.rows[first:end])

    def events_of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["kind"] == kind]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    out = tmp_path_factory.mktemp("sim")
    named = _scenarios()
    jobs = [population.Job(sc, str(out / name)) for name, sc in named.items()]
    figures = population.run_jobs(jobs, workers=2)
    assert not [f["error"] for f in figures if "error" in f]
    return {name: Run(out / name, f) for name, f in zip(named, figures)}


def test_the_patient_gets_exactly_what_the_pod_reports_delivered(runs: dict[str, Run]) -> None:
    for name, run in runs.items():
        f = run.figures
        assert f["strokes_pushed"] == f["insulin_pulses"], name
        assert f["insulin_pulses"] == f["basal_pulses"] + f["bolus_pulses"], name


def test_the_cgm_reads_every_five_minutes_with_a_gap_while_the_sensor_is_out(runs: dict[str, Run]) -> None:
    run = runs["steady"]
    cgm = {int(r["minute"]): r["cgm_mgdl"] for r in run.rows if int(r["minute"]) % 5 == 0 and int(r["minute"])}
    gap = [m for m, v in cgm.items() if v == ""]
    assert gap == list(range(120, 150, 5))  # 08:00 to 08:30, the run starting at 06:00
    assert len(cgm) == 71 and run.figures["cgm_gaps"] == 6
    assert all(abs(float(cgm[m]) - run.glucose(m - 1)) < 40 for m in cgm if cgm[m])  # noise, not nonsense


def test_glucose_rises_after_a_meal(runs: dict[str, Run]) -> None:
    run = runs["meal_no_bolus"]  # meal at minute 60, no bolus
    assert max(run.glucose(m) for m in range(60, 240)) > run.glucose(60) + 25


def test_glucose_falls_after_a_bolus(runs: dict[str, Run]) -> None:
    bolus, none = runs["meal_big_bolus"], runs["meal_no_bolus"]
    assert bolus.events_of("bolus") and bolus.figures["bolus_pulses"] > 0
    assert bolus.glucose(239) < bolus.glucose(60) - 20  # below where it was at the meal
    assert bolus.glucose(239) < none.glucose(239) - 60


def test_an_occlusion_stops_insulin_and_glucose_rises(runs: dict[str, Run]) -> None:
    occluded, steady = runs["occluded"], runs["steady"]
    assert occluded.pushed(30, 360) == 0  # nothing reached the patient after the line blocked
    assert steady.pushed(30, 360) > 50
    assert [e["code"] for e in occluded.events_of("pod_fault")] == ["0x14"]  # the pod noticed, in time
    assert occluded.glucose(359) > steady.glucose(359) + 20
    assert occluded.glucose(359) > occluded.glucose(30) + 20


def test_threshold_suspend_stops_delivery_at_the_threshold_for_two_hours(runs: dict[str, Run]) -> None:
    run = runs["lgs_threshold"]
    suspend, = run.events_of("lgs_suspend")[:1]
    resume, = run.events_of("lgs_resume")[:1]
    at, back = suspend["minute"], resume["minute"]
    assert float(run.rows[at]["cgm_mgdl"]) <= 70  # the reading that triggered it
    assert all(float(run.rows[m]["cgm_mgdl"]) > 70 for m in range(5, at, 5))  # none before
    assert back - at == 120 and resume["reason"] == "2 hours suspended"
    assert run.pushed(at, back) == 0  # the pod really stopped (1F), not the handset's say-so
    assert run.pushed(back, back + 60) > 0  # and really resumed


def test_low_glucose_suspend_lowers_time_below_54(runs: dict[str, Run]) -> None:
    off = runs["lgs_off"].figures
    on = runs["lgs_threshold"].figures
    predictive = runs["lgs_predictive"].figures
    assert off["below_54_pct"] > 0
    assert on["below_54_pct"] < off["below_54_pct"]
    assert predictive["below_54_pct"] <= on["below_54_pct"]


def test_predictive_suspends_earlier_than_threshold(runs: dict[str, Run]) -> None:
    predictive = runs["lgs_predictive"].figures["first_suspend_minute"]
    threshold = runs["lgs_threshold"].figures["first_suspend_minute"]
    assert predictive is not None and threshold is not None and predictive < threshold
