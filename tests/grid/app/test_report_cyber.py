"""The printed report of a run's cyber exchange, and of ``gridsim cyber export``, rendered to a string."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console

from grid.app.report import print_cyber, print_export, print_summary
from grid.results.cyber_export import export_bundle
from tests.grid.results.cyber_run import campaign_objects, cyber_section, write_objects


def _render(draw: Any, *args: Any) -> str:
    out = io.StringIO()
    draw(Console(file=out, width=200, color_system=None), *args)
    return out.getvalue()


def _rows(text: str) -> dict[str, list[str]]:
    """Table rows by their first cell."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        if len(cells) > 1:
            rows[cells[0]] = cells[1:]
    return rows


def test_indicators_table_and_figures() -> None:
    """One row per indicator: observed-by count, sightings, time to flag and to mitigate; then duplicates,
    analysis saved as a percent and time to warning over members."""
    text = _render(print_cyber, cyber_section())
    rows = _rows(text)
    assert rows["url"] == ["http://evil.example/login?a=1&b=2", "5", "4", "43.0", "48.0"]
    assert rows["email"] == ["billing@evil.example", "2", "1", "13.0", "18.0"]
    assert rows["domain"] == ["evil.example", "1", "0", "3.0", "8.0"]
    # 9 reports, 5 of them sightings: 56% of the analysis saved. Warned after 7, 4, 6, 5, 4 s.
    assert "cyber: 0 duplicates absorbed, analysis saved 56%" in text
    assert "time to warning p50 5.0 s, max 7.0 s over 5 of 5 members warned" in text
    assert "rejected" not in text
    assert "TAXII" not in text


def test_a_restart_of_the_hub_is_reported_with_the_indicators_it_delayed() -> None:
    """A ``recovery`` section: what the restart replayed, and the indicators whose times it delayed."""
    cyber = cyber_section()
    url = cyber["indicators"][0]
    cyber["recovery"] = {
        "replayed": 37,
        "resent": 2,
        "redelivered": 1,
        "queued": 6,
        "late_keys": [url["key"]],
    }
    text = _render(print_cyber, cyber)
    assert (
        "cyber hub restarted: 37 messages replayed, 2 sent again, 1 redeliveries dropped, 6 queued "
        "while down; times delayed by it: url"
    ) in text
    assert "restarted" not in _render(print_cyber, cyber_section()), "no restart, no line"


def test_unfinished_indicators_rejections_and_taxii() -> None:
    """Not yet flagged or mitigated shows '-'; unwarned members are left out of the percentiles;
    rejections are listed by reason and the TAXII push is summed up."""
    cyber = cyber_section(
        rejected={"bad_pattern": 2, "too_large": 1, "bad_marking": 0},
        taxii={"pushed": 14, "failures": 0, "seconds": 0.4213},
    )
    cyber["indicators"][0] |= {"time_to_flag_s": None, "time_to_mitigate_s": None}
    cyber["time_to_warning_s"] |= {"RO": None, "BG": None}
    text = _render(print_cyber, cyber)
    assert _rows(text)["url"] == ["http://evil.example/login?a=1&b=2", "5", "4", "-", "-"]
    assert "time to warning p50 5.0 s, max 6.0 s over 3 of 5 members warned" in text
    assert "cyber reports rejected: 3 (bad_pattern 2, too_large 1)" in text
    assert "TAXII feed: 14 objects pushed in 0.42 s" in text


def test_no_member_warned_and_a_failed_feed() -> None:
    """With no acknowledgement yet the line says so; failed TAXII pushes are counted."""
    cyber = cyber_section(taxii={"pushed": 0, "failures": 3})
    cyber["time_to_warning_s"] = dict.fromkeys(cyber["time_to_warning_s"])
    text = _render(print_cyber, cyber)
    assert "none of 5 members warned" in text
    assert "TAXII feed: 0 objects pushed 3 failed pushes" in text


def test_absent_or_empty_section_prints_nothing() -> None:
    """No cyber section, a null one, or one with no indicator: nothing at all."""
    assert _render(print_cyber, None) == ""
    assert _render(print_cyber, {}) == ""
    assert _render(print_cyber, cyber_section(indicators=[], taxii=None)) == ""


def _summary(**extra: Any) -> dict[str, Any]:
    """The smallest run summary print_summary draws: no threats, no members."""
    return {
        "scenario": "cyber-phishing",
        "seed": 1,
        "speed": 10.0,
        "broker": {"kind": "mosquitto", "url": "mqtt://127.0.0.1:1883"},
        "wall_time_s": 3.2,
        "threats": [],
        "awareness": {},
        "per_node": {},
        "messages": {"published": 0, "delivered": 0, "rejected": {}, "duplicates": 0},
    } | extra


def test_run_report_includes_the_cyber_section_only_when_present() -> None:
    """The run's printed report carries the indicators table after the message figures, when it has one."""
    with_cyber = _render(print_summary, _summary(cyber=cyber_section(), warnings=["a warning"]))
    assert "Cyber indicators" in with_cyber
    assert with_cyber.index("reports published") < with_cyber.index("Cyber indicators")
    assert with_cyber.index("analysis saved") < with_cyber.index("a warning")
    without = _render(print_summary, _summary())
    assert "Cyber" not in without
    assert "cyber" not in without.replace("cyber-phishing", "")


def test_export_rendering(tmp_path: Path) -> None:
    """The export's table counts each type and the total; the validator's verdict and warning codes follow."""
    report = export_bundle(write_objects(tmp_path, campaign_objects()).parent)
    text = _render(print_export, report)
    rows = _rows(text)
    assert rows["indicator"] == ["4"]
    assert rows["total"] == [str(report.objects)]
    assert f"bundle id {report.bundle_id}\nstix2: parsed back, no custom content" in text
    assert report.validator is not None
    n = len(report.validator.warnings)
    assert f"stix2-validator: valid, {n} warnings by check code (103: " in text
    assert f"bundle written to {report.path}" in text


def test_exported_bundle_line(tmp_path: Path) -> None:
    """When the run put its export's report in the section, one line gives the bundle and the verdict."""
    report = export_bundle(write_objects(tmp_path, campaign_objects()).parent)
    text = _render(print_cyber, cyber_section(export=report.as_dict()))
    assert report.validator is not None
    assert (
        f"STIX bundle: {report.objects} objects in {report.path}; stix2-validator: valid, "
        f"{len(report.validator.warnings)} warnings"
    ) in text
    unchecked = report.as_dict() | {"validator": None}
    assert "stix2-validator not installed" in _render(print_cyber, cyber_section(export=unchecked))


def test_a_pattern_of_more_than_one_comparison_is_shown_whole() -> None:
    """An indicator whose pattern is not one comparison of a known observable keeps its pattern."""
    cyber = cyber_section()
    odd = "[url:value = 'http://a.example/'] OR [domain-name:value = 'a.example']"
    cyber["indicators"][0] |= {"pattern": odd}
    assert _rows(_render(print_cyber, cyber))["?"][0] == odd
