"""A participant's journal: every message it handled in a run (and, for some, what it sent), so
a restarted participant (its process killed) rebuilds the very same state by handling them again,
in order. The fusion centre journals the reports it fused (:mod:`grid.participants.centre`); the
cyber hub and the Joint Cyber Centre journal what they received and mark what the broker
accepted of what they sent (:mod:`grid.participants.recovery`).

One file per run, ``<dir>/<run id>.journal``: records of ``received_ns`` (int64), the run's clock
when the message was handled (float64, simulation s), whether it is a *sent* mark (uint8), the
topic's length (uint16), the payload's length (uint32), the topic (UTF-8; empty when the reader
needs none) and the payload (the envelope's bytes; a sent mark's own, e.g. a key). Each record
of a received message is written before the message is acknowledged to the broker
(:class:`~grid.mqtt.transport.Transport` with ``manual_ack``), and handed to the OS at once: a
SIGKILL loses no record (the OS keeps what was written), and a message whose record is not
written yet is sent again by the broker. A record cut short by a crash mid-write is dropped on
reading (its message was not acknowledged either), and the file is cut back to the last whole one.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

__all__ = ["Journal", "JournalRecord"]

_HEADER = struct.Struct("<qdBHI")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class JournalRecord(NamedTuple):
    """One handled message: when it arrived (wall ns), the run's clock then, and its envelope; with
    its topic when the reader needs it. ``sent``: a mark that the broker accepted a message the
    participant published on ``topic`` (the payload says which)."""

    received_ns: int
    now_s: float
    payload: bytes
    topic: str = ""
    sent: bool = False


class Journal:
    """The journal of one run, opened for appending (and read back first, when it exists)."""

    def __init__(self, folder: Path, run_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{_SAFE.sub('_', run_id)}.journal"
        self._file: IO[bytes] | None = None
        self.closed = False  # closed for good: a late write (a send acknowledged after the run) is dropped

    def replay(self) -> Iterator[JournalRecord]:
        """The records already written (none for a new run); a torn last record is cut off."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        offset = 0
        while offset + _HEADER.size <= len(data):
            received_ns, now_s, sent, topic_size, size = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            end = start + topic_size + size
            if end > len(data):
                break
            topic = data[start : start + topic_size].decode("utf-8", errors="replace")
            yield JournalRecord(received_ns, now_s, data[start + topic_size : end], topic, bool(sent))
            offset = end
        if offset < len(data):
            with self.path.open("r+b") as torn:
                torn.truncate(offset)

    def open(self) -> None:
        """Create the file (if new) for appending: from now on a restart knows it was in this run."""
        self.closed = False
        if self._file is None:
            self._file = self.path.open("ab")

    def append(self, record: JournalRecord) -> None:
        """Write one record and hand it to the OS (no fsync: a killed process, not a lost machine)."""
        if self._file is None:
            self._file = self.path.open("ab")
        topic = record.topic.encode()
        header = _HEADER.pack(record.received_ns, record.now_s, record.sent, len(topic), len(record.payload))
        self._file.write(header + topic + record.payload)
        self._file.flush()

    def close(self) -> None:
        """Close the file (the records stay, for a restart within the run)."""
        self.closed = True
        if self._file is not None:
            self._file.close()
            self._file = None
