# pod/hal/rp2.py - the hardware layer on a Raspberry Pi Pico (RP2040).
#
# Pins (change the defaults here for another board):
#   GP2  step output: one high pulse = one 0.05 U stroke of the pump mechanism
#   GP3  encoder input: changes level once per completed stroke; no change = the plunger did
#        not move (occluded line or empty reservoir)
#   GP4  block line (output): high while the bench holds the plunger (bench "occlude"); wire it to
#        whatever stops the mechanism on a hardware-in-the-loop rig (the emulated Pico honours it)
#   GP15 buzzer (PWM)
# The handset link is the USB serial port (stdin/stdout with Ctrl-C disabled); the pod's
# snapshots live in /state on the internal littlefs, apart from the code in /pod and /eros, and
# its journal in raw flash below littlefs (pod/hal/rp2flash.py).

import array
import gc
import sys
import time

import micropython
from machine import PWM, Pin, Timer
from micropython import const

from pod.hal.storage import FileStorage

STEP_PIN = const(2)
SENSE_PIN = const(3)
BLOCK_PIN = const(4)
BUZZER_PIN = const(15)
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
        # ring of the newest strokes: clock ms and 1 moved | 0 not (preallocated: a list of
        # small lists per stroke fragments the heap)
        self._times = array.array("I", [0] * _STROKES_KEPT)
        self._moved = bytearray(_STROKES_KEPT)

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
        at = self.stroke_count % _STROKES_KEPT
        self._times[at] = self.clock.now_ms()
        self._moved[at] = 1 if moved else 0
        self.stroke_count += 1
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
        first = max(since, self.stroke_count - _STROKES_KEPT, 0)
        end = min(first + most, self.stroke_count)
        return first, [[self._times[k % _STROKES_KEPT], self._moved[k % _STROKES_KEPT]] for k in range(first, end)]

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
        self.storage = FileStorage(state_dir)
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
