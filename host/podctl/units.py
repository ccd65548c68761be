"""Parsing and showing what an operator types: time spans, fault codes, insulin amounts.

Integers only: a span becomes milliseconds, an amount whole pulses of 0.05 U.
"""
from __future__ import annotations

import re

from handset.errors import HandsetError
from handset.units import parse_units
from podctl.errors import BadInput

PULSES_PER_UNIT = 20
_SPAN_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_SPAN_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_span_ms(text: str, what: str = "The time") -> int:
    """``"2h"``, ``"1h30m"``, ``"3s"``, ``"500ms"`` → milliseconds."""
    cleaned = text.strip().lower().replace(" ", "")
    parts = _SPAN_PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise BadInput(f"{what} {text.strip()!r} is not understood: type it like 3s, 90m, 2h, 1h30m or 500ms.")
    return sum(int(n) * _SPAN_MS[u] for n, u in parts)


def parse_minutes(text: str, what: str = "The age") -> int:
    """A span that must be whole minutes (``"71h"``, ``"90m"``) → minutes."""
    ms = parse_span_ms(text, what)
    if ms % 60_000:
        raise BadInput(f"{what} {text.strip()} is not a whole number of minutes: type it like 71h or 4250m.")
    return ms // 60_000


def parse_code(text: str, what: str = "The fault code", low: int = 1, high: int = 255) -> int:
    """``"0x14"`` or ``"20"`` → 20, within low..high."""
    cleaned = text.strip().lower()
    try:
        value = int(cleaned, 16) if cleaned.startswith("0x") else int(cleaned, 10)
    except ValueError:
        raise BadInput(f"{what} {text.strip()!r} is not a number: type it like 0x14 or 20.") from None
    if not low <= value <= high:
        raise BadInput(f"{what} must be from 0x{low:02x} to 0x{high:02x}, got {text.strip()}.")
    return value


def parse_pulses(text: str, what: str = "The amount") -> int:
    """Units (``"12.5"``, ``"12.5U"``) → pulses of 0.05 U."""
    try:
        return parse_units(text, what)
    except HandsetError as exc:
        raise BadInput(str(exc)) from None


def format_units(pulses: int | None) -> str:
    """Pulses → ``"12.50 U"``, exactly (integer arithmetic)."""
    if pulses is None:
        return "?"
    hundredths = pulses * 5
    return f"{hundredths // 100}.{hundredths % 100:02d} U"


def format_rate(cuph: int | None) -> str:
    """Hundredths of a unit per hour → ``"0.85 U/h"``."""
    if cuph is None:
        return "?"
    return f"{cuph // 100}.{cuph % 100:02d} U/h"


def format_span(ms: int | None) -> str:
    """Milliseconds → ``"2h05m"``, ``"45s"``."""
    if ms is None:
        return "?"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m{seconds % 60:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"
