# pod/hal/base.py - the hardware interfaces the firmware is written against (documentation).
#
# Duck-typed on purpose: nothing here is imported at run time on the pod. Each backend
# (unix.py, rp2.py) provides objects with exactly these members.
#
# hal (handed to pod.core.Pod):
#   hal.pump.pulse() -> bool     one 0.05 U stroke; True when insulin was pushed, False when the
#                                mechanism could not move (occluded line, empty reservoir).
#   hal.pump.position()          pulses pushed since the fill as the mechanism reads it, or None
#                                when it cannot tell (used once, after a power loss).
#   hal.plant                    unix only: the simulated mechanism (hal/plant.py): .pushed,
#                                .reservoir_pulses, .occluded, .set_occluded(on). None on rp2.
#   hal.beep(beep_type)          sound beep pattern beep_type (0..15, SPEC.md block 0x1e).
#   hal.log(text)                one log line; sent on link channel 'L' (and stderr on unix).
#   hal.storage                  read(name) -> bytes or None; write(name, data), atomic;
#                                remove(name). Names are plain file names.
#
# Clock (hal/clock.py; used by the scheduler only, the pod receives now_ms as an argument):
#   clock.kind                   "real" or "virtual"
#   clock.now_ms() -> int        monotonic milliseconds, never wraps, never goes back
#   RealClock.wait_ms(deadline)  real ms to sleep until the pod clock reaches deadline
#   VirtualClock.set_ms(ms), .advance_ms(ms)
#
# Link (how bytes reach the handset; only the scheduler reads and writes it):
#   link.kind                    "tcp", "serial", "stdio" or "usb"
#   link.describe() -> str       for log lines ("tcp 127.0.0.1:7410")
#   TCP links:    link.host, link.port; the scheduler listens with asyncio.start_server and
#                 serves one connection at a time.
#   Stream links: link.open() -> (rx, tx, chunk): rx is a pollable stream whose read(chunk)
#                 never blocks once poll says it is readable; tx is a pollable writable stream.


class Hal:
    """The composition of the parts above; backends fill the attributes."""

    pump = None
    plant = None
    storage = None

    def beep(self, beep_type):
        raise NotImplementedError

    def log(self, text):
        raise NotImplementedError
