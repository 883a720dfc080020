"""The fusion centre's tracker: synchronous, assembled from small injected components.

Imports only the root modules (errors, geo): it knows nothing of MQTT, the wire or scenarios."""

from __future__ import annotations

from grid.fusion.associator import Associator, GnnAssociator, JpdaAssociator
from grid.fusion.confirmer import Confirmer, CoverageConfirmer, MOfNConfirmer, UpdateCountConfirmer
from grid.fusion.coverage import Coverage, RadarCoverage, Scan
from grid.fusion.deleter import CoastingDeleter, Deleter, MissedScanDeleter
from grid.fusion.detection import Detection
from grid.fusion.estimator import TrackEstimator
from grid.fusion.filter import ExtendedKalmanFilter, Filter, Innovation, Posterior, UnscentedKalmanFilter
from grid.fusion.gaussian import Gaussian
from grid.fusion.initiator import Initiator, Seed, SensorInitiator, triangulate
from grid.fusion.models import (
    BearingModel,
    ConstantVelocity,
    DetectionModel,
    MeasurementModel,
    MotionModel,
    RangeBearingModel,
)
from grid.fusion.track import Track, TrackSnapshot, TrackStatus
from grid.fusion.tracker import Tracker, default_tracker

__all__ = [
    "Associator",
    "BearingModel",
    "CoastingDeleter",
    "Confirmer",
    "ConstantVelocity",
    "Coverage",
    "CoverageConfirmer",
    "Deleter",
    "Detection",
    "DetectionModel",
    "ExtendedKalmanFilter",
    "Filter",
    "Gaussian",
    "GnnAssociator",
    "Initiator",
    "Innovation",
    "JpdaAssociator",
    "MOfNConfirmer",
    "MeasurementModel",
    "MissedScanDeleter",
    "MotionModel",
    "Posterior",
    "RadarCoverage",
    "RangeBearingModel",
    "Scan",
    "Seed",
    "SensorInitiator",
    "Track",
    "TrackEstimator",
    "TrackSnapshot",
    "TrackStatus",
    "Tracker",
    "UnscentedKalmanFilter",
    "UpdateCountConfirmer",
    "default_tracker",
    "triangulate",
]
