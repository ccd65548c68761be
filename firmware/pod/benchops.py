# pod/benchops.py - the bench's fault and set-up operations (SPEC.md section 6): a fresh pod,
# faults on the next messages, a pod fault now, reservoir, age, a dry mechanism, a power cut at a
# random moment, the real clock's speed. Each one checks every member before it changes anything.

import gc

from pod import config
from pod.bench import BenchError, int_field, jsonable, shown
from pod import linkfaults

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

_MINUTE_MS = const(60000)
_MAX_AGE_MINUTES = const(80 * 60)
_MAX_COUNT = const(1000)
_MAX_DELAY_MS = const(600000)


def register(bench):
    app = bench.app

    def op_fresh(req):
        lot = int_field(req, "lot", 0, config.MAX_LOT) if "lot" in req else app.opts.lot
        tid = int_field(req, "tid", 0, config.MAX_TID) if "tid" in req else app.opts.tid
        fill = (int_field(req, "fill_pulses", config.MIN_FILL_PULSES, config.MAX_FILL_PULSES)
                if "fill_pulses" in req else app.opts.fill_pulses)
        occl = (int_field(req, "occlusion_pulses", config.MIN_OCCLUSION_PULSES, config.MAX_OCCLUSION_PULSES)
                if "occlusion_pulses" in req else 0)
        clock = req.get("clock", app.clock.kind)
        if clock not in ("real", "virtual"):
            raise BenchError("\"clock\" must be \"real\" or \"virtual\", got %s" % shown(clock))
        if "speed" in req:
            if clock != "real":
                raise BenchError("\"speed\" applies to the real clock only; drop it or add \"clock\": \"real\"")
            speed = int_field(req, "speed", 1, config.MAX_SPEED)
        else:
            speed = app.opts.speed if clock == "real" else 1
        fresh(lot, tid, fill, occl, clock, speed)
        return reset_reply()

    def fresh(lot, tid, fill_pulses, occlusion_pulses, clock, speed):
        """Erase everything saved and become a new, unpaired pod; the clock starts at 0."""
        o = app.opts
        app.pod = None
        gc.collect()
        app.erase_saved()
        o.lot, o.tid, o.fill_pulses, o.clock, o.speed = lot, tid, fill_pulses, clock, speed
        o.occlusion_pulses = occlusion_pulses
        app.occlusion_pulses = occlusion_pulses
        app.clock = app.make_clock(0)
        app.hal = app.make_hal(None)
        app.link_faults = None
        app.sched.cut_ms = None
        app.pod = app.make_pod()
        app.log("fresh pod: state erased, lot %d tid %d, %d pulses, %s clock" % (lot, tid, fill_pulses, clock))
        app.sched.clock_changed()
        app.sched.step_now()
        app.save_sim()

    def reset_reply():
        r = bench.clock_reply()
        r["pod"] = jsonable(app.pod.info(r["now_ms"]))
        return r

    def op_inject(req):
        if app.link_faults is None:
            app.link_faults = linkfaults.LinkFaults()
        faults = app.link_faults
        kind = req.get("fault")
        if kind == "none":
            faults.clear()
            return {"armed": faults.describe()}
        if kind not in linkfaults.KINDS:
            raise BenchError("\"fault\" must be one of %s or \"none\", got %s"
                             % (", ".join(linkfaults.KINDS), shown(kind)))
        count = int_field(req, "count", 1, _MAX_COUNT) if "count" in req else 1
        block = int_field(req, "block", 0, 255) if "block" in req else -1
        arg = None
        if kind == linkfaults.DELAY:
            if "ms" in req:
                arg = int_field(req, "ms", 1, _MAX_DELAY_MS)
            elif "seconds" in req:
                arg = int_field(req, "seconds", 1, _MAX_DELAY_MS // 1000) * 1000
            else:
                raise BenchError("a delay needs \"ms\" or \"seconds\" (real time), for example "
                                 "{\"op\": \"inject\", \"fault\": \"delay\", \"seconds\": 3}")
        elif kind == linkfaults.CORRUPT:
            arg = req.get("how", linkfaults.HOW_CRC)
            if arg not in (linkfaults.HOW_CRC, linkfaults.HOW_TRUNCATE):
                raise BenchError("\"how\" must be \"crc\" or \"truncate\", got %s" % shown(arg))
        try:
            faults.arm(kind, count, block, arg)
        except ValueError as e:
            raise BenchError(str(e))
        return {"armed": faults.describe()}

    def op_fault(req):
        code = int_field(req, "code", 1, 255)
        pod = app.pod
        if pod.fault_code:
            raise BenchError("the pod is faulted already (0x%02x); send {\"op\": \"fresh\"} for a new pod"
                             % pod.fault_code)
        if pod.progress >= 15:
            raise BenchError("the pod is deactivated; send {\"op\": \"fresh\"} for a new pod")
        now = app.clock.now_ms()
        pod.step(now)
        pod.fault(code, now)  # the pod's own fault path: stops delivery, progress 13, beeps
        pod.save()
        app.sched.step_now()
        return reset_reply()

    def op_reservoir(req):
        pulses = int_field(req, "pulses", 0, config.MAX_FILL_PULSES)
        pod = app.pod
        pod.step(app.clock.now_ms())
        pod.fill = pod.delivered + pulses  # the pod's own count: reservoir = fill - delivered
        pod.save()
        plant = app.hal.plant
        if plant is not None:
            plant.reservoir_pulses = pulses
            plant.record()
        app.sched.step_now()
        r = reset_reply()
        if plant is not None:
            r["plant"] = plant.info()
        return r

    def op_age(req):
        minutes = int_field(req, "minutes", 0, _MAX_AGE_MINUTES)
        pod = app.pod
        if pod.paired_ms is None or pod.progress >= 15:
            raise BenchError("the pod has no age: it is not activated (or deactivated); activate it first")
        now = app.clock.now_ms()
        pod.step(now)
        pod.paired_ms = now - minutes * _MINUTE_MS
        pod.save()
        app.sched.step_now()  # the 80-hour end of life may be due now
        return reset_reply()

    def op_dry(req):
        plant = bench.plant()
        plant.reservoir_pulses = 0
        plant.record()
        app.save_sim()
        return plant.info()

    def op_power_cut(req):
        sched = app.sched
        if req.get("cancel") is True:
            sched.cut_ms = None
            return {"power_cut_ms": None}
        if "ms" in req:
            within = int_field(req, "ms", 0, config.MAX_ADVANCE_MS)
        elif "seconds" in req:
            within = int_field(req, "seconds", 0, config.MAX_ADVANCE_MS // 1000) * 1000
        else:
            raise BenchError("power_cut needs \"ms\" or \"seconds\": the cut comes at a random moment of "
                             "the pod clock within that time, for example {\"op\": \"power_cut\", \"seconds\": 60}")
        import random
        cut = app.clock.now_ms() + (random.randint(0, within) if within else 0)
        sched.arm_power_cut(cut)
        return {"power_cut_ms": cut, "now_ms": app.clock.now_ms()}

    def op_speed(req):
        clock = app.clock
        if clock.kind != "real":
            raise BenchError("speed applies to the real clock; this pod runs on the virtual clock "
                             "(move it with advance, or send {\"op\": \"fresh\", \"clock\": \"real\"})")
        speed = int_field(req, "speed", 1, config.MAX_SPEED)
        clock.now_ms()  # time so far counts at the old speed
        clock.speed = speed
        app.opts.speed = speed
        app.sched.step_now()
        return bench.clock_reply()

    def op_storage(_req):
        storage = app.hal.storage
        r = storage.counters()
        r["regions"] = storage.region_kinds()
        return r

    bench.ops.update({"fresh": op_fresh, "inject": op_inject, "fault": op_fault, "reservoir": op_reservoir,
                      "age": op_age, "dry": op_dry, "power_cut": op_power_cut, "speed": op_speed,
                      "storage": op_storage})
