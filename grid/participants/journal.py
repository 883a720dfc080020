"""The fusion centre's journal: every report message it fused in a run, so a restarted centre
(its process killed) rebuilds the very same state by fusing them again, in order.

One file per run, ``<dir>/<run id>.journal``: records of ``received_ns`` (int64), the run's clock
when the message was fused (float64, simulation s), the payload's length (uint32) and the payload
(the envelope's bytes). Each record is written before the message is acknowledged to the broker
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

_HEADER = struct.Struct("<qdI")
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


class JournalRecord(NamedTuple):
    """One fused message: when it arrived (wall ns), the run's clock then, and its envelope."""

    received_ns: int
    now_s: float
    payload: bytes


class Journal:
    """The journal of one run, opened for appending (and read back first, when it exists)."""

    def __init__(self, folder: Path, run_id: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{_SAFE.sub('_', run_id)}.journal"
        self._file: IO[bytes] | None = None

    def replay(self) -> Iterator[JournalRecord]:
        """The records already written (none for a new run); a torn last record is cut off."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        offset = 0
        while offset + _HEADER.size <= len(data):
            received_ns, now_s, size = _HEADER.unpack_from(data, offset)
            end = offset + _HEADER.size + size
            if end > len(data):
                break
            yield JournalRecord(received_ns, now_s, data[offset + _HEADER.size : end])
            offset = end
        if offset < len(data):
            with self.path.open("r+b") as torn:
                torn.truncate(offset)

    def open(self) -> None:
        """Create the file (if new) for appending: from now on a restart knows it was in this run."""
        if self._file is None:
            self._file = self.path.open("ab")

    def append(self, record: JournalRecord) -> None:
        """Write one record and hand it to the OS (no fsync: a killed process, not a lost machine)."""
        if self._file is None:
            self._file = self.path.open("ab")
        self._file.write(_HEADER.pack(record.received_ns, record.now_s, len(record.payload)) + record.payload)
        self._file.flush()

    def close(self) -> None:
        """Close the file (the records stay, for a restart within the run)."""
        if self._file is not None:
            self._file.close()
            self._file = None
