"""Scoring a tracked picture against ground truth: run metrics, OSPA and GOSPA, track quality, the bound.

Imports fusion, the world and the root modules; participants (a node scoring its own picture) use it."""

from __future__ import annotations

from grid.evaluation.awareness import awareness_times
from grid.evaluation.ospa import Gospa, gospa, ospa
from grid.evaluation.pcrlb import BoundPoint, bound_rmse, pcrlb
from grid.evaluation.picture import TrackUpdate, picture_at, pictures, updates_from_snapshots
from grid.evaluation.quality import RunQuality, Scoring, ThreatQuality, evaluate, labelled_quality
from grid.evaluation.truth_table import TruthTable

__all__ = [
    "BoundPoint",
    "Gospa",
    "RunQuality",
    "Scoring",
    "ThreatQuality",
    "TrackUpdate",
    "TruthTable",
    "awareness_times",
    "bound_rmse",
    "evaluate",
    "gospa",
    "labelled_quality",
    "ospa",
    "pcrlb",
    "picture_at",
    "pictures",
    "updates_from_snapshots",
]
