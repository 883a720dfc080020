"""A member state's node: runs its sensors against the ground truth, shares reports with its grids,
and records when it first learns of each threat.

Each scan's reports are published once, as one message on the node's own report topic; the
broker fans it out to the node's peers (every member sharing a grid with it), whose report
topics the node subscribes to.

In distributed mode (``fuse_locally``) the node also fuses its own picture: its own reports and
the grid reports it accepts go into a tracker of its own, scored against the ground truth when
the run ends and published as a :class:`~grid.wire.messages.NodePicture`.

The same class runs as one task of ``gridsim run`` or as its own process (``gridsim node``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import msgspec

from grid.evaluation.metrics import assign_updates, assoc_radius_m, threat_metrics
from grid.evaluation.picture import TrackUpdate
from grid.evaluation.truth_table import TruthTable
from grid.fusion import Tracker, TrackStatus, default_tracker
from grid.geo import LocalFrame
from grid.mqtt.session import SessionFactory
from grid.participants.cert import cert_indicator, epoch_of
from grid.participants.detections import detection_from_report
from grid.participants.link import Link
from grid.participants.seen import SeenReports
from grid.participants.service import HUB_ID, ActiveRun, ClockFactory, GridService, scaled_clock
from grid.security.signing import SigningKeys
from grid.wire import topics
from grid.wire.counters import CounterName, rejected_counter
from grid.wire.messages import (
    OUTAGE_RECORD_MAX,
    Awareness,
    AwarenessSource,
    CyberAck,
    CyberObjects,
    Envelope,
    FusedTrack,
    NodePicture,
    NodeState,
    NodeStatus,
    SensorScan,
    ThreatReport,
    reports_in,
)
from grid.world.cert import cert_observations_for
from grid.world.events import NodeOutage
from grid.world.roster import MemberState, Roster
from grid.world.sensors import Measurement, SimulatedSensor
from grid.world.timeline import Timeline
from grid.world.truth import GroundTruth

__all__ = ["MemberNode", "node_subscriptions"]

log = logging.getLogger(__name__)

_RECORD_LEAD_S = 10.0  # simulation seconds before a broker outage from which accepted reports are kept


class _Picture:
    """A node's own tracker for one run and the confirmed track updates it made."""

    def __init__(self, run: ActiveRun) -> None:
        self.frame = LocalFrame(*run.scenario.origin)
        self.tracker: Tracker = default_tracker()
        self.updates: list[TrackUpdate] = []

    def fuse(self, now: float, origin: str, reports: list[tuple[str, ThreatReport]]) -> None:
        """Fuse one message's reports (id, report) at tracker time ``now``; keep the confirmed updates."""
        detections = [detection_from_report(self.frame, rid, origin, r) for rid, r in reports]
        for s in self.tracker.update(now, detections):
            if s.status is TrackStatus.CONFIRMED:
                # The same update the fusion centre's FusedTrack would give the summary.
                east, north, vel_east, vel_north = (float(v) for v in s.state)
                self.updates.append(
                    TrackUpdate(
                        time=max(0.0, s.time),
                        issued=max(now, s.time, 0.0),
                        track_id=s.track_id,
                        east=east,
                        north=north,
                        vel_east=vel_east,
                        vel_north=vel_north,
                    )
                )

    def scores(self, run: ActiveRun) -> dict[str, Any]:
        """Per threat: time to locate, RMSE and track updates, defined as in the run summary."""
        truth = GroundTruth(run.scenario)
        radius = run.scenario.locate_radius_m
        table = TruthTable(truth, until_s=run.scenario.duration_s)
        assigned = assign_updates(table, self.updates, assoc_radius_m(radius))
        out: dict[str, Any] = {}
        for threat_id in truth.trajectories:
            m = threat_metrics(
                truth,
                threat_id,
                first_report_s=None,
                assigned=assigned.get(threat_id, []),
                all_updates=self.updates,
                locate_radius_m=radius,
            )
            out[threat_id] = {k: m[k] for k in ("time_to_locate_s", "rmse_m", "track_updates")}
        return out


def node_subscriptions(node_id: str, roster: Roster) -> list[str]:
    """Every topic filter the node of ``node_id`` subscribes to: each peer's reports, the tracks,
    and the mitigations the cyber-exchange hub sends it.

    Not its own report topic: a node's reports do not come back to it.
    """
    return [
        *(topics.report_topic(p) for p in roster.peers(node_id)),
        topics.TRACKS,
        topics.mitigation_topic(node_id),
    ]


class MemberNode(GridService):
    """One member state's node."""

    # Set for each run by on_run_start, before any message of the run is handled.
    _timeline: Timeline
    _link: Link

    def __init__(
        self,
        member: MemberState,
        *,
        roster: Roster,
        host: str = "127.0.0.1",
        port: int = 1883,
        fuse_locally: bool = False,
        session_factory: SessionFactory | None = None,
        clock_factory: ClockFactory = scaled_clock,
        signing: SigningKeys | None = None,
    ) -> None:
        super().__init__(
            service_id=member.id,
            host=host,
            port=port,
            roster=roster,
            subscriptions=node_subscriptions(member.id, roster),
            session_factory=session_factory,
            clock_factory=clock_factory,
            signing=signing,
        )
        self.member = member
        self.awareness: dict[str, tuple[float, AwarenessSource]] = {}
        self._seen = SeenReports()
        self._report_topic = topics.report_topic(member.id)
        self._link_ready = asyncio.Event()
        self._scans_done = asyncio.Event()
        self.fuse_locally = fuse_locally
        self._picture: _Picture | None = None
        # (message id, simulation time the broker accepted it) of reports from a broker outage on.
        self._outage_accepted: list[tuple[str, float]] = []
        self._record_from_s = math.inf

    def on_run_start(self, run: ActiveRun) -> None:
        """Reset the per-run records; events come into force from the run's timeline."""
        self._timeline = Timeline(run.scenario)
        self._link = Link(self._timeline, self.service_id, run.scenario.seed)
        self.awareness = {}
        self._seen = SeenReports()
        self._picture = _Picture(run) if self.fuse_locally else None
        self._outage_accepted = []
        self._scans_done = asyncio.Event()
        # Reports are recorded from shortly before the first broker outage (never, without one):
        # one the broker accepted just before it stopped may not have reached the centre yet.
        outages = self._timeline.broker_outages()
        self._record_from_s = outages[0][0] - _RECORD_LEAD_S if outages else math.inf
        for key in (
            CounterName.PUBLISHED,
            CounterName.RECEIVED_REPORTS,
            CounterName.RECEIVED_TRACKS,
            CounterName.CYBER_REPORTS,
            CounterName.MITIGATIONS_RECEIVED,
            CounterName.MITIGATIONS_ACKED,
        ):
            self.counters[key] = 0

    async def play(self, run: ActiveRun) -> None:
        """Scan every sensor on its own schedule until the scenario ends, living through its events."""
        truth = GroundTruth(run.scenario)
        self._link_ready.clear()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._uplink(run), name=f"grid[{self.service_id}].uplink")
            group.create_task(self._outages(run), name=f"grid[{self.service_id}].outages")
            scans = [
                group.create_task(
                    self._scan_loop(run, truth, SimulatedSensor(spec, seed=run.scenario.seed)),
                    name=f"grid[{self.service_id}].sensor[{spec.id}]",
                )
                for spec in self.member.sensors
            ]
            scans.append(group.create_task(self._cert(run), name=f"grid[{self.service_id}].cert"))
            await asyncio.gather(*scans)
            self._scans_done.set()

    async def wind_down(self) -> None:
        """Make every scan up to the scenario's end before stopping: a node that fell behind the
        clock still reports all its measurements, so a run's measurements do not depend on load."""
        await self._scans_done.wait()

    async def _scan_loop(self, run: ActiveRun, truth: GroundTruth, sensor: SimulatedSensor) -> None:
        # Scans before "now" (a late join), while the node is out or the sensor failed, still draw
        # their random numbers, so every stream stays aligned with an undisturbed run.
        joined_at = run.clock.now()
        timeline, spec = self._timeline, sensor.spec
        for t in sensor.scan_times(run.scenario.duration_s):
            if t >= joined_at:
                await run.clock.sleep_until(t)
            lat, lon, _ = sensor.position(t)
            jam = timeline.jamming_at(lat, lon, t, spec.kind)
            targets = truth.at(t) + timeline.spoof_targets(self.service_id, t)
            detections = sensor.scan(t, targets, pd_factor=jam.pd_factor, noise_factor=jam.noise_factor)
            if t < joined_at:
                continue
            if timeline.is_node_out(self.service_id, t):
                self.counters[CounterName.REPORTS_SUPPRESSED_OUTAGE] += len(detections)
                continue
            if timeline.sensor_failed(spec.id, t):
                self.counters[CounterName.SCANS_LOST_SENSOR_FAILURE] += 1
                continue
            if jam.pd_factor < 1.0 or jam.noise_factor > 1.0:
                self.counters[CounterName.SCANS_JAMMED] += 1
            if detections:
                self._share(run, sensor, t, detections)

    async def _cert(self, run: ActiveRun) -> None:
        """Report each of the CERT's observations to the cyber-exchange hub when it is made.

        A report falls under the node's outages (none while it is out) but not under its link
        impairments, which model the sensor uplink: the CERT's traffic is small and rare.
        """
        epoch = epoch_of(run.epoch_ns)
        topic = topics.cyber_report_topic(self.service_id)
        for obs in cert_observations_for(run.scenario, self.service_id):
            if obs.at_s > run.scenario.duration_s:
                break
            await run.clock.sleep_until(obs.at_s)
            if self._timeline.is_node_out(self.service_id, obs.at_s):
                self.counters[CounterName.CYBER_REPORTS_SUPPRESSED_OUTAGE] += 1
                continue
            objects = f"[{cert_indicator(obs, epoch).serialize()}]"
            self.post(topic, CyberObjects(run_id=run.run_id, objects=objects))
            self.counters[CounterName.CYBER_REPORTS] += 1

    async def _uplink(self, run: ActiveRun) -> None:
        """Send reports held back by an impaired link when they are due."""
        while True:
            due = self._link.next_due()
            if due is None:
                self._link_ready.clear()
                await self._link_ready.wait()
                continue
            await run.clock.sleep_until(due)
            for topic, payload in self._link.release(run.clock.now()):
                self.post_raw(topic, payload)

    async def _outages(self, run: ActiveRun) -> None:
        """Drop off the broker for each outage of this node: its last will says offline.

        Reconnecting republishes the running status; the broker queued what was published to us
        meanwhile (a persistent session), so the node catches up on return.
        """
        for event in self._timeline.events:
            if isinstance(event, NodeOutage) and event.node == self.service_id:
                await run.clock.sleep_until(event.at_s)
                self.counters[CounterName.OUTAGES] += 1
                self.session.hold()
                try:
                    await run.clock.sleep_until(min(event.end_s, run.scenario.duration_s))
                finally:
                    self.session.release()

    def _share(
        self, run: ActiveRun, sensor: SimulatedSensor, t: float, detections: list[Measurement]
    ) -> None:
        """Publish one scan's reports as one message: the link delays or loses them together."""
        reports = tuple(self._report(run, sensor, m) for m in detections)
        env = Envelope(body=SensorScan(run_id=run.run_id, reports=reports), origin=self.service_id)
        shared = reports_in(env)
        if self._picture is not None:  # the node has its own measurements, whatever its link does
            self._picture.fuse(run.clock.now(), self.service_id, shared)
        payload = self.seal(self._report_topic, env.to_bytes())
        n = len(reports)
        due = self._link.through(t, len(payload), sensor.spec.id, t)
        if due is None:
            self.counters[CounterName.REPORTS_LOST_LINK] += n
        else:
            # Counted before sending: a run that ends mid-send has still put these reports on the wire.
            self.counters[CounterName.PUBLISHED] += n
            if due <= t:
                began_s = run.clock.now()
                ids = [report_id for report_id, _ in shared]
                self.post_raw(self._report_topic, payload, lambda: self._note_accepted(run, ids, began_s))
            else:
                self.counters[CounterName.REPORTS_DELAYED_LINK] += n
                self._link.hold(due, self._report_topic, payload)
                self._link_ready.set()
        for m in detections:
            if m.threat_id is not None:  # None: a false alarm, which teaches nothing
                self._learn(run, m.threat_id, m.time_s, AwarenessSource.OWN_SENSOR)

    @staticmethod
    def _report(run: ActiveRun, sensor: SimulatedSensor, m: Measurement) -> ThreatReport:
        spec = sensor.spec
        return ThreatReport(
            run_id=run.run_id,
            sensor_id=spec.id,
            sensor_kind=spec.kind.value,
            sensor_lat=m.sensor_lat,
            sensor_lon=m.sensor_lon,
            sensor_alt_m=m.sensor_alt_m,
            time_s=m.time_s,
            bearing_deg=m.bearing_deg,
            sigma_bearing_deg=spec.sigma_bearing_deg * m.noise_factor,
            range_m=m.range_m,
            sigma_range_m=spec.sigma_range_m * m.noise_factor if spec.sigma_range_m and m.range_m else None,
            elevation_deg=m.elevation_deg,
            sigma_elevation_deg=(
                spec.sigma_elevation_deg * m.noise_factor
                if spec.sigma_elevation_deg and m.elevation_deg is not None
                else None
            ),
            max_range_m=spec.range_m,
            truth_id=m.threat_id,
        )

    def _note_accepted(self, run: ActiveRun, report_ids: list[str], began_s: float) -> None:
        """Record reports the broker has accepted, from shortly before a broker outage on.

        A broker that keeps no sessions loses what it accepts before the fusion centre has
        re-subscribed; the centre names the recorded reports it never received (its account).
        The time kept is when the report was posted to the outbox: the broker accepted it no earlier.
        """
        if run.clock.now() < self._record_from_s:
            return
        room = OUTAGE_RECORD_MAX - len(self._outage_accepted)
        self._outage_accepted.extend((report_id, round(began_s, 3)) for report_id in report_ids[:room])

    def _status(self, state: NodeState) -> Envelope:
        """The status of :class:`GridService`, with the reports recorded since a broker outage."""
        env = super()._status(state)
        if not self._outage_accepted or not isinstance(env.body, NodeStatus):
            return env
        ids, times = zip(*self._outage_accepted, strict=True)
        body = msgspec.structs.replace(env.body, outage_reports=ids, outage_published_s=times)
        return Envelope(body=body, origin=self.service_id)

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """Grid reports and fused tracks: count them and note first awareness of each threat."""
        run = self.run
        body = env.body
        if run is None or getattr(body, "run_id", None) != run.run_id:
            self.counters[CounterName.OTHER_RUN] += 1
            return
        now = run.clock.now()
        if self._timeline.is_node_out(self.service_id, now):
            self.counters[CounterName.RECEIVED_WHILE_OUT] += 1
            return
        arrival = self._link.through(now, 0, "rx", env.msg_id)
        if arrival is None:
            self.counters[CounterName.RECEIVED_LOST_LINK] += 1
            return
        if isinstance(body, (SensorScan, ThreatReport)):
            shared = reports_in(env)
            if self._seen.repeat(env.msg_id):
                self.counters[CounterName.DUPLICATES] += len(shared)
                return
            self.counters[CounterName.RECEIVED_REPORTS] += len(shared)
            if self._picture is not None:
                self._picture.fuse(arrival, env.origin, shared)
            for _, report in shared:
                if report.truth_id is not None:
                    self._learn(run, report.truth_id, arrival, AwarenessSource.GRID_REPORT)
        elif isinstance(body, CyberObjects) and parsed.kind is topics.TopicKind.MITIGATION:
            self._acknowledge(run, env, body, arrival)
        elif isinstance(body, FusedTrack):
            self.counters[CounterName.RECEIVED_TRACKS] += 1
            if body.status == TrackStatus.CONFIRMED:
                for threat_id in body.truth_ids:
                    self._learn(run, threat_id, arrival, AwarenessSource.FUSED_TRACK)

    def _acknowledge(self, run: ActiveRun, env: Envelope, body: CyberObjects, arrival: float) -> None:
        """Acknowledge a mitigation from the hub at once (the node is warned when it arrives)."""
        if env.origin != HUB_ID or body.key is None:
            self.counters[rejected_counter("not_from_hub")] += 1
            return
        if self._seen.repeat(f"mitigation:{body.key}"):
            # A key's mitigation comes once; again only from a restarted hub (out before the kill,
            # not yet marked sent): a duplicate, already acknowledged.
            self.counters[CounterName.DUPLICATES] += 1
            return
        self.counters[CounterName.MITIGATIONS_RECEIVED] += 1
        ack = CyberAck(run_id=run.run_id, node_id=self.service_id, key=body.key, time_s=max(0.0, arrival))
        self.post(topics.cyber_ack_topic(self.service_id), ack)
        self.counters[CounterName.MITIGATIONS_ACKED] += 1

    def _learn(self, run: ActiveRun, threat_id: str, time_s: float, source: AwarenessSource) -> None:
        if threat_id in self.awareness:
            return
        self.awareness[threat_id] = (time_s, source)
        body = Awareness(
            run_id=run.run_id,
            node_id=self.service_id,
            threat_id=threat_id,
            time_s=max(0.0, time_s),
            source=source,
        )
        self.post(topics.awareness_topic(self.service_id), body)

    async def on_run_end(self) -> None:
        """In distributed mode, publish the node's own picture of the run (before its final status)."""
        run, picture = self.run, self._picture
        if run is None or picture is None:
            return
        body = NodePicture(run_id=run.run_id, node_id=self.service_id, threats=picture.scores(run))
        await self.publish(topics.picture_topic(self.service_id), body)
