"""Insulin delivery: `handset bolus` (with its live follower), `cancel-bolus`, `temp-basal`,
`cancel-temp`, `suspend` and `resume`.
"""
from __future__ import annotations

import sys
import time
from typing import Any

import click

from handset import units
from handset.errors import InvalidInput, PodFaulted
from handset.output import Out
from handset.settings import BasalPrograms, Journal, Settings
from handset.cmd_common import Options, PodTime, common_options, current_half_hour, field, open_pod
from handset.cmd_settings import run_calculator, show_suggestion, split_manual

EXTENDED_MAX_HALF_HOURS = 16


@click.command("bolus", context_settings={"ignore_unknown_options": True})
@click.argument("amount", required=False)
@click.option("--extended", metavar="UNITS", help="Extended part, delivered over --over.")
@click.option("--over", metavar="DURATION", help="Duration of the extended part (30m–8h, 30-minute steps).")
@click.option("--carbs", metavar="G", help="Carbohydrates (g): use the calculator.")
@click.option("--bg", metavar="MG_DL", help="Blood glucose now (mg/dL): use the calculator.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask to confirm a calculator suggestion.")
@click.option("--no-wait", is_flag=True, help="Return once the pod accepted the bolus (no progress bar).")
@common_options()
def bolus_cmd(amount: str | None, extended: str | None, over: str | None, carbs: str | None, bg: str | None,
              yes: bool, no_wait: bool, opts: Options) -> None:
    """Deliver a bolus of AMOUNT units (e.g. 2.35) with a live progress bar; Ctrl-C offers to cancel."""
    out = opts.out
    settings = Settings.load(opts.state)
    pulses, meal, correction = _bolus_amount(opts, out, amount, carbs, bg, yes)
    extended_pulses, half_hours = _extended_amount(extended, over)
    if pulses + extended_pulses > settings.max_bolus:
        raise InvalidInput(
            f"The bolus {units.format_units(pulses + extended_pulses)} is above your max bolus of "
            f"{units.format_units(settings.max_bolus)}: enter a smaller amount, or raise max_bolus with "
            "`handset settings set max_bolus UNITS` (at most 30 U).")
    if pulses < 1 and extended_pulses < 1:
        raise InvalidInput("The bolus is 0 U: enter at least 0.05 U.")
    journal = Journal(opts.state)
    ref = f"{time.time_ns():x}"
    with open_pod(opts) as pod:
        journal.append("bolus", ref=ref, pulses=pulses + extended_pulses, meal=meal + extended_pulses,
                       correction=correction, extended=extended_pulses, half_hours=half_hours)
        pod.bolus(pulses, extended_pulses=extended_pulses, extended_half_hours=half_hours)
        if no_wait or pulses == 0:
            out.good(f"The pod accepted the bolus of {units.format_units(pulses + extended_pulses)}.")
            return
        delivered, cancelled = follow_bolus(pod, out, pulses)
    journal.append("bolus_result", ref=ref, delivered=delivered + extended_pulses * (not cancelled),
                   cancelled=cancelled)
    if out.json_mode:
        out.json({"requested_pulses": pulses, "delivered_pulses": delivered, "cancelled": cancelled,
                  "extended_pulses": extended_pulses, "extended_half_hours": half_hours})
    elif cancelled:
        out.warn(f"Bolus cancelled: {units.format_units(delivered)} of {units.format_units(pulses)} delivered, "
                 f"{units.format_units(pulses - delivered)} not delivered.")
    else:
        out.good(f"Bolus done: {units.format_units(delivered)} delivered.")


def _bolus_amount(opts: Options, out: Out, amount: str | None, carbs: str | None, bg: str | None,
                  yes: bool) -> tuple[int, int, int]:
    """(pulses, meal pulses, correction pulses) from AMOUNT and/or the calculator."""
    if carbs is None and bg is None:
        if amount is None:
            raise InvalidInput("Give the bolus amount in units (e.g. `handset bolus 2.35`), or --carbs/--bg to calculate it.")
        pulses = units.parse_units(amount, "The bolus")
        return pulses, 0, pulses  # a manual bolus counts as correction insulin on board (the conservative choice)
    suggestion, carbs_tenths, bg_value = run_calculator(opts, carbs, bg)
    if suggestion.refusal:
        raise InvalidInput(suggestion.refusal)
    assert suggestion.pulses is not None
    if not out.json_mode:
        show_suggestion(out, suggestion, carbs_tenths, bg_value)
    pulses = units.parse_units(amount, "The bolus") if amount is not None else suggestion.pulses
    if pulses == 0:
        raise InvalidInput("The calculator suggests no bolus (0 U): nothing was sent.")
    if not yes and not click.confirm(f"Deliver {units.format_units(pulses)}?", default=True):
        raise InvalidInput("Bolus not confirmed: nothing was sent.")
    meal, correction = split_manual(suggestion, pulses)
    return pulses, meal, correction


def _extended_amount(extended: str | None, over: str | None) -> tuple[int, int]:
    if extended is None and over is None:
        return 0, 0
    if extended is None or over is None:
        raise InvalidInput("An extended bolus needs both --extended UNITS and --over DURATION (e.g. --over 2h).")
    return (units.parse_units(extended, "The extended bolus"),
            units.parse_half_hours(over, "The extended duration", 1, EXTENDED_MAX_HALF_HOURS))


def follow_bolus(pod: Any, out: Out, pulses: int) -> tuple[int, bool]:
    """Show delivery until the immediate bolus is done; Ctrl-C asks whether to cancel.

    Returns (pulses delivered, cancelled).
    """
    clock = PodTime(pod)
    remaining = pulses
    with out.progress("Bolus") as bar:
        while True:
            try:
                bar.update(pulses - remaining, pulses,
                           f"{units.format_units(pulses - remaining, False)} of {units.format_units(pulses)}")
                if remaining == 0:
                    return pulses, False
                clock.wait(clock.poll_ms())
                try:
                    status = pod.status()
                except PodFaulted:
                    out.warn(f"Before the fault at least {units.format_units(pulses - remaining)} of "
                             f"{units.format_units(pulses)} had been delivered.")
                    raise
                remaining = min(pulses, int(field(status, "bolus_remaining", 0)))
                if not int(field(status, "delivery", 0)) & 4:
                    # Finished; or cancelled elsewhere, when pulses are left over.
                    bar.update(pulses - remaining, pulses, f"{units.format_units(pulses - remaining, False)} of "
                                                           f"{units.format_units(pulses)}")
                    return pulses - remaining, remaining > 0
            except KeyboardInterrupt:
                if ask_cancel(out):
                    status = pod.cancel_bolus()
                    # After a cancel the pod reports the pulses it did not deliver.
                    not_delivered = min(pulses, int(field(status, "bolus_remaining", remaining)))
                    return pulses - not_delivered, True


def ask_cancel(out: Out) -> bool:
    """Ask whether to cancel the running bolus; a second Ctrl-C or end of input means yes."""
    try:
        sys.stderr.write("\n")
        return click.confirm("Cancel the bolus?", default=True, err=True)
    except (KeyboardInterrupt, EOFError, click.exceptions.Abort):
        return True


@click.command("cancel-bolus")
@common_options()
def cancel_bolus_cmd(opts: Options) -> None:
    """Stop the running bolus and report what was not delivered."""
    with open_pod(opts) as pod:
        status = pod.cancel_bolus()
    left = int(field(status, "bolus_remaining", 0) or 0)
    if opts.json:
        opts.out.json({"cancelled": True, "not_delivered_pulses": left})
        return
    opts.out.good(f"Bolus cancelled; {units.format_units(left)} not delivered.")


@click.command("temp-basal", context_settings={"ignore_unknown_options": True})
@click.argument("rate")
@click.argument("duration")
@common_options()
def temp_basal_cmd(rate: str, duration: str, opts: Options) -> None:
    """Set a temp basal: RATE in U/h (e.g. 0.5) or PERCENT% of the schedule (50%, +20%, -30%) for DURATION (30m–12h)."""
    temp = units.parse_temp_rate(rate)
    half_hours = units.parse_half_hours(duration, "The temp basal duration")
    settings = Settings.load(opts.state)
    programs = BasalPrograms.load(opts.state)
    scheduled = programs.programs[programs.active][current_half_hour()] if programs.active else None
    if temp.percent is not None and scheduled is None:
        raise InvalidInput("No basal program is running, so a percentage has no base: give the rate in U/h instead.")
    rate_pph = temp.resolve(scheduled or 0)
    if rate_pph > settings.max_basal:
        raise InvalidInput(f"The temp basal rate {units.format_rate(rate_pph)} is above your max basal rate of "
                           f"{units.format_rate(settings.max_basal)}: choose a lower rate or raise max_basal.")
    with open_pod(opts) as pod:
        pod.temp_basal(rate_pph, half_hours)
    Journal(opts.state).append("temp_basal", rate_pph=rate_pph, half_hours=half_hours)
    if opts.json:
        opts.out.json({"rate_pph": rate_pph, "half_hours": half_hours})
        return
    opts.out.good(f"Temp basal {units.format_rate(rate_pph)} for {units.format_minutes(half_hours * 30)} started.")


@click.command("cancel-temp")
@common_options(json_flag=False)
def cancel_temp_cmd(opts: Options) -> None:
    """Stop the temp basal; the basal program resumes."""
    with open_pod(opts) as pod:
        pod.cancel_temp()
    Journal(opts.state).append("cancel_temp")
    opts.out.good("Temp basal cancelled; the basal program is running.")


def suspend_reminder_alert(minutes: int) -> dict[str, int]:
    """Alert slot 6 "suspend time is over" after `minutes`, every minute for 3 min then every 15 min."""
    return {"slot": 6, "active": 1, "units_trigger": 0, "auto_off": 0, "duration_minutes": 0,
            "trigger": minutes, "beep_repeat": 3, "beep_type": 2}


@click.command("suspend")
@click.option("--for", "for_", metavar="DURATION", help="Remind to resume after 30m, 1h, 1h30m or 2h (no automatic resume).")
@common_options(json_flag=False)
def suspend_cmd(for_: str | None, opts: Options) -> None:
    """Stop all insulin delivery (basal, temp basal and bolus) until `handset resume`."""
    half_hours = units.parse_half_hours(for_, "The suspend duration", 1, 4) if for_ else None
    with open_pod(opts) as pod:
        pod.suspend()
        if half_hours is not None:
            pod.configure_alerts([suspend_reminder_alert(half_hours * 30)], "alert_suspend_expired")
    Journal(opts.state).append("suspend", minutes=None if half_hours is None else half_hours * 30)
    reminder = f" You will be reminded after {units.format_minutes(half_hours * 30)}." if half_hours else ""
    opts.out.warn(f"Insulin delivery is suspended: resume with `handset resume`.{reminder}")


@click.command("resume")
@common_options(json_flag=False)
def resume_cmd(opts: Options) -> None:
    """Resume the basal program after a suspend."""
    with open_pod(opts) as pod:
        pod.resume()
    Journal(opts.state).append("resume")
    opts.out.good("Insulin delivery resumed with the basal program.")


COMMANDS: list[click.Command] = [bolus_cmd, cancel_bolus_cmd, temp_basal_cmd, cancel_temp_cmd, suspend_cmd, resume_cmd]
