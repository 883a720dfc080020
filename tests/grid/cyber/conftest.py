"""A real TAXII 2.1 server for the cyber tests: OASIS's medallion, memory backend, on 127.0.0.1.

Each test gets a fresh server, so collections stay small (medallion's polls slow down roughly
quadratically as a collection grows) and no test sees another's objects.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from grid.mqtt.address import free_port

API_ROOT = "gridsim"
FEED_ID = "2f6b1f4e-6c1a-4b55-9a43-2a1f0b6a9e11"
FEED_TITLE = "Allied cyber feed"
READ_ONLY_ID = "8c1d9f30-3e2b-4d6f-8b7a-5f4e3d2c1b00"
READ_ONLY_TITLE = "Partner indicators (read only)"
START_TIMEOUT_S = 30.0  # a loaded two-core box imports Flask and medallion in a few seconds
STOP_GRACE_S = 5.0
STIX21 = "application/stix+json;version=2.1"


@dataclass(frozen=True)
class Medallion:
    """A running medallion: where it listens and how to log in."""

    port: int
    user: str
    password: str
    log: Path

    @property
    def base(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_root(self) -> str:
        """The API root's URL, with its trailing slash."""
        return f"{self.base}/{API_ROOT}/"

    def collection_url(self, collection: str = FEED_ID, *, credentials: bool = True) -> str:
        """The ``--taxii`` URL of ``collection`` (id or title), with the user and password in it."""
        who = f"{self.user}:{self.password}@" if credentials else ""
        return f"http://{who}127.0.0.1:{self.port}/{API_ROOT}/collections/{collection}/"


def _collection(collection_id: str, title: str, *, can_write: bool) -> dict[str, Any]:
    return {
        "id": collection_id,
        "title": title,
        "description": "gridsim test collection",
        "can_read": True,
        "can_write": can_write,
        "media_types": [STIX21],
        "objects": [],
        "manifest": [],
    }


def _write_config(directory: Path, port: int, user: str, password: str) -> Path:
    """medallion's config and its memory backend's data file in ``directory``; the config's path."""
    data = {
        "/discovery": {
            "title": "gridsim test TAXII server",
            "description": "medallion for the gridsim tests",
            "default": f"http://127.0.0.1:{port}/{API_ROOT}/",
            "api_roots": [f"http://127.0.0.1:{port}/{API_ROOT}/"],
        },
        API_ROOT: {
            "information": {
                "title": "gridsim",
                "description": "the grid's cyber-exchange feed",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 10_485_760,
            },
            "status": [],
            "collections": [
                _collection(FEED_ID, FEED_TITLE, can_write=True),
                _collection(READ_ONLY_ID, READ_ONLY_TITLE, can_write=False),
            ],
        },
    }
    data_file = directory / "medallion-data.json"
    data_file.write_text(json.dumps(data, indent=2))
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data_file),
        },
        "users": {user: password},
        "taxii": {"max_page_size": 100},
    }
    config_file = directory / "medallion-config.json"
    config_file.write_text(json.dumps(config, indent=2))
    return config_file


def _wait_until_up(proc: subprocess.Popen[bytes], server: Medallion) -> None:
    """Poll the discovery endpoint until medallion answers 200; fail (with its log) if it dies or stalls."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"medallion exited with {proc.returncode}:\n{server.log.read_text()}")
        try:
            answer = requests.get(
                f"{server.base}/taxii2/",
                auth=(server.user, server.password),
                headers={"Accept": "application/taxii+json;version=2.1"},
                timeout=2.0,
            )
        except requests.RequestException:
            time.sleep(0.1)
            continue
        if answer.status_code == 200:
            return
        pytest.fail(f"medallion answered {answer.status_code} to discovery:\n{answer.text}")
    pytest.fail(f"medallion did not answer within {START_TIMEOUT_S:.0f} s:\n{server.log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then kill after the grace period; always reaped."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


@pytest.fixture
def medallion(tmp_path: Path) -> Iterator[Medallion]:
    """A fresh medallion on a free loopback port: collections FEED_ID (writable) and READ_ONLY_ID."""
    port = free_port()
    server = Medallion(port=port, user="cert", password="s3cret-pass", log=tmp_path / "medallion.log")
    config = _write_config(tmp_path, port, server.user, server.password)
    # No proxy for loopback, whatever the environment says (requests honours *_proxy variables).
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    with server.log.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medallion.scripts.run",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                str(config),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_until_up(proc, server)
        yield server
    finally:
        _stop(proc)
