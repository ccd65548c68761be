"""`handset settings show|set` and `handset calc`: the person's limits and the bolus calculator
(nothing here talks to the pod); the calculator helpers are shared with `bolus --carbs/--bg`.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from handset import calc, insulin, units
from handset.errors import HandsetError, InvalidInput
from handset.output import Out
from handset.settings import Settings
from handset.state import StateStore
from handset.cmd_common import Options, common_options

def calculator_blocked(state_dir: Path) -> bool:
    """True while a command sent to the pod is still unconfirmed (R7.10: block the calculator)."""
    try:
        return bool(StateStore(state_dir).unsettled())
    except HandsetError:
        return True


def split_manual(suggestion: calc.Suggestion, pulses: int) -> tuple[int, int]:
    """Split a dose that differs from the suggestion (R5.12: increases go to the meal part;
    decreases come off the meal part first)."""
    meal, correction = suggestion.meal_pulses, suggestion.correction_pulses
    diff = pulses - (meal + correction)
    if diff >= 0:
        return meal + diff, correction
    cut = -diff
    meal_cut = min(meal, cut)
    return meal - meal_cut, correction - (cut - meal_cut)


def show_suggestion(out: Out, s: calc.Suggestion, carbs_tenths: int, bg: int | None, settings: Settings) -> None:
    """Print the calculator's arithmetic and result (blood glucose in the person's unit)."""
    out.pairs("Bolus calculator", calc.suggestion_items(s, settings, carbs_tenths, bg))
    for note in s.notes:
        out.warn(note)


def suggestion_json(s: calc.Suggestion) -> dict[str, Any]:
    """The calculator result as JSON-able data (pulses and thousandths of a unit)."""
    return {"suggested_pulses": s.pulses, "suggested_units": None if s.pulses is None else units.format_units(s.pulses, False),
            "meal_pulses": s.meal_pulses, "correction_pulses": s.correction_pulses,
            "iob_meal_pulses": s.iob.meal_pulses, "iob_correction_pulses": s.iob.correction_pulses,
            "iob_used": s.iob_used, "refusal": s.refusal, "notes": s.notes, "steps_milliunits": s.steps_milliunits}


def run_calculator(opts: Options, carbs: str | None, bg: str | None,
                   now_ms: int | None = None) -> tuple[calc.Suggestion, int, int | None]:
    """Parse the calculator's inputs and compute the suggestion.

    Insulin on board comes from the pod's records on the pod's clock: ``now_ms`` is the pod's time
    when the caller has just read it (a bolus reads the status first); otherwise the last status
    read plus the real time since.
    """
    settings = Settings.load(opts.state)
    if carbs is None and bg is None:
        raise InvalidInput(f"The calculator needs --carbs G, --bg {settings.bg_unit} or both.")
    carbs_tenths = units.parse_grams(carbs) if carbs is not None else 0
    bg_value = settings.read_bg(bg) if bg is not None else None
    store = StateStore(opts.state)
    pod = store.load_pod()
    address = f"{pod.address:08x}" if pod is not None else None
    history = store.history()
    iob_now = now_ms if now_ms is not None else (insulin.pod_now_ms(history, address) or 0)
    now_s = iob_now // 1000
    bg_time_s = now_s
    if bg_value is None:  # no BG typed: a CGM reading (handset sim's) at most 5 minutes old stands in
        from patient.cgm import fresh_reading
        reading = fresh_reading(opts.state, iob_now)
        if reading is not None and reading.mgdl is not None:
            bg_value, bg_time_s = reading.mgdl, reading.pod_ms // 1000
    suggestion = calc.suggest(settings, carbs_tenths_g=carbs_tenths, bg_mgdl=bg_value, bg_time_s=bg_time_s, now_s=now_s,
                              records=insulin.bolus_records(history, address, iob_now),
                              unconfirmed=calculator_blocked(opts.state))
    return suggestion, carbs_tenths, bg_value


@click.command("calc")
@click.option("--carbs", metavar="G", help="Carbohydrates in grams (0.1–225).")
@click.option("--bg", metavar="BG", help="Blood glucose measured now, in your bg_unit (mg/dL 20–600, or mmol/L).")
@common_options()
def calc_cmd(carbs: str | None, bg: str | None, opts: Options) -> None:
    """Suggest a bolus from carbs and blood glucose (nothing is sent to the pod)."""
    out = opts.out
    suggestion, carbs_tenths, bg_value = run_calculator(opts, carbs, bg)
    if out.json_mode:
        out.json(suggestion_json(suggestion))
        return
    if suggestion.refusal:
        raise InvalidInput(suggestion.refusal)
    show_suggestion(out, suggestion, carbs_tenths, bg_value, Settings.load(opts.state))
    assert suggestion.pulses is not None
    out.line(f"To deliver it: handset bolus {units.format_units(suggestion.pulses, False)}"
             + (f" --carbs {carbs}" if carbs else "") + (f" --bg {bg}" if bg else ""))


@click.group("settings")
def settings_group() -> None:
    """Show or change limits and calculator settings (kept in the state directory)."""


@settings_group.command("show")
@common_options()
def settings_show(opts: Options) -> None:
    """Show every setting with its allowed range."""
    settings = Settings.load(opts.state)
    if opts.json:
        opts.out.json({name: getattr(settings, name) for name, _, _ in settings.describe()})
        return
    opts.out.table("Settings", ("setting", "value", "meaning"), settings.describe())


@settings_group.command("set")
@click.argument("name")
@click.argument("value")
@common_options()
def settings_set(name: str, value: str, opts: Options) -> None:
    """Change one setting, for example `settings set max_bolus 8` or `settings set dia 3h30m`."""
    settings = Settings.load(opts.state).with_value(name, value)
    settings.save(opts.state)
    key = name.replace("-", "_")
    shown = dict((n, v) for n, v, _ in settings.describe())[key]
    if opts.json:
        opts.out.json({"setting": key, "value": getattr(settings, key), "shown": shown})
        return
    opts.out.good(f"{key} is now {shown}.")


COMMANDS: list[click.Command] = [calc_cmd, settings_group]
