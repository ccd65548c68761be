"""`handset history` (table, CSV, JSON, plot) and the status readings the other commands journal."""
from __future__ import annotations

import csv
import datetime as _dt
import io
import sys
import time
from typing import Any

import click

from handset import units
from handset.settings import BasalPrograms, Journal
from handset.cmd_common import Options, alerts_text, common_options, field, reservoir_pulses, reservoir_text

def note_reading(opts: Options, status: Any) -> None:
    """Journal a status reading (for the reservoir plot) and any newly active alerts."""
    journal = Journal(opts.state)
    alerts = int(field(status, "alerts", 0))
    previous = [e for e in journal.entries() if e.get("kind") == "reading"]
    journal.append("reading", reservoir=reservoir_pulses(status),
                   pulses_delivered=int(field(status, "pulses_delivered", 0)),
                   minutes=int(field(status, "minutes", 0)), alerts=alerts)
    new = alerts & ~int(previous[-1].get("alerts", 0)) if previous else alerts
    if new:
        journal.append("alarm", alerts=new, text=alerts_text(new))


def _describe_entry(entry: dict[str, Any]) -> tuple[str, str, str]:
    """(category, event, detail) of a journal entry."""
    kind = str(entry.get("kind"))
    if kind == "bolus":
        detail = units.format_units(int(entry.get("pulses", 0)))
        if entry.get("extended"):
            detail += f" (extended {units.format_units(int(entry['extended']))} over " \
                      f"{units.format_minutes(int(entry.get('half_hours', 0)) * 30)})"
        return "delivery", "bolus", detail
    if kind == "bolus_result":
        return "delivery", "bolus cancelled" if entry.get("cancelled") else "bolus done", \
            f"{units.format_units(int(entry.get('delivered', 0)))} delivered"
    if kind == "temp_basal":
        return "delivery", "temp basal", f"{units.format_rate(int(entry['rate_pph']))} for " \
                                         f"{units.format_minutes(int(entry['half_hours']) * 30)}"
    if kind == "reading":
        return "status", "reading", f"reservoir {reservoir_text(int(entry.get('reservoir', 0x3FF)))}, " \
                                    f"delivered {units.format_units(int(entry.get('pulses_delivered', 0)))}"
    if kind in ("alarm", "fault"):
        return "alarm", kind, str(entry.get("text", ""))
    detail = str(entry.get("program", "")) if "program" in entry else ""
    return "delivery", kind.replace("_", " "), detail


def history_rows(opts: Options) -> list[dict[str, Any]]:
    """The journal and the library's command records, merged in time order."""
    rows: list[dict[str, Any]] = []
    for entry in Journal(opts.state).entries():
        category, event, detail = _describe_entry(entry)
        rows.append({"time": int(entry.get("time", 0)), "category": category, "event": event, "detail": detail,
                     "record": entry})
    from handset.state import StateStore
    records = StateStore(opts.state).history()
    # A command's outcome may come later in a "settle" record: show the command with its final outcome.
    outcome = {r.get("settles"): str(r.get("status")) for r in records if r.get("kind") == "settle"}
    for record in records:
        kind = str(record.get("kind", "record"))
        if kind == "settle":
            continue
        try:
            moment = int(_dt.datetime.fromisoformat(str(record.get("at"))).timestamp())
        except ValueError:
            continue
        if kind == "command":
            args = record.get("args") or {}
            shown_args = ", ".join(f"{k}={v}" for k, v in args.items() if k != "rates_pph")
            detail = outcome.get(record.get("id"), str(record.get("status", "")))
            rows.append({"time": moment, "category": "command", "event": str(record.get("command", "?")),
                         "detail": f"{detail}{'; ' + shown_args if shown_args else ''}", "record": record})
        else:
            name = str(record.get("event") or kind)
            extra = ", ".join(f"{k}={record[k]}" for k in sorted(record)
                              if k not in ("at", "id", "kind", "event") and not isinstance(record[k], (dict, list)))
            rows.append({"time": moment, "category": "pod", "event": name, "detail": extra, "record": record})
    rows.sort(key=lambda r: r["time"])
    return rows


@click.command("history")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False), help="Draw basal, boluses and reservoir to FILE.png.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the last N events.")
@common_options()
def history_cmd(as_csv: bool, plot_file: str | None, limit: int | None, opts: Options) -> None:
    """Delivery, alarms and commands, oldest first (offline: what this handset recorded)."""
    out = opts.out
    rows = history_rows(opts)
    if limit:
        rows = rows[-limit:]
    if plot_file:
        from handset import plot
        programs = BasalPrograms.load(opts.state)
        now = int(time.time())
        series = plot.series_from_journal(Journal(opts.state).entries(), programs.programs, now)
        path = plot.render(series, plot_file, now)
        if not out.json_mode and not as_csv:
            out.good(f"Wrote {path}.")
    stamp = lambda t: _dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S")  # noqa: E731
    if out.json_mode:
        out.json([{"time": stamp(r["time"]), "category": r["category"], "event": r["event"], "detail": r["detail"],
                   "record": r["record"]} for r in rows])
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("time", "category", "event", "detail"))
        for r in rows:
            writer.writerow((stamp(r["time"]), r["category"], r["event"], r["detail"]))
        sys.stdout.write(buffer.getvalue())
    elif not rows:
        out.line("No history yet.")
    else:
        out.table("History", ("time", "category", "event", "detail"),
                  [(stamp(r["time"]), r["category"], r["event"], r["detail"]) for r in rows])


COMMANDS: list[click.Command] = [history_cmd]
