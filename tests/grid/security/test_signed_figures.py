"""The figures signing adds: the codec bench's signed column and the spoofing event's verdict."""

from __future__ import annotations

import json
from pathlib import Path

from grid.app.bench.__main__ import main
from grid.results.event_effects import event_effects
from grid.world.events import Phantom, Spoofing
from grid.world.roster import Roster


def test_codec_bench_signed_column(tmp_path: Path) -> None:
    """``bench codec --signed`` times sign + encode and verify + decode beside the others (not asserted)."""
    assert main(["codec", "--signed", "--repeats", "50", "--inner", "2", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-codec.json").read_text())
    assert results["config"]["signed"] is True
    assert results["versions"]["cryptography"] is not None
    for message in results["messages"].values():
        assert message["signed_bytes"] > message["bytes"]
        signed = message["codecs"]["signed"]
        assert signed["validates"] is True
        assert signed["encode"]["median_us"] > 0
        assert signed["decode"]["median_us"] > 0


def _spoofing(roster: Roster, reports: int, single_source: dict[str, str]) -> dict[str, object]:
    phantom = Phantom(id="ghost", speed_mps=50, altitude_m=300, path=[(44.0, 29.0), (44.1, 29.1)])
    event = Spoofing(kind="spoofing", at_s=10.0, duration_s=20.0, node="RO", phantom=phantom)
    (entry,) = event_effects(
        [event], roster=roster, per_node={}, reports_by_truth={"ghost": reports}, single_source=single_source
    )
    return entry


def test_spoofing_entry_says_what_caught_the_phantom(roster: Roster) -> None:
    """A track on the spoofing member's reports alone is named; none, or no phantom reports, say so."""
    caught = _spoofing(roster, 12, {"T0002": "RO", "T0003": "BG"})
    assert caught["uncorroborated_tracks"] == ["T0002"]
    assert str(caught["caught_by"]).startswith("corroboration: track(s) T0002 rest on RO's reports alone")
    assert str(_spoofing(roster, 12, {"T0003": "BG"})["caught_by"]).startswith("nothing flagged")
    assert str(_spoofing(roster, 0, {})["caught_by"]).startswith("nothing to catch")
