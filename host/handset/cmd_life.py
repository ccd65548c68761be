"""Pod life: `handset activate` (and its alias `pair`), `status` and `deactivate`."""
from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import click

from handset import calc, units
from handset.errors import InvalidInput
from handset.settings import BasalPrograms, Journal, Settings
from handset.cmd_common import (
    Options,
    POD_MAX_MINUTES,
    POD_NOMINAL_MINUTES,
    PROGRESS_NAMES,
    alerts_text,
    common_options,
    delivery_text,
    field,
    open_pod,
    reservoir_pulses,
    reservoir_text,
    time_of_day_ms,
)
from handset.cmd_history import note_reading
from handset.cmd_settings import bolus_records

@click.command("activate")
@click.option("--program", "program_name", default=None, help="Basal program to start (default: the active one).")
@common_options()
def activate_cmd(program_name: str | None, opts: Options) -> None:
    """Pair with a new pod, prime it, program the basal and insert the cannula."""
    _activate(program_name, opts)


@click.command("pair")
@click.option("--program", "program_name", default=None, help="Basal program to start (default: the active one).")
@common_options()
def pair_cmd(program_name: str | None, opts: Options) -> None:
    """Same as `activate`."""
    _activate(program_name, opts)


def _activate(program_name: str | None, opts: Options) -> None:
    out = opts.out
    settings = Settings.load(opts.state)
    programs = BasalPrograms.load(opts.state)
    name = program_name or programs.active or sorted(programs.programs)[0]
    rates = programs.get(name)
    if max(rates) > settings.max_basal:
        raise InvalidInput(f"The program {name!r} exceeds your max basal rate of {units.format_rate(settings.max_basal)}: "
                           "lower the program or raise max_basal.")
    # The bar counts the pod time activation needs: prime 52 pulses at 1 s, cannula 10 at 1 s, 3-s pauses.
    expected_ms = (52 + 3 + 10 + 3) * 1000
    with out.progress("Activating") as bar:
        elapsed = [0]
        step_text = ["pairing"]

        def tick(ms: int) -> None:
            elapsed[0] = min(expected_ms, elapsed[0] + ms)
            bar.update(elapsed[0] // 1000, expected_ms // 1000, step_text[0])

        def progress(step: str, detail: str = "") -> None:
            step_text[0] = detail or step
            if step == "done":
                elapsed[0] = expected_ms
            bar.update(elapsed[0] // 1000, expected_ms // 1000, step_text[0])

        with open_pod(opts, tick) as pod:
            result = pod.activate(rates, time_of_day_ms(), settings.low_reservoir // units.PULSES_PER_UNIT,
                                  settings.expiry_reminder, progress)
    programs.active = name
    programs.save(opts.state)
    Journal(opts.state).append("activate", program=name)
    if out.json_mode:
        out.json({"activated": True, "program": name, "status": result.to_json() if hasattr(result, "to_json") else result})
        return
    out.good(f"The pod is active and running basal program {name!r}.")


@click.command("status")
@common_options()
def status_cmd(opts: Options) -> None:
    """The pod's delivery, age, reservoir, alerts, last bolus and insulin on board."""
    out = opts.out
    with open_pod(opts) as pod:
        status = pod.status()
    note_reading(opts, status)
    summary = status_summary(opts, status)
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
    if summary["bolus_remaining"]:
        items.append(("bolus in progress", f"{units.format_units(summary['bolus_remaining'])} still to deliver"))
    if summary.get("basal_program"):
        items.append(("basal program", summary["basal_program"]))
    last = summary.get("last_bolus")
    if last:
        items.append(("last bolus", f"{units.format_units(last['pulses'])} at {last['when']}"))
    items.append(("insulin on board", units.format_units(summary["iob_pulses"])))
    out.pairs("Pod status", items)
    if summary["alerts"]:
        out.warn("Alerts are active: see `handset alerts`, acknowledge with `handset alerts --ack`.")


def status_summary(opts: Options, status: Any) -> dict[str, Any]:
    """A status reply plus what the handset knows, as plain data."""
    delivery = int(field(status, "delivery", 0))
    progress = int(field(status, "progress", 0))
    minutes = int(field(status, "minutes", 0))
    reservoir = reservoir_pulses(status)
    alerts = int(field(status, "alerts", 0))
    journal = Journal(opts.state)
    boluses = [e for e in journal.entries() if e.get("kind") == "bolus"]
    last_bolus = None
    if boluses:
        entry = boluses[-1]
        when = _dt.datetime.fromtimestamp(int(entry["time"])).strftime("%Y-%m-%d %H:%M")
        results = [e for e in journal.entries() if e.get("kind") == "bolus_result" and e.get("ref") == entry.get("ref")]
        delivered = int(results[-1]["delivered"]) if results else int(entry.get("pulses", 0))
        last_bolus = {"pulses": delivered, "requested_pulses": int(entry.get("pulses", 0)), "when": when}
    settings = Settings.load(opts.state)
    iob = calc.insulin_on_board(bolus_records(journal), int(time.time()), settings.dia)
    programs = BasalPrograms.load(opts.state)
    return {
        "delivery": delivery, "delivery_text": delivery_text(delivery),
        "progress": progress, "progress_text": PROGRESS_NAMES.get(progress, f"progress {progress}"),
        "minutes": minutes, "minutes_to_expiry": max(0, POD_NOMINAL_MINUTES - minutes),
        "minutes_to_shutdown": max(0, POD_MAX_MINUTES - minutes),
        "reservoir": reservoir, "reservoir_text": reservoir_text(reservoir),
        "pulses_delivered": int(field(status, "pulses_delivered", 0)),
        "bolus_remaining": int(field(status, "bolus_remaining", 0)),
        "alerts": alerts, "alerts_text": alerts_text(alerts),
        "last_bolus": last_bolus, "iob_pulses": iob.total_pulses,
        "basal_program": programs.active,
    }


@click.command("deactivate")
@click.option("--yes", "-y", is_flag=True, help="Do not ask to confirm.")
@common_options(json_flag=False)
def deactivate_cmd(yes: bool, opts: Options) -> None:
    """Stop the pod for good (it must then be removed); the handset forgets it."""
    if not yes and not click.confirm("Deactivate the pod? It will stop delivering insulin for good", default=False):
        raise InvalidInput("Deactivation not confirmed: nothing was sent.")
    with open_pod(opts) as pod:
        pod.deactivate()
    Journal(opts.state).append("deactivate")
    opts.out.good("The pod is deactivated: remove it and activate a new one with `handset activate`.")


COMMANDS: list[click.Command] = [activate_cmd, pair_cmd, status_cmd, deactivate_cmd]
