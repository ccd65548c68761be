"""What one closed-loop run is: patient, length, meals, basal, boluses, LGS, events — checked.

Times are minutes since the run starts (day 1 at `start`, 06:00 by default). Meals are typed
"HH:MM=GRAMS" (every day) or "dN HH:MM=GRAMS" (once, on day N); sensor gaps "dN HH:MM-HH:MM";
occlusions "dN HH:MM" (the line blocks from then on). Anything impossible is refused with a sentence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from handset import units
from handset.errors import InvalidInput
from patient import lgs
from patient.model import check_patient

MINUTES_PER_DAY = 1440
DEFAULT_MINUTES = 3 * MINUTES_PER_DAY
MAX_MINUTES = 14 * MINUTES_PER_DAY  # the run changes the pod every 72 hours
DEFAULT_MEALS = ("07:00=45", "12:30=70", "19:00=80")
BOLUS_MODES = ("calculator", "none")

_CLOCK = r"(\d{1,2}):(\d{2})"


@dataclass(frozen=True)
class Meal:
    """`grams` of carbohydrate eaten at `minute` (since the run started)."""

    minute: int
    grams: int


@dataclass(frozen=True)
class Scenario:
    """One run. Build it with `build(...)` (which checks everything) or `replace` a checked one."""

    patient: str = "adolescent#001"
    minutes: int = DEFAULT_MINUTES
    start: int = 6 * 60                 # minute of the day at which the run starts
    meals: tuple[Meal, ...] = ()
    announced_percent: int = 100        # carbs the person enters into the calculator, % of eaten
    bolus: str = "calculator"
    basal_pph: int | None = None        # None: the patient's own basal
    lgs_mode: str = "off"
    lgs_threshold: int = lgs.DEFAULT_THRESHOLD
    seed: int = 1
    sensor_out: tuple[tuple[int, int], ...] = ()
    occlusions: tuple[int, ...] = ()
    user_resumes: tuple[int, ...] = ()

    def label(self, minute: int) -> str:
        """"d2 07:30" for a minute of the run."""
        absolute = self.start + minute
        day, tod = divmod(absolute, MINUTES_PER_DAY)
        return f"d{day + 1} {tod // 60:02d}:{tod % 60:02d}"

    def with_lgs(self, mode: str) -> "Scenario":
        """The same scenario with another LGS mode."""
        if mode not in lgs.MODES:
            raise InvalidInput(f"Low-glucose suspend mode {mode!r} is unknown: choose off, threshold or predictive.")
        return replace(self, lgs_mode=mode)


def _clock(text: str, what: str) -> int:
    m = re.fullmatch(_CLOCK, text.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise InvalidInput(f"{what} {text.strip()!r} is not a time of day: type it as HH:MM, like 07:30.")
    return int(m.group(1)) * 60 + int(m.group(2))


def _day(text: str, what: str) -> int:
    m = re.fullmatch(r"d(\d+)", text.strip().lower())
    if not m or int(m.group(1)) < 1:
        raise InvalidInput(f"{what} {text.strip()!r} is not a day: type d1 for the first day, d2 for the next.")
    return int(m.group(1))


def _moment(text: str, start: int, what: str) -> int:
    """"dN HH:MM" → minute of the run (may be negative: before the start)."""
    parts = text.split()
    if len(parts) != 2:
        raise InvalidInput(f"{what} {text.strip()!r} is not understood: type it as dN HH:MM, like d1 13:00.")
    return (_day(parts[0], what) - 1) * MINUTES_PER_DAY + _clock(parts[1], what) - start


def _check_inside(minute: int, minutes: int, text: str, what: str, start_label: str, end_label: str) -> None:
    if minute < 0:
        raise InvalidInput(f"{what} at {text.strip()} is before the run starts ({start_label}): "
                           "move it later or start the run earlier with --start.")
    if minute >= minutes:
        raise InvalidInput(f"{what} at {text.strip()} is after the run ends ({end_label}): "
                           "move it earlier or make the run longer.")


def parse_meals(specs: list[str], start: int, minutes: int) -> tuple[Meal, ...]:
    """Daily "HH:MM=G" and one-off "dN HH:MM=G" meals → the meals of the run, in time order."""
    probe = Scenario(start=start, minutes=minutes)
    meals: list[Meal] = []
    for spec in specs:
        when, sep, grams_text = spec.partition("=")
        if not sep:
            raise InvalidInput(f"The meal {spec.strip()!r} is not understood: type HH:MM=GRAMS, like 12:30=60 "
                               "(every day) or d2 12:30=60 (once).")
        try:
            grams = int(grams_text.strip().removesuffix("g"))
        except ValueError:
            raise InvalidInput(f"The meal {spec.strip()!r} has no whole number of grams: type it like 12:30=60.") from None
        if not 1 <= grams <= 200:
            raise InvalidInput(f"The meal {spec.strip()!r} has {grams} g: a meal is 1–200 g of carbohydrate.")
        if " " in when.strip():
            minute = _moment(when, start, "The meal")
            _check_inside(minute, minutes, when, "The meal", probe.label(0), probe.label(minutes))
            meals.append(Meal(minute, grams))
        else:
            tod = _clock(when, "The meal time")
            first = (tod - start) % MINUTES_PER_DAY
            meals.extend(Meal(m, grams) for m in range(first, minutes, MINUTES_PER_DAY))
    return tuple(sorted(meals, key=lambda m: m.minute))


def parse_gaps(specs: list[str], start: int, minutes: int) -> tuple[tuple[int, int], ...]:
    """"dN HH:MM-HH:MM" sensor gaps → (first minute, end minute) pairs."""
    probe = Scenario(start=start, minutes=minutes)
    gaps = []
    for spec in specs:
        parts = spec.split()
        if len(parts) != 2 or "-" not in parts[1]:
            raise InvalidInput(f"The sensor gap {spec.strip()!r} is not understood: type it as dN HH:MM-HH:MM, "
                               "like d1 13:00-14:30.")
        a, b = parts[1].split("-", 1)
        first = _moment(f"{parts[0]} {a}", start, "The sensor gap")
        end = _moment(f"{parts[0]} {b}", start, "The sensor gap")
        if end <= first:
            end += MINUTES_PER_DAY  # runs past midnight
        _check_inside(first, minutes, spec, "The sensor gap", probe.label(0), probe.label(minutes))
        gaps.append((first, min(end, minutes)))
    return tuple(gaps)


def parse_moments(specs: list[str], start: int, minutes: int, what: str) -> tuple[int, ...]:
    """"dN HH:MM" events → minutes of the run."""
    probe = Scenario(start=start, minutes=minutes)
    out = []
    for spec in specs:
        minute = _moment(spec, start, what)
        _check_inside(minute, minutes, spec, what, probe.label(0), probe.label(minutes))
        out.append(minute)
    return tuple(sorted(out))


def build(patient: str = "adolescent#001", *, days: int | None = None, hours: int | None = None,
          start: str = "06:00", meals: list[str] | None = None, announced_percent: int = 100,
          bolus: str = "calculator", basal: str | None = None, lgs_mode: str = "off",
          lgs_threshold: str = "70", seed: int = 1, sensor_out: list[str] | None = None,
          occlusions: list[str] | None = None, user_resumes: list[str] | None = None) -> Scenario:
    """A checked scenario from what a person types; InvalidInput (a sentence) on anything impossible."""
    check_patient(patient)
    if days is not None and hours is not None:
        raise InvalidInput("Give the run's length as days or as hours, not both.")
    minutes = (days * MINUTES_PER_DAY if days is not None else
               hours * 60 if hours is not None else DEFAULT_MINUTES)
    if not 60 <= minutes <= MAX_MINUTES:
        raise InvalidInput("A run lasts from 1 hour to 14 days (the pod is changed every 72 hours): "
                           "give --days 1 to 14 or --hours 1 to 336.")
    start_min = _clock(start, "The start time")
    if bolus not in BOLUS_MODES:
        raise InvalidInput(f"Bolus mode {bolus!r} is unknown: choose calculator or none.")
    if not 0 <= announced_percent <= 200:
        raise InvalidInput("The announced carbs are 0–200 % of what is eaten.")
    if lgs_mode not in lgs.MODES:
        raise InvalidInput(f"Low-glucose suspend mode {lgs_mode!r} is unknown: choose off, threshold or predictive.")
    threshold = units.parse_bg_setting(lgs_threshold, units.MG_DL, "The low-glucose suspend threshold",
                                       lgs.THRESHOLD_RANGE[0], lgs.THRESHOLD_RANGE[1])
    basal_pph = None
    if basal is not None and basal.strip().lower() != "patient":
        basal_pph = units.parse_rate(basal, "The basal rate")
        if not 1 <= basal_pph <= 60:
            raise InvalidInput("The basal rate of a run is 0.05–3 U/h: type it like 0.85.")
    if not 0 <= seed < 2 ** 31:
        raise InvalidInput("The seed is a whole number from 0 to 2147483647.")
    return Scenario(
        patient=patient, minutes=minutes, start=start_min,
        meals=parse_meals(list(meals) if meals is not None else list(DEFAULT_MEALS), start_min, minutes),
        announced_percent=announced_percent, bolus=bolus, basal_pph=basal_pph, lgs_mode=lgs_mode,
        lgs_threshold=threshold, seed=seed,
        sensor_out=parse_gaps(sensor_out or [], start_min, minutes),
        occlusions=parse_moments(occlusions or [], start_min, minutes, "The occlusion"),
        user_resumes=parse_moments(user_resumes or [], start_min, minutes, "The user's resume"))
