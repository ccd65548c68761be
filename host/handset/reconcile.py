"""The pod is the record: turning the pod's answers into the delivery records of ``handset.history``.

Two pure steps, both fed with the history so far and a fresh status from the pod:

* ``confirmed_records`` — a command the pod has just confirmed becomes its delivery record(s)
  (a bolus, a temp basal, its end, a basal program, a suspension);
* ``reconcile`` — the pod's status is compared with what the history says is running: the latest
  bolus gets the pod's account of it (delivered = requested − ``bolus_remaining``, split into the
  immediate and extended parts), a temp basal the pod no longer runs is ended, and whatever the pod
  did that the handset did not ask for (a bolus stopped by a restart or a fault) is written as a
  ``reconcile`` record with a sentence for the person.
"""
from __future__ import annotations

from typing import Any

from handset import history as H
from handset.podstatus import Status

Record = dict[str, Any]


def _units(pulses: int) -> str:
    return f"{pulses // 20}.{pulses % 20 * 5:02d} U"


def confirmed_records(cmd: Record, status: Status, history: list[Record]) -> list[Record]:
    """The delivery records a command confirmed by the pod adds (``cmd`` is its ``command`` record)."""
    name, args, pod = cmd.get("command"), dict(cmd.get("args") or {}), cmd.get("pod")
    base = {"pod": pod, "pod_ms": status.pod_ms, "ref": cmd["id"]}
    out: list[Record] = []
    running_temp = [t for t in H.temp_basals(history) if t.pod == pod and t.how == "running"]
    if name == "bolus":
        out.append({**base, "kind": H.BOLUS, "immediate_pulses": int(args.get("pulses", 0)),
                    "extended_pulses": int(args.get("extended_pulses", 0)),
                    "extended_half_hours": int(args.get("extended_half_hours", 0)),
                    "meal_pulses": int(args.get("meal_pulses", 0)),
                    "correction_pulses": int(args.get("correction_pulses",
                                                      int(args.get("pulses", 0)) + int(args.get("extended_pulses", 0))))})
    elif name == "temp_basal":
        out += [{**base, "kind": H.TEMP_BASAL_END, "ref": t.ref, "how": "replaced"} for t in running_temp]
        out.append({**base, "kind": H.TEMP_BASAL, "rate_pph": int(args["rate_pph"]),
                    "half_hours": int(args["half_hours"])})
    elif name in ("cancel_temp", "suspend", "suspend_basal", "cancel_all"):
        how = "cancelled" if name == "cancel_temp" else "suspended"
        out += [{**base, "kind": H.TEMP_BASAL_END, "ref": t.ref, "how": how} for t in running_temp]
        if name != "cancel_temp":
            out.append({**base, "kind": H.SUSPEND, "ref": cmd["id"]})
    elif name in ("set_basal", "resume", "activation_basal"):
        how = {"set_basal": "set", "resume": "resume", "activation_basal": "activation"}[name]
        out.append({**base, "kind": H.BASAL, "rates_pph": list(args.get("rates_pph") or []), "how": how,
                    "program": args.get("program")})
    return out


def reconcile(history: list[Record], status: Status, pod: str) -> tuple[list[Record], list[str]]:
    """Records that bring the history in line with ``status``, and sentences to tell the person."""
    out: list[Record] = []
    notices: list[str] = []
    mine = [b for b in H.boluses(history) if b.pod == pod]
    if mine:
        latest = mine[-1]
        if not latest.final:
            record, notice = _bolus_account(latest, status, _cancelled_after(history, latest.ref, pod))
            if record is not None:
                out.append({**record, "pod": pod, "pod_ms": status.pod_ms})
            if notice:
                out.append({"kind": H.RECONCILE, "pod": pod, "pod_ms": status.pod_ms, "ref": latest.ref,
                            "text": notice})
                notices.append(notice)
        for older in mine[:-1]:
            if not older.final:  # a newer bolus started: the older one ran its course
                out.append({"kind": H.BOLUS_DELIVERED, "pod": pod, "pod_ms": status.pod_ms, "ref": older.ref,
                            "delivered_pulses": older.delivered, "immediate_delivered": older.immediate_delivered,
                            "extended_delivered": older.extended_delivered,
                            "not_delivered_pulses": older.requested - older.delivered, "final": True,
                            "how": older.how if older.how not in ("running", "unaccounted") else "done"})
    if not status.temp_basal_running:
        for t in H.temp_basals(history):
            if t.pod == pod and t.how == "running":
                out.append({"kind": H.TEMP_BASAL_END, "pod": pod, "pod_ms": status.pod_ms, "ref": t.ref,
                            "how": "ended"})
    return out, notices


def _cancelled_after(history: list[Record], ref: int, pod: str) -> bool:
    """Did the handset cancel the bolus ``ref`` (a confirmed cancel after it)?"""
    confirmed = {r.get("settles") for r in history if r.get("kind") == "settle" and r.get("status") == "confirmed"}
    return any(r.get("kind") == "command" and r.get("pod") == pod and int(r.get("id", 0)) > ref
               and r.get("command") in ("cancel_bolus", "suspend", "cancel_all") and r.get("id") in confirmed
               for r in history)


def _bolus_account(b: H.Bolus, status: Status, cancelled: bool) -> tuple[Record | None, str]:
    remaining = max(0, min(b.requested, status.bolus_remaining))
    delivered = b.requested - remaining
    first, second = H.split_delivered(b.immediate, b.extended, delivered)
    if status.bolus_running:
        final, how = False, "running"
    elif cancelled:
        final, how = True, "cancelled"
    elif remaining == 0:
        final, how = True, "done"
    else:
        final, how = True, "stopped by the pod"
    if (delivered, final, how) == (b.delivered, b.final, b.how):
        return None, ""
    record = {"kind": H.BOLUS_DELIVERED, "ref": b.ref, "delivered_pulses": delivered, "immediate_delivered": first,
              "extended_delivered": second, "not_delivered_pulses": remaining, "final": final, "how": how}
    notice = ""
    if how == "stopped by the pod":
        notice = (f"The pod stopped the bolus of {_units(b.requested)} before its end (a pod restart, a fault or "
                  f"another handset): it delivered {_units(delivered)} and {_units(remaining)} were not delivered. "
                  "The history and insulin on board now follow the pod.")
    return record, notice


def command_ran(cmd: Record, status: Status) -> bool:
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
