"""The summary's warnings: what makes a run's figures unsound is said, with what to do."""

from __future__ import annotations

from typing import Any

from grid.results.summary import run_warnings


def _summary(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "speed": 10.0,
        "tracker": {"detections": 1000, "too_late": 0},
        "latency_ms": {"p50": 2.0},
        "messages": {"lost": 0},
        "missing_accounts": [],
    }
    return base | overrides


def test_sound_run_has_no_warnings() -> None:
    """A run that fused every report in time, lost nothing and heard from everyone is not flagged."""
    assert run_warnings(_summary()) == []


def test_overloaded_grid_is_named_with_its_speed() -> None:
    """Most reports too late and seconds of latency: the warning blames the speed and says so."""
    (warning,) = run_warnings(
        _summary(tracker={"detections": 1000, "too_late": 900}, latency_ms={"p50": 11_700.0})
    )
    assert "900 of 1000 reports (90%)" in warning
    assert "overloaded at --speed 10.0" in warning
    assert "11.7 s" in warning


def test_late_reports_without_latency_point_at_outages() -> None:
    """Late reports with a healthy latency are put down to outages or impaired links first."""
    (warning,) = run_warnings(_summary(tracker={"detections": 1000, "too_late": 100}))
    assert "outages or impaired links" in warning


def test_a_few_late_reports_are_tolerated() -> None:
    """Up to 5% late reports (e.g. a short outage) do not make a run unsound."""
    assert run_warnings(_summary(tracker={"detections": 1000, "too_late": 50})) == []


def test_lost_reports_and_missing_accounts_are_listed() -> None:
    """Lost reports and silent participants each get their own warning."""
    warnings = run_warnings(_summary(messages={"lost": 17}, missing_accounts=["RO", "fusion"]))
    assert warnings == [
        "17 published reports never reached the fusion centre (see messages.lost)",
        "no final account from RO, fusion: their counters are missing",
    ]
