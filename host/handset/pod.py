"""The handset library's facade: one object, ``PodClient``, that the CLI and the shell call.

It is assembled from focused parts: ``client`` (link, state, reads, the command machinery),
``pod_delivery`` (bolus, temp basal, basal, suspend/resume), ``pod_life`` (activation, deactivation,
alerts), ``pod_diag`` (detailed status, pulse log, activation time, beeps); the blocks and argument
checks are in ``blocks``, the status type in ``podstatus``, the history's records in ``history``.

API overview (all insulin in integer pulses of 0.05 U, rates in pulses per hour, no floats)::

    from handset.pod import PodClient

    with PodClient.open("socket://127.0.0.1:7777", state_dir=None, trace=None,
                        reply_timeout_s=None) as pod:   # None: HANDSET_TIMEOUT, else from the link
        pod.activate(basal_rates_pph=[20] * 48, time_of_day_ms=None, low_reservoir_units=20,
                     expiry_reminder_hours=1, progress=lambda step, detail: print(step, detail))
        st = pod.status()                 # Status: .progress .delivery .pulses_delivered
                                          #   .bolus_remaining .alerts .minutes .reservoir (None = >50 U)
        pod.detailed_status()             # dict (SPEC §3, PodInfo subtype 2) + "fault_name"; never raises PodFaulted
        pod.triggered_alerts()            # list of 8 pod-minute values (0 = slot not triggered)
        pod.bolus(pulses=20, meal_pulses=0)  # reads the status first (refused while suspended); Status
                                          # after the command, confirmed by the reply
        pod.bolus(0, extended_pulses=20, extended_half_hours=2)
        pod.cancel_bolus()                # Status; .bolus_remaining = pulses not delivered
        pod.temp_basal(rate_pph=10, half_hours=2); pod.cancel_temp()
        pod.set_basal([20] * 48)          # cancels basal/temp first, as the PDM does
        pod.suspend(); pod.resume()
        pod.acknowledge_alerts(mask=0x10); pod.silence(mask=0x80)
        pod.pulse_log()                   # dict: last_index, entries (0E 50)
        pod.pulse_log_all()               # 0E 50 + 51, entries decoded; pod.activation_time() (0E 05)
        pod.beep(2)                       # 1E test beep
        pod.deactivate()                  # archives the pod record
        pod.bench("advance", ms=60000)    # bench operation for the operator (JSON answer dict)
        pod.record                        # PodRecord | None (state.py); pod.store.history() (history.py)
        pod.notices                       # sentences: what the handset corrected from the pod's status
        pod.last_command_id               # the history id of the last command (a bolus's ``ref``)

    PodClient.offline(state_dir)          # the state directory only (history, pod record), no link

Every method that changes the pod writes a history record first ("unconfirmed"), then settles it
from the reply ("confirmed"); a confirmed command becomes its delivery records, and every status
read reconciles them with the pod (``reconcile``). When the reply never comes, ``Unconfirmed`` is raised and the next
status read settles the record (the pod's last-programming seq and the delivery bits tell whether
the command ran). Errors are ``handset.errors`` classes with a sentence and an exit code.

``wait_ms`` (constructor / ``open``) is how the library waits for the pod during priming and
cannula insertion: ``time.sleep`` by default; tests on a virtual clock pass a bench "advance".
"""
from __future__ import annotations

from handset.blocks import (
    BEEP_SILENT_ALERT,
    MAX_PULSES,
    MAX_RATE_PPH,
    ack_alerts_block,
    cancel_block,
    configure_alerts_block,
    deactivate_block,
    status_request_block,
    time_of_day_ms,
)
from handset.client import PodConnection
from handset.pod_bench import BenchAccess
from handset.pod_delivery import DeliveryCommands
from handset.pod_diag import DiagnosticCommands
from handset.pod_life import LifeCommands
from handset.podstatus import ERROR_SENTENCES, PROGRESS_NAMES, Status


class PodClient(DeliveryCommands, LifeCommands, DiagnosticCommands, BenchAccess):
    """The handset: talks to one pod and keeps its state directory.

    Use ``PodClient.open(url, state_dir, trace)``; close it (or use ``with``) to release the link
    and the state directory lock. The methods are listed in this module's docstring.
    """


__all__ = ["PodClient", "PodConnection", "Status", "PROGRESS_NAMES", "ERROR_SENTENCES", "MAX_PULSES", "MAX_RATE_PPH",
           "BEEP_SILENT_ALERT", "cancel_block", "status_request_block", "ack_alerts_block", "configure_alerts_block",
           "deactivate_block", "time_of_day_ms"]
