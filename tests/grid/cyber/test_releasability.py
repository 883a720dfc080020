"""Tests of grid.cyber.releasability and grid.cyber.markings: the TLP rules for every marking."""

from __future__ import annotations

import pytest

from grid.cyber.markings import TLP_MARKINGS, Tlp, marking_of, tlp_of_marking
from grid.cyber.releasability import recipients

MEMBERS = frozenset({"RO", "BG", "PL"})
OTHERS = frozenset({"UA-observer"})

# Every level: who receives a mitigation that RO originated.
TABLE: list[tuple[Tlp, frozenset[str]]] = [
    (Tlp.RED, frozenset({"RO"})),
    (Tlp.AMBER_STRICT, MEMBERS),
    (Tlp.AMBER, MEMBERS),
    (Tlp.GREEN, MEMBERS | OTHERS),
    (Tlp.CLEAR, MEMBERS | OTHERS),
]


@pytest.mark.parametrize(("tlp", "expected"), TABLE, ids=[t.value for t, _ in TABLE])
def test_recipients_by_level(tlp: Tlp, expected: frozenset[str]) -> None:
    """RED reaches the originator only, AMBER the members, GREEN and CLEAR everyone."""
    assert recipients(tlp, "RO", MEMBERS, OTHERS) == expected


def test_table_covers_every_level() -> None:
    """The table above has a row for every TLP level."""
    assert {tlp for tlp, _ in TABLE} == set(Tlp)


@pytest.mark.parametrize("tlp", list(Tlp), ids=[t.value for t in Tlp])
def test_originator_always_receives(tlp: Tlp) -> None:
    """The originator receives its own mitigation at every level, even when not listed as a member."""
    assert "XX" in recipients(tlp, "XX", MEMBERS)


def test_marking_ids_round_trip() -> None:
    """Each level's marking definition is the official TLP 2.0 one and maps back to its level."""
    assert marking_of(Tlp.CLEAR).id == "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
    assert marking_of(Tlp.RED).id == "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
    for tlp, marking in TLP_MARKINGS.items():
        assert tlp_of_marking(marking.id) is tlp
        assert marking.name == f"TLP:{tlp.value.upper()}"
    assert tlp_of_marking("marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9") is None  # TLP 1.0 WHITE
