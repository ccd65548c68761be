"""`handset cgm`: the CGM history the handset keeps (readings every 5 minutes, trend, alerts)."""
from __future__ import annotations

import csv
import io
import sys

import click

from handset.cmd_common import Options, common_options


@click.command("cgm")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the last N readings.")
@common_options()
def cgm_cmd(as_csv: bool, limit: int | None, opts: Options) -> None:
    """CGM readings, oldest first: pod time, glucose, trend arrow, high/low alerts; gaps shown as such."""
    from handset import units
    from handset.settings import Settings
    from patient import cgm
    out = opts.out
    readings = cgm.read_log(opts.state)
    if limit:
        readings = readings[-limit:]
    unit = Settings.load(opts.state).bg_unit

    def clock(ms: int) -> str:
        minutes = ms // 60_000
        return f"{minutes // 1440}d {minutes % 1440 // 60:02d}:{minutes % 60:02d}"

    if out.json_mode:
        out.json([r.to_json() for r in readings])
    elif as_csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(("at", "pod_ms", "minute", "mgdl", "trend", "rate_mgdl_per_min", "alert"))
        for r in readings:
            rate = "" if r.rate_tenths is None else f"{r.rate_tenths / 10:.1f}"
            writer.writerow((r.at, r.pod_ms, r.minute, "" if r.mgdl is None else r.mgdl, r.trend, rate, r.alert))
        sys.stdout.write(buffer.getvalue())
    elif not readings:
        out.line("No CGM readings yet: `handset sim` runs a patient with a CGM.")
    else:
        out.table("CGM", ("time", "pod time", "glucose", "trend", "alert"),
                  [(r.at, clock(r.pod_ms), "sensor out" if r.mgdl is None else units.format_bg(r.mgdl, unit),
                    r.trend, r.alert) for r in readings])


COMMANDS: list[click.Command] = [cgm_cmd]
