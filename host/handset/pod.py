"""The handset library's facade: one object, ``PodClient``, that the CLI and the shell call.

API overview (all insulin in integer pulses of 0.05 U, rates in pulses per hour, no floats)::

    from handset.pod import PodClient

    with PodClient.open("socket://127.0.0.1:7777", state_dir=None, trace=None) as pod:
        pod.activate(basal_rates_pph=[20] * 48, time_of_day_ms=None, low_reservoir_units=20,
                     expiry_reminder_hours=1, progress=lambda step, detail: print(step, detail))
        st = pod.status()                 # Status: .progress .delivery .pulses_delivered
                                          #   .bolus_remaining .alerts .minutes .reservoir (None = >50 U)
        pod.detailed_status()             # dict (SPEC §3, PodInfo subtype 2) + "fault_name"; never raises PodFaulted
        pod.triggered_alerts()            # list of 8 pod-minute values (0 = slot not triggered)
        pod.bolus(pulses=20)              # Status after the command (confirmed by the reply)
        pod.bolus(0, extended_pulses=20, extended_half_hours=2)
        pod.cancel_bolus()                # Status; .bolus_remaining = pulses not delivered
        pod.temp_basal(rate_pph=10, half_hours=2); pod.cancel_temp()
        pod.set_basal([20] * 48)          # cancels basal/temp first, as the PDM does
        pod.suspend(); pod.resume()
        pod.acknowledge_alerts(mask=0x10); pod.silence(mask=0x80)
        pod.pulse_log()                   # dict: last_index, entries (0E 50)
        pod.deactivate()                  # archives the pod record
        pod.bench("advance", ms=60000)    # bench operation for the operator (JSON answer dict)
        pod.record                        # PodRecord | None (state.py); pod.store.history()

    PodClient.offline(state_dir)          # the state directory only (history, pod record), no link

Every method that changes the pod writes a history record first ("unconfirmed"), then settles it
from the reply ("confirmed"). When the reply never comes, ``Unconfirmed`` is raised and the next
status read settles the record (the pod's last-programming seq and the delivery bits tell whether
the command ran). Errors are ``handset.errors`` classes with a sentence and an exit code.

``wait_ms`` (constructor / ``open``) is how the library waits for the pod during priming and
cannula insertion: ``time.sleep`` by default; tests on a virtual clock pass a bench "advance".
"""
from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TextIO

from eros import constants as C
from eros import schedule
from eros import nonce as eros_nonce
from handset.errors import (
    BadReply,
    HandsetError,
    InvalidInput,
    NoPodPaired,
    NonceResyncFailed,
    PodFaulted,
    PodRejected,
    PodUnreachable,
    Unconfirmed,
)
from handset.session import DEFAULT_ATTEMPTS, DEFAULT_REPLY_TIMEOUT_S, Exchange, NoReply, Session
from handset.state import CONFIRMED, NOT_RUN, REJECTED, UNCONFIRMED, PodRecord, StateStore, now_iso
from handset.transport import Link

PROGRESS_NAMES = {
    0: "initialized", 1: "memory initialized", 2: "reminder initialized", 3: "pairing completed",
    4: "priming", 5: "priming completed", 6: "basal initialized", 7: "inserting cannula",
    8: "running (above 50 U)", 9: "running (50 U or less)", 13: "fault", 14: "activation time exceeded",
    15: "inactive",
}
ERROR_SENTENCES = {
    C.ERROR_ILLEGAL_PARAMETER: "the pod refused a parameter of the command",
    C.ERROR_BAD_CHECKSUM: "the pod found a wrong insulin-table checksum",
    C.ERROR_BAD_LENGTH: "the pod found a wrong message length",
    C.ERROR_WRONG_STATE: "the pod cannot run this command in its current state",
    C.ERROR_ILLEGAL_COMMAND: "the pod does not know this command",
}
MAX_PULSES = 600
MAX_RATE_PPH = 600
BEEP_SILENT_ALERT = 0x0F  # silent in 19/1E (PROTOCOL-NOTES §2.4)


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
        """Readable pod progress, e.g. "running (above 50 U)"."""
        return PROGRESS_NAMES.get(self.progress, f"progress {self.progress}")

    @property
    def basal_running(self) -> bool:
        return bool(self.delivery & C.DELIVERY_BASAL)

    @property
    def temp_basal_running(self) -> bool:
        return bool(self.delivery & C.DELIVERY_TEMP_BASAL)

    @property
    def bolus_running(self) -> bool:
        return bool(self.delivery & (C.DELIVERY_BOLUS | C.DELIVERY_EXTENDED_BOLUS))

    @property
    def suspended(self) -> bool:
        return self.delivery == C.DELIVERY_SUSPENDED

    def to_json(self) -> dict:
        return dict(self.__dict__)


def time_of_day_ms(now: _dt.datetime | None = None) -> int:
    """Milliseconds since local midnight (integer)."""
    now = now or _dt.datetime.now()
    return ((now.hour * 60 + now.minute) * 60 + now.second) * 1000 + now.microsecond // 1000


class PodClient:
    """The handset: talks to one pod and keeps its state directory.

    Use ``PodClient.open(url, state_dir, trace)``; close it (or use ``with``) to release the link
    and the state directory lock.
    """

    def __init__(
        self,
        link: Link | None,
        store: StateStore,
        trace: TextIO | None = None,
        reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
        wait_ms: Callable[[int], None] | None = None,
    ) -> None:
        self.link = link
        self.store = store
        self.record: PodRecord | None = store.load_pod()
        self._trace = trace
        self._reply_timeout_s = reply_timeout_s
        self._attempts = attempts
        self.wait_ms: Callable[[int], None] = wait_ms or (lambda ms: time.sleep(ms / 1000))
        self.session: Session | None = self._new_session() if link is not None else None

    # -- opening and closing -----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        url: str,
        state_dir: str | Path | None = None,
        trace: str | Path | TextIO | None = None,
        reply_timeout_s: float = DEFAULT_REPLY_TIMEOUT_S,
        attempts: int = DEFAULT_ATTEMPTS,
        wait_ms: Callable[[int], None] | None = None,
    ) -> "PodClient":
        """Open the link at ``url`` and the state directory (locked for this process).

        :param trace: a path or a text file; every frame is written there, decoded.
        :raises PodUnreachable: the link cannot be opened.
        :raises StateError: the state directory is unusable or used by another handset.
        """
        store = StateStore(state_dir)
        store.lock()
        trace_file: TextIO | None
        if isinstance(trace, (str, Path)):
            trace_file = open(trace, "a", encoding="utf-8")
        else:
            trace_file = trace
        try:
            link = Link.open(url)
        except HandsetError:
            store.unlock()
            raise
        return cls(link, store, trace_file, reply_timeout_s, attempts, wait_ms)

    @classmethod
    def offline(cls, state_dir: str | Path | None = None) -> "PodClient":
        """The state directory only: ``record`` and ``store.history()``; commands raise PodUnreachable."""
        return cls(None, StateStore(state_dir))

    def close(self) -> None:
        """Close the link, the trace and release the state directory."""
        if self.link is not None:
            self.link.close()
        if self._trace is not None and hasattr(self._trace, "name") and not self._trace.closed:
            self._trace.flush()
        self.store.unlock()

    def __enter__(self) -> "PodClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def logs(self) -> list[str]:
        """The pod's log lines received so far (channel L)."""
        return list(self.link.logs) if self.link is not None else []

    def _new_session(self) -> Session:
        assert self.link is not None
        rec = self.record
        if rec is None:
            return Session(self.link, reply_timeout_s=self._reply_timeout_s, attempts=self._attempts,
                           persist=self._persist, trace=self._trace)
        nonce = eros_nonce.NonceState.from_words(rec.lot, rec.tid, rec.nonce_words)
        return Session(self.link, rec.address, rec.lot, rec.tid, nonce, rec.next_seq,
                       self._reply_timeout_s, self._attempts, self._persist, self._trace)

    def _persist(self, session: Session) -> None:
        """Session callback: save the nonce state and the next seq before bytes go out."""
        if self.record is None or session.nonce is None:
            return
        self.record.nonce_words = list(session.nonce.to_words())
        self.record.next_seq = session.next_seq
        self.store.save_pod(self.record)

    def _session(self) -> Session:
        if self.session is None:
            raise PodUnreachable("No link to a pod is open: give the pod's address with --port.")
        return self.session

    def _require_pod(self) -> PodRecord:
        if self.record is None:
            raise NoPodPaired(
                f"No pod is paired in {self.store.dir}: activate a new pod with `handset activate` first."
            )
        return self.record

    # -- reading ---------------------------------------------------------------------------------

    def status(self) -> Status:
        """Read the pod's status (0E 00) and settle any unconfirmed command with it.

        :raises PodFaulted: the pod has faulted.
        """
        self._require_pod()
        ex = self._exchange_read(C.INFO_STATUS)
        status = self._status_from(ex)
        self._settle(status)
        return status

    def detailed_status(self) -> dict:
        """Read the detailed status (0E 02); works on a faulted pod (adds ``fault_name``)."""
        from handset.errors import fault_name

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

    def _exchange_read(self, request: int) -> Exchange:
        try:
            return self._session().send([status_request_block(request)])
        except NoReply as exc:
            raise PodUnreachable(str(exc)) from exc

    def _pod_info(self, subtype: int) -> dict:
        ex = self._exchange_read(subtype)
        for b in ex.blocks():
            if b["type"] == C.BLOCK_POD_INFO and b.get("subtype") == subtype:
                return b
        self._raise_for_reply(ex)
        raise BadReply(f"The pod answered the request for information 0x{subtype:02x} with something else.")

    # -- the command machinery -------------------------------------------------------------------

    def _command(
        self,
        name: str,
        args: dict,
        blocks: list[dict],
        confirm: Callable[[Status], bool],
        followup: bool = False,
        evidence: dict | None = None,
    ) -> Status:
        """Send one programming command, record it and confirm it from the reply.

        :param confirm: does this status show the command's effect? (used on the reply and, when
            the reply is lost, by the next status read together with the last-programming seq).
        :param evidence: what the settling status read compares against (e.g. the kind, pulses).
        """
        rec = self._require_pod()
        session = self._session()
        if self.store.unsettled(rec.address):
            self.status()  # settle the previous command before sending another
        before = rec.last_status or {}
        record = {
            "kind": "command", "command": name, "args": args, "pod": f"{rec.address:08x}",
            "seq": session.next_seq, "status": UNCONFIRMED,
            "evidence": {**(evidence or {}), "kind": name,
                         "delivered_before": before.get("pulses_delivered"),
                         "last_prog_seq_before": before.get("last_prog_seq")},
        }
        record_id = self.store.append(record)
        try:
            ex = session.send(blocks, followup=followup)
        except NoReply as exc:
            raise Unconfirmed(
                f"The pod did not answer the {name} command, so it may or may not have run: read the status "
                "(`handset status`) before repeating it.",
                record_id,
            ) from exc
        except NonceResyncFailed:
            self.store.append({"kind": "settle", "settles": record_id, "status": NOT_RUN, "reason": "bad nonce"})
            raise
        if ex.retransmitted and any(b["type"] == C.BLOCK_ERROR for b in ex.blocks()):
            # An error in answer to a repeat: the first copy may have run. Ask the pod.
            status = self.status()  # settles the record from the last-programming seq
            if self.store.command_status(record_id) == CONFIRMED:
                return status
            self._raise_for_reply(ex)
        try:
            status = self._status_from(ex)
        except PodRejected as exc:
            self.store.append({"kind": "settle", "settles": record_id, "status": REJECTED, "reason": str(exc)})
            raise
        except PodFaulted as exc:
            self.store.append({"kind": "settle", "settles": record_id, "status": NOT_RUN, "reason": exc.fault_name})
            raise
        if status.last_prog_seq != ex.seq or not confirm(status):
            self.store.append({"kind": "settle", "settles": record_id, "status": NOT_RUN,
                               "reason": "reply does not show the command", "status_after": status.to_json()})
            raise BadReply(
                f"The pod answered the {name} command but its status does not show it took effect: read the status "
                "and repeat the command if needed."
            )
        self.store.append({"kind": "settle", "settles": record_id, "status": CONFIRMED,
                           "status_after": status.to_json(), "attempts": ex.attempts, "resynced": ex.resynced})
        return status

    def _status_from(self, ex: Exchange) -> Status:
        """The 1D status in a reply (saved in the record), or the matching error."""
        for b in ex.blocks():
            if b["type"] == C.BLOCK_STATUS:
                status = Status.from_block(b)
                self._remember(status)
                if status.progress == C.PROGRESS_FAULT:
                    details = self._pod_info(C.INFO_DETAILED_STATUS)
                    self._faulted(int(details.get("fault_code", 0)), details)
                return status
        self._raise_for_reply(ex)
        raise BadReply("The pod answered with a block the handset did not expect: read the status and try again.")

    def _raise_for_reply(self, ex: Exchange) -> None:
        """Raise the error a non-status reply stands for (fault, error response)."""
        for b in ex.blocks():
            if b["type"] == C.BLOCK_POD_INFO and b.get("subtype") == C.INFO_DETAILED_STATUS:
                if b.get("progress") == C.PROGRESS_INACTIVE:
                    raise HandsetError("The pod is deactivated: activate a new pod with `handset activate`.")
                self._faulted(int(b.get("fault_code", 0)), b)
            if b["type"] == C.BLOCK_ERROR:
                code, word = int(b["code"]), int(b["word"])
                if (word & 0xF) == C.PROGRESS_FAULT and word >> 8:  # word = fault code << 8 | progress
                    self._faulted(word >> 8, {"fault_code": word >> 8, "progress": word & 0xF})
                what = ERROR_SENTENCES.get(code, f"the pod reported error 0x{code:02x}")
                raise PodRejected(f"The command was not run: {what} (pod progress {word & 0xF}).", code)

    def _faulted(self, code: int, details: dict) -> None:
        if self.record is not None:
            self.record.faulted = code
            self.store.save_pod(self.record)
        raise PodFaulted(code, details)

    def _remember(self, status: Status) -> None:
        rec = self.record
        if rec is None:
            return
        rec.last_status = status.to_json()
        rec.last_status_at = now_iso()
        rec.progress = status.progress
        if not status.temp_basal_running:
            rec.temp_basal = None
        self.store.save_pod(rec)

    def _settle(self, status: Status) -> None:
        """Decide every unconfirmed command of this pod from a fresh status read."""
        rec = self.record
        if rec is None:
            return
        for cmd in self.store.unsettled(rec.address):
            ran = _ran(cmd, status)
            self.store.append({"kind": "settle", "settles": cmd["id"], "status": CONFIRMED if ran else NOT_RUN,
                               "reason": "status read", "status_after": status.to_json()})

    # -- commands --------------------------------------------------------------------------------

    def bolus(self, pulses: int, extended_pulses: int = 0, extended_half_hours: int = 0) -> Status:
        """Deliver a bolus of ``pulses`` now (2 s per pulse), plus an optional extended part.

        :raises InvalidInput: pulses out of 0..600, no pulses at all, or an extended part without duration.
        """
        _check_int("bolus", pulses, 0, MAX_PULSES, "pulses")
        _check_int("extended bolus", extended_pulses, 0, MAX_PULSES, "pulses")
        _check_int("extended bolus duration", extended_half_hours, 0, 16, "half-hours")
        if pulses + extended_pulses == 0:
            raise InvalidInput("A bolus of 0 pulses does nothing: give at least 1 pulse (0.05 U).")
        if (extended_pulses == 0) != (extended_half_hours == 0):
            raise InvalidInput("An extended bolus needs both an amount and a duration (1 to 16 half-hours).")
        blocks = schedule.bolus_blocks(pulses, 0, interval_ms=2000, extended_pulses=extended_pulses,
                                      extended_half_hours=extended_half_hours)
        return self._command(
            "bolus", {"pulses": pulses, "extended_pulses": extended_pulses, "extended_half_hours": extended_half_hours},
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

    def set_basal(self, rates_pph: list[int], now: _dt.datetime | None = None) -> Status:
        """Replace the basal program (48 half-hour rates, 1..600 pulses/hour each).

        Basal and temp basal are cancelled first; the new program starts at the current time of day.
        """
        rates = _check_rates(rates_pph)
        rec = self._require_pod()
        if rec.last_status is None or rec.last_status.get("delivery", 0) & (C.DELIVERY_BASAL | C.DELIVERY_TEMP_BASAL):
            self._command("suspend_basal", {}, [cancel_block(C.CANCEL_BASAL | C.CANCEL_TEMP_BASAL)],
                          lambda s: not (s.basal_running or s.temp_basal_running))
        status = self._program_basal("set_basal", rates, now)
        return status

    def _program_basal(self, name: str, rates: list[int], now: _dt.datetime | None) -> Status:
        rec = self._require_pod()
        blocks = schedule.basal_schedule_blocks(rates, time_of_day_ms(now), 0)
        status = self._command(name, {"rates_pph": rates}, list(blocks), lambda s: s.basal_running)
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

    def configure_alerts(self, alerts: list[dict], name: str = "configure_alerts") -> Status:
        """Send alert configurations (SPEC §3, 0x19 ``alerts`` entries) and remember them."""
        rec = self._require_pod()
        status = self._command(name, {"slots": [a["slot"] for a in alerts]},
                               [configure_alerts_block(alerts)], lambda s: True)
        for a in alerts:
            rec.alerts[str(a["slot"])] = dict(a)
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
        record_id = self.store.append({"kind": "command", "command": "deactivate", "args": {},
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
            self.store.append({"kind": "settle", "settles": record_id, "status": NOT_RUN})
            self._raise_for_reply(ex)
            raise BadReply("The pod did not confirm the deactivation: read the status and repeat `handset deactivate`.")
        self.store.append({"kind": "settle", "settles": record_id, "status": CONFIRMED})
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
        from handset import flows

        return flows.activate(self, basal_rates_pph, time_of_day_ms, low_reservoir_units, expiry_reminder_hours,
                              progress, now)

    def bench(self, op: str, **args: object) -> dict:
        """One bench operation on the emulator (channel B): ``{"op": op, **args}`` → the JSON answer.

        :raises HandsetError: the emulator refused the operation (its sentence is passed on).
        """
        answer = self._session().bench({"op": op, **args})
        if answer.get("ok") is False:
            raise HandsetError(f"The pod emulator refused the bench operation {op!r}: {answer.get('error')}")
        return answer


# -- helpers ---------------------------------------------------------------------------------------


def cancel_block(what: int, beep_type: int = 0) -> dict:
    """1F CancelDelivery: ``what`` = bits 4 bolus, 2 temp basal, 1 basal; nonce filled by the session."""
    return {"type": C.BLOCK_CANCEL, "nonce": 0, "beep_type": beep_type, "cancel": what}


def status_request_block(info_type: int = C.INFO_STATUS) -> dict:
    """0E GetStatus for ``info_type`` (0 status, 1 triggered alerts, 2 detailed, 0x50 pulse log, ...)."""
    return {"type": C.BLOCK_GET_STATUS, "request": info_type}


def ack_alerts_block(mask: int) -> dict:
    """11 AcknowledgeAlerts for the slots in ``mask``."""
    return {"type": C.BLOCK_ACK_ALERTS, "nonce": 0, "mask": mask}


def configure_alerts_block(alerts: list[dict]) -> dict:
    """19 ConfigureAlerts with the given alert configurations (SPEC §3)."""
    return {"type": C.BLOCK_CONFIGURE_ALERTS, "nonce": 0, "alerts": [dict(a) for a in alerts]}


def deactivate_block() -> dict:
    """1C DeactivatePod."""
    return {"type": C.BLOCK_DEACTIVATE, "nonce": 0}




def _check_int(what: str, value: object, low: int, high: int, unit: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"The {what} must be a whole number of {unit}, not {value!r}.")
    if not low <= value <= high:
        raise InvalidInput(f"The {what} must be between {low} and {high} {unit}; {value} is out of range.")


def _check_rates(rates_pph: list[int]) -> list[int]:
    rates = list(rates_pph)
    if len(rates) != 48:
        raise InvalidInput(f"A basal program needs 48 half-hour rates; {len(rates)} were given.")
    for i, r in enumerate(rates):
        _check_int(f"basal rate of half-hour {i}", r, 1, MAX_RATE_PPH, "pulses per hour")
    return rates


def _ran(cmd: dict, status: Status) -> bool:
    """Did the unconfirmed command ``cmd`` run, judging from a later status read?

    The pod's last-programming seq names the last command it accepted; when that seq was already the
    pod's before the command (seqs repeat every 8 messages), the delivery bits decide.
    """
    ev = cmd.get("evidence") or {}
    seq = cmd.get("seq")
    if seq is not None and ev.get("last_prog_seq_before") != seq:
        return status.last_prog_seq == seq
    kind = ev.get("kind")
    before = ev.get("delivered_before")
    if kind == "bolus":
        grew = before is not None and status.pulses_delivered - int(before) >= int(ev.get("pulses", 1))
        return status.bolus_running or grew
    if kind == "temp_basal":
        return status.temp_basal_running
    if kind in ("suspend", "cancel_all"):
        return status.suspended
    if kind in ("set_basal", "resume"):
        return status.basal_running
    return status.last_prog_seq == seq
