# heap_probe.py - run by the real MicroPython (benchmark 3): how much heap the pod's own data takes.
#
# usage: MICROPYPATH=build/mpy:.frozen micropython tests/bench/heap_probe.py STATE_DIR
#
# 1. imports every firmware and codec module, collects: "code" = what the loaded code holds;
# 2. builds the App exactly as pod/app.py main() does (virtual clock, bench, unix HAL, STATE_DIR):
#    "app"; 3. activates the pod through Pod.handle with messages built by the eros codec (as a PDM
#    does, nonces included) and runs 1 h of basal through the scheduler's advance_to: "active";
#    "pod_only" is what dropping the Pod object frees. Prints one JSON line of byte counts.
import gc
import json
import os
import sys

STATE = sys.argv[1]

gc.collect()
base = gc.mem_alloc()


def _modules(root, package):
    out = []
    for name in sorted(os.listdir(root + "/" + package)):
        if name.endswith(".mpy") or name.endswith(".py"):
            mod = name.rsplit(".", 1)[0]
            out.append(package + ("" if mod == "__init__" else "." + mod))
        elif "." not in name and name != "__pycache__":
            out.extend(_modules(root, package + "/" + name))
    return [m.replace("/", ".") for m in out]


root = [p for p in sys.path if p.endswith("mpy") or p.endswith("mpy/")][0]
loaded = []
for m in _modules(root, "pod") + _modules(root, "eros"):
    try:
        __import__(m)
        loaded.append(m)
    except ImportError:   # pod.hal.rp2 needs the `machine` module of a Pico
        pass
gc.collect()
code = gc.mem_alloc()

from pod.app import App, parse_args  # noqa: E402
from eros.message import build_message, parse_message  # noqa: E402
from eros.nonce import NonceState  # noqa: E402
from eros import schedule

opts = parse_args(["--clock", "virtual", "--state", STATE, "--bench"])
app = App(opts)
app.sched.step_now()
gc.collect()
app_bytes = gc.mem_alloc()

LOT, TID, ADDR = opts.lot, opts.tid, 0x1F07B1EE


class Pdm:
    def __init__(self):
        self.seq = 0
        self.nonce = NonceState(LOT, TID)
        self.address = 0xFFFFFFFF

    def send(self, blocks):
        for b in blocks:
            if isinstance(b, dict) and b["type"] in (0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1F):
                b["nonce"] = self.nonce.current()
        if any(isinstance(b, dict) and b["type"] in (0x08, 0x11, 0x19, 0x1A, 0x1C, 0x1F) for b in blocks):
            self.nonce.advance()
        msg = build_message(self.address, self.seq, blocks)
        raw = app.pod.handle(msg, app.clock.now_ms())
        app.sched.step_now()   # as the scheduler does after each message
        reply = parse_message(raw)
        if reply["seq"] != (self.seq + 1) & 15:
            raise SystemExit("reply seq %d to %d" % (reply["seq"], self.seq))
        self.seq = (self.seq + 2) & 15
        block = reply["blocks"][0]
        if block["type"] == 0x06:
            raise SystemExit("the pod refused %r: %r" % (blocks, block))
        return block


def alert(slot, trigger, active=1, units=0, duration=0, repeat=0, beep=2):
    return {"slot": slot, "active": active, "units_trigger": units, "auto_off": 0,
            "duration_minutes": duration, "trigger": trigger, "beep_repeat": repeat, "beep_type": beep}


pdm = Pdm()
pdm.send([{"type": 0x07, "address": ADDR}])
pdm.seq = 0
pdm.send([{"type": 0x03, "address": ADDR, "unknown": 0x14, "packet_timeout": 4, "month": 10, "day": 10,
           "year": 16, "hour": 11, "minute": 18, "lot": LOT, "tid": TID}])
pdm.address = ADDR
pdm.send([{"type": 0x19, "nonce": 0, "alerts": [alert(4, 200, units=1, repeat=1)]}])
pdm.send([{"type": 0x19, "nonce": 0, "alerts": [alert(7, 5, duration=55, repeat=8)]}])
pdm.send(list(schedule.bolus_blocks(52, 0, interval_ms=1000)))
app.sched.advance_to(55000)
pdm.send([{"type": 0x19, "nonce": 0, "alerts": [alert(7, 0, active=0, beep=0)]}])
pdm.send(list(schedule.basal_schedule_blocks([20] * 48, 0, 0)))
pdm.send(list(schedule.bolus_blocks(10, 0, interval_ms=1000)))
app.sched.advance_to(67000)
status = pdm.send([{"type": 0x0E, "request": 0}])
if status["progress"] != 8:
    raise SystemExit("activation ended at progress %d" % status["progress"])
pdm.send(list(schedule.temp_basal_blocks(30, 2, 0)))
app.sched.advance_to(67000 + 3600000)
status = pdm.send([{"type": 0x0E, "request": 0}])
gc.collect()
active = gc.mem_alloc()
pod = app.pod
app.pod = None
pod = None
gc.collect()
without_pod = gc.mem_alloc()

out = {"base": base, "code": code, "app": app_bytes, "active": active, "pod_only": active - without_pod,
       "modules": len(loaded), "pulses": status["pulses_delivered"], "expected_pulses": 62 + 30,   # prime, cannula, then 1 h of a 1.5 U/h temp basal
       "platform": sys.platform}
try:
    import micropython
    out["peak"] = micropython.mem_peak()
except (ImportError, AttributeError):
    pass
print(json.dumps(out))
