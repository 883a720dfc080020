"""Record a fuzz corpus from real runs: every topic and payload a short ``gridsim run`` publishes.

Starts a Mosquitto of its own on a free loopback port, subscribes to ``grid/#``, and plays a few
scenarios on it with ``gridsim run --broker`` (sped up). It keeps at most ``per_kind`` messages of
each topic kind per scenario, spread over the run, so the corpus stays small (a few hundred KB)
and holds every kind: reports and scans, statuses, tracks, control, cyber reports, flags, acks,
and the accounts.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import aiomqtt
import msgpack

from grid.mqtt.broker import start_broker
from grid.wire import topics
from tests.fuzz.corpus import CORPUS_FILE

__all__ = ["DEFAULT_SCENARIOS", "capture", "capture_messages"]

DEFAULT_SCENARIOS = ("western-black-sea-drone", "cyber-phishing", "swarm-12")
_LARGE = 64 * 1024  # an account bigger than this is left out of the corpus (the size limits are tested apart)
_KIND_BYTES = 24 * 1024  # per kind and scenario: the corpus stays a few hundred KB


async def _record(host: str, port: int, into: list[tuple[str, bytes]], ready: asyncio.Event) -> None:
    async with aiomqtt.Client(host, port, identifier="gridsim-fuzz-capture") as client:
        await client.subscribe("grid/#", qos=1)
        ready.set()
        async for message in client.messages:
            payload = message.payload
            if isinstance(payload, bytes) and payload:
                into.append((str(message.topic), payload))


def _thin(messages: Sequence[tuple[str, bytes]], per_kind: int) -> list[tuple[str, bytes]]:
    """At most ``per_kind`` messages (and ``_KIND_BYTES``) of each kind, evenly spread, no payload twice."""
    by_kind: dict[str, list[tuple[str, bytes]]] = defaultdict(list)
    seen: set[bytes] = set()
    for topic, payload in messages:
        if payload in seen or len(payload) > _LARGE:
            continue
        seen.add(payload)
        by_kind[topics.parse_topic(topic).kind].append((topic, payload))
    kept: list[tuple[str, bytes]] = []
    for items in by_kind.values():
        step = max(1, len(items) // per_kind)
        size = 0
        for topic, payload in items[::step][:per_kind]:
            size += len(payload)
            if size > _KIND_BYTES:
                break
            kept.append((topic, payload))
    return kept


async def _capture_run(scenario: str, speed: float, per_kind: int) -> list[tuple[str, bytes]]:
    messages: list[tuple[str, bytes]] = []
    async with start_broker("mosquitto") as broker:
        ready = asyncio.Event()
        recorder = asyncio.create_task(_record(broker.host, broker.port, messages, ready))
        try:
            async with asyncio.timeout(30):
                await ready.wait()
            with tempfile.TemporaryDirectory() as out:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "grid",
                    "run",
                    f"scenarios/{scenario}.yaml",
                    "--broker",
                    f"mqtt://{broker.host}:{broker.port}",
                    "--speed",
                    str(speed),
                    "--quiet",
                    "--workers",
                    "0",
                    "--out",
                    out,
                    stdout=asyncio.subprocess.DEVNULL,
                )
                try:
                    code = await proc.wait()
                finally:
                    if proc.returncode is None:
                        proc.terminate()
                        await proc.wait()
            if code != 0:
                raise RuntimeError(f"gridsim run {scenario} exited with {code}")
            await asyncio.sleep(1.0)  # the last accounts
        finally:
            recorder.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await recorder
    return _thin(messages, per_kind)


async def capture_messages(
    scenarios: Sequence[str] = DEFAULT_SCENARIOS, *, speed: float = 20.0, per_kind: int = 60
) -> list[tuple[str, bytes]]:
    """Each scenario's run, thinned: the (topic, payload) pairs of the corpus."""
    kept: list[tuple[str, bytes]] = []
    for scenario in scenarios:
        kept += await _capture_run(scenario, speed, per_kind)
    return kept


def capture(file: Path = CORPUS_FILE) -> dict[str, int]:
    """Capture the default scenarios' runs into the corpus file; the number of messages by kind."""
    kept = asyncio.run(capture_messages())
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(msgpack.packb([[t, p] for t, p in kept], use_bin_type=True))
    counts: dict[str, int] = defaultdict(int)
    for topic, _ in kept:
        counts[topics.parse_topic(topic).kind] += 1
    return dict(sorted(counts.items()))
