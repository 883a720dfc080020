"""Each member state's time to awareness of each threat, from the reports as they flowed.

A member learns of a threat at the earliest of: a detection by one of its own sensors (at the
measurement time), a report of it by a member sharing one of its grids (at the report's arrival),
and the first confirmed fused track of it (when issued), as the spine's metrics define it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from grid.fusion import Detection

__all__ = ["awareness_times"]


def awareness_times(
    reports: Iterable[tuple[float, Detection]],
    grids: Mapping[str, Iterable[str]],
    confirmed_at: Mapping[str, float],
) -> dict[str, dict[str, float]]:
    """Member -> threat -> time of awareness (threats a member never learned of are absent).

    Args:
        reports: (arrival time, detection) of every report; ``truth_id`` names the threat.
        grids: member -> the grids it belongs to.
        confirmed_at: threat -> issue time of its first confirmed fused track.
    """
    member_grids = {m: set(g) for m, g in grids.items()}
    peers = {m: {o for o, og in member_grids.items() if o != m and og & mg} for m, mg in member_grids.items()}
    out: dict[str, dict[str, float]] = {m: dict(confirmed_at) for m in member_grids}
    for arrival, det in reports:
        threat = det.truth_id
        if threat is None:
            continue
        for member in member_grids:
            if member == det.node_id:
                when = det.time
            elif det.node_id in peers[member]:
                when = arrival
            else:
                continue
            known = out[member].get(threat)
            if known is None or when < known:
                out[member][threat] = when
    return out
