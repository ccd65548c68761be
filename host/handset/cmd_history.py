"""`handset history` (table, CSV, JSON, plot) from the records of ``handset.history``, and the
status readings that `status` and `alerts` add to them. Times are the pod's clock (pod age).
"""
from __future__ import annotations

import csv
import io
import sys
from typing import Any

import click

from handset import history as H
from handset import units
from handset.cmd_common import Options, alerts_text, common_options, reservoir_pulses, reservoir_text
from handset.podstatus import Status
from handset.state import StateStore


def note_reading(pod: Any, status: Status) -> None:
    """Record a status reading (reservoir, delivered count) and any newly active alerts, on pod time."""
    previous = [r for r in pod.store.history() if r.get("kind") == H.READING]
    pod.append({"kind": H.READING, "delivery": status.delivery, "progress": status.progress,
                "pulses_delivered": status.pulses_delivered, "bolus_remaining": status.bolus_remaining,
                "alerts": status.alerts, "minutes": status.minutes, "reservoir": status.reservoir}, status)
    new = status.alerts & ~int(previous[-1].get("alerts", 0)) if previous else status.alerts
    if new:
        configured = pod.record.alerts if pod.record is not None else None
        pod.append({"kind": H.ALARM, "alerts": new, "text": alerts_text(new, configured)}, status)


def _settled(records: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {int(r["settles"]): r for r in records if r.get("kind") == "settle" and r.get("settles") is not None}


def describe(record: dict[str, Any], outcome: dict[str, Any] | None) -> tuple[str, str, str] | None:
    """(category, event, detail) of a history record, or None for records shown through another."""
    kind = str(record.get("kind"))
    if kind == H.BOLUS:
        detail = units.format_units(int(record.get("immediate_pulses", 0)) + int(record.get("extended_pulses", 0)))
        if record.get("extended_pulses"):
            detail += (f" (extended {units.format_units(int(record['extended_pulses']))} over "
                       f"{units.format_minutes(int(record.get('extended_half_hours', 0)) * 30)})")
        return "delivery", "bolus", detail
    if kind == H.BOLUS_DELIVERED:
        if not record.get("final"):
            return None
        return ("delivery", f"bolus {record.get('how')}",
                f"{units.format_units(int(record.get('delivered_pulses', 0)))} delivered, "
                f"{units.format_units(int(record.get('not_delivered_pulses', 0)))} not delivered")
    if kind == H.TEMP_BASAL:
        return "delivery", "temp basal", (f"{units.format_rate(int(record['rate_pph']))} for "
                                          f"{units.format_minutes(int(record['half_hours']) * 30)}")
    if kind == H.TEMP_BASAL_END:
        return "delivery", "temp basal end", str(record.get("how", ""))
    if kind == H.BASAL:
        return "delivery", "basal program", str(record.get("how", ""))
    if kind == H.SUSPEND:
        return "delivery", "suspended", ""
    if kind == H.READING:
        reservoir = reservoir_pulses(record)
        return "status", "reading", (f"reservoir {reservoir_text(reservoir)}, "
                                     f"delivered {units.format_units(int(record.get('pulses_delivered', 0)))}")
    if kind in (H.ALARM, H.FAULT, H.RECONCILE):
        return ("alarm" if kind != H.RECONCILE else "pod"), kind, str(record.get("text", ""))
    if kind == "command":
        args = record.get("args") or {}
        shown = ", ".join(f"{k}={v}" for k, v in args.items() if k != "rates_pph")
        state = str((outcome or record).get("status", ""))
        return "command", str(record.get("command", "?")), f"{state}{'; ' + shown if shown else ''}"
    if kind == "settle":
        return None
    extra = ", ".join(f"{k}={record[k]}" for k in sorted(record)
                      if k not in ("at", "id", "kind", "event", "pod_ms", "pod") and not isinstance(record[k], (dict, list)))
    return "pod", str(record.get("event") or kind), extra


def history_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records people read, oldest first, each with its pod time and its settled outcome."""
    settled = _settled(records)
    rows = []
    for r in records:
        shown = describe(r, settled.get(int(r.get("id", 0))))
        if shown is None:
            continue
        category, event, detail = shown
        rows.append({"pod_ms": r.get("pod_ms"), "pod": r.get("pod"), "at": r.get("at"), "category": category,
                     "event": event, "detail": detail, "record": r})
    return rows


def pod_age(pod_ms: Any) -> str:
    """Pod time as pod age, "2h05m"; "-" before the pod's first status."""
    return "-" if pod_ms is None else units.format_minutes(int(pod_ms) // 60_000)


@click.command("history")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False),
              help="Draw basal, boluses and delivery on the pod's clock to FILE (.png added when it has no suffix).")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the last N events.")
@common_options()
def history_cmd(as_csv: bool, plot_file: str | None, limit: int | None, opts: Options) -> None:
    """Delivery, alarms and commands, oldest first, on the pod's clock (offline: what this handset recorded)."""
    out = opts.out
    records = StateStore(opts.state).history()
    rows = history_rows(records)
    if limit:
        rows = rows[-limit:]
    if plot_file:
        from handset import plot
        path = plot.plot_history(records, plot_file)
        out.good(f"Wrote {path}.") if not as_csv else None
    if out.json_mode:
        out.json([{k: r[k] for k in ("pod_ms", "pod", "at", "category", "event", "detail", "record")} for r in rows])
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("pod age", "pod", "category", "event", "detail"))
        for r in rows:
            writer.writerow((pod_age(r["pod_ms"]), r["pod"] or "", r["category"], r["event"], r["detail"]))
        sys.stdout.write(buffer.getvalue())
    elif not rows:
        out.line("No history yet.")
    else:
        out.table("History (pod age = the pod's clock)", ("pod age", "pod", "category", "event", "detail"),
                  [(pod_age(r["pod_ms"]), r["pod"] or "", r["category"], r["event"], r["detail"]) for r in rows])


COMMANDS: list[click.Command] = [history_cmd]
