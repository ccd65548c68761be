# pod/sched.py - the only place in the firmware that waits (asyncio).
#
# It reads the link, cuts the bytes into frames (eros.link.Deframer), gives channel 'P' messages
# to the pod and channel 'B' requests to the bench, writes the replies back, and calls
# pod.step(now_ms) at the deadline the pod returned. With the real clock a ticker task sleeps
# until that deadline; with the virtual clock time moves only through advance_to() (bench).
# A new TCP handset replaces the old one (a PDM just starts talking); operators may have a bench
# port of their own (--bench-listen). Faults the bench armed (pod/linkfaults.py) and a power cut
# at a chosen moment are carried out here, on the real message path.

import asyncio
import gc
import sys

from eros.link import CH_BENCH, CH_LOG, CH_MESSAGE, MAX_FRAME, Deframer, frame
from pod import config


class Scheduler:
    def __init__(self, app, link):
        self.app = app
        self.link = link
        self.deframer = Deframer()
        self.deadline = None      # next pod.step() time (pod clock ms), None when idle
        self.errors = 0           # exceptions raised by the pod (each one is logged)
        self.spins = 0            # deadlines the pod returned that were not in the future
        self.connected = False
        self.cut_ms = None        # a power cut armed by the bench (pod clock ms)
        self.replaced = 0         # handset connections closed because a new one came
        self.bench_clients = 0    # open connections on the bench port
        self._session_no = 0      # numbers handset sessions: only the newest one owns the link
        self._ticking = False
        self._writer = None
        self._outbox = []
        self._tx_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()

    # ---- time

    def step_now(self):
        """Run everything due at the current clock time and note the next deadline."""
        now = self.app.clock.now_ms()
        self.deadline = self._call_step(now)
        self._wake.set()

    def _call_step(self, now):
        try:
            d = self.app.pod.step(now)
        except Exception as e:
            self._pod_error("step", e)
            return None
        if d is not None and d <= now:
            # The pod asked to run again at a time it has already been given: do it in 1 ms
            # rather than spin here forever.
            self.spins += 1
            d = now + 1
        return d

    def advance_to(self, target_ms):
        """Virtual clock: step to every deadline in order up to target_ms, then to target_ms."""
        clock = self.app.clock
        steps = 0
        while True:
            d = self.deadline
            c = self.cut_ms
            if c is not None and c <= target_ms and (d is None or c <= d):
                if c > clock.now_ms():
                    clock.set_ms(c)
                self.power_cut()  # rebuilds the pod and notes its deadline
                clock = self.app.clock
                continue
            if d is None or d > target_ms:
                break
            clock.set_ms(d)
            self.deadline = self._call_step(d)
            steps += 1
        clock.set_ms(target_ms)
        self.deadline = self._call_step(target_ms)
        return steps + 1

    def _collect_if_idle(self, clock):
        """Collect garbage now, after a step, when the next one is far off and the free heap
        runs low: the collector then never runs inside a step and delays a pulse (a collection
        of a Pico's heap takes tens of milliseconds)."""
        d = self.deadline  # first: mem_free() walks the heap's allocation table
        if (d is None or clock.wait_ms(d) > config.GC_IDLE_CLEAR_MS) and gc.mem_free() < config.GC_IDLE_FREE_BYTES:
            gc.collect()

    def arm_power_cut(self, at_ms):
        self.cut_ms = at_ms
        self._wake.set()

    def power_cut(self):
        """The armed power cut happens now: the pod restarts from its saved state (bench reset)."""
        self.cut_ms = None
        self.app.log("bench: power cut at %d ms" % self.app.clock.now_ms())
        self.app.reset_pod()

    def clock_changed(self):
        """The app has a new clock (bench fresh): a real clock needs the ticker running."""
        if self.app.clock.kind == "real" and not self._ticking:
            asyncio.create_task(self._ticker())
        self._wake.set()

    # ---- frames

    def post(self, channel, payload):
        """Queue one frame for the handset; with no handset connected it is dropped."""
        if not self.connected:
            return
        if len(payload) >= MAX_FRAME:
            payload = payload[:MAX_FRAME - 1]
        out = self._outbox
        if len(out) >= config.OUTBOX_MAX:
            for i in range(len(out)):  # make room by dropping the oldest log line
                if out[i][0] == CH_LOG:
                    out.pop(i)
                    break
            else:
                out.pop(0)
        out.append((channel, payload))

    def receive(self, data):
        """Feed received bytes; handles every complete frame."""
        for channel, payload in self.deframer.feed(data):
            if channel == CH_MESSAGE:
                self._on_message(payload)
            elif channel == CH_BENCH and self.app.opts.bench and self.app.bench is not None:
                self.post(CH_BENCH, self.app.bench.handle(payload))
            # 'L' from the handset and 'B' with the bench disabled are ignored

    def _on_message(self, payload):
        app = self.app
        now = app.clock.now_ms()
        faults = app.link_faults  # None until the bench arms one (pod/linkfaults.py)
        fault = faults.take(payload) if faults is not None and faults.armed else None
        if fault is not None and fault[0] == "drop":
            app.log("bench fault: a message (%d bytes) dropped: not carried out, no reply" % len(payload))
            return
        try:
            reply = app.pod.handle(bytes(payload), now)
        except Exception as e:
            self._pod_error("handle", e)
            reply = None
        if reply and fault is not None:
            reply = self._apply_fault(fault, reply)
        if reply:
            self.post(CH_MESSAGE, reply)
        self.step_now()  # a command may have started a delivery: learn the new deadline
        if app.opts.heap_report:
            app.log_heap()

    def _apply_fault(self, fault, reply):
        """The reply as the armed fault leaves it (None: nothing is sent now)."""
        from pod import linkfaults
        kind, arg = fault
        if kind == linkfaults.LOSE:
            self.app.log("bench fault: message carried out, its reply lost")
            return None
        if kind == linkfaults.DELAY:
            self.app.log("bench fault: reply held back for %d ms" % arg)
            asyncio.create_task(self._send_later(reply, arg))
            return None
        self.app.log("bench fault: reply corrupted (%s)" % arg)
        return linkfaults.corrupt(reply, arg)

    async def _send_later(self, reply, ms):
        await asyncio.sleep_ms(ms)
        self.post(CH_MESSAGE, reply)
        await self._flush_quietly()

    def _pod_error(self, where, e):
        self.errors += 1
        sys.print_exception(e)  # stderr: the test harness fails a test that shows a traceback
        self.app.log("pod.%s raised %s: %s" % (where, type(e).__name__, e))

    async def flush(self):
        async with self._tx_lock:
            w = self._writer
            # One write for all pending frames: a log frame and a reply written apart meet
            # Nagle's algorithm and the peer's delayed ACK on TCP (~40 ms a reply).
            frames = b"".join([frame(channel, payload) for channel, payload in self._outbox])
            self._outbox = []
            if w is not None and frames:
                w.write(frames)
                await w.drain()

    # ---- tasks

    async def _ticker(self):
        self._ticking = True
        try:
            await self._tick_loop()
        finally:
            self._ticking = False

    async def _tick_loop(self):
        while True:
            clock = self.app.clock  # a bench "fresh" may bring a new clock
            if clock.kind != "real":
                return
            # sim.json (the clock) is saved every SIM_SAVE_MS of pod time, at most once a real
            # second, so a SIGKILL of an idle pod loses little time (SPEC.md section 8)
            d = self.deadline
            # a file write can take an erase (45 ms on a Pico): never just before a pulse
            if (clock.now_ms() - self.app.sim_saved_ms >= max(config.SIM_SAVE_MS, 1000 * clock.speed)
                    and (d is None or clock.wait_ms(d) > config.SIM_SAVE_CLEAR_MS)):
                try:
                    self.app.save_sim()
                except OSError as e:
                    self.app.log("cannot save sim.json: %s" % e)
            c = self.cut_ms
            if c is not None and clock.wait_ms(c) == 0:
                self.power_cut()
                await self._flush_quietly()
                continue
            if c is not None and (d is None or c < d):
                d = c
            wait = config.MAX_SLEEP_MS if d is None else min(clock.wait_ms(d), config.MAX_SLEEP_MS)
            if wait > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for_ms(self._wake.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                continue
            self.step_now()
            await self._flush_quietly()
            self._collect_if_idle(clock)

    async def _flush_quietly(self):
        try:
            await self.flush()
        except OSError:  # the handset went away; the reader notices and cleans up
            pass

    async def _session(self, reader, writer, chunk, hangup_ends, raw=None):
        """Serve one handset connection until it closes (or forever on a tty). `raw`: the stream
        under a reader that can only read a byte at a time (stdin blocks for a whole count)."""
        poll = None
        if raw is not None:
            import select
            poll = select.poll()
            poll.register(raw, select.POLLIN)
        self._session_no += 1
        mine = self._session_no
        self.deframer.reset()
        self._outbox = []
        self._writer = writer
        self.connected = True
        self.app.log("handset connected over %s" % self.link.describe())
        try:
            while True:
                try:
                    data = await reader.read(chunk)
                except OSError:
                    data = b""
                if poll is not None and data:
                    data = _waiting(poll, raw, data)
                if not data:
                    if hangup_ends:
                        break
                    await asyncio.sleep_ms(50)  # a tty with nobody at the other end
                    continue
                self.receive(data)
                await self.flush()
        except OSError:
            pass
        finally:
            if self._session_no == mine:  # else a newer connection owns the link already
                self.connected = False
                self._writer = None
                self._outbox = []
                self.app.log("handset disconnected")
                self.app.save_sim()

    async def _on_tcp_client(self, reader, writer):
        old = self._writer
        if self.connected and old is not None:
            # One handset at a time, and the newest wins: a PDM simply starts talking over the
            # radio, so a silent or stale connection must never lock the pod.
            self.replaced += 1
            self.app.log("a new handset connection replaces the old one, which is closed")
            self.connected = False
            self._writer = None
            try:
                old.close()
                await old.wait_closed()  # wakes the old session's read with an error: it ends
            except OSError:
                pass
        try:
            await self._session(reader, writer, config.LINK_CHUNK, True)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    async def run(self):
        self.step_now()
        self.clock_changed()
        link = self.link
        if link.kind == "tcp":
            try:
                await asyncio.start_server(self._on_tcp_client, link.host, link.port, backlog=1)
            except OSError as e:
                raise RuntimeError(
                    "cannot listen on %s:%d (%s): is another pod running there? Choose another "
                    "address with --listen HOST:PORT" % (link.host, link.port, e))
            await self._start_bench_port()
            self.app.log("listening on %s" % link.describe())
            await self._stop.wait()
        else:
            await self._start_bench_port()
            rx, tx, chunk = link.open()
            self.app.log("link open: %s" % link.describe())
            await self._session(asyncio.StreamReader(rx), asyncio.StreamWriter(tx, {}), chunk,
                                link.kind == "stdio", rx if chunk == 1 else None)

    def stop(self):
        self._stop.set()

    async def _start_bench_port(self):
        if self.app.opts.bench_port:  # unix only: the module is not loaded on a Pico
            from pod.benchport import start_bench_port
            await start_bench_port(self)

    def connections(self):
        """Who is connected, for the bench info."""
        return {"handset": self.connected, "replaced": self.replaced, "bench_clients": self.bench_clients}


def _waiting(poll, raw, data):
    """`data` and the bytes already waiting behind it, read now: a frame is then handled and
    answered once, not once per byte (on a Pico that was ~2/3 of a status request's CPU)."""
    buf = bytearray(data)
    while len(buf) < config.LINK_CHUNK and poll.poll(0):
        more = raw.read(1)
        if not more:
            break
        buf += more
    return buf
