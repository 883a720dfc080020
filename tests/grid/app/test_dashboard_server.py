"""The live map's server on a real broker: what it serves, its event stream, bad input, stopping."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from grid.app.dashboard.server import STATIC_DIR, Dashboard
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import SCAN_REPORTS_MAX, Envelope, NodeState, NodeStatus, SensorScan, ThreatReport
from grid.world.roster import Roster
from tests.conftest import GridsimProcesses

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

_URL = re.compile(r"https?://[^\s\"'<>)]+")
# The only URLs in vendored Leaflet: the SVG namespace (an XML name, never fetched) and the link of
# its attribution control, which the page turns off.
_NOT_FETCHED = {"http://www.w3.org/2000/svg", "https://leafletjs.com"}


def _status(node: str, state: NodeState) -> bytes:
    return Envelope(body=NodeStatus(node_id=node, state=state), origin=node).to_bytes()


async def _events(http: aiohttp.ClientSession, url: str) -> AsyncIterator[dict[str, Any]]:
    """The page's events, one by one, as the stream delivers them."""
    async with http.get(url + "events") as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        async for line in response.content:
            if line.startswith(b"data: "):
                for event in json.loads(line[6:]):
                    yield event


async def _until(events: AsyncIterator[dict[str, Any]], wanted: dict[str, Any]) -> dict[str, Any]:
    async with asyncio.timeout(30):
        async for event in events:
            if all(event.get(k) == v for k, v in wanted.items()):
                return event
    raise AssertionError(f"stream ended before {wanted}")


async def test_the_page_and_its_assets_are_local(mosquitto: BrokerInfo, roster: Roster) -> None:
    """Served on 127.0.0.1; the page, its scripts and styles load and name no http(s) resource."""
    async with Dashboard(roster=roster, broker=(mosquitto.host, mosquitto.port), port=0) as dash:
        assert dash.url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as http:
            async with http.get(dash.url) as response:
                assert response.status == 200
                html = await response.text()
            assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
            assert "/static/vendor/leaflet/leaflet.js" in assets
            assert "/static/dashboard.js" in assets
            texts = {"/": html}
            for path in [*assets, "/sites.json", "/basemap.geojson", "/stats"]:
                async with http.get(dash.url.rstrip("/") + path) as response:
                    assert response.status == 200, path
                    texts[path] = await response.text()
    assert json.loads(texts["/basemap.geojson"])["type"] == "FeatureCollection"
    assert {s["node"] for s in json.loads(texts["/sites.json"])} == set(roster)
    for path, text in texts.items():
        if path.endswith((".geojson", ".json", "/stats")):
            continue
        code = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)  # CSS comments cite bug trackers
        allowed = _NOT_FETCHED if "/vendor/" in path else set()
        assert set(_URL.findall(code)) <= allowed, path
    # Served from the package itself (scripts/build-web vendors Leaflet there): a wheel needs no npm.
    assert (STATIC_DIR / "vendor" / "leaflet" / "leaflet.js").is_file()


async def test_the_stream_starts_from_the_picture_and_counts_bad_messages(
    mosquitto: BrokerInfo, roster: Roster
) -> None:
    """A new page gets the retained statuses first, then live events; garbage is counted, not fatal."""
    async with Transport(host=mosquitto.host, port=mosquitto.port, client_id="test-dashboard-pub") as pub:
        await pub.publish(topics.status_topic("RO"), _status("RO", NodeState.RUNNING), retain=True)
        async with (
            Dashboard(roster=roster, broker=(mosquitto.host, mosquitto.port), port=0) as dash,
            aiohttp.ClientSession() as http,
        ):
            events = _events(http, dash.url)
            await _until(events, {"k": "status", "node": "RO", "state": "running"})
            await pub.publish(topics.TRACKS, b"\x00garbage")
            await pub.publish(topics.status_topic("RO"), _status("RO", NodeState.OFFLINE))
            await _until(events, {"k": "status", "node": "RO", "state": "offline"})
            await _until(events, {"k": "alert", "text": "RO offline"})
            async with http.get(dash.url + "stats") as response:
                stats = await response.json()
            await events.aclose()  # type: ignore[attr-defined]
        await pub.publish(topics.status_topic("RO"), b"", retain=True)
    assert sum(stats["rejected"].values()) == 1
    assert stats["pages"] == 1


async def test_a_page_that_reads_nothing_does_not_hold_up_the_broker_side(
    mosquitto: BrokerInfo, roster: Roster
) -> None:
    """A page that reads nothing fills its socket, then its own small queue, oldest events dropped and
    counted: every message is still received, and another page still gets the newest events."""
    sent = 500
    # 1000 radar plots a scan, about 22 kB of JSON an event: 11 MB for the stalled page, well past
    # what the loopback socket buffers hold (4 MB sending, 128 kB receiving while nothing is read).
    scan = SensorScan(run_id="r-1", reports=tuple(_plot(i) for i in range(SCAN_REPORTS_MAX)))
    payload = Envelope(body=scan, origin="RO").to_bytes()
    async with Dashboard(roster=roster, broker=(mosquitto.host, mosquitto.port), port=0, queue_max=5) as dash:
        host, port = dash.url.removeprefix("http://").rstrip("/").split(":")
        _reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")  # and never read a byte
        await writer.drain()
        async with Transport(
            host=mosquitto.host, port=mosquitto.port, client_id="test-dashboard-flood"
        ) as pub:
            for _ in range(sent):
                await pub.publish(topics.report_topic("RO"), payload)  # QoS 1: the broker drops none
            async with asyncio.timeout(60):
                while dash.feed.received < sent:  # noqa: ASYNC110 (another task's counter)
                    await asyncio.sleep(0.05)
            async with aiohttp.ClientSession() as http:
                events = _events(http, dash.url)
                await pub.publish(topics.status_topic("XX"), _status("XX", NodeState.RUNNING))
                await _until(events, {"k": "status", "node": "XX"})
                await events.aclose()  # type: ignore[attr-defined]
        stats = dash.stats()
        writer.close()
    print(f"stalled page: {stats['dropped']} events dropped of {sent}")
    assert stats["received"] == sent + 1
    assert stats["dropped"] > 0


def _plot(i: int) -> ThreatReport:
    return ThreatReport(
        run_id="r-1",
        sensor_id="RO-RAD-1",
        sensor_kind="radar",
        sensor_lat=44.0,
        sensor_lon=28.0,
        sensor_alt_m=10.0,
        time_s=1.0,
        bearing_deg=i % 360,
        sigma_bearing_deg=1.0,
        range_m=1000.0 + i,
        sigma_range_m=30.0,
        elevation_deg=1.0,
        sigma_elevation_deg=1.0,
        max_range_m=100_000.0,
    )


async def _url_from(proc: subprocess.Popen[str]) -> str:
    """The live map's address, from the command's stderr."""
    assert proc.stderr is not None
    async with asyncio.timeout(60):
        while True:
            line = await asyncio.to_thread(proc.stderr.readline)
            assert line, "the command ended before serving the live map"
            if found := re.search(r"live map on (http://127\.0\.0\.1:\d+/)", line):
                return found.group(1)


def _port_closed(url: str) -> bool:
    import socket

    host, port = url.removeprefix("http://").rstrip("/").split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) != 0


async def test_gridsim_dashboard_serves_and_stops_on_sigterm(
    mosquitto: BrokerInfo, gridsim: GridsimProcesses
) -> None:
    """``gridsim dashboard --broker URL --port 0`` serves; SIGTERM stops it at once, page connected or not."""
    proc = gridsim.start(
        "dashboard", "--broker", mosquitto.url, "--port", "0", stderr=subprocess.PIPE, text=True
    )
    url = await _url_from(proc)
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "stats") as response:
            assert response.status == 200
        async with http.get(url + "events") as stream:  # a page still connected does not hold it up
            await stream.content.readline()
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = await asyncio.to_thread(proc.wait, 30)
    print(f"gridsim dashboard stopped {time.monotonic() - started:.2f} s after SIGTERM")
    assert code == 143
    assert _port_closed(url)


@pytest.mark.timeout(360)  # a whole run as a child process: about 60 s under a load of 8 on two cores
async def test_gridsim_run_with_dashboard(
    mosquitto: BrokerInfo, gridsim: GridsimProcesses, tmp_path: Any
) -> None:
    """``gridsim run --dashboard`` serves the live map while the run plays and closes it when done."""
    proc = gridsim.start(
        "run", "scenarios/node-outage.yaml", "--speed", "50", "--quiet", "--workers", "0",
        "--broker", mosquitto.url, "--out", str(tmp_path), "--dashboard", "--dashboard-port", "0",
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    url = await _url_from(proc)
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert "gridsim live map" in await response.text()
    assert await asyncio.to_thread(proc.wait, 300) == 0
    assert (tmp_path / "summary.json").is_file()
    assert _port_closed(url)
