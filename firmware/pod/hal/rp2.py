# pod/hal/rp2.py - the hardware layer on a Raspberry Pi Pico (RP2040).
#
# Pins (change the defaults here for another board):
#   GP2  step output: one high pulse = one 0.05 U stroke of the pump mechanism
#   GP3  encoder input: changes level once per completed stroke; no change = the plunger did
#        not move (occluded line or empty reservoir)
#   GP4  block line (output): high while the bench holds the plunger (bench "occlude"); wire it to
#        whatever stops the mechanism on a hardware-in-the-loop rig (the emulated Pico honours it)
#   GP15 buzzer (PWM)
# The handset link is the USB serial port (stdin/stdout with Ctrl-C disabled); the pod's files
# live in /state on the internal littlefs, apart from the code in /pod and /eros.

import gc
import sys
import time

import micropython
from machine import PWM, Pin, Timer
from micropython import const

from pod.hal.storage import PAGE, SECTOR, FileStorage

STEP_PIN = const(2)
SENSE_PIN = const(3)
BLOCK_PIN = const(4)
BUZZER_PIN = const(15)
# Flash regions (the pod's journal) live in raw flash below the filesystem, in the gap the
# MicroPython v1.22 rp2-pico build leaves between its code (~325 KB from 0) and littlefs (0xA0000):
# regions are placed downwards from REGION_END, never below REGION_FLOOR.
REGION_END = const(0xA0000)
REGION_FLOOR = const(0x60000)
_XIP_BASE = const(0x10000000)  # flash as the CPU reads it (execute-in-place window)
_BLANK_PAGE = b"\xff" * 256
STEP_US = const(500)   # step pulse width: hardware timing, far below the scheduler's resolution
BUZZER_HZ = const(4000)
# Tone length per beep type (0..15, SPEC.md block 0x1e); 0 = silent.
_BEEP_MS = (0, 150, 300, 600, 150, 300, 600, 150, 300, 600, 150, 300, 600, 800, 800, 0)
_BEEP_LOG_MAX = const(32)
_STROKES_KEPT = const(64)  # the stroke log kept in RAM for the bench (64 x 2 ints: small on a Pico)


class Mechanism:
    """hal.plant on a Pico: the mechanism as its encoder reports it since power-up, for the bench.

    Not the pod's bookkeeping (the pod counts what it commanded): `pushed` counts the strokes the
    encoder confirmed, `blocked` the strokes it did not. set_occluded(on) raises the block line,
    and a reservoir the bench emptied ("reservoir" / "dry" ops) holds it too. Kept in RAM only:
    writing it to flash per stroke would cost the flash what the pod's own store saves.
    """

    def __init__(self, clock, fill_pulses, block_pin=BLOCK_PIN):
        self.clock = clock
        self._block = Pin(block_pin, Pin.OUT, value=0)
        self.reservoir_pulses = fill_pulses  # what the bench believes is left; 0 holds the plunger
        self.pushed = 0
        self.occluded = False
        self.blocked = 0
        self.dry = 0
        self.stroke_count = 0
        self.strokes = []  # [clock ms, 1 moved | 0 not], newest last

    def stroke(self, moved):
        """Note one stroke the pump made (moved: the encoder saw it)."""
        if moved:
            self.pushed += 1
            if self.reservoir_pulses > 0:
                self.reservoir_pulses -= 1
        elif self.reservoir_pulses <= 0:
            self.dry += 1
        else:
            self.blocked += 1
        self.stroke_count += 1
        log = self.strokes
        log.append([self.clock.now_ms(), 1 if moved else 0])
        if len(log) > _STROKES_KEPT:
            log.pop(0)
        self._hold()

    def set_occluded(self, on):
        self.occluded = bool(on)
        self._hold()

    def record(self):
        """The bench changed the reservoir: hold or free the plunger to match."""
        self._hold()

    def _hold(self):
        self._block.value(1 if self.occluded or self.reservoir_pulses <= 0 else 0)

    def strokes_since(self, since, most):
        oldest = self.stroke_count - len(self.strokes)
        first = max(since, oldest)
        return first, self.strokes[first - oldest:first - oldest + most]

    def position(self):
        return None

    def info(self):
        return {"pushed": self.pushed, "reservoir_pulses": self.reservoir_pulses, "occluded": self.occluded,
                "blocked": self.blocked, "dry": self.dry}

    def to_state(self):
        return None  # nothing of the mechanism is the emulator's to save on a board


class StepPump:
    """hal.pump: drives the step pin and checks the encoder to know whether the stroke happened."""

    def __init__(self, mechanism=None, step_pin=STEP_PIN, sense_pin=SENSE_PIN):
        self._step = Pin(step_pin, Pin.OUT, value=0)
        self._sense = Pin(sense_pin, Pin.IN, Pin.PULL_DOWN)
        self._mechanism = mechanism

    def pulse(self):
        sense = self._sense
        step = self._step
        before = sense.value()
        step.value(1)
        time.sleep_us(STEP_US)
        step.value(0)
        time.sleep_us(STEP_US)  # let the encoder settle before reading it
        moved = sense.value() != before
        if self._mechanism is not None:
            self._mechanism.stroke(moved)
        return moved

    def position(self):
        # An incremental encoder cannot say where the plunger stands after a power loss.
        return None


class Rp2FlashRegion:
    """hal FlashRegion in raw flash (pod/hal/storage.py documents the interface).

    Reads are views of the memory-mapped flash (no copy, no heap for a 4 KB sector: a Pico's heap
    is fragmented); a program writes one whole, aligned page through the boot ROM with 0xFF around
    the new bytes (NOR: 0xFF leaves a byte as it is), so it costs one page program; an erase is
    one 4 KB sector.
    """

    def __init__(self, start, sectors):
        import rp2  # the Pico's flash block device; start/len select raw flash outside littlefs

        self.sectors = sectors
        self.size = sectors * SECTOR
        self._dev = rp2.Flash(start=start, len=self.size)
        self._base = _XIP_BASE + start
        self._page = bytearray(PAGE)
        self.programs = 0
        self.erases = 0
        self.bytes_programmed = 0

    def read(self, offset, n):
        if offset < 0 or offset + n > self.size:
            raise ValueError("a flash read must lie within the region")
        import uctypes

        return uctypes.bytearray_at(self._base + offset, n)

    def program(self, offset, data):
        """Program bytes that lie in one page; like NOR flash, a bit only goes from 1 to 0."""
        n = len(data)
        page = offset - offset % PAGE
        if n == 0 or offset < 0 or offset + n > page + PAGE or page + PAGE > self.size:
            raise ValueError("a flash program must lie within one 256-byte page of the region")
        buf = self._page
        buf[:] = _BLANK_PAGE
        buf[offset - page:offset - page + n] = data
        self._dev.writeblocks(page // SECTOR, buf, page % SECTOR)
        self.programs += 1
        self.bytes_programmed += n

    def erase(self, sector):
        if not 0 <= sector < self.sectors:
            raise ValueError("no sector %d in a region of %d" % (sector, self.sectors))
        self._dev.ioctl(6, sector)  # block erase
        self.erases += 1

    def close(self):
        pass


class Rp2Storage(FileStorage):
    """hal.storage on a Pico: snapshot files on littlefs (in the state folder), flash regions in
    raw flash (Rp2FlashRegion), placed in the order the pod first asks for them, which is fixed."""

    def __init__(self, directory):
        FileStorage.__init__(self, directory)
        self._next_end = REGION_END

    def region(self, name, sectors):
        r = self._regions.get(name)
        if r is None:
            start = self._next_end - sectors * SECTOR
            if start < REGION_FLOOR:
                raise OSError("no raw flash left for a %d-sector region %r" % (sectors, name))
            r = Rp2FlashRegion(start, sectors)
            self._regions[name] = r
            self._next_end = start
        return r

    def remove(self, name):
        if name in self._regions:
            raise ValueError("a flash region is erased through its journal, not removed")
        FileStorage.remove(self, name)


class Buzzer:
    """A PWM tone switched off by a one-shot timer, so that beeping never blocks."""

    def __init__(self, pin=BUZZER_PIN):
        self._pwm = PWM(Pin(pin))
        self._pwm.freq(BUZZER_HZ)
        self._pwm.duty_u16(0)
        self._timer = Timer(-1)  # a virtual (software) timer

    def beep(self, beep_type):
        ms = _BEEP_MS[beep_type & 15]
        if not ms:
            return
        self._pwm.duty_u16(32768)
        self._timer.init(mode=Timer.ONE_SHOT, period=ms, callback=self._off)

    def _off(self, _timer):
        self._pwm.duty_u16(0)


class Rp2Hal:
    """hal on the Pico. `log_sink(text)` receives every log line (sent on channel 'L')."""

    def __init__(self, clock, state_dir, log_sink, fill_pulses=4000):
        self.clock = clock
        self.plant = Mechanism(clock, fill_pulses)
        self.pump = StepPump(self.plant)
        self.buzzer = Buzzer()
        self.storage = Rp2Storage(state_dir)
        self._log_sink = log_sink
        self.beeps = []
        self.beep_count = 0

    def largest_free(self):
        """The largest block the heap can give now, in bytes (to 16): a binary search of trial
        allocations, each followed by a collection; ~13 collections, for the bench only."""
        low, high = 0, gc.mem_free()
        while high - low > 16:
            mid = (low + high) // 2
            try:
                trial = bytearray(mid)
                del trial
                low = mid
            except MemoryError:
                high = mid
            gc.collect()
        return low

    def beep(self, beep_type):
        self.buzzer.beep(beep_type)
        self.beeps.append((self.clock.now_ms(), beep_type))
        self.beep_count += 1
        if len(self.beeps) > _BEEP_LOG_MAX:
            self.beeps.pop(0)

    def log(self, text):
        self._log_sink(text)


class UsbLink:
    """The USB serial port. Ctrl-C (0x03) is ordinary data here, not a keyboard interrupt."""

    kind = "usb"

    def describe(self):
        return "usb serial"

    def open(self):
        micropython.kbd_intr(-1)
        return sys.stdin.buffer, sys.stdout.buffer, 1
