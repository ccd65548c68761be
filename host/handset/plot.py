"""Draw the delivery history as a PNG: basal rate (steps), boluses (bars) and reservoir over time.

`series_from_journal()` turns the handset's journal into three integer series; `render()` draws
them with matplotlib's Agg backend (no display needed). Insulin stays in integer pulses until the
last moment, where it is divided by 20 for the axis labels only.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")

from matplotlib import dates as mdates  # noqa: E402  (the backend must be chosen first)
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

RESERVOIR_ABOVE_50 = 0x3FF
HALF_HOUR_S = 1800


@dataclass
class DeliverySeries:
    """What to draw; times are host epoch seconds, amounts integer pulses."""

    basal: list[tuple[int, int]] = field(default_factory=list)       # (from time, pulses/hour)
    boluses: list[tuple[int, int]] = field(default_factory=list)     # (time, pulses delivered)
    reservoir: list[tuple[int, int]] = field(default_factory=list)   # (time, pulses; 0x3ff = above 50 U)


def _local_half_hour(t: int) -> int:
    moment = _dt.datetime.fromtimestamp(t)
    return moment.hour * 2 + moment.minute // 30


def series_from_journal(entries: Iterable[dict[str, Any]], programs: dict[str, list[int]],
                        end_s: int) -> DeliverySeries:
    """Rebuild the basal rate, the boluses and the reservoir readings from journal entries.

    The rate follows the running program through the (local) half hours, replaced by a temp basal
    until it ends or is cancelled, and is 0 while suspended or after deactivation.
    """
    series = DeliverySeries()
    ordered = sorted(entries, key=lambda e: int(e.get("time", 0)))
    results = {e.get("ref"): int(e.get("delivered", 0)) for e in ordered if e.get("kind") == "bolus_result"}
    # Events that change the rate: (time, what, data).
    program: list[int] | None = None
    temp: tuple[int, int] | None = None   # (rate, end time)
    suspended = False
    changes: list[tuple[int, dict[str, Any]]] = []
    for entry in ordered:
        kind = entry.get("kind")
        t = int(entry.get("time", 0))
        if kind == "bolus":
            series.boluses.append((t, results.get(entry.get("ref"), int(entry.get("pulses", 0)))))
        elif kind == "reading" and "reservoir" in entry:
            series.reservoir.append((t, int(entry["reservoir"])))
        elif kind in ("activate", "basal_use", "temp_basal", "cancel_temp", "suspend", "resume", "deactivate"):
            changes.append((t, entry))
    if not changes:
        return series
    start = changes[0][0]
    # Walk time from the first change to the end, stopping at each change and each half-hour boundary.
    points = sorted({t for t, _ in changes} | set(range(start - start % HALF_HOUR_S + HALF_HOUR_S, end_s + 1, HALF_HOUR_S)))
    index = 0
    for t in points:
        while index < len(changes) and changes[index][0] <= t:
            entry = changes[index][1]
            kind = entry["kind"]
            if kind in ("activate", "basal_use"):
                program = programs.get(str(entry.get("program")), program)
                suspended = False
                if kind == "activate":
                    temp = None
            elif kind == "temp_basal":
                temp = (int(entry["rate_pph"]), changes[index][0] + int(entry["half_hours"]) * HALF_HOUR_S)
            elif kind == "cancel_temp":
                temp = None
            elif kind in ("suspend", "deactivate"):
                suspended, temp = True, None
                if kind == "deactivate":
                    program = None
            elif kind == "resume":
                suspended = False
            index += 1
        if temp is not None and temp[1] <= t:
            series.basal.append((temp[1], _rate(program, temp[1], suspended)))
            temp = None
        rate = 0 if suspended or program is None else (temp[0] if temp else program[_local_half_hour(t)])
        if not series.basal or series.basal[-1][1] != rate:
            series.basal.append((t, rate))
    if temp is not None and temp[1] <= end_s:
        series.basal.append((temp[1], _rate(program, temp[1], suspended)))
    return series


def _rate(program: list[int] | None, t: int, suspended: bool) -> int:
    return 0 if suspended or program is None else program[_local_half_hour(t)]


def render(series: DeliverySeries, path: str | Path, end_s: int, title: str = "Insulin delivery") -> Path:
    """Draw the series into a PNG file at `path` and return the path."""
    figure: Figure = plt.figure(figsize=(10, 5), dpi=100)
    try:
        rate_axis = figure.add_subplot(1, 1, 1)
        def when(t: int) -> float:
            # Matplotlib's date axis counts days as floats: a time coordinate, never an insulin amount.
            return float(mdates.date2num(_dt.datetime.fromtimestamp(t)))

        rate_axis.xaxis_date()
        if series.basal:
            xs = [when(t) for t, _ in series.basal] + [when(max(end_s, series.basal[-1][0]))]
            ys = [pph / 20 for _, pph in series.basal]
            ys.append(ys[-1])
            rate_axis.step(xs, ys, where="post", color="tab:blue", label="basal rate (U/h)")
        rate_axis.set_ylabel("basal rate (U/h)")
        rate_axis.set_ylim(bottom=0)
        bolus_axis = rate_axis.twinx()
        if series.boluses:
            bolus_axis.bar([when(t) for t, _ in series.boluses], [p / 20 for _, p in series.boluses],
                           width=0.004, color="tab:orange", label="bolus (U)")
        bolus_axis.set_ylabel("bolus (U)")
        bolus_axis.set_ylim(bottom=0)
        if series.reservoir:
            reservoir_axis = rate_axis.twinx()
            reservoir_axis.spines["right"].set_position(("axes", 1.1))
            known = [(when(t), p / 20) for t, p in series.reservoir if p != RESERVOIR_ABOVE_50]
            above = [when(t) for t, p in series.reservoir if p == RESERVOIR_ABOVE_50]
            if known:
                reservoir_axis.plot([x for x, _ in known], [y for _, y in known], "g.-", label="reservoir (U)")
            if above:
                reservoir_axis.plot(above, [50] * len(above), "g^", label="reservoir above 50 U")
            reservoir_axis.set_ylabel("reservoir (U)")
            reservoir_axis.set_ylim(0, 55)
        rate_axis.set_title(title)
        rate_axis.set_xlabel("time")
        figure.autofmt_xdate()
        handles, labels = [], []
        for axis in figure.axes:
            h, lab = axis.get_legend_handles_labels()
            handles += h
            labels += lab
        if handles:
            rate_axis.legend(handles, labels, loc="upper left", fontsize="small")
        figure.tight_layout()
        target = Path(path)
        figure.savefig(target, format="png")
        return target
    finally:
        plt.close(figure)
