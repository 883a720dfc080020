"""Reports seen in a run: the first copy is new, a repeat is a duplicate."""

from __future__ import annotations

from grid.participants.seen import SeenReports


def test_first_copy_is_new_and_remembered() -> None:
    """A report's first copy is new (False); afterwards its id is known."""
    seen = SeenReports()
    assert "m1" not in seen
    assert seen.repeat("m1") is False
    assert "m1" in seen


def test_every_repeat_is_a_duplicate() -> None:
    """The same id again, however often, is a repeat; another id is new."""
    seen = SeenReports()
    seen.repeat("m1")
    assert seen.repeat("m1") is True
    assert seen.repeat("m1") is True
    assert seen.repeat("m2") is False, "another report is new"
    assert "m3" not in seen
