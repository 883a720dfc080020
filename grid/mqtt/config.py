"""The configuration file of a broker gridsim starts, rendered from the one copy in ``broker/``.

``broker/mosquitto.conf`` and ``broker/amqtt.yaml`` are the only sources: the wheel ships them
as ``grid/_data/broker`` (:func:`grid.bundled.bundled_dir` finds either). A missing or broken
template is a :class:`~grid.errors.BrokerStartError`, not a silent fallback that could drift.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from grid.bundled import bundled_dir
from grid.errors import BrokerStartError

__all__ = ["CONFIG_FILES", "LocalKind", "read_template", "render_config", "write_config"]

LocalKind = Literal["mosquitto", "amqtt"]
"""The brokers gridsim can start itself."""

CONFIG_FILES: dict[LocalKind, str] = {"mosquitto": "mosquitto.conf", "amqtt": "amqtt.yaml"}
_PORT = "{port}"
_DIR = "{dir}"


def read_template(kind: LocalKind, folder: Path | None = None) -> str:
    """The template of ``kind`` from ``folder`` (default: the bundled ``broker/``).

    Raises:
        BrokerStartError: the file is missing or unreadable, or has no ``{port}`` placeholder.
    """
    path = (folder if folder is not None else bundled_dir("broker")) / CONFIG_FILES[kind]
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BrokerStartError(
            kind, f"cannot read its configuration template {path} ({exc.strerror or exc}); reinstall gridsim"
        ) from exc
    if _PORT not in text:
        raise BrokerStartError(kind, f"configuration template {path} has no {_PORT} placeholder")
    return text


def render_config(kind: LocalKind, port: int, workdir: Path, folder: Path | None = None) -> str:
    """The template with its port and working-folder placeholders filled in."""
    text = read_template(kind, folder).replace(_PORT, str(port)).replace(_DIR, str(workdir))
    if kind == "mosquitto" and os.geteuid() == 0:
        # As root Mosquitto switches to user "mosquitto", and a uid change clears PR_SET_PDEATHSIG.
        text += "\nuser root\n"
    return text


def write_config(kind: LocalKind, port: int, workdir: Path, *, extra: str = "") -> Path:
    """Render the configuration into ``workdir`` (``extra`` appended, e.g. bridges) and return its path."""
    path = workdir / CONFIG_FILES[kind]
    path.write_text(render_config(kind, port, workdir) + extra, encoding="utf-8")
    return path
