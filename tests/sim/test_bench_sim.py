"""Closed-loop wall times: one patient for 3 days (`make bench`, goal ≤ 60 s) and the 30 virtual
patients × 3 days as a local population (`make soak`: long). Both print their figures."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from patient import loop, population, report, scenario


@pytest.mark.bench
def test_three_days_of_one_patient_in_under_a_minute(tmp_path: Path) -> None:
    sc = scenario.build(lgs_mode="threshold")  # the defaults of `handset sim`
    began = time.monotonic()
    result = loop.run(sc, tmp_path / "work")
    wall = time.monotonic() - began
    f = report.write_all(result, tmp_path)
    print(f"\n3 days of {sc.patient} (LGS {sc.lgs_mode}): {wall:.1f} s wall\n" + report.summary_text(f, sc))
    assert f.minutes == 3 * 1440 and f.strokes_pushed == f.insulin_pulses
    assert wall <= 60, f"3 days took {wall:.1f} s of wall time, over the 60 s goal"


@pytest.mark.soak
@pytest.mark.timeout(3600)  # about 6 minutes on 2 idle cores; far longer on a loaded machine
def test_thirty_patients_for_three_days_locally(tmp_path: Path) -> None:
    base = scenario.build(lgs_mode="threshold")
    jobs = population.population_jobs(base, population.select_patients("all"), [1], tmp_path)
    began = time.monotonic()
    figures = population.run_jobs(jobs)
    wall = time.monotonic() - began
    per_patient, overall = population.aggregate(figures)
    print(f"\n30 patients × 3 days on local processes: {wall:.0f} s wall")
    for row in per_patient + [overall]:
        print(f"{row['patient']:15} in range {row['in_range_pct']:5.1f} %  <70 {row['below_70_pct']:4.1f} %  "
              f"<54 {row['below_54_pct']:4.1f} %  >250 {row['above_250_pct']:4.1f} %  mean {row['mean_mgdl']:5.1f}")
    assert len(figures) == 30
    assert all(f["minutes"] == 3 * 1440 and f["strokes_pushed"] == f["insulin_pulses"] for f in figures)
