"""Who shares reports with whom in ``gridsim bench scale``: rosters of any size, topology only.

At the roster's own size the real grids are used. Any other size ``n`` gets generated grids:
grid ``k`` (``k = 0 .. ceil(n / 5) - 1``) holds nodes ``5k .. 5k + 9`` modulo ``n``, so grids
overlap by half, hold at most 10 members, and for ``n >= 15`` a multiple of 5 every node is in
two grids with 14 peers (below 10 nodes there is one grid of everyone). A node's peers are the
other members of its grids; each node publishes once on its own topic and subscribes to each
peer's, and the fusion centre subscribes to every node's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from grid.app.bench.traffic import bench_members
from grid.errors import ConfigError
from grid.world.roster import MemberState, Roster

__all__ = ["GRID_MAX", "RULE", "Topology", "scale_topology"]

GRID_MAX = 10
_STRIDE = 5
RULE = (
    f"the roster's own grids at its size; otherwise grid k = nodes {_STRIDE}k..{_STRIDE}k+{GRID_MAX - 1} "
    f"mod N for k < ceil(N/{_STRIDE})"
)


@dataclass(frozen=True, slots=True)
class Topology:
    """Nodes (by index), their grids and each node's peers; checked on creation.

    Attributes:
        nodes: node ids, index = position.
        grids: member indices of each grid (at most :data:`GRID_MAX`).
        peers: for each node, the other members of its grids (ascending).
        source: ``roster`` or ``generated``.
    """

    nodes: tuple[str, ...]
    grids: tuple[tuple[int, ...], ...]
    peers: tuple[tuple[int, ...], ...]
    source: str

    def __post_init__(self) -> None:
        n = len(self.nodes)
        if len(set(self.nodes)) != n:
            raise ConfigError("bench topology: node ids are not distinct")
        if any(len(g) > GRID_MAX for g in self.grids):
            raise ConfigError(f"bench topology: a grid has more than {GRID_MAX} members")
        if {i for g in self.grids for i in g} != set(range(n)):
            raise ConfigError("bench topology: some node is in no grid")
        if len(self.peers) != n or any(i not in self.peers[j] for i in range(n) for j in self.peers[i]):
            raise ConfigError("bench topology: peers are not symmetric")

    @property
    def deliveries_per_report(self) -> float:
        """Mean subscribers of one report: the sender's peers plus the fusion centre."""
        return sum(len(p) for p in self.peers) / len(self.nodes) + 1

    def subscribers(self, sender: int) -> tuple[int, ...]:
        """Who receives ``sender``'s reports: its peers and the centre (index ``len(nodes)``)."""
        return (*self.peers[sender], len(self.nodes))


def _peers(n: int, grids: list[tuple[int, ...]]) -> tuple[tuple[int, ...], ...]:
    peers: list[set[int]] = [set() for _ in range(n)]
    for g in grids:
        for i in g:
            peers[i].update(j for j in g if j != i)
    return tuple(tuple(sorted(p)) for p in peers)


def generated_grids(n: int) -> list[tuple[int, ...]]:
    """The generated rule's grids for ``n`` nodes, without repeats."""
    out: list[tuple[int, ...]] = []
    for k in range(math.ceil(n / _STRIDE)):
        grid = tuple(sorted({(_STRIDE * k + j) % n for j in range(GRID_MAX)}))
        if grid not in out:
            out.append(grid)
    return out


def scale_topology(n: int, roster: Roster) -> tuple[Topology, list[MemberState]]:
    """The topology of ``n`` nodes and their members (the roster's, then generated copies)."""
    if n < 2:
        raise ConfigError(f"a scale bench needs at least 2 nodes, got {n}")
    members = bench_members(roster, n)
    ids = tuple(m.id for m in members)
    if n == len(roster):
        index = {node: i for i, node in enumerate(ids)}
        grids = [tuple(sorted(index[m] for m in group)) for group in roster.grids.values()]
        source = "roster"
    else:
        grids = generated_grids(n)
        source = "generated"
    return Topology(nodes=ids, grids=tuple(grids), peers=_peers(n, grids), source=source), members
