"""The outsider of a ``forgery`` event: someone with no key of the grid forging a member's reports.

It connects to the broker as a stranger (client id ``outsider-<member>``; in secure mode over TLS
with the grid's CA certificate, which is public, and no client certificate of its own, so the
broker refuses it), listens to the report topics, and from the event's ``at_s`` publishes
``rate_hz`` messages a simulation second on the member's report topic, going round the event's
forms (:class:`~grid.world.events.ForgeryForm`):

- ``unsigned``: a scan of the phantom in the member's name, from the member's first ranging sensor
  (its position is public: the roster), exact (noise-free) geometry;
- ``foreign_key``: the same, signed in the member's name with the outsider's own Ed25519 key;
- ``wrong_signer``: the latest genuine report of another member it captured, sent on this topic;
- ``replayed``: the latest genuine report of the member it captured, sent again verbatim;
- ``stale``: a scan of the phantom dated twice the replay window ago. No recording that old can be
  made inside a run, so the run makes it with the member's key (``recorder``), the stand-in for a
  report captured in an earlier exercise; the outsider holds only the bytes.

A form that needs a capture when none has been made yet is not sent; the account counts it under
``not_sent``. Everything it did is in :class:`OutsiderAccount`, which the run puts in the summary.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from grid.errors import BrokerUnavailable
from grid.geo import LocalFrame, observe
from grid.mqtt.transport import Received, Transport
from grid.security.signing import DEFAULT_REPLAY_WINDOW_S, Signer
from grid.wire import topics
from grid.wire.messages import Envelope, RunControl, SensorScan, ThreatReport
from grid.world.events import Forgery, ForgeryForm
from grid.world.roster import Roster, SensorSpec
from grid.world.scenario import Scenario
from grid.world.sensors import SimulatedSensor
from grid.world.timeline import phantom_trajectory

__all__ = ["Outsider", "OutsiderAccount"]

log = logging.getLogger(__name__)

_CONNECT_TIMEOUT_S = 10.0


@dataclass(kw_only=True)
class OutsiderAccount:
    """What one outsider did: connected or refused, and what it published, by form."""

    as_node: str
    sensor: str
    connected: bool = False
    refused_by_broker: str | None = None  # why the broker refused the connection
    connection_lost: str | None = None  # why it stopped early, once connected
    published: dict[str, int] = field(default_factory=dict)
    not_sent: dict[str, int] = field(default_factory=dict)  # form -> ticks with nothing captured yet
    captured: int = 0  # genuine reports received off the broker

    def to_dict(self) -> dict[str, object]:
        """The outsider's part of the summary's ``forgery`` entry."""
        return {
            "sensor": self.sensor,
            "connected": self.connected,
            "refused_by_broker": self.refused_by_broker,
            "connection_lost": self.connection_lost,
            "published": dict(self.published),
            "published_total": sum(self.published.values()),
            "not_sent": dict(self.not_sent),
            "captured": self.captured,
        }


def _forged_sensor(roster: Roster, node: str) -> SensorSpec:
    """The member's first ranging sensor (its reports alone can make a track), else its first sensor."""
    sensors = roster[node].sensors
    return next((s for s in sensors if s.kind.measures_range), sensors[0])


class Outsider:
    """Plays one ``forgery`` event of a run against the broker at ``host:port``."""

    def __init__(
        self,
        event: Forgery,
        *,
        scenario: Scenario,
        roster: Roster,
        host: str,
        port: int,
        tls: ssl.SSLContext | None = None,
        recorder: Signer | None = None,
        replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
    ) -> None:
        """``tls``: the context it connects with (secure mode: the CA's, no certificate of its own);
        ``recorder``: the member's signer that stands in for an old recording (``stale``; None:
        unsigned grid, the old report goes unsigned)."""
        self.event = event
        self.scenario = scenario
        self.spec = _forged_sensor(roster, event.as_node)
        self._sensor = SimulatedSensor(self.spec, seed=scenario.seed)
        self._trajectory = phantom_trajectory(event, LocalFrame(*scenario.origin))
        self._tls = tls
        self._host, self._port = host, port
        self._recorder = recorder
        self._window_ns = int(replay_window_s * 1e9)
        self._own_key = Signer(event.as_node, Ed25519PrivateKey.generate())
        self._topic = topics.report_topic(event.as_node)
        self._own: bytes | None = None  # the member's latest genuine report
        self._other: bytes | None = None  # another member's latest genuine report
        self._sent: set[bytes] = set()  # what it published: it hears its own messages too
        self.account = OutsiderAccount(as_node=event.as_node, sensor=self.spec.id)

    async def play(self, start: RunControl) -> None:
        """Connect, then forge until the event (or the run) ends; a refused connection ends it at once."""
        transport = Transport(
            host=self._host,
            port=self._port,
            client_id=f"outsider-{self.event.as_node}",
            tls=self._tls,
            connect_timeout_s=_CONNECT_TIMEOUT_S,
        )
        try:
            async with transport:
                self.account.connected = True
                await transport.subscribe(topics.ALL_REPORTS)
                async with asyncio.TaskGroup() as group:
                    listen = group.create_task(
                        self._capture(transport), name=f"grid[outsider-{self.event.as_node}].capture"
                    )
                    await self._forge(transport, start)
                    listen.cancel()
        except* BrokerUnavailable as group:
            exc = group.exceptions[0]
            if self.account.connected:  # a broker outage, say: the outsider stops, the run goes on
                self.account.connection_lost = str(exc)
                log.warning("outsider as %s lost its connection: %s", self.event.as_node, exc)
            else:
                self.account.refused_by_broker = str(exc)
                log.info("outsider as %s refused by the broker: %s", self.event.as_node, exc)

    async def _capture(self, transport: Transport) -> None:
        received: Received
        async for received in transport.messages():
            if not received.payload or received.payload in self._sent:
                continue
            self.account.captured += 1
            if received.topic == self._topic:
                self._own = received.payload
            else:
                self._other = received.payload

    async def _forge(self, transport: Transport, start: RunControl) -> None:
        event = self.event
        end_s = min(event.end_s, self.scenario.duration_s)
        k = 0
        while (t := event.at_s + k / event.rate_hz) < end_s:
            await asyncio.sleep(max(0.0, (t - _sim_now(start)) / start.speed))
            form = event.forms[k % len(event.forms)]
            k += 1
            payload = self._payload(form, start.run_id, t)
            if payload is None:
                self.account.not_sent[form.value] = self.account.not_sent.get(form.value, 0) + 1
                continue
            self._sent.add(payload)
            await transport.publish(self._topic, payload)
            self.account.published[form.value] = self.account.published.get(form.value, 0) + 1

    def _payload(self, form: ForgeryForm, run_id: str, t: float) -> bytes | None:
        if form is ForgeryForm.REPLAYED:
            return self._own
        if form is ForgeryForm.WRONG_SIGNER:
            return self._other
        scan = self._scan(run_id, t)
        if scan is None:
            return None
        if form is ForgeryForm.STALE:
            old = Envelope(body=scan, origin=self.event.as_node, sent_ns=time.time_ns() - 2 * self._window_ns)
            return old.to_bytes() if self._recorder is None else self._recorder.seal(old.to_bytes())
        env = Envelope(body=scan, origin=self.event.as_node).to_bytes()
        return self._own_key.seal(env) if form is ForgeryForm.FOREIGN_KEY else env

    def _scan(self, run_id: str, t: float) -> SensorScan | None:
        """The member's sensor seeing the phantom at ``t``, exactly; None once the phantom has landed."""
        state = self._trajectory.state(t)
        if state is None:
            return None
        spec, here = self.spec, self._sensor.position(t)
        seen = observe(here, (state.lat, state.lon, state.alt_m))
        ranging = spec.kind.measures_range
        report = ThreatReport(
            run_id=run_id,
            sensor_id=spec.id,
            sensor_kind=spec.kind.value,
            sensor_lat=here[0],
            sensor_lon=here[1],
            sensor_alt_m=here[2],
            time_s=t,
            bearing_deg=seen.azimuth_deg % 360.0,
            sigma_bearing_deg=spec.sigma_bearing_deg,
            range_m=seen.slant_range_m if ranging else None,
            sigma_range_m=spec.sigma_range_m if ranging else None,
            elevation_deg=seen.elevation_deg if ranging and spec.sigma_elevation_deg else None,
            sigma_elevation_deg=spec.sigma_elevation_deg if ranging and spec.sigma_elevation_deg else None,
            max_range_m=spec.range_m,
        )
        return SensorScan(run_id=run_id, reports=(report,))


def _sim_now(start: RunControl) -> float:
    return (time.time_ns() - start.epoch_ns) / 1e9 * start.speed
