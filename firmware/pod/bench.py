# pod/bench.py - the bench channel ('B'): JSON requests that drive the emulator, not the pod.
#
# Enabled with --bench (on the handset's link) or --bench-listen (a port of its own). Every
# request gets exactly one reply, {"ok": true, ...} or {"ok": false, "error": "<a sentence>"},
# always a valid JSON object under the frame limit, echoing the request's "id". Bad JSON, a
# duplicate key or an unknown op is answered, never fatal, and changes nothing. The operations
# are documented in protocol/SPEC.md section 6; the fault and set-up ops live in benchops.py.

import json

from eros.link import MAX_FRAME
from pod import config

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

_BEEPS_PER_REPLY = const(40)  # keeps a beeps reply well under the 1,100-byte frame limit
# The frame holds the channel byte and the payload; the scheduler cuts anything longer, which
# would leave invalid JSON, so a reply is kept strictly below.
REPLY_MAX = MAX_FRAME - 2
_SHOWN_MAX = const(48)  # characters of a bad value quoted back in an error
MAX_ID = const(0x7FFFFFFF)
_COMPACT = (",", ":")  # json separators: no spaces, the frame is small


class BenchError(Exception):
    pass


def shown(v):
    """A value quoted in an error sentence, shortened so that the sentence stays readable."""
    try:
        text = json.dumps(v)
    except (TypeError, ValueError):
        text = str(type(v))
    if len(text) > _SHOWN_MAX:
        text = "%s... (%d characters)" % (text[:_SHOWN_MAX - 8], len(text))
    return text


def jsonable(v):
    """pod.info() may hold bytes or tuples; JSON wants hex strings and lists."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return "".join("%02x" % b for b in v)
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return str(v)


def int_field(req, name, low, high):
    v = req.get(name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BenchError("\"%s\" must be a whole number, got %s" % (name, shown(v)))
    if not low <= v <= high:
        raise BenchError("\"%s\" must be from %d to %d, got %d" % (name, low, high, v))
    return v


def duplicate_key(raw):
    """The first key that appears twice in one object of the JSON text `raw` (bytes), or None.

    MicroPython's json keeps the last of two equal keys and has no object_pairs_hook, so the
    request's bytes are scanned once: '"', '\\' and the structure bytes are ASCII and never occur
    inside a multi-byte UTF-8 character. `raw` must already have parsed as JSON.
    """
    stack = []  # the keys seen in each open object (None for an array)
    last = b""
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c == 0x22:  # '"': skip the string, keeping it in case it is a key
            j = i + 1
            while raw[j] != 0x22:
                j += 2 if raw[j] == 0x5C else 1
            last = raw[i:j + 1]
            i = j + 1
            continue
        if c == 0x3A:  # ':' ends a key
            key = json.loads(last)  # decoded, so that "\u006fp" and "op" are the same key
            keys = stack[-1]
            if key in keys:
                return key
            keys.append(key)
        elif c == 0x7B:  # '{'
            stack.append([])
        elif c == 0x5B:  # '['
            stack.append(None)
        elif c == 0x7D or c == 0x5D:  # '}' ']'
            stack.pop()
        i += 1
    return None


def encode_reply(reply, rid, op=""):
    """The reply as bytes below REPLY_MAX; an error sentence too long is shortened, never cut."""
    if rid is not None:
        reply["id"] = rid
    out = json.dumps(reply, separators=_COMPACT).encode()
    if len(out) < REPLY_MAX:
        return out
    if reply.get("ok") is True:
        return encode_reply({"ok": False, "error": "the reply to \"%s\" is %d bytes, over the frame limit; "
                             "ask for less (for example a later \"since\")" % (op, len(out))}, rid)
    error = str(reply.get("error", ""))
    while len(out) >= REPLY_MAX and error:
        keep = len(error) - (len(out) - REPLY_MAX) - 16
        error = error[:keep if keep > 0 else 0] + " (shortened)"
        out = json.dumps({"ok": False, "error": error, "id": rid} if rid is not None
                         else {"ok": False, "error": error}, separators=_COMPACT).encode()
        if keep <= 0:
            break
    return out


def _rate(plan):
    """Hundredths of a unit per hour of the schedule entry running now (None if unknown)."""
    if plan is None:
        return None
    try:  # a PulsePlan keeps [(tenths, interval ms, µs rest)] and the index of the running entry
        tenths, ms, us = plan._e[plan._idx]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    interval_us = ms * 1000 + us
    return 1800000000 // interval_us if tenths and interval_us else 0  # a tenth of 0.05 U per interval


def _pulses(plan):
    """Whole pulses a finite plan (a bolus) holds in all (None if unknown)."""
    if plan is None:
        return None
    try:
        return sum(e[0] for e in plan._e) // 10
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def _delivery(d):
    """What the operator's page draws: rates now, the temp's end, the bolus' size and pulses left."""
    return {"basal_cuph": _rate(d.basal), "temp_cuph": _rate(d.temp),
            "temp_end_ms": d.temp_end if d.temp is not None else None, "bolus_left": d.bolus_left(),
            "bolus_total": _pulses(d.bolus)}


class Bench:
    def __init__(self, app):
        self.app = app
        self.requests = 0
        self.ops = {
            "info": self.op_info,
            "advance": self.op_advance,
            "plant": self.op_plant,
            "occlude": self.op_occlude,
            "reset": self.op_reset,
            "beeps": self.op_beeps,
            "occlusion": self.op_occlusion,
            "strokes": self.op_strokes,
        }
        self._more = False  # benchops.py is loaded on first use: a Pico's heap is small

    def _op(self, op):
        fn = self.ops.get(op)
        if fn is None and not self._more:
            from pod import benchops
            benchops.register(self)
            self._more = True
            fn = self.ops.get(op)
        return fn

    def handle(self, payload):
        """One request (bytes) in, one reply (bytes) out."""
        self.requests += 1
        rid = None
        try:
            raw = bytes(payload)
            try:
                req = json.loads(raw.decode())
            except (ValueError, UnicodeError):
                raise BenchError("the request is not valid JSON; send an object like {\"op\": \"info\"}")
            if not isinstance(req, dict):
                raise BenchError("the request must be a JSON object like {\"op\": \"info\"}")
            dup = duplicate_key(raw)
            if "id" in req and dup != "id":
                v = req["id"]
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_ID:
                    raise BenchError("\"id\" must be a whole number from 0 to %d, got %s" % (MAX_ID, shown(v)))
                rid = v
            if dup is not None:
                raise BenchError("the key %s appears twice in the request; send each member once" % shown(dup))
            op = req.get("op")
            fn = self._op(op) if isinstance(op, str) else None
            if fn is None:
                raise BenchError("unknown op %s; the ops are: %s" % (shown(op), ", ".join(sorted(self.ops))))
            reply = fn(req)
            reply["ok"] = True
            return encode_reply(reply, rid, str(op))
        except BenchError as e:
            return encode_reply({"ok": False, "error": str(e)}, rid)
        except Exception as e:  # a bug must not take the pod down: report it to the bench
            self.app.log("bench op failed: %s: %s" % (type(e).__name__, e))
            return encode_reply({"ok": False, "error": "the bench op failed: %s: %s" % (type(e).__name__, e)}, rid)

    def clock_reply(self):
        clock = self.app.clock
        return {"clock": clock.kind, "speed": clock.speed, "now_ms": clock.now_ms(),
                "deadline_ms": self.app.sched.deadline}

    def op_info(self, req):
        app = self.app
        r = self.clock_reply()
        r["pod"] = jsonable(app.pod.info(r["now_ms"]))
        r["link"] = app.sched.deframer.counters()
        r["pod_errors"] = app.sched.errors
        r["firmware"] = app.firmware_info()
        r["heap"] = app.heap()
        r["delivery"] = _delivery(app.pod.delivery)
        r["armed"] = app.link_faults.describe() if app.link_faults is not None else []
        r["power_cut_ms"] = app.sched.cut_ms
        r["connections"] = app.sched.connections()
        return r

    def op_advance(self, req):
        app = self.app
        if app.clock.kind != "virtual":
            raise BenchError("advance needs the virtual clock; start the pod with --clock virtual "
                             "(or send {\"op\": \"fresh\", \"clock\": \"virtual\"})")
        if "ms" in req:
            ms = int_field(req, "ms", 0, config.MAX_ADVANCE_MS)
        elif "seconds" in req:
            ms = int_field(req, "seconds", 0, config.MAX_ADVANCE_MS // 1000) * 1000
        else:
            raise BenchError("advance needs \"seconds\" or \"ms\", for example {\"op\": \"advance\", \"seconds\": 60}")
        steps = app.sched.advance_to(app.clock.now_ms() + ms)
        app.save_sim()
        if app.opts.heap_report:
            app.log_heap()
        r = self.clock_reply()
        r["steps"] = steps
        return r

    def plant(self):
        plant = self.app.hal.plant
        if plant is None:
            raise BenchError("this pod drives real hardware: there is no simulated plant")
        return plant

    def op_plant(self, req):
        r = self.plant().info()
        r["now_ms"] = self.app.clock.now_ms()
        r["recorded"] = self._recorded()
        r["delivered"] = self.app.pod.delivered
        return r

    def _recorded(self):
        """The firmware's write-ahead delivered counter as persisted (None before the first pulse)."""
        from pod.store import Store
        return Store(self.app.hal.storage).load_delivered()

    def op_occlusion(self, req):
        """Read or set the missed insulin that faults the pod 0x14: "pulses" 60..100 or "units" 3..5."""
        if "pulses" in req:
            pulses = int_field(req, "pulses", config.MIN_OCCLUSION_PULSES, config.MAX_OCCLUSION_PULSES)
        elif "units" in req:
            pulses = int_field(req, "units", 3, 5) * 20
        else:
            pulses = None
        pod = self.app.pod
        if pulses is not None:
            pod.occlusion.set_threshold(pulses)
            self.app.occlusion_pulses = pulses  # a bench reset keeps it
            pod.save()
        det = pod.occlusion
        return {"threshold_pulses": det.threshold, "missed": det.missed, "occluded": det.occluded}

    def op_occlude(self, req):
        on = req.get("on")
        if not isinstance(on, bool):
            raise BenchError("occlude needs \"on\": true or false")
        plant = self.plant()
        plant.set_occluded(on)
        self.app.save_sim()
        return plant.info()

    def op_reset(self, req):
        self.app.reset_pod()
        r = self.clock_reply()
        r["pod"] = jsonable(self.app.pod.info(r["now_ms"]))
        return r

    def op_beeps(self, req):
        hal = self.app.hal
        first = hal.beep_count - len(hal.beeps)  # index of the oldest beep still kept
        since = int_field(req, "since", 0, 1 << 30) if "since" in req else first
        start = max(since, first)
        kept = hal.beeps[start - first:start - first + _BEEPS_PER_REPLY]
        return {"count": hal.beep_count, "first": start, "next": start + len(kept),
                "beeps": [[ms, t] for ms, t in kept]}

    def op_strokes(self, req):
        """The plant's stroke log from stroke number "since": [clock ms, pushed 1|0] each."""
        plant = self.plant()
        since = int_field(req, "since", 0, 1 << 30) if "since" in req else 0
        first, kept = plant.strokes_since(since, _BEEPS_PER_REPLY)
        return {"count": plant.stroke_count, "first": first, "next": first + len(kept), "strokes": kept}
