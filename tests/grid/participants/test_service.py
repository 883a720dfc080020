"""GridService on the in-memory broker and a virtual clock: decoding, counting, following runs."""

from __future__ import annotations

import asyncio
import time

import msgspec

from grid.participants.service import ActiveRun, GridService
from grid.wire import topics
from grid.wire.messages import Envelope, NodeState, NodeStatus, RunAction, RunControl, ThreatReport
from grid.world.roster import Roster
from tests.grid.participants.memory_grid import (
    MemoryGrid,
    report,
    short_scenario,
    start_control,
    steps,
    until,
)


class Recorder(GridService):
    """A service that records the runs it follows and the messages it is handed."""

    def __init__(self, grid: MemoryGrid, roster: Roster) -> None:
        super().__init__(
            service_id="RO",
            roster=roster,
            subscriptions=[f"{topics.ROOT}/#"],
            session_factory=grid.broker.session,
            clock_factory=grid.clock_factory,
        )
        self.handled: list[Envelope] = []
        self.started: list[str] = []
        self.ended: list[str] = []
        self.release_settle = asyncio.Event()
        self.release_settle.set()
        self.fail_on: str | None = None  # a sensor id whose reports make on_message raise

    def on_run_start(self, run: ActiveRun) -> None:
        """Record the run."""
        self.started.append(run.run_id)

    async def settle(self) -> None:
        """Wait as long as the test says (like the fusion centre waiting for final counts)."""
        await self.release_settle.wait()

    async def on_run_end(self) -> None:
        """Record the run's end."""
        assert self.run is not None
        self.ended.append(self.run.run_id)

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """Record the message (or trip over it)."""
        if isinstance(env.body, ThreatReport) and env.body.sensor_id == self.fail_on:
            raise ValueError("a fault in the handler")
        if parsed.kind is topics.TopicKind.REPORT:
            self.handled.append(env)


async def test_start_and_end_publish_the_retained_status(roster: Roster) -> None:
    """A start makes the service RUNNING in that run; its end makes it ONLINE again, counters kept."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    async with grid.serving(service):
        assert (status := grid.status("RO")) is not None
        assert status.state is NodeState.ONLINE
        await grid.start("run-1", short_scenario())
        await until(lambda: service.run is not None, "the run started")
        status = grid.status("RO")
        assert status is not None
        assert (status.state, status.run_id) == (NodeState.RUNNING, "run-1")
        await grid.send(topics.report_topic("BG"), report("run-1", "BG-RFDF-SHABLA"), origin="BG")
        await grid.end("run-1")
        await until(lambda: service.run is None, "the run ended")
        status = grid.status("RO")
        assert status is not None
        assert (status.state, status.run_id) == (NodeState.ONLINE, "run-1")
        assert service.started == service.ended == ["run-1"]
        assert len(service.handled) == 1
    final = grid.status("RO")
    assert final is not None
    assert final.state is NodeState.OFFLINE, "a clean stop says offline itself"


async def test_bad_messages_are_counted_by_reason_and_the_service_goes_on(roster: Roster) -> None:
    """A bad topic, payload, origin or topic/origin pair is counted as rejected.<reason>; good ones pass."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    async with grid.serving(service):
        await grid.start("run-1", short_scenario())
        await until(lambda: service.run is not None, "the run started")
        good = report("run-1", "BG-RFDF-SHABLA")
        await grid.wire.publish(f"{topics.ROOT}/nonsense/x", Envelope(body=good, origin="BG").to_bytes())
        await grid.wire.publish(topics.report_topic("BG"), b"\xc1 not msgpack")
        await grid.send(topics.report_topic("XX"), good, origin="XX")
        await grid.send(topics.report_topic("BG"), good, origin="TR")
        await grid.send(topics.report_topic("BG"), good, origin="BG")
        await until(lambda: len(service.handled) == 1, "the good report handled")
    assert service.handled[0].origin == "BG"
    assert {k: v for k, v in service.counters.items() if k.startswith("rejected.")} == {
        "rejected.bad_topic": 1,
        "rejected.not_msgpack": 1,
        "rejected.unknown_node": 1,
        "rejected.origin_mismatch": 1,
    }


async def test_a_fault_in_a_handler_is_counted_and_the_next_message_handled(roster: Roster) -> None:
    """An exception from on_message is counted as errors.<type>; the receive loop goes on."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    service.fail_on = "BG-RAD-CAPE-GALATA"
    async with grid.serving(service):
        await grid.start("run-1", short_scenario())
        await until(lambda: service.run is not None, "the run started")
        topic = topics.report_topic("BG")
        await grid.send(topic, report("run-1", "BG-RAD-CAPE-GALATA"), origin="BG")
        await grid.send(topic, report("run-1", "BG-RFDF-SHABLA"), origin="BG")
        await until(lambda: len(service.handled) == 1, "the report after the fault handled")
    assert service.counters["errors.ValueError"] == 1


async def test_control_from_elsewhere_and_bad_scenarios_are_refused(roster: Roster) -> None:
    """Control not from the controller is rejected.bad_control; an invalid scenario rejected.bad_scenario."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    async with grid.serving(service):
        await grid.send(topics.CONTROL, start_control("run-1", short_scenario()), origin="BG")
        broken = RunControl(
            action=RunAction.START, run_id="run-2", epoch_ns=0, speed=1.0, scenario={"name": "no threats"}
        )
        await grid.send(topics.CONTROL, broken)
        await until(lambda: service.counters["rejected.bad_scenario"] == 1, "the bad scenario refused")
        await steps()
    assert service.counters["rejected.bad_control"] == 1
    assert service.started == []


async def test_a_stale_retained_start_is_ignored(roster: Roster) -> None:
    """A start whose scenario is over by the run's clock is a leftover retained message: not played."""
    grid = MemoryGrid()
    await grid.clock.advance_to(61.0)
    service = Recorder(grid, roster)
    async with grid.wire:
        await grid.start("old-run", short_scenario(60.0))
    grid.wire = grid.broker.session(client_id="test-wire-2")
    async with grid.serving(service):
        await steps()
        await grid.start("new-run", short_scenario(120.0))
        await until(lambda: service.run is not None, "the fresh run started")
    assert service.started == ["new-run"]


def test_a_run_on_the_wall_clock_is_over_after_its_scenario() -> None:
    """On the default scaled clock a run whose scenario ended an hour ago is over; a future one is not."""
    hour_ns = 3600 * 10**9
    past = msgspec.structs.replace(
        start_control("old", short_scenario(60.0)), epoch_ns=time.time_ns() - hour_ns
    )
    future = msgspec.structs.replace(past, run_id="new", epoch_ns=time.time_ns() + hour_ns)
    assert ActiveRun.from_control(past).is_over()
    assert not ActiveRun.from_control(future).is_over()


async def test_a_redelivered_start_does_not_restart_the_run(roster: Roster) -> None:
    """The same start again (a reconnect re-sends the retained one) leaves the run as it is."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    async with grid.serving(service):
        await grid.start("run-1", short_scenario())
        await until(lambda: service.run is not None, "the run started")
        service.session.hold()
        service.session.release()
        await grid.start("run-1", short_scenario())
        await steps()
        assert service.started == ["run-1"]
        assert service.session.reconnects == 1
        await grid.end("run-1")
        await until(lambda: service.run is None, "the run ended")
    statuses = grid.bodies(topics.status_topic("RO"), NodeStatus)
    online = [s for s in statuses if s.state is NodeState.ONLINE and s.run_id == "run-1"]
    assert online[-1].counters["reconnects"] == 1, "the run's reconnects are in its final status"


async def test_a_new_start_while_ending_switches_without_blocking_the_receive_loop(roster: Roster) -> None:
    """While the old run settles, the loop still receives; the new run's messages wait and come in order."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    service.release_settle.clear()
    topic = topics.report_topic("BG")
    async with grid.serving(service):
        await grid.start("run-1", short_scenario())
        await until(lambda: service.run is not None, "run-1 started")
        await grid.start("run-2", short_scenario())
        # run-1 is settling; run-2's reports arrive meanwhile, and so does a late one of run-1.
        early = [
            await grid.send(topic, report("run-2", "BG-RFDF-SHABLA", time_s=t), origin="BG") for t in (1, 2)
        ]
        late = await grid.send(topic, report("run-1", "BG-RFDF-SHABLA"), origin="BG")
        await until(lambda: late.msg_id in {e.msg_id for e in service.handled}, "run-1's late report handled")
        assert service.started == ["run-1"], "run-2 waits for run-1 to finish"
        service.release_settle.set()
        await until(lambda: service.started == ["run-1", "run-2"], "run-2 started")
        after = await grid.send(topic, report("run-2", "BG-RFDF-SHABLA", time_s=3), origin="BG")
        await until(lambda: len(service.handled) == 4, "run-2's reports handled")
    assert service.ended == ["run-1"]
    assert [e.msg_id for e in service.handled] == [late.msg_id, *(e.msg_id for e in early), after.msg_id]
    assert service.run is not None
    assert service.run.run_id == "run-2"


async def test_a_run_ended_before_it_could_start_still_starts_and_ends(roster: Roster) -> None:
    """End of run-1, start and end of run-2, all while run-1 settles: both runs end, in order."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    service.release_settle.clear()
    async with grid.serving(service):
        await grid.start("run-1", short_scenario())
        await until(lambda: service.run is not None, "run-1 started")
        await grid.end("run-1")
        await grid.start("run-2", short_scenario())
        await grid.end("run-2")
        await steps()
        assert (service.started, service.ended) == (["run-1"], [])
        service.release_settle.set()
        await until(lambda: len(service.ended) == 2 and service.run is None, "both runs ended")
    assert service.started == service.ended == ["run-1", "run-2"]


async def test_a_clean_exit_publishes_offline_and_a_hold_leaves_the_will(roster: Roster) -> None:
    """hold() makes the broker publish the service's will (offline); release() says running again."""
    grid = MemoryGrid()
    service = Recorder(grid, roster)
    async with grid.serving(service):
        await grid.start("run-1", short_scenario())
        await until(lambda: service.run is not None, "the run started")
        service.session.hold()
        will = grid.status("RO")
        assert will is not None
        assert (will.state, will.run_id) == (NodeState.OFFLINE, None)
        service.session.release()
        back = grid.status("RO")
        assert back is not None
        assert (back.state, back.run_id) == (NodeState.RUNNING, "run-1")
