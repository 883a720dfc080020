"""Releasability: who may receive the mitigation of an indicator, by its TLP level.

The hub and the Joint Cyber Centre always hold what members report to them; these rules decide
which other parties the mitigation notice reaches:

``red``
    the originator only (TLP:RED stays between the originator and the hub).
``amber+strict``, ``amber``
    the members of the grid (the originator included). The grid has no member "clients", so
    the two AMBER levels reach the same parties here.
``green``, ``clear``
    everyone: the members and any other party (observers, partners).
"""

from __future__ import annotations

from collections.abc import Iterable

from grid.cyber.markings import Tlp

__all__ = ["recipients"]


def recipients(
    tlp: Tlp, originator: str, members: Iterable[str], others: Iterable[str] = ()
) -> frozenset[str]:
    """Who receives the mitigation of an indicator of level ``tlp`` reported by ``originator``.

    Args:
        tlp: the indicator's marking.
        originator: the member that reported it first.
        members: the grid's member ids.
        others: parties outside the membership that may receive what is public.
    """
    if tlp is Tlp.RED:
        return frozenset({originator})
    entitled = frozenset(members) | {originator}
    if tlp in (Tlp.AMBER, Tlp.AMBER_STRICT):
        return entitled
    return entitled | frozenset(others)
