"""`handset sim` and `handset cgm` from the command line, bad input, and the Dask engine."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from patient import population, scenario

HANDSET = [sys.executable, "-m", "handset"]


def handset(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*HANDSET, *args], cwd=cwd, capture_output=True, text=True, timeout=240)


def test_sim_writes_the_report_plot_csv_and_the_cgm_history(tmp_path: Path) -> None:
    done = handset("sim", "--hours", "2", "--meal", "07:00=30", "--out", "run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "time in range" in done.stdout and "insulin (pod)" in done.stdout
    out = tmp_path / "run"
    assert (out / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figures = json.loads((out / "figures.json").read_text())
    assert figures["minutes"] == 120 and figures["bolus_pulses"] > 0
    rows = list(csv.DictReader(open(out / "run.csv", newline="")))
    assert len(rows) == 120 and sum(int(r["pulses_pushed"]) for r in rows) == figures["strokes_pushed"]
    cgm = handset("--state", str(out / "work" / "handset"), "cgm", "--csv", cwd=tmp_path)
    assert cgm.returncode == 0, cgm.stderr
    readings = list(csv.DictReader(io.StringIO(cgm.stdout)))
    assert len(readings) == 24 and all(r["mgdl"] for r in readings)
    table = handset("--state", str(out / "work" / "handset"), "cgm", "--limit", "3", cwd=tmp_path)
    assert table.returncode == 0 and "mg/dL" in table.stdout
    history = (out / "work" / "handset" / "history.jsonl").read_text()
    assert '"bolus"' in history  # the meal bolus went through the handset's own library
    again = handset("sim", "--hours", "1", "--out", "run", cwd=tmp_path)  # a new pod in the same folder
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "figures.json").read_text())["minutes"] == 60


@pytest.mark.parametrize("args, sentence", [
    (["--patient", "adult#042"], "There is no virtual patient 'adult#042'"),
    (["--meal", "d1 05:00=40"], "is before the run starts (d1 06:00)"),
    (["--threshold", "30"], "out of range: use 50–90 mg/dL"),
    (["--threshold", "9.9mmol"], "out of range: use 2.8–5.0 mmol/L"),
    (["--days", "15"], "A run lasts from 1 hour to 14 days"),
    (["--occlude-at", "d9 10:00"], "is after the run ends"),
])
def test_bad_input_gets_a_sentence_and_changes_nothing(tmp_path: Path, args: list[str], sentence: str) -> None:
    from click.testing import CliRunner

    from handset.cli import main
    done = CliRunner().invoke(main, ["sim", *args, "--out", str(tmp_path / "run")])  # in-process: quick
    assert done.exit_code == 2
    assert sentence in done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert not (tmp_path / "run").exists()


def test_population_runs_on_a_dask_cluster(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    base = scenario.build("adult#001", hours=1, meals=[])
    jobs = population.population_jobs(base, ["adult#001", "child#002"], [5], tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        figures = population.run_jobs(jobs, scheduler=cluster.scheduler_address)
    assert [f["patient"] for f in figures] == ["adult#001", "child#002"]
    assert all(f["minutes"] == 60 and f["strokes_pushed"] == f["insulin_pulses"] > 0 for f in figures)
    per_patient, overall = population.aggregate(figures)
    assert [p["patient"] for p in per_patient] == ["adult#001", "child#002"] and overall["runs"] == 2
    assert (population.run_dir(tmp_path, jobs[1].scenario) / "run.png").exists()
