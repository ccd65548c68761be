"""Safety modules checked under the real MicroPython (also runs under CPython).

Run: MICROPYPATH=firmware:protocol micropython tests/mp/safety_check.py
Prints one line per failed check, the measured cost of a journaled stroke, and finally
"OK <n> checks" (exit 0) or "FAILED <n> of <m> checks" (exit 1).
"""
import json
import os
import time

from pod.alerts import Alerts
from pod.occlusion import OcclusionDetector
from pod.store import STATE_NAMES, Store
from mpcheck import check, finish

MIN = 60000
HOUR = 60 * MIN


def cfg(hex6):
    b = bytes.fromhex(hex6)
    return {"slot": b[0] >> 4, "active": (b[0] >> 3) & 1, "units_trigger": (b[0] >> 2) & 1,
            "auto_off": (b[0] >> 1) & 1, "duration_minutes": ((b[0] & 1) << 8) | b[1],
            "trigger": (b[2] << 8) | b[3], "beep_repeat": b[4], "beep_type": b[5]}


def make(slot, repeat, trigger, duration=0, units=0):
    return {"slot": slot, "active": 1, "units_trigger": units, "auto_off": 0, "duration_minutes": duration,
            "trigger": trigger, "beep_repeat": repeat, "beep_type": 2}


class Run:
    """An Alerts engine driven at exactly the deadlines it returns."""

    def __init__(self, start=0):
        self.now = start
        self.beeps = []
        self.alerts = Alerts(self.beep)

    def beep(self, beep_type):
        self.beeps.append(self.now)

    def until(self, end, reservoir=None):
        d = self.alerts.step(self.now, reservoir)
        while d is not None and d <= end:
            self.now = d
            d = self.alerts.step(d, reservoir)
        self.now = end
        return d

    def minutes(self, since):
        return [(t - since) // MIN for t in self.beeps if (t - since) % MIN == 0]


def check_alerts():
    expected = {
        0: [0], 1: [h * 60 + m for h in range(4) for m in (0, 1, 2)], 2: list(range(15)),
        3: [q * 15 + m for q in range(16) for m in (0, 1, 2)], 4: list(range(2, 60, 3)),
        5: [0, 60, 120, 180], 6: list(range(0, 240, 15)), 7: [14, 29, 44, 59], 8: list(range(0, 240, 5)),
    }
    for repeat in range(9):
        r = Run()
        r.alerts.configure([make(5, repeat, 10)], 0)
        r.until(10 * MIN + 240 * MIN - 1)
        check(r.minutes(10 * MIN) == expected[repeat] and len(r.beeps) == len(expected[repeat]),
              "beep repeat %d minutes %r" % (repeat, r.minutes(10 * MIN)))

    r = Run()
    r.alerts.configure([cfg("4c0000c80102")], 0)
    r.alerts.step(MIN, 401)
    check(r.alerts.active_mask() == 0, "low reservoir fired above 20 U")
    r.now = 2 * MIN
    r.alerts.step(r.now, 400)
    check(r.alerts.active_mask() == 0x10 and r.beeps == [2 * MIN], "low reservoir did not fire at 20 U")

    start = 5000
    r = Run(start)
    r.alerts.configure([cfg("380010a40302"), cfg("79a410df0502"), cfg("280012830602")], start)
    check(r.alerts.step(start, 4000) == start + 4260 * MIN, "first pod-life deadline is not 71 h")
    r.until(start + 80 * HOUR, 4000)
    slot3 = [m for m in (4260 + q * 15 + i for q in range(40) for i in (0, 1, 2)) if m <= 4800]
    slot7 = [4319 + 60 * h for h in range(7)]
    slot2 = [4739 + 15 * q for q in range(5)]
    check(r.minutes(start) == sorted(slot3 + slot7 + slot2), "pod-life beeps %r" % r.minutes(start))
    check(r.alerts.trigger_minutes(start) == [0, 0, 4739, 4260, 0, 0, 0, 4319], "trigger minutes")
    check(r.alerts.active_mask() == 0x8C, "pod-life mask")
    state = json.loads(json.dumps(r.alerts.to_state()))
    again = Alerts.from_state(r.beep, state)
    check(again.to_state() == r.alerts.to_state(), "alert state round trip")

    r.alerts.acknowledge(0x88, r.now)
    check(r.alerts.active_mask() == 0x04, "acknowledge slots 3 and 7")
    n = len(r.beeps)
    r.until(r.now + HOUR, 4000)
    check(len(r.beeps) == n + 4, "only slot 2 keeps beeping after the acknowledgement")
    r.alerts.configure([make(3, 0, 10)], r.now)
    check(r.alerts.active_mask() == 0x04 and r.alerts.trigger_minutes(start)[3] == 0, "re-arm clears slot 3")
    r.until(r.now + 10 * MIN, 4000)
    check(r.alerts.active_mask() == 0x0C, "re-armed slot 3 fires again")
    try:
        r.alerts.configure([make(9, 0, 1)], r.now)
        check(False, "slot 9 accepted")
    except ValueError:
        check(r.alerts.active_mask() == 0x0C, "a refused config changed the slots")


def check_occlusion():
    for threshold in (60, 80, 100):
        det = OcclusionDetector(threshold)
        fired = [det.on_pulse(False) for _ in range(threshold)]
        check(fired == [False] * (threshold - 1) + [True], "threshold %d" % threshold)
        check(det.on_pulse(True), "occlusion is latched")
    det = OcclusionDetector()
    for _ in range(59):
        det.on_pulse(False)
    check(not det.on_pulse(True) and det.missed == 0, "a good pulse restarts the count")
    t, det = 0, OcclusionDetector()
    while not det.on_pulse(False):
        t += 180000  # 1 U/h: one pulse every 180 s
    check(t + 180000 == 3 * HOUR, "1 U/h alarm after 3 h, got %d ms" % (t + 180000))
    for bad in (59, 101):
        try:
            OcclusionDetector(bad)
            check(False, "threshold %d accepted" % bad)
        except ValueError:
            check(True, "")


class PowerCut(Exception):
    pass


class MemFlash:
    """A flash region in memory (4 KB sectors, 256-byte pages) whose next program can be torn."""

    def __init__(self, sectors):
        self.sectors = sectors
        self.data = bytearray(b"\xff" * (sectors * 4096))
        self.tear = None

    def read(self, offset, n):
        return bytes(self.data[offset:offset + n])

    def program(self, offset, data):
        keep = len(data)
        if self.tear is not None:
            keep, self.tear = self.tear, None
        for i in range(keep):
            self.data[offset + i] &= data[i]
        if keep < len(data):
            raise PowerCut()

    def erase(self, sector):
        for i in range(sector * 4096, (sector + 1) * 4096):
            self.data[i] = 0xFF


class MemStorage:
    """hal.storage in memory with torn writes (first k bytes, then power cut) and bit flips."""

    def __init__(self):
        self.files = {}
        self.tear = None
        self.flash = None

    def region(self, name, sectors):
        if self.flash is None:
            self.flash = MemFlash(sectors)
        return self.flash

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        if self.tear is not None:
            k, self.tear = self.tear, None
            self.files[name] = bytes(data[:k])
            raise PowerCut()
        self.files[name] = bytes(data)

    def remove(self, name):
        if name in self.files:
            del self.files[name]


def check_store():
    s1, s2, s3 = {"delivered": 1, "alerts": [None, [1, 2]]}, {"delivered": 2, "x": "y"}, {"delivered": 3}
    scratch = MemStorage()
    probe = Store(scratch)
    probe.save(s3)
    full = len(scratch.files[STATE_NAMES[0]])
    for k in range(full + 1):
        storage = MemStorage()
        store = Store(storage)
        store.save(s1)
        store.save(s2)
        storage.tear = k
        try:
            store.save(s3)
        except PowerCut:
            pass
        got = Store(storage).load()
        check(got == (s3 if k == full else s2), "torn at %d of %d loaded %r" % (k, full, got))
    storage = MemStorage()
    store = Store(storage)
    store.save(s1)
    store.save(s2)
    good = storage.files[STATE_NAMES[1]]
    for bit in range(len(good) * 8):
        bad = bytearray(good)
        bad[bit // 8] ^= 1 << (bit % 8)
        storage.files[STATE_NAMES[1]] = bytes(bad)
        check(Store(storage).load() == s1, "bit %d flip not detected" % bit)
    for garbage in (b"", b"EP", bytes(40), b"\xff" * 33, good[:-1], good + b"x"):
        storage.files[STATE_NAMES[0]] = garbage
        storage.files[STATE_NAMES[1]] = garbage
        check(Store(storage).load() is None, "garbage %r loaded" % garbage[:8])
    for k in range(22):
        storage = MemStorage()
        store = Store(storage)
        store.stroke(1000, 41, 40)
        storage.flash.tear = k
        try:
            store.stroke(2000, 42, 41)
        except PowerCut:
            pass
        check(Store(storage).load_delivered() == 41, "stroke record torn at %d" % k)
        Store(storage).stroke(2000, 42, 41)
        check(Store(storage).load_delivered() == 42, "stroke after a torn record at %d" % k)


def _us():
    return time.ticks_us() if hasattr(time, "ticks_us") else int(time.perf_counter() * 1000000)


def cost_ns(store, n):
    """Mean nanoseconds per journaled stroke (ticks_us wraps after minutes: short runs only)."""
    t0 = _us()
    for total in range(n):
        store.stroke(total * 1000, total + 1, total)
    t1 = _us()
    return (t1 - t0) * 1000 // n


def check_files_and_cost():
    n = 500
    store = Store(MemStorage())
    print("stroke record cost, memory flash: %d ns per stroke" % cost_ns(store, 4 * n))
    try:
        from pod.hal.storage import FileStorage
    except ImportError:
        print("pod.hal.storage is absent: file checks skipped")
        return
    directory = "/tmp/eros-safety-%d" % (time.ticks_ms() if hasattr(time, "ticks_ms") else int(time.time()))
    storage = FileStorage(directory)
    try:
        store = Store(storage)
        print("stroke record cost, FileStorage (%s): %d ns per stroke" % (directory, cost_ns(store, n)))
        check(Store(FileStorage(directory)).load_delivered() == n, "file journal write-ahead count")
        store.save({"a": 1})
        store.save({"a": 2})
        path = directory + "/" + STATE_NAMES[1]
        with open(path, "rb") as f:
            data = f.read()
        with open(path, "wb") as f:
            f.write(data[:-2])
        check(Store(FileStorage(directory)).load() == {"a": 1}, "torn file falls back")
    finally:
        for name in STATE_NAMES + ("journal",):
            storage.remove(name)
        os.rmdir(directory)


check_alerts()
check_occlusion()
check_store()
check_files_and_cost()
finish()
