"""The fuzz targets: each feeds one input to one of the grid's parsers and checks its contract.

The contract, for every target: an input is either accepted, or refused with one of gridsim's
typed errors (under :class:`~grid.errors.GridError`) and counted with a reason, by the same
counters a running participant keeps. Anything else (another exception, a rejection that no
counter saw, a refusal without a stable reason code) is a :class:`ContractBroken`, which the
fuzz loop reports as a crash, as it does any exception that is not a GridError.

An input of the centre and the hub is a topic and a payload, as ``topic NUL payload`` (a topic
never holds NUL); the other targets take the bytes as they are.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, ClassVar

from grid.clock import VirtualClock
from grid.errors import GridError, MessageRejected, RosterError, ScenarioError
from grid.mqtt.memory import MemoryBroker
from grid.mqtt.transport import Received
from grid.participants.centre import FusionCentre
from grid.participants.hub import CyberHub
from grid.participants.service import ActiveRun, GridService
from grid.wire import topics
from grid.wire.messages import Envelope, NodeStatus, RunControl
from grid.world.roster import Roster, load_roster, member_from_yaml
from grid.world.scenario import scenario_from_yaml
from tests.fuzz.corpus import Corpus
from tests.fuzz.mutate import mutate_bytes, mutate_msgpack, mutate_text, mutate_yaml

__all__ = ["TARGETS", "ContractBroken", "Target", "join", "make_targets", "split"]

_REASON = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_RESET_EVERY = 500  # inputs between fresh runs of a participant (its tracker and maps stay small)


class ContractBroken(Exception):
    """An input that a target handled outside its contract (not a crash of the code under test)."""


def join(topic: str, payload: bytes) -> bytes:
    """The input of a topic and a payload."""
    return topic.encode() + b"\x00" + payload


def split(data: bytes, default_topic: str) -> tuple[str, bytes]:
    """The topic and payload of an input (``default_topic`` when it holds no NUL)."""
    head, sep, payload = data.partition(b"\x00")
    if not sep:
        return default_topic, data
    return head.decode("utf-8", "replace"), payload


def _reason(reason: str) -> str:
    if not _REASON.match(reason):
        raise ContractBroken(f"rejection reason {reason!r} is not a short code")
    return reason


def _drive(work: Coroutine[Any, Any, None]) -> None:
    """Run a handler that never waits (a message's handling is synchronous work) to its end."""
    try:
        work.send(None)
    except StopIteration:
        return
    work.close()
    raise ContractBroken("the handler waited on something")


class Target:
    """A target: its name, its seeds, how to mutate a seed, and how to feed it one input."""

    name = ""

    def __init__(self, seeds: Sequence[bytes]) -> None:
        if not seeds:
            raise ValueError(f"{self.name}: no seeds")
        self.seeds = list(seeds)

    def mutate(self, rng: random.Random, data: bytes) -> bytes:
        """A mutation of ``data``."""
        return mutate_bytes(rng, data, self.seeds)

    def feed(self, data: bytes) -> str:
        """Feed one input: ``accepted...`` or ``rejected:<reason>``; raises on a broken contract."""
        raise NotImplementedError


class WireTarget(Target):
    """:meth:`Envelope.from_bytes`: decoding and every body's validation."""

    name = "wire"

    def mutate(self, rng: random.Random, data: bytes) -> bytes:
        """Mostly structure-aware mutations of a real payload."""
        return mutate_msgpack(rng, data, self.seeds)

    def feed(self, data: bytes) -> str:
        """Decode ``data``."""
        try:
            env = Envelope.from_bytes(data)
        except MessageRejected as exc:
            return f"rejected:{_reason(exc.reason)}"
        return f"accepted:{env.body.TYPE}"


class TopicTarget(Target):
    """:func:`topics.parse_topic`; an accepted topic with a node is rebuilt from its parts."""

    name = "topic"
    _BUILDERS: ClassVar[dict[topics.TopicKind, Callable[[str], str]]] = {
        topics.TopicKind.REPORT: topics.report_topic,
        topics.TopicKind.STATUS: topics.status_topic,
        topics.TopicKind.AWARENESS: topics.awareness_topic,
        topics.TopicKind.PICTURE: topics.picture_topic,
        topics.TopicKind.CYBER_REPORT: topics.cyber_report_topic,
        topics.TopicKind.CYBER_ACK: topics.cyber_ack_topic,
    }

    def mutate(self, rng: random.Random, data: bytes) -> bytes:
        """Text and byte mutations of a real topic."""
        if rng.random() < 0.5:
            parts = data.decode("utf-8", "replace").split("/")
            i = rng.randrange(len(parts))
            parts[i] = rng.choice(["", "+", "#", "x" * 49, "RO", "..", "é", "\x00", parts[i] * 2, "a b"])
            if rng.random() < 0.3:
                parts.insert(i, rng.choice(["grid", "v1", "reports", "cyber"]))
            return "/".join(parts).encode()
        return mutate_bytes(rng, data, self.seeds)

    def feed(self, data: bytes) -> str:
        """Parse ``data`` as a topic."""
        topic = data.decode("utf-8", "replace")
        try:
            parsed = topics.parse_topic(topic)
        except MessageRejected as exc:
            return f"rejected:{_reason(exc.reason)}"
        build = self._BUILDERS.get(parsed.kind)
        if build is not None and (parsed.node is None or build(parsed.node) != topic):
            raise ContractBroken(f"{topic!r} parsed as {parsed}, which does not rebuild it")
        return f"accepted:{parsed.kind}"


def _rejection(before: Counter[str], after: Counter[str]) -> str | None:
    """The counter a message raised (the largest increase), or None when none moved."""
    moved = after - before
    if not moved:
        return None
    key, _ = moved.most_common(1)[0]
    return key


class _ParticipantTarget(Target):
    """A participant's receive path: :meth:`GridService.decode`, then its message handler."""

    default_topic = topics.report_topic("RO")

    def __init__(self, seeds: Sequence[bytes], service: GridService, run: ActiveRun) -> None:
        super().__init__(seeds)
        self.service = service
        self.run = run
        self._fed = 0
        self._reset()

    def _reset(self) -> None:
        self.service.run = self.run
        self.service.on_run_start(self.run)
        self.service.counters.clear()
        self.service._outbox = asyncio.Queue()  # what it would publish: dropped, unsent

    def mutate(self, rng: random.Random, data: bytes) -> bytes:
        """The payload mutated (mostly), or its topic, or both run together by a byte mutation."""
        topic, payload = split(data, self.default_topic)
        op = rng.random()
        if op < 0.8:
            return join(topic, mutate_msgpack(rng, payload, self.seeds))
        if op < 0.9:
            other, _ = split(rng.choice(self.seeds), self.default_topic)
            return join(other, payload)  # a real payload on another real topic
        return mutate_bytes(rng, data, self.seeds)

    def counted(self) -> Counter[str]:
        """Every counter of the participant that a received message may move."""
        return Counter(self.service.counters)

    def feed(self, data: bytes) -> str:
        """Receive one message, as the service's receive loop does, and check it was accounted for."""
        self._fed += 1
        if self._fed % _RESET_EVERY == 0:
            self._reset()
        topic, payload = split(data, self.default_topic)
        before = self.counted()
        decoded = self.service.decode(Received(topic, payload, retain=False))
        if decoded is None:
            key = _rejection(before, self.counted())
            if key is None:
                raise ContractBroken("a message refused by decode() was not counted")
            return f"rejected:{_reason(key.rpartition('.')[2])}"
        env, parsed = decoded
        if parsed.kind is topics.TopicKind.CONTROL:
            return self._control(env)
        _drive(self.service.on_message(env, parsed))
        key = _rejection(before, self.counted())
        if key is not None:
            return f"counted:{key}"
        if self.silent(env):
            return f"accepted:{env.body.TYPE}"
        raise ContractBroken(f"a {env.body.TYPE} message on {topic!r} was neither used nor counted")

    def _control(self, env: Envelope) -> str:
        """A start's scenario is validated as the service does it (the run switch is not fuzzed)."""
        body = env.body
        if not isinstance(body, RunControl):
            return "rejected:bad_control"
        try:
            ActiveRun.from_control(body, clock_factory=lambda _: VirtualClock())
        except MessageRejected as exc:
            return f"rejected:{_reason(exc.reason)}"
        return "accepted:control"

    def silent(self, env: Envelope) -> bool:
        """Whether ``env`` is used without a counter moving."""
        return False


class CentreTarget(_ParticipantTarget):
    """The fusion centre's input path: decode, then its handler, fusing into a real tracker."""

    name = "centre"

    def silent(self, env: Envelope) -> bool:
        """A node's status is read (its final count), not counted."""
        return isinstance(env.body, NodeStatus)


class HubTarget(_ParticipantTarget):
    """The cyber-exchange hub's STIX intake: decode, then its handler and the exchange's checks."""

    name = "hub"
    default_topic = topics.cyber_report_topic("RO")

    def counted(self) -> Counter[str]:
        """The hub's refusals by reason (the wire's, its own and the exchange's), and what it accepted."""
        counted = Counter(self.service.counters)
        assert isinstance(self.service, CyberHub)
        counted.update({f"rejected.{k}": v for k, v in self.service.rejections().items()})
        counted["accepted.reports"] = self.service.exchange._reports
        return counted

    def silent(self, env: Envelope) -> bool:
        """A flag or an acknowledgement the exchange took changes its state, not a counter."""
        return True


class _YamlTarget(Target):
    source = "fuzz.yaml"

    def mutate(self, rng: random.Random, data: bytes) -> bytes:
        """Tree, line and byte mutations of a real file."""
        if rng.random() < 0.05:
            return mutate_text(rng, "[" * rng.choice([50, 2000, 100_000])).encode()
        return mutate_yaml(rng, data, self.seeds)

    def check(self, exc: ScenarioError | RosterError) -> str:
        """Every problem on one line, located in the file: ``fuzz.yaml[:line]: [field: ]problem``."""
        for line in str(exc).splitlines():
            if not line.startswith(self.source):
                raise ContractBroken(f"a problem line that does not name the file: {line!r}")
        if len(str(exc).splitlines()) != len(exc.problems):
            raise ContractBroken(f"a problem over several lines: {str(exc)!r}")
        return "yaml" if "not valid YAML" in str(exc) or "cannot read" in str(exc) else "schema"


class ScenarioTarget(_YamlTarget):
    """The scenario loader: YAML, the schema, and the ids it names against the roster."""

    name = "scenario"

    def __init__(self, seeds: Sequence[bytes], roster: Roster) -> None:
        super().__init__(seeds)
        self.roster = roster

    def feed(self, data: bytes) -> str:
        """Load ``data`` as a scenario file."""
        try:
            scenario_from_yaml(data, source=self.source, roster=self.roster)
        except ScenarioError as exc:
            return f"rejected:{self.check(exc)}"
        return "accepted"


class RosterTarget(_YamlTarget):
    """The roster loader: one member-state file."""

    name = "roster"

    def feed(self, data: bytes) -> str:
        """Load ``data`` as a member-state file."""
        try:
            member_from_yaml(data, source=self.source)
        except RosterError as exc:
            return f"rejected:{self.check(exc)}"
        return "accepted"


TARGETS = ("wire", "topic", "centre", "hub", "scenario", "roster")


def make_targets(corpus: Corpus, names: Sequence[str] = TARGETS) -> list[Target]:
    """The targets called ``names``, seeded from ``corpus``."""
    roster = load_roster()
    made: list[Target] = []
    for name in names:
        if name == "wire":
            made.append(WireTarget([p for _, p in corpus.messages]))
        elif name == "topic":
            made.append(TopicTarget(sorted({t.encode() for t, _ in corpus.messages})))
        elif name == "centre":
            centre = FusionCentre(roster=roster, session_factory=MemoryBroker().session)
            seeds = corpus.joined("report", "status", "track", "control")
            made.append(CentreTarget(seeds, centre, corpus.run_of("report")))
        elif name == "hub":
            hub = CyberHub(roster=roster, session_factory=MemoryBroker().session)
            seeds = corpus.joined("cyber_report", "cyber_flag", "cyber_ack")
            made.append(HubTarget(seeds, hub, corpus.run_of("cyber_report")))
        elif name == "scenario":
            made.append(ScenarioTarget(corpus.scenarios, roster))
        elif name == "roster":
            made.append(RosterTarget(corpus.members))
        else:
            raise ValueError(f"unknown fuzz target {name!r}; known: {', '.join(TARGETS)}")
    return made


def is_crash(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a target, breaks the contract (a GridError does not)."""
    return not isinstance(exc, GridError)


def repo_root() -> Path:
    """The checkout this file belongs to."""
    return Path(__file__).resolve().parents[2]
