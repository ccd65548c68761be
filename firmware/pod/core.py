"""Protocol logic of the pod: a pure state machine driven by the scheduler.

    pod = Pod(hal, lot, tid, fill_pulses, now_ms, store=None)
    reply = pod.handle(message_bytes, now_ms)   # one Eros message in, one reply out (None = dropped)
    deadline = pod.step(now_ms)                 # carries out every pulse and timer due up to now_ms

All state lives in the Pod object (to_state() / restore for the store). Insulin is counted in
whole pulses, time in integer ms of the scheduler's clock. A refused command (06 reply) changes
nothing, not even the nonce. A message repeated with the same bytes (a retry after a lost reply)
gets the first reply again and is not carried out twice. The behaviour is specified in
protocol/SPEC.md "Pod behaviour" and "Restart".
"""
import binascii

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

from eros.crc import crc16
from eros.errors import ProtocolError
from eros.message import build_message, parse_message
from eros.blocks import encode_block, decode_blocks
from eros.nonce import NonceState, resync_word
from eros.plan import plan_from_blocks
from eros.insulin import table_checksum
from pod import status
from pod.alerts import Alerts, check_configs
from pod.occlusion import OcclusionDetector
from pod.delivery import Delivery, BOLUS_NORMAL, BOLUS_PRIME, BOLUS_CANNULA, EV_BOLUS, EV_TEMP, EV_BASAL
from pod.pulselog import PulseLog, MODE_BASAL, MODE_TEMP, MODE_BOLUS, MODE_EXTENDED

_PAIRING_ADDRESS = const(0xFFFFFFFF)
_GET_STATUS = const(0x0E)                  # the one request that changes nothing
_HOUR_MS = const(3600000)
_PAIRING_TIMEOUT_MS = const(7200000)      # > 2 h from progress 2 to 3 -> 14
_SETUP_TIMEOUT_MS = const(3600000)        # > 1 h from progress 3 to 8 -> 14
_POD_LIFE_MS = const(288000000)           # 80 h: fault 0x1C
_RESERVOIR_LOW = const(1000)              # 50 U: progress 8 -> 9
_MAX_BOLUS_PULSES = const(900)            # 45 U, the firmware's limit ($384)
_PRIME_PULSES = const(52)
_CANNULA_PULSES = const(10)
_BOLUS_TENTH_US = const(200000)           # 2 s per pulse
_PRIME_TENTH_US = const(100000)           # 1 s per pulse
_SCREAMER_BEEP = const(6)                 # Beeeeeep when the pod faults
_MINUTE_MS = const(60000)
_CHECKPOINT_MS = const(600000)            # pod time is saved at least every 10 min (SPEC.md 8)
_ACK_BEEP = const(0x0B)                   # beep_options bit 7: BeepBeep when a program is accepted
_COMPLETION_BEEP = const(0x0B)            # beep_options bit 6: BeepBeep when a program completes
_REMINDER_BEEP = const(0x04)              # beep_options bits 5..0: Beep every n minutes while it runs

# error codes
E_ILLEGAL = const(0x07)
E_CHECKSUM = const(0x0A)
E_STATE = const(0x0C)
E_NONCE = const(0x14)

# faults
F_OCCLUDED = const(0x14)
F_EMPTY = const(0x18)
F_EXPIRED = const(0x1C)
F_AUTO_OFF = const(0x29)
F_PIEZO = const(0x37)
F_STATE_LOST = const(0x3D)   # emulator's choice: no saved state can be trusted after a restart

_NONCE_TYPES = (0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1F)
_PROG_TYPES = (0x03, 0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1E, 0x1F)
_EXTRA_FOR_TABLE = (0x13, 0x16, 0x17)
_INFO_TYPES = (0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x46, 0x50, 0x51)


class Refused(Exception):
    """A command the pod answers with 06 `code` and does not execute."""

    def __init__(self, code, why):
        super().__init__(why)
        self.code = code


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
        self.alerts = Alerts(hal.beep)
        self.alerts_due = None
        self.occlusion = OcclusionDetector()
        self.pulse_log = PulseLog()
        self.pending = 0          # pulses of the event being carried out (saved before they go)
        self.pending_ev = -1      # and its delivery event (EV_*)
        self.last_key = None      # [length, seq, crc32] of the last message answered
        self.last_reply = ""      # hex of its reply, sent again when the same message comes back
        self.table_corruption = 0
        self._remind_ms = now_ms  # program reminders are done up to here
        self._log_saved = 0       # pulse_log.count when the log was last saved
        self._saved_ms = now_ms   # pod time of the last saved state
        if store is not None:
            self._load(store, now_ms)
        if occlusion_pulses:  # the command line's threshold wins over the saved one
            self.occlusion.set_threshold(occlusion_pulses)

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
        changed = False
        while True:
            t, ev = self._next_event()
            if t is None or t > now_ms:
                break
            changed = True
            if ev >= 0:
                self._delivery_event(ev, t)
            elif ev == -1:
                self._alerts_step(t)
            elif ev == -2:
                self._timeout(t)
            elif ev == -3:
                self._fault(F_EXPIRED, t)
            elif ev == -4:
                self._remind(t)
            else:
                self.last_ms = t  # checkpoint: the pod time is saved
                self._save()
        self.last_ms = now_ms
        if changed:
            self._save()
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
            # Save the programs as advanced past this event BEFORE its pulses go: after a power
            # cut the restored pod never pushes them again (it may lose them: the safe side).
            self.pending = n
            self.pending_ev = ev
            self.last_ms = t
            self._save()
            while n > 0 and self.fault_code == 0:
                if self._pulse(t, mode):
                    n -= 1
            if n > 0 and ev == EV_BOLUS:
                d.undelivered += n  # a fault stopped the event: its bolus pulses were not given
            self.pending = 0
            self.pending_ev = -1
        kind = d.pop_finished()
        if kind >= 0 or (d.bolus is None and d.missed):
            # the bolus is over (done, or stopped by a fault): its blocked pulses were not given
            d.undelivered += d.missed
            d.missed = 0
        if kind == BOLUS_PRIME and self.progress == 4:
            self.progress = 5
        elif kind == BOLUS_CANNULA and self.progress == 7:
            self.progress = 9 if self.reservoir() <= _RESERVOIR_LOW else 8
        elif kind == BOLUS_NORMAL and self.beep_config[2] & 0x40:
            self.hal.beep(_COMPLETION_BEEP)
        if had_temp and d.temp is None and self.beep_config[1] & 0x40:
            self.hal.beep(_COMPLETION_BEEP)
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
            base = self._remind_ms if self._remind_ms > start else start
            t = start + ((base - start) // period + 1) * period
            if best is None or t < best:
                best = t
        return best

    def _remind(self, t):
        self._remind_ms = t
        self.hal.beep(_REMINDER_BEEP)

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
            t = self._saved_ms + _CHECKPOINT_MS  # a restart loses at most this much pod time
            if best is None or t < best:
                best = t
                ev = -5
        return best, ev

    def _pulse(self, t, mode):
        """One commanded stroke; False when the pod faulted instead (empty reservoir)."""
        if self.reservoir() <= 0:
            self._fault(F_EMPTY, t)
            return False
        if self.store is not None:
            self.store.save_delivered(self.delivered + 1)  # write-ahead: counted before it can go
        pushed = self.hal.pump.pulse()
        if pushed:
            self.delivered += 1  # counted as delivered only when the mechanism says it went
        elif mode == MODE_BOLUS or mode == MODE_EXTENDED:
            self.delivery.missed += 1  # reported as not delivered when the bolus ends
        self.pulse_log.add(pushed, mode, self.reservoir() <= _RESERVOIR_LOW)
        if self.progress == 8 and self.reservoir() <= _RESERVOIR_LOW:
            self.progress = 9
        if self.occlusion.on_pulse(pushed):
            self._fault(F_OCCLUDED, t)
        return True

    def _alerts_step(self, t):
        self.alerts_due = self.alerts.step(t, self.reservoir() if self.paired_ms is not None else None)
        slot = self.alerts.auto_off_expired()
        if slot is not None and self.fault_code == 0 and self.progress < 13:
            self._fault(F_AUTO_OFF + slot, t)

    def _timeout(self, t):
        self.hal.log("activation took too long: progress %d -> 14" % self.progress)
        self.delivery.stop_all()
        self.progress = 14

    def _fault(self, code, t):
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
        self.hal.beep(_SCREAMER_BEEP)

    # ================================================================ messages
    def handle(self, data, now_ms):
        """One message in, one reply message out; None when it is not for this pod (CRC, address)."""
        self.step(now_ms)
        now_ms = self.last_ms
        if len(data) < 10 or crc16(data[:-2]) != (data[-2] << 8 | data[-1]):
            return None
        seq = (data[4] >> 2) & 0x0F
        key = [len(data), seq, binascii.crc32(data) & 0xFFFFFFFF]
        if key == self.last_key and self.last_reply and data[6] != _GET_STATUS:
            # The handset sent this message again (it lost our reply): answer exactly as before,
            # carry out nothing (a retried 03 too, though its pairing address is no longer ours).
            # Only the last message is kept; the PDM's next one has another seq.
            self.hal.log("repeated message (seq %d): the first reply again, nothing carried out" % seq)
            return bytes.fromhex(self.last_reply)
        address = (data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]
        if self.progress == 2 and self.paired_ms is None:
            if address != _PAIRING_ADDRESS:
                return None
        elif address != self.address:
            return None
        reply = self._handle(data, seq, now_ms)
        if data[6] != _GET_STATUS:
            # Only a command is kept for a repeat: a status request is answered afresh each time,
            # and it must not push out the command a retry may still bring.
            self.last_key = key
            self.last_reply = reply.hex()
            self._save()  # the reply is kept with the state it answered, across a power loss too
        return reply

    def _handle(self, data, seq, now_ms):
        try:
            try:
                blocks = parse_message(data)["blocks"]
            except ProtocolError as e:
                raise Refused(E_ILLEGAL, str(e))
            cmds = self._group(blocks)
            for c in cmds:
                self._check(c, now_ms)
            reply_nonce = self._check_nonce(cmds, seq)
            if reply_nonce is not None:
                return self._reply(seq, reply_nonce)
            kind = None
            for c in cmds:
                k = self._execute(c, seq, now_ms)
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
            address = _PAIRING_ADDRESS
        elif self.paired_ms is None:
            address = _PAIRING_ADDRESS
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

    # ---------------------------------------------------------------- grouping and checks
    def _group(self, blocks):
        """Commands as [type, block, extra]: 1A takes its 13/16/17 block; extras elsewhere are illegal."""
        cmds = []
        i = 0
        n = len(blocks)
        while i < n:
            b = blocks[i]
            t = b["type"]
            if t == 0x1A:
                table = b.get("table", -1)
                if i + 1 >= n or not 0 <= table <= 2 or blocks[i + 1]["type"] != _EXTRA_FOR_TABLE[table]:
                    raise Refused(E_ILLEGAL, "1A table %d must be followed by its 13/16/17 block" % table)
                cmds.append([t, b, blocks[i + 1], None])
                i += 2
                continue
            if t not in (0x03, 0x07, 0x08, 0x0E, 0x11, 0x19, 0x1C, 0x1E, 0x1F):
                raise Refused(E_ILLEGAL, "block 0x%02x is not a command" % t)
            cmds.append([t, b, None, None])
            i += 1
        if not cmds:
            raise Refused(E_ILLEGAL, "the message has no command")
        for c in cmds:
            if c[0] in (0x03, 0x07) and any(d[0] != 0x0E for d in cmds if d is not c):
                raise Refused(E_ILLEGAL, "pairing commands come alone")
        return cmds

    def _check(self, c, now_ms):
        """Raise Refused when command c cannot be carried out now; nothing is changed here."""
        t, b = c[0], c[1]
        p = self.progress
        active = 3 <= p <= 14
        if t == 0x07:
            if p != 2 or self.paired_ms is not None:
                raise Refused(E_STATE, "07 only before pairing")
            a = b["address"]
            if a == 0 or a == _PAIRING_ADDRESS:
                raise Refused(E_ILLEGAL, "address 0x%08x cannot be assigned" % a)
        elif t == 0x03:
            if p != 2 or self.address == 0 or self.paired_ms is not None:
                raise Refused(E_STATE, "03 only after 07, before pairing")
            if b["address"] != self.address or b["lot"] != self.lot or b["tid"] != self.tid:
                raise Refused(E_ILLEGAL, "03 address, lot or tid do not match this pod")
            if (not 1 <= b["month"] <= 12 or not 1 <= b["day"] <= 31 or b["hour"] > 23
                    or b["minute"] > 59):
                raise Refused(E_ILLEGAL, "03 date or time out of range")
        elif t == 0x0E:
            if p < 3:
                raise Refused(E_STATE, "0E only after pairing")
            if b["request"] not in _INFO_TYPES:
                raise Refused(E_ILLEGAL, "0E type 0x%02x unknown" % b["request"])
        elif t == 0x08:
            if p != 3 or self.fault_code:
                raise Refused(E_STATE, "08 only before the prime")
        elif t == 0x11:
            if not active:
                raise Refused(E_STATE, "11 only on an active pod")
            if not 0 <= b["mask"] <= 0xFF:
                raise Refused(E_ILLEGAL, "11 mask out of range")
        elif t == 0x19:
            if not active:
                raise Refused(E_STATE, "19 only on an active pod")
            why = check_configs(b["alerts"])
            if why:
                raise Refused(E_ILLEGAL, why)
            for a in b["alerts"]:
                if a["active"] and a["beep_type"] == 0x0E and self.delivery_bits() & 3:
                    raise Refused(E_ILLEGAL, "beep type 0xE only while suspended")
        elif t == 0x1C:
            if not active:
                raise Refused(E_STATE, "1C only on an active pod")
        elif t == 0x1E:
            if not active:
                raise Refused(E_STATE, "1E only on an active pod")
            bt = b["beep_type"]
            if bt in (0, 9, 10) or bt > 15 or (bt == 0x0E and self.delivery_bits() & 3):
                raise Refused(E_ILLEGAL, "1E beep type 0x%x not allowed" % bt)
            for name in ("basal_beep", "temp_basal_beep", "bolus_beep"):
                if b[name] & 0x80:
                    raise Refused(E_ILLEGAL, "1E %s has the acknowledgement bit set" % name)
        elif t == 0x1F:
            if not active:
                raise Refused(E_STATE, "1F only on an active pod")
            if b["cancel"] == 0 or b["cancel"] & 8:
                raise Refused(E_ILLEGAL, "1F cancel bits 0x%x" % b["cancel"])
            if b["beep_type"] > 8 and b["beep_type"] != 0x0F:
                raise Refused(E_ILLEGAL, "1F beep type 0x%x out of range" % b["beep_type"])
        elif t == 0x1A:
            c[3] = self._check_schedule(b, c[2])

    def _check_schedule(self, b, extra):
        """The new program for a 1A + extra: (plan, src, kind, half_hours)."""
        table = b["table"]
        p = self.progress
        d = self.delivery
        if self.fault_code or p >= 13:
            raise Refused(E_STATE, "no insulin program on a faulted or inactive pod")
        if table == 0:
            if not (p == 5 or (p in (8, 9) and d.basal is None)):
                raise Refused(E_STATE, "a basal program needs progress 5 or a suspended pod")
        elif table == 1:
            if p not in (8, 9) or d.basal is None or d.temp is not None:
                raise Refused(E_STATE, "a temp basal needs a running basal program and no temp basal")
            if not 1 <= b["segment"] <= 24:
                raise Refused(E_ILLEGAL, "temp basal of %d half-hours" % b["segment"])
        else:
            if p == 3:
                want = _PRIME_PULSES
            elif p == 6:
                want = _CANNULA_PULSES
            elif p in (8, 9):
                want = 0
                if d.bolus is not None:
                    raise Refused(E_STATE, "a bolus is already running")
            else:
                raise Refused(E_STATE, "no bolus at progress %d" % p)
            imm = extra["immediate_tenths"]
            if want and extra["immediate_interval_us"] != _PRIME_TENTH_US:
                raise Refused(E_STATE, "no bolus before the cannula is in")
            if want:
                if (imm != want * 10 or extra["immediate_interval_us"] != _PRIME_TENTH_US
                        or extra["extended_tenths"] != 0):
                    raise Refused(E_ILLEGAL, "prime is 52 and cannula 10 pulses at 1 s, nothing extended")
            else:
                if imm and extra["immediate_interval_us"] != _BOLUS_TENTH_US:
                    raise Refused(E_ILLEGAL, "bolus pulses are 2 s apart")
                if imm + extra["extended_tenths"] == 0 or imm > _MAX_BOLUS_PULSES * 10:
                    raise Refused(E_ILLEGAL, "bolus size out of range")
        if table_checksum(b["segment"], b["seconds_x8"], b["pulses"], b["elements"]) != b["checksum"]:
            raise Refused(E_CHECKSUM, "1A checksum does not match")
        try:
            plan = plan_from_blocks(b, extra)
        except ProtocolError as e:
            raise Refused(E_ILLEGAL, str(e))
        if extra["beep_options"] > 0xFF:
            raise Refused(E_ILLEGAL, "beep options 0x%x out of range" % extra["beep_options"])
        src = (encode_block(b) + encode_block(extra)).hex()
        if table == 2:
            kind = BOLUS_PRIME if p == 3 else (BOLUS_CANNULA if p == 6 else BOLUS_NORMAL)
        else:
            kind = BOLUS_NORMAL
        return (plan, src, kind, b["segment"], extra["beep_options"])

    def _check_nonce(self, cmds, seq):
        """None when the message's nonce is right (or it carries none), else the 06 0x14 reply."""
        sent = None
        bad = False
        for c in cmds:
            if c[0] in _NONCE_TYPES:
                n = c[1]["nonce"]
                if sent is None:
                    sent = n
                elif n != sent:
                    bad = True
        if sent is None:
            return None
        if not bad and sent == self.nonce.current():
            self.nonce.advance()
            return None
        self.bad_nonces += 1
        seed = self.bad_nonces & 0xFFFF
        word = resync_word(sent, seq, self.lot, self.tid, seed)
        self.nonce = NonceState(self.lot, self.tid, seed)
        self.hal.log("bad nonce 0x%08x: resync with seed %d" % (sent, seed))
        return {"type": 0x06, "code": E_NONCE, "word": word}

    # ---------------------------------------------------------------- execution
    def _execute(self, c, seq, now_ms):
        """Carry out a checked command; the reply kind (0x07, 0x03, 0x100 + info type) or None."""
        t, b = c[0], c[1]
        if t in _PROG_TYPES:
            self.last_prog_seq = seq
        if t == 0x07:
            self.address = b["address"]
            return 0x07
        if t == 0x03:
            self.progress = 3
            self.paired_ms = now_ms
            self.setup_date = (b["month"], b["day"], b["year"], b["hour"], b["minute"])
            return 0x03
        if t == 0x0E:
            r = b["request"]
            return None if r == 0 else 0x100 + r
        if t == 0x08:
            self.fault_config = (b["tab5_16"], b["tab5_17"])
        elif t == 0x11:
            self.alerts.acknowledge(b["mask"], now_ms)
        elif t == 0x19:
            self.alerts.configure(b["alerts"], now_ms)
        elif t == 0x1E:
            self.beep_config = (b["basal_beep"], b["temp_basal_beep"], b["bolus_beep"])
            if b["beep_type"] != 0x0F:
                self.hal.beep(b["beep_type"])
        elif t == 0x1F:
            self._cancel(b, now_ms)
        elif t == 0x1C:
            self.delivery.stop_all()
            self.progress = 15
        elif t == 0x1A:
            self._program(b["table"], c[3], now_ms)
        return None

    def _cancel(self, b, now_ms):
        bits = b["cancel"]
        self.delivery.cancel(bits)
        bt = b["beep_type"]
        if bt == 0x0F:
            self._fault(F_PIEZO, now_ms)  # the real pod faults on this beep value
            return
        if bt:
            for bit in (4, 2, 1):
                if bits & bit:
                    self.hal.beep(bt)

    def _program(self, table, prepared, now_ms):
        plan, src, kind, half_hours, beeps = prepared
        d = self.delivery
        if kind == BOLUS_NORMAL:  # this program's completion beep and reminder (1E may change them)
            cfg = list(self.beep_config)
            cfg[table] = beeps & 0x7F
            self.beep_config = tuple(cfg)
            if beeps & 0x80:
                self.hal.beep(_ACK_BEEP)
        self._remind_ms = now_ms
        if table == 0:
            d.start_basal(plan, src, now_ms)
            if self.progress == 5:
                self.progress = 6
        elif table == 1:
            d.start_temp(plan, src, half_hours, now_ms)
        else:
            d.start_bolus(plan, src, kind, now_ms)
            if kind == BOLUS_PRIME:
                self.progress = 4
            elif kind == BOLUS_CANNULA:
                self.progress = 7

    # ================================================================ persistence
    def save(self):
        """Persist the whole pod now (the bench calls it after changing a setting)."""
        self._save()

    def _save(self):
        if self.store is not None:
            self._saved_ms = self.last_ms
            self.store.save(self.to_state())
            if self.pulse_log.count != self._log_saved and not self.pending:
                self.store.save_words(self.pulse_log.to_words())
                self._log_saved = self.pulse_log.count

    def to_state(self):
        """The whole pod as a JSON-able dict of ints, strings and lists."""
        return {"v": 1, "lot": self.lot, "tid": self.tid, "fill": self.fill, "address": self.address,
                "progress": self.progress, "created": self.created_ms, "paired": self.paired_ms,
                "date": list(self.setup_date), "nonce": list(self.nonce.to_words()),
                "bad_nonces": self.bad_nonces, "last_prog_seq": self.last_prog_seq,
                "delivered": self.delivered, "fault": [self.fault_code, self.fault_ms,
                                                        self.progress_at_fault, self.bolus_at_fault],
                "fault_config": list(self.fault_config), "beep_config": list(self.beep_config),
                "last_ms": self.last_ms, "delivery": self.delivery.to_state(),
                "alerts": self.alerts.to_state(), "alerts_due": self.alerts_due,
                "occlusion": self.occlusion.to_state(), "pending": self.pending, "pending_ev": self.pending_ev,
                "last": [self.last_key, self.last_reply],
                "table_corruption": self.table_corruption}

    def _load(self, store, now_ms):
        """Become the pod of the newest usable saved state (see SPEC.md "Restart")."""
        recorded = store.load_delivered()
        hal, lot, tid, fill = self.hal, self.lot, self.tid, self.fill
        for saved in store.states():
            try:
                limit = saved["delivered"] + saved.get("pending", 0)
                if recorded is not None and recorded > limit:
                    # pulses went out that this record does not know of: its programs are stale
                    raise ValueError("%d pulses recorded, the state knows %d" % (recorded, limit))
                self.restore(saved)
            except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
                self.hal.log("saved pod state unusable (%s): trying an older one" % e)
                self.__init__(hal, lot, tid, fill, now_ms)
                self.store = store
                continue
            self._restarted(recorded)
            return
        if recorded is not None or store.used():
            # This pod has delivered insulin but no saved state can be trusted: never start over
            # as a fresh pod (a full reservoir count, pairing again); stay faulted, deliver nothing.
            self.hal.log("no usable saved pod state after a restart: faulting 0x%02x" % F_STATE_LOST)
            self.delivered = recorded or 0
            self.table_corruption = 1
            self._fault(F_STATE_LOST, now_ms)

    def _restarted(self, recorded):
        """After restore(): account for the write-ahead counter; a running bolus is not resumed."""
        planned = self.delivered + self.pending  # what the saved event was about to deliver
        if recorded is not None and recorded > self.delivered:
            self.delivered = recorded
        position = self.hal.pump.position()
        if position is not None and position == self.delivered - 1:
            # The mechanism tells where the plunger stands: the stroke in flight at the power cut
            # never went. Without that reading the count stays one ahead (the safe side).
            self.hal.log("restart: the pulse in flight at the power loss was not delivered")
            self.delivered = position
        elif position is not None and position != self.delivered:
            self.hal.log("restart: the mechanism reads %d pulses, the pod recorded %d" % (position, self.delivered))
        if self.store is not None and recorded is not None and recorded != self.delivered:
            self.store.save_delivered(self.delivered)
        # pulses of a cut bolus event that never went out count as not delivered
        lost = planned - self.delivered if self.pending_ev == EV_BOLUS else 0
        self.pending = 0
        self.pending_ev = -1
        d = self.delivery
        if d.bolus is not None:
            self.hal.log("restart: the %s was not resumed, %d pulses not delivered"
                         % ("bolus" if d.bolus_kind == BOLUS_NORMAL else "activation bolus",
                            d.bolus_left() + max(lost, 0)))
            d.cancel(4)  # keeps its undelivered pulses for bolus_remaining
        if lost > 0:
            d.undelivered += lost
        if self.progress == 8 and self.reservoir() <= _RESERVOIR_LOW:
            self.progress = 9

    def restore(self, s):
        """Become the pod saved by to_state() (raises KeyError/ValueError on a malformed state)."""
        self.lot = s["lot"]
        self.tid = s["tid"]
        self.fill = s["fill"]
        self.address = s["address"]
        self.progress = s["progress"]
        self.created_ms = s["created"]
        self.paired_ms = s["paired"]
        self.setup_date = tuple(s["date"])
        self.nonce = NonceState.from_words(self.lot, self.tid, s["nonce"])
        self.bad_nonces = s["bad_nonces"]
        self.last_prog_seq = s["last_prog_seq"]
        self.delivered = s["delivered"]
        self.fault_code, self.fault_ms, self.progress_at_fault, self.bolus_at_fault = s["fault"]
        self.fault_config = tuple(s["fault_config"])
        self.beep_config = tuple(s["beep_config"])
        self.last_ms = s["last_ms"]
        self.delivery = Delivery()
        self.delivery.restore(s["delivery"], _plan_from_src, self.last_ms)
        self.alerts = Alerts.from_state(self.hal.beep, s["alerts"])
        self.alerts_due = s["alerts_due"]
        self.occlusion = OcclusionDetector.from_state(s["occlusion"])
        self.pending = s.get("pending", 0)
        self.pending_ev = s.get("pending_ev", -1)
        self.pulse_log = PulseLog()
        if self.store is not None:
            words = self.store.load_words()
            if words is not None:
                try:
                    self.pulse_log = PulseLog.from_words(words)
                except ValueError:
                    self.hal.log("pulse log record unusable: the pulse log starts empty")
        last = s.get("last") or [None, ""]
        self.last_key = last[0]
        self.last_reply = last[1]
        self.table_corruption = s.get("table_corruption", 0)
        self._remind_ms = self.last_ms
        self._log_saved = self.pulse_log.count
        self._saved_ms = self.last_ms


def _plan_from_src(src):
    """Rebuild a PulsePlan from the hex of its 1A + extra blocks (saved by Delivery.to_state)."""
    blocks = decode_blocks(bytes.fromhex(src))
    return plan_from_blocks(blocks[0], blocks[1])
