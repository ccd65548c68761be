"""Alerts and diagnostics: `handset alerts` (show, acknowledge, silence)."""
from __future__ import annotations

import click

from handset import units
from handset.cmd_common import ALERT_NAMES, Options, alerts_text, common_options, field, open_pod
from handset.cmd_history import note_reading

@click.command("alerts")
@click.option("--ack", is_flag=True, help="Acknowledge every active alert.")
@click.option("--silence", is_flag=True, help="Acknowledge the active alerts and make them silent from now on.")
@common_options()
def alerts_cmd(ack: bool, silence: bool, opts: Options) -> None:
    """Show the triggered alerts; --ack / --silence acknowledge them."""
    out = opts.out
    with open_pod(opts) as pod:
        status = pod.status()
        note_reading(opts, status)
        mask = int(field(status, "alerts", 0))
        triggered = pod.triggered_alerts()
        minutes = list(triggered if isinstance(triggered, list) else field(triggered, "alert_minutes", []) or [])
        acked = 0
        if silence and mask:
            pod.silence(mask)
        if (ack or silence) and mask:
            pod.acknowledge_alerts(mask)
            acked = mask
    rows = [(str(slot), ALERT_NAMES[slot], units.format_minutes(int(minutes[slot])) if slot < len(minutes) else "?")
            for slot in range(8) if mask & (1 << slot)]
    if out.json_mode:
        out.json({"alerts": mask, "active": [{"slot": int(r[0]), "name": r[1]} for r in rows],
                  "alert_minutes": minutes, "acknowledged": acked})
        return
    if not rows:
        out.good("No alerts are active.")
        return
    out.table("Active alerts", ("slot", "alert", "pod age when triggered"), rows)
    if acked:
        out.good(f"Acknowledged: {alerts_text(acked)}.")
    else:
        out.line("Acknowledge them with `handset alerts --ack`.")


COMMANDS: list[click.Command] = [alerts_cmd]
