"""Playing a scenario's ``broker_outage`` events: stop the broker gridsim started, restart it later.

``signal: kill`` stops it with SIGKILL, a crash: Mosquitto then restarts from its last autosave
(``broker/mosquitto.conf`` saves every second: a crash loses at most the last second's changes,
and the summary counts each report lost under the outage, ``reports_lost``).

Only a broker gridsim started can be stopped; on an external one the outage is recorded as not
played, with the reason. The participants ride through the outage on their sessions
(:mod:`grid.mqtt.session`): they reconnect, and what they published meanwhile is sent afterwards.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grid.clock import Clock
from grid.errors import BrokerStartError
from grid.mqtt.broker import BrokerInfo
from grid.world.events import BrokerOutage
from grid.world.timeline import Timeline

__all__ = ["PlayedOutage", "play_broker_outages"]

log = logging.getLogger(__name__)

_AMQTT_NOTE = (
    "amqtt keeps no sessions across a restart: what is published before a subscriber has "
    "re-subscribed is lost, and counted in messages.lost (Mosquitto keeps them)"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayedOutage:
    """What became of one broker outage: when the broker was really down, in simulation seconds."""

    at_s: float
    applied: bool
    killed: bool = False
    stopped_at_s: float | None = None
    restarted_at_s: float | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The fields recorded under the event in ``summary.json``."""
        out: dict[str, object] = {"applied": self.applied}
        if self.applied:
            out["down_interval_s"] = [self.stopped_at_s, self.restarted_at_s]
            out["stopped_by"] = "SIGKILL" if self.killed else "SIGTERM"
        if self.note is not None:
            out["note"] = self.note
        return out


async def play_broker_outages(
    broker: BrokerInfo, timeline: Timeline, clock: Clock, *, duration_s: float
) -> list[PlayedOutage]:
    """Stop and restart ``broker`` at each outage's times; returns one record per outage, in order.

    An outage that would last past the scenario's end is cut off there, so the run can finish.
    """
    outages = timeline.broker_outages()
    process = broker.process
    if process is None:
        note = "not played: the broker is external, and gridsim can only restart a broker it started"
        return [PlayedOutage(at_s=at, applied=False, note=note) for at, _ in outages]
    killed_at = {e.at_s for e in timeline.events if isinstance(e, BrokerOutage) and e.signal == "kill"}
    played: list[PlayedOutage] = []
    for at_s, end_s in outages:
        await clock.sleep_until(at_s)
        stopped = clock.now()
        killed = at_s in killed_at
        await (process.kill() if killed else process.stop())
        await clock.sleep_until(min(end_s, duration_s))
        try:
            await process.restart()
        except BrokerStartError:
            log.exception("the broker could not be restarted after its outage")
            raise
        played.append(
            PlayedOutage(
                at_s=at_s,
                applied=True,
                killed=killed,
                stopped_at_s=round(stopped, 3),
                restarted_at_s=round(clock.now(), 3),
                note=_AMQTT_NOTE if process.kind == "amqtt" else None,
            )
        )
        log.info(
            "broker outage at %.1f s (%s): down %.1f-%.1f s (simulation time)",
            at_s,
            "killed" if killed else "stopped",
            stopped,
            clock.now(),
        )
    return played
