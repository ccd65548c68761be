"""The CGM: a reading every 5 minutes from simglucose's Guardian REAL-Time sensor model (seeded
noise, no calibration), a trend arrow, gaps while the sensor is out, high/low alerts, and the CGM
log the handset reads (``cgm.jsonl`` in the handset's state directory).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from handset.errors import StateError

SENSOR = "GuardianRT"
PERIOD_MIN = 5
LOG_NAME = "cgm.jsonl"
DEFAULT_LOW = 70
DEFAULT_HIGH = 250
FRESH_MS = 5 * 60_000  # the 5-minute rule of the calculator (handset.calc.BG_MAX_AGE_S)

# Trend arrows by rate of change (mg/dL per minute), steepest first.
_ARROWS = ((3, "⇈", "rising fast"), (2, "↑", "rising"), (1, "↗", "rising slowly"),
           (-1, "→", "steady"), (-2, "↘", "falling slowly"), (-3, "↓", "falling"))
_FALLING_FAST = ("⇊", "falling fast")


@dataclass(frozen=True)
class Reading:
    """One CGM reading. `mgdl` is None during a sensor gap."""

    minute: int                 # minutes since the run started
    pod_ms: int                 # the pod's clock at the reading
    mgdl: int | None
    trend: str = ""             # arrow, "" when unknown
    rate_tenths: int | None = None  # mg/dL per minute × 10
    alert: str = ""             # "low", "high" or "" (raised once per excursion)
    at: str = ""                # the run's day and time of day ("d2 07:30"), for people

    def to_json(self) -> dict:
        """The record written to the CGM log."""
        return asdict(self)


def rate_tenths(history: list[Reading], span_min: int = 15) -> int | None:
    """Least-squares slope of the readings of the last `span_min` minutes, in tenths of mg/dL/min;
    None with fewer than 3 readings there or a gap inside."""
    if not history or history[-1].mgdl is None:
        return None
    last = history[-1].minute
    pts = [(r.minute, r.mgdl) for r in history if last - r.minute <= span_min]
    if len(pts) < 3 or any(m is None for _, m in pts):
        return None
    n = len(pts)
    sx = sum(t for t, _ in pts)
    sy = sum(int(g) for _, g in pts)  # type: ignore[arg-type]
    sxx = sum(t * t for t, _ in pts)
    sxy = sum(t * int(g) for t, g in pts)  # type: ignore[arg-type]
    den = n * sxx - sx * sx
    if den == 0:
        return None
    num = (n * sxy - sx * sy) * 10
    return (num + den // 2) // den  # nearest tenth


def arrow(rate: int | None) -> str:
    """The trend arrow for a rate in tenths of mg/dL/min ("" when unknown)."""
    if rate is None:
        return ""
    for limit, symbol, _ in _ARROWS:
        if rate >= limit * 10:
            return symbol
    return _FALLING_FAST[0]


def predicted(history: list[Reading], minutes: int) -> int | None:
    """The glucose `minutes` ahead on the current trend, mg/dL; None when the trend is unknown."""
    rate = rate_tenths(history)
    if rate is None:
        return None
    now = history[-1].mgdl
    assert now is not None
    return now + (rate * minutes) // 10


class Cgm:
    """The sensor on one patient: `read(patient, minute, pod_ms, out)` every 5 minutes."""

    def __init__(self, seed: int, low: int = DEFAULT_LOW, high: int = DEFAULT_HIGH) -> None:
        from patient.model import simglucose_module
        self._sensor = simglucose_module("simglucose.sensor.cgm").CGMSensor.withName(SENSOR, seed=seed)
        self.low, self.high = low, high
        self.history: list[Reading] = []
        self._alerted = ""

    def read(self, patient_model: object, minute: int, pod_ms: int, out: bool, at: str = "") -> Reading:
        """The reading at this minute (a multiple of 5); `out` = the sensor is out (a gap)."""
        value = float(self._sensor.measure(patient_model))  # the noise sequence advances even in a gap
        if out:
            reading = Reading(minute, pod_ms, None, at=at)
            self._alerted = ""  # after a gap a glucose still out of range is announced again
        else:
            provisional = Reading(minute, pod_ms, int(round(value)))
            rate = rate_tenths(self.history + [provisional])
            reading = Reading(minute, pod_ms, provisional.mgdl, arrow(rate), rate, self._alert(provisional.mgdl), at)
        self.history.append(reading)
        return reading

    def _alert(self, mgdl: int | None) -> str:
        level = "" if mgdl is None else ("low" if mgdl <= self.low else "high" if mgdl >= self.high else "")
        raised = level if level and level != self._alerted else ""
        self._alerted = level
        return raised


def write_log(state_dir: Path, readings: Iterable[Reading]) -> Path:
    """Write the CGM log (one JSON object per line) into the handset's state directory."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOG_NAME
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for r in readings:
            f.write(json.dumps(r.to_json()) + "\n")
    tmp.replace(path)
    return path


def read_log(state_dir: Path) -> list[Reading]:
    """The CGM log of the handset's state directory ([] when there is none)."""
    path = state_dir / LOG_NAME
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                out.append(Reading(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise StateError(f"The CGM log {path} is damaged at line {number} ({exc}): move it away; "
                                 "the next `handset sim` writes a new one.") from None
    return out


def latest(readings: list[Reading]) -> Reading | None:
    """The newest reading with a value (None when there is none)."""
    for r in reversed(readings):
        if r.mgdl is not None:
            return r
    return None


def fresh_reading(state_dir: Path, pod_now_ms: int) -> Reading | None:
    """The newest CGM reading of the state directory if it is at most 5 minutes old on the pod's
    clock (the calculator's rule for an entered BG), else None."""
    last = latest(read_log(state_dir))
    if last is None or not 0 <= pod_now_ms - last.pod_ms <= FRESH_MS:
        return None
    return last


def status_item(state_dir: Path, pod_now_ms: int | None, unit: str) -> tuple[str, str] | None:
    """("CGM", "104 mg/dL ↘, 3 min ago") for the handset's status, or None without a CGM log."""
    from handset import units
    readings = read_log(state_dir)
    last = latest(readings)
    if last is None or last.mgdl is None:
        return None
    text = f"{units.format_bg(last.mgdl, unit)} {last.trend}".rstrip()
    if pod_now_ms is not None and pod_now_ms >= last.pod_ms:
        text += f", {(pod_now_ms - last.pod_ms) // 60_000} min ago (pod time)"
    if readings and readings[-1].mgdl is None:
        text += "; sensor out now"
    return "CGM", text
