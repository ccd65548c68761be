"""The handset's history: what it sent and what the pod reported, one JSON record per line in
``history.jsonl`` of the state directory (appended through ``StateStore.append``, never rewritten).
The pod is the record: insulin appears here only as the pod reported it.

Fields of every record:

========  ==========================================================================================
``id``    whole number, increasing (``settles``/``ref`` point at it)
``at``    host time when the handset wrote the record, ISO 8601 UTC (for people; not for arithmetic)
``kind``  one of the kinds below
``pod_ms``  the pod's own clock at the event: milliseconds since pairing, read from the pod (the
          ``minutes`` of the status that came with the event, × 60000; so one-minute resolution, on
          whatever clock the pod runs: real, sped up or virtual). ``None`` only before the first
          status of a pod. Plots, insulin on board and "time left" use this, never ``at``.
``pod``   the pod's address, 8 hex digits (absent on handset-only records)
========  ==========================================================================================

Kinds and their own fields (pulses are integers of 0.05 U, rates pulses per hour):

``command``         a command as it went out: ``command`` (bolus, temp_basal, cancel_bolus, suspend,
                    resume, set_basal, …), ``args``, ``seq``, ``status`` "unconfirmed", ``evidence``.
                    Its outcome is a later ``settle``; a command never counts as insulin.
``settle``          ``settles`` (a command id), ``status`` "confirmed" | "rejected" | "not run",
                    ``reason``, ``status_after`` (the pod's status, ``Status.to_json()``), ``error_code``
                    (the pod's 06 code when it refused).
``bolus``           a bolus the pod accepted: ``ref`` (the command id), ``immediate_pulses``,
                    ``extended_pulses``, ``extended_half_hours``, ``meal_pulses``, ``correction_pulses``.
``bolus_delivered`` the pod's account of a bolus (appended whenever it changes): ``ref``,
                    ``delivered_pulses`` (= requested − the pod's ``bolus_remaining``),
                    ``immediate_delivered``, ``extended_delivered``, ``not_delivered_pulses``,
                    ``final`` (true once the pod runs no part of it), ``how`` "running" | "done" |
                    "cancelled" | "stopped by the pod" (restart, fault: the handset did not cancel it).
                    The latest one for a ``ref`` is the truth; insulin on board uses only these.
``temp_basal``      a temp basal the pod accepted: ``ref``, ``rate_pph``, ``half_hours``
                    (it ends at ``pod_ms`` + half_hours × 1 800 000 unless a ``temp_basal_end`` comes first).
``temp_basal_end``  ``ref``, ``how`` "cancelled" | "suspended" | "replaced" | "ended" (seen ended by the pod).
``basal``           the basal program the pod runs from now on: ``rates_pph`` (48 half-hour rates), ``program``
                    (its name, when known), ``how`` "activation" | "set" | "resume".
``suspend``         the pod confirmed that all delivery stopped.
``reading``         a status read: ``delivery``, ``progress``, ``pulses_delivered``, ``bolus_remaining``,
                    ``alerts``, ``minutes``, ``reservoir`` (pulses; ``None`` = above 50 U).
``reconcile``       the handset corrected its record from the pod at the next contact: ``text`` (the
                    sentence shown to the person), ``ref`` (the bolus concerned, if any).
``alarm``           newly active alerts: ``alerts`` (bit mask), ``text``.
``fault``           the pod faulted: ``code``, ``text``, ``details`` (the detailed status).
``event``           pairing and other pod-life events: ``event`` ("paired", "activated", "deactivated"), …
``lgs``             low-glucose suspend (``handset sim``, host/patient): ``action`` "suspend" | "resume",
                    ``reason``, ``alarm`` (the text raised on a suspend); the 1F itself is a ``command``.
``cgm_alert``       a CGM glucose alert: ``level`` "low" | "high", ``mgdl``.

Readers: ``records(store)`` gives every record; ``boluses(records)`` the boluses with the pod's
latest account of each; ``temp_basals(records)`` the temp basals with their end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from handset.state import StateStore

HALF_HOUR_MS = 1_800_000
BOLUS, BOLUS_DELIVERED, TEMP_BASAL, TEMP_BASAL_END = "bolus", "bolus_delivered", "temp_basal", "temp_basal_end"
BASAL, SUSPEND, READING, RECONCILE, ALARM, FAULT = "basal", "suspend", "reading", "reconcile", "alarm", "fault"
DELIVERY_KINDS = (BOLUS, BOLUS_DELIVERED, TEMP_BASAL, TEMP_BASAL_END, BASAL, SUSPEND)


def records(store: StateStore) -> list[dict[str, Any]]:
    """Every history record, oldest first."""
    return store.history()


@dataclass(frozen=True)
class Bolus:
    """One bolus the pod accepted, with the pod's latest account of it.

    :ivar delivered: pulses the pod reports delivered (immediate + extended) so far.
    :ivar final: the pod runs no part of it any more.
    :ivar how: "running", "done", "cancelled", "stopped by the pod", or "unaccounted" (no account from
        the pod yet).
    """

    ref: int
    pod_ms: int | None
    pod: str
    immediate: int
    extended: int
    extended_half_hours: int
    meal: int
    correction: int
    delivered: int
    immediate_delivered: int
    extended_delivered: int
    final: bool
    how: str

    @property
    def requested(self) -> int:
        """Immediate plus extended pulses asked for."""
        return self.immediate + self.extended


def boluses(history: Iterable[dict[str, Any]]) -> list[Bolus]:
    """The accepted boluses, oldest first, each with its latest ``bolus_delivered`` account."""
    found: dict[int, dict[str, Any]] = {}
    latest: dict[int, dict[str, Any]] = {}
    for r in history:
        if r.get("kind") == BOLUS:
            found[int(r["ref"])] = r
        elif r.get("kind") == BOLUS_DELIVERED:
            latest[int(r["ref"])] = r
    out = []
    for ref, r in found.items():
        d = latest.get(ref, {})
        out.append(Bolus(
            ref=ref, pod_ms=r.get("pod_ms"), pod=str(r.get("pod", "")),
            immediate=int(r.get("immediate_pulses", 0)), extended=int(r.get("extended_pulses", 0)),
            extended_half_hours=int(r.get("extended_half_hours", 0)),
            meal=int(r.get("meal_pulses", 0)), correction=int(r.get("correction_pulses", 0)),
            delivered=int(d.get("delivered_pulses", 0)),
            immediate_delivered=int(d.get("immediate_delivered", 0)),
            extended_delivered=int(d.get("extended_delivered", 0)),
            final=bool(d.get("final", False)), how=str(d.get("how", "unaccounted")),
        ))
    return out


@dataclass(frozen=True)
class TempBasal:
    """A temp basal the pod accepted; ``end_ms`` is when it ended or will end (pod time)."""

    ref: int
    pod_ms: int | None
    pod: str
    rate_pph: int
    half_hours: int
    end_ms: int | None
    how: str  # "running", or how it ended


def temp_basals(history: Iterable[dict[str, Any]]) -> list[TempBasal]:
    """The accepted temp basals, oldest first, with their end (cancelled, suspended, or their duration)."""
    starts: dict[int, dict[str, Any]] = {}
    ends: dict[int, dict[str, Any]] = {}
    for r in history:
        if r.get("kind") == TEMP_BASAL:
            starts[int(r["ref"])] = r
        elif r.get("kind") == TEMP_BASAL_END:
            ends.setdefault(int(r["ref"]), r)
    out = []
    for ref, r in starts.items():
        start = r.get("pod_ms")
        planned = None if start is None else int(start) + int(r["half_hours"]) * HALF_HOUR_MS
        end = ends.get(ref)
        end_ms = planned if end is None or end.get("pod_ms") is None else min(int(end["pod_ms"]), planned or 1 << 62)
        out.append(TempBasal(ref, start, str(r.get("pod", "")), int(r["rate_pph"]), int(r["half_hours"]), end_ms,
                             "running" if end is None else str(end.get("how", "ended"))))
    return out


def split_delivered(immediate: int, extended: int, delivered: int) -> tuple[int, int]:
    """(immediate delivered, extended delivered): the pod gives the immediate pulses before any
    extended one, so a total splits without ambiguity."""
    first = min(immediate, max(0, delivered))
    return first, max(0, min(extended, delivered - first))
