"""Multi-message flows of the handset: the new-pod activation, step by step as the real PDM does it.

The real 2016 PDM activation (PROTOCOL-NOTES §7, §2.4), which ``activate`` reproduces:

1. ``07`` AssignAddress (message address ffffffff, seq 0) → short VersionResponse (progress 2)
2. ``03`` SetupPod with the date and time (ffffffff, seq 0 again) → long VersionResponse (progress 3)
3. ``19`` slot 4: low-reservoir alert (units trigger)
4. ``19`` slot 7: finish-setup reminder (55 min, first after 5 min, every 5 min)
5. ``1A+17`` prime: 52 pulses at 1 s each; wait, then poll the status until progress 5
6. ``19`` slot 3: expiration reminder ``expiry_reminder_hours`` before 72 h
7. ``1A+13`` basal program, with the "expect follow-up" bit as the real PDM set it
8. ``19`` (message seq 12 in the real PDM's sessions) three slots: slot 7 re-armed as the 72 h
   "expired" advisory, slot 2 "shutdown imminent" at 79 h, slot 0 auto-off disarmed (§2.4)
9. ``1A+17`` cannula insertion: 10 pulses at 1 s each; poll until progress 8 (or 9)

The activation is done only when the pod reports progress 8 or 9; a pod whose activation time ran
out (progress 14) or that faulted is reported as such, never as active.

An activation interrupted after pairing can be run again: it reads the pod's progress and carries on
from the first step not yet done.
"""
from __future__ import annotations

import datetime as _dt
import random
from typing import TYPE_CHECKING, Callable

from eros import constants as C
from eros import schedule
from eros import nonce as eros_nonce
from handset.blocks import check_int as _check_int, check_rates as _check_rates, time_of_day_ms as tod_from
from handset.errors import ActivationFailed, BadReply, InvalidInput, PodAlreadyPaired, PodUnreachable
from handset.podstatus import Status
from handset.session import NoReply
from handset.state import PodRecord, now_iso

if TYPE_CHECKING:
    from handset.client import PodConnection as PodClient

PRIME_PULSES = 52
CANNULA_PULSES = 10
PRIME_INTERVAL_MS = 1000
PACKET_TIMEOUT = 4
# The long VersionResponse must carry exactly these (0.05 U, 2 s, 1 s, 52, 10, 80 h; §8.4).
EXPECTED_POD_CONSTANTS = {"pulse_volume": 0x1388, "bolus_interval_eighths": 0x10, "prime_interval_eighths": 0x08,
                          "prime_pulses": 0x34, "cannula_pulses": 0x0A, "pod_life_hours": 0x50}
NOMINAL_LIFE_HOURS = 72
POLL_INTERVAL_MS = 1000
ACTIVATION_BASAL_BEEP = 0x40
MAX_POLL_INTERVAL_MS = 60_000
#: the pod's own limit from pairing to running is one hour (then progress 14); a little slack
SETUP_LIMIT_MINUTES = 65

Progress = Callable[[str, str], None]


def new_address(rng: random.Random | None = None) -> int:
    """A random pod address in the range the PDM uses, 0x1f000000..0x1f0fffff."""
    return 0x1F000000 | (rng or random.SystemRandom()).randrange(0x100000)


def low_reservoir_alert(units: int) -> dict:
    """Slot 4, "units remaining" trigger (0.1 U steps), beep once a minute for 3 min, hourly (real PDM)."""
    return {"slot": 4, "active": 1, "units_trigger": 1, "auto_off": 0, "duration_minutes": 0,
            "trigger": units * 10, "beep_repeat": 1, "beep_type": 2}


def finish_setup_alert() -> dict:
    """Slot 7: finish-setup reminder, 55 min long, first after 5 min, every 5 min (real PDM)."""
    return {"slot": 7, "active": 1, "units_trigger": 0, "auto_off": 0, "duration_minutes": 55,
            "trigger": 5, "beep_repeat": 8, "beep_type": 2}


def expired_advisory_alert() -> dict:
    """Slot 7 re-armed: the 72 h "pod expired" advisory, 7 h long, from 72 h − 1 min, every 60 min (real PDM)."""
    return {"slot": 7, "active": 1, "units_trigger": 0, "auto_off": 0, "duration_minutes": 420,
            "trigger": NOMINAL_LIFE_HOURS * 60 - 1, "beep_repeat": 5, "beep_type": 2}


def shutdown_imminent_alert() -> dict:
    """Slot 2: shutdown imminent at 79 h − 1 min, every 15 min (real PDM)."""
    return {"slot": 2, "active": 1, "units_trigger": 0, "auto_off": 0, "duration_minutes": 0,
            "trigger": 79 * 60 - 1, "beep_repeat": 6, "beep_type": 2}


def auto_off_disarmed_alert() -> dict:
    """Slot 0: the auto-off alert, configured inactive (real PDM)."""
    return {"slot": 0, "active": 0, "units_trigger": 0, "auto_off": 1, "duration_minutes": 15,
            "trigger": 0, "beep_repeat": 2, "beep_type": 2}


def after_basal_alerts() -> list[dict]:
    """The real PDM's one ConfigureAlerts between the basal program and the cannula (§2.4, seq 12)."""
    return [expired_advisory_alert(), shutdown_imminent_alert(), auto_off_disarmed_alert()]


def expiration_alert(hours_before: int) -> dict:
    """Slot 3: expiration reminder ``hours_before`` the nominal 72 h (real PDM: 1 h → 4260 min)."""
    return {"slot": 3, "active": 1, "units_trigger": 0, "auto_off": 0, "duration_minutes": 0,
            "trigger": (NOMINAL_LIFE_HOURS - hours_before) * 60, "beep_repeat": 3, "beep_type": 2}


def assign_address_blocks(address: int) -> list[dict]:
    return [{"type": C.BLOCK_ASSIGN_ADDRESS, "address": address}]


def setup_pod_blocks(address: int, lot: int, tid: int, when: _dt.datetime) -> list[dict]:
    return [{"type": C.BLOCK_SETUP_POD, "address": address, "unknown": 0x14, "packet_timeout": PACKET_TIMEOUT,
             "month": when.month, "day": when.day, "year": when.year - 2000, "hour": when.hour,
             "minute": when.minute, "lot": lot, "tid": tid}]


def activation_basal_blocks(rates_pph: list[int], time_of_day_ms: int) -> list[dict]:
    """1A+13 of the first basal program; the real PDM set the completion-beep bit (0x40) here."""
    return list(schedule.basal_schedule_blocks(rates_pph, time_of_day_ms, 0, beep_options=ACTIVATION_BASAL_BEEP))


def prime_blocks(pulses: int) -> list[dict]:
    """1A+17 of the prime or the cannula insertion: a bolus at 1 s per pulse, no beep options."""
    return list(schedule.bolus_blocks(pulses, 0, interval_ms=PRIME_INTERVAL_MS))


def activate(
    client: "PodClient",
    basal_rates_pph: list[int],
    time_of_day_ms: int | None = None,
    low_reservoir_units: int = 20,
    expiry_reminder_hours: int = 1,
    progress: Progress | None = None,
    now: _dt.datetime | None = None,
) -> "Status":
    """Activate a new pod (or finish an interrupted activation); returns the final status.

    :param basal_rates_pph: 48 half-hour basal rates in pulses per hour (1..600).
    :param time_of_day_ms: the local time of day for the basal program (default: from ``now``).
    :param low_reservoir_units: the low-reservoir alert threshold, 1..50 U.
    :param expiry_reminder_hours: the expiration reminder, 1..24 h before 72 h.
    :param progress: called as ``progress(step, detail)`` at every step.
    :raises InvalidInput: bad arguments (nothing is sent).
    :raises PodAlreadyPaired: the state directory holds an active, running pod.
    """
    rates = _check_rates(basal_rates_pph)
    _check_int("low-reservoir alert", low_reservoir_units, 1, 50, "units")
    _check_int("expiration reminder", expiry_reminder_hours, 1, 24, "hours")
    now = now or _dt.datetime.now()
    tod = tod_from(now) if time_of_day_ms is None else time_of_day_ms
    _check_int("time of day", tod, 0, 86_399_999, "milliseconds")
    say: Progress = progress or (lambda step, detail: None)

    rec = client.record
    if rec is not None and rec.progress >= C.PROGRESS_ABOVE_50_UNITS:
        raise PodAlreadyPaired(
            f"Pod {rec.address:08x} is still active in {client.store.dir}: deactivate it with `handset deactivate` "
            "before activating a new one."
        )
    status: "Status | None" = None
    if rec is None:
        _pair(client, now, say)
        stage = C.PROGRESS_PAIRING_COMPLETED  # known from the long VersionResponse, as the PDM knows it
    else:
        status = client.status()
        stage = status.progress
        say("status", f"pod progress {stage} ({status.progress_name})")
        if status.running:
            return status
        _refuse_dead_pod(status)
    if stage not in range(C.PROGRESS_PAIRING_COMPLETED, C.PROGRESS_ABOVE_50_UNITS):
        raise BadReply(f"The pod is in state {stage} and cannot be activated: deactivate it and use a new pod.")
    if stage == C.PROGRESS_PAIRING_COMPLETED:
        client.configure_alerts([low_reservoir_alert(low_reservoir_units)], "alert_low_reservoir")
        say("alerts", f"low-reservoir alert at {low_reservoir_units} U (slot 4)")
        client.configure_alerts([finish_setup_alert()], "alert_finish_setup")
        say("alerts", "finish-setup reminder (slot 7)")
        status = client._command("prime", {"pulses": PRIME_PULSES},
                                 prime_blocks(PRIME_PULSES),
                                 lambda s: s.progress >= C.PROGRESS_PRIMING)
        say("prime", f"priming {PRIME_PULSES} pulses")
        # The PDM waits for the prime (52 s) plus 3 s before it speaks again.
        client.wait_ms(PRIME_PULSES * PRIME_INTERVAL_MS + 3000)
        stage = status.progress
    if stage in (C.PROGRESS_PRIMING, C.PROGRESS_PRIMING_COMPLETED):
        # The real PDM sends the expiration reminder right after the prime; its reply shows progress 5.
        status = client.configure_alerts([expiration_alert(expiry_reminder_hours)], "alert_expiration")
        say("alerts", f"expiration reminder {expiry_reminder_hours} h before 72 h (slot 3)")
        status = _poll_until(client, C.PROGRESS_PRIMING_COMPLETED, status, say, "prime")
        stage = status.progress
    if stage == C.PROGRESS_PRIMING_COMPLETED:
        blocks = activation_basal_blocks(rates, tod)
        status = client._command("activation_basal", {"rates_pph": rates}, list(blocks),
                                 lambda s: s.basal_running, followup=True)
        client.record.basal_rates_pph = rates  # type: ignore[union-attr]
        client.store.save_pod(client.record)  # type: ignore[arg-type]
        say("basal", "basal program started")
        stage = status.progress
    if stage == C.PROGRESS_BASAL_INITIALIZED:
        if client.record is not None and "2" not in client.record.alerts:
            client.configure_alerts(after_basal_alerts(), "alert_after_basal")
            say("alerts", "expired advisory (slot 7), shutdown imminent (slot 2), auto-off off (slot 0)")
        status = client._command("insert_cannula", {"pulses": CANNULA_PULSES},
                                 prime_blocks(CANNULA_PULSES),
                                 lambda s: s.progress >= C.PROGRESS_INSERTING_CANNULA)
        say("cannula", "inserting the cannula")
        client.wait_ms(CANNULA_PULSES * PRIME_INTERVAL_MS + 3000)
    assert status is not None
    status = _poll_until(client, C.PROGRESS_ABOVE_50_UNITS, status, say, "cannula")
    client.append({"kind": "event", "event": "activated"}, status)
    say("done", f"pod {client.record.address:08x} is running")  # type: ignore[union-attr]
    return status


def _pair(client: "PodClient", now: _dt.datetime, say: Progress) -> None:
    """Steps 1-2: give the pod an address and set it up; creates the pod record.

    The address, lot, tid and set-up time are saved before the SetupPod goes out: when its reply is
    lost, the next activation sends the very same bytes again, which the pod answers (again) with
    its long version whether or not it had run them — so a lost reply never strands a paired pod.
    """
    session = client._session()
    pending = client.store.load_pairing()
    if pending is not None:
        address, lot, tid = int(pending["address"]), int(pending["lot"]), int(pending["tid"])
        now = _dt.datetime.fromisoformat(str(pending["when"]))
        say("pair", f"carrying on the set-up of pod {address:08x}")
    else:
        address = new_address()
        say("pair", f"assigning address {address:08x}")
        try:
            ex = session.send(assign_address_blocks(address), seq=0, address=C.ADDRESS_PAIRING,
                              accept=lambda reply: _is_version(reply, long=False))
        except NoReply as exc:
            raise PodUnreachable(
                "No new pod answered the pairing request: check that the pod emulator runs and is not paired yet, "
                "then repeat the activation."
            ) from exc
        version = _version(ex.blocks(), "address assignment")
        if version.get("address") != address:
            raise BadReply("The pod did not take the address the handset assigned: repeat the activation.")
        lot, tid = int(version["lot"]), int(version["tid"])
        say("pair", f"pod lot {lot} tid {tid}, progress {version['progress']}")
        now = now.replace(second=0, microsecond=0)
        client.store.save_pairing({"address": address, "lot": lot, "tid": tid, "when": now.isoformat()})
    try:
        ex = session.send(setup_pod_blocks(address, lot, tid, now), seq=0, address=C.ADDRESS_PAIRING,
                          accept=lambda reply: _is_version(reply, long=True))
    except NoReply as exc:
        raise PodUnreachable("The pod did not answer the set-up: repeat the activation (the handset sends the same "
                             "set-up again and carries on).") from exc
    if pending is not None and not any(b["type"] == C.BLOCK_VERSION for b in ex.blocks()):
        client.store.clear_pairing()  # that pod is gone (reset, or another one): start afresh next time
    long_version = _version(ex.blocks(), "set-up")
    for field, want in EXPECTED_POD_CONSTANTS.items():
        if long_version.get(field) != want:
            raise BadReply(
                f"The pod reports {field} = {long_version.get(field)!r} instead of {want}: it is not a pod this "
                "handset can drive; discard it."
            )
    if long_version.get("progress") != C.PROGRESS_PAIRING_COMPLETED or long_version.get("lot") != lot:
        raise BadReply("The pod did not complete pairing: discard it and activate a new pod.")
    nonce = eros_nonce.NonceState(lot, tid)
    client.record = PodRecord(
        address=address, lot=lot, tid=tid, nonce_words=list(nonce.to_words()), next_seq=2,
        progress=C.PROGRESS_PAIRING_COMPLETED, activated_at=now_iso(),
        pm_version=list(long_version.get("pm_version", [])), pi_version=list(long_version.get("pi_version", [])),
    )
    client.store.save_pod(client.record)
    client.store.clear_pairing()
    client.append({"kind": "event", "event": "paired", "pod": f"{address:08x}", "lot": lot, "tid": tid})
    session.address, session.lot, session.tid, session.nonce, session.next_seq = address, lot, tid, nonce, 2
    say("pair", f"paired with pod {address:08x}")


def _is_version(reply: dict, long: bool) -> bool:
    """Does ``reply`` answer AssignAddress (short version) or SetupPod (long version), or refuse it?"""
    for b in reply["blocks"]:
        if b["type"] == C.BLOCK_ERROR:
            return True
        if b["type"] == C.BLOCK_VERSION:
            return ("pulse_volume" in b) == long
    return False


def _version(blocks: list[dict], what: str) -> dict:
    for b in blocks:
        if b["type"] == C.BLOCK_VERSION:
            return b
    for b in blocks:
        if b["type"] == C.BLOCK_ERROR:
            raise BadReply(f"The pod refused the {what} (error 0x{int(b['code']):02x}): it may be paired already; "
                           "reset the emulator or use a new pod.")
    raise BadReply(f"The pod answered the {what} with something other than its version: repeat the activation.")


def _refuse_dead_pod(status: "Status") -> None:
    """Raise for a pod that can no longer be activated: activation time exceeded or inactive."""
    if status.progress == C.PROGRESS_ACTIVATION_TIME_EXCEEDED:
        raise ActivationFailed(
            "The pod's activation time ran out (progress 14, activation time exceeded): it will not deliver "
            "insulin. Deactivate it with `handset deactivate` and activate a new pod.")
    if status.progress >= C.PROGRESS_FAULT:
        raise ActivationFailed(
            f"The pod is in state {status.progress} ({status.progress_name}) and cannot be activated: deactivate "
            "it with `handset deactivate` and activate a new pod.")


def _reached(status: "Status", target: int) -> bool:
    """``target`` reached: for the end of the activation only progress 8 or 9 counts."""
    if target >= C.PROGRESS_ABOVE_50_UNITS:
        return status.running
    return target <= status.progress < C.PROGRESS_FAULT


def _poll_until(client: "PodClient", target: int, status: "Status", say: Progress, what: str) -> "Status":
    """Read the status until the pod's progress reaches ``target``: after 1 s of pod time, then twice
    as long each time (at most a minute), for as long as the pod's own set-up limit allows — so a
    slow board (an emulated Pico) takes longer, and never fails for being slow.

    :raises ActivationFailed: the pod reports activation time exceeded (14) or another dead end.
    :raises PodFaulted: the pod faulted (from the status read).
    :raises BadReply: the pod stays short of ``target`` past its own set-up limit.
    """
    interval = POLL_INTERVAL_MS
    waited_ms = 0
    while not _reached(status, target):
        _refuse_dead_pod(status)
        # the pod's clock, or the handset's own waits when the pod's clock does not move on
        if status.minutes > SETUP_LIMIT_MINUTES or waited_ms > SETUP_LIMIT_MINUTES * 60_000:
            raise BadReply(
                f"The pod did not finish the {what} within its set-up time (progress {status.progress} at pod age "
                f"{status.minutes} min): read the status; deactivate it and use a new pod if it does not move on.")
        client.wait_ms(interval)
        waited_ms += interval
        interval = min(2 * interval, MAX_POLL_INTERVAL_MS)
        status = client.status()
        say(what, f"waiting: progress {status.progress} ({status.progress_name})")
    return status


__all__ = ["activate", "new_address", "low_reservoir_alert", "finish_setup_alert", "expiration_alert",
           "assign_address_blocks", "setup_pod_blocks", "InvalidInput"]
