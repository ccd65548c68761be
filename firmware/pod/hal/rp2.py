# pod/hal/rp2.py - the hardware layer on a Raspberry Pi Pico (RP2040).
#
# Pins (change the defaults here for another board):
#   GP2  step output: one high pulse = one 0.05 U stroke of the pump mechanism
#   GP3  encoder input: changes level once per completed stroke; no change = the plunger did
#        not move (occluded line or empty reservoir)
#   GP15 buzzer (PWM)
# The handset link is the USB serial port (stdin/stdout with Ctrl-C disabled); the pod's files
# live in /pod on the internal littlefs.

import sys
import time

import micropython
from machine import PWM, Pin, Timer

from pod.hal.storage import FileStorage

STEP_PIN = 2
SENSE_PIN = 3
BUZZER_PIN = 15
STEP_US = 500          # step pulse width: hardware timing, far below the scheduler's resolution
BUZZER_HZ = 4000
# Tone length per beep type (0..15, SPEC.md block 0x1e); 0 = silent.
_BEEP_MS = (0, 150, 300, 600, 150, 300, 600, 150, 300, 600, 150, 300, 600, 800, 800, 0)
_BEEP_LOG_MAX = 32


class StepPump:
    """hal.pump: drives the step pin and checks the encoder to know whether the stroke happened."""

    def __init__(self, step_pin=STEP_PIN, sense_pin=SENSE_PIN):
        self._step = Pin(step_pin, Pin.OUT, value=0)
        self._sense = Pin(sense_pin, Pin.IN, Pin.PULL_DOWN)

    def pulse(self):
        before = self._sense.value()
        self._step.value(1)
        time.sleep_us(STEP_US)
        self._step.value(0)
        time.sleep_us(STEP_US)  # let the encoder settle before reading it
        return self._sense.value() != before

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

    plant = None  # no simulated mechanism on real hardware

    def __init__(self, clock, state_dir, log_sink):
        self.clock = clock
        self.pump = StepPump()
        self.buzzer = Buzzer()
        self.storage = FileStorage(state_dir)
        self._log_sink = log_sink
        self.beeps = []
        self.beep_count = 0

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
