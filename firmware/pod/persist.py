"""The pod's state across power loss: the saved dict, and what a restart makes of it.

    state = to_state(pod)        # the whole pod as a JSON-able dict
    restore(pod, state)          # become that pod (raises KeyError/ValueError on a malformed one)
    load(pod, store, now_ms)     # at start-up: the newest usable snapshot, its journal replayed
                                 # (SPEC.md 8 "Restart")
"""
import struct

from eros.blocks import decode_blocks
from eros.nonce import NonceState
from eros.plan import plan_from_blocks
from pod.alerts import Alerts
from pod.codes import F_STATE_LOST, RESERVOIR_LOW
from pod.delivery import Delivery, BOLUS_NORMAL
from pod.store import REC_MESSAGE, REC_STROKE, REC_BLOCKED, REC_TICK
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
            "occlusion": pod.occlusion.to_state(), "plog": pod.pulse_log.to_words(),
            "last": [pod.last_key, pod.last_reply],
            "table_corruption": pod.table_corruption}


class _Quiet:
    """The hal while the journal is replayed: what it records happened already (beeps, logs),
    and the mechanism is not touched (each stroke's outcome comes from the journal)."""

    def __init__(self, hal):
        self.storage = hal.storage
        self.pump = None

    def beep(self, beep_type):
        pass

    def log(self, text):
        pass


class Replay:
    """The outcome of each journaled stroke, for Pod._pulse while the journal is replayed. Built
    in one pass over the records, keeping only the blocked strokes (few): a Pico's heap is small."""

    def __init__(self, records, position):
        self.blocked = {}   # stroke number -> True: it did not move the plunger
        self.last = 0       # the newest stroke number
        before = 0          # pulses delivered before it
        known = True        # the newest stroke's outcome is known (a record follows it)
        for kind, payload in records:
            if kind == REC_STROKE:
                self.last, before = struct.unpack_from(">II", payload, 8)
                known = False
            elif kind == REC_BLOCKED:
                self.blocked[struct.unpack(">I", payload)[0]] = True
                known = True
            else:
                known = True
        self.in_flight = None
        if self.last and not known:
            # The power went during the newest stroke: the mechanism tells whether it moved; a
            # mechanism that cannot tell leaves it counted (one pulse ahead: the safe side).
            if position == before:
                self.blocked[self.last] = True
                self.in_flight = 0
            else:
                self.in_flight = 1 if position == before + 1 else -1

    def outcome(self, index, delivered):
        """1 pushed, 0 blocked, -1 the journal ends before stroke `index`."""
        if index > self.last:
            return -1
        return 0 if index in self.blocked else 1


def replay(pod, store, pos, position):
    """Carry out on the restored snapshot what the journal says happened after it, in order:
    messages handled at their pod time, time passing to each stroke and checkpoint."""
    r = Replay(store.records(pos), position)
    pod.replay = r
    try:
        for kind, payload in store.records(pos):
            if kind == REC_MESSAGE:
                pod.handle(payload[8:], struct.unpack_from(">Q", payload, 0)[0])
            elif kind == REC_STROKE or kind == REC_TICK:
                pod.step(struct.unpack_from(">Q", payload, 0)[0])
                if kind == REC_STROKE:
                    index, before = struct.unpack_from(">II", payload, 8)
                    if pod.pulse_log.count < index:
                        raise ValueError("the journal does not replay: stroke %d did not come" % index)
        if r.last and pod.pulse_log.count != r.last:
            raise ValueError("the journal does not replay: %d strokes journaled, %d replayed"
                             % (r.last, pod.pulse_log.count))
    finally:
        pod.replay = None
    return r


def load(pod, store, now_ms):
    """Become the pod of the newest usable snapshot with its journal replayed (SPEC.md 8);
    True when it did, False for a new pod (or one faulted 0x3D: nothing usable)."""
    hal, lot, tid, fill = pod.hal, pod.lot, pod.tid, pod.fill
    position = hal.pump.position() if hal.pump is not None else None
    for saved, pos in store.snapshots():
        try:
            journaled = store.journaled_before(pos)
            if journaled is not None and journaled > saved["delivered"]:
                # strokes went out that this snapshot does not know of: its programs are stale
                raise ValueError("%d pulses journaled, the snapshot knows %d" % (journaled, saved["delivered"]))
            pod.hal = _Quiet(hal)
            restore(pod, saved)
            r = replay(pod, store, pos, position)
        except (KeyError, ValueError, TypeError, IndexError, AttributeError, struct.error) as e:
            hal.log("saved pod state unusable (%s): trying an older one" % e)
            pod.__init__(hal, lot, tid, fill, now_ms)
            pod.store = store
            continue
        pod.hal = hal
        store.keep(pos)
        restarted(pod, r, position)
        if r.in_flight == 0:
            store.blocked(r.last)  # the journal agrees: that stroke did not go
        return True
    if store.used():
        # This pod has delivered insulin but no saved state can be trusted: never start over
        # as a fresh pod (a full reservoir count, pairing again); stay faulted, deliver nothing.
        recorded = store.journaled_before(None)
        if recorded is None:
            recorded = store.load_delivered()
        hal.log("no usable saved pod state after a restart: faulting 0x%02x" % F_STATE_LOST)
        pod.delivered = recorded or 0
        pod.table_corruption = 1
        pod.fault(F_STATE_LOST, now_ms)
    return False


def restarted(pod, r, position):
    """After the replay: say what the power cut did; a running bolus is not resumed."""
    if r.in_flight == 0:
        pod.hal.log("restart: the pulse in flight at the power loss was not delivered")
    elif r.in_flight == -1 and position is not None:
        pod.hal.log("restart: the mechanism reads %d pulses, the pod counts %d" % (position, pod.delivered))
    d = pod.delivery
    lost = pod.cut_lost
    pod.cut_lost = 0
    if d.bolus is not None:
        pod.hal.log("restart: the %s was not resumed, %d pulses not delivered"
                    % ("bolus" if d.bolus_kind == BOLUS_NORMAL else "activation bolus",
                       d.bolus_left() + d.missed + lost))
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
    pod.alerts = Alerts.from_state(pod.sound, s["alerts"])
    pod.alerts_due = s["alerts_due"]
    pod.occlusion = OcclusionDetector.from_state(s["occlusion"])
    pod.pulse_log = PulseLog.from_words(s["plog"])
    last = s.get("last") or [None, ""]
    pod.last_key = last[0]
    pod.last_reply = last[1]
    pod.table_corruption = s.get("table_corruption", 0)
    pod.remind_ms = pod.last_ms
    pod.saved_ms = pod.last_ms


def _plan_from_src(src):
    """Rebuild a PulsePlan from the hex of its 1A + extra blocks (saved by Delivery.to_state)."""
    blocks = decode_blocks(bytes.fromhex(src))
    return plan_from_blocks(blocks[0], blocks[1])
