"""`handset sim`: a closed loop in virtual time — a virtual patient, its CGM and low-glucose
suspend against a new emulated pod (the real firmware, virtual clock) — and population runs."""
from __future__ import annotations

import json
import time
from pathlib import Path

import click

from handset.cmd_common import guarded
from handset.output import Out

LGS_CHOICES = ("off", "threshold", "predictive")


@click.command("sim")
@click.option("--patient", default="adolescent#001", show_default=True,
              help="Virtual patient: adolescent#001..010, adult#001..010, child#001..010.")
@click.option("--days", type=int, default=None, help="Length in days, 1–14 (default 3; a new pod every 72 h).")
@click.option("--hours", type=int, default=None, help="Length in hours instead (1–336).")
@click.option("--start", default="06:00", show_default=True, help="Time of day at which day 1 starts.")
@click.option("--meal", "meals", multiple=True, metavar="[dN ]HH:MM=GRAMS",
              help="A meal every day (12:30=60) or once (d2 12:30=60); repeat. Default 07:00=45, 12:30=70, 19:00=80.")
@click.option("--announced", type=int, default=100, show_default=True,
              help="Carbs the person enters into the calculator, in % of what is eaten.")
@click.option("--bolus", type=click.Choice(("calculator", "none")), default="calculator", show_default=True,
              help="Meal boluses from the handset's calculator (with the CGM value when fresh), or none.")
@click.option("--basal", default="patient", show_default=True,
              help="Basal rate in U/h, or 'patient' for the patient's own steady-state basal.")
@click.option("--lgs", type=click.Choice(LGS_CHOICES), default="threshold", show_default=True,
              help="Low-glucose suspend: off, at the threshold, or predictive (30 min ahead).")
@click.option("--threshold", default="70", show_default=True,
              help="Low-glucose suspend threshold (mg/dL, or e.g. 3.9mmol).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the patient and the CGM noise.")
@click.option("--sensor-out", multiple=True, metavar="dN HH:MM-HH:MM", help="A CGM gap; repeat.")
@click.option("--occlude-at", multiple=True, metavar="dN HH:MM", help="Block the pod's line from then on; repeat.")
@click.option("--resume-at", multiple=True, metavar="dN HH:MM", help="The user resumes a suspension then; repeat.")
@click.option("--compare-lgs", is_flag=True, help="Run the scenario with LGS off, threshold and predictive, side by side.")
@click.option("--population", metavar="PATIENTS", default=None,
              help="Run over many patients: all, adolescent, adult, child, or a comma list.")
@click.option("--seeds", type=click.IntRange(1, 100), default=1, show_default=True,
              help="Population runs: seeds per patient (seed, seed+1, …).")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Local processes (default: CPU count).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run on the Dask cluster at this scheduler address (tcp://host:8786) instead of locally.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="sim-out", show_default=True,
              help="Folder for the report, CSV, PNG and the run's pod and handset files.")
@click.option("--list-patients", is_flag=True, help="List the virtual patients and their own pump settings.")
@click.option("--bg-unit", type=click.Choice(("mg/dL", "mmol/L"), case_sensitive=False), default="mg/dL",
              show_default=True, help="Glucose unit of the report.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def sim(patient: str, days: int | None, hours: int | None, start: str, meals: tuple[str, ...], announced: int,
        bolus: str, basal: str, lgs: str, threshold: str, seed: int, sensor_out: tuple[str, ...],
        occlude_at: tuple[str, ...], resume_at: tuple[str, ...], compare_lgs: bool, population: str | None,
        seeds: int, workers: int | None, scheduler: str | None, out_dir: str, list_patients: bool,
        bg_unit: str, as_json: bool) -> None:
    """Run a virtual patient with a CGM against a new emulated pod in virtual time.

    The patient receives only the insulin the pod's mechanism pushed (the pod's stroke log), at the
    time it was pushed. Writes report.txt, figures.json, run.csv, run.png and events.json to --out.
    For development and testing only: never use it to guide a real insulin dose.
    """
    out = Out(json_mode=as_json)

    def action() -> None:
        from handset import units
        from patient import scenario as scenario_mod
        if list_patients:
            _list_patients(out)
            return
        sc = scenario_mod.build(
            patient, days=days, hours=hours, start=start, meals=list(meals) or None, announced_percent=announced,
            bolus=bolus, basal=basal, lgs_mode=lgs, lgs_threshold=threshold, seed=seed,
            sensor_out=list(sensor_out), occlusions=list(occlude_at), user_resumes=list(resume_at))
        folder = Path(out_dir)
        if population or compare_lgs:
            _many(out, sc, folder, population, seeds, compare_lgs, workers, scheduler)
        else:
            _single(out, sc, folder, units.parse_bg_unit(bg_unit))
    guarded(out, action)


def _list_patients(out: Out) -> None:
    from handset import units
    from patient.model import patient_names, therapy_for
    rows = []
    for name in patient_names():
        t = therapy_for(name)
        rows.append((name, units.format_rate(t.basal_pph), f"{t.carb_ratio} g/U", f"{t.correction_factor} mg/dL/U",
                     f"{t.total_daily_units} U"))
    if out.json_mode:
        out.json([dict(zip(("patient", "basal", "carb_ratio", "correction_factor", "total_daily"), r)) for r in rows])
    else:
        out.table("Virtual patients", ("patient", "basal", "carb ratio", "correction", "daily insulin"), rows)


def _single(out: Out, sc: object, folder: Path, bg_unit: str) -> None:
    from patient import loop, report
    from patient.scenario import Scenario
    assert isinstance(sc, Scenario)
    if not out.json_mode:
        out.line(f"Simulating {sc.patient} for {sc.minutes // 60} h in virtual time against a new emulated pod "
                 f"(files in {folder}) …")
    say = (lambda text: None) if out.json_mode else out.line
    result = loop.run(sc, folder / "work", say)
    figures = report.write_all(result, folder, bg_unit)
    if out.json_mode:
        out.json(figures.to_json())
        return
    out.line("")
    out.line(report.summary_text(figures, sc, bg_unit))
    out.good(f"Wrote {folder / 'report.txt'}, {folder / 'run.png'}, {folder / 'run.csv'} and {folder / 'events.json'}; "
             f"the CGM history: handset --state {folder / 'work' / 'handset'} cgm")


def _many(out: Out, sc: object, folder: Path, population: str | None, seeds: int, compare_lgs: bool,
          workers: int | None, scheduler: str | None) -> None:
    from dataclasses import replace
    from patient import population as pop
    from patient.scenario import Scenario
    assert isinstance(sc, Scenario)
    patients = pop.select_patients(population) if population else [sc.patient]
    modes = LGS_CHOICES if compare_lgs else (sc.lgs_mode,)
    jobs = []
    for mode in modes:
        jobs += pop.population_jobs(replace(sc, lgs_mode=mode), patients, range(sc.seed, sc.seed + seeds), folder)
    began = time.monotonic()
    figures = pop.run_jobs(jobs, workers, scheduler, None if out.json_mode else out.line)
    wall = time.monotonic() - began
    summary: dict = {"wall_s": round(wall, 1), "runs": len(jobs), "modes": {}}
    for mode in modes:
        per_patient, overall = pop.aggregate([f for f in figures if f["lgs"] == mode])
        summary["modes"][mode] = {"overall": overall, "patients": per_patient}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "population.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    if out.json_mode:
        out.json(summary)
        return
    for f in figures:
        if "error" in f:
            out.warn(f"{f['patient']} (seed {f['seed']}, LGS {f['lgs']}) did not finish: {f['error']} "
                     f"(files in {f['out']})")
    for mode in modes:
        if not summary["modes"][mode]["patients"]:
            continue
        rows = summary["modes"][mode]["patients"] + [summary["modes"][mode]["overall"]]
        out.table(f"LGS {mode}: {len(jobs) // len(modes)} runs of {sc.minutes // 60} h",
                  ("patient", "runs", "in range %", "<70 %", "<54 %", ">250 %", "mean mg/dL", "U/day",
                   "suspensions", "faults"),
                  [(r["patient"], str(r["runs"]), f"{r['in_range_pct']:.1f}", f"{r['below_70_pct']:.1f}",
                    f"{r['below_54_pct']:.1f}", f"{r['above_250_pct']:.1f}", f"{r['mean_mgdl']:.1f}",
                    f"{r['insulin_pulses_per_day'] / 20:.2f}", str(r["suspensions"]), str(r["faults"])) for r in rows])
    if len(modes) > 1:
        overall = [summary["modes"][m]["overall"] for m in modes]
        out.table("Low-glucose suspend compared (all runs)",
                  ("LGS", "in range %", "<70 %", "<54 %", ">250 %", "mean mg/dL", "U/day", "suspensions"),
                  [(m, f"{o['in_range_pct']:.1f}", f"{o['below_70_pct']:.1f}", f"{o['below_54_pct']:.1f}",
                    f"{o['above_250_pct']:.1f}", f"{o['mean_mgdl']:.1f}", f"{o['insulin_pulses_per_day'] / 20:.2f}",
                    str(o["suspensions"])) for m, o in zip(modes, overall) if o["runs"]])
    failed = sum(1 for f in figures if "error" in f)
    done = f"{len(jobs)} runs in {wall:.1f} s" + (f", {failed} did not finish" if failed else "")
    out.good(f"{done}; wrote {folder / 'population.json'} and one folder per run.")
    if failed:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [sim]
