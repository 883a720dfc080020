"""The cyber-exchange hub's MQTT edge: CERT indicators in, shared indicators and mitigations out.

Everything about STIX and the exchange's rules is the sans-IO :class:`~grid.cyber.CyberExchange`;
this service feeds it and publishes what it returns::

    grid/v1/cyber/reports/<node>  -> receive -> new:      shared indicator + indicates -> grid/v1/cyber/jcc
                                              sighting: (the updated sighting goes to TAXII only)
    grid/v1/cyber/flags           -> flag    -> mitigation -> grid/v1/cyber/mitigations/<each recipient>
    grid/v1/cyber/acks/<node>     -> acknowledge

A bad report never stops the hub: a message the wire refuses, a list that is not JSON, an
object the exchange rejects, or a message id seen again is counted by reason and the next one
is handled. With a TAXII target, new shared indicators and updated sightings are queued for a
pusher task, so a slow or failing TAXII server never holds up the receive loop; a failure is
counted and logged once, and the run goes on. TLP:RED indicators are not pushed: TLP:RED stays
between the originator and the hub. When the run ends the hub waits, briefly, for the last
acknowledgements and pushes, then publishes its account (:class:`~grid.wire.messages.CyberStats`).

With a ``journal_dir`` the hub survives a crash of its process (:mod:`grid.participants.recovery`):
restarted in the run, it replays its journal (the same exchange: indicators, sightings, flags,
acknowledgements), sends what was not out yet, then takes what its session queued meanwhile.
The replay's TAXII pushes are not made again (they were made before the crash, or were lost
with it: ``taxii_not_repushed`` counts their objects); the account's ``recovery`` says what the
restart replayed and changed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from grid.cyber.exchange import CyberExchange, Mitigation, Outcome
from grid.cyber.markings import Tlp, marking_of, tlp_of_marking
from grid.cyber.references import parse_json
from grid.cyber.stix import ATTACK_PATTERNS, HUB_IDENTITY
from grid.cyber.taxii import TaxiiFeed, TaxiiTarget
from grid.errors import CyberRejected, TaxiiError
from grid.mqtt.session import SessionFactory
from grid.participants.cert import epoch_of
from grid.participants.recovery import REPLAY_FAULTS, Recovery
from grid.participants.seen import SeenReports
from grid.participants.service import HUB_ID, JCC_ID, ActiveRun, ClockFactory, GridService, scaled_clock
from grid.security.signing import SigningKeys
from grid.wire import topics
from grid.wire.counters import ERRORS_PREFIX, REJECTED_PREFIX, errors_counter
from grid.wire.messages import (
    CYBER_STATS_MAX_BYTES,
    Body,
    CyberAck,
    CyberFlag,
    CyberObjects,
    CyberStats,
    Envelope,
)
from grid.world.roster import Roster

__all__ = ["SETTLE_IDLE_S", "CyberHub", "objects_json"]

log = logging.getLogger(__name__)

# After the run's end the account waits for the last flags, acknowledgements and TAXII pushes;
# it is sent as it stands after this many wall seconds in which none came. Only a stuck exchange
# waits it out, so it is long enough for a stall of a heavily loaded machine.
SETTLE_IDLE_S = 10.0
_PATTERNS = {p.id: p for p in ATTACK_PATTERNS.values()}


def objects_json(objects: Any) -> str:
    """STIX objects as the JSON text of a list (what :class:`CyberObjects` carries)."""
    return "[" + ",".join(o.serialize() for o in objects) + "]"


class CyberHub(GridService):
    """Receives CERT indicators, shares each observable once, routes flags, mitigations and acks."""

    def __init__(
        self,
        *,
        roster: Roster,
        host: str = "127.0.0.1",
        port: int = 1883,
        session_factory: SessionFactory | None = None,
        clock_factory: ClockFactory = scaled_clock,
        signing: SigningKeys | None = None,
        taxii: TaxiiTarget | None = None,
        settle_idle_s: float = SETTLE_IDLE_S,
        journal_dir: Path | None = None,
    ) -> None:
        """The hub; with ``taxii``, it also pushes its feed to that TAXII 2.1 collection.

        ``journal_dir``: journal each run there and replay it on a restart (its session should then
        ``resume`` with ``manual_ack``: :func:`grid.mqtt.session.broker_sessions`).
        """
        super().__init__(
            service_id=HUB_ID,
            host=host,
            port=port,
            roster=roster,
            subscriptions=[topics.ALL_CYBER_REPORTS, topics.CYBER_FLAGS, topics.ALL_CYBER_ACKS],
            session_factory=session_factory,
            clock_factory=clock_factory,
            signing=signing,
        )
        self.taxii = taxii
        self.settle_idle_s = settle_idle_s
        self.exchange = CyberExchange(list(roster), epoch_of(0))
        self._seen = SeenReports()
        self._flagged: set[str] = set()  # keys whose mitigation went out
        self._rejected: Counter[str] = Counter()
        self._activity = asyncio.Event()
        self._feed: TaxiiFeed | None = None
        self._pushes: asyncio.Queue[list[Any]] = asyncio.Queue()
        self._pusher: asyncio.Task[None] | None = None
        self._pushed_ids: set[str] = set()
        self._taxii: Counter[str] = Counter()
        self._taxii_seconds = 0.0
        self._taxii_error: str | None = None
        self.recovery = Recovery(journal_dir)
        self._replaying = False

    # ----------------------------------------------------------------------------- lifecycle

    def on_run_start(self, run: ActiveRun) -> None:
        """A fresh exchange for the run's members, on the run's epoch; a TAXII pusher if asked."""
        self.exchange = CyberExchange(list(self.roster), epoch_of(run.epoch_ns))
        self._seen = SeenReports()
        self._flagged = set()
        self._rejected = Counter()
        self._pushed_ids = set()
        self._taxii = Counter()
        self._taxii_seconds = 0.0
        self._taxii_error = None
        if self.taxii is not None:
            # One feed (one HTTP session) per run; opened by its first push, in the pusher's thread.
            self._feed = TaxiiFeed(self.taxii)
            self._pushes = asyncio.Queue()
            self._pusher = self._spawn(self._push_loop(self._feed, self._pushes), f"taxii[{run.run_id}]")
        self._resume(run)

    def _resume(self, run: ActiveRun) -> None:
        """Handle what the journal holds (a restart's) at its clock readings, then the messages
        that came before the start."""
        records, early = self.recovery.start(run.run_id)
        self._replaying = True
        try:
            for env, parsed, now_s in self.recovery.to_replay(records, self._bad_journal_record):
                try:
                    self._handle(run, env, parsed, now_s)
                except REPLAY_FAULTS as exc:  # counted as when it was first handled (GridService._dispatch)
                    self.counters[errors_counter(exc)] += 1
        finally:
            self._replaying = False
            self.recovery.replay_done()
        if self.recovery.resumed_ns is not None:
            log.warning("hub: resumed run %s from its journal: %s", run.run_id, self.recovery.figures())
        for env, parsed in early:
            self._take(run, env, parsed)

    def _bad_journal_record(self) -> None:
        self._rejected["journal"] += 1

    async def settle(self) -> None:
        """Wait until every shared indicator is flagged and acknowledged by each recipient, and the
        TAXII queue is empty; or until ``settle_idle_s`` wall seconds pass with none of that moving."""
        while not self._settled():
            self._activity.clear()
            try:
                async with asyncio.timeout(self.settle_idle_s):
                    await self._activity.wait()
            except TimeoutError:
                log.info("hub: account sent with %d TAXII pushes pending", self._pushes.qsize())
                return

    def _settled(self) -> bool:
        queued = self._pusher is not None and (self._pushes.qsize() > 0 or self._taxii["in_flight"] > 0)
        metrics = self.exchange.metrics()["indicators"]
        return not queued and all(i["time_to_mitigate_s"] is not None for i in metrics)

    async def on_run_end(self) -> None:
        """Stop the TAXII pusher and publish the run's account."""
        assert self.run is not None
        if self._pusher is not None:
            self._pusher.cancel()
            try:
                await self._pusher
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            self._pusher = None
        if self._feed is not None:
            self._feed.close()
            self._feed = None
        await self.publish(topics.CYBER_STATS, self.stats())
        self.recovery.end()

    def rejections(self) -> dict[str, int]:
        """Refused cyber messages by reason: the wire's, the hub's own and the exchange's."""
        counted: Counter[str] = Counter(self.exchange.rejections())
        counted.update(self._rejected)
        counted.update(
            {
                k.removeprefix(REJECTED_PREFIX): v
                for k, v in self.counters.items()
                if k.startswith((REJECTED_PREFIX, ERRORS_PREFIX))
            }
        )
        return dict(sorted(counted.items()))

    def taxii_figures(self) -> dict[str, Any]:
        """The TAXII push figures of the run (empty without a target)."""
        if self.taxii is None:
            return {}
        return {
            "url": self.taxii.url,
            "pushes": self._taxii["pushes"],
            "pushed": self._taxii["pushed"],
            "refused": self._taxii["refused"],
            "failures": self._taxii["failures"],
            "withheld_red": self._taxii["withheld_red"],
            "unsent": self._pushes.qsize(),
            "seconds": round(self._taxii_seconds, 3),
            "error": self._taxii_error,
        }

    def stats(self) -> CyberStats:
        """The account of the current run."""
        assert self.run is not None
        metrics = self.exchange.metrics()
        # No indicator, no objects: the bundle's bare identities would share nothing.
        objects = objects_json(self.exchange.bundle().objects) if metrics["indicators"] else "[]"
        if len(objects.encode()) > CYBER_STATS_MAX_BYTES:
            log.warning(
                "hub: %d bytes of shared objects do not fit the account; sent without them", len(objects)
            )
            objects = "[]"
        return CyberStats(
            run_id=self.run.run_id,
            metrics=metrics,
            rejected=self.rejections(),
            taxii=self.taxii_figures(),
            objects=objects,
            recovery=self.recovery.figures(),
        )

    # ------------------------------------------------------------------------------ messages

    async def on_message(self, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """A CERT's report, the Joint Cyber Centre's flag, or a member's acknowledgement."""
        if self.run is not None:
            self._take(self.run, env, parsed)
        elif not self.recovery.hold(env, parsed):  # a restart's queue comes before the run's start
            self._rejected["other_run"] += 1

    def _take(self, run: ActiveRun, env: Envelope, parsed: topics.ParsedTopic) -> None:
        """A message of the run, journaled first (a redelivery of a journaled one is dropped)."""
        if getattr(env.body, "run_id", None) != run.run_id:
            self._rejected["other_run"] += 1
            return
        now = run.clock.now()
        if self.recovery.received(env, parsed, now):
            self._handle(run, env, parsed, now)

    def _handle(self, run: ActiveRun, env: Envelope, parsed: topics.ParsedTopic, now: float) -> None:
        """A message of the run, handled at ``now`` on the run's clock (a replay's: its journaled one)."""
        body = env.body
        if self._seen.repeat(env.msg_id):
            self._rejected["duplicate_message"] += 1
            return
        if parsed.kind is topics.TopicKind.CYBER_REPORT and isinstance(body, CyberObjects):
            self._on_report(run, now, env.origin, body)
        elif parsed.kind is topics.TopicKind.CYBER_FLAG and isinstance(body, CyberFlag):
            if env.origin != JCC_ID:
                self._rejected["not_from_jcc"] += 1
                return
            self._on_flag(run, body)
        elif parsed.kind is topics.TopicKind.CYBER_ACK and isinstance(body, CyberAck):
            if body.node_id != env.origin:
                self._rejected["origin_mismatch"] += 1
                return
            self._count(lambda: self.exchange.acknowledge(body.key, body.node_id, body.time_s))
        else:
            self._rejected["unexpected_type"] += 1
            return
        self._activity.set()

    def _count(self, call: Any) -> Any:
        """``call()``; a :class:`CyberRejected` is counted by reason (the exchange counts its own)."""
        try:
            return call()
        except CyberRejected as exc:
            self._rejected[exc.reason] += 1
            log.info("hub refused a request: %s", exc)
            return None

    def _on_report(self, run: ActiveRun, now: float, origin: str, body: CyberObjects) -> None:
        try:
            objects = parse_json(body.objects)
        except CyberRejected as exc:
            self._rejected[exc.reason] += 1
            log.info("hub: a report that is not JSON: %s", exc)
            return
        if not isinstance(objects, list) or not objects:
            self._rejected["invalid_stix"] += 1
            return
        for obj in objects:
            if self._impersonates(origin, obj):
                self._rejected["creator_mismatch"] += 1
                log.info("hub: %s sent an indicator created by another member", origin)
                continue
            try:
                outcome = self.exchange.receive(now, obj if isinstance(obj, dict) else json.dumps(obj))
            except CyberRejected as exc:  # counted by the exchange
                log.info("hub rejected a report: %s", exc)
                continue
            self._share(run, outcome)

    def _impersonates(self, origin: str, obj: Any) -> bool:
        """Whether ``origin`` sends an object another member created (an unknown creator is the
        exchange's to refuse, as ``unknown_creator``)."""
        creator = obj.get("created_by_ref") if isinstance(obj, dict) else None
        ids = {m: self.exchange.identity(m).id for m in self.exchange.members}
        return creator in ids.values() and creator != ids.get(origin)

    def _share(self, run: ActiveRun, outcome: Outcome) -> None:
        if self.recovery.late and not self._replaying and outcome.kind != "duplicate":
            self.recovery.late_keys.add(outcome.key)  # reported while the hub was down
        if outcome.kind == "new":
            objects = objects_json(outcome.objects)
            self._emit(topics.CYBER_JCC, CyberObjects(run_id=run.run_id, key=outcome.key, objects=objects))
        if outcome.objects and self._pusher is not None:
            if self._replaying:  # pushed before the crash, or lost with it: counted, not pushed again
                self.recovery.counts["taxii_not_repushed"] += len(outcome.objects)
            else:
                self._queue_push(outcome)

    def _on_flag(self, run: ActiveRun, body: CyberFlag) -> None:
        if body.late:  # the JCC's restart delayed it
            self.recovery.late_keys.add(body.key)
        if body.key in self._flagged:
            # The JCC flags a key once; again only after its restart (its flag out, not yet marked
            # sent): the members have the mitigation already.
            self.recovery.counts["repeated_flags"] += 1
            return
        mitigation: Mitigation | None = self._count(lambda: self.exchange.flag(body.key, body.time_s))
        if mitigation is None:
            return
        self._flagged.add(body.key)
        objects = objects_json([mitigation.course_of_action, mitigation.relationship])
        notice = CyberObjects(run_id=run.run_id, key=mitigation.key, objects=objects)
        for member in sorted(mitigation.recipients & set(self.roster)):
            self._emit(topics.mitigation_topic(member), notice)

    def _emit(self, topic: str, body: CyberObjects) -> None:
        """Post ``body``, marked in the journal once the broker has it; a replay posts only what
        was not out before the crash."""
        key = body.key or ""
        if self._replaying:
            if self.recovery.already_sent(topic, key):
                return
            self.recovery.counts["resent"] += 1
        self.post_raw(topic, self._encode(topic, body), self.recovery.on_sent(topic, key))

    def _encode(self, topic: str, body: Body) -> bytes:
        return self.seal(topic, Envelope(body=body, origin=self.service_id).to_bytes())

    # --------------------------------------------------------------------------------- TAXII

    def _queue_push(self, outcome: Outcome) -> None:
        tlp = tlp_of_marking(outcome.shared.object_marking_refs[0])
        if tlp is None or tlp is Tlp.RED:
            self._taxii["withheld_red"] += len(outcome.objects)
            return
        # The objects the shared ones refer to, the first time they are needed.
        context = [HUB_IDENTITY, marking_of(tlp)]
        context += [_PATTERNS[o.target_ref] for o in outcome.objects if o.get("target_ref") in _PATTERNS]
        batch = [o for o in context if o.id not in self._pushed_ids]
        self._pushed_ids.update(o.id for o in context)
        self._pushes.put_nowait([*batch, *outcome.objects])

    async def _push_loop(self, feed: TaxiiFeed, queue: asyncio.Queue[list[Any]]) -> None:
        """Push what is queued, everything waiting at once, one request after another."""
        while True:
            batch = await queue.get()
            while not queue.empty():
                batch += queue.get_nowait()
            self._taxii["in_flight"] = 1
            try:
                result = await feed.push_async(batch)
            except TaxiiError as exc:
                self._taxii["failures"] += 1
                if self._taxii_error is None:
                    self._taxii_error = str(exc)
                    log.warning("hub: TAXII push failed (the run goes on; more are only counted): %s", exc)
            else:
                self._taxii["pushed"] += result.count
                self._taxii["refused"] += result.failed
                self._taxii_seconds += result.seconds
            finally:
                self._taxii["pushes"] += 1
                self._taxii["in_flight"] = 0
                self._activity.set()
