"""`handset` commands that talk to the pod or to the handset's own settings.

pair/activate, status, bolus, cancel-bolus, temp-basal, cancel-temp, basal show|set|use|delete,
suspend, resume, alerts, history, deactivate, calc, settings show|set.

Every command checks its input against the person's settings BEFORE anything is sent; errors are
printed as one sentence with the fix and the process exits with the error's own exit code.
"""
from __future__ import annotations

import csv
import datetime as _dt
import functools
import io
import os
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import click

from handset import calc, units
from handset.cli import main
from handset.errors import HandsetError, InvalidInput, PodFaulted
from handset.output import Out
from handset.settings import BasalPrograms, Journal, Settings

DEFAULT_PORT = "socket://127.0.0.1:7410"
POLL_MS = 1000  # pod time between status reads while a bolus runs, at least 0.25 s of real time
#: Extended boluses: 30 min to 8 h.
EXTENDED_MAX_HALF_HOURS = 16

DELIVERY_BITS = ((1, "basal"), (2, "temp basal"), (4, "bolus"), (8, "extended bolus"))
ALERT_NAMES = {
    0: "auto-off", 1: "slot 1", 2: "pod expires in 1 hour", 3: "expiry reminder", 4: "low reservoir",
    5: "pod suspended", 6: "suspend time is over", 7: "pod expired / finish setup",
}
PROGRESS_NAMES = {
    0: "initialized", 1: "memory initialized", 2: "filled", 3: "paired", 4: "priming", 5: "primed",
    6: "basal set", 7: "inserting cannula", 8: "running", 9: "running, reservoir below 50 U",
    13: "faulted", 14: "activation time exceeded", 15: "deactivated",
}
POD_NOMINAL_MINUTES = 72 * 60
POD_MAX_MINUTES = 80 * 60


# --------------------------------------------------------------------------------------------
# Options shared by every pod command, and the error boundary


@dataclass
class Options:
    """The connection options of one command."""

    port: str
    state: Path
    trace: str | None
    json: bool

    @property
    def out(self) -> Out:
        return Out(json_mode=self.json)


F = TypeVar("F", bound=Callable[..., Any])


def _default_state() -> Path:
    from handset.state import default_state_dir
    return default_state_dir()


def common_options(json_flag: bool = True) -> Callable[[F], F]:
    """--port, --state, --trace (and --json) on a command; they arrive as `opts: Options`."""
    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, port: str | None, state: str | None, trace: str | None, as_json: bool = False,
                    **kwargs: Any) -> Any:
            # Each option may also be given before the command name (`handset --port URL status`).
            top = click.get_current_context().find_root().params
            url: str = port or top.get("port") or DEFAULT_PORT
            state = state or top.get("state")
            trace = trace or top.get("trace")
            opts = Options(url, Path(state) if state else _default_state(), trace, as_json)
            return guarded(opts.out, lambda: journal_faults(opts, lambda: func(*args, opts=opts, **kwargs)))

        wrapped: Any = wrapper
        if json_flag:
            wrapped = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of prose.")(wrapped)
        wrapped = click.option("--trace", type=click.Path(dir_okay=False), default=None,
                               help="Append every frame sent and received to FILE.")(wrapped)
        wrapped = click.option("--state", type=click.Path(file_okay=False), default=None,
                               help="State directory (env HANDSET_STATE; default ~/.local/state/handset).")(wrapped)
        wrapped = click.option("--port", default=None,
                               help="Pod link: /dev/ttyX, socket://host:port, rfc2217://host:port, loop:// "
                                    f"(env HANDSET_PORT; default {DEFAULT_PORT}).")(wrapped)
        return wrapped  # type: ignore[no-any-return]
    return decorate


def guarded(out: Out, action: Callable[[], Any]) -> Any:
    """Run a command: a HandsetError becomes its sentence and exit code; nothing prints a traceback."""
    try:
        return action()
    except HandsetError as exc:
        out.error(str(exc))
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        out.error("Interrupted.")
        raise SystemExit(130) from None
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a sentence, not a traceback
        if os.environ.get("HANDSET_DEBUG"):
            traceback.print_exc()
        out.error(f"Unexpected error ({type(exc).__name__}: {exc}): this is a bug in the handset; "
                  "run again with HANDSET_DEBUG=1 and report the traceback.")
        raise SystemExit(1) from None


def journal_faults(opts: Options, action: Callable[[], Any]) -> Any:
    """Run `action`; a pod fault is written to the journal (history shows it) before it is reported."""
    try:
        return action()
    except PodFaulted as exc:
        try:
            Journal(opts.state).append("fault", code=exc.fault_code, text=exc.fault_name)
        except OSError:
            pass
        raise


SPEED_REAL = 1
BENCH_PROBE_S = 0.5


def pod_speed(pod: Any = None) -> int | None:
    """How fast the emulated pod's clock runs: N times real time, or None for a virtual clock that
    the handset moves with the bench "advance" operation.

    From env HANDSET_POD_SPEED (a whole number, or "virtual"); otherwise asked once of the emulator's
    bench channel ("info"); a pod without a bench (a real device) runs in real time.
    """
    text = os.environ.get("HANDSET_POD_SPEED", "").strip().lower()
    if text == "virtual":
        return None
    if text:
        if not text.isdigit() or int(text) < 1:
            raise InvalidInput(f"HANDSET_POD_SPEED={text!r} is not understood: set a whole number like 60, or virtual.")
        return int(text)
    session = getattr(pod, "session", None)
    if session is None:
        return SPEED_REAL
    try:
        info = session.bench({"op": "info"}, timeout_s=BENCH_PROBE_S)
    except HandsetError:
        return SPEED_REAL
    if info.get("clock") == "virtual":
        return None
    speed = info.get("speed")
    return speed if isinstance(speed, int) and speed >= 1 else SPEED_REAL


class PodTime:
    """Waiting on the pod's clock: real sleep scaled by its speed, or bench advances (virtual clock)."""

    def __init__(self, pod: Any, tick: Callable[[int], None] | None = None) -> None:
        self.pod = pod
        self.tick = tick
        self._speed: int | None | str = "unknown"

    @property
    def speed(self) -> int | None:
        """The pod's speed (see pod_speed), asked once."""
        if self._speed == "unknown":
            self._speed = pod_speed(self.pod)
        return self._speed  # type: ignore[return-value]

    def poll_ms(self) -> int:
        """Pod milliseconds between status reads during a bolus: one pulse (2 s), at least 0.25 s real."""
        speed = self.speed
        return 2000 if speed is None else max(POLL_MS, 250 * speed)

    def wait(self, ms: int) -> None:
        """Let `ms` pod milliseconds pass; `tick` hears about it in slices (progress bars)."""
        speed = self.speed
        if speed is None:
            self.pod.bench("advance", ms=ms)
            if self.tick is not None:
                self.tick(ms)
            return
        left = ms
        while left > 0:
            step = min(left, 250 * speed)  # wake at least four times a second
            time.sleep(step / 1000 / speed)
            left -= step
            if self.tick is not None:
                self.tick(step)


@contextmanager
def open_pod(opts: Options, tick: Callable[[int], None] | None = None) -> Iterator[Any]:
    """The library's PodClient for this command's port and state directory, closed afterwards."""
    from handset.pod import PodClient
    client = PodClient.open(opts.port, opts.state, trace=opts.trace)
    client.wait_ms = PodTime(client, tick).wait
    try:
        yield client
    finally:
        client.close()


def field(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field from a decoded block (dict) or a result object (attribute)."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


# --------------------------------------------------------------------------------------------
# Describing a status


def delivery_text(delivery: int) -> str:
    """Delivery bits -> "basal + bolus", or "suspended"."""
    names = [name for bit, name in DELIVERY_BITS if delivery & bit]
    return " + ".join(names) if names else "suspended (no insulin)"


def alerts_text(mask: int) -> str:
    """Alert bitmask -> "low reservoir, expiry reminder", or "none"."""
    names = [f"{ALERT_NAMES[slot]} (slot {slot})" for slot in range(8) if mask & (1 << slot)]
    return ", ".join(names) if names else "none"


def reservoir_pulses(status: Any) -> int:
    """The status' reservoir in pulses, 0x3ff meaning "above 50 U" (the library gives None for that)."""
    value = field(status, "reservoir", None)
    return 0x3FF if value is None else int(value)


def reservoir_text(reservoir: int) -> str:
    """Reservoir pulses (0x3ff = above 50 U) -> text."""
    return "more than 50 U" if reservoir >= 0x3FF else units.format_units(reservoir)


# --------------------------------------------------------------------------------------------
# Bolus bookkeeping for the calculator (insulin on board)


def bolus_records(journal: Journal) -> list[calc.BolusRecord]:
    """Delivered boluses with their meal/correction split, from the journal.

    A bolus with no recorded result (the handset stopped mid-delivery) counts in full; a shortfall
    comes off the meal part first, so that correction insulin, which may also cut the meal, stays.
    """
    results = {e.get("ref"): int(e.get("delivered", 0)) for e in journal.entries() if e.get("kind") == "bolus_result"}
    records = []
    for entry in journal.entries():
        if entry.get("kind") != "bolus":
            continue
        meal, correction = int(entry.get("meal", 0)), int(entry.get("correction", 0))
        delivered = results.get(entry.get("ref"), meal + correction)
        shortfall = max(0, meal + correction - delivered)
        meal_cut = min(meal, shortfall)
        records.append(calc.BolusRecord(int(entry["time"]), meal - meal_cut, correction - (shortfall - meal_cut)))
    return records


def calculator_blocked(state_dir: Path) -> bool:
    """True while a command sent to the pod is still unconfirmed (R7.10: block the calculator)."""
    from handset.state import StateStore
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


def show_suggestion(out: Out, s: calc.Suggestion, carbs_tenths: int, bg: int | None) -> None:
    """Print the calculator's arithmetic and result."""
    items = [("carbs", f"{carbs_tenths // 10}.{carbs_tenths % 10} g"),
             ("blood glucose", f"{bg} mg/dL" if bg is not None else "not entered")]
    for name, milli in s.steps_milliunits.items():
        items.append((name.replace("_", " "), units.format_milliunits(milli)))
    items.append(("insulin on board",
                  f"{units.format_units(s.iob.total_pulses)} (meal {units.format_units(s.iob.meal_pulses)}, "
                  f"correction {units.format_units(s.iob.correction_pulses)})"
                  + ("" if s.iob_used else " — not subtracted")))
    if s.pulses is not None:
        items.append(("suggested bolus", f"{units.format_units(s.pulses)} (meal {units.format_units(s.meal_pulses)}, "
                                         f"correction {units.format_units(s.correction_pulses)})"))
    out.pairs("Bolus calculator", items)
    for note in s.notes:
        out.warn(note)


def suggestion_json(s: calc.Suggestion) -> dict[str, Any]:
    """The calculator result as JSON-able data (pulses and thousandths of a unit)."""
    return {"suggested_pulses": s.pulses, "suggested_units": None if s.pulses is None else units.format_units(s.pulses, False),
            "meal_pulses": s.meal_pulses, "correction_pulses": s.correction_pulses,
            "iob_meal_pulses": s.iob.meal_pulses, "iob_correction_pulses": s.iob.correction_pulses,
            "iob_used": s.iob_used, "refusal": s.refusal, "notes": s.notes, "steps_milliunits": s.steps_milliunits}


def run_calculator(opts: Options, carbs: str | None, bg: str | None) -> tuple[calc.Suggestion, int, int | None]:
    """Parse the calculator's inputs and compute the suggestion (no pod contact)."""
    if carbs is None and bg is None:
        raise InvalidInput("The calculator needs --carbs G, --bg MG_DL or both.")
    carbs_tenths = units.parse_grams(carbs) if carbs is not None else 0
    bg_value = units.parse_bg(bg) if bg is not None else None
    settings = Settings.load(opts.state)
    now = int(time.time())
    suggestion = calc.suggest(settings, carbs_tenths_g=carbs_tenths, bg_mgdl=bg_value, bg_time_s=now, now_s=now,
                              records=bolus_records(Journal(opts.state)),
                              unconfirmed=calculator_blocked(opts.state))
    return suggestion, carbs_tenths, bg_value


# --------------------------------------------------------------------------------------------
# Commands: offline


@main.command("calc")
@click.option("--carbs", metavar="G", help="Carbohydrates in grams (0.1–225).")
@click.option("--bg", metavar="MG_DL", help="Blood glucose in mg/dL (20–600), measured now.")
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
    show_suggestion(out, suggestion, carbs_tenths, bg_value)
    assert suggestion.pulses is not None
    out.line(f"To deliver it: handset bolus {units.format_units(suggestion.pulses, False)}"
             + (f" --carbs {carbs}" if carbs else "") + (f" --bg {bg}" if bg else ""))


@main.group("settings")
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
@common_options(json_flag=False)
def settings_set(name: str, value: str, opts: Options) -> None:
    """Change one setting, e.g. `settings set max_bolus 8` or `settings set dia 3h30m`."""
    settings = Settings.load(opts.state).with_value(name, value)
    settings.save(opts.state)
    key = name.replace("-", "_")
    shown = dict((n, v) for n, v, _ in settings.describe())[key]
    opts.out.good(f"{key} is now {shown}.")


@main.group("basal")
def basal_group() -> None:
    """Named basal programs (up to 7, 24 segments each, half-hour boundaries)."""


@basal_group.command("show")
@click.argument("name", required=False)
@common_options()
def basal_show(name: str | None, opts: Options) -> None:
    """List the programs, or show one program's segments."""
    programs = BasalPrograms.load(opts.state)
    names = [name] if name else sorted(programs.programs)
    if name:
        programs.get(name)
    if opts.json:
        opts.out.json({"active": programs.active,
                       "programs": {n: {"rates_pph": programs.programs[n],
                                        "segments": units.format_program(programs.programs[n]),
                                        "total_pulses_per_day": sum(programs.programs[n]) // 2}
                                    for n in names}})
        return
    for program in names:
        rates = programs.programs[program]
        segments = units.program_segments(rates)
        rows = []
        for index, (start, rate) in enumerate(segments):
            end = segments[index + 1][0] if index + 1 < len(segments) else 48
            rows.append((f"{units.format_time_of_day(start)}–{units.format_time_of_day(end % 48) if end < 48 else '24:00'}",
                         units.format_rate(rate)))
        marker = " (active)" if program == programs.active else ""
        # 48 half hours: total per day = sum(rate_pph) / 2 pulses.
        opts.out.table(f"{program}{marker}: {units.format_units(sum(rates) // 2)} per day", ("time", "rate"), rows)


@basal_group.command("set")
@click.argument("name")
@click.argument("program")
@common_options(json_flag=False)
def basal_set(name: str, program: str, opts: Options) -> None:
    """Store a program, e.g. `basal set day "00:00=0.8,06:30=1.2,22:00=0.9"` (not sent: see `basal use`)."""
    rates = units.parse_basal_program(program)
    settings = Settings.load(opts.state)
    programs = BasalPrograms.load(opts.state)
    programs.put(name, rates, settings.max_basal)
    programs.save(opts.state)
    opts.out.good(f"Stored basal program {name!r}: {units.format_program(rates)} "
                  f"({units.format_units(sum(rates) // 2)} per day).")
    if name == programs.active:
        opts.out.warn(f"{name!r} is the running program: send the change with `handset basal use {name}`.")
    else:
        opts.out.line(f"To run it: handset basal use {name}")


@basal_group.command("delete")
@click.argument("name")
@common_options(json_flag=False)
def basal_delete(name: str, opts: Options) -> None:
    """Delete a stored program (not the running one)."""
    programs = BasalPrograms.load(opts.state)
    programs.delete(name)
    programs.save(opts.state)
    opts.out.good(f"Deleted basal program {name!r}.")


# --------------------------------------------------------------------------------------------
# Commands: the pod


def time_of_day_ms(now: _dt.datetime | None = None) -> int:
    """Milliseconds since local midnight (the pod's basal schedule follows the person's day)."""
    now = now or _dt.datetime.now()
    return ((now.hour * 60 + now.minute) * 60 + now.second) * 1000 + now.microsecond // 1000


def current_half_hour() -> int:
    """Index 0..47 of the current local half hour."""
    now = _dt.datetime.now()
    return now.hour * 2 + now.minute // 30


@main.command("activate")
@click.option("--program", "program_name", default=None, help="Basal program to start (default: the active one).")
@common_options()
def activate_cmd(program_name: str | None, opts: Options) -> None:
    """Pair with a new pod, prime it, program the basal and insert the cannula."""
    _activate(program_name, opts)


@main.command("pair")
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


@main.command("status")
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


@main.command("bolus", context_settings={"ignore_unknown_options": True})
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


@main.command("cancel-bolus")
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


@main.command("temp-basal", context_settings={"ignore_unknown_options": True})
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


@main.command("cancel-temp")
@common_options(json_flag=False)
def cancel_temp_cmd(opts: Options) -> None:
    """Stop the temp basal; the basal program resumes."""
    with open_pod(opts) as pod:
        pod.cancel_temp()
    Journal(opts.state).append("cancel_temp")
    opts.out.good("Temp basal cancelled; the basal program is running.")


@basal_group.command("use")
@click.argument("name")
@common_options(json_flag=False)
def basal_use(name: str, opts: Options) -> None:
    """Send a stored program to the pod and make it the running one."""
    settings = Settings.load(opts.state)
    programs = BasalPrograms.load(opts.state)
    rates = programs.get(name)
    if max(rates) > settings.max_basal:
        raise InvalidInput(f"The program {name!r} exceeds your max basal rate of {units.format_rate(settings.max_basal)}: "
                           "lower the program or raise max_basal.")
    with open_pod(opts) as pod:
        pod.set_basal(rates)
    programs.active = name
    programs.save(opts.state)
    Journal(opts.state).append("basal_use", program=name)
    opts.out.good(f"Basal program {name!r} is running.")


def suspend_reminder_alert(minutes: int) -> dict[str, int]:
    """Alert slot 6 "suspend time is over" after `minutes`, every minute for 3 min then every 15 min."""
    return {"slot": 6, "active": 1, "units_trigger": 0, "auto_off": 0, "duration_minutes": 0,
            "trigger": minutes, "beep_repeat": 3, "beep_type": 2}


@main.command("suspend")
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


@main.command("resume")
@common_options(json_flag=False)
def resume_cmd(opts: Options) -> None:
    """Resume the basal program after a suspend."""
    with open_pod(opts) as pod:
        pod.resume()
    Journal(opts.state).append("resume")
    opts.out.good("Insulin delivery resumed with the basal program.")


@main.command("alerts")
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


@main.command("deactivate")
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


# --------------------------------------------------------------------------------------------
# History


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


@main.command("history")
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
