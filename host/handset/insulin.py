"""Insulin on board from the pod's own records, on the pod's clock.

Only boluses the pod accepted count, each with the pulses the pod reports delivered (the latest
``bolus_delivered`` account in ``handset.history``); a refused or unconfirmed command never counts.
Time is the pod's: a bolus's ``pod_ms`` against the pod's present time (the last status read, plus
the real time since when the handset has not just read it). Boluses of an earlier pod, whose clock
is another one, are placed by host time.
"""
from __future__ import annotations

import datetime as _dt
import time
from typing import Any, Iterable

from handset import calc
from handset import history as H

Record = dict[str, Any]


def _host_s(record: Record) -> int | None:
    try:
        return int(_dt.datetime.fromisoformat(str(record.get("at"))).timestamp())
    except ValueError:
        return None


def pod_now_ms(history: list[Record], pod: str | None, host_now_s: int | None = None) -> int | None:
    """The pod's present time: the newest ``pod_ms`` of ``pod``'s records, plus the real time since."""
    host_now_s = int(time.time()) if host_now_s is None else host_now_s
    for r in reversed(history):
        if r.get("pod") == pod and r.get("pod_ms") is not None:
            at = _host_s(r)
            return int(r["pod_ms"]) + max(0, host_now_s - at) * 1000 if at is not None else int(r["pod_ms"])
    return None


def bolus_records(history: list[Record], pod: str | None, now_ms: int,
                  host_now_s: int | None = None) -> list[calc.BolusRecord]:
    """The delivered boluses as the calculator sees them, in seconds of the pod ``pod``'s clock.

    A shortfall (delivered below requested) comes off the meal part first, so that correction
    insulin stays counted.
    """
    host_now_s = int(time.time()) if host_now_s is None else host_now_s
    out = []
    for b in H.boluses(history):
        if b.how == "unaccounted" or b.delivered <= 0:
            continue
        if b.pod == pod and b.pod_ms is not None:
            when_s = b.pod_ms // 1000
        else:
            at = _host_s({"at": _bolus_at(history, b.ref)})
            if at is None:
                continue
            when_s = now_ms // 1000 - max(0, host_now_s - at)
        shortfall = max(0, b.meal + b.correction - b.delivered)
        meal_cut = min(b.meal, shortfall)
        out.append(calc.BolusRecord(when_s, b.meal - meal_cut, b.correction - (shortfall - meal_cut)))
    return out


def _bolus_at(history: Iterable[Record], ref: int) -> str:
    for r in history:
        if r.get("kind") == H.BOLUS and r.get("ref") == ref:
            return str(r.get("at"))
    return ""


def on_board(history: list[Record], pod: str | None, dia_minutes: int,
             now_ms: int | None = None) -> tuple[calc.InsulinOnBoard, int]:
    """(insulin on board, the pod time it was computed for)."""
    if now_ms is None:
        now_ms = pod_now_ms(history, pod) or 0
    return calc.insulin_on_board(bolus_records(history, pod, now_ms), now_ms // 1000, dia_minutes), now_ms
