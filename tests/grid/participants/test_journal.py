"""A participant's journal: records read back in order, a torn last record cut off."""

from __future__ import annotations

from pathlib import Path

from grid.participants.journal import Journal, JournalRecord


def test_records_come_back_in_order(tmp_path: Path) -> None:
    """What was appended is replayed, in order, by a new journal on the same run (a restart)."""
    first = Journal(tmp_path, "run-1")
    assert list(first.replay()) == []
    records = [JournalRecord(10 + i, 0.5 * i, bytes([i]) * i) for i in range(5)]
    for record in records:
        first.append(record)
    first.close()
    assert list(Journal(tmp_path, "run-1").replay()) == records
    assert list(Journal(tmp_path, "run-2").replay()) == [], "one journal per run"


def test_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    """A record cut short by a crash mid-write is dropped, and the file cut back to the last whole one."""
    journal = Journal(tmp_path, "run")
    whole = JournalRecord(1, 1.0, b"whole")
    journal.append(whole)
    journal.append(JournalRecord(2, 2.0, b"torn-record"))
    journal.close()
    size = journal.path.stat().st_size
    with journal.path.open("r+b") as f:
        f.truncate(size - 3)
    again = Journal(tmp_path, "run")
    assert list(again.replay()) == [whole]
    again.append(JournalRecord(3, 3.0, b"next"))
    again.close()
    assert [r.payload for r in Journal(tmp_path, "run").replay()] == [b"whole", b"next"]


def test_run_ids_become_safe_file_names(tmp_path: Path) -> None:
    """A run id with a slash or dots stays inside the journal folder."""
    journal = Journal(tmp_path, "../x/y.z")
    journal.open()
    journal.close()
    assert journal.path.parent == tmp_path
    assert journal.path.exists()


def test_topics_and_sent_marks_come_back(tmp_path: Path) -> None:
    """A record's topic and a sent mark (the hub's and the JCC's) survive the round trip."""
    journal = Journal(tmp_path, "run")
    records = [
        JournalRecord(1, 1.0, b"envelope", "cyber_report/RO"),
        JournalRecord(0, 0.0, b"key", "grid/v1/cyber/jcc", sent=True),
        JournalRecord(2, 2.5, b"", "cyber_flag"),
    ]
    for record in records:
        journal.append(record)
    journal.close()
    assert list(Journal(tmp_path, "run").replay()) == records
