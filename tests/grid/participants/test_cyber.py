"""The cyber exchange's participants on the in-memory broker and a virtual clock: member CERTs,
the hub (TLP routing, bad input) and the Joint Cyber Centre."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from grid.cyber.markings import Tlp
from grid.cyber.observables import observable_key
from grid.cyber.stix import indicator, member_identity, sim_time
from grid.participants import hub as hub_module
from grid.participants.cert import cert_indicator, epoch_of
from grid.participants.hub import CyberHub
from grid.participants.jcc import JointCyberCentre
from grid.participants.node import MemberNode
from grid.participants.service import HUB_ID, JCC_ID
from grid.wire import topics
from grid.wire.messages import CyberAck, CyberFlag, CyberObjects, CyberStats, Envelope
from grid.world.cert import cert_observations_for
from grid.world.events import ObservableType
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario
from tests.grid.participants.memory_grid import MemoryGrid, steps, until

URL = "https://constanta-port-logistics.example.com/invoice"
EPOCH = epoch_of(0)  # the memory grid's runs start at epoch 0


@pytest.fixture(autouse=True)
def _short_settling(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub waiting at a run's end for acks that never come gives up at once (no wall-clock wait)."""
    monkeypatch.setattr(hub_module, "SETTLE_IDLE_S", 0.01)


def phishing() -> Scenario:
    """The bundled cyber-phishing scenario."""
    return load_scenario("scenarios/cyber-phishing.yaml")


def make_hub(grid: MemoryGrid, roster: Roster) -> CyberHub:
    """The hub on ``grid``."""
    return CyberHub(
        roster=roster,
        session_factory=grid.broker.session,
        clock_factory=grid.clock_factory,
        settle_idle_s=0.01,
    )


def member_node(grid: MemoryGrid, roster: Roster, node_id: str) -> MemberNode:
    """A member's node on the memory broker and its virtual clock."""
    return MemberNode(
        roster.member(node_id),
        roster=roster,
        session_factory=grid.broker.session,
        clock_factory=grid.clock_factory,
    )


def report_of(member: str, value: str = URL, *, tlp: Tlp = Tlp.AMBER, **changes: Any) -> str:
    """``member``'s indicator of the URL ``value`` as the JSON text of a one-object list, fields changed."""
    obj = json.loads(
        indicator(
            observable_key(ObservableType.URL, value),
            creator=member_identity(member).id,
            tlp=tlp,
            at=sim_time(EPOCH, 1.0),
        ).serialize()
    )
    return json.dumps([{**obj, **changes}])


async def send_report(grid: MemoryGrid, member: str, objects: str, run_id: str = "run-1") -> Envelope:
    """Publish ``objects`` on ``member``'s CERT report topic, from ``member``."""
    body = CyberObjects(run_id=run_id, objects=objects)
    return await grid.send(topics.cyber_report_topic(member), body, origin=member)


def mitigated(grid: MemoryGrid) -> dict[str, list[str]]:
    """Per observable key, the members whose mitigation topic got its mitigation."""
    out: dict[str, list[str]] = {}
    for received in grid.broker.published("grid/v1/cyber/mitigations/+"):
        body = Envelope.from_bytes(received.payload).body
        assert isinstance(body, CyberObjects)
        assert body.key is not None
        out.setdefault(body.key, []).append(received.topic.rsplit("/", 1)[1])
    return {k: sorted(v) for k, v in out.items()}


async def test_cert_indicator_holds_the_reported_form_and_the_hub_sees_through_it() -> None:
    """Each CERT's pattern is the string it wrote; all five noisy URL forms share one key."""
    scenario = phishing()
    forms = {}
    for node in ("RO", "BG", "TR", "GR", "HU"):
        (obs,) = [o for o in cert_observations_for(scenario, node) if o.kind is ObservableType.URL]
        ind = cert_indicator(obs, EPOCH)
        assert obs.reported in ind.pattern.replace("\\'", "'")
        assert ind.created == sim_time(EPOCH, obs.at_s)
        assert ind.created_by_ref == member_identity(node).id
        forms[node] = obs.reported
    assert len(set(forms.values())) == 5, "five different strings"
    assert {observable_key(ObservableType.URL, r).key for r in forms.values()} == {
        observable_key(ObservableType.URL, URL).key
    }


async def test_member_cert_reports_at_its_observation_times(roster: Roster) -> None:
    """RO's CERT publishes one indicator per observation, each when the run's clock reaches it."""
    grid = MemoryGrid()
    node = member_node(grid, roster, "RO")
    async with grid.serving(node):
        await grid.start("run-1", phishing())
        await until(lambda: node.run is not None, "the run started")

        def published() -> list[CyberObjects]:
            return grid.bodies(topics.cyber_report_topic("RO"), CyberObjects)

        await grid.clock.advance_to(19.9)
        await steps()
        assert published() == []
        await grid.clock.advance_to(25.0)
        await until(lambda: len(published()) == 2, "the URL at 20 s and the sender address at 22 s")
        await grid.clock.advance_to(35.0)
        await until(lambda: len(published()) == 3, "the hash at 30 s")
        patterns = [json.loads(b.objects)[0]["pattern"] for b in published()]
        assert patterns[0] == f"[url:value = '{URL}']"
        assert "[@]" in patterns[1], "the sender address as RO's CERT wrote it: defanged"
        assert node.counters["cyber_reports"] == 3


@pytest.mark.parametrize(
    ("tlp", "who"),
    [
        (Tlp.RED, "originator"),
        (Tlp.AMBER_STRICT, "members"),
        (Tlp.AMBER, "members"),
        (Tlp.GREEN, "members"),
        (Tlp.CLEAR, "members"),
    ],
)
async def test_mitigation_reaches_whom_the_tlp_allows(roster: Roster, tlp: Tlp, who: str) -> None:
    """TLP:RED stays with the originator; every other level reaches every member (the grid has no
    outside parties): the mitigation topics that got it say so."""
    grid = MemoryGrid()
    hub = make_hub(grid, roster)
    async with grid.serving(hub):
        await grid.start("run-1", phishing())
        await until(lambda: hub.run is not None, "the run started")
        await send_report(grid, "BG", report_of("BG", tlp=tlp))
        await until(lambda: grid.bodies(topics.CYBER_JCC, CyberObjects) != [], "shared with the JCC")
        (shared,) = grid.bodies(topics.CYBER_JCC, CyberObjects)
        assert shared.key is not None
        await grid.send(
            topics.CYBER_FLAGS, CyberFlag(run_id="run-1", key=shared.key, time_s=6.0), origin=JCC_ID
        )
        expected = ["BG"] if who == "originator" else sorted(roster)
        await until(lambda: mitigated(grid).get(shared.key or "") == expected, f"mitigation to {who}")
        await steps()
        assert mitigated(grid) == {shared.key: expected}


@pytest.mark.parametrize(
    ("reason", "payload"),
    [
        ("invalid_stix", "this is not JSON"),
        ("bad_pattern", report_of("RO", pattern="[url:value = 'x' OR")),
        (
            "bad_marking",
            report_of(
                "RO", object_marking_refs=["marking-definition--" + "0" * 8 + "-0000-4000-8000-" + "0" * 12]
            ),
        ),
        ("unknown_creator", report_of("XX")),
        ("too_large", report_of("RO", description="x" * 20_000)),
    ],
)
async def test_bad_reports_are_counted_and_the_hub_goes_on(roster: Roster, reason: str, payload: str) -> None:
    """A bad report is refused with its reason; the valid report after it is still shared."""
    grid = MemoryGrid()
    hub = make_hub(grid, roster)
    async with grid.serving(hub):
        await grid.start("run-1", phishing())
        await until(lambda: hub.run is not None, "the run started")
        await send_report(grid, "RO", payload)
        await until(lambda: hub.rejections().get(reason) == 1, f"rejected as {reason}")
        await send_report(grid, "RO", report_of("RO"))
        await until(lambda: len(grid.bodies(topics.CYBER_JCC, CyberObjects)) == 1, "the valid one shared")
        assert sum(hub.rejections().values()) == 1


async def test_wire_level_faults_and_repeats_are_counted(roster: Roster) -> None:
    """Not msgpack, over the message limit, the same message twice, a member's repeat report:
    each is counted by reason (a repeat report as an absorbed duplicate) and nothing valid is lost."""
    grid = MemoryGrid()
    hub = make_hub(grid, roster)
    async with grid.serving(hub):
        await grid.start("run-1", phishing())
        await until(lambda: hub.run is not None, "the run started")
        await grid.wire.publish(topics.cyber_report_topic("RO"), b"\xc1 not msgpack")
        huge = {"run_id": "run-1", "objects": "[" + " " * 70_000 + "]"}
        raw = {"v": 1, "id": "huge", "origin": "RO", "sent_ns": 0, "type": "cyber_objects", "body": huge}
        await grid.wire.publish(topics.cyber_report_topic("RO"), msgpack.packb(raw))
        env = await send_report(grid, "RO", report_of("RO"))
        await grid.wire.publish(topics.cyber_report_topic("RO"), env.to_bytes())  # a QoS 1 redelivery
        await send_report(grid, "RO", report_of("RO"))  # RO reports it again
        await send_report(grid, "BG", report_of("BG"))
        await until(lambda: hub.exchange.metrics()["indicators"][0]["sightings"] == 1, "BG's sighting")
        assert hub.rejections() == {"duplicate_message": 1, "not_msgpack": 1, "too_large": 1}
        metrics = hub.exchange.metrics()
        assert metrics["duplicates_absorbed"] == 1
        assert len(metrics["indicators"]) == 1
        assert len(grid.bodies(topics.CYBER_JCC, CyberObjects)) == 1


async def test_jcc_flags_after_its_analysis_and_members_acknowledge(roster: Roster) -> None:
    """RO reports; the JCC flags 5 simulation s later; all members acknowledge; the hub's account
    says so (time to flag 5 s, time to mitigate set) and carries every shared object."""
    grid = MemoryGrid()
    hub = make_hub(grid, roster)
    jcc = JointCyberCentre(
        roster=roster, session_factory=grid.broker.session, clock_factory=grid.clock_factory, analysis_s=5.0
    )
    nodes = [member_node(grid, roster, m.id) for m in roster.values()]
    scenario = phishing()
    async with grid.serving(hub, jcc, *nodes):
        await grid.start("run-1", scenario)
        await until(lambda: all(s.run is not None for s in (hub, jcc, *nodes)), "the run started")
        await grid.clock.advance_to(20.0)
        await until(lambda: jcc.counters["indicators_received"] == 1, "RO's URL shared with the JCC")
        await grid.clock.advance_to(24.9)
        await steps()
        assert grid.bodies(topics.CYBER_FLAGS, CyberFlag) == [], "still under analysis"
        await grid.clock.advance_to(25.0)

        def acks() -> list[CyberAck]:
            return grid.bodies("grid/v1/cyber/acks/+", CyberAck)

        await until(
            lambda: len(acks()) == len(roster), "every member acknowledged the mitigation", max_steps=20_000
        )

        def first() -> dict[str, Any]:  # RO's URL
            entry: dict[str, Any] = hub.exchange.metrics()["indicators"][0]
            return entry

        await until(lambda: first()["time_to_mitigate_s"] is not None, "the hub has every ack")
        url = first()
        assert url["key"] == observable_key(ObservableType.URL, URL).key
        assert url["time_to_flag_s"] == pytest.approx(5.0)
        assert url["time_to_mitigate_s"] == pytest.approx(5.0)
        assert all(n.counters["mitigations_acked"] == 1 for n in nodes)
        await grid.end("run-1")
        await until(lambda: grid.bodies(topics.CYBER_STATS, CyberStats) != [], "the hub's account")
        (stats,) = grid.bodies(topics.CYBER_STATS, CyberStats)
        types = [o["type"] for o in json.loads(stats.objects)]
        assert types.count("indicator") == 2  # the URL and the sender address
        assert "course-of-action" in types
        assert stats.rejected == {}
        assert stats.taxii == {}


async def test_a_mitigation_not_from_the_hub_is_not_acknowledged(roster: Roster) -> None:
    """A node acknowledges only what the hub sends it."""
    grid = MemoryGrid()
    node = member_node(grid, roster, "RO")
    async with grid.serving(node):
        await grid.start("run-1", phishing())
        await until(lambda: node.run is not None, "the run started")
        notice = CyberObjects(run_id="run-1", key="url--x", objects="[]")
        await grid.send(topics.mitigation_topic("RO"), notice, origin="BG")
        await grid.send(topics.mitigation_topic("RO"), notice, origin=HUB_ID)

        def acks() -> list[CyberAck]:
            return grid.bodies(topics.cyber_ack_topic("RO"), CyberAck)

        await until(lambda: acks() != [], "the hub's mitigation acknowledged")
        await steps()
        assert node.counters["rejected.not_from_hub"] == 1
        assert node.counters["mitigations_acked"] == 1
        (ack,) = acks()
        assert (ack.node_id, ack.key) == ("RO", "url--x")


async def test_a_run_without_a_campaign_gets_an_empty_account(roster: Roster) -> None:
    """The default drone scenario has no cyber campaign: the hub still accounts for the run, with
    no indicators and no objects."""
    grid = MemoryGrid()
    hub = make_hub(grid, roster)
    async with grid.serving(hub):
        await grid.start("run-1", load_scenario())
        await until(lambda: hub.run is not None, "the run started")
        await grid.end("run-1")
        await until(lambda: grid.bodies(topics.CYBER_STATS, CyberStats) != [], "the hub's account")
        (stats,) = grid.bodies(topics.CYBER_STATS, CyberStats)
        assert stats.metrics["indicators"] == []
        assert stats.metrics["analysis_saved"] == 0.0
        assert stats.objects == "[]"
