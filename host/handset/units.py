"""Parsing and formatting of what a person types: insulin amounts, rates, durations, times of day.

Every amount becomes integer pulses (0.05 U) by decimal-string arithmetic; no float is ever
involved. Malformed or impossible input raises `handset.errors.InvalidInput` with a sentence that
says what was wrong and what to type instead.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from handset.errors import InvalidInput

PULSES_PER_UNIT = 20
#: Hard limits of the pod (SAFETY-NOTES R5.6, R7.1): 30 U per bolus, 30 U/h.
MAX_BOLUS_PULSES_HARD = 600
MAX_RATE_PPH_HARD = 600
#: Temp basals: 30 min to 12 h in 30-min steps (R5.5, R7.4); relative change capped at +95 % (R5.7).
TEMP_MIN_HALF_HOURS = 1
TEMP_MAX_HALF_HOURS = 24
TEMP_MAX_PERCENT = 195

_DECIMAL = re.compile(r"^\s*([+-]?)(\d*)(?:\.(\d*))?\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m)", re.IGNORECASE)


def _decimal_to_fraction(text: str, what: str, example: str) -> tuple[int, int]:
    """Split a decimal string into (numerator, power of ten) exactly: "2.35" -> (235, 100)."""
    match = _DECIMAL.match(text)
    if not match or (match.group(2) == "" and not match.group(3)):
        raise InvalidInput(f"{what} {text!r} is not a number: type it like {example}.")
    sign, whole, frac = match.group(1), match.group(2) or "0", match.group(3) or ""
    numerator = int(whole + frac)
    if sign == "-" and numerator != 0:
        raise InvalidInput(f"{what} {text.strip()} is negative: type a positive amount like {example}.")
    return numerator, 10 ** len(frac)


def _strip_suffix(text: str, suffixes: tuple[str, ...]) -> str:
    low = text.strip().lower().replace(" ", "")
    for suffix in suffixes:
        if low.endswith(suffix):
            return low[: -len(suffix)]
    return low


def parse_units(text: str, what: str = "The amount") -> int:
    """Parse an insulin amount in units ("2.35", "2.35U", "0.05 u") into whole pulses of 0.05 U.

    Raises InvalidInput when the text is malformed, negative, or not a multiple of 0.05 U.
    """
    number = _strip_suffix(text, ("units", "unit", "u"))
    numerator, scale = _decimal_to_fraction(number, what, "2.35")
    if (numerator * PULSES_PER_UNIT) % scale:
        raise InvalidInput(
            f"{what} {text.strip()} U is not a multiple of 0.05 U: the pod delivers 0.05-U pulses, "
            "so round it to two decimals ending in 0 or 5 (for example 2.35)."
        )
    return numerator * PULSES_PER_UNIT // scale


def parse_rate(text: str, what: str = "The rate") -> int:
    """Parse a basal rate in U/h ("1.2", "1.2U/h") into pulses per hour (multiple of 0.05 U/h)."""
    number = _strip_suffix(text, ("u/hr", "u/h", "/hr", "/h"))
    numerator, scale = _decimal_to_fraction(number, what, "1.25")
    if (numerator * PULSES_PER_UNIT) % scale:
        raise InvalidInput(
            f"{what} {text.strip()} U/h is not a multiple of 0.05 U/h: round it to two decimals ending in 0 or 5."
        )
    return numerator * PULSES_PER_UNIT // scale


def parse_grams(text: str) -> int:
    """Parse a carbohydrate amount in grams ("45", "12.5g") into tenths of a gram (0.1–225 g)."""
    number = _strip_suffix(text, ("grams", "gram", "g"))
    numerator, scale = _decimal_to_fraction(number, "The carbohydrate amount", "45")
    if (numerator * 10) % scale:
        raise InvalidInput(f"The carbohydrate amount {text.strip()} g has more than one decimal: type it like 12.5.")
    tenths = numerator * 10 // scale
    if not 1 <= tenths <= 2250:
        raise InvalidInput(f"The carbohydrate amount {text.strip()} g is out of range: enter 0.1 to 225 g.")
    return tenths


# --- blood glucose: stored in whole mg/dL, shown and typed in mg/dL or mmol/L -----------------------
#
# The conversion rule (used everywhere, in both directions, integers only):
#   mmol/L = mg/dL / 18, to one decimal, rounded half up:   tenths = (mg_dl * 20 + 18) // 36
#   mg/dL  = mmol/L x 18, to a whole mg/dL, rounded half up: mg_dl = (tenths * 36 + 10) // 20
# 18 is the customary factor (glucose's molar mass 180.16 g/mol gives 18.016): meters, pumps and
# guidelines print 5.6 mmol/L for 100 mg/dL, and so does this rule. A value converted there and back
# may move by 1 mg/dL (0.1 mmol/L is 1.8 mg/dL); stored values stay mg/dL, so that only the display
# rounds.

MG_DL = "mg/dL"
MMOL_L = "mmol/L"
BG_UNITS = (MG_DL, MMOL_L)
MGDL_PER_MMOL = 18
#: What a meter reads (SAFETY-NOTES R5.13): 20–600 mg/dL, 1.1–33.3 mmol/L.
BG_MIN_MGDL = 20
BG_MAX_MGDL = 600
_BG_UNIT_SPELLINGS = {"mg/dl": MG_DL, "mgdl": MG_DL, "mg": MG_DL, "mmol/l": MMOL_L, "mmoll": MMOL_L, "mmol": MMOL_L}


def parse_bg_unit(text: str) -> str:
    """"mmol/L", "mmol", "mg/dL", "mgdl" (any case) -> "mmol/L" or "mg/dL"."""
    unit = _BG_UNIT_SPELLINGS.get(text.strip().lower().replace(" ", ""))
    if unit is None:
        raise InvalidInput(f"The blood glucose unit {text.strip()!r} is not known: type mg/dL or mmol/L.")
    return unit


def mgdl_to_mmol_tenths(mg_dl: int) -> int:
    """mg/dL -> tenths of a mmol/L, by the rule above: 100 -> 56 (5.6 mmol/L)."""
    return (mg_dl * 20 + MGDL_PER_MMOL) // (2 * MGDL_PER_MMOL)


def mmol_tenths_to_mgdl(tenths: int) -> int:
    """Tenths of a mmol/L -> mg/dL, by the rule above: 56 -> 101, 78 -> 140."""
    return (tenths * 2 * MGDL_PER_MMOL + 10) // 20


def format_bg(mg_dl: int, unit: str = MG_DL, with_unit: bool = True) -> str:
    """A stored blood glucose (mg/dL) in the person's unit: 140 -> "140 mg/dL" or "7.8 mmol/L"."""
    if unit == MMOL_L:
        tenths = mgdl_to_mmol_tenths(abs(mg_dl))
        text = f"{'-' if mg_dl < 0 else ''}{tenths // 10}.{tenths % 10}"
    else:
        text = str(mg_dl)
    return f"{text} {unit}" if with_unit else text


def _bg_number(text: str, unit: str, what: str) -> tuple[int, str]:
    """(number as typed: mg/dL or tenths of mmol/L, unit): a unit typed after the number wins."""
    cleaned = text.strip().lower().replace(" ", "")
    for spelling in sorted(_BG_UNIT_SPELLINGS, key=len, reverse=True):
        if cleaned.endswith(spelling):
            cleaned, unit = cleaned[: -len(spelling)], _BG_UNIT_SPELLINGS[spelling]
            break
    if unit == MMOL_L:
        numerator, scale = _decimal_to_fraction(cleaned, what, "7.8")
        if (numerator * 10) % scale:
            raise InvalidInput(f"{what} {text.strip()} has more than one decimal: type mmol/L like 7.8.")
        return numerator * 10 // scale, unit
    if not cleaned.isdigit():
        raise InvalidInput(f"{what} {text.strip()!r} is not a whole number of mg/dL: type it like 145, or give "
                           "mmol/L with its unit (7.8 mmol/L) or as your unit (`handset settings set bg_unit mmol/L`).")
    return int(cleaned), unit


def parse_bg(text: str, unit: str = MG_DL) -> int:
    """Parse a blood glucose typed in `unit` ("145", "7.8"; "7.8 mmol/L" names its own unit) into
    whole mg/dL, 20–600 mg/dL (1.1–33.3 mmol/L, SAFETY-NOTES R5.13)."""
    number, unit = _bg_number(text, unit, "The blood glucose")
    mg_dl = mmol_tenths_to_mgdl(number) if unit == MMOL_L else number
    if not BG_MIN_MGDL <= mg_dl <= BG_MAX_MGDL:
        raise InvalidInput(
            f"The blood glucose {_typed_bg(number, unit)} is out of range: the meter reads "
            f"{format_bg(BG_MIN_MGDL, unit, False)} to {format_bg(BG_MAX_MGDL, unit)}.")
    return mg_dl


def _typed_bg(number: int, unit: str) -> str:
    return f"{number // 10}.{number % 10} {MMOL_L}" if unit == MMOL_L else f"{number} {MG_DL}"


def parse_bg_setting(text: str, unit: str, what: str, lo: int, hi: int) -> int:
    """A blood-glucose setting (a level, or a drop per unit such as the correction factor) typed in
    `unit`, as whole mg/dL within lo..hi mg/dL; the error names the range in the person's unit."""
    number, unit = _bg_number(text, unit, what)
    mg_dl = mmol_tenths_to_mgdl(number) if unit == MMOL_L else number
    if not lo <= mg_dl <= hi:
        raise InvalidInput(f"{what} {_typed_bg(number, unit)} is out of range: use {bg_range_text(lo, hi, unit)}.")
    return mg_dl


def bg_range_text(lo: int, hi: int, unit: str) -> str:
    """"110–150 mg/dL" or "6.1–8.3 mmol/L"."""
    return f"{format_bg(lo, unit, False)}–{format_bg(hi, unit)}"


def parse_duration(text: str) -> int:
    """Parse a duration ("30m", "0.5h", "1h30m", "2h") into whole minutes."""
    cleaned = text.strip().lower().replace(" ", "")
    if cleaned.endswith("min"):
        cleaned = cleaned[:-2]
    parts = _DURATION_PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise InvalidInput(
            f"The duration {text.strip()!r} is not understood: type it like 30m, 0.5h, 2h or 1h30m."
        )
    total_tenths_of_minutes = 0
    for number, unit in parts:
        numerator, scale = _decimal_to_fraction(number, "The duration", "1h30m")
        per_unit = 60 if unit == "h" else 1
        total_tenths_of_minutes += numerator * per_unit * 10 // scale
        if (numerator * per_unit * 10) % scale:
            raise InvalidInput(f"The duration {text.strip()} is not a whole number of minutes.")
    if total_tenths_of_minutes % 10:
        raise InvalidInput(f"The duration {text.strip()} is not a whole number of minutes.")
    return total_tenths_of_minutes // 10


def parse_half_hours(text: str, what: str = "The duration", lo: int = TEMP_MIN_HALF_HOURS,
                     hi: int = TEMP_MAX_HALF_HOURS) -> int:
    """Parse a duration that must be whole half hours between lo and hi half hours."""
    minutes = parse_duration(text)
    if minutes % 30:
        raise InvalidInput(f"{what} {format_minutes(minutes)} is not in 30-minute steps: use 30m, 1h, 1h30m, …")
    half_hours = minutes // 30
    if not lo <= half_hours <= hi:
        raise InvalidInput(
            f"{what} {format_minutes(minutes)} is out of range: use {format_minutes(lo * 30)} to "
            f"{format_minutes(hi * 30)}."
        )
    return half_hours


@dataclass(frozen=True)
class TempRate:
    """A temp basal as typed: an absolute rate (pulses/hour) or a percentage of the scheduled basal."""

    rate_pph: int | None = None
    percent: int | None = None

    def resolve(self, scheduled_pph: int) -> int:
        """The absolute rate in pulses/hour; percentages round down to a whole 0.05 U/h."""
        if self.rate_pph is not None:
            return self.rate_pph
        assert self.percent is not None
        return scheduled_pph * self.percent // 100


def parse_temp_rate(text: str) -> TempRate:
    """Parse "1.5" / "1.5U/h" (absolute) or "50%" (of the schedule) or "+20%" / "-30%" (relative)."""
    cleaned = text.strip().replace(" ", "")
    if not cleaned.endswith("%"):
        return TempRate(rate_pph=parse_rate(cleaned, "The temp basal rate"))
    body = cleaned[:-1]
    relative = body[:1] in ("+", "-")
    digits = body[1:] if relative else body
    if not digits.isdigit():
        raise InvalidInput(f"The percentage {text.strip()!r} is not understood: type it like 50%, +20% or -30%.")
    value = int(digits)
    percent = (100 + value if body[0] == "+" else 100 - value) if relative else value
    if not 0 <= percent <= TEMP_MAX_PERCENT:
        raise InvalidInput(
            f"The temp basal {text.strip()} is out of range: use 0% to {TEMP_MAX_PERCENT}% of the schedule "
            f"(-100% to +{TEMP_MAX_PERCENT - 100}%)."
        )
    return TempRate(percent=percent)


def parse_time_of_day(text: str) -> int:
    """Parse "06:30" into a half-hour index 0..47; times must fall on half-hour boundaries."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if not match:
        raise InvalidInput(f"The time {text.strip()!r} is not understood: type it as HH:MM, like 06:30.")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise InvalidInput(f"The time {text.strip()} does not exist: use 00:00 to 23:30.")
    if minute not in (0, 30):
        raise InvalidInput(f"The time {text.strip()} is not on a half-hour boundary: use :00 or :30.")
    return hour * 2 + minute // 30


MAX_BASAL_SEGMENTS = 24


def parse_basal_program(text: str) -> list[int]:
    """Parse "00:00=0.8,06:30=1.2,22:00=0.9" into 48 half-hour rates in pulses/hour.

    The first segment must start at 00:00; starts must increase; at most 24 segments;
    each rate 0.05–30 U/h (the Eros basal table cannot hold 0 U/h: suspend instead).
    """
    items = [item for item in text.replace(" ", "").split(",") if item]
    if not items:
        raise InvalidInput('The basal program is empty: type it like "00:00=0.8,06:30=1.2,22:00=0.9".')
    if len(items) > MAX_BASAL_SEGMENTS:
        raise InvalidInput(f"The basal program has {len(items)} segments: at most {MAX_BASAL_SEGMENTS} are allowed.")
    starts: list[tuple[int, int]] = []
    for item in items:
        if "=" not in item:
            raise InvalidInput(f"The basal segment {item!r} is not understood: type it as HH:MM=RATE, like 06:30=1.2.")
        when, rate_text = item.split("=", 1)
        start = parse_time_of_day(when)
        rate = parse_rate(rate_text, f"The rate at {when}")
        if not 1 <= rate <= MAX_RATE_PPH_HARD:
            raise InvalidInput(
                f"The rate at {when} ({format_rate(rate)}) is out of range: use 0.05 to 30 U/h "
                "(to stop insulin, suspend instead)."
            )
        if starts and start <= starts[-1][0]:
            raise InvalidInput(f"The basal segment at {when} is out of order: list the start times in increasing order.")
        starts.append((start, rate))
    if starts[0][0] != 0:
        raise InvalidInput("The basal program must start at 00:00: add a first segment like 00:00=0.8.")
    rates: list[int] = []
    for index, (start, rate) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else 48
        rates.extend([rate] * (end - start))
    return rates


def program_segments(rates_pph: list[int]) -> list[tuple[int, int]]:
    """Collapse 48 half-hour rates into (start half-hour, rate) segments."""
    segments: list[tuple[int, int]] = []
    for index, rate in enumerate(rates_pph):
        if not segments or segments[-1][1] != rate:
            segments.append((index, rate))
    return segments


def format_program(rates_pph: list[int]) -> str:
    """The inverse of parse_basal_program: "00:00=0.80,06:30=1.20"."""
    return ",".join(f"{format_time_of_day(start)}={format_rate(rate, unit=False)}"
                    for start, rate in program_segments(rates_pph))


def format_time_of_day(half_hour: int) -> str:
    """Half-hour index -> "HH:MM"."""
    return f"{half_hour // 2:02d}:{30 * (half_hour % 2):02d}"


def format_units(pulses: int, unit: bool = True) -> str:
    """Pulses -> "2.35 U" (exact, two decimals)."""
    sign = "-" if pulses < 0 else ""
    whole, hundredths = divmod(abs(pulses) * 5, 100)
    return f"{sign}{whole}.{hundredths:02d}" + (" U" if unit else "")


def format_milliunits(milliunits: int) -> str:
    """Thousandths of a unit -> "1.234 U" (for showing the calculator's exact arithmetic)."""
    sign = "-" if milliunits < 0 else ""
    whole, rest = divmod(abs(milliunits), 1000)
    return f"{sign}{whole}.{rest:03d} U"


def format_rate(pph: int, unit: bool = True) -> str:
    """Pulses per hour -> "1.20 U/h"."""
    return format_units(pph, unit=False) + (" U/h" if unit else "")


def format_minutes(minutes: int) -> str:
    """Minutes -> "1h30m", "45m", "3h"."""
    hours, mins = divmod(minutes, 60)
    if hours and mins:
        return f"{hours}h{mins:02d}m"
    if hours:
        return f"{hours}h"
    return f"{mins}m"
