# pod/hal/unix.py - the hardware layer of the emulated pod on a computer (MicroPython unix port).
#
# The pump is the simulated mechanism (plant.py), storage is a folder, beeps become log lines
# plus a log the bench can read, and the handset reaches the pod over TCP, a tty/pty (raw mode
# through termios) or stdin/stdout.

import sys

from pod.hal.storage import FileStorage

_BEEP_LOG_MAX = 256  # beeps kept for the bench; older ones are counted, not kept


class UnixHal:
    """hal for the unix port. `log_sink(text)` receives every log line (the app routes it)."""

    def __init__(self, clock, state_dir, plant, log_sink):
        self.clock = clock
        self.storage = FileStorage(state_dir)
        self.plant = plant
        self.pump = plant
        plant.clock = clock  # the stroke log times each stroke on the emulator clock
        self._log_sink = log_sink
        self.beeps = []         # [(now_ms, beep_type)], newest last
        self.beep_count = 0     # every beep since start; index of beeps[0] = beep_count - len(beeps)

    def beep(self, beep_type):
        now = self.clock.now_ms()
        self.beeps.append((now, beep_type))
        self.beep_count += 1
        if len(self.beeps) > _BEEP_LOG_MAX:
            self.beeps.pop(0)
        self.log("beep type %d" % beep_type)

    def log(self, text):
        self._log_sink(text)


class TcpLink:
    """Listen on host:port; the scheduler accepts one handset connection at a time."""

    kind = "tcp"

    def __init__(self, host, port):
        self.host = host
        self.port = port

    def describe(self):
        return "tcp %s:%d" % (self.host, self.port)


class SerialLink:
    """A tty or pty device in raw mode. VMIN=0/VTIME=0 makes read(n) return what is there."""

    kind = "serial"
    _VTIME = 5  # indices into the termios c_cc list (Linux)
    _VMIN = 6

    def __init__(self, path):
        self.path = path
        self._f = None

    def describe(self):
        return "serial %s" % self.path

    def open(self):
        import termios  # pyright: ignore[reportMissingImports] (unix port only)
        try:
            f = open(self.path, "r+b")
        except OSError as e:
            raise RuntimeError("cannot open the serial device %s (%s): check the --serial path" % (self.path, e))
        try:
            fd = f.fileno()
            termios.setraw(fd)
            attrs = termios.tcgetattr(fd)
            attrs[6][self._VMIN] = 0
            attrs[6][self._VTIME] = 0
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except OSError as e:
            f.close()
            raise RuntimeError("%s is not a terminal device (%s): --serial needs a tty or pty" % (self.path, e))
        self._f = f
        return f, f, 512


class StdioLink:
    """stdin/stdout (logs go to stderr). Reads one byte per readiness: stdin has no short reads."""

    kind = "stdio"

    def describe(self):
        return "stdio"

    def open(self):
        return sys.stdin.buffer, sys.stdout.buffer, 1
