"""Commands of a message: grouping the blocks, checking each against the pod's state, executing.

    cmds = group(blocks)              # [type, block, extra block, prepared program] per command
    check_all(pod, cmds)              # raises Refused(code, why); changes nothing
    reply = check_nonce(pod, cmds, seq)   # None, or the 06 0x14 resync reply
    kind = execute(pod, cmd, seq, now_ms) # the reply kind

The rules are those of protocol/SPEC.md 7.3 "Which command is valid when"; each block is checked
against the state the blocks before it leave (7.2), so a message is carried out whole or not at all.
"""
try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

from eros.errors import ProtocolError
from eros.blocks import encode_block
from eros.nonce import NonceState, resync_word
from eros.plan import plan_from_blocks
from eros.insulin import table_checksum
from pod.alerts import check_configs
from pod.codes import (E_ILLEGAL, E_CHECKSUM, E_STATE, E_NONCE, F_PIEZO, PAIRING_ADDRESS, PRIME_PULSES,
                       CANNULA_PULSES)
from pod.delivery import BOLUS_NORMAL, BOLUS_PRIME, BOLUS_CANNULA

_MAX_BOLUS_PULSES = const(900)            # 45 U, the firmware's limit ($384)
_BOLUS_TENTH_US = const(200000)           # 2 s per pulse
_PRIME_TENTH_US = const(100000)           # 1 s per pulse
_ACK_BEEP = const(0x0B)                   # beep_options bit 7: BeepBeep when a program is accepted

_NONCE_TYPES = (0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1F)
_PROG_TYPES = (0x03, 0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1E, 0x1F)
_EXTRA_FOR_TABLE = (0x13, 0x16, 0x17)
_INFO_TYPES = (0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x46, 0x50, 0x51)


class Refused(Exception):
    """A command the pod answers with 06 `code` and does not execute."""

    def __init__(self, code, why):
        super().__init__(why)
        self.code = code


def group(blocks):
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


class Projection:
    """What the pod will be once the commands checked so far are carried out: each block of a
    message is checked against the state its predecessors leave (SPEC.md 7.2), while the pod
    itself stays untouched until every block has passed."""

    def __init__(self, pod):
        d = pod.delivery
        self.progress = pod.progress
        self.fault = pod.fault_code
        self.basal = d.basal is not None
        self.temp = d.temp is not None
        self.bolus = d.bolus is not None

    def delivering(self):
        """True when a basal or temp basal would be running (delivery bits 1 or 2)."""
        return not self.fault and self.progress < 13 and (self.basal or self.temp)

    def apply(self, c):
        """Advance past checked command c (only what later checks look at)."""
        t, b = c[0], c[1]
        if t == 0x1C:
            self.progress = 15
            self.basal = self.temp = self.bolus = False
        elif t == 0x1F:
            bits = b["cancel"]
            if bits & 4:
                self.bolus = False
            if bits & 2:
                self.temp = False
            if bits & 1:
                self.basal = self.temp = False
            if b["beep_type"] == 0x0F:  # the pod faults on it
                self.fault = F_PIEZO
                self.progress = 13
                self.basal = self.temp = self.bolus = False
        elif t == 0x1A:
            kind = c[3][2]
            table = b["table"]
            if table == 0:
                self.basal = True
                if self.progress == 5:
                    self.progress = 6
            elif table == 1:
                self.temp = True
            else:
                self.bolus = True
                if kind == BOLUS_PRIME:
                    self.progress = 4
                elif kind == BOLUS_CANNULA:
                    self.progress = 7


def check_all(pod, cmds):
    """Check every command in order, each against the state the ones before it leave; raise
    Refused (the first conflicting block's code) before anything is carried out."""
    view = Projection(pod)
    for c in cmds:
        check(pod, view, c)
        view.apply(c)


def check(pod, view, c):
    """Raise Refused when command c cannot be carried out in the projected state `view`;
    nothing is changed here but c's prepared program (c[3])."""
    t, b = c[0], c[1]
    p = view.progress
    active = 3 <= p <= 14
    if t == 0x07:
        if p != 2 or pod.paired_ms is not None:
            raise Refused(E_STATE, "07 only before pairing")
        a = b["address"]
        if a == 0 or a == PAIRING_ADDRESS:
            raise Refused(E_ILLEGAL, "address 0x%08x cannot be assigned" % a)
    elif t == 0x03:
        if p != 2 or pod.address == 0 or pod.paired_ms is not None:
            raise Refused(E_STATE, "03 only after 07, before pairing")
        if b["address"] != pod.address or b["lot"] != pod.lot or b["tid"] != pod.tid:
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
        if p != 3 or view.fault:
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
            if a["active"] and a["beep_type"] == 0x0E and view.delivering():
                raise Refused(E_ILLEGAL, "beep type 0xE only while suspended")
    elif t == 0x1C:
        if not active:
            raise Refused(E_STATE, "1C only on an active pod")
    elif t == 0x1E:
        if not active:
            raise Refused(E_STATE, "1E only on an active pod")
        bt = b["beep_type"]
        if bt in (0, 9, 10) or bt > 15 or (bt == 0x0E and view.delivering()):
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
        c[3] = check_schedule(pod, view, b, c[2])


def check_schedule(pod, view, b, extra):
    """The new program for a 1A + extra: (plan, src, kind, half_hours, beep options)."""
    table = b["table"]
    p = view.progress
    if view.fault or p >= 13:
        raise Refused(E_STATE, "no insulin program on a faulted or inactive pod")
    if table == 0:
        if not (p == 5 or (p in (8, 9) and not view.basal)):
            raise Refused(E_STATE, "a basal program needs progress 5 or a suspended pod")
    elif table == 1:
        if p not in (8, 9) or not view.basal or view.temp:
            raise Refused(E_STATE, "a temp basal needs a running basal program and no temp basal")
        if not 1 <= b["segment"] <= 24:
            raise Refused(E_ILLEGAL, "temp basal of %d half-hours" % b["segment"])
    else:
        if p == 3:
            want = PRIME_PULSES
        elif p == 6:
            want = CANNULA_PULSES
        elif p in (8, 9):
            want = 0
            if view.bolus:
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


def check_nonce(pod, cmds, seq):
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
    if not bad and sent == pod.nonce.current():
        pod.nonce.advance()
        return None
    pod.bad_nonces += 1
    seed = pod.bad_nonces & 0xFFFF
    word = resync_word(sent, seq, pod.lot, pod.tid, seed)
    pod.nonce = NonceState(pod.lot, pod.tid, seed)
    pod.hal.log("bad nonce 0x%08x: resync with seed %d" % (sent, seed))
    return {"type": 0x06, "code": E_NONCE, "word": word}

# ---------------------------------------------------------------- execution

def execute(pod, c, seq, now_ms):
    """Carry out a checked command; the reply kind (0x07, 0x03, 0x100 + info type) or None."""
    t, b = c[0], c[1]
    if t in _PROG_TYPES:
        pod.last_prog_seq = seq
    if t == 0x07:
        pod.address = b["address"]
        return 0x07
    if t == 0x03:
        pod.progress = 3
        pod.paired_ms = now_ms
        pod.setup_date = (b["month"], b["day"], b["year"], b["hour"], b["minute"])
        return 0x03
    if t == 0x0E:
        r = b["request"]
        return None if r == 0 else 0x100 + r
    if t == 0x08:
        pod.fault_config = (b["tab5_16"], b["tab5_17"])
    elif t == 0x11:
        pod.alerts.acknowledge(b["mask"], now_ms)
    elif t == 0x19:
        pod.alerts.configure(b["alerts"], now_ms)
    elif t == 0x1E:
        pod.beep_config = (b["basal_beep"], b["temp_basal_beep"], b["bolus_beep"])
        if b["beep_type"] != 0x0F:
            pod.sound(b["beep_type"])
    elif t == 0x1F:
        cancel(pod, b, now_ms)
    elif t == 0x1C:
        pod.delivery.stop_all()
        pod.progress = 15
    elif t == 0x1A:
        program(pod, b["table"], c[3], now_ms)
    return None


def cancel(pod, b, now_ms):
    bits = b["cancel"]
    pod.delivery.cancel(bits)
    bt = b["beep_type"]
    if bt == 0x0F:
        pod.fault(F_PIEZO, now_ms)  # the real pod faults on this beep value
        return
    if bt:
        for bit in (4, 2, 1):
            if bits & bit:
                pod.sound(bt)


def program(pod, table, prepared, now_ms):
    plan, src, kind, half_hours, beeps = prepared
    d = pod.delivery
    if kind == BOLUS_NORMAL:  # this program's completion beep and reminder (1E may change them)
        cfg = list(pod.beep_config)
        cfg[table] = beeps & 0x7F
        pod.beep_config = tuple(cfg)
        if beeps & 0x80:
            pod.sound(_ACK_BEEP)
    pod.remind_ms = now_ms
    if table == 0:
        d.start_basal(plan, src, now_ms)
        if pod.progress == 5:
            pod.progress = 6
    elif table == 1:
        d.start_temp(plan, src, half_hours, now_ms)
    else:
        d.start_bolus(plan, src, kind, now_ms)
        if kind == BOLUS_PRIME:
            pod.progress = 4
        elif kind == BOLUS_CANNULA:
            pod.progress = 7
