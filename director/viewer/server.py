"""The live viewer's web server: the page, a WebSocket of tree diffs, a control API, /metrics.

It runs on the show's own asyncio loop (aiohttp), so handlers touch the Director directly with no
locks. The tick path only calls `Viewer._on_tick`, which folds changes into a pending diff when a
client is connected and feeds the Prometheus histograms; sending happens in a separate task at
most `SEND_HZ` times a second. Any error in the viewer is logged and never reaches the tick.

Control (`/api/*`) needs the token printed at start (`Authorization: Bearer TOKEN`); viewing and
`/metrics` do not. Binding anything but loopback needs `allow_remote=True`: the control API would
otherwise be one leaked token away from anyone on the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from director.errors import DirectorError
from director.events import EventFormatError, event_from_record
from director.viewer.snapshot import Tracker, queue_sizes

if TYPE_CHECKING:
    from director.engine import Director

log = logging.getLogger("director.viewer")

STATIC = Path(__file__).parent / "static"
SEND_HZ = 10.0
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_SECONDS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
_REACTION = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ViewerError(DirectorError):
    """The viewer cannot start as asked (e.g. a non-loopback host without the flag)."""


def check_host(host: str, *, allow_remote: bool) -> None:
    """Refuse to serve the control API beyond this machine unless asked to explicitly."""
    if host not in LOOPBACK and not allow_remote:
        raise ViewerError(
            f"the viewer would listen on {host}, reachable from other machines, and its control "
            "API can pause the show and send events; use --allow-remote-viewer with "
            "--viewer-host to do that on purpose, or leave the host at 127.0.0.1")


class _ShowCollector:
    """Counters and gauges computed when /metrics is scraped (nothing on the tick path)."""

    def __init__(self, director: Director) -> None:
        self.director = director

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterable[Metric]:
        d = self.director
        ledger = d.ledger
        received = CounterMetricFamily("director_events_received", "events received this run",
                                       labels=["kind", "platform"])
        handled = CounterMetricFamily("director_events_handled", "events settled this run",
                                      labels=["kind", "platform", "outcome"])
        for kind, platform, state, outcome, n in ledger.db.execute(
                "SELECT kind, platform, state, outcome, COUNT(*) FROM events WHERE run=? "
                "GROUP BY kind, platform, state, outcome", (ledger.run,)):
            received.add_metric([kind, platform], n)
            if state == "done":
                handled.add_metric([kind, platform, outcome or ""], n)
        yield received
        yield handled
        queues = GaugeMetricFamily("director_queue_size", "events waiting, per queue",
                                   labels=["queue"])
        for name, size in queue_sizes(d).items():
            if isinstance(size, int):
                queues.add_metric([name], size)
        yield queues
        listeners = GaugeMetricFamily(
            "director_listener_connected", "1 while a listener is connected (state as label)",
            labels=["name", "kind", "state"])
        for listener in d.listeners:
            state = str(getattr(listener, "state", "unknown"))
            listeners.add_metric([listener.name, str(getattr(listener, "kind", "")), state],
                                 1.0 if state == "connected" else 0.0)
        yield listeners
        yield GaugeMetricFamily("director_obs_connected", "1 while OBS is connected",
                                value=1.0 if d.stage.obs.connected else 0.0)
        yield CounterMetricFamily("director_ticks", "tree ticks this run", value=d.ticks)
        yield CounterMetricFamily("director_tick_faults", "ticks where a node raised",
                                  value=d.faults)


class Viewer:
    """The live viewer of one Director. `await start()`, then `await stop()`."""

    def __init__(self, director: Director, *, host: str = "127.0.0.1", port: int = 8765,
                 allow_remote: bool = False, token: str | None = None,
                 running: bool = True) -> None:
        check_host(host, allow_remote=allow_remote)
        self.director = director
        self.host, self.port = host, port
        self.token = token or secrets.token_urlsafe(18)
        self.running = running  # False for `director view`: structure only, no control
        self.tracker = Tracker(director)
        self.clients: set[web.WebSocketResponse] = set()
        self.registry = CollectorRegistry(auto_describe=False)
        self.tick_seconds = Histogram("director_tick_seconds", "cost of one tree tick",
                                      registry=self.registry, buckets=_SECONDS)
        self.lateness_seconds = Histogram("director_tick_lateness_seconds",
                                          "how late a tick started against its schedule",
                                          registry=self.registry, buckets=_SECONDS)
        self.gift_reaction = Histogram("director_gift_reaction_seconds",
                                       "gift received to the reaction starting",
                                       registry=self.registry, buckets=_REACTION)
        self.chat_reaction = Histogram("director_chat_reaction_seconds",
                                       "chat received to the reply starting",
                                       registry=self.registry, buckets=_REACTION)
        self.registry.register(_ShowCollector(director))
        self._late_total = director.lateness.total
        self._errors = 0
        self.viewer_seconds = 0.0  # time spent in _on_tick (the viewer's cost to the show)
        self._runner: web.AppRunner | None = None
        self._sender: asyncio.Task[None] | None = None
        self.app = self._make_app()

    # -- life -----------------------------------------------------------------------------------
    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors_middleware])
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._ws)
        app.router.add_get("/api/structure", self._structure)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_post("/api/events", self._guard(self._post_event))
        app.router.add_post("/api/pause", self._guard(self._pause))
        app.router.add_post("/api/resume", self._guard(self._resume))
        app.router.add_post("/api/skip", self._guard(self._skip))
        return app

    async def start(self) -> str:
        """Listen and start following the show; returns the page's address."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise ViewerError(f"the viewer cannot listen on {self.host}:{self.port}: "
                              f"{exc.strerror or exc} (choose another with --viewer-port, "
                              "or 0 for any free port)") from None
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self.director.tick_watchers.append(self._on_tick)
        self._sender = asyncio.create_task(self._send_loop())
        return self.url

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.director.tick_watchers.remove(self._on_tick)
        if self._sender is not None:
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        for ws in list(self.clients):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- the tick path --------------------------------------------------------------------------
    def _on_tick(self, cost: float) -> None:
        t0 = time.perf_counter()
        try:
            d = self.director
            late = d.lateness.total - self._late_total
            self._late_total = d.lateness.total
            self.tick_seconds.observe(cost)
            self.lateness_seconds.observe(late)
            reactions = d.ctx.reactions
            for kind, latency in reactions:
                (self.gift_reaction if kind in ("gift", "membership")
                 else self.chat_reaction).observe(latency)
            if self.clients and not self.tracker.structure_due:
                self.tracker.on_tick(t=d.clock.now(), cost=cost, lateness=late,
                                     reactions=reactions)
        except Exception:
            self._errors += 1
            if self._errors <= 3:
                log.exception("the viewer failed to follow a tick; the show goes on")
        self.viewer_seconds += time.perf_counter() - t0

    async def _send_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0 / SEND_HZ)
            if not self.clients:
                continue
            try:
                tracker = self.tracker
                if tracker.structure_due or tracker.reloaded():
                    message: dict[str, Any] | None = tracker.structure(running=self.running)
                else:
                    message = tracker.take()
                if message is not None:
                    await self._broadcast(json.dumps(message, ensure_ascii=False))
            except Exception:
                self._errors += 1
                if self._errors <= 3:
                    log.exception("the viewer failed to send an update")

    async def _broadcast(self, text: str) -> None:
        for ws in list(self.clients):
            try:
                await ws.send_str(text)
            except (ConnectionError, RuntimeError):
                self.clients.discard(ws)

    # -- pages ----------------------------------------------------------------------------------
    @web.middleware
    async def _errors_middleware(self, request: web.Request,
                                 handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:
            log.exception("viewer request %s failed", request.path)
            return web.json_response({"ok": False, "error": str(exc)}, status=500)

    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _structure(self, request: web.Request) -> web.StreamResponse:
        from director.viewer.snapshot import structure_of

        return web.json_response(structure_of(self.director, running=self.running))

    async def _metrics(self, request: web.Request) -> web.StreamResponse:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        # a full structure for everyone: the newcomer's start and a common base for the diffs
        self.tracker.structure_due = True
        self.clients.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(ws)
        return ws

    # -- control --------------------------------------------------------------------------------
    def _guard(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            given = request.headers.get("Authorization", "")
            if not secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                return web.json_response(
                    {"ok": False, "error": "control needs the token printed when the show "
                     "started: Authorization: Bearer TOKEN"}, status=401)
            if not self.running:
                return web.json_response(
                    {"ok": False, "error": "this show is only being viewed, not run"},
                    status=409)
            return await handler(request)
        return guarded

    async def _post_event(self, request: web.Request) -> web.StreamResponse:
        try:
            record = await request.json()
        except ValueError as exc:
            return web.json_response({"ok": False, "error": f"not JSON: {exc}"}, status=400)
        d = self.director
        if isinstance(record, dict) and not record.get("msg_id"):
            record = {**record, "msg_id": f"viewer-{secrets.token_hex(6)}"}
        try:
            event = event_from_record(record, money=d.show.money, received=d.clock.now())
        except EventFormatError as exc:
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        if event.platform == "sim" and not (isinstance(record, dict) and "platform" in record):
            event = replace(event, platform="viewer")
        fresh = d.ingest(event)
        return web.json_response({"ok": True, "msg_id": event.msg_id, "duplicate": not fresh})

    async def _pause(self, request: web.Request) -> web.StreamResponse:
        self.director.bb.set("show.paused", True)
        log.info("paused from the viewer")
        return web.json_response({"ok": True, "paused": True})

    async def _resume(self, request: web.Request) -> web.StreamResponse:
        self.director.bb.set("show.paused", False)
        log.info("resumed from the viewer")
        return web.json_response({"ok": True, "paused": False})

    async def _skip(self, request: web.Request) -> web.StreamResponse:
        voice = self.director.stage.voice
        now = self.director.clock.now()
        for line in voice.queue:
            if line.start <= now < line.end and not line.done():
                line.cancel()
                log.info("skipped the line \"%s\" from the viewer", line.text)
                return web.json_response({"ok": True, "skipped": line.text})
        return web.json_response({"ok": True, "skipped": None})
