"""``podctl web``: a live web page of the pod (aiohttp, server-sent events, plain HTML/JS).

One poller reads the pod's bench (info, plant, new beeps) a few times a second and pushes each
reading to every open page over ``/events``; the page's buttons POST to ``/api/<op>``, which
forwards one allowed bench operation and answers its reply (or the pod's error sentence).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from importlib import resources

from aiohttp import web

from podctl.client import BenchClient
from podctl.errors import PodctlError

POLL_S = 0.3
# Operations the page may send, with the members each one may carry.
ALLOWED = {
    "advance": {"ms"}, "speed": {"speed"}, "occlude": {"on"}, "inject": {"fault", "count", "block", "ms", "how"},
    "fault": {"code"}, "reservoir": {"pulses"}, "age": {"minutes"}, "dry": set(), "power_cut": {"ms", "cancel"},
    "fresh": {"lot", "tid", "fill_pulses", "clock", "speed"}, "reset": set(),
}


class PodFeed:
    """Reads the pod in the background and fans each reading out to the open pages."""

    def __init__(self, client: BenchClient) -> None:
        self.client = client
        self.pages: set[asyncio.Queue[str]] = set()
        self.last: str | None = None
        self._beeps_since = 0
        self._task: asyncio.Task[None] | None = None

    async def call(self, op: str, **members: object) -> dict:
        """One bench request, off the event loop (the client blocks)."""
        return await asyncio.get_running_loop().run_in_executor(None, lambda: self.client.request(op, **members))

    async def read(self) -> dict:
        info = await self.call("info")
        beeps = await self.call("beeps", since=self._beeps_since)
        self._beeps_since = beeps["next"]
        try:
            plant = await self.call("plant")
        except PodctlError:
            plant = None  # a real board: no simulated mechanism
        return {"info": info, "plant": plant, "beeps": beeps["beeps"], "beep_count": beeps["count"]}

    async def run(self) -> None:
        while True:
            try:
                reading = await self.read()
                reading["error"] = None
            except PodctlError as exc:
                reading = {"error": str(exc)}
            self.last = json.dumps(reading)
            for queue in list(self.pages):
                if queue.qsize() < 20:  # a page that stopped reading is not fed forever
                    queue.put_nowait(self.last)
            await asyncio.sleep(POLL_S)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def make_app(client: BenchClient) -> web.Application:
    """The aiohttp application: the page, its event stream and its API."""
    feed = PodFeed(client)
    app = web.Application()

    async def page(_request: web.Request) -> web.Response:
        html = resources.files("podctl").joinpath("static/index.html").read_text(encoding="utf-8")
        return web.Response(text=html, content_type="text/html")

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue: asyncio.Queue[str] = asyncio.Queue()
        if feed.last is not None:
            queue.put_nowait(feed.last)
        feed.pages.add(queue)
        try:
            while True:
                data = await queue.get()
                await response.write(f"data: {data}\n\n".encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            feed.pages.discard(queue)
        return response

    async def api(request: web.Request) -> web.Response:
        op = request.match_info["op"]
        if op not in ALLOWED:
            return web.json_response({"error": f"The page cannot send {op!r}."}, status=404)
        try:
            members = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            return web.json_response({"error": "The request body is not JSON."}, status=400)
        if not isinstance(members, dict) or not set(members) <= ALLOWED[op]:
            return web.json_response({"error": f"{op} takes only {sorted(ALLOWED[op])}."}, status=400)
        try:
            return web.json_response(await feed.call(op, **members))
        except PodctlError as exc:
            return web.json_response({"error": str(exc)}, status=409)

    async def on_startup(_app: web.Application) -> None:
        feed.start()

    async def on_cleanup(_app: web.Application) -> None:
        await feed.stop()

    app.router.add_get("/", page)
    app.router.add_get("/events", events)
    app.router.add_post("/api/{op}", api)
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


async def _serve(client: BenchClient, host: str, port: int) -> None:
    runner = web.AppRunner(make_app(client), shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    for address in runner.addresses:  # the real port when 0 was asked for
        print(f"The pod's page is at http://{address[0]}:{address[1]}/ (Ctrl-C stops it)", flush=True)
        break
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve(client: BenchClient, host: str, port: int) -> None:
    """Serve the page until Ctrl-C (port 0: any free port, printed)."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(client, host, port))
