"""The commands' ``--certs DIR`` against a Mosquitto in secure mode: a node process and ``gridsim health``."""

from __future__ import annotations

import asyncio
import subprocess
import time
from typing import TYPE_CHECKING

import pytest

from grid.app.cli import main
from grid.app.health import check_health
from grid.security.tls import Credentials, use_credentials
from tests.grid.security.conftest import SecureGrid

if TYPE_CHECKING:
    from tests.conftest import GridsimProcesses

pytestmark = [pytest.mark.broker, pytest.mark.timeout(120)]

_ONLINE_WITHIN_S = 60.0  # a node process starting on a loaded machine; a bound, not a verdict


def _url(grid: SecureGrid) -> str:
    return f"mqtts://{grid.broker.host}:{grid.broker.port}"


async def test_health_needs_the_certificates(secure_grid: SecureGrid) -> None:
    """``gridsim health --certs DIR`` reaches the secure broker; without them it is refused (exit 1)."""
    url, certs = _url(secure_grid), str(secure_grid.layout.root)
    assert await asyncio.to_thread(main, ["health", "--broker", url, "--certs", certs]) == 0
    assert await asyncio.to_thread(main, ["health", "--broker", url, "--timeout", "10"]) == 1


async def test_grid_certs_is_the_default_of_certs(
    secure_grid: SecureGrid, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a container the certificates folder comes from GRID_CERTS."""
    monkeypatch.setenv("GRID_CERTS", str(secure_grid.layout.root))
    assert await asyncio.to_thread(main, ["health", "--broker", _url(secure_grid)]) == 0


async def test_a_node_process_joins_the_secure_grid_with_its_own_certificate(
    secure_grid: SecureGrid, gridsim: GridsimProcesses
) -> None:
    """``gridsim node --id RO --certs DIR`` connects as RO and its retained status says online."""
    url, certs = _url(secure_grid), str(secure_grid.layout.root)
    node = gridsim.start(
        "node",
        "--id",
        "RO",
        "--broker",
        url,
        "--certs",
        certs,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + _ONLINE_WITHIN_S
    with use_credentials(Credentials(secure_grid.layout.root)):
        while True:
            health = await check_health(url, node="RO", timeout_s=5.0)
            if health.ok or time.monotonic() > deadline or node.poll() is not None:
                break
            await asyncio.sleep(0.5)
    assert health.ok, health.line
    assert await gridsim.stop_async(node) == [130], "stopped by Ctrl-C, cleanly"
