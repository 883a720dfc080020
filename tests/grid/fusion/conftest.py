"""Fixtures of the fusion tests: a seeded simulator and the standard sensor sites."""

from __future__ import annotations

import pytest

from tests.grid.fusion.fusion_sim import BEARINGS, RADARS, Sim, Site


@pytest.fixture
def sim() -> Sim:
    """A seeded simulator in the 44.2N 28.8E theater frame."""
    return Sim()


@pytest.fixture
def radars() -> list[Site]:
    """Three ground radars 10-60 km from the test tracks."""
    return list(RADARS)


@pytest.fixture
def bearing_sites() -> list[Site]:
    """Four bearing-only sensors (RF and acoustic)."""
    return list(BEARINGS)
