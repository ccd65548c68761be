"""Protocol logic of the pod: a pure state machine driven by the scheduler.

    pod = Pod(hal, lot, tid, fill_pulses, now_ms, store=None)
    reply = pod.handle(message_bytes, now_ms)   # one Eros message in, one reply out (None = dropped)
    deadline = pod.step(now_ms)                 # carries out every pulse and timer due up to now_ms

All state lives in the Pod object (to_state() / restore for the store). Insulin is counted in
whole pulses, time in integer ms of the scheduler's clock. A refused command (06 reply) changes
nothing, not even the nonce. A message repeated with the same bytes (a retry after a lost reply)
gets the first reply again and is not carried out twice. The behaviour is specified in
protocol/SPEC.md "Pod behaviour" and "Restart". This module holds the lifecycle (time, pulses,
faults) and the message entry point; pod/commands.py checks and executes the commands,
pod/persist.py saves and restores the state.
"""
import binascii

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

from eros.crc import crc16
from eros.errors import ProtocolError
from eros.message import build_message, parse_message
from eros.nonce import NonceState
from pod import status, commands, persist
from pod.commands import Refused
from pod.codes import (PAIRING_ADDRESS, RESERVOIR_LOW, E_ILLEGAL, F_OCCLUDED, F_EMPTY, F_EXPIRED,
                       F_AUTO_OFF)
from pod.alerts import Alerts
from pod.occlusion import OcclusionDetector
from pod.delivery import Delivery, BOLUS_NORMAL, BOLUS_PRIME, BOLUS_CANNULA, EV_BOLUS, EV_BASAL
from pod.pulselog import PulseLog, MODE_BASAL, MODE_TEMP, MODE_BOLUS, MODE_EXTENDED

_GET_STATUS = const(0x0E)                  # the one request that changes nothing
_PAIRING_TIMEOUT_MS = const(7200000)      # > 2 h from progress 2 to 3 -> 14
_SETUP_TIMEOUT_MS = const(3600000)        # > 1 h from progress 3 to 8 -> 14
_POD_LIFE_MS = const(288000000)           # 80 h: fault 0x1C
_SCREAMER_BEEP = const(6)                 # Beeeeeep when the pod faults
_MINUTE_MS = const(60000)
_CHECKPOINT_MS = const(600000)            # pod time is saved at least every 10 min (SPEC.md 8)
_COMPLETION_BEEP = const(0x0B)            # beep_options bit 6: BeepBeep when a program completes
_REMINDER_BEEP = const(0x04)              # beep_options bits 5..0: Beep every n minutes while it runs

class Pod:
    """One pod, from fill (progress 2) to deactivation (15)."""

    def __init__(self, hal, lot, tid, fill_pulses, now_ms, store=None, occlusion_pulses=None):
        self.hal = hal
        self.store = store
        self.lot = lot
        self.tid = tid
        self.fill = fill_pulses
        self.address = 0
        self.progress = 2
        self.created_ms = now_ms
        self.paired_ms = None
        self.setup_date = (0, 0, 0, 0, 0)
        self.nonce = NonceState(lot, tid, 0)
        self.bad_nonces = 0
        self.last_prog_seq = 0
        self.delivered = 0
        self.fault_code = 0
        self.fault_ms = 0
        self.progress_at_fault = 0
        self.bolus_at_fault = 0
        self.fault_config = (0, 0)
        self.beep_config = (0, 0, 0)
        self.last_ms = now_ms
        self.delivery = Delivery()
        self.alerts = Alerts(self.sound)
        self.alerts_due = None
        self.occlusion = OcclusionDetector()
        self.pulse_log = PulseLog()
        self.replay = None        # while a restart replays the journal: the strokes' known outcomes
        self.cut_lost = 0         # bolus pulses of an event a power cut stopped (found by the replay)
        self.last_key = None      # [length, seq, crc32] of the last message answered
        self.last_reply = ""      # hex of its reply, sent again when the same message comes back
        self.table_corruption = 0
        self.remind_ms = now_ms  # program reminders are done up to here
        self.saved_ms = now_ms   # pod time of the last journal record or snapshot
        restored = store is not None and persist.load(self, store, now_ms)
        if occlusion_pulses:  # the command line's threshold wins over the saved one
            self.occlusion.set_threshold(occlusion_pulses)
        if store is not None:
            self.save()  # what a restart changed, and a short journal to replay next time
            if not restored:
                self.save()  # both snapshot slots: one bit flip never loses a new pod

    # ================================================================ reports
    def reservoir(self):
        """Pulses left by the firmware's own count (not the mechanism's)."""
        left = self.fill - self.delivered
        return left if left > 0 else 0

    def delivery_bits(self):
        if self.fault_code or self.progress >= 13:
            return 0
        return self.delivery.bits()

    def bolus_remaining(self):
        d = self.delivery
        if d.bolus is not None:
            return d.bolus_left() + d.missed
        return d.undelivered

    def info(self, now_ms):
        """A summary for the bench and logs."""
        return {"address": self.address, "lot": self.lot, "tid": self.tid, "progress": self.progress,
                "delivered": self.delivered, "reservoir": self.reservoir(), "delivery": self.delivery_bits(),
                "bolus_remaining": self.bolus_remaining(), "fault": self.fault_code,
                "minutes": status.minutes_since(self.paired_ms, now_ms), "alerts": self.alerts.active_mask(),
                "last_prog_seq": self.last_prog_seq, "bad_nonces": self.bad_nonces,
                "pod_ms": self.last_ms, "occlusion_pulses": self.occlusion.threshold,
                "missed_pulses": self.occlusion.missed, "pulse_log": self.pulse_log.count}

    # ================================================================ time
    def step(self, now_ms):
        """Carry out every pulse and timer due at or before now_ms, in order; the next deadline or None."""
        if now_ms < self.last_ms:
            now_ms = self.last_ms  # the clock never runs backwards for the pod
        store = self.store if self.replay is None else None
        while True:
            t, ev = self._next_event()
            if t is None or t > now_ms:
                break
            if ev >= 0:
                self._delivery_event(ev, t)
                if store is not None and store.wants_snapshot():
                    self.save()  # between two events: a quiet moment for the journal to make room
            elif ev == -1:
                self._alerts_step(t)
            elif ev == -2:
                self._timeout(t)
            elif ev == -3:
                self.fault(F_EXPIRED, t)
            elif ev == -4:
                self._remind(t)
            else:
                self.last_ms = t  # checkpoint: the pod time is journaled
                self.saved_ms = t
                if store is not None:
                    store.tick(t)
        self.last_ms = now_ms
        t, ev = self._next_event()
        return t

    def _delivery_event(self, ev, t):
        d = self.delivery
        if ev == EV_BOLUS:
            mode = MODE_BOLUS if d.immediate_left() > 0 else MODE_EXTENDED
        else:
            mode = MODE_TEMP if ev != EV_BASAL else MODE_BASAL
        had_temp = d.temp is not None
        n = d.take(ev, t)
        if n > 0 and self.fault_code == 0:
            self.last_ms = t
            while n > 0 and self.fault_code == 0:
                r = self._pulse(t, mode)
                if r < 0:
                    # replay: the power was cut before this stroke; the rest of the event is
                    # lost, never pushed again (the safe side), and a bolus reports it
                    if ev == EV_BOLUS:
                        self.cut_lost += n
                    n = 0
                    break
                if r:
                    n -= 1
            if n > 0 and ev == EV_BOLUS:
                d.undelivered += n  # a fault stopped the event: its bolus pulses were not given
        kind = d.pop_finished()
        if kind >= 0 or (d.bolus is None and d.missed):
            # the bolus is over (done, or stopped by a fault): its blocked pulses were not given
            d.undelivered += d.missed
            d.missed = 0
        if kind == BOLUS_PRIME and self.progress == 4:
            self.progress = 5
        elif kind == BOLUS_CANNULA and self.progress == 7:
            self.progress = 9 if self.reservoir() <= RESERVOIR_LOW else 8
        elif kind == BOLUS_NORMAL and self.beep_config[2] & 0x40:
            self.sound(_COMPLETION_BEEP)
        if had_temp and d.temp is None and self.beep_config[1] & 0x40:
            self.sound(_COMPLETION_BEEP)
        self._alerts_step(t)  # reservoir triggers follow every pulse

    def _reminders(self):
        """(due ms, None) of the next program reminder beep, or (None, None)."""
        d = self.delivery
        best = None
        for i, start in ((0, d.basal_start if d.basal is not None else None),
                         (1, d.temp_start if d.temp is not None else None),
                         (2, d.bolus_start if d.bolus is not None and d.bolus_kind == BOLUS_NORMAL else None)):
            period = (self.beep_config[i] & 0x3F) * _MINUTE_MS
            if start is None or not period:
                continue
            base = self.remind_ms if self.remind_ms > start else start
            t = start + ((base - start) // period + 1) * period
            if best is None or t < best:
                best = t
        return best

    def _remind(self, t):
        self.remind_ms = t
        self.sound(_REMINDER_BEEP)

    def _next_event(self):
        """(due ms, event): delivery events >= 0, -1 alerts, -2 activation timeout, -3 end of life."""
        best = None
        ev = 0
        if self.progress < 13:
            nxt = self.delivery.next_event()
            if nxt is not None:
                best, ev = nxt
        if self.alerts_due is not None and (best is None or self.alerts_due < best):
            best = self.alerts_due
            ev = -1
        if self.progress == 2:
            t = self.created_ms + _PAIRING_TIMEOUT_MS
        elif 3 <= self.progress <= 7 and self.paired_ms is not None:
            t = self.paired_ms + _SETUP_TIMEOUT_MS
        else:
            t = None
        if t is not None and (best is None or t < best):
            best = t
            ev = -2
        if self.paired_ms is not None and self.progress < 13:
            t = self.paired_ms + _POD_LIFE_MS
            if best is None or t < best:
                best = t
                ev = -3
            if self.progress in (8, 9):
                t = self._reminders()
                if t is not None and (best is None or t < best):
                    best = t
                    ev = -4
        if self.store is not None and self.progress < 15:
            t = self.saved_ms + _CHECKPOINT_MS  # a restart loses at most this much pod time
            if best is None or t < best:
                best = t
                ev = -5
        return best, ev

    def _pulse(self, t, mode):
        """One commanded stroke: 1 done, 0 the pod faulted instead (empty reservoir), -1 (replay
        only) the journal ends before this stroke."""
        if self.reservoir() <= 0:
            self.fault(F_EMPTY, t)
            return 0
        index = self.pulse_log.count + 1
        if self.replay is not None:
            pushed = self.replay.outcome(index, self.delivered)
            if pushed < 0:
                return -1
        else:
            store = self.store
            if store is not None:
                store.stroke(t, index, self.delivered)  # write-ahead: journaled before it can go
                self.saved_ms = t
            pushed = self.hal.pump.pulse()
            if not pushed and store is not None:
                store.blocked(index)
        if pushed:
            self.delivered += 1  # counted as delivered only when the mechanism says it went
        elif mode == MODE_BOLUS or mode == MODE_EXTENDED:
            self.delivery.missed += 1  # reported as not delivered when the bolus ends
        self.pulse_log.add(pushed, mode, self.reservoir() <= RESERVOIR_LOW)
        if self.progress == 8 and self.reservoir() <= RESERVOIR_LOW:
            self.progress = 9
        if self.occlusion.on_pulse(pushed):
            self.fault(F_OCCLUDED, t)
        return 1

    def _alerts_step(self, t):
        self.alerts_due = self.alerts.step(t, self.reservoir() if self.paired_ms is not None else None)
        slot = self.alerts.auto_off_expired()
        if slot is not None and self.fault_code == 0 and self.progress < 13:
            self.fault(F_AUTO_OFF + slot, t)

    def _timeout(self, t):
        self.hal.log("activation took too long: progress %d -> 14" % self.progress)
        self.delivery.stop_all()
        self.progress = 14

    def fault(self, code, t):
        if self.fault_code:
            return
        self.hal.log("fault 0x%02x at progress %d" % (code, self.progress))
        self.progress_at_fault = self.progress
        self.bolus_at_fault = 1 if self.delivery.immediate_left() > 0 else 0
        if self.delivery.bolus is not None:
            self.delivery.undelivered = self.delivery.bolus_left()
        self.delivery.stop_all()
        self.fault_code = code
        self.fault_ms = t
        self.progress = 13
        self.sound(_SCREAMER_BEEP)

    # ================================================================ messages
    def handle(self, data, now_ms):
        """One message in, one reply message out; None when it is not for this pod (CRC, address)."""
        self.step(now_ms)
        now_ms = self.last_ms
        if len(data) < 10 or crc16(data[:-2]) != (data[-2] << 8 | data[-1]):
            return None
        seq = (data[4] >> 2) & 0x0F
        key = [len(data), seq, binascii.crc32(data) & 0xFFFFFFFF]
        status_only = _status_only(data)
        if key == self.last_key and self.last_reply and not status_only:
            # The handset sent this message again (it lost our reply): answer exactly as before,
            # carry out nothing (a retried 03 too, though its pairing address is no longer ours).
            # Only the last message is kept; the PDM's next one has another seq.
            self.hal.log("repeated message (seq %d): the first reply again, nothing carried out" % seq)
            return bytes.fromhex(self.last_reply)
        address = (data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]
        if self.progress == 2 and self.paired_ms is None:
            if address != PAIRING_ADDRESS:
                return None
        elif address != self.address:
            return None
        store = self.store if self.replay is None else None
        if store is not None:
            # journaled before it is carried out: after a power loss the replay carries it out
            # again, so its reply (kept below) survives, and a retry gets that reply
            store.message(now_ms, data)
            self.saved_ms = now_ms
        reply = self._handle(data, seq, now_ms)
        if not status_only:
            # Only a command is kept for a repeat: a status request is answered afresh each time,
            # and it must not push out the command a retry may still bring.
            self.last_key = key
            self.last_reply = reply.hex()
        if store is not None and store.wants_snapshot():
            self.save()
        return reply

    def _handle(self, data, seq, now_ms):
        try:
            try:
                blocks = parse_message(data)["blocks"]
            except ProtocolError as e:
                raise Refused(E_ILLEGAL, str(e))
            cmds = commands.group(blocks)
            commands.check_all(self, cmds)
            reply_nonce = commands.check_nonce(self, cmds, seq)
            if reply_nonce is not None:
                return self._reply(seq, reply_nonce)
            kind = None
            for c in cmds:
                k = commands.execute(self, c, seq, now_ms)
                if k is not None:
                    kind = k
        except Refused as r:
            self.hal.log("refused (06 0x%02x): %s" % (r.code, r))
            return self._reply(seq, status.error(r.code, self))
        self.alerts.note_interaction(now_ms)  # auto-off countdowns restart when the PDM is heard
        self._alerts_step(now_ms)
        return self._reply(seq, self._answer(kind, now_ms))

    def _reply(self, seq, block):
        if block["type"] == 0x01:
            address = PAIRING_ADDRESS
        elif self.paired_ms is None:
            address = PAIRING_ADDRESS
        else:
            address = self.address
        return build_message(address, (seq + 1) & 0x0F, [block])

    def _answer(self, kind, now_ms):
        if kind == 0x07:
            return status.version_short(self)
        if kind == 0x03:
            return status.version_long(self)
        if kind is not None and kind > 0x100:
            return status.pod_info(self, kind - 0x100, now_ms)
        if self.fault_code:
            return status.detailed(self, now_ms)
        return status.status(self, now_ms)


    # ================================================================ persistence
    def save(self):
        """Save a snapshot of the whole pod now (the bench calls it after changing a setting,
        which the journal does not record)."""
        if self.store is not None and self.replay is None:
            self.saved_ms = self.last_ms
            self.store.save(self.to_state())

    def sound(self, beep_type):
        """Beep (not while a restart replays the journal: those beeps sounded already)."""
        if self.replay is None:
            self.hal.beep(beep_type)

    def to_state(self):
        """The whole pod as a JSON-able dict of ints, strings and lists."""
        return persist.to_state(self)

    def restore(self, s):
        """Become the pod saved by to_state() (raises KeyError/ValueError on a malformed state)."""
        persist.restore(self, s)


def _status_only(data):
    """True when every block of the message is a 0E status request (the one request that changes
    nothing, answered afresh each time); any other block, or a body that does not walk cleanly
    block by block, makes it a command kept for a repeat."""
    i = 6
    end = len(data) - 2
    while i + 1 < end:
        if data[i] != _GET_STATUS:
            return False
        i += 2 + data[i + 1]
    return i == end
