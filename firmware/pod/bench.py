# pod/bench.py - the bench channel ('B'): JSON requests that drive the emulator, not the pod.
#
# Enabled with --bench. Every request gets exactly one reply, {"ok": true, ...} or
# {"ok": false, "error": "<a sentence>"}; bad JSON or an unknown op is answered, never fatal.
# The operations are documented in protocol/SPEC.md section 6.

import json

from eros.link import MAX_FRAME
from pod import config

_BEEPS_PER_REPLY = 40  # keeps a beeps reply well under the 1,100-byte frame limit


class BenchError(Exception):
    pass


def _jsonable(v):
    """pod.info() may hold bytes or tuples; JSON wants hex strings and lists."""
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return "".join("%02x" % b for b in v)
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return str(v)


def _int_field(req, name, low, high):
    v = req.get(name)
    if isinstance(v, bool) or not isinstance(v, int):
        raise BenchError("\"%s\" must be a whole number, got %s" % (name, json.dumps(v)))
    if not low <= v <= high:
        raise BenchError("\"%s\" must be from %d to %d, got %d" % (name, low, high, v))
    return v


class Bench:
    def __init__(self, app):
        self.app = app
        self.requests = 0
        self._ops = {
            "info": self.op_info,
            "advance": self.op_advance,
            "plant": self.op_plant,
            "occlude": self.op_occlude,
            "reset": self.op_reset,
            "beeps": self.op_beeps,
            "occlusion": self.op_occlusion,
        }

    def handle(self, payload):
        """One request (bytes) in, one reply (bytes) out."""
        self.requests += 1
        try:
            try:
                req = json.loads(bytes(payload).decode())
            except (ValueError, UnicodeError):
                raise BenchError("the request is not valid JSON; send an object like {\"op\": \"info\"}")
            if not isinstance(req, dict):
                raise BenchError("the request must be a JSON object like {\"op\": \"info\"}")
            op = req.get("op")
            fn = self._ops.get(op) if isinstance(op, str) else None
            if fn is None:
                raise BenchError("unknown op %s; the ops are: %s" % (json.dumps(op), ", ".join(sorted(self._ops))))
            reply = fn(req)
            reply["ok"] = True
            out = json.dumps(reply).encode()
            if len(out) >= MAX_FRAME:
                raise BenchError("the reply to \"%s\" is %d bytes, over the frame limit" % (op, len(out)))
            return out
        except BenchError as e:
            return json.dumps({"ok": False, "error": str(e)}).encode()
        except Exception as e:  # a bug must not take the pod down: report it to the bench
            self.app.log("bench op failed: %s: %s" % (type(e).__name__, e))
            return json.dumps({"ok": False, "error": "the bench op failed: %s: %s" % (type(e).__name__, e)}).encode()

    def _clock(self):
        clock = self.app.clock
        return {"clock": clock.kind, "speed": clock.speed, "now_ms": clock.now_ms(),
                "deadline_ms": self.app.sched.deadline}

    def op_info(self, req):
        app = self.app
        r = self._clock()
        r["pod"] = _jsonable(app.pod.info(r["now_ms"]))
        r["link"] = app.sched.deframer.counters()
        r["pod_errors"] = app.sched.errors
        r["firmware"] = app.firmware_info()
        r["heap"] = app.heap()
        return r

    def op_advance(self, req):
        app = self.app
        if app.clock.kind != "virtual":
            raise BenchError("advance needs the virtual clock; start the pod with --clock virtual")
        if "ms" in req:
            ms = _int_field(req, "ms", 0, config.MAX_ADVANCE_MS)
        elif "seconds" in req:
            ms = _int_field(req, "seconds", 0, config.MAX_ADVANCE_MS // 1000) * 1000
        else:
            raise BenchError("advance needs \"seconds\" or \"ms\", for example {\"op\": \"advance\", \"seconds\": 60}")
        steps = app.sched.advance_to(app.clock.now_ms() + ms)
        app.save_sim()
        if app.opts.heap_report:
            app.log_heap()
        r = self._clock()
        r["steps"] = steps
        return r

    def _plant(self):
        plant = self.app.hal.plant
        if plant is None:
            raise BenchError("this pod drives real hardware: there is no simulated plant")
        return plant

    def op_plant(self, req):
        r = self._plant().info()
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
            pulses = _int_field(req, "pulses", config.MIN_OCCLUSION_PULSES, config.MAX_OCCLUSION_PULSES)
        elif "units" in req:
            pulses = _int_field(req, "units", 3, 5) * 20
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
        plant = self._plant()
        plant.set_occluded(on)
        self.app.save_sim()
        return plant.info()

    def op_reset(self, req):
        self.app.reset_pod()
        r = self._clock()
        r["pod"] = _jsonable(self.app.pod.info(r["now_ms"]))
        return r

    def op_beeps(self, req):
        hal = self.app.hal
        first = hal.beep_count - len(hal.beeps)  # index of the oldest beep still kept
        since = _int_field(req, "since", 0, 1 << 30) if "since" in req else first
        start = max(since, first)
        kept = hal.beeps[start - first:start - first + _BEEPS_PER_REPLY]
        return {"count": hal.beep_count, "first": start, "next": start + len(kept),
                "beeps": [[ms, t] for ms, t in kept]}
