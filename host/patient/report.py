"""The figures of a run (from the patient's glucose each minute), its CSV and its PNG."""
from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from handset import units
from patient.loop import RunResult
from patient.scenario import Scenario


@dataclass(frozen=True)
class Figures:
    """Outcome figures of one run. Percentages are of minutes; insulin in whole pulses."""

    patient: str
    seed: int
    lgs: str
    minutes: int
    in_range_pct: float          # 70–180 mg/dL
    below_70_pct: float
    below_54_pct: float
    above_180_pct: float
    above_250_pct: float
    mean_mgdl: float
    min_mgdl: float
    max_mgdl: float
    insulin_pulses: int          # as the pod reports it (status)
    basal_pulses: int
    bolus_pulses: int
    strokes_pushed: int          # what reached the patient, from the stroke log
    suspensions: int
    suspended_minutes: int
    first_suspend_minute: int | None
    below_20_minutes: int        # the model below 20 mg/dL: beyond what it represents
    cgm_readings: int
    cgm_gaps: int
    fault: str | None
    wall_s: float

    def to_json(self) -> dict:
        """Plain JSON-able dict."""
        return asdict(self)


def figures(result: RunResult) -> Figures:
    """The outcome figures of a finished run."""
    g = [r.glucose_tenths for r in result.rows]
    n = max(1, len(g))

    def pct(count: int) -> float:
        return round(100 * count / n, 1)
    suspends = [e for e in result.events if e["kind"] == "lgs_suspend"]
    return Figures(
        patient=result.scenario.patient, seed=result.scenario.seed, lgs=result.scenario.lgs_mode,
        minutes=len(g),
        in_range_pct=pct(sum(700 <= v <= 1800 for v in g)),
        below_70_pct=pct(sum(v < 700 for v in g)), below_54_pct=pct(sum(v < 540 for v in g)),
        above_180_pct=pct(sum(v > 1800 for v in g)), above_250_pct=pct(sum(v > 2500 for v in g)),
        mean_mgdl=round(sum(g) / n / 10, 1), min_mgdl=min(g, default=0) / 10, max_mgdl=max(g, default=0) / 10,
        insulin_pulses=result.pod_delivered, basal_pulses=result.pod_basal, bolus_pulses=result.pod_bolus,
        strokes_pushed=result.stroke_pushed, suspensions=len(suspends),
        suspended_minutes=sum(r.suspended for r in result.rows),
        first_suspend_minute=int(suspends[0]["minute"]) if suspends else None,
        below_20_minutes=sum(v < 200 for v in g),
        cgm_readings=sum(r.mgdl is not None for r in result.readings),
        cgm_gaps=sum(r.mgdl is None for r in result.readings),
        fault=result.fault, wall_s=round(result.wall_s, 1))


def summary_text(f: Figures, sc: Scenario, bg_unit: str = units.MG_DL) -> str:
    """The report a person reads: one figure a line."""
    def bg(v: float) -> str:
        return units.format_bg(round(v), bg_unit)

    def short(v: int) -> str:
        return units.format_bg(v, bg_unit, with_unit=False)
    lines = [
        f"patient            {f.patient} (seed {f.seed}), {f.minutes // 60} h from {sc.label(0)}",
        f"low-glucose suspend {f.lgs}" + (f" at {bg(sc.lgs_threshold)}" if f.lgs != "off" else ""),
        f"time in range      {f.in_range_pct:5.1f} %  ({bg(70)}–{bg(180)})",
        f"below {short(70)} / {short(54)}".ljust(19) + f"{f.below_70_pct:5.1f} % / {f.below_54_pct:.1f} %",
        f"above {short(180)} / {short(250)}".ljust(19) + f"{f.above_180_pct:5.1f} % / {f.above_250_pct:.1f} %",
        f"mean glucose       {bg(f.mean_mgdl)} (lowest {bg(f.min_mgdl)}, highest {bg(f.max_mgdl)})",
        f"insulin (pod)      {units.format_units(f.insulin_pulses)}: basal {units.format_units(f.basal_pulses)}, "
        f"bolus {units.format_units(f.bolus_pulses)}",
        f"reached patient    {units.format_units(f.strokes_pushed)} (the pod's stroke log)",
        f"suspensions        {f.suspensions} ({f.suspended_minutes // 60}h{f.suspended_minutes % 60:02d}m suspended)",
        f"CGM                {f.cgm_readings} readings, {f.cgm_gaps} gaps",
    ]
    if f.fault:
        lines.append(f"pod fault          {f.fault}: delivery stopped")
    if f.below_20_minutes:
        lines.append(f"note               the patient model was below {bg(20)} for {f.below_20_minutes} min: "
                     "beyond what the model represents; read it as a severe low")
    lines.append(f"wall time          {f.wall_s:.1f} s")
    return "\n".join(lines)


def write_csv(result: RunResult, path: Path) -> None:
    """One row per minute: time, pod clock, glucose, CGM (every 5 min), pulses, carbs, suspended."""
    readings = {r.minute: r for r in result.readings}
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["minute", "time", "pod_ms", "glucose_mgdl", "cgm_mgdl", "trend", "pulses_pushed",
                     "strokes_blocked", "carbs_g", "suspended"])
        for row in result.rows:
            r = readings.get(row.minute)
            w.writerow([row.minute, result.scenario.label(row.minute), row.pod_ms,
                        f"{row.glucose_tenths // 10}.{row.glucose_tenths % 10}",
                        "" if r is None or r.mgdl is None else r.mgdl, "" if r is None else r.trend,
                        row.pushed, row.blocked, row.carbs_g, int(row.suspended)])


def write_png(result: RunResult, path: Path) -> None:
    """Glucose with thresholds, CGM points, meals, suspensions shaded; insulin the pod delivered."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sc = result.scenario
    hours = [r.minute / 60 for r in result.rows]
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.axhspan(70, 180, color="#e8f5e9", zorder=0)
    for level, colour, name in ((54, "#b71c1c", "54"), (70, "#e53935", "70"), (180, "#fb8c00", "180"),
                                (250, "#6d4c41", "250")):
        ax.axhline(level, color=colour, lw=0.8, ls="--")
        ax.text(hours[-1] if hours else 0, level, f" {name}", color=colour, va="center", fontsize=8)
    start = None
    for r in result.rows + [None]:
        on = r is not None and r.suspended
        if on and start is None:
            start = r.minute  # type: ignore[union-attr]
        elif not on and start is not None:
            end = r.minute if r is not None else result.rows[-1].minute + 1
            for a in (ax, ax2):
                a.axvspan(start / 60, end / 60, color="#90a4ae", alpha=0.35, lw=0)
            start = None
    ax.plot(hours, [r.glucose_tenths / 10 for r in result.rows], color="#1565c0", lw=1.2, label="patient glucose")
    pts = [(r.minute / 60, r.mgdl) for r in result.readings if r.mgdl is not None]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=6, color="#263238", label="CGM", zorder=3)
    top_bg = max(400, max((r.glucose_tenths for r in result.rows), default=0) // 10 + 30)
    for m in sc.meals:
        ax.plot([m.minute / 60], [top_bg - 12], marker="v", color="#2e7d32", ms=6)
        ax.annotate(f"{m.grams} g", (m.minute / 60, top_bg - 30), fontsize=7, ha="center", color="#2e7d32")
    for e in result.events:
        if e["kind"] == "pod_fault":
            ax.axvline(e["minute"] / 60, color="black", lw=1)
            ax.text(e["minute"] / 60, top_bg - 60, f" pod fault {e['code']}", fontsize=8)
        elif e["kind"] == "pod_change":
            for a in (ax, ax2):
                a.axvline(e["minute"] / 60, color="#00897b", lw=1, ls="-.")
            ax.text(e["minute"] / 60, top_bg - 60, " new pod", fontsize=8, color="#00897b")
        elif e["kind"] == "occlusion":
            ax.axvline(e["minute"] / 60, color="purple", lw=1, ls=":")
            ax.text(e["minute"] / 60, top_bg - 80, " occlusion", fontsize=8, color="purple")
    ax.set_ylim(0, top_bg)
    ax.set_ylabel("glucose (mg/dL)")
    ax.set_title(f"{sc.patient}, seed {sc.seed}, LGS {sc.lgs_mode}: glucose, CGM and insulin the pod delivered "
                 "(grey = suspended)", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    # Insulin as the pod's mechanism pushed it, as a rate averaged over 30 minutes (shorter buckets
    # alias the basal's whole pulses): the basal shows as a floor, boluses go off the scale and are
    # labelled with their size.
    buckets: dict[int, int] = {}
    for r in result.rows:
        buckets[r.minute // 30] = buckets.get(r.minute // 30, 0) + r.pushed
    rates = {k: v * 2 / 20 for k, v in buckets.items()}  # pulses per 30 min -> U/h
    top = max(1.0, result.basal_pph / 20 * 3)
    ax2.bar([k / 2 for k in rates], [min(v, top) for v in rates.values()], width=0.5, align="edge",
            color="#6a1b9a")
    boluses = [e for e in result.events if e["kind"] == "bolus"]
    for e in boluses if len(boluses) <= 12 else []:  # more labels than that would overlap
        if e["kind"] == "bolus":
            ax2.text(e["minute"] / 60 + 0.1, top * 0.92, f"{units.format_units(int(e['pulses']))}", fontsize=7,
                     ha="left", va="top", color="#4a148c")
    ax2.set_ylim(0, top)
    ax2.set_ylabel("U/h (30-min mean)")
    ax2.set_xlabel(f"hours since {sc.label(0)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_all(result: RunResult, out: Path, bg_unit: str = units.MG_DL) -> Figures:
    """report.txt (glucose in `bg_unit`), figures.json, run.csv, events.json and run.png (mg/dL)
    into `out`; returns the figures."""
    out.mkdir(parents=True, exist_ok=True)
    f = figures(result)
    (out / "report.txt").write_text(summary_text(f, result.scenario, bg_unit) + "\n", encoding="utf-8")
    (out / "figures.json").write_text(json.dumps(f.to_json(), indent=1) + "\n", encoding="utf-8")
    (out / "events.json").write_text(json.dumps(result.events, indent=1) + "\n", encoding="utf-8")
    write_csv(result, out / "run.csv")
    write_png(result, out / "run.png")
    return f
