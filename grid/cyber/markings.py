"""TLP 2.0 levels and their STIX 2.1 marking definitions.

stix2 3.x ships only the TLP 1.0 markings (WHITE, GREEN, AMBER, RED). The grid uses TLP 2.0
(CLEAR and AMBER+STRICT exist there), in the form FIRST and OASIS published it: marking
definitions with fixed ids whose level sits in the ``tlp_2_0`` property extension of the
extension definition below. These are the ids misp-stix maps to its ``tlp:*`` tags
(``misp_stix_converter.misp_stix_mapping.TLP2MarkingDefinitions``), and stix2-validator accepts
them without errors.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import stix2

from grid.world.events import Tlp

__all__ = ["TLP_EXTENSION_ID", "TLP_MARKINGS", "Tlp", "marking_of", "tlp_of_marking"]

TLP_EXTENSION_ID = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


_IDS = {
    Tlp.CLEAR: "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
    Tlp.GREEN: "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
    Tlp.AMBER: "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421",
    Tlp.AMBER_STRICT: "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
    Tlp.RED: "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1",
}


def _marking(tlp: Tlp) -> Any:
    return stix2.MarkingDefinition(
        id=_IDS[tlp],
        created="2022-10-01T00:00:00.000Z",
        name=f"TLP:{tlp.value.upper()}",
        extensions={TLP_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": tlp.value}},
    )


TLP_MARKINGS: MappingProxyType[Tlp, Any] = MappingProxyType({tlp: _marking(tlp) for tlp in Tlp})
"""The marking definition of each level."""

_BY_ID = {marking.id: tlp for tlp, marking in TLP_MARKINGS.items()}


def marking_of(tlp: Tlp) -> Any:
    """The STIX marking definition of ``tlp``."""
    return TLP_MARKINGS[tlp]


def tlp_of_marking(marking_id: str) -> Tlp | None:
    """The level whose marking definition has id ``marking_id``; None for any other id."""
    return _BY_ID.get(marking_id)
