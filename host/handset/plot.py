"""`handset history --plot FILE`: the insulin the pod delivered, drawn on the pod's own clock.

Two steps, so that what is drawn can be tested apart from the drawing:

* `from_history(records)` turns the handset's history records (kinds and fields: `handset.history`)
  into a `DeliveryPlot`: integer pulses and pod milliseconds only. Only what the pod accepted is
  there (a refused or unconfirmed command has no `bolus`, `temp_basal`, `basal` or `suspend`
  record), and each bolus carries the pod's own account of what it delivered.
* `render(plot, path)` draws it with matplotlib's Agg backend (no display needed): basal as steps,
  the program's rate (scheduled) against the rate the pod ran (delivered: temp basal in its place,
  nothing while suspended); each bolus as a marker labelled with its amount; extended boluses as
  spans; suspensions shaded; below, the pod's count of all insulin delivered, from its statuses
  (status reads and the status that settled each command).

The x axis is the pod's clock (hours:minutes since pairing: real, sped up or virtual), never the
host's. Insulin becomes units (pulses / 20) only as plot coordinates and in labels made by
`units.format_units`.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt  # noqa: E402  (the backend must be chosen first)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MultipleLocator  # noqa: E402

from handset import history, units  # noqa: E402
from handset.errors import InvalidInput  # noqa: E402

HALF_HOUR_MS = 1_800_000
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000
PULSES_PER_UNIT = 20
SUFFIXES = (".png", ".svg", ".pdf")
#: Spacing of the time ticks, the smallest that gives at most 12 ticks.
TICK_MINUTES = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)


@dataclass(frozen=True)
class BolusMark:
    """One bolus the pod accepted: when it started, what was asked, what the pod says it delivered."""

    pod_ms: int
    immediate: int
    extended: int
    delivered: int
    how: str                      # "running", "done", "cancelled", "stopped by the pod", "unaccounted"
    extended_end_ms: int | None   # when the extended part ended or will end (None: no extended part)
    extended_minutes: int = 0     # the extended part's planned duration

    @property
    def requested(self) -> int:
        """Immediate plus extended pulses asked for."""
        return self.immediate + self.extended


@dataclass
class DeliveryPlot:
    """What the plot shows, on the pod's clock (ms since pairing); rates in pulses per hour."""

    pod: str = ""
    start_ms: int = 0
    end_ms: int = 0
    scheduled: list[tuple[int, int]] = field(default_factory=list)   # (from, program rate)
    delivered: list[tuple[int, int]] = field(default_factory=list)   # (from, rate the pod ran)
    boluses: list[BolusMark] = field(default_factory=list)
    suspensions: list[tuple[int, int]] = field(default_factory=list)  # (from, to)
    totals: list[tuple[int, int]] = field(default_factory=list)       # (at, pod's pulses delivered)


@dataclass(frozen=True)
class _Program:
    """A basal program as the pod runs it: 48 half-hour rates, anchored to the time of day."""

    rates: tuple[int, ...]
    start_ms: int        # pod time when it was sent
    time_of_day_ms: int  # local time of day at that moment (the handset builds the 1A from it)

    def rate_at(self, pod_ms: int) -> int:
        return self.rates[((self.time_of_day_ms + pod_ms - self.start_ms) % DAY_MS) // HALF_HOUR_MS]

    def next_change(self, pod_ms: int) -> int:
        """The pod time of the next half-hour boundary of the program after pod_ms."""
        into = (self.time_of_day_ms + pod_ms - self.start_ms) % HALF_HOUR_MS
        return pod_ms + HALF_HOUR_MS - into


def _time_of_day_ms(record: dict[str, Any]) -> int:
    """The local time of day at a `basal` record: its `time_of_day_ms`, else from its host time `at`."""
    if isinstance(record.get("time_of_day_ms"), int):
        return int(record["time_of_day_ms"]) % DAY_MS
    try:
        moment = _dt.datetime.fromisoformat(str(record.get("at"))).astimezone()
    except ValueError:
        return 0
    return ((moment.hour * 60 + moment.minute) * 60 + moment.second) * 1000


def _latest_pod(records: list[dict[str, Any]]) -> str:
    for record in reversed(records):
        if record.get("pod") and record.get("pod_ms") is not None:
            return str(record["pod"])
    return ""


def from_history(records: Iterable[dict[str, Any]], pod: str | None = None,
                 end_ms: int | None = None) -> DeliveryPlot:
    """The plot of one pod (default: the latest one) from history records.

    Records without a pod time (`pod_ms` None) cannot be placed and are left out; so are other
    pods' records (each pod's clock starts at its pairing). `end_ms` defaults to the latest pod
    time in the records.
    """
    ordered = [r for r in records if isinstance(r, dict)]
    pod = _latest_pod(ordered) if pod is None else pod
    mine = sorted((r for r in ordered if r.get("pod_ms") is not None and str(r.get("pod", "")) == pod),
                  key=lambda r: (int(r["pod_ms"]), int(r.get("id", 0))))
    plot = DeliveryPlot(pod=pod)
    if not mine:
        return plot
    plot.start_ms = int(mine[0]["pod_ms"])
    plot.end_ms = max(int(r["pod_ms"]) for r in mine) if end_ms is None else end_ms
    _rates(plot, mine)
    _boluses(plot, mine)
    plot.totals = _totals(mine)
    return plot


def _totals(mine: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """The pod's own count of pulses delivered: from every status read and every status that
    settled a command, one point per pod time (the latest wins)."""
    counts: dict[int, int] = {}
    for r in mine:
        if r.get("kind") == history.READING:
            status = r
        elif r.get("kind") == "settle" and isinstance(r.get("status_after"), dict):
            status = r["status_after"]
        else:
            continue
        if isinstance(status.get("pulses_delivered"), int):
            counts[int(r["pod_ms"])] = int(status["pulses_delivered"])
    return sorted(counts.items())


def _rates(plot: DeliveryPlot, mine: list[dict[str, Any]]) -> None:
    """Walk the pod's time from event to event and half hour to half hour, noting each rate change."""
    temps = [t for t in history.temp_basals(mine) if t.pod_ms is not None]
    events = [r for r in mine if r.get("kind") in (history.BASAL, history.SUSPEND)
              or (r.get("kind") == "event" and r.get("event") == "deactivated")]
    moments = {int(r["pod_ms"]) for r in events}
    for temp in temps:
        moments.add(int(temp.pod_ms or 0))
        if temp.end_ms is not None:
            moments.add(temp.end_ms)
    program: _Program | None = None
    suspended_since: int | None = None
    index = 0
    t = min(moments, default=plot.start_ms)
    while t <= plot.end_ms:
        while index < len(events) and int(events[index]["pod_ms"]) <= t:
            record = events[index]
            kind = record.get("kind")
            if kind == history.BASAL and len(record.get("rates_pph") or []) == 48:
                program = _Program(tuple(int(x) for x in record["rates_pph"]), int(record["pod_ms"]),
                                   _time_of_day_ms(record))
                if suspended_since is not None:
                    plot.suspensions.append((suspended_since, int(record["pod_ms"])))
                    suspended_since = None
            elif kind == history.SUSPEND and suspended_since is None:
                suspended_since = int(record["pod_ms"])
            elif kind == "event":  # deactivated: nothing runs any more
                program = None
                if suspended_since is not None:
                    plot.suspensions.append((suspended_since, int(record["pod_ms"])))
                    suspended_since = None
            index += 1
        scheduled = program.rate_at(t) if program else 0
        temp = next((x for x in reversed(temps) if int(x.pod_ms or 0) <= t and (x.end_ms is None or t < x.end_ms)),
                    None)
        running = 0 if program is None or suspended_since is not None else (temp.rate_pph if temp else scheduled)
        for steps, rate in ((plot.scheduled, scheduled), (plot.delivered, running)):
            if not steps or steps[-1][1] != rate:
                steps.append((t, rate))
        later = [m for m in moments if m > t]
        if program is not None:
            later.append(program.next_change(t))
        if not later:
            break
        t = min(later)
    if suspended_since is not None:
        plot.suspensions.append((suspended_since, plot.end_ms))


def _boluses(plot: DeliveryPlot, mine: list[dict[str, Any]]) -> None:
    last_account = {int(r["ref"]): int(r["pod_ms"]) for r in mine if r.get("kind") == history.BOLUS_DELIVERED}
    for bolus in history.boluses(mine):
        if bolus.pod_ms is None:
            continue
        end = None
        if bolus.extended:
            # The extended part follows the immediate one (2 s a pulse) and runs its half hours,
            # unless the pod's last account says it stopped earlier.
            end = bolus.pod_ms + bolus.immediate * 2000 + bolus.extended_half_hours * HALF_HOUR_MS
            if bolus.final and bolus.how != "done" and bolus.ref in last_account:
                end = min(end, last_account[bolus.ref])
        plot.boluses.append(BolusMark(bolus.pod_ms, bolus.immediate, bolus.extended, bolus.delivered, bolus.how, end,
                                      bolus.extended_half_hours * 30))


# --- drawing -----------------------------------------------------------------------------------------

def output_path(path: str | Path) -> Path:
    """The file to write: `.png` added when the name has no suffix; InvalidInput for an unknown one."""
    target = Path(path)
    if target.suffix == "":
        return target.with_name(target.name + ".png")
    if target.suffix.lower() not in SUFFIXES:
        raise InvalidInput(f"The plot file {target} ends in {target.suffix}: name it .png, .svg or .pdf "
                           "(or give no suffix for .png).")
    return target


def _hours(ms: int) -> float:
    # A time coordinate for matplotlib, never an insulin amount.
    return ms / HOUR_MS


def _clock(value: float, _position: object = None) -> str:
    minutes = round(value * 60)
    return f"{minutes // 60}:{minutes % 60:02d}" if minutes >= 0 else ""  # no pod time before pairing


def bolus_label(mark: BolusMark) -> str:
    """The text next to a bolus marker: what the pod delivered, and of what when it differs."""
    text = units.format_units(mark.delivered)
    if mark.delivered != mark.requested:
        text = f"{units.format_units(mark.delivered, unit=False)} of {units.format_units(mark.requested)}"
    if mark.how == "unaccounted":  # the pod has not said yet: show what was asked, marked as such
        return f"{units.format_units(mark.requested)} asked (no account from the pod yet)"
    if mark.how == "running" or (mark.how in ("cancelled", "stopped by the pod") and mark.delivered < mark.requested):
        text += f" ({mark.how})"  # a bolus stopped after its last pulse was delivered whole: no remark
    return text


def extended_label(mark: BolusMark) -> str:
    """The text under an extended span: the part asked for, and when it stopped early."""
    text = f"extended {units.format_units(mark.extended)} over {units.format_minutes(mark.extended_minutes)}"
    planned_end = mark.pod_ms + mark.immediate * 2000 + mark.extended_minutes * MINUTE_MS
    if mark.extended_end_ms is not None and mark.extended_end_ms < planned_end:
        text += f", stopped after {units.format_minutes((mark.extended_end_ms - mark.pod_ms) // MINUTE_MS)}"
    return text


def _steps(ax: Any, steps: list[tuple[int, int]], end_ms: int, **style: Any) -> None:
    if not steps:
        return
    xs = [_hours(t) for t, _ in steps] + [_hours(max(end_ms, steps[-1][0]))]
    ys = [pph / PULSES_PER_UNIT for _, pph in steps]
    ax.step(xs, ys + ys[-1:], where="post", **style)


def render(plot: DeliveryPlot, path: str | Path, title: str | None = None) -> Path:
    """Draw the plot into `path` (`.png` added when it has no suffix); returns the file written."""
    target = output_path(path)
    if not (plot.delivered or plot.boluses or plot.totals):
        raise InvalidInput("The history holds no delivery on a pod's clock yet: activate a pod (or give a bolus) "
                           "and plot again.")
    figure: Figure = plt.figure(figsize=(11, 6.5), dpi=100)
    try:
        rates, totals = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
        _draw_rates(rates, plot)
        _draw_totals(totals, plot)
        span_h = _hours(plot.end_ms - plot.start_ms)
        step_min = next((m for m in TICK_MINUTES if span_h * 60 / m <= 12), 2880)
        totals.xaxis.set_major_locator(MultipleLocator(step_min / 60))
        totals.xaxis.set_major_formatter(FuncFormatter(_clock))
        totals.set_xlabel("pod time since pairing (h:mm, the pod's own clock)")
        margin = max(span_h * 0.02, 0.5 / 60)
        totals.set_xlim(_hours(plot.start_ms) - margin, _hours(plot.end_ms) + margin)
        rates.set_title(title or f"Insulin delivered by pod {plot.pod or '(unknown)'}")
        figure.tight_layout()
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target)
        return target
    finally:
        plt.close(figure)


def _draw_rates(ax: Any, plot: DeliveryPlot) -> None:
    for start, end in plot.suspensions:
        ax.axvspan(_hours(start), _hours(end), color="tab:red", alpha=0.12, lw=0,
                   label="suspended" if start == plot.suspensions[0][0] else None)
    _steps(ax, plot.scheduled, plot.end_ms, color="0.45", ls="--", lw=1.5, label="basal scheduled (program)")
    _steps(ax, plot.delivered, plot.end_ms, color="tab:blue", lw=2.2, label="basal delivered (U/h)")
    ax.set_ylabel("basal rate (U/h)")
    top = max([pph for _, pph in plot.scheduled + plot.delivered] + [PULSES_PER_UNIT]) / PULSES_PER_UNIT
    ax.set_ylim(0, top * 1.35)
    ax.grid(True, alpha=0.3)
    boluses = ax.twinx()
    boluses.set_ylabel("bolus (U)", color="tab:orange")
    biggest = max([m.requested for m in plot.boluses] + [PULSES_PER_UNIT]) / PULSES_PER_UNIT
    boluses.set_ylim(0, biggest * 1.45)
    label_box = {"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85}
    for n, mark in enumerate(plot.boluses):
        shown = mark.requested if mark.how == "unaccounted" else mark.delivered
        x, y = _hours(mark.pod_ms), shown / PULSES_PER_UNIT
        full = mark.how != "unaccounted" and mark.delivered == mark.requested  # hollow: less than asked
        if mark.extended_end_ms is not None:
            # The extended part as a span at the bolus' height, from its start to its end.
            boluses.plot([x, _hours(mark.extended_end_ms)], [y, y], color="tab:orange", lw=7, alpha=0.3,
                         solid_capstyle="butt", label="extended bolus (span)" if n == _first_extended(plot) else None)
            boluses.annotate(extended_label(mark),
                             (_hours(mark.extended_end_ms), y), xytext=(0, -14), textcoords="offset points",
                             fontsize=8, color="tab:orange", ha="right", bbox=label_box)
        boluses.vlines(x, 0, y, color="tab:orange", lw=1, alpha=0.7)
        boluses.plot([x], [y], marker="v", ms=9, color="tab:orange", mfc="tab:orange" if full else "white",
                     ls="none", label="bolus, as the pod delivered it" if n == 0 else None)
        boluses.annotate(bolus_label(mark), (x, y), xytext=(0, 9), textcoords="offset points", fontsize=8,
                         color="tab:orange", ha="center", bbox=label_box)
    handles, labels = [], []
    for axis in (ax, boluses):
        h, lab = axis.get_legend_handles_labels()
        handles += h
        labels += lab
    ax.legend(handles, labels, loc="upper left", fontsize="small", ncol=3, framealpha=0.9)


def _first_extended(plot: DeliveryPlot) -> int:
    return next((n for n, m in enumerate(plot.boluses) if m.extended_end_ms is not None), -1)


def _draw_totals(ax: Any, plot: DeliveryPlot) -> None:
    if plot.totals:
        xs = [_hours(t) for t, _ in plot.totals]
        ys = [p / PULSES_PER_UNIT for _, p in plot.totals]
        # Straight lines between the statuses: the pod's count is known only at each status.
        ax.plot(xs, ys, "o-", ms=3, lw=1.5, color="tab:green")
        ax.annotate(units.format_units(plot.totals[-1][1]), (xs[-1], ys[-1]), xytext=(-4, -12),
                    textcoords="offset points", fontsize=8, color="tab:green", ha="right")
    ax.set_ylabel("delivered (U)\nthe pod's count")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)


def plot_history(records: Iterable[dict[str, Any]], path: str | Path, pod: str | None = None) -> Path:
    """`handset history --plot FILE`: draw the latest pod's (or `pod`'s) deliveries; returns the file."""
    return render(from_history(records, pod), path)
