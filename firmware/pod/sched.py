# pod/sched.py - the only place in the firmware that waits (asyncio).
#
# It reads the link, cuts the bytes into frames (eros.link.Deframer), gives channel 'P' messages
# to the pod and channel 'B' requests to the bench, writes the replies back, and calls
# pod.step(now_ms) at the deadline the pod returned. With the real clock a ticker task sleeps
# until that deadline; with the virtual clock time moves only through advance_to() (bench).

import asyncio
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
        d = self.deadline
        while d is not None and d <= target_ms:
            clock.set_ms(d)
            d = self._call_step(d)
            steps += 1
        clock.set_ms(target_ms)
        self.deadline = self._call_step(target_ms)
        return steps + 1

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
            elif channel == CH_BENCH and self.app.bench is not None:
                self.post(CH_BENCH, self.app.bench.handle(payload))
            # 'L' from the handset and 'B' with the bench disabled are ignored

    def _on_message(self, payload):
        now = self.app.clock.now_ms()
        try:
            reply = self.app.pod.handle(bytes(payload), now)
        except Exception as e:
            self._pod_error("handle", e)
            reply = None
        if reply:
            self.post(CH_MESSAGE, reply)
        self.step_now()  # a command may have started a delivery: learn the new deadline
        if self.app.opts.heap_report:
            self.app.log_heap()

    def _pod_error(self, where, e):
        self.errors += 1
        sys.print_exception(e)  # stderr: the test harness fails a test that shows a traceback
        self.app.log("pod.%s raised %s: %s" % (where, type(e).__name__, e))

    async def flush(self):
        async with self._tx_lock:
            w = self._writer
            while self._outbox:
                channel, payload = self._outbox.pop(0)
                if w is not None:
                    w.write(frame(channel, payload))
            if w is not None:
                await w.drain()

    # ---- tasks

    async def _ticker(self):
        clock = self.app.clock
        # sim.json (the clock) is saved every SIM_SAVE_MS of pod time, at most once a real second,
        # so a SIGKILL of an idle pod loses little time (SPEC.md section 8)
        save_every = max(config.SIM_SAVE_MS, 1000 * clock.speed)
        while True:
            if clock.now_ms() - self.app.sim_saved_ms >= save_every:
                try:
                    self.app.save_sim()
                except OSError as e:
                    self.app.log("cannot save sim.json: %s" % e)
            d = self.deadline
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

    async def _flush_quietly(self):
        try:
            await self.flush()
        except OSError:  # the handset went away; the reader notices and cleans up
            pass

    async def _session(self, reader, writer, chunk, hangup_ends):
        """Serve one handset connection until it closes (or forever on a tty)."""
        self.deframer.reset()
        self._writer = writer
        self.connected = True
        self.app.log("handset connected over %s" % self.link.describe())
        try:
            while True:
                try:
                    data = await reader.read(chunk)
                except OSError:
                    data = b""
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
            self.connected = False
            self._writer = None
            self._outbox = []
            self.app.log("handset disconnected")
            self.app.save_sim()

    async def _on_tcp_client(self, reader, writer):
        if self.connected:  # one handset at a time: refuse the newcomer
            writer.close()
            await writer.wait_closed()
            return
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
        if self.app.clock.kind == "real":
            asyncio.create_task(self._ticker())
        link = self.link
        if link.kind == "tcp":
            try:
                await asyncio.start_server(self._on_tcp_client, link.host, link.port, backlog=1)
            except OSError as e:
                raise RuntimeError(
                    "cannot listen on %s:%d (%s): is another pod running there? Choose another "
                    "address with --listen HOST:PORT" % (link.host, link.port, e))
            self.app.log("listening on %s" % link.describe())
            await self._stop.wait()
        else:
            rx, tx, chunk = link.open()
            self.app.log("link open: %s" % link.describe())
            await self._session(asyncio.StreamReader(rx), asyncio.StreamWriter(tx, {}), chunk,
                                link.kind == "stdio")

    def stop(self):
        self._stop.set()
