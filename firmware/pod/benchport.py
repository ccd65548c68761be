# pod/benchport.py - the operators' bench port (--bench-listen HOST:PORT, unix port only): a TCP
# server of its own, so that an operator (podctl) and a handset app are connected at the same time.
# It carries bench frames only ('B'); anything else sent there is ignored. Loaded only when asked
# for, so a Pico never spends heap on it.

import asyncio

from eros.link import CH_BENCH, Deframer, frame
from pod import config


async def start_bench_port(sched):
    o = sched.app.opts

    async def on_client(reader, writer):
        bench = sched.app.bench
        if bench is None:  # cannot happen: --bench-listen builds the bench
            return
        deframer = Deframer()
        sched.bench_clients += 1
        try:
            while True:
                data = await reader.read(config.LINK_CHUNK)
                if not data:
                    break
                for channel, payload in deframer.feed(data):
                    if channel == CH_BENCH:
                        writer.write(frame(CH_BENCH, bench.handle(payload)))
                await writer.drain()
                await sched.flush()  # what the request changed may have produced handset frames
        except OSError:
            pass
        finally:
            sched.bench_clients -= 1
            try:
                writer.close()
                await writer.wait_closed()
            except OSError:
                pass

    try:
        await asyncio.start_server(on_client, o.bench_host, o.bench_port)
    except OSError as e:
        raise RuntimeError("cannot listen for the bench on %s:%d (%s): choose another address with "
                           "--bench-listen HOST:PORT" % (o.bench_host, o.bench_port, e))
    sched.app.log("bench listening on tcp %s:%d" % (o.bench_host, o.bench_port))
