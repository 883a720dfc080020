"""The outsiders of a run's ``forgery`` events (:mod:`grid.participants.outsider`), played beside it.

Each one connects on its own, as a stranger: over TLS in secure mode, trusting the grid's CA
(public) but presenting no certificate, so the broker refuses it; on the plain port otherwise.
Its account goes into its event's entry of the summary (:func:`grid.results.forgery.add_outsider`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grid.app.controller import RunController
from grid.app.federation import RunBrokers
from grid.participants.outsider import Outsider
from grid.results.forgery import add_outsider
from grid.security.signing import KeyFileError, Signer, SigningKeys
from grid.security.tls import active_credentials, client_context
from grid.wire.messages import RunControl
from grid.world.events import Forgery

if TYPE_CHECKING:
    from grid.app.run import RunOptions

__all__ = ["Outsiders", "play_outsiders"]

log = logging.getLogger(__name__)


@dataclass
class Outsiders:
    """The outsiders of one run, and a wait for them to be done."""

    members: list[Outsider]
    tasks: list[asyncio.Task[None]]

    def settled_after(self, first: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """A wait for ``first``, then for every outsider to have sent its last message (and had it
        acknowledged): the run's end is announced after them, so every receiver counts them all."""

        async def settled() -> None:
            await first()
            if self.tasks:
                await asyncio.wait(self.tasks)

        return settled

    def add_accounts(self, summary: dict[str, Any]) -> None:
        """Each outsider's account into its forgery entry of the summary (matched by phantom id)."""
        by_phantom = {o.event.phantom.id: o for o in self.members}
        for entry in summary.get("events", []):
            outsider = by_phantom.get(entry.get("phantom", "")) if entry.get("kind") == "forgery" else None
            if outsider is not None:
                add_outsider(entry, outsider.account.to_dict())


@asynccontextmanager
async def play_outsiders(
    options: RunOptions, start: RunControl, brokers: RunBrokers, controller: RunController
) -> AsyncIterator[Outsiders]:
    """Play every forgery event of the run while inside (each stops at its event's end, or on exit)."""
    assert options.scenario is not None
    events = [e for e in options.scenario.events if isinstance(e, Forgery)]
    if not events:
        yield Outsiders([], [])
        return
    credentials = active_credentials()
    tls = None if credentials is None else client_context(credentials.layout.ca_cert)
    keys = controller.signing
    outsiders = [
        Outsider(
            e,
            scenario=options.scenario,
            roster=options.roster,
            host=brokers.home(e.as_node)[0],
            port=brokers.home(e.as_node)[1],
            tls=tls,
            recorder=_recorder(keys, e.as_node),
            replay_window_s=options.replay_window_s,
        )
        for e in events
    ]
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(o.play(start), name=f"grid[outsider-{o.event.as_node}].play") for o in outsiders
        ]
        try:
            yield Outsiders(outsiders, tasks)
        finally:
            for task in tasks:
                task.cancel()


def _recorder(keys: SigningKeys | None, node: str) -> Signer | None:
    """The member's signer, the stand-in for its old recording; None when the grid signs nothing or
    its key is not here (``--external`` with public keys only): the stale report then goes unsigned."""
    if keys is None:
        return None
    try:
        return keys.signer(node)
    except KeyFileError as exc:
        log.warning("forgery as %s: no stale recording can be signed (%s); it goes unsigned", node, exc)
        return None
