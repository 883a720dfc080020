"""The run's STIX bundle: it parses back, passes stix2-validator, converts to typed MISP attributes, is
deterministic, and a broken objects file is a CyberExportError naming the problem."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import stix2
from misp_stix_converter import ExternalSTIX2toMISPParser
from stix2validator import ValidationOptions, validate_string

from grid.errors import ConfigError, CyberExportError
from grid.results.cyber_export import BUNDLE_FILE, OBJECTS_FILE, export_bundle
from tests.grid.results.cyber_run import HASH, campaign_objects, write_objects


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run folder holding the driven campaign's objects file."""
    write_objects(tmp_path / "run", campaign_objects())
    return tmp_path / "run"


def test_bundle_holds_every_object_and_parses_back(run_dir: Path) -> None:
    """The bundle file has the run's objects in their order; stix2 parses it with no custom content."""
    report = export_bundle(run_dir)
    assert report.path == run_dir / BUNDLE_FILE
    bundle = stix2.parse(report.path.read_text(encoding="utf-8"), allow_custom=False)
    assert bundle.id == report.bundle_id
    assert [o.id for o in bundle.objects] == [o["id"] for o in campaign_objects()]
    assert report.objects_by_type == {
        "attack-pattern": 2,  # T1566.002 (the link) and T1566.001 (the attachment's hash)
        "course-of-action": 4,
        "identity": 7,  # the hub, the Joint Cyber Centre and the 5 reporting members
        "indicator": 4,
        "marking-definition": 4,
        "relationship": 8,  # one `indicates` and one `mitigates` per indicator
        "sighting": 2,  # the URL's (4 members) and the sender address's (1)
    }
    sightings = {o.sighting_of_ref: o.count for o in bundle.objects if o.type == "sighting"}
    url = next(o for o in bundle.objects if o.type == "indicator" and o.pattern.startswith("[url:"))
    assert sightings[url.id] == 4


def test_bundle_passes_the_stix_validator(run_dir: Path) -> None:
    """stix2-validator, default options, finds no errors; the report counts its warnings by code."""
    report = export_bundle(run_dir)
    assert report.validator is not None
    assert report.validator.errors == ()
    assert report.valid
    # Only the expected warnings: UUIDv5 ids (deterministic on purpose) and ATT&CK links without a hash.
    assert set(report.validator.warning_codes) <= {"103", "302"}
    assert sum(report.validator.warning_codes.values()) == len(report.validator.warnings) > 0
    # The report's verdict is the validator's own on the file.
    assert validate_string(report.path.read_text(encoding="utf-8"), ValidationOptions()).is_valid


def test_bundle_converts_to_typed_misp_attributes(run_dir: Path) -> None:
    """misp-stix turns each indicator into a typed MISP attribute, never a raw stix2-pattern."""
    parser = ExternalSTIX2toMISPParser()
    parser.load_stix_bundle(stix2.parse(export_bundle(run_dir).path.read_text(encoding="utf-8")))
    parser.parse_stix_bundle()
    by_type = {a.type: a.value for a in parser.misp_event.attributes}
    assert by_type == {
        "url": "http://evil.example/login?a=1&b=2",
        "email-src": "billing@evil.example",
        "domain": "evil.example",
        "sha256": HASH,
    }


def test_export_is_deterministic(tmp_path: Path) -> None:
    """Two exports of one run, and of two runs of the same campaign, write the same bytes."""
    first = export_bundle(write_objects(tmp_path / "a", campaign_objects()).parent).path.read_bytes()
    again = export_bundle(tmp_path / "a").path.read_bytes()
    other = export_bundle(write_objects(tmp_path / "b", campaign_objects()).parent).path.read_bytes()
    assert first == again == other
    # Another set of objects gets another bundle id.
    fewer = export_bundle(write_objects(tmp_path / "c", campaign_objects()[:-1]).parent)
    assert fewer.bundle_id != json.loads(first)["id"]


def test_empty_objects_give_an_empty_valid_bundle(tmp_path: Path) -> None:
    """A run that shared nothing exports a bundle with no objects that stix2 and the validator accept."""
    report = export_bundle(write_objects(tmp_path, []).parent)
    text = report.path.read_text(encoding="utf-8")
    assert json.loads(text) == {"type": "bundle", "id": report.bundle_id}
    assert stix2.parse(text, allow_custom=False, version="2.1").id == report.bundle_id
    assert (report.objects, report.valid) == (0, True)
    assert report.validator is not None
    assert report.validator.errors == ()


def test_export_without_the_validator_says_so(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With stix2-validator not installed the bundle is still written and parsed back; the report says
    the validator did not run."""
    monkeypatch.setitem(sys.modules, "stix2validator", None)  # import raises ImportError
    report = export_bundle(run_dir)
    assert report.validator is None
    assert report.valid
    assert report.as_dict()["validator"] is None
    assert report.objects == len(campaign_objects())


def _broken_pattern() -> list[dict[str, Any]]:
    objects = campaign_objects()
    indicator = next(o for o in objects if o["type"] == "indicator")
    indicator["pattern"] = "[url:value = 'http://evil.example/'"
    return objects


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such file"),
        ("{not json", "not JSON: Expecting property name enclosed in double quotes at line 1, column 2"),
        ('{"objects": []}', "expected a JSON list of STIX objects, got a JSON dict"),
        ("[1]", "objects[0]: expected a STIX object, got int"),
        (json.dumps([{"type": "indicator", "id": "x"}]), "objects[0] (x): stix2 refused it"),
        (json.dumps(_broken_pattern()), "objects[13] (indicator--"),
    ],
    ids=["missing", "not-json", "not-a-list", "not-an-object", "bad-id", "bad-pattern"],
)
def test_bad_objects_file_is_a_typed_error(tmp_path: Path, content: str | None, problem: str) -> None:
    """Each broken objects file is a CyberExportError (a ConfigError) naming the file and the problem;
    no bundle is written."""
    if content is not None:
        (tmp_path / OBJECTS_FILE).write_text(content, encoding="utf-8")
    with pytest.raises(CyberExportError) as caught:
        export_bundle(tmp_path)
    assert isinstance(caught.value, ConfigError)
    assert caught.value.file == str(tmp_path / OBJECTS_FILE)
    assert problem in caught.value.problem
    assert "\n" not in str(caught.value)
    assert not (tmp_path / BUNDLE_FILE).exists()


def test_bad_pattern_error_names_the_pattern(tmp_path: Path) -> None:
    """stix2's refusal of a broken indicator pattern is kept in the error: the property and the parse."""
    write_objects(tmp_path, _broken_pattern())
    with pytest.raises(CyberExportError, match=r"Invalid value for Indicator 'pattern'.*missing '\]'"):
        export_bundle(tmp_path)
