"""Population runs: one scenario over many patients × seeds, one pod process per run, in parallel —
on local processes by default, or on a Dask cluster given its scheduler address."""
from __future__ import annotations

import os
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterable

from handset.errors import InvalidInput
from patient.model import check_patient, patient_names
from patient.scenario import Scenario

GROUPS = ("adolescent", "adult", "child")


def select_patients(spec: str) -> list[str]:
    """"all", or a comma list of groups (adolescent, adult, child) and names → patient names."""
    names: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item == "all":
            found = list(patient_names())
        elif item in GROUPS:
            found = [n for n in patient_names() if n.startswith(item + "#")]
        else:
            found = [check_patient(item)]
        names += [n for n in found if n not in names]
    if not names:
        raise InvalidInput("Name the patients: all, adolescent, adult, child, or a list like adult,child#003.")
    return names


def run_dir(out: Path, sc: Scenario) -> Path:
    """Where one run of a population writes its report."""
    return out / f"{sc.patient.replace('#', '-')}-seed{sc.seed}-lgs-{sc.lgs_mode}"


@dataclass(frozen=True)
class Job:
    """One run of a population: a scenario and where its files go (picklable for any engine)."""

    scenario: Scenario
    out: str


def run_job(job: Job) -> dict:
    """Run one scenario against its own pod process; its report files go to job.out; returns the figures."""
    from handset.errors import HandsetError
    from patient import loop, report
    out = Path(job.out)
    try:
        result = loop.run(job.scenario, out / "work")
    except HandsetError as exc:  # one run's failure is reported with the others, not fatal to them
        sc = job.scenario
        return {"patient": sc.patient, "seed": sc.seed, "lgs": sc.lgs_mode, "error": str(exc), "out": job.out}
    return report.write_all(result, out).to_json()


def population_jobs(base: Scenario, patients: list[str], seeds: Iterable[int], out: Path) -> list[Job]:
    """One job per patient × seed of `base`."""
    scenarios = [replace(base, patient=p, seed=s) for p in patients for s in seeds]
    return [Job(sc, str(run_dir(out, sc))) for sc in scenarios]


def run_jobs(jobs: list[Job], workers: int | None = None, scheduler: str | None = None,
             say: Callable[[str], None] | None = None) -> list[dict]:
    """Run the jobs in parallel, each with its own pod process; their figures, in job order."""
    tell = say or (lambda text: None)
    if scheduler:
        from distributed import Client
        tell(f"{len(jobs)} runs on the Dask cluster at {scheduler}")
        with Client(scheduler) as client:
            futures = client.map(run_job, jobs, pure=False)
            return list(client.gather(futures))  # type: ignore[arg-type]
    n = min(len(jobs), workers or max(1, (os.cpu_count() or 1)))
    tell(f"{len(jobs)} runs on {n} local processes")
    with ProcessPoolExecutor(max_workers=max(1, n)) as pool:
        return list(pool.map(run_job, jobs))


_MEAN_KEYS = ("in_range_pct", "below_70_pct", "below_54_pct", "above_250_pct", "mean_mgdl")


def aggregate(figures: list[dict]) -> tuple[list[dict], dict]:
    """Per patient (mean over seeds) and overall (mean over runs) figures of the runs that finished;
    insulin in pulses/day; overall["failed"] counts the runs that did not."""
    def summarise(group: list[dict], name: str) -> dict:
        row: dict = {"patient": name, "runs": len(group)}
        for k in _MEAN_KEYS:
            row[k] = round(statistics.fmean(f[k] for f in group), 1)
        row["insulin_pulses_per_day"] = round(statistics.fmean(f["insulin_pulses"] * 1440 / max(1, f["minutes"])
                                                               for f in group))
        row["suspensions"] = sum(f["suspensions"] for f in group)
        row["faults"] = sum(1 for f in group if f["fault"])
        return row
    done = [f for f in figures if "error" not in f]
    by_patient: dict[str, list[dict]] = {}
    for f in done:
        by_patient.setdefault(f["patient"], []).append(f)
    overall = summarise(done, "overall") if done else {"patient": "overall", "runs": 0}
    overall["failed"] = len(figures) - len(done)
    return [summarise(g, p) for p, g in by_patient.items()], overall
