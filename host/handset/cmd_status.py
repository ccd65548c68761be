"""`handset status`: the pod's own status (delivery, age, reservoir, alerts by name), what runs
(the temp basal's rate and time left, the bolus by part, all on the pod's clock), the last bolus
and insulin on board from the pod's records — and, for a faulted pod, the fault's details.
"""
from __future__ import annotations

from typing import Any

import click

from handset import history as H
from handset import insulin, units
from handset.cmd_common import (
    POD_MAX_MINUTES,
    POD_NOMINAL_MINUTES,
    Options,
    alerts_text,
    common_options,
    delivery_text,
    open_pod,
    reservoir_pulses,
    reservoir_text,
)
from handset.cmd_delivery import account_json
from handset.cmd_history import note_reading
from handset.errors import PodFaulted, fault_name
from handset.podstatus import PROGRESS_NAMES, Status
from handset.settings import BasalPrograms, Settings


@click.command("status")
@common_options()
def status_cmd(opts: Options) -> None:
    """The pod's delivery, age, reservoir, alerts, what runs, last bolus and insulin on board."""
    out = opts.out
    with open_pod(opts) as pod:
        try:
            status = pod.status()
        except PodFaulted as exc:
            _show_fault(opts, exc)
            raise
        note_reading(pod, status)
        summary = status_summary(opts, pod.store.history(), status,
                                 pod.record.alerts if pod.record is not None else None)
    from patient.cgm import status_item  # the CGM of `handset sim`, when this state directory has one
    cgm_item = status_item(opts.state, summary["minutes"] * 60_000, Settings.load(opts.state).bg_unit)
    if cgm_item:
        summary["cgm"] = cgm_item[1]
    if out.json_mode:
        out.json(summary)
        return
    items = [("delivery", summary["delivery_text"]),
             ("pod", summary["progress_text"]),
             ("pod age", f"{units.format_minutes(summary['minutes'])} "
                         f"({units.format_minutes(summary['minutes_to_expiry'])} to expiry at 72 h, "
                         f"{units.format_minutes(summary['minutes_to_shutdown'])} to shutdown at 80 h)"),
             ("reservoir", summary["reservoir_text"]),
             ("insulin delivered", units.format_units(summary["pulses_delivered"])),
             ("alerts", summary["alerts_text"])]
    temp = summary.get("temp_basal")
    if temp:
        items.append(("temp basal", f"{units.format_rate(temp['rate_pph'])}, "
                                    f"{units.format_minutes(temp['minutes_left'])} left of "
                                    f"{units.format_minutes(temp['half_hours'] * 30)}"))
    bolus = summary.get("bolus")
    if bolus and not bolus["final"]:
        text = (f"{units.format_units(bolus['delivered_pulses'])} of {units.format_units(bolus['requested_pulses'])} "
                f"delivered")
        if bolus["extended_pulses"]:
            text += (f" (immediate {units.format_units(bolus['immediate_delivered_pulses'], False)} of "
                     f"{units.format_units(bolus['immediate_pulses'])}, extended "
                     f"{units.format_units(bolus['extended_delivered_pulses'], False)} of "
                     f"{units.format_units(bolus['extended_pulses'])})")
        items.append(("bolus in progress", text))
    if summary.get("basal_program"):
        items.append(("basal program", summary["basal_program"]))
    last = summary.get("last_bolus")
    if last:
        how = "" if last["how"] in ("done", "running") else f", {last['how']}"
        items.append(("last bolus", f"{units.format_units(last['delivered_pulses'])} of "
                                    f"{units.format_units(last['requested_pulses'])}{how}, "
                                    f"{units.format_minutes(last['minutes_ago'])} ago (pod time)"))
    items.append(("insulin on board", units.format_units(summary["iob_pulses"])))
    if cgm_item:
        items.append(cgm_item)
    out.pairs("Pod status", items)
    if summary["alerts"]:
        out.warn("Alerts are active: see `handset alerts`, acknowledge with `handset alerts --ack`.")


def status_summary(opts: Options, history: list[dict[str, Any]], status: Status,
                   configured_alerts: dict[str, dict] | None = None) -> dict[str, Any]:
    """A status reply plus what the pod's records say runs, as plain data (pulses, pod minutes)."""
    pod = next((str(r["pod"]) for r in reversed(history) if r.get("pod")), None)
    now_ms = status.pod_ms
    temp = None
    for t in H.temp_basals(history):
        if t.pod == pod and t.how == "running" and status.temp_basal_running and t.end_ms is not None:
            temp = {"rate_pph": t.rate_pph, "half_hours": t.half_hours, "started_pod_ms": t.pod_ms,
                    "ends_pod_ms": t.end_ms, "minutes_left": max(0, (t.end_ms - now_ms) // 60_000)}
    mine = [b for b in H.boluses(history) if b.pod == pod]
    last_bolus = None
    if mine:
        b = mine[-1]
        last_bolus = {"delivered_pulses": b.delivered, "requested_pulses": b.requested, "how": b.how,
                      "pod_ms": b.pod_ms, "minutes_ago": max(0, (now_ms - (b.pod_ms or 0)) // 60_000)}
    settings = Settings.load(opts.state)
    iob, _ = insulin.on_board(history, pod, settings.dia, now_ms)
    reservoir = reservoir_pulses(status)
    return {
        "delivery": status.delivery, "delivery_text": delivery_text(status.delivery),
        "progress": status.progress, "progress_text": PROGRESS_NAMES.get(status.progress, f"progress {status.progress}"),
        "minutes": status.minutes, "pod_ms": now_ms,
        "minutes_to_expiry": max(0, POD_NOMINAL_MINUTES - status.minutes),
        "minutes_to_shutdown": max(0, POD_MAX_MINUTES - status.minutes),
        "reservoir": reservoir, "reservoir_text": reservoir_text(reservoir),
        "pulses_delivered": status.pulses_delivered, "bolus_remaining": status.bolus_remaining,
        "alerts": status.alerts, "alerts_text": alerts_text(status.alerts, configured_alerts),
        "temp_basal": temp, "bolus": account_json(mine[-1]) if mine else None,
        "last_bolus": last_bolus, "iob_pulses": iob.total_pulses,
        "basal_program": BasalPrograms.load(opts.state).active,
    }


def _show_fault(opts: Options, exc: PodFaulted) -> None:
    """What a faulted pod reports about its fault (detailed status, 02 type 2)."""
    d = exc.details
    items = [("fault", f"{fault_name(exc.fault_code)} (code 0x{exc.fault_code:02x})")]
    if "fault_minutes" in d:
        items.append(("at pod age", units.format_minutes(int(d["fault_minutes"]))))
    if "pulses_delivered" in d:
        items.append(("insulin delivered", units.format_units(int(d["pulses_delivered"]))))
    if "bolus_remaining" in d and int(d["bolus_remaining"]):
        items.append(("bolus not delivered", units.format_units(int(d["bolus_remaining"]))))
    before = d.get("progress_at_fault", d.get("previous_progress"))
    if before is not None:
        items.append(("progress before the fault", f"{before} ({PROGRESS_NAMES.get(int(before), '?')})"))
    if "reservoir" in d:
        items.append(("reservoir", reservoir_text(int(d["reservoir"]))))
    if "minutes" in d:
        items.append(("pod age now", units.format_minutes(int(d["minutes"]))))
    if not opts.json:
        opts.out.pairs("The pod has faulted", items)


COMMANDS: list[click.Command] = [status_cmd]
