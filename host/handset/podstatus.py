"""The pod's 1D status as a typed value, the names of its progress and error codes, and the
plausibility check that flags a status contradicting what the handset already knows.
"""
from __future__ import annotations

from dataclasses import dataclass

from eros import constants as C

PROGRESS_NAMES = {
    0: "initialized", 1: "memory initialized", 2: "reminder initialized", 3: "pairing completed",
    4: "priming", 5: "priming completed", 6: "basal initialized", 7: "inserting cannula",
    8: "running (above 50 U)", 9: "running (50 U or less)", 13: "fault", 14: "activation time exceeded",
    15: "inactive",
}
#: The pod's 06 error codes: what the pod means, and what the person should do about it.
ERROR_SENTENCES = {
    C.ERROR_ILLEGAL_PARAMETER: ("the pod refused a parameter of the command",
                                "check the amounts and durations, then send it again"),
    C.ERROR_BAD_CHECKSUM: ("the pod found a wrong insulin-table checksum",
                           "send the command again; if it repeats, the handset and pod disagree: report it"),
    C.ERROR_BAD_LENGTH: ("the pod found a wrong message length",
                         "send the command again; if it repeats, report it"),
    C.ERROR_WRONG_STATE: ("the pod cannot run this command in its current state (for example a bolus while "
                          "another bolus runs, or a command the activation has not reached yet)",
                          "read `handset status`, wait for the running delivery to end or cancel it, then retry"),
    C.ERROR_ILLEGAL_COMMAND: ("the pod does not know this command", "this pod cannot do it; use another command"),
}
#: The highest values the 1D fields can hold (13, 10, 13-bit fields).
PULSES_FIELD_MAX = 0x1FFF
BOLUS_REMAINING_MAX = 600  # a bolus is at most 30 U (600 pulses): more cannot be left to deliver
MINUTES_MAX = 80 * 60 + 60  # the pod faults at 80 h; a little slack for the fault minute itself
RUNNING = (C.PROGRESS_ABOVE_50_UNITS, C.PROGRESS_50_OR_LESS_UNITS)


def error_sentence(code: int, progress: int) -> str:
    """``The pod refused the command (error 0x07: ...): do this.`` for a 06 error response."""
    what, todo = ERROR_SENTENCES.get(code, ("the pod reported an error it does not explain", "read the status"))
    name = PROGRESS_NAMES.get(progress, f"progress {progress}")
    return f"The pod refused the command and did not run it (error 0x{code:02x}: {what}; pod progress {progress}, " \
           f"{name}): {todo}."


@dataclass(frozen=True)
class Status:
    """The pod's 1D status, as plain integers (pulses, minutes).

    :ivar reservoir: pulses left, or None when the pod reports "above 50 U".
    """

    delivery: int
    progress: int
    pulses_delivered: int
    last_prog_seq: int
    bolus_remaining: int
    alerts: int
    minutes: int
    reservoir: int | None

    @classmethod
    def from_block(cls, b: dict) -> "Status":
        """Build from a decoded 1D block dict."""
        reservoir = None if b["reservoir"] == 0x3FF else int(b["reservoir"])
        return cls(int(b["delivery"]), int(b["progress"]), int(b["pulses_delivered"]), int(b["last_prog_seq"]),
                   int(b["bolus_remaining"]), int(b["alerts"]), int(b["minutes"]), reservoir)

    @property
    def progress_name(self) -> str:
        """Readable pod progress, for example "running (above 50 U)"."""
        return PROGRESS_NAMES.get(self.progress, f"progress {self.progress}")

    @property
    def pod_ms(self) -> int:
        """The pod's own clock (time since pairing) as far as the status tells it, in milliseconds."""
        return self.minutes * 60_000

    @property
    def basal_running(self) -> bool:
        """The basal program (bit 1) runs."""
        return bool(self.delivery & C.DELIVERY_BASAL)

    @property
    def temp_basal_running(self) -> bool:
        """A temp basal (bit 2) runs."""
        return bool(self.delivery & C.DELIVERY_TEMP_BASAL)

    @property
    def bolus_running(self) -> bool:
        """An immediate bolus (bit 4) or an extended part (bit 8) runs."""
        return bool(self.delivery & (C.DELIVERY_BOLUS | C.DELIVERY_EXTENDED_BOLUS))

    @property
    def suspended(self) -> bool:
        """No delivery at all."""
        return self.delivery == C.DELIVERY_SUSPENDED

    @property
    def running(self) -> bool:
        """The pod is active (progress 8 or 9)."""
        return self.progress in RUNNING

    def to_json(self) -> dict:
        """The fields as a JSON-able dict."""
        return dict(self.__dict__)


def implausible(status: Status, before: dict | None) -> list[str]:
    """What in ``status`` contradicts the pod's previous status ``before`` (a ``Status.to_json()``)
    or the field limits; an empty list when it is believable.
    """
    problems = []
    if status.bolus_remaining > BOLUS_REMAINING_MAX:
        problems.append(f"{status.bolus_remaining} bolus pulses left to deliver (a bolus is at most "
                        f"{BOLUS_REMAINING_MAX})")
    if status.minutes > MINUTES_MAX:
        problems.append(f"a pod age of {status.minutes} minutes (a pod stops at 80 h)")
    if status.pulses_delivered >= PULSES_FIELD_MAX:
        problems.append(f"{status.pulses_delivered} pulses delivered, the field's maximum")
    if status.reservoir is not None and status.reservoir > 1000:
        problems.append(f"a reservoir of {status.reservoir} pulses (exact values stop at 50 U = 1000 pulses)")
    if status.progress in (10, 11, 12):
        problems.append(f"pod progress {status.progress}, which no pod reports")
    if before:
        if status.progress < int(before.get("progress", 0)):
            problems.append(f"pod progress went back from {before.get('progress')} to {status.progress}")
        if status.pulses_delivered < int(before.get("pulses_delivered", 0)):
            problems.append(f"pulses delivered went back from {before.get('pulses_delivered')} to "
                            f"{status.pulses_delivered}")
        if status.minutes < int(before.get("minutes", 0)):
            problems.append(f"the pod's age went back from {before.get('minutes')} to {status.minutes} minutes")
    return problems
