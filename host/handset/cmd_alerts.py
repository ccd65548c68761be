"""Alerts and diagnostics: `handset alerts` (show, acknowledge, silence) and `handset diag`
(pulse log, detailed status, activation time, alert slots, test beeps).
"""
from __future__ import annotations

from typing import Any

import click

from handset import units
from handset.cmd_common import Options, alert_name, alerts_text, common_options, open_pod, reservoir_text
from handset.cmd_history import note_reading
from handset.errors import InvalidInput
from handset.podstatus import PROGRESS_NAMES


@click.command("alerts")
@click.option("--ack", is_flag=True, help="Acknowledge every active alert.")
@click.option("--silence", is_flag=True, help="Acknowledge the active alerts and make them silent from now on.")
@common_options()
def alerts_cmd(ack: bool, silence: bool, opts: Options) -> None:
    """Show the triggered alerts; --ack / --silence acknowledge them."""
    out = opts.out
    with open_pod(opts) as pod:
        status = pod.status()
        note_reading(pod, status)
        mask = status.alerts
        minutes = pod.triggered_alerts()
        configured = dict(pod.record.alerts) if pod.record is not None else {}
        acked = 0
        if silence and mask:
            pod.silence(mask)
        if (ack or silence) and mask:
            pod.acknowledge_alerts(mask)
            acked = mask
    rows = [(str(slot), alert_name(slot, configured), units.format_minutes(int(minutes[slot])))
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
        out.good(f"Acknowledged: {alerts_text(acked, configured)}.")
    else:
        out.line("Acknowledge them with `handset alerts --ack`.")


@click.group("diag")
def diag_group() -> None:
    """Diagnostics: the pod's pulse log, detailed status, activation time, alert slots and test beeps."""


@diag_group.command("pulse-log")
@common_options()
def diag_pulse_log(opts: Options) -> None:
    """The pod's log of its last strokes (up to 100), oldest first: kind and whether the plunger moved."""
    with open_pod(opts) as pod:
        log = pod.pulse_log_all()
    entries = log["entries"]
    if opts.json:
        opts.out.json(log)
        return
    first = log["last_index"] + 1 - len(entries)
    opts.out.table(f"Pulse log ({log['last_index'] + 1 if entries else 0} strokes logged, the last {len(entries)} kept)",
                   ("stroke", "kind", "moved", "encoder", "at or below 50 U"),
                   [(str(first + n), e["kind"], "yes" if e["moved"] else "NO", str(e["encoder"]),
                     "yes" if e["at_or_below_50u"] else "no") for n, e in enumerate(entries)])


@diag_group.command("detailed")
@common_options()
def diag_detailed(opts: Options) -> None:
    """The pod's detailed status (0E 02): also readable on a faulted pod."""
    with open_pod(opts) as pod:
        info = pod.detailed_status()
    if opts.json:
        opts.out.json({k: v for k, v in info.items() if k not in ("type", "length")})
        return
    items = [("progress", f"{info.get('progress')} ({PROGRESS_NAMES.get(int(info.get('progress', 0)), '?')})"),
             ("fault", "none" if not info.get("fault_code") else
              f"{info['fault_name']} (code 0x{int(info['fault_code']):02x}) at pod age "
              f"{units.format_minutes(int(info.get('fault_minutes', 0)))}"),
             ("insulin delivered", units.format_units(int(info.get("pulses_delivered", 0)))),
             ("bolus not delivered", units.format_units(int(info.get("bolus_remaining", 0)))),
             ("reservoir", reservoir_text(int(info.get("reservoir", 0x3FF)))),
             ("pod age", units.format_minutes(int(info.get("minutes", 0)))),
             ("alerts", alerts_text(int(info.get("alerts", 0)))),
             ("last programming seq", str(info.get("last_prog_seq"))),
             ("progress before a fault", str(info.get("previous_progress"))),
             ("occlusion type", str(info.get("occlusion_type"))),
             ("radio", f"gain {info.get('gain')}, RSSI {info.get('rssi')}")]
    opts.out.pairs("Detailed status", items)


@diag_group.command("activation-time")
@common_options()
def diag_activation_time(opts: Options) -> None:
    """When the pod was set up (the date and time the handset gave it) and its fault, if any (0E 05)."""
    with open_pod(opts) as pod:
        info = pod.activation_time()
    if opts.json:
        opts.out.json(info)
        return
    when = (f"20{int(info['year']):02d}-{int(info['month']):02d}-{int(info['day']):02d} "
            f"{int(info['hour']):02d}:{int(info['minute']):02d}")
    fault = "none" if not info.get("fault_code") else f"0x{int(info['fault_code']):02x} at pod minute {info['fault_minutes']}"
    opts.out.pairs("Activation time", [("set up at", when), ("fault", fault)])


@diag_group.command("alerts")
@common_options()
def diag_alerts(opts: Options) -> None:
    """Every alert slot: how the handset configured it and when the pod says it triggered (0E 01)."""
    with open_pod(opts) as pod:
        minutes = pod.triggered_alerts()
        configured: dict[str, Any] = dict(pod.record.alerts) if pod.record is not None else {}
    slots = []
    for slot in range(8):
        config = configured.get(str(slot))
        slots.append({"slot": slot, "name": alert_name(slot, configured), "configured": config,
                      "triggered_at_minute": int(minutes[slot]) or None})
    if opts.json:
        opts.out.json({"slots": slots})
        return
    rows = []
    for s in slots:
        c = s["configured"]
        if c is None:
            setting = "not configured"
        elif not c.get("active"):
            setting = "off"
        elif c.get("units_trigger"):
            setting = f"at {units.format_units(int(c['trigger']) * 2)} left"
        else:
            setting = f"after {units.format_minutes(int(c['trigger']))} (from its configuration)"
        fired = units.format_minutes(s["triggered_at_minute"]) if s["triggered_at_minute"] else "-"
        rows.append((str(s["slot"]), s["name"], setting, fired))
    opts.out.table("Alert slots", ("slot", "alert", "setting", "triggered at pod age"), rows)


@diag_group.command("beeps")
@click.argument("beep_type", type=int, default=2, required=False)
@common_options()
def diag_beeps(beep_type: int, opts: Options) -> None:
    """Sound the pod's beep BEEP_TYPE once as a test (1-8 or 11-13; default 2); completion beeps go off."""
    if not (1 <= beep_type <= 8 or 11 <= beep_type <= 13):
        raise InvalidInput(f"Beep type {beep_type} is not one the pod can sound on request: use 1 to 8 or 11 to 13.")
    with open_pod(opts) as pod:
        pod.beep(beep_type)
    if opts.json:
        opts.out.json({"ok": True, "beep_type": beep_type})
        return
    opts.out.good(f"The pod sounded beep type {beep_type}.")


COMMANDS: list[click.Command] = [alerts_cmd, diag_group]
