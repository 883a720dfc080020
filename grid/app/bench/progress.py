"""A long bench's live progress: a rich bar on stderr, only on a terminal and never with ``--quiet``
(which ``gridsim bench --json`` sets), as the latency and scale benches show theirs.

The timed benches (codec, fusion) refresh it only when they step (``auto_refresh=False``): no
refresh thread competes with what they time.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, ProgressColumn

__all__ = ["bench_progress", "shows_progress"]


def shows_progress(args: argparse.Namespace, console: Console) -> bool:
    """Whether a bench shows live progress on ``console``: a terminal, and no ``--quiet``.

    ``python -m grid.app.bench`` has no ``--quiet`` for every bench: absent means not quiet.
    """
    return not getattr(args, "quiet", False) and console.is_terminal


def bench_progress(
    args: argparse.Namespace, console: Console, *columns: ProgressColumn, auto_refresh: bool = True
) -> Progress:
    """A transient rich progress display on ``console`` (stderr), disabled unless :func:`shows_progress`."""
    from rich.progress import Progress

    return Progress(
        *columns,
        console=console,
        transient=True,
        auto_refresh=auto_refresh,
        disable=not shows_progress(args, console),
    )
