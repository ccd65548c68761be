"""Insulin delivery: `handset bolus` (with its live follower), `cancel-bolus`, `temp-basal`,
`cancel-temp`, `suspend` and `resume`. What they report delivered is what the pod reports.
"""
from __future__ import annotations

import sys
from typing import Any

import click

from handset import history as H
from handset import units
from handset.cmd_common import Options, PodTime, common_options, confirm, current_half_hour, open_pod
from handset.cmd_settings import run_calculator, show_suggestion, split_manual
from handset.errors import InvalidInput, PodFaulted
from handset.output import Out
from handset.settings import BasalPrograms, Settings

EXTENDED_MAX_HALF_HOURS = 16


def bolus_account(pod: Any, ref: int | None) -> H.Bolus | None:
    """The pod's latest account of the bolus the history knows as ``ref``."""
    for b in H.boluses(pod.store.history()):
        if b.ref == ref:
            return b
    return None


def account_json(b: H.Bolus | None) -> dict[str, Any]:
    """A bolus account as JSON (pulses)."""
    if b is None:
        return {}
    return {"requested_pulses": b.requested, "immediate_pulses": b.immediate, "extended_pulses": b.extended,
            "extended_half_hours": b.extended_half_hours, "delivered_pulses": b.delivered,
            "immediate_delivered_pulses": b.immediate_delivered, "extended_delivered_pulses": b.extended_delivered,
            "not_delivered_pulses": b.requested - b.delivered if b.final else None, "final": b.final, "how": b.how,
            "pod_ms": b.pod_ms}


def account_text(b: H.Bolus) -> str:
    """`1.00 U of 2.00 U delivered (immediate 1.00 of 1.00 U, extended 0.00 of 1.00 U)`."""
    text = f"{units.format_units(b.delivered)} of {units.format_units(b.requested)} delivered"
    if b.extended:
        text += (f" (immediate {units.format_units(b.immediate_delivered, False)} of {units.format_units(b.immediate)}, "
                 f"extended {units.format_units(b.extended_delivered, False)} of {units.format_units(b.extended)})")
    return text


@click.command("bolus", context_settings={"ignore_unknown_options": True})
@click.argument("amount", required=False)
@click.option("--extended", metavar="UNITS", help="Extended part, delivered over --over.")
@click.option("--over", metavar="DURATION", help="Duration of the extended part (30m–8h, 30-minute steps).")
@click.option("--carbs", metavar="G", help="Carbohydrates (g): use the calculator.")
@click.option("--bg", metavar="BG", help="Blood glucose now, in your bg_unit: use the calculator.")
@click.option("--yes", "-y", is_flag=True, help="Deliver a calculator suggestion without asking.")
@click.option("--no-wait", is_flag=True, help="Return once the pod accepted the bolus (no progress bar).")
@common_options()
def bolus_cmd(amount: str | None, extended: str | None, over: str | None, carbs: str | None, bg: str | None,
              yes: bool, no_wait: bool, opts: Options) -> None:
    """Deliver a bolus of AMOUNT units (for example 2.35) with a live progress bar; Ctrl-C offers to cancel."""
    out = opts.out
    settings = Settings.load(opts.state)
    extended_pulses, half_hours = _extended_amount(extended, over)
    if carbs is None and bg is None:
        _check_amount(amount, extended_pulses, settings)  # refuse bad input before the link opens
    with open_pod(opts) as pod:
        status = pod.status()  # the PDM reads the pod before a bolus: pod time, suspension, settling
        if status.suspended:
            raise InvalidInput("Insulin delivery is suspended, so the handset did not send the bolus: resume delivery "
                               "with `handset resume` first, then give the bolus.")
        pulses, meal, correction = _bolus_amount(opts, out, amount, carbs, bg, yes, status.pod_ms)
        _check_total(pulses, extended_pulses, settings)
        pod.bolus(pulses, extended_pulses=extended_pulses, extended_half_hours=half_hours,
                  meal_pulses=meal + extended_pulses, correction_pulses=correction)
        ref = pod.last_command_id
        cancelled = False
        if not no_wait and pulses > 0:
            cancelled = follow_bolus(pod, out, pulses, ref)
        account = bolus_account(pod, ref)
    if account is None:  # cannot happen once the pod confirmed the bolus; said plainly all the same
        raise InvalidInput("The handset has no record of the bolus it just sent: read `handset status`.")
    if out.json_mode:
        out.json({"ok": True, "accepted": True, "cancelled": cancelled, **account_json(account)})
    elif no_wait or pulses == 0:
        out.good(f"The pod accepted the bolus of {units.format_units(account.requested)}.")
    elif cancelled:
        out.warn(f"Bolus cancelled: {account_text(account)}, "
                 f"{units.format_units(account.requested - account.delivered)} not delivered.")
    elif account.final:
        out.good(f"Bolus done: {account_text(account)}." if account.extended or account.delivered != account.requested
                 else f"Bolus done: {units.format_units(account.delivered)} delivered.")
    else:
        out.good(f"Immediate part done: {units.format_units(account.immediate_delivered)} delivered; the extended "
                 f"{units.format_units(account.extended)} goes on over "
                 f"{units.format_minutes(account.extended_half_hours * 30)} (`handset status` follows it).")


def _check_amount(amount: str | None, extended_pulses: int, settings: Settings) -> None:
    if amount is None:
        if extended_pulses:
            return
        raise InvalidInput("Give the bolus amount in units (for example `handset bolus 2.35`), or --carbs/--bg to "
                           "calculate it.")
    _check_total(units.parse_units(amount, "The bolus"), extended_pulses, settings)


def _check_total(pulses: int, extended_pulses: int, settings: Settings) -> None:
    if pulses + extended_pulses > settings.max_bolus:
        raise InvalidInput(
            f"The bolus {units.format_units(pulses + extended_pulses)} is above your max bolus of "
            f"{units.format_units(settings.max_bolus)}: enter a smaller amount, or raise max_bolus with "
            "`handset settings set max_bolus UNITS` (at most 30 U).")
    if pulses < 1 and extended_pulses < 1:
        raise InvalidInput("The bolus is 0 U: enter at least 0.05 U.")


def _bolus_amount(opts: Options, out: Out, amount: str | None, carbs: str | None, bg: str | None,
                  yes: bool, now_ms: int) -> tuple[int, int, int]:
    """(pulses, meal pulses, correction pulses) from AMOUNT and/or the calculator."""
    if carbs is None and bg is None:
        pulses = units.parse_units(amount, "The bolus") if amount is not None else 0
        return pulses, 0, pulses  # a manual bolus counts as correction insulin on board (the conservative choice)
    suggestion, carbs_tenths, bg_value = run_calculator(opts, carbs, bg, now_ms)
    if suggestion.refusal:
        raise InvalidInput(suggestion.refusal)
    assert suggestion.pulses is not None
    show_suggestion(out, suggestion, carbs_tenths, bg_value, Settings.load(opts.state))
    pulses = units.parse_units(amount, "The bolus") if amount is not None else suggestion.pulses
    if pulses == 0:
        raise InvalidInput("The calculator suggests no bolus (0 U): nothing was sent.")
    if not confirm(f"Deliver {units.format_units(pulses)}?", yes):
        raise InvalidInput("Bolus not confirmed: nothing was sent.")
    meal, correction = split_manual(suggestion, pulses)
    return pulses, meal, correction


def _extended_amount(extended: str | None, over: str | None) -> tuple[int, int]:
    if extended is None and over is None:
        return 0, 0
    if extended is None or over is None:
        raise InvalidInput("An extended bolus needs both --extended UNITS and --over DURATION (for example --over 2h).")
    return (units.parse_units(extended, "The extended bolus"),
            units.parse_half_hours(over, "The extended duration", 1, EXTENDED_MAX_HALF_HOURS))


def follow_bolus(pod: Any, out: Out, pulses: int, ref: int | None) -> bool:
    """Show the immediate part's delivery as the pod reports it, until it ends; Ctrl-C asks whether
    to cancel. Returns whether the bolus was cancelled (here or elsewhere).
    """
    clock = PodTime(pod)
    with out.progress("Bolus") as bar:
        while True:
            try:
                account = bolus_account(pod, ref)
                done = account.immediate_delivered if account is not None else 0
                bar.update(done, pulses, f"{units.format_units(done, False)} of {units.format_units(pulses)}")
                if account is None or account.final or account.immediate_delivered >= pulses:
                    return account is not None and account.how == "cancelled"
                clock.wait(clock.poll_ms())
                try:
                    pod.status()  # reconciles the bolus record from the pod's status
                except PodFaulted:
                    account = bolus_account(pod, ref)
                    if account is not None:
                        out.warn(f"Before the fault the pod reported {account_text(account)}.")
                    raise
            except KeyboardInterrupt:
                if ask_cancel(out):
                    pod.cancel_bolus()
                    return True


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
    """Stop the running bolus and report what the pod delivered and did not deliver."""
    with open_pod(opts) as pod:
        status = pod.status()
        if not status.bolus_running:
            raise InvalidInput("No bolus is running: nothing was sent.")
        pod.cancel_bolus()
        mine = H.boluses(pod.store.history())
        account = mine[-1] if mine else None
    left = status.bolus_remaining if account is None else account.requested - account.delivered
    if opts.json:
        opts.out.json({"ok": True, "cancelled": True, "not_delivered_pulses": left, **account_json(account)})
        return
    opts.out.good(f"Bolus cancelled: {account_text(account) + ', ' if account else ''}"
                  f"{units.format_units(left)} not delivered.")


@click.command("temp-basal", context_settings={"ignore_unknown_options": True})
@click.argument("rate")
@click.argument("duration")
@common_options()
def temp_basal_cmd(rate: str, duration: str, opts: Options) -> None:
    """Set a temp basal: RATE in U/h (for example 0.5) or PERCENT% of the schedule (50%, +20%, -30%) for DURATION (30m–12h)."""
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
        status = pod.temp_basal(rate_pph, half_hours)
    if opts.json:
        opts.out.json({"ok": True, "rate_pph": rate_pph, "half_hours": half_hours, "pod_ms": status.pod_ms})
        return
    opts.out.good(f"Temp basal {units.format_rate(rate_pph)} for {units.format_minutes(half_hours * 30)} started.")


@click.command("cancel-temp")
@common_options()
def cancel_temp_cmd(opts: Options) -> None:
    """Stop the temp basal; the basal program resumes."""
    with open_pod(opts) as pod:
        if not pod.status().temp_basal_running:
            raise InvalidInput("No temp basal is running: nothing was sent.")
        status = pod.cancel_temp()
    if opts.json:
        opts.out.json({"ok": True, "cancelled": True, "pod_ms": status.pod_ms})
        return
    opts.out.good("Temp basal cancelled; the basal program is running.")


def suspend_reminder_alert(minutes: int) -> dict[str, int]:
    """Alert slot 6 "suspend time is over" after `minutes`, every minute for 3 min then every 15 min."""
    return {"slot": 6, "active": 1, "units_trigger": 0, "auto_off": 0, "duration_minutes": 0,
            "trigger": minutes, "beep_repeat": 3, "beep_type": 2}


@click.command("suspend")
@click.option("--for", "for_", metavar="DURATION", help="Remind to resume after 30m, 1h, 1h30m or 2h (no automatic resume).")
@common_options()
def suspend_cmd(for_: str | None, opts: Options) -> None:
    """Stop all insulin delivery (basal, temp basal and bolus) until `handset resume`."""
    half_hours = units.parse_half_hours(for_, "The suspend duration", 1, 4) if for_ else None
    with open_pod(opts) as pod:
        status = pod.suspend()
        if half_hours is not None:
            pod.configure_alerts([suspend_reminder_alert(half_hours * 30)], "alert_suspend_expired")
    minutes = None if half_hours is None else half_hours * 30
    if opts.json:
        opts.out.json({"ok": True, "suspended": True, "reminder_minutes": minutes, "pod_ms": status.pod_ms})
        return
    reminder = f" You will be reminded after {units.format_minutes(minutes)}." if minutes else ""
    opts.out.warn(f"Insulin delivery is suspended: resume with `handset resume`.{reminder}")


@click.command("resume")
@common_options()
def resume_cmd(opts: Options) -> None:
    """Resume the basal program after a suspend."""
    with open_pod(opts) as pod:
        status = pod.resume()
    if opts.json:
        opts.out.json({"ok": True, "resumed": True, "pod_ms": status.pod_ms})
        return
    opts.out.good("Insulin delivery resumed with the basal program.")


COMMANDS: list[click.Command] = [bolus_cmd, cancel_bolus_cmd, temp_basal_cmd, cancel_temp_cmd, suspend_cmd, resume_cmd]
