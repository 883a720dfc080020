"""A restarted hub and Joint Cyber Centre rebuild their run from their journals: the same exchange,
what was not out yet sent again, a redelivery dropped by its id. Driven directly, on a virtual clock
(the broker and the kill itself: tests/grid/app/test_cyber_restart.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from grid.clock import VirtualClock
from grid.cyber.observables import observable_key
from grid.mqtt.memory import MemoryBroker
from grid.participants.hub import CyberHub
from grid.participants.jcc import JointCyberCentre
from grid.participants.node import MemberNode
from grid.participants.recovery import Recovery
from grid.participants.service import HUB_ID, JCC_ID, ActiveRun, GridService
from grid.wire import topics
from grid.wire.messages import Body, CyberAck, CyberFlag, CyberObjects, Envelope
from grid.world.events import ObservableType
from grid.world.roster import Roster
from grid.world.scenario import load_scenario
from tests.grid.participants.memory_grid import steps
from tests.grid.participants.test_cyber import URL, report_of

KEY = observable_key(ObservableType.URL, URL).key


def _run(clock: VirtualClock) -> ActiveRun:
    return ActiveRun("run-1", load_scenario("scenarios/cyber-phishing.yaml"), clock)


async def _feed(service: GridService, topic: str, body: Body, origin: str) -> Envelope:
    env = Envelope(body=body, origin=origin)
    await service.on_message(env, topics.parse_topic(topic))
    return env


def _outbox(service: GridService) -> list[tuple[str, Callable[[], None] | None]]:
    """Take what ``service`` posted: (topic, the broker-accepted callback)."""
    taken = []
    while not service._outbox.empty():
        topic, _, on_accepted = service._outbox.get_nowait()
        taken.append((topic, on_accepted))
    return taken


def _crash(recovery: Recovery) -> None:
    """What a SIGKILL leaves: the journal as written (its file closed by the OS)."""
    assert recovery._journal is not None
    recovery._journal.close()


def _hub(roster: Roster, journal: Path) -> CyberHub:
    return CyberHub(roster=roster, session_factory=MemoryBroker().session, journal_dir=journal)


async def test_a_restarted_hub_rebuilds_its_exchange_and_sends_only_what_was_not_out(
    roster: Roster, tmp_path: Path
) -> None:
    """Report, flag, ack, sighting, then a crash with 10 of 15 mitigations not out: the restarted
    hub has the same exchange, sends those 10 and no more, and drops a redelivery by its id."""
    clock = VirtualClock(20.0)
    run = _run(clock)
    first = _hub(roster, tmp_path)
    first.run = run
    first.on_run_start(run)
    await _feed(
        first, topics.cyber_report_topic("RO"), CyberObjects(run_id="run-1", objects=report_of("RO")), "RO"
    )
    ((topic, accepted),) = _outbox(first)
    assert topic == topics.CYBER_JCC
    assert callable(accepted)
    accepted()
    await clock.advance_to(25.0)
    await _feed(first, topics.CYBER_FLAGS, CyberFlag(run_id="run-1", key=KEY, time_s=25.0), JCC_ID)
    mitigations = _outbox(first)
    assert len(mitigations) == len(roster)
    for _, accepted in mitigations[:5]:  # the broker had these five when the process was killed
        assert callable(accepted)
        accepted()
    await _feed(
        first,
        topics.cyber_ack_topic("BG"),
        CyberAck(run_id="run-1", node_id="BG", key=KEY, time_s=25.5),
        "BG",
    )
    await clock.advance_to(30.0)
    sighting = await _feed(
        first, topics.cyber_report_topic("BG"), CyberObjects(run_id="run-1", objects=report_of("BG")), "BG"
    )
    _crash(first.recovery)

    second = _hub(roster, tmp_path)
    second.run = run
    restarted_ns = time.time_ns()
    second.on_run_start(run)
    assert second.exchange.metrics() == first.exchange.metrics()
    assert second.exchange.bundle().serialize() == first.exchange.bundle().serialize()
    assert [t for t, _ in _outbox(second)] == [t for t, _ in mitigations[5:]], "only what was not out"
    assert second.recovery.figures() == {
        "replayed": 4,
        "resent": 10,
        "redelivered": 0,
        "queued": 0,
        "late_keys": [],
    }
    # The sighting again (journaled, not acknowledged when killed), then an ack sent while down.
    await second.on_message(sighting, topics.parse_topic(topics.cyber_report_topic("BG")))
    late_ack = Envelope(
        body=CyberAck(run_id="run-1", node_id="RO", key=KEY, time_s=31.0),
        origin="RO",
        sent_ns=restarted_ns - 1,
    )
    await second.on_message(late_ack, topics.parse_topic(topics.cyber_ack_topic("RO")))
    figures = second.recovery.figures()
    assert (figures["redelivered"], figures["queued"], figures["late_keys"]) == (1, 1, [KEY])
    assert second.rejections() == {}, "a redelivery is the restart's, not a rejected message"
    assert second.exchange.metrics()["indicators"][0]["sightings"] == 1
    # The JCC's flag again (a restarted JCC's, out before its kill): the members have it already.
    await _feed(second, topics.CYBER_FLAGS, CyberFlag(run_id="run-1", key=KEY, time_s=26.0), JCC_ID)
    assert _outbox(second) == []
    assert second.recovery.figures()["repeated_flags"] == 1
    second.recovery.end()


async def test_the_hub_holds_a_restart_queue_that_comes_before_the_run_start(
    roster: Roster, tmp_path: Path
) -> None:
    """A journaled run's message before its (retained) start is held and handled once it starts;
    one of a run never journaled here is another run's."""
    clock = VirtualClock(20.0)
    run = _run(clock)
    first = _hub(roster, tmp_path)
    first.run = run
    first.on_run_start(run)
    _crash(first.recovery)
    second = _hub(roster, tmp_path)
    report = CyberObjects(run_id="run-1", objects=report_of("RO"))
    await _feed(second, topics.cyber_report_topic("RO"), report, "RO")
    other = CyberObjects(run_id="run-0", objects=report_of("RO"))
    await _feed(second, topics.cyber_report_topic("RO"), other, "RO")
    assert second.rejections() == {"other_run": 1}
    second.run = run
    second.on_run_start(run)
    assert len(second.exchange.metrics()["indicators"]) == 1
    assert second.recovery.figures()["queued"] == 1
    second.recovery.end()


async def test_a_restarted_jcc_keeps_its_indicators_and_flags_what_came_due_while_down(
    roster: Roster, tmp_path: Path
) -> None:
    """Two indicators, the first's flag out: after the restart, 2 received, 1 flagged, the other
    queued at once (due while down: a late flag); a redelivery of the first changes nothing."""
    clock = VirtualClock(20.0)
    run = _run(clock)

    def jcc() -> JointCyberCentre:
        return JointCyberCentre(roster=roster, session_factory=MemoryBroker().session, journal_dir=tmp_path)

    first = jcc()
    first.run = run
    first.on_run_start(run)
    shared = await _feed(
        first, topics.CYBER_JCC, CyberObjects(run_id="run-1", key="k1", objects="[]"), HUB_ID
    )
    await clock.advance_to(22.0)
    await _feed(first, topics.CYBER_JCC, CyberObjects(run_id="run-1", key="k2", objects="[]"), HUB_ID)
    flagged = first.recovery.on_sent(topics.CYBER_FLAGS, "k1")  # k1's flag was out at 25 s
    assert flagged is not None
    flagged()
    _crash(first.recovery)

    await clock.advance_to(40.0)
    second = jcc()
    second.run = run
    second.on_run_start(run)
    assert second.counters["indicators_received"] == 2
    assert second.counters["flags"] == 1
    assert second.counters["late_flags"] == 1
    assert second._queue.qsize() == 1, "k2 is still to flag"
    await second.on_message(shared, topics.parse_topic(topics.CYBER_JCC))
    assert second.counters["redelivered"] == 1
    assert second.counters["indicators_received"] == 2
    assert second.recovery.figures()["late_keys"] == ["k2"]
    task = asyncio.create_task(second.play(run))
    await steps()
    (_, flag, _) = second._outbox.get_nowait()
    body = Envelope.from_bytes(flag).body
    assert isinstance(body, CyberFlag)
    assert (body.key, body.late, body.time_s) == ("k2", True, 40.0), "flagged on the restart, said late"
    task.cancel()
    second.recovery.end()


async def test_a_member_acknowledges_a_mitigation_once(roster: Roster) -> None:
    """A key's mitigation again (a restarted hub's, out before the kill): a duplicate, not acked twice."""
    run = _run(VirtualClock(30.0))
    node = MemberNode(roster.member("RO"), roster=roster, session_factory=MemoryBroker().session)
    node.run = run
    node.on_run_start(run)
    notice = CyberObjects(run_id="run-1", key=KEY, objects="[]")
    await _feed(node, topics.mitigation_topic("RO"), notice, HUB_ID)
    await _feed(node, topics.mitigation_topic("RO"), notice, HUB_ID)
    assert [t for t, _ in _outbox(node)] == [topics.cyber_ack_topic("RO")]
    assert (node.counters["mitigations_received"], node.counters["duplicates"]) == (1, 1)
