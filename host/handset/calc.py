"""The bolus calculator (SAFETY-NOTES R5.12, R5.13, R7.5), in exact integer arithmetic.

Amounts are kept as exact fractions of a pulse (`fractions.Fraction` of integers: no float ever
touches a dose) and rounded only at the end: the suggestion DOWN to a whole pulse (0.05 U), insulin
on board UP to a whole pulse. Rules, in the order applied:

1. meal = carbs / carb ratio.
2. correction = (BG − target) / correction factor, only when BG > correct-above.
3. reverse correction (a setting): when BG < target and meal > 0, meal += (BG − target) / CF, not below 0.
4. insulin on board decays linearly over the duration of insulin action (2–6 h); it is split into
   meal IOB and correction IOB, each rounded up. Meal IOB is subtracted only from the correction;
   correction IOB from the correction, then from the meal. (Meal IOB is taken first, which can only
   lower the result: the conservative reading of the rule.) IOB is used only when BG is known.
5. no suggestion when BG < minimum BG for calculations; a BG older than 5 minutes is not used;
   no suggestion while a previous bolus is unconfirmed (R7.10); the result is capped at max bolus.

Blood glucose is computed in whole mg/dL (the stored settings' unit) and typed and shown in the
person's `bg_unit` (mg/dL or mmol/L): `read_bg` for the input, `suggestion_items` for the output.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Iterable

from handset import units
from handset.settings import Settings

PULSES_PER_UNIT = 20
BG_MAX_AGE_S = 5 * 60


@dataclass(frozen=True)
class BolusRecord:
    """A delivered bolus as the calculator sees it: when (host seconds) and its meal/correction pulses."""

    time_s: int
    meal_pulses: int
    correction_pulses: int


@dataclass(frozen=True)
class InsulinOnBoard:
    """Insulin on board in whole pulses, each part rounded up."""

    meal_pulses: int
    correction_pulses: int

    @property
    def total_pulses(self) -> int:
        """Meal plus correction IOB."""
        return self.meal_pulses + self.correction_pulses


@dataclass
class Suggestion:
    """The calculator's result. `pulses` is None when no suggestion may be made (see `refusal`)."""

    pulses: int | None
    meal_pulses: int = 0            # meal part after adjustments, rounded down
    correction_pulses: int = 0      # correction part after adjustments, rounded down
    iob: InsulinOnBoard = field(default_factory=lambda: InsulinOnBoard(0, 0))
    iob_used: bool = False
    refusal: str | None = None
    notes: list[str] = field(default_factory=list)
    # The exact intermediate values, in thousandths of a unit rounded toward zero, for display.
    steps_milliunits: dict[str, int] = field(default_factory=dict)


def _ceil(value: Fraction) -> int:
    return -((-value.numerator) // value.denominator)


def _floor(value: Fraction) -> int:
    return value.numerator // value.denominator


def _milli(pulses: Fraction) -> int:
    """Exact pulses -> thousandths of a unit, truncated toward zero (for display only)."""
    scaled = pulses * 50
    magnitude = abs(scaled.numerator) // scaled.denominator
    return magnitude if scaled >= 0 else -magnitude


def insulin_on_board(records: Iterable[BolusRecord], now_s: int, dia_minutes: int) -> InsulinOnBoard:
    """Linear decay: a dose counts (DIA − elapsed) / DIA of itself until DIA has passed. Rounded up."""
    dia_s = dia_minutes * 60
    meal = Fraction(0)
    correction = Fraction(0)
    for record in records:
        elapsed = max(0, now_s - record.time_s)
        if elapsed >= dia_s:
            continue
        left = Fraction(dia_s - elapsed, dia_s)
        meal += record.meal_pulses * left
        correction += record.correction_pulses * left
    return InsulinOnBoard(_ceil(meal), _ceil(correction))


def suggest(settings: Settings, *, carbs_tenths_g: int = 0, bg_mgdl: int | None = None,
            bg_time_s: int | None = None, now_s: int, records: Iterable[BolusRecord] = (),
            unconfirmed: bool = False) -> Suggestion:
    """Suggest a bolus from carbs (tenths of a gram) and an optional BG (mg/dL, taken at bg_time_s)."""
    if unconfirmed:
        return Suggestion(None, refusal=(
            "The last bolus is unconfirmed, so insulin on board is unknown: run `handset status` "
            "to confirm it before using the calculator."))
    notes: list[str] = []
    if bg_mgdl is not None and bg_time_s is not None and now_s - bg_time_s > BG_MAX_AGE_S:
        notes.append("The blood glucose is older than 5 minutes and was not used: measure again to correct.")
        bg_mgdl = None
    if bg_mgdl is not None and bg_mgdl < settings.min_bg:
        return Suggestion(None, refusal=(
            f"Blood glucose {settings.show_bg(bg_mgdl)} is below the minimum for calculations "
            f"({settings.show_bg(settings.min_bg)}): no bolus is suggested; treat the low first."))

    # 1. Meal: tenths of grams / (g per U) -> units; x20 -> pulses.
    meal = Fraction(carbs_tenths_g * PULSES_PER_UNIT, 10 * settings.carb_ratio)
    correction = Fraction(0)
    steps = {"meal": _milli(meal)}
    if bg_mgdl is not None:
        # 2. Correction only above correct-above, down to the target.
        if bg_mgdl > settings.correct_above:
            correction = Fraction((bg_mgdl - settings.target) * PULSES_PER_UNIT, settings.correction_factor)
        steps["correction"] = _milli(correction)
        # 3. Reverse correction reduces only a positive meal bolus.
        if settings.reverse_correction and bg_mgdl < settings.target and meal > 0:
            reverse = Fraction((bg_mgdl - settings.target) * PULSES_PER_UNIT, settings.correction_factor)
            meal = max(Fraction(0), meal + reverse)
            steps["reverse_correction"] = _milli(reverse)
            notes.append("Reverse correction lowered the meal bolus because BG is below target.")

    iob = insulin_on_board(records, now_s, settings.dia)
    iob_used = bg_mgdl is not None
    if iob_used:
        # 4. Meal IOB comes off the correction only.
        correction = max(Fraction(0), correction - iob.meal_pulses)
        # Correction IOB comes off the correction, then whatever is left of it off the meal.
        left_over = max(Fraction(0), iob.correction_pulses - correction)
        correction = max(Fraction(0), correction - iob.correction_pulses)
        meal = max(Fraction(0), meal - left_over)
    elif iob.total_pulses:
        notes.append("Insulin on board was not subtracted because no current blood glucose was entered.")

    meal_pulses = _floor(meal)
    correction_pulses = _floor(correction)
    total = _floor(meal + correction)
    steps["total"] = _milli(meal + correction)
    if total > settings.max_bolus:
        notes.append(f"The suggestion was capped at your max bolus ({settings.max_bolus} pulses).")
        total = settings.max_bolus
        correction_pulses = min(correction_pulses, total)
        meal_pulses = total - correction_pulses
    else:
        # Rounding the sum down may leave one pulse more than the parts rounded separately: give it to the meal.
        meal_pulses = total - correction_pulses
    return Suggestion(total, meal_pulses, correction_pulses, iob, iob_used, None, notes, steps)


def read_bg(settings: Settings, text: str) -> int:
    """The calculator's blood-glucose input, typed in the person's unit (or naming its unit:
    "7.8 mmol/L", "140 mg/dL"), as whole mg/dL; InvalidInput with a sentence otherwise."""
    return settings.read_bg(text)


def suggestion_items(s: Suggestion, settings: Settings, carbs_tenths_g: int,
                     bg_mgdl: int | None) -> list[tuple[str, str]]:
    """The calculator's inputs, arithmetic and result as (name, text) rows, blood glucose in the
    person's unit and insulin in units (from exact thousandths and whole pulses)."""
    items = [("carbs", f"{carbs_tenths_g // 10}.{carbs_tenths_g % 10} g"),
             ("blood glucose", settings.show_bg(bg_mgdl) if bg_mgdl is not None else "not entered"),
             ("target", f"{settings.show_bg(settings.target)} (correct above {settings.show_bg(settings.correct_above)})"),
             ("BG drop per U", settings.show_bg(settings.correction_factor))]
    for name, milli in s.steps_milliunits.items():
        items.append((name.replace("_", " "), units.format_milliunits(milli)))
    items.append(("insulin on board",
                  f"{units.format_units(s.iob.total_pulses)} (meal {units.format_units(s.iob.meal_pulses)}, "
                  f"correction {units.format_units(s.iob.correction_pulses)})"
                  + ("" if s.iob_used else " — not subtracted")))
    if s.pulses is not None:
        items.append(("suggested bolus", f"{units.format_units(s.pulses)} (meal {units.format_units(s.meal_pulses)}, "
                                         f"correction {units.format_units(s.correction_pulses)})"))
    return items
