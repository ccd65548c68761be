"""The pod's state across power loss: the saved dict, and what a restart makes of it.

    state = to_state(pod)        # the whole pod as a JSON-able dict
    restore(pod, state)          # become that pod (raises KeyError/ValueError on a malformed one)
    load(pod, store, now_ms)     # at start-up: the newest usable saved state (SPEC.md 8 "Restart")
"""
from eros.blocks import decode_blocks
from eros.nonce import NonceState
from eros.plan import plan_from_blocks
from pod.alerts import Alerts
from pod.codes import F_STATE_LOST, RESERVOIR_LOW
from pod.delivery import Delivery, BOLUS_NORMAL, EV_BOLUS
from pod.occlusion import OcclusionDetector
from pod.pulselog import PulseLog


def to_state(pod):
    """The whole pod as a JSON-able dict of ints, strings and lists."""
    return {"v": 1, "lot": pod.lot, "tid": pod.tid, "fill": pod.fill, "address": pod.address,
            "progress": pod.progress, "created": pod.created_ms, "paired": pod.paired_ms,
            "date": list(pod.setup_date), "nonce": list(pod.nonce.to_words()),
            "bad_nonces": pod.bad_nonces, "last_prog_seq": pod.last_prog_seq,
            "delivered": pod.delivered, "fault": [pod.fault_code, pod.fault_ms,
                                                    pod.progress_at_fault, pod.bolus_at_fault],
            "fault_config": list(pod.fault_config), "beep_config": list(pod.beep_config),
            "last_ms": pod.last_ms, "delivery": pod.delivery.to_state(),
            "alerts": pod.alerts.to_state(), "alerts_due": pod.alerts_due,
            "occlusion": pod.occlusion.to_state(), "pending": pod.pending, "pending_ev": pod.pending_ev,
            "last": [pod.last_key, pod.last_reply],
            "table_corruption": pod.table_corruption}


def load(pod, store, now_ms):
    """Become the pod of the newest usable saved state (see SPEC.md "Restart")."""
    recorded = store.load_delivered()
    hal, lot, tid, fill = pod.hal, pod.lot, pod.tid, pod.fill
    for saved in store.states():
        try:
            limit = saved["delivered"] + saved.get("pending", 0)
            if recorded is not None and recorded > limit:
                # pulses went out that this record does not know of: its programs are stale
                raise ValueError("%d pulses recorded, the state knows %d" % (recorded, limit))
            restore(pod, saved)
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
            pod.hal.log("saved pod state unusable (%s): trying an older one" % e)
            pod.__init__(hal, lot, tid, fill, now_ms)
            pod.store = store
            continue
        restarted(pod, recorded)
        return
    if recorded is not None or store.used():
        # This pod has delivered insulin but no saved state can be trusted: never start over
        # as a fresh pod (a full reservoir count, pairing again); stay faulted, deliver nothing.
        pod.hal.log("no usable saved pod state after a restart: faulting 0x%02x" % F_STATE_LOST)
        pod.delivered = recorded or 0
        pod.table_corruption = 1
        pod.fault(F_STATE_LOST, now_ms)


def restarted(pod, recorded):
    """After restore(): account for the write-ahead counter; a running bolus is not resumed."""
    planned = pod.delivered + pod.pending  # what the saved event was about to deliver
    if recorded is not None and recorded > pod.delivered:
        pod.delivered = recorded
    position = pod.hal.pump.position()
    if position is not None and position == pod.delivered - 1:
        # The mechanism tells where the plunger stands: the stroke in flight at the power cut
        # never went. Without that reading the count stays one ahead (the safe side).
        pod.hal.log("restart: the pulse in flight at the power loss was not delivered")
        pod.delivered = position
    elif position is not None and position != pod.delivered:
        pod.hal.log("restart: the mechanism reads %d pulses, the pod recorded %d" % (position, pod.delivered))
    if pod.store is not None and recorded is not None and recorded != pod.delivered:
        pod.store.save_delivered(pod.delivered)
    # pulses of a cut bolus event that never went out count as not delivered
    lost = planned - pod.delivered if pod.pending_ev == EV_BOLUS else 0
    pod.pending = 0
    pod.pending_ev = -1
    d = pod.delivery
    if d.bolus is not None:
        pod.hal.log("restart: the %s was not resumed, %d pulses not delivered"
                     % ("bolus" if d.bolus_kind == BOLUS_NORMAL else "activation bolus",
                        d.bolus_left() + max(lost, 0)))
        d.cancel(4)  # keeps its undelivered pulses for bolus_remaining
    if lost > 0:
        d.undelivered += lost
    if pod.progress == 8 and pod.reservoir() <= RESERVOIR_LOW:
        pod.progress = 9


def restore(pod, s):
    """Become the pod saved by to_state() (raises KeyError/ValueError on a malformed state)."""
    pod.lot = s["lot"]
    pod.tid = s["tid"]
    pod.fill = s["fill"]
    pod.address = s["address"]
    pod.progress = s["progress"]
    pod.created_ms = s["created"]
    pod.paired_ms = s["paired"]
    pod.setup_date = tuple(s["date"])
    pod.nonce = NonceState.from_words(pod.lot, pod.tid, s["nonce"])
    pod.bad_nonces = s["bad_nonces"]
    pod.last_prog_seq = s["last_prog_seq"]
    pod.delivered = s["delivered"]
    pod.fault_code, pod.fault_ms, pod.progress_at_fault, pod.bolus_at_fault = s["fault"]
    pod.fault_config = tuple(s["fault_config"])
    pod.beep_config = tuple(s["beep_config"])
    pod.last_ms = s["last_ms"]
    pod.delivery = Delivery()
    pod.delivery.restore(s["delivery"], _plan_from_src, pod.last_ms)
    pod.alerts = Alerts.from_state(pod.hal.beep, s["alerts"])
    pod.alerts_due = s["alerts_due"]
    pod.occlusion = OcclusionDetector.from_state(s["occlusion"])
    pod.pending = s.get("pending", 0)
    pod.pending_ev = s.get("pending_ev", -1)
    pod.pulse_log = PulseLog()
    if pod.store is not None:
        words = pod.store.load_words()
        if words is not None:
            try:
                pod.pulse_log = PulseLog.from_words(words)
            except ValueError:
                pod.hal.log("pulse log record unusable: the pulse log starts empty")
    last = s.get("last") or [None, ""]
    pod.last_key = last[0]
    pod.last_reply = last[1]
    pod.table_corruption = s.get("table_corruption", 0)
    pod.remind_ms = pod.last_ms
    pod.log_saved = pod.pulse_log.count
    pod.saved_ms = pod.last_ms


def _plan_from_src(src):
    """Rebuild a PulsePlan from the hex of its 1A + extra blocks (saved by Delivery.to_state)."""
    blocks = decode_blocks(bytes.fromhex(src))
    return plan_from_blocks(blocks[0], blocks[1])
