"""Where the data shipped with gridsim lives: the source tree's folders, else the wheel's copies."""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_dir"]

_PACKAGE = Path(__file__).resolve().parent


def bundled_dir(name: str) -> Path:
    """``name/`` (``nodes``, ``scenarios``, ``broker``) of the source tree, else ``grid/_data/name``."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_data" / name):
        if candidate.is_dir():
            return candidate
    return _PACKAGE.parent / name
