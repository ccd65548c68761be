# pod/app.py - composition root: parse the command line, build clock, hal, pod, bench and
# scheduler, and run. Everything lives in one App object (no module state), so a process can
# hold several pods.

import gc
import json
import sys

from pod import VERSION, config

USAGE = """usage: micropython firmware/main.py [options]

Emulated OmniPod Eros pod. For development and testing only.

link (pick one; default --listen %s:%d):
  --listen HOST:PORT   serve one handset at a time over TCP
  --serial PATH        a tty or pty device, used in raw mode
  --stdio              frames on stdin/stdout (log lines on stderr)
time:
  --clock real|virtual real time (default) or virtual time moved by the bench "advance" op
  --speed N            run the real clock N times faster (whole number, default 1)
pod:
  --lot N              lot number (default %d)
  --tid N              TID, serial number (default %d)
  --fill UNITS         insulin in the reservoir, in units, at most 2 decimals in 0.05 U steps
                       (default %s)
  --state DIR          where the pod keeps its flash files (default %s)
  --occlusion-units U  missed insulin that faults the pod 0x14 (occlusion), 3 to 5 units in
                       0.05 U steps (default 3, or what the saved pod state holds)
emulator:
  --bench              answer the bench channel 'B' on the handset's link (SPEC.md section 6)
  --bench-listen HOST:PORT  serve the bench on a TCP port of its own (operators: podctl), so
                       that an operator and a handset are connected at the same time
  --fresh              erase the saved pod state first: start as a new, unpaired pod
  --heap-report        log heap use after every message and advance
  --help               this text
""" % (config.DEFAULT_HOST, config.DEFAULT_PORT, config.DEFAULT_LOT, config.DEFAULT_TID,
       config.DEFAULT_FILL_UNITS, config.DEFAULT_STATE_DIR)

_SIM_FILE = "sim.json"  # emulator-only state (clock, plant) kept next to the pod's files
_FLASH_OPTIONS = "/pod-options.txt"  # on a Pico: extra options, e.g. "--clock virtual"


class UsageError(Exception):
    pass


class Options:
    def __init__(self):
        self.link = "tcp"
        self.host = config.DEFAULT_HOST
        self.port = config.DEFAULT_PORT
        self.serial = ""
        self.clock = "real"
        self.speed = 1
        self.lot = config.DEFAULT_LOT
        self.tid = config.DEFAULT_TID
        self.fill_pulses = parse_units(config.DEFAULT_FILL_UNITS)
        self.state = config.DEFAULT_STATE_DIR
        self.bench = False
        self.bench_host = ""      # --bench-listen: a TCP port for operators ("" = none)
        self.bench_port = 0
        self.fresh = False
        self.heap_report = False
        self.occlusion_pulses = 0  # 0: the saved pod's threshold, else the 3 U default
        self.help = False


def parse_whole(text, what, low, high):
    if not text or not all("0" <= c <= "9" for c in text):
        raise UsageError("%s must be a whole number from %d to %d, got %r" % (what, low, high, text))
    v = int(text)
    if not low <= v <= high:
        raise UsageError("%s must be from %d to %d, got %d" % (what, low, high, v))
    return v


def parse_units(text, what="--fill", low=config.MIN_FILL_PULSES):
    """'200', '85.5', '0.05' -> pulses (0.05 U each), with integer arithmetic only."""
    whole, _, frac = text.partition(".")
    if not whole or not all("0" <= c <= "9" for c in whole + frac) or len(frac) > 2 or text.endswith("."):
        raise UsageError("%s must be a number of units like 200 or 85.5, got %r" % (what, text))
    hundredths = int(whole) * 100 + (int((frac + "00")[:2]) if frac else 0)
    if hundredths % 5:
        raise UsageError("%s must be a multiple of 0.05 U (one pulse), got %s" % (what, text))
    pulses = hundredths // 5
    if low == 0:
        return pulses
    if not config.MIN_FILL_PULSES <= pulses <= config.MAX_FILL_PULSES:
        raise UsageError("--fill must be from %d to %d units, got %s" % (
            config.MIN_FILL_PULSES // config.PULSES_PER_UNIT, config.MAX_FILL_PULSES // config.PULSES_PER_UNIT, text))
    return pulses


def parse_occlusion_units(text):
    """'3', '4.5' -> pulses 60..100 (3..5 U), integer arithmetic only."""
    try:
        pulses = parse_units(text, "--occlusion-units", 0)
    except UsageError:
        raise UsageError("--occlusion-units must be a number of units from 3 to 5 like 3 or 4.5, got %r" % text)
    if not config.MIN_OCCLUSION_PULSES <= pulses <= config.MAX_OCCLUSION_PULSES:
        raise UsageError("--occlusion-units must be from 3 to 5 units, got %s" % text)
    return pulses


def parse_args(argv):
    o = Options()
    links = []
    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        i += 1
        if "=" in arg and arg.startswith("--"):
            arg, value = arg.split("=", 1)
            has_value = True
        else:
            value, has_value = "", False

        def need():
            nonlocal i
            if has_value:
                return value
            if i >= n:
                raise UsageError("%s needs a value" % arg)
            i += 1
            return argv[i - 1]

        if arg in ("--help", "-h"):
            o.help = True
        elif arg == "--listen":
            spec = need()
            host, sep, port = spec.rpartition(":")
            if not sep or not host:
                raise UsageError("--listen needs HOST:PORT, for example 127.0.0.1:7410, got %r" % spec)
            o.host = host
            o.port = parse_whole(port, "the --listen port", 1, 65535)
            links.append("tcp")
        elif arg == "--serial":
            o.serial = need()
            links.append("serial")
        elif arg == "--stdio":
            links.append("stdio")
        elif arg == "--clock":
            o.clock = need()
            if o.clock not in ("real", "virtual"):
                raise UsageError("--clock must be real or virtual, got %r" % o.clock)
        elif arg == "--speed":
            o.speed = parse_whole(need(), "--speed", 1, config.MAX_SPEED)
        elif arg == "--lot":
            o.lot = parse_whole(need(), "--lot", 0, config.MAX_LOT)
        elif arg == "--tid":
            o.tid = parse_whole(need(), "--tid", 0, config.MAX_TID)
        elif arg == "--fill":
            o.fill_pulses = parse_units(need())
        elif arg == "--state":
            o.state = need()
            if not o.state:
                raise UsageError("--state needs a directory")
        elif arg == "--occlusion-units":
            o.occlusion_pulses = parse_occlusion_units(need())
        elif arg == "--bench":
            o.bench = True
        elif arg == "--bench-listen":
            spec = need()
            host, sep, port = spec.rpartition(":")
            if not sep or not host:
                raise UsageError("--bench-listen needs HOST:PORT, for example 127.0.0.1:7411, got %r" % spec)
            o.bench_host = host
            o.bench_port = parse_whole(port, "the --bench-listen port", 1, 65535)
        elif arg == "--fresh":
            o.fresh = True
        elif arg == "--heap-report":
            o.heap_report = True
        else:
            raise UsageError("unknown option %r" % arg)
        if has_value and arg in ("--help", "-h", "--stdio", "--bench", "--heap-report", "--fresh"):
            raise UsageError("%s takes no value" % arg)
    if len(links) > 1:
        raise UsageError("choose one link: --listen, --serial or --stdio")
    if links:
        o.link = links[0]
    if o.bench_port and o.link == "tcp" and o.bench_port == o.port and o.bench_host == o.host:
        raise UsageError("--bench-listen needs a port other than the handset's --listen port")
    if o.speed != 1 and o.clock != "real":
        raise UsageError("--speed applies to the real clock only; drop it or use --clock real")
    return o


class App:
    """One emulated pod with its clock, hardware layer, bench and scheduler."""

    def __init__(self, opts, link=None):
        from pod.hal.storage import FileStorage
        from pod.sched import Scheduler

        self.opts = opts
        self._echo = sys.platform != "rp2"  # on a Pico stderr is the USB link itself
        try:
            sim_files = FileStorage(opts.state)
        except OSError as e:
            raise RuntimeError("cannot use the state directory %s (%s): choose another with --state DIR" % (opts.state, e))
        self._sim_files = sim_files
        if opts.fresh:
            self.erase_saved()
        sim = self._load_sim(sim_files)
        self.clock = self.make_clock(sim.get("clock_ms", 0))
        self.hal = self.make_hal(sim.get("plant"))
        self.link_faults = None  # faults the bench armed for the next messages (pod/linkfaults.py)
        self.heap_peak = 0  # the most heap in use after a collection, over every heap reading
        if sys.platform == "rp2":
            from pod.hal.rp2 import UsbLink
            link = link or UsbLink()
        else:
            from pod.hal.unix import SerialLink, StdioLink, TcpLink
            if link is None:
                if opts.link == "serial":
                    link = SerialLink(opts.serial)
                elif opts.link == "stdio":
                    link = StdioLink()
                else:
                    link = TcpLink(opts.host, opts.port)
        self.sched = Scheduler(self, link)
        self.bench = None
        if opts.bench or opts.bench_port:
            from pod.bench import Bench
            self.bench = Bench(self)
        self.pod = None
        self.boots = 0  # Pod objects built: 1 after start-up, +1 per bench reset
        self.occlusion_pulses = opts.occlusion_pulses
        self.pod = self.make_pod()
        # The pod saves its time with every event; sim.json only now and then. Pod time never
        # goes back: after a SIGKILL the clock resumes at the later of the two (SPEC.md 8).
        self.clock.resume_at(self.pod.last_ms)
        self.sim_saved_ms = self.clock.now_ms()

    def make_clock(self, start_ms):
        """The clock the options ask for, starting at start_ms (start-up, bench "fresh")."""
        from pod.hal.clock import RealClock, VirtualClock
        if self.opts.clock == "virtual":
            return VirtualClock(start_ms)
        return RealClock(self.opts.speed, start_ms)

    def make_hal(self, plant_state):
        """The hardware layer on this platform; on unix the plant as saved (or a full one)."""
        if sys.platform == "rp2":
            from pod.hal.rp2 import Rp2Hal
            return Rp2Hal(self.clock, self.opts.state, self.log, self.opts.fill_pulses)
        from pod.hal.plant import Plant
        from pod.hal.unix import UnixHal
        plant = Plant.load(self._sim_files, plant_state, self.opts.fill_pulses)
        return UnixHal(self.clock, self.opts.state, plant, self.log)

    def erase_saved(self):
        """Remove the pod's saved state and the emulator's files (clock, plant): a new pod."""
        from pod.hal.plant import PLANT_FILE, STROKES_FILE, STROKES_OLD
        from pod.hal.storage import FileStorage
        from pod.store import Store
        files = self._sim_files
        # a storage object of its own: one kept from an earlier erase holds a stale view of the
        # journal's flash region (on a Pico, the sizes of its sector files)
        Store(FileStorage(self.opts.state)).erase()
        for name in (_SIM_FILE, PLANT_FILE, STROKES_FILE, STROKES_OLD):
            files.remove(name)

    def _load_sim(self, files):
        raw = files.read(_SIM_FILE)
        if raw is None:
            return {}
        try:
            sim = json.loads(raw)
            return sim if isinstance(sim, dict) else {}
        except ValueError:
            return {}

    def save_sim(self):
        """Keep the emulator's clock and plant across restarts of the process."""
        now = self.clock.now_ms()
        data = {"clock_ms": now}
        if self.hal.plant is not None:
            data["plant"] = self.hal.plant.to_state()
        self._sim_files.write(_SIM_FILE, json.dumps(data).encode())
        self.sim_saved_ms = now

    def make_pod(self):
        from pod.core import Pod
        self.boots += 1
        from pod.store import Store
        return Pod(self.hal, self.opts.lot, self.opts.tid, self.opts.fill_pulses,
                   self.clock.now_ms(), store=Store(self.hal.storage), occlusion_pulses=self.occlusion_pulses)

    def reset_pod(self):
        """A simulated power cycle: the Pod object and its RAM go; the flash files stay."""
        self.pod = None
        gc.collect()
        self.log("power cycle: pod restarting from storage")
        self.pod = self.make_pod()
        self.clock.resume_at(self.pod.last_ms)
        self.sched.step_now()
        self.save_sim()

    def log(self, text):
        if self._echo:
            sys.stderr.write("pod: %s\n" % text)
        from eros.link import CH_LOG
        self.sched.post(CH_LOG, text.encode())

    def heap(self):
        """Heap in bytes after a collection: `used`, `free`, `total`, and `peak`: the most in use
        after a collection at any reading so far (bench info, --heap-report). micropython.mem_peak()
        is not that: it adds up every allocation ever made, since the collector frees without
        telling it (hence the ~2.5 GB it reported)."""
        gc.collect()
        used = gc.mem_alloc()
        free = gc.mem_free()
        if used > self.heap_peak:
            self.heap_peak = used
        r = {"used": used, "free": free, "total": used + free, "peak": self.heap_peak}
        # rp2 with --heap-report: the biggest block it can give (a search of ~13 collections)
        largest = getattr(self.hal, "largest_free", None) if self.opts.heap_report else None
        if largest is not None:
            r["largest_free"] = largest()
        return r

    def log_heap(self):
        h = self.heap()
        self.log("heap used=%d free=%d peak=%d" % (h["used"], h["free"], h["peak"]))

    def firmware_info(self):
        import pod.core
        return {"version": VERSION, "platform": sys.platform, "boots": self.boots, "link": self.sched.link.describe(),
                "core_file": getattr(pod.core, "__file__", "frozen")}


def _flash_options():
    # A Pico has no command line: options may come from a file on its flash, e.g. "--clock
    # virtual" so that the end-to-end suite runs on the board as it does on the unix port.
    try:
        with open(_FLASH_OPTIONS) as f:
            return f.read().split()
    except OSError:
        return []


def main(argv):
    if sys.platform == "rp2":  # USB link, real clock unless the options file says otherwise, bench on
        argv = ["--state", "/state", "--bench"] + _flash_options()
    try:
        opts = parse_args(argv)
    except UsageError as e:
        sys.stderr.write("pod: %s. Run with --help to see the options.\n" % e)
        sys.exit(2)
    if opts.help:
        sys.stdout.write(USAGE)
        return
    import asyncio
    try:
        app = App(opts)
        if opts.heap_report:
            app.log_heap()
        asyncio.run(app.sched.run())
    except RuntimeError as e:  # start-up problems the user can fix (address in use ...)
        sys.stderr.write("pod: %s\n" % e)
        sys.exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        asyncio.new_event_loop()
