"""The fuzz seeds: messages captured from real runs, and the real scenario and roster files.

``tests/fuzz/corpus/messages.msgpack`` is a msgpack list of ``[topic, payload]`` pairs recorded
by ``scripts/fuzz --capture`` (:mod:`tests.fuzz.capture`) on a real Mosquitto: every payload is
what a participant really published, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import msgpack

from grid.clock import VirtualClock
from grid.participants.service import ActiveRun
from grid.wire import topics
from grid.wire.messages import Envelope, RunAction, RunControl

__all__ = ["CORPUS_FILE", "Corpus", "load_corpus"]

_ROOT = Path(__file__).resolve().parents[2]
CORPUS_FILE = Path(__file__).with_name("corpus") / "messages.msgpack"


@dataclass(frozen=True)
class Corpus:
    """Captured messages and the real YAML files."""

    messages: Sequence[tuple[str, bytes]]
    scenarios: Sequence[bytes]
    members: Sequence[bytes]

    def of_kind(self, *kinds: str) -> list[tuple[str, bytes]]:
        """The captured messages on topics of these kinds (:class:`topics.TopicKind` values)."""
        return [(t, p) for t, p in self.messages if topics.parse_topic(t).kind in kinds]

    def joined(self, *kinds: str) -> list[bytes]:
        """The captured messages of these kinds as ``topic NUL payload`` inputs."""
        return [t.encode() + b"\x00" + p for t, p in self.of_kind(*kinds)]

    def run_of(self, kind: str) -> ActiveRun:
        """The captured run that sent messages of ``kind``, as its participants followed it."""
        _, payload = self.of_kind(kind)[0]
        run_id = getattr(Envelope.from_bytes(payload).body, "run_id", None)
        for _, control in self.of_kind("control"):
            body = Envelope.from_bytes(control).body
            if isinstance(body, RunControl) and body.action is RunAction.START and body.run_id == run_id:
                return ActiveRun.from_control(body, clock_factory=lambda _: VirtualClock())
        raise LookupError(f"no captured start of run {run_id!r}")


@cache
def load_corpus(file: Path = CORPUS_FILE) -> Corpus:
    """The committed corpus, with the scenarios and member-state files of this checkout."""
    pairs = msgpack.unpackb(file.read_bytes(), raw=False)
    return Corpus(
        messages=[(str(t), bytes(p)) for t, p in pairs],
        scenarios=[f.read_bytes() for f in sorted((_ROOT / "scenarios").glob("*.yaml"))],
        members=[f.read_bytes() for f in sorted((_ROOT / "nodes").glob("*.yaml"))],
    )
