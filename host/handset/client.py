"""The handset's connection to one pod: the link, the state directory, the reads (status, detailed
status, alerts, pulse log) and the machinery every command goes through (record, send, confirm,
settle). The commands themselves are in ``pod_delivery`` and ``pod_life``; ``pod.PodClient``
puts them together.

Every method that changes the pod writes a history record first ("unconfirmed"), then settles it
from the reply ("confirmed", "rejected", "not run"). When the reply never comes, ``Unconfirmed`` is
raised and the next status read settles the record (the pod's last-programming seq and the delivery
bits tell whether the command ran).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Self, TextIO

from eros import constants as C
from eros import nonce as eros_nonce
from handset import reconcile
from handset.blocks import configure_alerts_block, status_request_block
from handset.errors import (
    BadReply,
    HandsetError,
    NoPodPaired,
    NonceResyncFailed,
    PodFaulted,
    PodRejected,
    PodUnreachable,
    Unconfirmed,
    fault_name,
)
from handset.podstatus import Status, error_sentence, implausible
from handset.session import DEFAULT_ATTEMPTS, Exchange, NoReply, Session
from handset.state import CONFIRMED, NOT_RUN, REJECTED, UNCONFIRMED, PodRecord, StateStore, now_iso
from handset.timeouts import ENV as TIMEOUT_ENV
from handset.timeouts import Timeouts
from handset.transport import Link


class PodConnection:
    """The handset: talks to one pod and keeps its state directory.

    Use ``PodClient.open(url, state_dir, trace)``; close it (or use ``with``) to release the link
    and the state directory lock.
    """

    def __init__(
        self,
        link: Link | None,
        store: StateStore,
        trace: TextIO | None = None,
        reply_timeout_s: float | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        wait_ms: Callable[[int], None] | None = None,
    ) -> None:
        self.link = link
        self.store = store
        self.record: PodRecord | None = store.load_pod()
        self._trace = trace
        #: the waits of this run, derived from the link (``--timeout`` / HANDSET_TIMEOUT override)
        self.timeouts = Timeouts(reply_timeout_s) if reply_timeout_s else Timeouts.for_link(link.url if link else "")
        #: the person (or the caller) chose the timeout: never adapted to the board
        self.timeout_given = bool(reply_timeout_s) or bool(os.environ.get(TIMEOUT_ENV, "").strip())
        self._reply_timeout_s = self.timeouts.reply_s
        #: sentences for the person: what the handset corrected in its record from the pod
        self.notices: list[str] = []
        #: the history id of the last command sent
        self.last_command_id: int | None = None
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
        reply_timeout_s: float | None = None,
        attempts: int = DEFAULT_ATTEMPTS,
        wait_ms: Callable[[int], None] | None = None,
    ) -> Self:
        """Open the link at ``url`` and the state directory (locked for this process).

        :param trace: a path or a text file; every frame is written there, decoded.
        :param reply_timeout_s: the base reply timeout; default from HANDSET_TIMEOUT or the link's kind.
        :raises PodUnreachable: the link cannot be opened.
        :raises StateError: the state directory is unusable or used by another handset.
        """
        Timeouts.for_link(url)  # a bad HANDSET_TIMEOUT is refused before anything is opened
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
    def offline(cls, state_dir: str | Path | None = None) -> Self:
        """The state directory only: ``record`` and ``store.history()``; commands raise PodUnreachable."""
        return cls(None, StateStore(state_dir))

    def close(self) -> None:
        """Close the link, the trace and release the state directory."""
        if self.link is not None:
            self.link.close()
        if self._trace is not None and hasattr(self._trace, "name") and not self._trace.closed:
            self._trace.flush()
        self.store.unlock()

    def __enter__(self) -> Self:
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
            session = Session(self.link, reply_timeout_s=self._reply_timeout_s, attempts=self._attempts,
                              persist=self._persist, trace=self._trace)
        else:
            nonce = eros_nonce.NonceState.from_words(rec.lot, rec.tid, rec.nonce_words)
            session = Session(self.link, rec.address, rec.lot, rec.tid, nonce, rec.next_seq,
                              self._reply_timeout_s, self._attempts, self._persist, self._trace)
        session.bench_timeout_s = self.timeouts.bench_s
        return session

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
        self._reconcile(status)
        return status

    # -- the history -----------------------------------------------------------------------------

    @property
    def pod_ms(self) -> int | None:
        """The pod's clock as of the last status read (ms since pairing), None before any."""
        last = self.record.last_status if self.record is not None else None
        return None if not last else int(last.get("minutes", 0)) * 60_000

    def append(self, record: dict, status: Status | None = None) -> int:
        """Append a history record with the pod's time (from ``status``, else the last one read)."""
        pod_ms = status.pod_ms if status is not None else self.pod_ms
        extra = {"pod": f"{self.record.address:08x}"} if self.record is not None and "pod" not in record else {}
        return self.store.append({"pod_ms": pod_ms, **extra, **record})

    def _reconcile(self, status: Status) -> None:
        """Bring the delivery records in line with the pod's status; tell the person what changed."""
        rec = self.record
        if rec is None:
            return
        records, notices = reconcile.reconcile(self.store.history(), status, f"{rec.address:08x}")
        for r in records:
            self.store.append(r)
        self.notices += notices

    def _confirmed(self, cmd: dict, status: Status) -> None:
        """A command the pod confirmed becomes its delivery records."""
        for r in reconcile.confirmed_records(cmd, status, self.store.history()):
            self.store.append(r)

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
        record_id = self.append(record)
        record["id"] = record_id
        self.last_command_id = record_id
        try:
            ex = session.send(blocks, followup=followup)
        except NoReply as exc:
            if name == "bolus":
                sentence = ("The pod did not answer the bolus, so it may or may not be delivering it: do NOT repeat "
                            "the bolus; read the status with `handset status` (it tells what the pod delivered).")
            else:
                sentence = (f"The pod did not answer the {name.replace('_', ' ')} command, so it may or may not have "
                            "run: read the status with `handset status` (it tells) before sending anything again.")
            raise Unconfirmed(sentence, record_id) from exc
        except NonceResyncFailed:
            self.append({"kind": "settle", "settles": record_id, "status": NOT_RUN, "reason": "bad nonce"})
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
            self.append({"kind": "settle", "settles": record_id, "status": REJECTED, "reason": str(exc),
                         "error_code": exc.code})
            raise
        except PodFaulted as exc:
            self.append({"kind": "settle", "settles": record_id, "status": NOT_RUN, "reason": exc.fault_name})
            raise
        if status.last_prog_seq != ex.seq or not confirm(status):
            self.append({"kind": "settle", "settles": record_id, "status": NOT_RUN,
                         "reason": "reply does not show the command", "status_after": status.to_json()}, status)
            raise BadReply(
                f"The pod answered the {name.replace('_', ' ')} command but its status does not show it took effect: "
                "read the status with `handset status` before sending it again."
            )
        self.append({"kind": "settle", "settles": record_id, "status": CONFIRMED,
                     "status_after": status.to_json(), "attempts": ex.attempts, "resynced": ex.resynced}, status)
        self._confirmed(record, status)
        self._reconcile(status)
        return status

    def _status_from(self, ex: Exchange) -> Status:
        """The 1D status in a reply (saved in the record), or the matching error."""
        for b in ex.blocks():
            if b["type"] == C.BLOCK_STATUS:
                status = Status.from_block(b)
                problems = implausible(status, self.record.last_status if self.record is not None else None)
                if problems:
                    raise BadReply(
                        "The pod's status contradicts what the handset knows (" + "; ".join(problems) + "): it was not "
                        "taken as the pod's state. Read the status again; if this repeats, the pod (or the link) is "
                        "unreliable: deactivate it and use a new pod.")
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
                raise PodRejected(error_sentence(code, word & 0xF), code)

    def _faulted(self, code: int, details: dict) -> None:
        """Record the fault (once), settle the bolus it stopped from the pod's account, and raise."""
        rec = self.record
        if rec is not None:
            first = rec.faulted is None
            rec.faulted = code
            self.store.save_pod(rec)
            plain = {k: v for k, v in details.items() if isinstance(v, (int, str))}
            try:
                at_fault = Status.from_block({**details, "delivery": 0})
            except (KeyError, TypeError, ValueError):
                at_fault = None
            if first:
                self.append({"kind": "fault", "code": code, "text": fault_name(code), "details": plain}, at_fault)
            if at_fault is not None:
                self._reconcile(at_fault)
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
            ran = reconcile.command_ran(cmd, status)
            self.append({"kind": "settle", "settles": cmd["id"], "status": CONFIRMED if ran else NOT_RUN,
                         "reason": "status read", "status_after": status.to_json()}, status)
            what = str(cmd.get("command", "command")).replace("_", " ")
            if ran:
                self._confirmed(cmd, status)
                self.notices.append(f"The {what} sent earlier without an answer did run (the pod's status shows it); "
                                    "the history now records it.")
            else:
                self.notices.append(f"The {what} sent earlier without an answer did not run (the pod's status shows "
                                    "it); the history records it as not run.")


    def configure_alerts(self, alerts: list[dict], name: str = "configure_alerts") -> Status:
        """Send alert configurations (SPEC §3, 0x19 ``alerts`` entries) and remember them."""
        rec = self._require_pod()
        status = self._command(name, {"slots": [a["slot"] for a in alerts]},
                               [configure_alerts_block(alerts)], lambda s: True)
        for a in alerts:
            rec.alerts[str(a["slot"])] = dict(a)
        self.store.save_pod(rec)
        return status
