"""Insulin delivery commands of the handset library: bolus, temp basal, basal program, suspend and
resume, and their cancellations. Each goes through ``PodConnection._command`` (recorded, sent,
confirmed from the pod's reply).
"""
from __future__ import annotations

import datetime as _dt

from eros import constants as C
from eros import schedule
from handset.blocks import (
    MAX_PULSES,
    MAX_RATE_PPH,
    cancel_block,
    check_int as _check_int,
    check_rates as _check_rates,
)
from handset.blocks import time_of_day_ms
from handset.client import PodConnection
from handset.errors import InvalidInput
from handset.podstatus import Status
from handset.state import now_iso


class DeliveryCommands(PodConnection):
    """Bolus, temp basal, basal program, suspend and resume."""

    def bolus(self, pulses: int, extended_pulses: int = 0, extended_half_hours: int = 0,
              meal_pulses: int = 0, correction_pulses: int | None = None) -> Status:
        """Deliver a bolus of ``pulses`` now (2 s per pulse), plus an optional extended part.

        The pod's status is read first, as the PDM does: while delivery is suspended the handset
        refuses the bolus. ``meal_pulses``/``correction_pulses`` (default: all correction) are kept in
        the history for the calculator's insulin on board.

        :raises InvalidInput: pulses out of 0..600, no pulses at all, an extended part without duration,
            or delivery suspended (nothing is sent).
        """
        _check_int("bolus", pulses, 0, MAX_PULSES, "pulses")
        _check_int("extended bolus", extended_pulses, 0, MAX_PULSES, "pulses")
        _check_int("extended bolus duration", extended_half_hours, 0, 16, "half-hours")
        if pulses + extended_pulses == 0:
            raise InvalidInput("A bolus of 0 pulses does nothing: give at least 1 pulse (0.05 U).")
        if (extended_pulses == 0) != (extended_half_hours == 0):
            raise InvalidInput("An extended bolus needs both an amount and a duration (1 to 16 half-hours).")
        if correction_pulses is None:
            correction_pulses = pulses + extended_pulses - meal_pulses
        if meal_pulses < 0 or correction_pulses < 0 or meal_pulses + correction_pulses != pulses + extended_pulses:
            raise InvalidInput("The meal and correction parts of a bolus must add up to the bolus.")
        self._require_pod()
        if self.status().suspended:
            raise InvalidInput("Insulin delivery is suspended, so the handset did not send the bolus: resume delivery "
                               "with `handset resume` first, then give the bolus.")
        blocks = schedule.bolus_blocks(pulses, 0, interval_ms=2000, extended_pulses=extended_pulses,
                                      extended_half_hours=extended_half_hours)
        return self._command(
            "bolus", {"pulses": pulses, "extended_pulses": extended_pulses, "extended_half_hours": extended_half_hours,
                      "meal_pulses": meal_pulses, "correction_pulses": correction_pulses},
            list(blocks), lambda s: s.bolus_running or s.bolus_remaining > 0 or pulses <= 1,
            evidence={"pulses": pulses + extended_pulses},
        )

    def cancel_bolus(self, beep_type: int = 0) -> Status:
        """Stop the running bolus; the returned status' ``bolus_remaining`` = pulses not delivered.

        :param beep_type: 0 silent, 1..8 a beep (the PDM uses 6).
        """
        _check_int("beep type", beep_type, 0, 8, "(a beep type)")
        return self._command("cancel_bolus", {}, [cancel_block(C.CANCEL_BOLUS, beep_type)],
                             lambda s: not s.bolus_running)

    def temp_basal(self, rate_pph: int, half_hours: int) -> Status:
        """Run a temporary basal of ``rate_pph`` pulses/hour (0..600) for ``half_hours`` (1..24).

        A running temp basal is cancelled first, as the PDM does.
        """
        _check_int("temp basal rate", rate_pph, 0, MAX_RATE_PPH, "pulses per hour")
        _check_int("temp basal duration", half_hours, 1, 24, "half-hours")
        rec = self._require_pod()
        if rec.temp_basal is not None or (rec.last_status or {}).get("delivery", 0) & C.DELIVERY_TEMP_BASAL:
            self.cancel_temp()
        status = self._command(
            "temp_basal", {"rate_pph": rate_pph, "half_hours": half_hours},
            list(schedule.temp_basal_blocks(rate_pph, half_hours, 0)), lambda s: s.temp_basal_running,
        )
        rec.temp_basal = {"rate_pph": rate_pph, "half_hours": half_hours, "started_at": now_iso()}
        self.store.save_pod(rec)
        return status

    def cancel_temp(self, beep_type: int = 0) -> Status:
        """Cancel the temporary basal; the basal program resumes.

        :param beep_type: 0 silent, 1..8 a beep (the real PDM used 6).
        """
        _check_int("beep type", beep_type, 0, 8, "(a beep type)")
        status = self._command("cancel_temp", {}, [cancel_block(C.CANCEL_TEMP_BASAL, beep_type)],
                               lambda s: not s.temp_basal_running)
        if self.record is not None:
            self.record.temp_basal = None
            self.store.save_pod(self.record)
        return status

    def set_basal(self, rates_pph: list[int], now: _dt.datetime | None = None, program: str | None = None) -> Status:
        """Replace the basal program (48 half-hour rates, 1..600 pulses/hour each).

        Basal and temp basal are cancelled first; the new program starts at the current time of day.
        """
        rates = _check_rates(rates_pph)
        rec = self._require_pod()
        if rec.last_status is None or rec.last_status.get("delivery", 0) & (C.DELIVERY_BASAL | C.DELIVERY_TEMP_BASAL):
            self._command("suspend_basal", {}, [cancel_block(C.CANCEL_BASAL | C.CANCEL_TEMP_BASAL)],
                          lambda s: not (s.basal_running or s.temp_basal_running))
        return self._program_basal("set_basal", rates, now, program)

    def _program_basal(self, name: str, rates: list[int], now: _dt.datetime | None,
                       program: str | None = None) -> Status:
        rec = self._require_pod()
        blocks = schedule.basal_schedule_blocks(rates, time_of_day_ms(now), 0)
        status = self._command(name, {"rates_pph": rates, "program": program}, list(blocks), lambda s: s.basal_running)
        rec.basal_rates_pph = rates
        rec.temp_basal = None
        self.store.save_pod(rec)
        return status

    def suspend(self) -> Status:
        """Stop all delivery (basal, temp basal and bolus)."""
        status = self._command("suspend", {}, [cancel_block(C.CANCEL_BASAL | C.CANCEL_TEMP_BASAL | C.CANCEL_BOLUS)],
                               lambda s: s.suspended)
        if self.record is not None:
            self.record.temp_basal = None
            self.store.save_pod(self.record)
        return status

    def resume(self, now: _dt.datetime | None = None) -> Status:
        """Resume the stored basal program at the current time of day."""
        rec = self._require_pod()
        if not rec.basal_rates_pph:
            raise InvalidInput("No basal program is stored for this pod: set one with `handset basal set`.")
        return self._program_basal("resume", list(rec.basal_rates_pph), now)

