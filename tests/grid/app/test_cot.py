"""End to end: a real run's fused tracks through ``gridsim cot`` to local TAK listeners.

A short run of the default scenario on a Mosquitto fixture publishes tracks; the bridge sends
them to a TCP or UDP listener on 127.0.0.1 that parses every event with ``xml.etree``; a recorder
on the broker keeps every track message, and each event is checked field by field against the
message it came from. A deleted track, a message that is no track and bytes that are no message
are injected too (the run may or may not delete a track of its own). Also: a TAK endpoint that
is down is retried, ``--no-retry`` makes it an error, and SIGTERM stops the command cleanly.
"""

from __future__ import annotations

import asyncio
import json
import math
import signal
import subprocess
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from grid.app.cot import CotStats, run_cot
from grid.app.run import RunOptions, run_grid
from grid.cot.events import ce_m, course_speed
from grid.errors import ConfigError, TakUnavailable
from grid.mqtt.address import free_port
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.transport import Transport
from grid.wire import topics
from grid.wire.messages import Envelope, FusedTrack, NodeState, NodeStatus
from grid.world.roster import Roster
from grid.world.scenario import load_scenario, scenario_from_dict

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]
SPEED = 5.0  # as tests/grid/app/test_run.py: a 40 s run has over 3x CPU headroom on one core
GARBAGE, GARBAGE_REASON = b"\xc1 not msgpack", "not_msgpack"
SETTLE_S = 60.0  # bound on waiting for events in flight (never reached unless something is wrong)


@dataclass
class Listener:
    """A TAK endpoint stand-in: every event it received, parsed."""

    url: str
    events: list[ET.Element] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> None:
        """Parse the complete events received so far (TCP: a stream; UDP: one per datagram)."""
        self.raw += data
        while (end := self.raw.find(b"</event>")) >= 0:
            chunk, self.raw = bytes(self.raw[: end + len(b"</event>")]), self.raw[end + len(b"</event>") :]
            self.events.append(ET.fromstring(chunk.strip()))  # a parse error fails the test


@pytest.fixture
async def tcp_listener() -> AsyncIterator[Listener]:
    """A TCP server on 127.0.0.1 that parses every event."""
    listener = Listener("")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            listener.feed(data)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    listener.url = f"tcp://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield listener


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: Listener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.listener.feed(data)


@pytest.fixture
async def udp_listener() -> AsyncIterator[Listener]:
    """A UDP socket on 127.0.0.1 (unicast: tests send nothing off the loopback) that parses every event."""
    listener = Listener("")
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Datagrams(listener), local_addr=("127.0.0.1", 0)
    )
    listener.url = f"udp://127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    try:
        yield listener
    finally:
        transport.close()


async def _until(done: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(SETTLE_S):
        while not done():  # noqa: ASYNC110 - polls counters that several tasks update
            await asyncio.sleep(0.05)
    assert done(), what


def _when(text: str | None) -> datetime:
    return datetime.strptime(text or "", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _track(track_id: str, status: str, *, run_id: str = "injected-1") -> FusedTrack:
    cov = [0.0] * 16
    cov[0], cov[5], cov[10], cov[15] = 900.0, 400.0, 9.0, 9.0
    return FusedTrack(
        run_id=run_id,
        track_id=track_id,
        status=status,
        time_s=1.0,
        lat=44.0,
        lon=28.8,
        alt_m=400.0,
        east_m=0.0,
        north_m=0.0,
        vel_east_mps=-30.0,
        vel_north_mps=-30.0,
        covariance=tuple(cov),
    )


async def _publish(broker: BrokerInfo, *payloads: bytes) -> None:
    async with Transport(host=broker.host, port=broker.port, client_id="test-cot-inject") as mqtt:
        for payload in payloads:
            await mqtt.publish(topics.TRACKS, payload)


def _status(event: ET.Element) -> str:
    """The track status the remarks end with (before any classification note)."""
    return (event.findtext("detail/remarks") or "").split(";")[0].rsplit(" ", 1)[-1]


def _check_event(event: ET.Element, sent: list[FusedTrack], *, classify: bool) -> FusedTrack:
    """Every field of ``event`` against the track message it came from (one of ``sent``)."""
    assert event.tag == "event"
    assert event.get("version") == "2.0"
    assert event.get("how") == "m-f"
    assert event.get("opex") == "s-gridsim"
    assert event.get("access") == "Unclassified"
    remarks = event.findtext("detail/remarks") or ""
    assert remarks.startswith("SIMULATED gridsim run ")
    status = _status(event)
    point, course = event.find("point"), event.find("detail/track")
    assert point is not None
    assert course is not None
    matches = [
        t
        for t in sent
        if t.status == status and f"{t.lat:.7f}" == point.get("lat") and f"{t.lon:.7f}" == point.get("lon")
    ]
    assert matches, f"no track message for event {ET.tostring(event)!r}"
    track = matches[0]
    assert event.get("uid") == f"gridsim-{track.run_id}-{track.track_id}"
    # The fusion centre does not classify: unknown air; --classify truth: the default scenario's
    # threat is a drone, so a confirmed track that follows it (and its drop) is hostile rotary.
    if not classify or track.run_id == "injected-1" or track.status == "tentative":
        assert event.get("type") == "a-u-A"
    elif track.status == "confirmed" and track.truth_ids == ("uav-1",):
        assert event.get("type") == "a-h-A-M-H-Q"
    if event.get("type") == "a-h-A-M-H-Q":
        assert classify
        assert remarks.endswith("; classified rotary from the scenario (simulated classifier)")
    else:
        assert event.get("type") == "a-u-A"
        assert ";" not in remarks
    start, stale = _when(event.get("start")), _when(event.get("stale"))
    assert _when(event.get("time")) == start
    if track.status == "deleted":
        assert stale < start, "a drop event is stale before it starts"
    else:
        assert stale >= start + timedelta(seconds=5), "stale: a few update periods, at least 5 s on"
    assert float(point.get("hae", "")) == pytest.approx(track.alt_m, abs=0.05)
    assert float(point.get("ce", "")) == pytest.approx(ce_m(track.covariance), abs=0.05)
    assert float(point.get("le", "")) == 9999999.0
    want_course, want_speed = course_speed(track.vel_east_mps, track.vel_north_mps)
    got_course = float(course.get("course", ""))
    assert math.isclose(got_course, want_course, abs_tol=0.05) or abs(got_course - want_course) > 359.9
    assert float(course.get("speed", "")) == pytest.approx(want_speed, abs=0.005)
    assert event.find("detail/contact") is not None
    return track


async def _until_subscribed(broker: BrokerInfo, stats: CotStats) -> None:
    """Bytes that are no message, until the bridge counts one: then it is subscribed."""
    async with asyncio.timeout(SETTLE_S):
        while not stats.rejected[GARBAGE_REASON]:
            await _publish(broker, GARBAGE)
            await asyncio.sleep(0.1)


async def _record(broker: BrokerInfo, into: list[FusedTrack], ready: asyncio.Event) -> None:
    async with Transport(host=broker.host, port=broker.port, client_id="test-cot-recorder") as mqtt:
        await mqtt.subscribe(topics.TRACKS)
        ready.set()
        async for received in mqtt.messages():
            try:
                body = Envelope.from_bytes(received.payload).body
            except ValueError:
                continue  # the injected garbage
            if isinstance(body, FusedTrack):
                into.append(body)


@pytest.mark.parametrize("mode", ["tcp", "udp-classify"])
async def test_run_to_tak_every_event_checked(
    mode: str, mosquitto: BrokerInfo, roster: Roster, tcp_listener: Listener, udp_listener: Listener
) -> None:
    """Every track update of a real run becomes a checked CoT event; deletions are drop events."""
    scheme, classify = mode.split("-", maxsplit=1)[0], mode.endswith("-classify")
    listener = tcp_listener if scheme == "tcp" else udp_listener
    stats, sent = CotStats(), list[FusedTrack]()
    scenario = scenario_from_dict({**load_scenario().to_dict(), "duration_s": 40.0})
    ready = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        recorder = tg.create_task(_record(mosquitto, sent, ready))
        bridge = tg.create_task(run_cot(mosquitto.url, listener.url, classify=classify, stats=stats))
        await ready.wait()
        await _until_subscribed(mosquitto, stats)
        summary = await run_grid(
            RunOptions(scenario=scenario, roster=roster, speed=SPEED, broker_url=mosquitto.url)
        )
        status = NodeStatus(node_id="BG", state=NodeState.ONLINE)
        await _publish(
            mosquitto,
            Envelope(body=_track("X1", "tentative"), origin="test").to_bytes(),
            Envelope(body=_track("X1", "deleted"), origin="test").to_bytes(),
            Envelope(body=status, origin="test").to_bytes(),
        )
        await _until(
            lambda: stats.rejected["wrong_type"] == 1 and stats.tracks == len(sent), "bridge read all"
        )
        await _until(lambda: stats.events + stats.superseded >= stats.tracks, "bridge sent all")
        await _until(lambda: len(listener.events) >= stats.events, "listener received all")
        bridge.cancel()
        recorder.cancel()
    run_ids = {t.run_id for t in sent} - {"injected-1"}
    assert len(run_ids) == 1
    assert summary["air_picture"]["published"] == len([t for t in sent if t.run_id in run_ids]) > 0
    # Each event matches a track message, in order per track; none missing except superseded ones.
    by_uid: dict[str, list[FusedTrack]] = defaultdict(list)
    for track in sent:
        by_uid[f"gridsim-{track.run_id}-{track.track_id}"].append(track)
    assert len(listener.events) == stats.events == stats.tracks - stats.superseded
    for event in listener.events:
        uid = event.get("uid", "")
        track = _check_event(event, by_uid[uid], classify=classify)
        del by_uid[uid][: by_uid[uid].index(track) + 1]  # later events match later messages only
    deleted = {f"gridsim-{t.run_id}-{t.track_id}" for t in sent if t.status == "deleted"}
    drops = {e.get("uid") for e in listener.events if _status(e) == "deleted"}
    assert "gridsim-injected-1-X1" in deleted
    assert drops == deleted, "every deleted track, and only those, got a drop event"
    assert stats.drops == len(deleted)
    assert set(stats.rejected) == {"wrong_type", GARBAGE_REASON}, "bad messages are counted, not fatal"
    hostile = sum(e.get("type") == "a-h-A-M-H-Q" for e in listener.events)
    assert (hostile > 0) is classify
    print(f"\n{mode}: {hostile} hostile; {stats.line()}; run: {summary['air_picture']['published']} tracks")


async def test_tak_down_is_retried_and_a_closed_connection_reconnects(
    mosquitto: BrokerInfo, caplog: pytest.LogCaptureFixture
) -> None:
    """Down at start: a warning per try, updates wait (the newest per track); then a server that
    closes the connection is noticed and reconnected, and later events arrive on the new one."""
    listener, port, connections = Listener(""), free_port(), 0
    url = f"tcp://127.0.0.1:{port}"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while data := await reader.read(65536):
            listener.feed(data)
            if connections == 1 and len(listener.events) >= 2:
                break  # the first connection: closed by the server after two events
        writer.close()

    stats = CotStats()
    async with asyncio.TaskGroup() as tg:
        bridge = tg.create_task(run_cot(mosquitto.url, url, stats=stats))
        await _until_subscribed(mosquitto, stats)
        await _publish(
            mosquitto,
            *(
                Envelope(body=_track(t, s), origin="test").to_bytes()
                for t, s in [("X1", "tentative"), ("X2", "tentative"), ("X1", "confirmed")]
            ),
        )
        await _until(lambda: stats.tak_failures >= 1 and stats.tracks == 3, "endpoint down: retried")
        assert stats.events == 0
        async with await asyncio.start_server(handle, "127.0.0.1", port):
            await _until(lambda: len(listener.events) == 2, "sent once the endpoint is up")
            await _until(lambda: stats.tak_failures >= 2, "the closed connection noticed")
            failures = stats.tak_failures
            await _publish(mosquitto, Envelope(body=_track("X2", "deleted"), origin="test").to_bytes())
            await _until(lambda: len(listener.events) == 3, "sent on the new connection")
            assert connections == 2
            assert stats.tak_failures == failures
        bridge.cancel()
    got = [(e.get("uid"), _status(e)) for e in listener.events]
    assert got == [
        ("gridsim-injected-1-X1", "confirmed"),
        ("gridsim-injected-1-X2", "tentative"),
        ("gridsim-injected-1-X2", "deleted"),
    ]
    assert stats.superseded == 1  # X1's tentative update, replaced while the endpoint was down
    assert (stats.events, stats.drops) == (3, 1)
    assert f"TAK endpoint {url} unavailable" in caplog.text
    assert "retrying in 1 s" in caplog.text


async def test_no_retry_is_a_typed_error(mosquitto: BrokerInfo) -> None:
    """``retry=False``: a TAK endpoint that is down is a TakUnavailable naming it."""
    url = f"tcp://127.0.0.1:{free_port()}"
    with pytest.raises(ExceptionGroup) as caught:
        await run_cot(mosquitto.url, url, retry=False)
    (error,) = caught.value.exceptions
    assert isinstance(error, TakUnavailable)
    assert error.url == url
    assert str(error).startswith(f"TAK endpoint {url} unavailable: ")


@pytest.mark.parametrize("url", ["http://127.0.0.1:8087", "tcp://127.0.0.1", "udp://:6969", "tcp://h:x"])
async def test_bad_tak_url_is_a_config_error(url: str) -> None:
    """Only tcp:// and udp:// with a host and a port."""
    with pytest.raises(ConfigError, match="--tak"):
        await run_cot("mqtt://127.0.0.1:1", url)


def test_cli_no_retry_exits_1_with_the_error_and_the_counts(
    mosquitto: BrokerInfo, gridsim: GridsimProcesses
) -> None:
    """``gridsim cot --no-retry`` against a closed port: exit 1, the typed error in one line, the counts."""
    url = f"tcp://127.0.0.1:{free_port()}"
    proc = gridsim.start(
        "cot", "--broker", mosquitto.url, "--tak", url, "--no-retry", stderr=subprocess.PIPE, text=True
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    *_, counts, error = err.rstrip().splitlines()
    assert counts.startswith("cot: 0 events (0 drops) from 0 tracks")
    assert error.startswith(f"TakUnavailable: TAK endpoint {url} unavailable: ")
    assert "Traceback" not in err


async def test_cli_stops_on_sigterm_with_json_counts(
    mosquitto: BrokerInfo, gridsim: GridsimProcesses, tcp_listener: Listener
) -> None:
    """``gridsim cot --json``: SIGTERM stops it at once (exit 143), the counts as JSON on stdout."""
    proc = gridsim.start(
        "cot",
        "--broker",
        mosquitto.url,
        "--tak",
        tcp_listener.url,
        "--json",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    track = Envelope(body=_track("X1", "tentative"), origin="test").to_bytes()
    async with asyncio.timeout(SETTLE_S):
        while not tcp_listener.events:  # until the command is subscribed and connected
            await _publish(mosquitto, track)
            await asyncio.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = await asyncio.to_thread(proc.communicate, timeout=60)
    assert proc.returncode == 143, err
    assert "terminated: SIGTERM received, stopping" in err
    assert "Traceback" not in err
    counts = json.loads(out.strip().splitlines()[-1])
    assert counts["events"] == counts["tracks"] - counts["superseded"] >= 1
    assert counts["rejected"] == {}
    assert counts["tak_failures"] == 0
