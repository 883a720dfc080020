"""A member state's node: runs its sensors against the ground truth, shares reports with its grids,
and records when it first learns of each threat.

The same class runs as one task of ``gridsim run`` or as its own process (``gridsim node``).
"""

from __future__ import annotations

import asyncio
import logging

from grid import topics
from grid.messages import (
    Awareness,
    AwarenessSource,
    Envelope,
    FusedTrack,
    ThreatReport,
)
from grid.roster import MemberState, Roster
from grid.sensors import Measurement, SimulatedSensor
from grid.service import ActiveRun, GridService
from grid.truth import GroundTruth

__all__ = ["MemberNode"]

log = logging.getLogger(__name__)


class MemberNode(GridService):
    """One member state's node."""

    def __init__(self, member: MemberState, *, roster: Roster, host: str, port: int) -> None:
        super().__init__(
            service_id=member.id,
            host=host,
            port=port,
            roster=roster,
            subscriptions=[*(topics.grid_reports(g) for g in member.grids), topics.TRACKS],
        )
        self.member = member
        self.awareness: dict[str, tuple[float, AwarenessSource]] = {}
        self._seen: dict[str, str] = {}  # message id -> topic, to tell duplicates from grid copies
        self._report_topics = [topics.report_topic(g, member.id) for g in member.grids]

    def on_run_start(self, run: ActiveRun) -> None:
        """Reset the per-run records."""
        self.awareness = {}
        self._seen = {}
        for key in ("published", "publish_copies", "received_reports", "received_tracks"):
            self.counters[key] = 0

    async def play(self, run: ActiveRun) -> None:
        """Scan every sensor on its own schedule until the scenario ends."""
        truth = GroundTruth(run.scenario)
        async with asyncio.TaskGroup() as group:
            for spec in self.member.sensors:
                sensor = SimulatedSensor(spec, seed=run.scenario.seed)
                group.create_task(
                    self._scan_loop(run, truth, sensor), name=f"grid[{self.service_id}].sensor[{spec.id}]"
                )

    async def _scan_loop(self, run: ActiveRun, truth: GroundTruth, sensor: SimulatedSensor) -> None:
        # Scans before "now" (a late join) still draw their random numbers, so streams stay aligned.
        joined_at = run.clock.now()
        for t in sensor.scan_times(run.scenario.duration_s):
            if t >= joined_at:
                await run.clock.sleep_until(t)
            detections = sensor.scan(t, truth.at(t))
            if t < joined_at:
                continue
            for m in detections:
                await self._share(run, sensor, m)

    async def _share(self, run: ActiveRun, sensor: SimulatedSensor, m: Measurement) -> None:
        spec = sensor.spec
        report = ThreatReport(
            run_id=run.run_id,
            sensor_id=spec.id,
            sensor_kind=spec.kind.value,
            sensor_lat=m.sensor_lat,
            sensor_lon=m.sensor_lon,
            sensor_alt_m=m.sensor_alt_m,
            time_s=m.time_s,
            bearing_deg=m.bearing_deg,
            sigma_bearing_deg=spec.sigma_bearing_deg,
            range_m=m.range_m,
            sigma_range_m=spec.sigma_range_m if m.range_m is not None else None,
            elevation_deg=m.elevation_deg,
            sigma_elevation_deg=spec.sigma_elevation_deg if m.elevation_deg is not None else None,
            max_range_m=spec.range_m,
            truth_id=m.threat_id,
        )
        payload = Envelope(body=report, origin=self.service_id).to_bytes()
        # Counted before sending: a run that ends mid-send has still put this report on the wire.
        self.counters["published"] += 1
        for topic in self._report_topics:
            self.counters["publish_copies"] += 1
            await self.publish_raw(topic, payload)
        if m.threat_id is not None:  # None: a false alarm, which teaches nothing
            self._learn(run, m.threat_id, m.time_s, AwarenessSource.OWN_SENSOR)

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """Grid reports and fused tracks: count them and note first awareness of each threat."""
        run = self.run
        body = env.body
        if run is None or getattr(body, "run_id", None) != run.run_id:
            self.counters["other_run"] += 1
            return
        if isinstance(body, ThreatReport):
            first_grid = self._seen.get(env.msg_id)
            if first_grid is not None:
                self.counters["duplicates" if first_grid == parsed.grid else "grid_copies"] += 1
                return
            self._seen[env.msg_id] = str(parsed.grid)
            if env.origin == self.service_id:
                return  # our own report, back from a grid we publish to
            self.counters["received_reports"] += 1
            if body.truth_id is not None:
                self._learn(run, body.truth_id, run.clock.now(), AwarenessSource.GRID_REPORT)
        elif isinstance(body, FusedTrack):
            self.counters["received_tracks"] += 1
            if body.status == "confirmed":
                for threat_id in body.truth_ids:
                    self._learn(run, threat_id, run.clock.now(), AwarenessSource.FUSED_TRACK)

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
