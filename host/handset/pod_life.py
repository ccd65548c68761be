"""Pod life and alert commands of the handset library: activation (see ``flows``), deactivation,
alert configuration, acknowledgement and silencing.
"""
from __future__ import annotations

import datetime as _dt
from typing import Callable

from eros import constants as C
from handset import flows
from handset.blocks import (BEEP_SILENT_ALERT, ack_alerts_block, cancel_block, check_int as _check_int,
                            configure_alerts_block, deactivate_block)
from handset.client import PodConnection
from handset.errors import BadReply, InvalidInput, PodFaulted, Unconfirmed
from handset.podstatus import Status
from handset.session import NoReply
from handset.state import CONFIRMED, NOT_RUN, UNCONFIRMED


class LifeCommands(PodConnection):
    """Activation, deactivation and the alert slots."""

    def acknowledge_alerts(self, mask: int = 0xFF) -> Status:
        """Acknowledge (silence and clear) the alerts of the slots in ``mask`` (bit n = slot n)."""
        _check_int("alert mask", mask, 1, 0xFF, "a bit mask")
        return self._command("acknowledge_alerts", {"mask": mask},
                             [ack_alerts_block(mask)],
                             lambda s: not (s.alerts & mask))

    def silence(self, mask: int = 0xFF) -> Status:
        """Keep the configured alerts of the slots in ``mask`` but make them silent."""
        rec = self._require_pod()
        _check_int("alert mask", mask, 1, 0xFF, "a bit mask")
        alerts = [dict(a, beep_type=BEEP_SILENT_ALERT) for slot, a in sorted(rec.alerts.items())
                  if mask & (1 << int(slot))]
        if not alerts:
            raise InvalidInput("None of the alert slots in the mask is configured on this pod: nothing to silence.")
        status = self._command("silence", {"mask": mask},
                               [configure_alerts_block(alerts)], lambda s: True)
        for a in alerts:
            rec.alerts[str(a["slot"])] = a
        self.store.save_pod(rec)
        return status

    def deactivate(self) -> Status | dict:
        """Stop all delivery and deactivate the pod (1F all, then 1C); archives the pod record.

        Works on a faulted pod too. Returns the pod's last answer (Status, or the detailed-status dict).
        """
        rec = self._require_pod()
        if rec.faulted is None:
            try:
                self._command("cancel_all", {}, [cancel_block(C.CANCEL_BASAL | C.CANCEL_TEMP_BASAL | C.CANCEL_BOLUS)],
                              lambda s: s.suspended, followup=True)
            except PodFaulted:
                pass
        session = self._session()
        record_id = self.append({"kind": "command", "command": "deactivate", "args": {},
                                       "pod": f"{rec.address:08x}", "seq": session.next_seq, "status": UNCONFIRMED,
                                       "evidence": {"kind": "deactivate"}})
        try:
            ex = session.send([deactivate_block()])
        except NoReply as exc:
            raise Unconfirmed("The pod did not answer the deactivation: repeat `handset deactivate`.", record_id) from exc
        answer: Status | dict | None = None
        for b in ex.blocks():
            if b["type"] == C.BLOCK_STATUS and b["progress"] == C.PROGRESS_INACTIVE:
                answer = Status.from_block(b)
            elif b["type"] == C.BLOCK_POD_INFO and b.get("progress") == C.PROGRESS_INACTIVE:
                answer = dict(b)
        if answer is None:
            self.append({"kind": "settle", "settles": record_id, "status": NOT_RUN})
            self._raise_for_reply(ex)
            raise BadReply("The pod did not confirm the deactivation: read the status and repeat `handset deactivate`.")
        self.append({"kind": "settle", "settles": record_id, "status": CONFIRMED})
        self.append({"kind": "event", "event": "deactivated"})
        rec.deactivated = True
        rec.progress = C.PROGRESS_INACTIVE
        self.store.archive_pod(rec)
        self.record = None
        self.session = self._new_session()
        return answer

    def activate(
        self,
        basal_rates_pph: list[int],
        time_of_day_ms: int | None = None,
        low_reservoir_units: int = 20,
        expiry_reminder_hours: int = 1,
        progress: Callable[[str, str], None] | None = None,
        now: _dt.datetime | None = None,
    ) -> Status:
        """Pair and start a new pod, the way the real PDM does (see ``handset.flows``)."""
        return flows.activate(self, basal_rates_pph, time_of_day_ms, low_reservoir_units, expiry_reminder_hours,
                              progress, now)


