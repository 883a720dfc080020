"""The fusion centre's MQTT edge: reports in, fused tracks out.

Everything asynchronous stays here; estimation is the synchronous :mod:`grid.fusion` tracker,
fed each report at its *measurement* time. The tracks go out as a rate-bounded air picture
(:mod:`grid.participants.air_picture`); every tracker update is logged and sent with the run's
account, for the summary (:mod:`grid.participants.track_log`). The centre measures the
wall-clock delay from each report's publish to its receipt here, and accounts for every report:
delivered, duplicate, or rejected by reason.

With a ``journal_dir`` every report message is journaled (:mod:`grid.participants.journal`)
before it is acknowledged, and a centre restarted in the run (its process killed) fuses the
journal again first: same tracks, counts and latencies, then what its session queued meanwhile;
a message both journaled and sent again is a duplicate, dropped by its id and counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from pathlib import Path

import numpy as np

from grid.errors import MessageRejected
from grid.evaluation.picture import updates_from_snapshots
from grid.fusion import Tracker, TrackSnapshot, default_tracker
from grid.geo import LocalFrame
from grid.mqtt.session import SessionFactory
from grid.participants.air_picture import DEFAULT_TRACK_INTERVAL_S, AirPicture, check_track_interval
from grid.participants.detections import detection_from_report
from grid.participants.journal import Journal, JournalRecord
from grid.participants.seen import SeenReports
from grid.participants.service import FUSION_ID, ActiveRun, ClockFactory, GridService, scaled_clock
from grid.participants.track_log import TrackLog
from grid.security.signing import SigningKeys
from grid.wire import topics
from grid.wire.counters import ERRORS_PREFIX, REJECTED_PREFIX, CounterName, rejected_counter
from grid.wire.messages import (
    Envelope,
    FusedTrack,
    FusionStats,
    NodeState,
    NodeStatus,
    ThreatReport,
    reports_in,
)
from grid.world.roster import Roster

__all__ = ["SETTLE_COUNTED_IDLE_S", "SETTLE_IDLE_S", "FusionCentre", "percentiles"]

log = logging.getLogger(__name__)

# After a run's end the account waits for reports still in flight; it is sent as it stands only
# after this many wall seconds in which none arrived, so an overloaded grid is late, not incomplete.
SETTLE_IDLE_S = 30.0
# Once every node's final count is in, each node's reports were acknowledged before its count was
# sent: what is still missing after this spell of silence was lost by the broker.
SETTLE_COUNTED_IDLE_S = 5.0


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95, p99, max, mean and count of ``samples`` (all zero when empty)."""
    if not samples:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0, "count": 0.0}
    arr = np.asarray(samples)
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(arr.max()),
        "mean": float(arr.mean()),
        "count": float(arr.size),
    }


class FusionCentre(GridService):
    """Subscribes to every report, tracks, and publishes fused tracks."""

    def __init__(
        self,
        *,
        roster: Roster,
        host: str = "127.0.0.1",
        port: int = 1883,
        session_factory: SessionFactory | None = None,
        clock_factory: ClockFactory = scaled_clock,
        signing: SigningKeys | None = None,
        track_interval_s: float = DEFAULT_TRACK_INTERVAL_S,
        journal_dir: Path | None = None,
    ) -> None:
        """The centre; each track is published at most once per ``track_interval_s`` (0: every update).

        ``journal_dir``: journal each run's reports there, and replay a run's journal on restart
        (its session should then ``resume`` with ``manual_ack``: :func:`grid.mqtt.session.broker_sessions`).
        """
        self.track_interval_s = check_track_interval(track_interval_s)
        self.journal_dir = journal_dir
        self._journal: Journal | None = None
        self.replayed = 0  # reports fused again from the journal on a restart
        # Reports of a journaled run that came before its start (a restart's queue comes first).
        self._early: list[tuple[Envelope, int]] = []
        super().__init__(
            service_id=FUSION_ID,
            host=host,
            port=port,
            roster=roster,
            subscriptions=[topics.ALL_REPORTS, topics.ALL_STATUS],
            session_factory=session_factory,
            clock_factory=clock_factory,
            signing=signing,
        )
        self._sensor_owner = roster.sensor_owner()
        self.tracker: Tracker = default_tracker()
        self.frame = LocalFrame(0.0, 0.0)
        self.latency_ms: list[float] = []
        self.latency_by_node: dict[str, list[float]] = {}  # node -> the latency_ms of its reports
        self.update_us: list[float] = []
        self.age_ms: dict[str, list[float]] = {}  # node -> simulated age of its reports on arrival
        self._seen = SeenReports()
        self._delivered: set[str] = set()  # ids of the reports delivered (a scan's: <message id>.<i>)
        self._node_published: dict[str, int] = {}  # node id -> reports it says it published this run
        # node id -> {message id: acceptance time} of its reports from a broker outage on
        self._outage_reports: dict[str, dict[str, float]] = {}
        self._resubscribed_s: list[float] = []
        self._arrivals = asyncio.Event()
        self.air_picture = AirPicture(self.track_interval_s)
        self.track_log = TrackLog()
        self._held_tracks = asyncio.Event()  # set when the air picture starts holding a snapshot

    def on_run_start(self, run: ActiveRun) -> None:
        """A fresh tracker in the run's theater frame."""
        self.tracker = default_tracker()
        self.frame = LocalFrame(*run.scenario.origin)
        self.latency_ms = []
        self.latency_by_node = {}
        self.update_us = []
        self.age_ms = {}
        self._seen = SeenReports()
        self._delivered = set()
        self._node_published = {}
        self._outage_reports = {}
        self._resubscribed_s = []
        self.air_picture = AirPicture(self.track_interval_s)
        self.track_log = TrackLog()
        self.replayed = 0
        if self.journal_dir is not None:
            self._resume(run, Journal(self.journal_dir, run.run_id))

    def _resume(self, run: ActiveRun, journal: Journal) -> None:
        """Fuse what the journal holds (a restart's), then the reports that came before the start."""
        self._journal = None  # not written while replayed
        for record in journal.replay():
            try:
                env = Envelope.from_bytes(record.payload)
            except MessageRejected:
                self.counters[rejected_counter("journal")] += 1
                continue
            self.replayed += 1
            self._fuse(env, run, record.received_ns, record.now_s, replay=True)
        if self.replayed:
            log.warning("fusion: resumed run %s from its journal, %d messages", run.run_id, self.replayed)
        journal.open()
        self._journal = journal
        early, self._early = self._early, []
        for env, received_ns in early:
            self._fuse(env, run, received_ns, run.clock.now())

    async def play(self, run: ActiveRun) -> None:
        """Publish each held track snapshot when its interval has elapsed on the run's clock.

        A track that stops updating still has its latest state sent, at most one interval late;
        the run's end sends whatever is still held (:meth:`on_run_end`).
        """
        while True:
            due_at = self.air_picture.next_due()
            if due_at is None:
                self._held_tracks.clear()
                await self._held_tracks.wait()
                continue
            await run.clock.sleep_until(due_at)
            self._post_tracks(run, self.air_picture.due(run.clock.now()))

    def _on_connect(self) -> list[tuple[str, bytes, bool]]:
        """Called once the subscriptions are (re-)established: during a run, note when."""
        if self.run is not None:
            self._resubscribed_s.append(round(self.run.clock.now(), 3))
        return super()._on_connect()

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """Fuse the reports of one message (a sensor scan's, or a lone report) in one tracker update."""
        received_ns = time.time_ns()
        body = env.body
        run = self.run
        if isinstance(body, NodeStatus):
            if run is not None and body.run_id == run.run_id and body.state is NodeState.ONLINE:
                self._node_published[body.node_id] = body.counters.get(CounterName.PUBLISHED, 0)
                self._outage_reports[body.node_id] = dict(
                    zip(body.outage_reports, body.outage_published_s, strict=True)
                )
                self._arrivals.set()
            return
        reports = reports_in(env)
        if not reports:
            self.counters[rejected_counter("unexpected_type")] += 1
            return
        if run is None or reports[0][1].run_id != run.run_id:
            if run is None and self._journaled(reports[0][1]):
                self._early.append((env, received_ns))
                return
            self.counters[CounterName.OTHER_RUN] += len(reports)
            return
        self._fuse(env, run, received_ns, run.clock.now())

    def _journaled(self, report: ThreatReport) -> bool:
        """Whether ``report`` is of a run this centre journaled: it is restarting into it."""
        return self.journal_dir is not None and Journal(self.journal_dir, report.run_id).path.exists()

    def _fuse(
        self, env: Envelope, run: ActiveRun, received_ns: int, now: float, *, replay: bool = False
    ) -> None:
        """One message of the run, received at ``received_ns`` (wall), fused at ``now`` (run clock)."""
        if self._journal is not None:
            self._journal.append(JournalRecord(received_ns, now, env.to_bytes()))
        reports = reports_in(env)
        if self._seen.repeat(env.msg_id):
            self.counters[CounterName.DUPLICATES] += len(reports)
            return
        sensor_id = reports[0][1].sensor_id  # a scan's reports share their sensor
        if self._sensor_owner.get(sensor_id) != env.origin:
            self.counters[rejected_counter("unknown_sensor")] += len(reports)
            log.warning(
                "fusion rejected message %s: sensor %r is not %r's", env.msg_id, sensor_id, env.origin
            )
            return
        self.counters[CounterName.DELIVERED] += len(reports)
        self._arrivals.set()
        latency_ms = (received_ns - env.sent_ns) / 1e6
        ages = self.age_ms.setdefault(env.origin, [])
        node_latency = self.latency_by_node.setdefault(env.origin, [])
        detections = []
        for report_id, report in reports:
            self._delivered.add(report_id)
            self.latency_ms.append(latency_ms)
            node_latency.append(latency_ms)
            ages.append((now - report.time_s) * 1000)
            detections.append(detection_from_report(self.frame, report_id, env.origin, report))
        started = time.perf_counter()
        changed = self.tracker.update(now, detections)
        self.update_us.append((time.perf_counter() - started) * 1e6)
        self.track_log.extend(updates_from_snapshots((now, s) for s in changed))
        for snapshot in changed:
            due = self.air_picture.offer(now, snapshot)
            if not replay:  # a replay's tracks went out before the restart
                self._post_tracks(run, due)
        if self.air_picture.next_due() is not None:
            self._held_tracks.set()

    def _post_tracks(self, run: ActiveRun, snapshots: list[TrackSnapshot]) -> None:
        for snapshot in snapshots:
            self.post(topics.TRACKS, self._track_message(run, snapshot))

    def _track_message(self, run: ActiveRun, s: TrackSnapshot) -> FusedTrack:
        east, north, ve, vn = (float(v) for v in s.state)
        # Altitude comes from noisy radar elevations (1 degree is 870 m at 50 km): keep it physical.
        lat, lon, alt = self.frame.surface_point(east, north, min(max(s.altitude_m, 0.0), 25_000.0))
        return FusedTrack(
            run_id=run.run_id,
            track_id=s.track_id,
            status=s.status.value,
            time_s=max(0.0, s.time),
            lat=lat,
            lon=lon,
            alt_m=alt,
            east_m=east,
            north_m=north,
            vel_east_mps=ve,
            vel_north_mps=vn,
            covariance=tuple(float(v) for v in np.asarray(s.covariance).ravel()),
            node_ids=tuple(sorted(s.node_ids)),
            truth_ids=tuple(sorted(s.truth_ids)),
            updates=s.updates,
        )

    def stats(self) -> FusionStats:
        """The account of the current run."""
        assert self.run is not None
        track_ids, track_log = self.track_log.rows()
        # Messages that tripped a fault ("errors.<type>") are reported beside the rejected ones.
        rejected = Counter(
            {
                k.removeprefix(REJECTED_PREFIX): v
                for k, v in self.counters.items()
                if k.startswith((REJECTED_PREFIX, ERRORS_PREFIX))
            }
        )
        return FusionStats(
            run_id=self.run.run_id,
            delivered=self.counters[CounterName.DELIVERED],
            duplicates=self.counters[CounterName.DUPLICATES],
            rejected=dict(rejected),
            latency_ms=percentiles(self.latency_ms),
            tracker={k: int(v) for k, v in self.tracker.counters.items()},
            update_us=percentiles(self.update_us),
            report_age_ms={
                f"{node}.{key}": round(value, 1)
                for node, ages in sorted(self.age_ms.items())
                for key, value in [*percentiles(ages).items(), ("min", min(ages, default=0.0))]
                if key in ("min", "p50", "p95", "count")
            },
            resubscribed_s=tuple(self._resubscribed_s),
            lost_published_s=tuple(
                sorted(
                    published_s
                    for reports in self._outage_reports.values()
                    for msg_id, published_s in reports.items()
                    if msg_id not in self._delivered
                )
            ),
            track_interval_s=self.track_interval_s,
            latency_samples_ms={
                node: tuple(round(v, 3) for v in samples)
                for node, samples in sorted(self.latency_by_node.items())
            },
            tracks_published=self.air_picture.published,
            track_ids=track_ids,
            track_log=track_log,
        )

    async def settle(self) -> None:
        """Wait until every node's final count of published reports has been delivered here.

        Reports still in flight when the run ends are fused, not lost, however long the backlog.
        The account is sent as it stands (the summary then shows the gap) after ``SETTLE_IDLE_S``
        with nothing arriving while a node's count is missing (it may be reconnecting), or after
        ``SETTLE_COUNTED_IDLE_S`` once every count is in.
        """
        while not self._caught_up():
            self._arrivals.clear()
            counted = set(self._node_published) >= set(self.roster)
            idle_s = SETTLE_COUNTED_IDLE_S if counted else SETTLE_IDLE_S
            try:
                async with asyncio.timeout(idle_s):
                    await self._arrivals.wait()
            except TimeoutError:
                silent = sorted(set(self.roster) - set(self._node_published))
                log.warning(
                    "fusion: account sent after %.0f s with nothing arriving (delivered %d; %d reports "
                    "published by the %d nodes that reported; silent: %s)",
                    idle_s,
                    self.counters[CounterName.DELIVERED],
                    sum(self._node_published.values()),
                    len(self._node_published),
                    ", ".join(silent) or "none",
                )
                return

    def _caught_up(self) -> bool:
        reported = set(self._node_published) >= set(self.roster)
        return reported and self.counters[CounterName.DELIVERED] >= sum(self._node_published.values())

    async def on_run_end(self) -> None:
        """Send the tracks' last states still held, then publish the run's account."""
        assert self.run is not None
        self._post_tracks(self.run, self.air_picture.flush(self.run.clock.now()))
        await self.publish(topics.FUSION_STATS, self.stats())
        if self._journal is not None:  # the run is accounted for: nothing left to resume
            self._journal.close()
            self._journal.path.unlink(missing_ok=True)
            self._journal = None
