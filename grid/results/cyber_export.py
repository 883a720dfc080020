"""A run's cyber exchange as one STIX 2.1 bundle file, checked by the tools of the trade.

The run writes the objects the exchange shared to ``RUN_DIR/cyber-objects.json`` (a JSON list:
identities, TLP 2.0 marking definitions, ATT&CK attack patterns, indicators, relationships,
sightings, courses of action). :func:`export_bundle` wraps them in a bundle, writes
``RUN_DIR/cyber-bundle.json`` and checks it:

- ``stix2`` parses the written file back, custom content refused;
- OASIS's ``stix2-validator``, default options, reports its errors and warnings. It is a dev
  dependency: when it is not installed the export still runs and says so (a run must not fail
  for want of a checker; the tests and ``gridsim cyber export`` on a dev install run it).

The bundle's id is a UUIDv5 of the objects' ids and versions, so one run's objects always give
the same bytes. An empty list gives a bundle with no ``objects`` property: stix2 and the validator
both accept it (stix2 3.0 cannot parse ``"objects": []`` without being told the spec version).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import stix2
import stix2.exceptions

from grid.cyber.stix import stix_id
from grid.errors import CyberExportError

__all__ = ["BUNDLE_FILE", "OBJECTS_FILE", "ExportReport", "ValidatorResult", "export_bundle"]

OBJECTS_FILE = "cyber-objects.json"
BUNDLE_FILE = "cyber-bundle.json"

_CODE = re.compile(r"\{(\d+)\}")
# What stix2 raises for an object it refuses: its own errors, and plain ones from property checks.
_STIX_ERRORS = (stix2.exceptions.STIXError, ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class ValidatorResult:
    """What ``stix2-validator`` (default options) said of the bundle.

    Attributes:
        errors: each error as the validator words it.
        warnings: each warning as the validator words it.
    """

    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def warning_codes(self) -> dict[str, int]:
        """Warnings by the validator's check code (``103``: not a UUIDv4 id, ...), sorted by code."""
        codes = Counter(m.group(1) if (m := _CODE.search(w)) else "other" for w in self.warnings)
        return dict(sorted(codes.items()))


@dataclass(frozen=True)
class ExportReport:
    """The bundle written and what checked it.

    Attributes:
        path: the bundle file.
        bundle_id: the bundle's deterministic id.
        objects_by_type: how many objects of each STIX type, sorted by type.
        validator: stix2-validator's result; None when it is not installed.
    """

    path: Path
    bundle_id: str
    objects_by_type: dict[str, int] = field(default_factory=dict)
    validator: ValidatorResult | None = None

    @property
    def objects(self) -> int:
        """How many objects the bundle holds."""
        return sum(self.objects_by_type.values())

    @property
    def valid(self) -> bool:
        """No validator errors (stix2 parsed the bundle back, or there would be no report)."""
        return self.validator is None or not self.validator.errors

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (for a summary or ``--json``)."""
        v = self.validator
        return {
            "path": str(self.path),
            "bundle_id": self.bundle_id,
            "objects": self.objects,
            "objects_by_type": dict(self.objects_by_type),
            "validator": None
            if v is None
            else {"errors": len(v.errors), "warnings": len(v.warnings), "warning_codes": v.warning_codes},
        }


def _read_objects(file: Path) -> list[Any]:
    where = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CyberExportError(where, "no such file: the run wrote no cyber objects") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CyberExportError(where, f"cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CyberExportError(
            where, f"not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(data, list):
        raise CyberExportError(
            where, f"expected a JSON list of STIX objects, got a JSON {type(data).__name__}"
        )
    objects = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise CyberExportError(where, f"objects[{i}]: expected a STIX object, got {type(item).__name__}")
        name = item.get("id") or item.get("type") or "no id"
        try:
            objects.append(stix2.parse(item, allow_custom=False, version="2.1"))
        except _STIX_ERRORS as exc:
            problem = " ".join(str(exc).split())  # stix2's messages span lines; the CLI prints one
            raise CyberExportError(where, f"objects[{i}] ({name}): stix2 refused it: {problem}") from None
    return objects


def _bundle_id(objects: list[Any]) -> str:
    versions = sorted(f"{o.id}|{o.get('modified', o.get('created', ''))}" for o in objects)
    return stix_id("bundle", *versions)


def _validate(text: str) -> ValidatorResult | None:
    try:
        from stix2validator import ValidationOptions, validate_string
    except ImportError:
        return None
    results = validate_string(text, ValidationOptions())
    return ValidatorResult(
        errors=tuple(str(e) for e in results.errors), warnings=tuple(str(w) for w in results.warnings)
    )


def export_bundle(run_dir: Path) -> ExportReport:
    """Write ``run_dir/cyber-bundle.json`` from ``run_dir/cyber-objects.json`` and check it.

    The objects keep their order. The file is pretty-printed in stix2's property order and
    replaced atomically.

    Raises:
        CyberExportError: the objects file is missing, not JSON, not a list, or holds an object
            that stix2 refuses (its index and id named).
    """
    objects = _read_objects(run_dir / OBJECTS_FILE)
    bundle_id = _bundle_id(objects)
    if objects:
        bundle = stix2.Bundle(id=bundle_id, objects=objects, allow_custom=False)
    else:
        bundle = stix2.Bundle(id=bundle_id, allow_custom=False)
    text = str(bundle.serialize(pretty=True)) + "\n"
    out = run_dir / BUNDLE_FILE
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    # Read back what was written, not the objects in memory: the file is what others load.
    parsed = stix2.parse(out.read_text(encoding="utf-8"), allow_custom=False, version="2.1")
    by_type = Counter(o.type for o in parsed.get("objects", ()))
    return ExportReport(
        path=out,
        bundle_id=bundle_id,
        objects_by_type=dict(sorted(by_type.items())),
        validator=_validate(text),
    )
