"""The simulated link of a node: loss, delay, jitter and bandwidth from link_impairment events."""

from __future__ import annotations

from grid.participants.link import Link, unit_draw
from grid.world.scenario import scenario_from_dict
from grid.world.timeline import Timeline


def _timeline(**impairment: float) -> Timeline:
    scenario = scenario_from_dict(
        {
            "name": "link",
            "duration_s": 100,
            "threats": [
                {"id": "a", "speed_mps": 50, "altitude_m": 300, "path": [[44.2, 29.0], [44.2, 28.9]]}
            ],
            "events": [{"kind": "link_impairment", "at_s": 10, "duration_s": 50, "node": "RO", **impairment}],
        }
    )
    return Timeline(scenario)


def test_clean_link_passes_at_once() -> None:
    """Outside the impairment a message gets through at the time it is offered."""
    link = Link(_timeline(latency_ms=300), "RO", seed=1)
    assert link.through(5.0, 200, "m1") == 5.0
    assert link.through(70.0, 200, "m2") == 70.0


def test_latency_delays_by_the_configured_amount() -> None:
    """300 ms of latency delays a message by 0.3 simulation seconds."""
    link = Link(_timeline(latency_ms=300), "RO", seed=1)
    assert link.through(20.0, 200, "m1") == 20.3


def test_jitter_stays_within_bounds_and_varies() -> None:
    """Jitter spreads delays within latency +- jitter."""
    link = Link(_timeline(latency_ms=300, jitter_ms=100), "RO", seed=1)
    delays = [link.through(20.0, 200, f"m{i}") - 20.0 for i in range(500)]  # type: ignore[operator]
    assert min(delays) >= 0.2 - 1e-9
    assert max(delays) <= 0.4 + 1e-9
    assert max(delays) - min(delays) > 0.15


def test_loss_fraction_and_determinism() -> None:
    """A 10% loss drops about a tenth of messages, the same ones every time."""
    first = Link(_timeline(loss=0.1), "RO", seed=7)
    second = Link(_timeline(loss=0.1), "RO", seed=7)
    outcomes = [first.through(20.0, 200, f"m{i}") is None for i in range(5000)]
    assert outcomes == [second.through(20.0, 200, f"m{i}") is None for i in range(5000)]
    assert 0.08 < sum(outcomes) / len(outcomes) < 0.12


def test_bandwidth_serialises_messages() -> None:
    """At 8 kbps each 1000-byte message occupies the link for one second."""
    link = Link(_timeline(bandwidth_kbps=8), "RO", seed=1)
    arrivals = [link.through(20.0, 1000, f"m{i}") for i in range(3)]
    assert arrivals == [21.0, 22.0, 23.0]


def test_held_messages_release_in_due_order() -> None:
    """Held messages come out when due, earliest first."""
    link = Link(_timeline(latency_ms=1), "RO", seed=1)
    link.hold(3.0, "t", b"c")
    link.hold(1.0, "t", b"a")
    link.hold(2.0, "t", b"b")
    assert link.next_due() == 1.0
    assert [p for _, p in link.release(2.5)] == [b"a", b"b"]
    assert [p for _, p in link.release(10.0)] == [b"c"]


def test_unit_draw_is_uniformish() -> None:
    """The hash-based draw is in [0, 1) and spreads evenly."""
    draws = [unit_draw("k", i) for i in range(4000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert 0.45 < sum(draws) / len(draws) < 0.55
