"""What the handset keeps in its state directory for the person: settings, basal programs, journal.

* `Settings`: safety limits and bolus-calculator parameters, range-checked (SAFETY-NOTES §5.2, §5.4)
  and stored in `settings.json`. The CLI checks every command against them before anything is sent.
  `bg_unit` ("mg/dL" or "mmol/L") is how blood glucose is typed and shown; the blood-glucose
  settings are stored in whole mg/dL whatever the unit (conversion rule: `units.format_bg`).
* `BasalPrograms`: up to 7 named 48-half-hour programs and which one is active (`basal-programs.json`).
* `Journal`: an append-only record of the commands this handset sent and what they did
  (`journal.jsonl`); boluses recorded here feed the calculator's insulin on board.

All amounts are integers (pulses, pulses/hour, mg/dL, minutes). Files are written atomically.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable

from handset import units
from handset.errors import InvalidInput

SETTINGS_FILE = "settings.json"
PROGRAMS_FILE = "basal-programs.json"
JOURNAL_FILE = "journal.jsonl"
MAX_PROGRAMS = 7


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"The {what} file {path} cannot be read ({exc}): fix or delete it.") from exc


@dataclass(frozen=True)
class Range:
    """The allowed values of one setting, how to parse it and show it."""

    lo: int
    hi: int
    step: int
    parse: Callable[[str], int]
    show: Callable[[int], str]
    help: str


def _parse_int(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        cleaned = text.strip().lower().removesuffix("mg/dl").removesuffix("g/u").removesuffix("h").strip()
        if not cleaned.isdigit():
            raise InvalidInput(f"{what} {text.strip()!r} is not a whole number.")
        return int(cleaned)
    return parse


def _parse_bool(text: str) -> int:
    low = text.strip().lower()
    if low in ("on", "yes", "true", "1"):
        return 1
    if low in ("off", "no", "false", "0"):
        return 0
    raise InvalidInput(f"{text.strip()!r} is not on or off: type on or off.")


RANGES: dict[str, Range] = {
    "max_bolus": Range(1, units.MAX_BOLUS_PULSES_HARD, 1, units.parse_units, units.format_units,
                       "largest bolus accepted (0.05–30 U, default 10 U)"),
    "max_basal": Range(1, units.MAX_RATE_PPH_HARD, 1, units.parse_rate, units.format_rate,
                       "largest basal or temp basal rate (0.05–30 U/h, default 3 U/h)"),
    "target": Range(110, 150, 1, _parse_int("The target"), lambda v: f"{v} mg/dL",
                    "target blood glucose ({range})"),
    "correct_above": Range(110, 200, 1, _parse_int("Correct above"), lambda v: f"{v} mg/dL",
                           "correct only above this blood glucose ({range}, not below the target)"),
    "carb_ratio": Range(1, 150, 1, _parse_int("The carb ratio"), lambda v: f"{v} g/U",
                        "grams of carbohydrate covered by 1 U (1–150 g/U)"),
    "correction_factor": Range(1, 400, 1, _parse_int("The correction factor"), lambda v: f"{v} mg/dL/U",
                               "blood glucose lowered by 1 U ({range} per U)"),
    "dia": Range(120, 360, 30, units.parse_duration, units.format_minutes,
                 "duration of insulin action (2h–6h in 30-minute steps)"),
    "min_bg": Range(50, 70, 1, _parse_int("The minimum BG"), lambda v: f"{v} mg/dL",
                    "no suggestion below this blood glucose ({range})"),
    "reverse_correction": Range(0, 1, 1, _parse_bool, lambda v: "on" if v else "off",
                                "reduce the meal bolus when BG is below target (on/off)"),
    "low_reservoir": Range(200, 1000, 100, units.parse_units, units.format_units,
                           "low-reservoir alert (10–50 U in 5-U steps), used at activation"),
    "expiry_reminder": Range(1, 24, 1, _parse_int("The expiry reminder"), lambda v: f"{v} h",
                             "expiry reminder hours before 72 h (1–24), used at activation"),
}


#: Settings that are blood-glucose levels or drops: stored in mg/dL, typed and shown in `bg_unit`.
BG_SETTINGS = {"target": "The target", "correct_above": "Correct above",
               "correction_factor": "The correction factor", "min_bg": "The minimum BG"}
BG_UNIT_HELP = "blood glucose unit, for typing and showing (mg/dL or mmol/L)"


def _help(name: str, unit: str) -> str:
    """The help of a setting, its blood-glucose range in the person's unit."""
    rule = RANGES[name]
    return rule.help.format(range=units.bg_range_text(rule.lo, rule.hi, unit)) if name in BG_SETTINGS else rule.help


@dataclass
class Settings:
    """The person's limits and calculator settings, in integer units (see RANGES)."""

    max_bolus: int = 200           # pulses (10 U)
    max_basal: int = 60            # pulses per hour (3 U/h)
    target: int = 120              # mg/dL
    correct_above: int = 150       # mg/dL
    carb_ratio: int = 15           # g/U
    correction_factor: int = 50    # mg/dL per U
    dia: int = 240                 # minutes
    min_bg: int = 70               # mg/dL
    reverse_correction: int = 0    # 0 off, 1 on
    low_reservoir: int = 200       # pulses (10 U)
    expiry_reminder: int = 4       # hours
    bg_unit: str = units.MG_DL     # "mg/dL" or "mmol/L": display and input only

    def check(self) -> None:
        """Raise InvalidInput unless every value is inside its range and the targets are coherent."""
        for name, rule in RANGES.items():
            value = getattr(self, name)
            if not isinstance(value, int) or not rule.lo <= value <= rule.hi or (value - rule.lo) % rule.step:
                raise InvalidInput(
                    f"The setting {name} = {value!r} is out of range: {_help(name, units.MG_DL)}."
                )
        if self.bg_unit not in units.BG_UNITS:
            raise InvalidInput(f"The setting bg_unit = {self.bg_unit!r} is not known: {BG_UNIT_HELP}.")
        if self.correct_above < self.target:
            raise InvalidInput(
                f"Correct above ({self.show_bg(self.correct_above)}) is below the target "
                f"({self.show_bg(self.target)}): set correct_above to the target or higher."
            )

    def show_bg(self, mg_dl: int) -> str:
        """A blood glucose (stored mg/dL) in this person's unit: "7.8 mmol/L"."""
        return units.format_bg(mg_dl, self.bg_unit)

    def read_bg(self, text: str) -> int:
        """A blood glucose typed in this person's unit (or with its unit) as whole mg/dL (20–600)."""
        return units.parse_bg(text, self.bg_unit)

    def with_value(self, name: str, text: str) -> "Settings":
        """A copy with one setting changed from its typed text; raises InvalidInput when it breaks a rule."""
        key = name.replace("-", "_")
        if key == "bg_unit":
            changed = Settings(**{**asdict(self), key: units.parse_bg_unit(text)})
            changed.check()
            return changed
        if key not in RANGES:
            raise InvalidInput(f"There is no setting {name!r}: choose one of {', '.join(RANGES)}, bg_unit.")
        rule = RANGES[key]
        if key in BG_SETTINGS:
            value = units.parse_bg_setting(text, self.bg_unit, BG_SETTINGS[key], rule.lo, rule.hi)
        else:
            value = rule.parse(text)
        if not rule.lo <= value <= rule.hi or (value - rule.lo) % rule.step:
            raise InvalidInput(f"{key} = {text.strip()} is out of range: {_help(key, self.bg_unit)}.")
        changed = Settings(**{**asdict(self), key: value})
        changed.check()
        return changed

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, help) for each setting; blood glucose in the person's unit."""
        rows = []
        for name in RANGES:
            value = getattr(self, name)
            shown = RANGES[name].show(value)
            if name in BG_SETTINGS:
                shown = self.show_bg(value) + ("/U" if name == "correction_factor" else "")
            rows.append((name, shown, _help(name, self.bg_unit)))
        rows.append(("bg_unit", self.bg_unit, BG_UNIT_HELP))
        return rows

    @classmethod
    def load(cls, state_dir: Path) -> "Settings":
        """The stored settings, or the defaults when none are stored."""
        data = _read_json(Path(state_dir) / SETTINGS_FILE, "settings")
        if data is None:
            return cls()
        known = {f.name for f in fields(cls)}
        try:
            settings = cls(**{k: v for k, v in data.items() if k in known})
        except (TypeError, AttributeError) as exc:
            raise InvalidInput(f"The settings file in {state_dir} is damaged: fix or delete it.") from exc
        settings.check()
        return settings

    def save(self, state_dir: Path) -> None:
        """Store atomically (after checking)."""
        self.check()
        _write_atomic(Path(state_dir) / SETTINGS_FILE, json.dumps(asdict(self), indent=2) + "\n")


DEFAULT_PROGRAM_NAME = "default"
DEFAULT_PROGRAM_TEXT = "00:00=0.80,06:00=1.20,12:00=1.00,18:00=1.10,22:00=0.90"


class BasalPrograms:
    """Named basal programs (48 half-hour rates in pulses/hour) and the active one's name."""

    def __init__(self, programs: dict[str, list[int]], active: str | None) -> None:
        self.programs = programs
        self.active = active

    @classmethod
    def load(cls, state_dir: Path) -> "BasalPrograms":
        """The stored programs; a first run starts with one "default" program."""
        data = _read_json(Path(state_dir) / PROGRAMS_FILE, "basal programs")
        if data is None:
            return cls({DEFAULT_PROGRAM_NAME: units.parse_basal_program(DEFAULT_PROGRAM_TEXT)}, DEFAULT_PROGRAM_NAME)
        programs = {str(k): [int(r) for r in v] for k, v in data.get("programs", {}).items()}
        for name, rates in programs.items():
            if len(rates) != 48 or not all(1 <= r <= units.MAX_RATE_PPH_HARD for r in rates):
                raise InvalidInput(f"The stored basal program {name!r} is damaged: set it again with `basal set`.")
        active = data.get("active")
        return cls(programs, active if active in programs else None)

    def save(self, state_dir: Path) -> None:
        """Store atomically."""
        _write_atomic(Path(state_dir) / PROGRAMS_FILE,
                      json.dumps({"active": self.active, "programs": self.programs}, indent=1) + "\n")

    def put(self, name: str, rates_pph: list[int], max_basal_pph: int) -> None:
        """Add or replace a program after checking the name, the count and the max basal rate."""
        if not name or not name.replace("-", "").replace("_", "").isalnum() or len(name) > 20:
            raise InvalidInput(f"The program name {name!r} is not allowed: use up to 20 letters, digits, - or _.")
        if name not in self.programs and len(self.programs) >= MAX_PROGRAMS:
            raise InvalidInput(f"There are already {MAX_PROGRAMS} basal programs: delete one with `basal delete NAME`.")
        peak = max(rates_pph)
        if peak > max_basal_pph:
            raise InvalidInput(
                f"The program {name!r} reaches {units.format_rate(peak)}, above your max basal rate of "
                f"{units.format_rate(max_basal_pph)}: lower it, or raise max_basal with `handset settings set`."
            )
        self.programs[name] = list(rates_pph)

    def get(self, name: str) -> list[int]:
        """The rates of a named program; InvalidInput names the existing ones when it is unknown."""
        if name not in self.programs:
            known = ", ".join(sorted(self.programs)) or "none"
            raise InvalidInput(f"There is no basal program {name!r} (programs: {known}): create it with `basal set`.")
        return self.programs[name]

    def delete(self, name: str) -> None:
        """Remove a program (not the active one)."""
        self.get(name)
        if name == self.active:
            raise InvalidInput(f"The program {name!r} is running: switch to another with `basal use` first.")
        del self.programs[name]


class Journal:
    """Append-only JSON-lines record of commands sent, boluses and alarms, with host time (s)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / JOURNAL_FILE

    def append(self, kind: str, **data: Any) -> dict[str, Any]:
        """Record one event now; returns it."""
        entry: dict[str, Any] = {"time": int(time.time()), "kind": kind, **data}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every readable entry, oldest first (a torn last line from a crash is skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out
