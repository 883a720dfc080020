"""A member node's CERT: what it observes of a scenario's cyber campaigns, as the STIX it reports.

The CERT writes an observable down as it saw it (:class:`~grid.world.cert.CertObservation`'s
``reported`` form: defanged, upper-case, a trailing slash, a default port), and its indicator's
pattern holds exactly that string: seeing through the noise is the hub's work, not the CERT's.
The indicator's id and name come from the observable's key when the reported form refangs and
normalises to one (every form a scenario can give does); otherwise from the ground-truth value,
so a CERT always reports and the hub decides.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from grid.cyber.observables import observable_key
from grid.cyber.stix import indicator, member_identity, pattern_of, sim_time
from grid.errors import CyberRejected
from grid.world.cert import CertObservation

__all__ = ["cert_indicator", "epoch_of"]


def epoch_of(epoch_ns: int) -> datetime:
    """The run's epoch (wall time of simulation time 0) as a timezone-aware datetime, to the microsecond."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=epoch_ns // 1000)


def cert_indicator(obs: CertObservation, epoch: datetime) -> Any:
    """The STIX indicator ``obs.node``'s CERT reports for ``obs``, created at its observation time."""
    try:
        observed = observable_key(obs.kind, obs.reported)
    except CyberRejected:
        observed = observable_key(obs.kind, obs.value)
    as_written = dataclasses.replace(observed, value=obs.reported)
    return indicator(
        observed,
        creator=member_identity(obs.node).id,
        tlp=obs.tlp,
        at=sim_time(epoch, obs.at_s),
        confidence=obs.confidence,
        description=f"{obs.kind.value} {obs.reported} seen by {obs.node} CERT in campaign {obs.campaign}",
        pattern=pattern_of(as_written),
    )
