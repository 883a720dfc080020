"""``gridsim run``: a broker, fifteen nodes and the fusion centre playing one scenario.

The run controller announces the run on the retained control topic (scenario, seed, speed and
the wall-clock epoch of simulation time 0), watches everything on the broker, ends the run,
collects each participant's account and writes ``summary.json``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from grid import topics
from grid.broker import BrokerInfo, open_broker
from grid.centre import FusionCentre
from grid.clock import ScaledClock
from grid.errors import RunError
from grid.messages import (
    Awareness,
    Envelope,
    FusedTrack,
    FusionStats,
    NodeState,
    NodeStatus,
    RunAction,
    RunControl,
    ThreatReport,
)
from grid.metrics import TrackPoint, assign_points, threat_metrics
from grid.node import MemberNode
from grid.roster import Roster
from grid.scenario import Scenario
from grid.service import CONTROLLER_ID, FUSION_ID, GridService
from grid.transport import Transport
from grid.truth import GroundTruth

__all__ = ["Progress", "RunOptions", "run_grid"]

log = logging.getLogger(__name__)

_START_LEAD_S = 0.5  # wall seconds between announcing a run and its simulation time 0
_DRAIN_S = 0.5  # wall seconds after the scenario ends for the last messages to arrive
_ACCOUNT_TIMEOUT_S = 20.0  # longer than the fusion centre's settle timeout


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What ``gridsim run`` was asked to do."""

    scenario: Scenario
    roster: Roster
    speed: float = 1.0
    broker_url: str | None = None
    broker_kind: Literal["auto", "mosquitto", "amqtt"] = "auto"
    broker_port: int | None = None
    out_dir: Path | None = None
    local_services: bool = True  # False: nodes and fusion are other processes on the broker
    join_timeout_s: float = 30.0


@dataclass(kw_only=True)
class Progress:
    """Live figures for the progress display."""

    sim_time_s: float = 0.0
    duration_s: float = 0.0
    reports: int = 0
    track_updates: int = 0
    confirmed_tracks: set[str] = field(default_factory=set)
    aware_nodes: set[str] = field(default_factory=set)


@dataclass
class _Observed:
    """Everything the controller saw on the broker during one run."""

    run_id: str
    first_report: dict[str, float] = field(default_factory=dict)
    track_points: list[TrackPoint] = field(default_factory=list)
    awareness: dict[str, dict[str, Awareness]] = field(default_factory=dict)
    final_status: dict[str, NodeStatus] = field(default_factory=dict)
    fusion: FusionStats | None = None
    reports_seen: set[str] = field(default_factory=set)
    measurements: list[tuple[str, float, float, float | None, float | None]] = field(default_factory=list)

    def measurement_digest(self) -> str:
        """A fingerprint of every measurement of the run, independent of arrival order and speed."""
        digest = hashlib.sha256()
        for m in sorted(self.measurements, key=lambda m: (m[0], m[1])):
            digest.update(repr(m).encode())
        return digest.hexdigest()[:16]


class _Controller:
    def __init__(self, options: RunOptions, broker: BrokerInfo, progress: Progress) -> None:
        self.options = options
        self.broker = broker
        self.progress = progress
        self.run_id = f"{options.scenario.name[:24]}-{os.urandom(4).hex()}"
        self.seen = _Observed(self.run_id)
        self.accounts_done = asyncio.Event()
        self.online: set[str] = set()
        self.online_changed = asyncio.Event()
        self.transport = Transport(host=broker.host, port=broker.port, client_id=f"gridsim-run-{self.run_id}")

    async def watch(self) -> None:
        async for received in self.transport.messages():
            if not received.payload:
                continue
            try:
                env = Envelope.from_bytes(received.payload)
            except Exception:  # noqa: BLE001 - participants count rejections; the watcher only observes
                continue
            self._observe(env)

    def _observe(self, env: Envelope) -> None:
        body, seen, progress = env.body, self.seen, self.progress
        if isinstance(body, NodeStatus):
            (self.online.discard if body.state is NodeState.OFFLINE else self.online.add)(body.node_id)
            self.online_changed.set()
        if getattr(body, "run_id", None) != self.run_id:
            return
        if isinstance(body, ThreatReport):
            if env.msg_id in seen.reports_seen:
                return
            seen.reports_seen.add(env.msg_id)
            seen.measurements.append(
                (body.sensor_id, body.time_s, body.bearing_deg, body.range_m, body.elevation_deg)
            )
            progress.reports += 1
            if body.truth_id is not None:
                prev = seen.first_report.get(body.truth_id)
                seen.first_report[body.truth_id] = body.time_s if prev is None else min(prev, body.time_s)
        elif isinstance(body, FusedTrack):
            progress.track_updates += 1
            confirmed = body.status == "confirmed"
            if confirmed:
                progress.confirmed_tracks.add(body.track_id)
            seen.track_points.append(
                TrackPoint(body.time_s, body.track_id, body.east_m, body.north_m, confirmed)
            )
        elif isinstance(body, Awareness):
            seen.awareness.setdefault(body.node_id, {}).setdefault(body.threat_id, body)
            progress.aware_nodes.add(body.node_id)
        elif isinstance(body, NodeStatus):
            if body.state is NodeState.ONLINE:
                seen.final_status[body.node_id] = body
        elif isinstance(body, FusionStats):
            seen.fusion = body
        if seen.fusion is not None and len(seen.final_status) >= len(self.options.roster) + 1:
            self.accounts_done.set()


async def _run_service(service: GridService) -> None:
    async with service:
        await service.serve()


async def _await_external(controller: _Controller, timeout_s: float) -> None:
    """Wait until every member node and the fusion centre say they are online on the broker."""
    expected = {FUSION_ID, *controller.options.roster}
    try:
        async with asyncio.timeout(timeout_s):
            while not expected <= controller.online:
                controller.online_changed.clear()
                await controller.online_changed.wait()
    except TimeoutError:
        missing = ", ".join(sorted(expected - controller.online))
        raise RunError(
            f"not online on {controller.broker.url} after {timeout_s:.0f} s: {missing} "
            "(start them with `gridsim node --id ID --broker URL` and `gridsim fusion --broker URL`)"
        ) from None


@contextlib.asynccontextmanager
async def _participants(options: RunOptions, broker: BrokerInfo) -> AsyncIterator[list[GridService]]:
    """The fusion centre and every member node, connected and serving, inside one TaskGroup."""
    if not options.local_services:
        yield []
        return
    services: list[GridService] = [FusionCentre(roster=options.roster, host=broker.host, port=broker.port)]
    services += [
        MemberNode(member, roster=options.roster, host=broker.host, port=broker.port)
        for member in options.roster.values()
    ]
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_run_service(s), name=f"grid[{s.service_id}].serve") for s in services]
        try:
            # A service that fails to connect fails the group, which cancels this wait.
            async with asyncio.timeout(15):
                for service in services:
                    await service.ready.wait()
            yield services
        finally:
            for task in tasks:
                task.cancel()


async def run_grid(
    options: RunOptions, *, on_progress: Callable[[Progress], None] | None = None
) -> dict[str, Any]:
    """Play ``options.scenario`` on a grid and return the summary (also written to ``out_dir``)."""
    scenario = options.scenario
    progress = Progress(duration_s=scenario.duration_s)
    wall_start = time.monotonic()
    log_path = None if options.out_dir is None else options.out_dir / "broker.log"
    async with open_broker(
        options.broker_url, kind=options.broker_kind, port=options.broker_port, log_path=log_path
    ) as broker:
        controller = _Controller(options, broker, progress)
        async with controller.transport, _participants(options, broker), asyncio.TaskGroup() as group:
            await controller.transport.subscribe(
                topics.ALL_REPORTS,
                topics.TRACKS,
                topics.ALL_STATUS,
                topics.ALL_AWARENESS,
                topics.FUSION_STATS,
            )
            watcher = group.create_task(controller.watch(), name="grid[run].watch")
            if not options.local_services:
                await _await_external(controller, options.join_timeout_s)
            clock = ScaledClock(epoch_ns=time.time_ns() + int(_START_LEAD_S * 1e9), speed=options.speed)
            control = RunControl(
                action=RunAction.START,
                run_id=controller.run_id,
                epoch_ns=clock.epoch_ns,
                speed=options.speed,
                seed=scenario.seed,
                scenario=scenario.to_dict(),
            )
            await _publish_control(controller.transport, control)
            while (now := clock.now()) < scenario.duration_s:
                progress.sim_time_s = max(0.0, now)
                if on_progress is not None:
                    on_progress(progress)
                await asyncio.sleep(0.1)
            progress.sim_time_s = scenario.duration_s
            if on_progress is not None:
                on_progress(progress)
            await asyncio.sleep(_DRAIN_S)
            end = RunControl(
                action=RunAction.END, run_id=controller.run_id, epoch_ns=clock.epoch_ns, speed=options.speed
            )
            await _publish_control(controller.transport, end)
            try:
                async with asyncio.timeout(_ACCOUNT_TIMEOUT_S):
                    await controller.accounts_done.wait()
            except TimeoutError:
                log.warning("not every participant reported its account within %.0f s", _ACCOUNT_TIMEOUT_S)
            await controller.transport.publish(topics.CONTROL, b"", retain=True)
            watcher.cancel()
        summary = _summary(options, broker, controller.seen, wall_s=time.monotonic() - wall_start)
    if options.out_dir is not None:
        options.out_dir.mkdir(parents=True, exist_ok=True)
        (options.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


async def _publish_control(transport: Transport, control: RunControl) -> None:
    await transport.publish(
        topics.CONTROL, Envelope(body=control, origin=CONTROLLER_ID).to_bytes(), retain=True
    )


def _summary(options: RunOptions, broker: BrokerInfo, seen: _Observed, *, wall_s: float) -> dict[str, Any]:
    scenario, roster = options.scenario, options.roster
    truth = GroundTruth(scenario)
    assoc_radius = max(1000.0, 5 * scenario.locate_radius_m)
    assigned = assign_points(truth, seen.track_points, assoc_radius)
    threats = [
        threat_metrics(
            truth,
            t.id,
            first_report_s=seen.first_report.get(t.id),
            assigned=assigned.get(t.id, []),
            all_points=seen.track_points,
            locate_radius_m=scenario.locate_radius_m,
        )
        for t in scenario.threats
    ]
    start = {t.id: t.start_s for t in scenario.threats}
    awareness = {
        node_id: {
            t.id: _awareness_entry(seen.awareness.get(node_id, {}).get(t.id), start[t.id])
            for t in scenario.threats
        }
        for node_id in roster
    }
    node_counters = {n: dict(s.counters) for n, s in seen.final_status.items() if n != FUSION_ID}
    fusion = seen.fusion
    rejected: Counter[str] = Counter(fusion.rejected if fusion else {})
    for counters in node_counters.values():
        rejected.update(
            {
                k.removeprefix("rejected."): v
                for k, v in counters.items()
                if k.startswith(("rejected.", "errors."))
            }
        )
    missing = sorted({FUSION_ID, *roster} - set(seen.final_status))
    return {
        "scenario": scenario.name,
        "run_id": seen.run_id,
        "seed": scenario.seed,
        "speed": options.speed,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "gridsim_version": _version(),
        "wall_time_s": round(wall_s, 2),
        "broker": broker.to_dict(),
        "nodes": {"count": len(roster), "ids": list(roster)},
        "locate_radius_m": scenario.locate_radius_m,
        "threats": threats,
        "awareness": awareness,
        "latency_ms": dict(fusion.latency_ms) if fusion else None,
        "fusion_update_us": dict(fusion.update_us) if fusion else None,
        "tracker": dict(fusion.tracker) if fusion else None,
        "messages": {
            "published": sum(c.get("published", 0) for c in node_counters.values()),
            "delivered": fusion.delivered if fusion else 0,
            "rejected": dict(sorted(rejected.items())),
            "duplicates": fusion.duplicates if fusion else 0,
            "grid_copies": fusion.grid_copies if fusion else 0,
            "track_updates": len(seen.track_points),
        },
        "measurement_digest": seen.measurement_digest(),
        "per_node": node_counters,
        "missing_accounts": missing,
    }


def _awareness_entry(event: Awareness | None, start_s: float) -> dict[str, Any]:
    if event is None:
        return {"time_to_awareness_s": None, "source": None}
    return {"time_to_awareness_s": round(event.time_s - start_s, 3), "source": event.source.value}


def _version() -> str:
    try:
        return metadata.version("gridsim")
    except metadata.PackageNotFoundError:
        return "unknown"
