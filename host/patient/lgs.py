"""Low-glucose suspend, the handset's rule (pure logic: readings in, decisions out).

* threshold mode: a CGM reading at or below the threshold suspends all delivery; it resumes after
  2 hours or when the user resumes. After an automatic resume it re-arms once a reading is above
  the threshold, or 4 hours later (the real devices' rule: no suspend loop on a long low).
* predictive mode: also suspends when the trend predicts the threshold within 30 minutes, and
  resumes (after at least 30 minutes suspended) when the prediction 30 minutes ahead is above the
  threshold again and the reading is too; the 2-hour limit holds as well.
The caller acts on the decisions through the real protocol (1F suspend, basal resume).
"""
from __future__ import annotations

from dataclasses import dataclass

from handset import units
from handset.errors import InvalidInput
from patient import cgm

MODES = ("off", "threshold", "predictive")
DEFAULT_THRESHOLD = 70
THRESHOLD_RANGE = (50, 90)  # mg/dL: below 50 is too late, above 90 stops insulin in range
MAX_SUSPEND_MIN = 120
REARM_MIN = 240
PREDICT_MIN = 30
MIN_PREDICTIVE_SUSPEND_MIN = 30


def check_threshold(mgdl: int) -> int:
    """The threshold if possible; otherwise InvalidInput with a sentence."""
    lo, hi = THRESHOLD_RANGE
    if not lo <= mgdl <= hi:
        raise InvalidInput(f"A low-glucose suspend threshold of {mgdl} mg/dL is not possible: choose "
                           f"{units.bg_range_text(lo, hi, units.MG_DL)} ({units.bg_range_text(lo, hi, units.MMOL_L)}).")
    return mgdl


@dataclass
class Decision:
    """What the handset must do now: "suspend", "resume" or "" (nothing), and why."""

    action: str
    reason: str = ""


class LowGlucoseSuspend:
    """The state of the suspend rule; `on_reading` after every CGM reading."""

    def __init__(self, mode: str, threshold: int = DEFAULT_THRESHOLD) -> None:
        if mode not in MODES:
            raise InvalidInput(f"Low-glucose suspend mode {mode!r} is unknown: choose off, threshold or predictive.")
        self.mode = mode
        self.threshold = check_threshold(threshold)
        self.suspended_at: int | None = None  # minute of the current suspension
        self._auto_resumed_at: int | None = None

    def on_reading(self, history: list[cgm.Reading], minute: int) -> Decision:
        """The decision after the newest reading in `history` (taken at `minute`)."""
        if self.mode == "off":
            return Decision("")
        last = history[-1] if history else None
        value = last.mgdl if last is not None else None
        if self.suspended_at is not None:
            held = minute - self.suspended_at
            if held >= MAX_SUSPEND_MIN:
                self.suspended_at, self._auto_resumed_at = None, minute
                return Decision("resume", "2 hours suspended")
            if self.mode == "predictive" and held >= MIN_PREDICTIVE_SUSPEND_MIN and value is not None:
                ahead = cgm.predicted(history, PREDICT_MIN)
                if value > self.threshold and ahead is not None and ahead > self.threshold:
                    self.suspended_at = None
                    return Decision("resume", f"glucose predicted at {ahead} mg/dL in 30 min")
            return Decision("")
        if value is None:
            return Decision("")  # a sensor gap never suspends nor resumes
        if self._auto_resumed_at is not None:
            if value > self.threshold or minute - self._auto_resumed_at >= REARM_MIN:
                self._auto_resumed_at = None
            else:
                return Decision("")
        if value <= self.threshold:
            self.suspended_at = minute
            return Decision("suspend", f"glucose {value} mg/dL at or below {self.threshold} mg/dL")
        if self.mode == "predictive":
            ahead = cgm.predicted(history, PREDICT_MIN)
            if ahead is not None and ahead <= self.threshold:
                self.suspended_at = minute
                return Decision("suspend", f"glucose {value} mg/dL predicted at {ahead} mg/dL within 30 min")
        return Decision("")

    def user_resume(self) -> bool:
        """The user resumed delivery: the suspension ends now (True if there was one)."""
        was = self.suspended_at is not None
        self.suspended_at = None
        return was
