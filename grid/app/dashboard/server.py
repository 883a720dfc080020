"""The live map's server: HTTP on 127.0.0.1 only, the grid read over MQTT, pushed as server-sent events.

``GET /`` is the page, ``/static/...`` its scripts and styles (Leaflet, vendored by
``scripts/build-web``), ``/basemap.geojson`` the vendored Natural Earth countries,
``/sites.json`` the roster's sensor sites, ``/events`` the event stream (the current picture,
then live batches, one JSON list per SSE message) and ``/stats`` the counters as JSON.

The MQTT receive loop hands each message's events to every page's bounded queue and never waits
for a page (:mod:`grid.app.dashboard.fanout`). On exit the streams are closed, the HTTP site
stopped and the MQTT session closed, in that order, within a second or two.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from grid.app.dashboard.fanout import CLIENT_QUEUE_MAX, Fanout
from grid.app.dashboard.feed import SUBSCRIPTIONS, Feed, sites
from grid.errors import BrokerUnavailable, ConfigError
from grid.mqtt.address import LOOPBACK
from grid.mqtt.session import Session
from grid.world.basemap import BASEMAP_PATH
from grid.world.roster import Roster

__all__ = ["DEFAULT_PORT", "STATIC_DIR", "Dashboard"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_PORT = 8765
_STATS_EVERY_S = 1.0  # the page's counters (and a keep-alive for proxies that cut idle streams)


class Dashboard:
    """The live map's server, owned by an ``async with`` block: MQTT session, HTTP site, tasks.

    Args:
        roster: the member states, for the sensor sites.
        broker: ``(host, port)`` of the grid's broker.
        port: HTTP port on 127.0.0.1 (0: a free one; see :attr:`url`).
        queue_max: events one page may have pending before its oldest are dropped.
    """

    def __init__(
        self,
        *,
        roster: Roster,
        broker: tuple[str, int],
        port: int = DEFAULT_PORT,
        queue_max: int = CLIENT_QUEUE_MAX,
    ) -> None:
        if not 0 <= port < 65536:
            raise ConfigError(f"dashboard port must be 0-65535, got {port}")
        self.feed = Feed()
        self.fanout = Fanout()
        self._queue_max = queue_max
        self._sites = json.dumps(sites(roster)).encode()
        self._port = port
        self._session = Session(
            host=broker[0],
            port=broker[1],
            client_id=f"gridsim-dashboard-{os.getpid()}-{os.urandom(3).hex()}",
            subscriptions=SUBSCRIPTIONS,
        )
        self._runner: web.AppRunner | None = None
        self._tasks: asyncio.Task[None] | None = None
        self.url = ""
        self.pages_served = 0

    async def __aenter__(self) -> Self:
        await self._session.__aenter__()
        try:
            app = web.Application()
            app.router.add_get("/", self._index)
            app.router.add_get("/events", self._events)
            app.router.add_get("/stats", self._stats)
            app.router.add_get("/sites.json", self._sites_json)
            app.router.add_get("/basemap.geojson", self._basemap)
            app.router.add_get("/favicon.ico", self._no_icon)
            app.router.add_static("/static", STATIC_DIR)
            # Streams end when the fanout closes; nothing is left for the shutdown to wait on.
            self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
            await self._runner.setup()
            site = web.TCPSite(self._runner, LOOPBACK, self._port)
            try:
                await site.start()
            except OSError as exc:
                raise ConfigError(
                    f"dashboard: cannot listen on {LOOPBACK}:{self._port}: {exc.strerror or exc}"
                ) from exc
            port = self._runner.addresses[0][1]  # the one bound, when asked for 0
            self.url = f"http://{LOOPBACK}:{port}/"
            self._tasks = asyncio.create_task(self._background(), name="grid[dashboard].background")
        except BaseException:
            await self._close(None, None, None)
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close(exc_type, exc, tb)

    async def _close(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._tasks is not None:
            self._tasks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tasks
            self._tasks = None
        self.fanout.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._session.__aexit__(exc_type, exc, tb)

    async def _background(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(self._receive(), name="grid[dashboard].receive")
            group.create_task(self._tick(), name="grid[dashboard].stats")

    async def _receive(self) -> None:
        try:
            async for received in self._session.messages():
                self.fanout.publish(self.feed.take(received))
        except BrokerUnavailable as exc:  # the page says so; the server stays up for what it has
            log.warning("dashboard: %s", exc)
            self.fanout.publish([{"k": "broker", "state": "lost", "text": str(exc)}])

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_STATS_EVERY_S)
            self.fanout.publish([{"k": "stats", **self.stats()}])

    def stats(self) -> dict[str, Any]:
        """The server's counters: messages received and rejected, pages, events dropped."""
        return {
            **self.feed.stats(),
            "pages": len(self.fanout),
            "dropped": self.fanout.dropped,
            "wall_ms": int(time.time() * 1000),
        }

    # ------------------------------------------------------------------------------- handlers

    async def _index(self, request: web.Request) -> web.StreamResponse:
        self.pages_served += 1
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-store"})

    async def _no_icon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)  # browsers ask; a 404 would be noise in the console

    async def _basemap(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(BASEMAP_PATH, headers={"Content-Type": "application/geo+json"})

    async def _sites_json(self, request: web.Request) -> web.Response:
        return web.Response(body=self._sites, content_type="application/json")

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        client = self.fanout.add(self._queue_max)
        client.put(self.feed.snapshot())
        try:
            while batch := await client.next_batch():
                await response.write(b"data: " + json.dumps(batch, separators=(",", ":")).encode() + b"\n\n")
        except ConnectionError:
            pass  # the page went away
        finally:
            self.fanout.remove(client)
        return response
