# A MicroPython script (run by test_bench_pod_life.py): where the time of an 80-hour pod life goes.
#
# micropython pulse_profile.py STATE_DIR  ->  one JSON line on stdout.
# Builds the pod as the unix firmware does (virtual clock, plant, file storage in STATE_DIR),
# activates it with the bench scenario's basal (1 U/h by day, 0.8 U/h at night, from 08:00),
# then steps it from deadline to deadline, as the bench `advance` does, from 1 h to 80 h. Timers
# wrapped around the pulse path add them up: the file writes by file, the delivery engine with
# its pulse plans, and the rest (state encoding, pulse log, plant, alerts, the step loop).
import json
import os
import sys
import time

sys.path[:0] = ["firmware", "protocol"]

from eros import schedule  # noqa: E402
from eros.message import build_message  # noqa: E402
from eros.nonce import NonceState  # noqa: E402
from pod import delivery  # noqa: E402
from pod.core import Pod  # noqa: E402
from pod.hal.clock import VirtualClock  # noqa: E402
from pod.hal.plant import Plant  # noqa: E402
from pod.hal.storage import FileStorage  # noqa: E402
from pod.hal.unix import UnixHal  # noqa: E402
from pod.store import Store  # noqa: E402

HOUR = 3600000
LOT, TID, ADDR = 42125, 170175, 0x1F07B1EE
state = sys.argv[1]
acc = {}


def add(label, us):
    acc[label] = acc.get(label, 0) + us


def timed(cls, name, label):
    f = getattr(cls, name)

    def w(*a):
        t = time.ticks_us()
        r = f(*a)
        add(label, time.ticks_diff(time.ticks_us(), t))
        return r
    setattr(cls, name, w)


def timed_write():
    f = FileStorage.write

    def w(self, name, data):
        t = time.ticks_us()
        f(self, name, data)
        add("write " + name.split(".")[0], time.ticks_diff(time.ticks_us(), t))
        add("writes", 1)
    FileStorage.write = w


clock = VirtualClock(0)
files = FileStorage(state)
plant = Plant.load(files, None, 4000)
hal = UnixHal(clock, state, plant, lambda text: None)
pod = Pod(hal, LOT, TID, 4000, 0, store=Store(hal.storage), occlusion_pulses=60)
nonces = NonceState(LOT, TID)
seq = [0]


def send(address, blocks):
    for b in blocks:
        if "nonce" in b:
            b["nonce"] = nonces.current()
    reply = pod.handle(build_message(address, seq[0], blocks), clock.now_ms())
    if any("nonce" in b for b in blocks):
        nonces.advance()
    seq[0] = (seq[0] + 2) % 16
    return reply


def step_to(target):
    n = 0
    d = pod.step(clock.now_ms())
    while d is not None and d <= target:
        clock.set_ms(d)
        d = pod.step(d)
        n += 1
    clock.set_ms(target)
    pod.step(target)
    return n


send(0xFFFFFFFF, [{"type": 0x07, "address": ADDR}])
seq[0] = 0
send(0xFFFFFFFF, [{"type": 0x03, "address": ADDR, "unknown": 20, "packet_timeout": 4, "month": 10, "day": 10,
                   "year": 16, "hour": 8, "minute": 0, "lot": LOT, "tid": TID}])
seq[0] = 2
send(ADDR, list(schedule.bolus_blocks(52, 0, interval_ms=1000)))
step_to(60000)
send(ADDR, list(schedule.basal_schedule_blocks([20 if 12 <= h < 44 else 16 for h in range(48)], 8 * HOUR, 0)))
send(ADDR, list(schedule.bolus_blocks(10, 0, interval_ms=1000)))
step_to(HOUR)
before = pod.delivered
timed_write()
timed(delivery.Delivery, "next_event", "delivery")
timed(delivery.Delivery, "take", "delivery")
t0 = time.ticks_us()
steps = step_to(80 * HOUR - 1)
total = time.ticks_diff(time.ticks_us(), t0)
writes = sum(v for k, v in acc.items() if k.startswith("write "))
out = {"total_us": total, "steps": steps, "pulses": pod.delivered - before, "writes": acc.get("writes", 0),
       "delivery_us": acc.get("delivery", 0), "writes_us": writes,
       "rest_us": total - writes - acc.get("delivery", 0),
       "write_us_by_file": {k[6:]: v for k, v in acc.items() if k.startswith("write ")}}
print(json.dumps(out))
for name in os.listdir(state):
    os.remove(state + "/" + name)
