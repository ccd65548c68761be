"""Diagnostics of the handset library: the pod's information pages beyond the status (pulse log,
activation time) and the test beeps, as the PDM's and OmniKit's diagnostics offer them.

Pulse-log entries are 32-bit words (SPEC §7.6, PROTOCOL-NOTES §2.11); ``pulse_entry`` reads one.
"""
from __future__ import annotations

from typing import Any

from eros import constants as C
from handset.blocks import beep_block, check_int
from handset.client import PodConnection
from handset.errors import InvalidInput, fault_name
from handset.podstatus import Status

#: The kind of delivery a pulse-log entry was for (its bits 23..21).
PULSE_KINDS = {1: "basal", 2: "temp basal", 3: "bolus", 4: "extended bolus"}


def pulse_entry(word: int) -> dict[str, Any]:
    """One pulse-log entry: ``encoder`` (strokes that moved, mod 64), ``kind``, ``moved``, ``at_or_below_50u``."""
    kind = (word >> 21) & 0x7  # eeeeee0a pppliiib cccccccc dfgggggg
    return {"word": word, "encoder": (word >> 26) & 0x3F, "alternate": (word >> 24) & 1,
            "kind": PULSE_KINDS.get(kind, f"kind {kind}"), "at_or_below_50u": bool((word >> 20) & 1),
            "moved": bool((word >> 7) & 1)}


class DiagnosticCommands(PodConnection):
    """Detailed status, triggered alerts, pulse log, activation time and test beeps."""

    def detailed_status(self) -> dict:
        """Read the detailed status (0E 02); works on a faulted pod (adds ``fault_name``)."""
        self._require_pod()
        info = self._pod_info(C.INFO_DETAILED_STATUS)
        info = dict(info)
        info["fault_name"] = fault_name(int(info.get("fault_code", 0)))
        if info.get("fault_code") and self.record is not None:
            self.record.faulted = int(info["fault_code"])
            self.store.save_pod(self.record)
        return info

    def triggered_alerts(self) -> list[int]:
        """The pod minute at which each alert slot 0..7 triggered (0 = not triggered)."""
        self._require_pod()
        return [int(v) for v in self._pod_info(C.INFO_TRIGGERED_ALERTS)["alert_minutes"]]

    def pulse_log(self) -> dict:
        """The last pulse-log entries (0E 50): ``{"last_index", "entries"}``."""
        self._require_pod()
        info = self._pod_info(C.INFO_PULSE_LOG_RECENT)
        return {"last_index": info.get("last_index"), "entries": list(info.get("entries", []))}

    def pulse_log_all(self) -> dict[str, Any]:
        """The whole kept pulse log (0E 50, then 0E 51 for the entries before): ``last_index``, ``entries``
        (oldest first, each read by ``pulse_entry``)."""
        self._require_pod()
        recent = self._pod_info(C.INFO_PULSE_LOG_RECENT)
        words = [int(w) for w in recent.get("entries", [])]
        earlier: list[int] = []
        if int(recent.get("last_index", 0)) + 1 > len(words):
            earlier = [int(w) for w in self._pod_info(C.INFO_PULSE_LOG_PREVIOUS).get("entries", [])]
        entries = [pulse_entry(w) for w in earlier + words]
        return {"last_index": int(recent.get("last_index", 0)), "entries": entries}

    def activation_time(self) -> dict[str, Any]:
        """0E 05: the fault code and minute, and the date and time the pod was set up (SetupPod)."""
        self._require_pod()
        info = self._pod_info(C.INFO_ACTIVATION_TIME)
        return {k: info.get(k) for k in ("fault_code", "fault_minutes", "year", "month", "day", "hour", "minute")}

    def beep(self, beep_type: int) -> Status:
        """1E: sound ``beep_type`` (1..8, 0xB..0xD) once as a test; the completion and reminder beeps
        are set off by the same command (the pod takes the three option bytes of a 1E as a whole)."""
        check_int("beep type", beep_type, 1, 0xD, "(a beep type)")
        if beep_type in (0x9, 0xA):  # the pod refuses these in 1E (error 7)
            raise InvalidInput(f"Beep type {beep_type} cannot be sounded on request: use 1 to 8 or 11 to 13.")
        return self._command("beep", {"beep_type": beep_type}, [beep_block(beep_type)], lambda s: True)
