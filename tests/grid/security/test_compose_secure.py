"""docker-compose.secure.yml: every gridsim service of the demo is secured, none left on plain MQTT.

The stack itself runs on a real engine in ``scripts/compose-test --secure``; these tests read the
files (and, where the compose CLI is installed, its merge of the two) so that a service added to
docker-compose.yml without its secure counterpart fails here, without Docker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from grid.security.certs import BROKER_HOSTS

REPO = Path(__file__).resolve().parents[3]
BASE = REPO / "docker-compose.yml"
SECURE = REPO / "docker-compose.secure.yml"
SIGNERS = ("node", "fusion", "hub")  # the commands that take --sign-keys


def _services(path: Path) -> dict[str, Any]:
    services: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))["services"]
    return services


def _gridsim_services(services: dict[str, Any]) -> dict[str, Any]:
    return {name: s for name, s in services.items() if s.get("image") == "gridsim:latest"}


def _check_secured(name: str, service: dict[str, Any]) -> None:
    environment = service["environment"]
    assert environment["GRID_CERTS"] == "/certs", name
    url = urlsplit(environment["GRID_BROKER_URL"])
    assert url.scheme == "mqtts", name
    assert url.port == 8883, name
    assert url.hostname in BROKER_HOSTS, f"{name}: the broker certificate does not name {url.hostname}"
    assert any(str(v).startswith("certs:/certs") for v in service["volumes"]), name
    command = service.get("command") or []
    if command and command[0] in SIGNERS:
        assert command[1:3] == ["--sign-keys", "/certs"], name


def test_every_gridsim_service_is_secured() -> None:
    """Each gridsim service of the base file has GRID_CERTS, the mqtts URL and the certs volume."""
    base = _gridsim_services(_services(BASE))
    secure = _services(SECURE)
    assert base, "no gridsim services found in docker-compose.yml"
    for name in base:
        assert name in secure, f"{name} runs on plain MQTT in the secure override"
        _check_secured(name, secure[name])


def test_the_broker_runs_mutual_tls_only() -> None:
    """The broker mounts the mTLS configuration and the ACL, and waits for the certs one-shot."""
    broker = _services(SECURE)["mosquitto"]
    assert "./broker/mosquitto-mtls.conf:/mosquitto/config/mosquitto.conf:ro" in broker["volumes"]
    assert "./broker/acl:/mosquitto/config/acl:ro" in broker["volumes"]
    assert broker["depends_on"]["certs"]["condition"] == "service_completed_successfully"
    listeners = [
        line.split()
        for line in (REPO / "broker" / "mosquitto-mtls.conf").read_text(encoding="utf-8").splitlines()
        if line.startswith(("listener", "allow_anonymous", "require_certificate"))
    ]
    assert listeners == [["listener", "8883"], ["require_certificate", "true"], ["allow_anonymous", "false"]]


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose (the compose CLI) is not installed"
)
def test_the_compose_cli_merges_the_override() -> None:
    """``docker-compose -f docker-compose.yml -f docker-compose.secure.yml config``: the merge secures all."""
    done = subprocess.run(
        ["docker-compose", "-f", str(BASE), "-f", str(SECURE), "--profile", "inject", "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("GRID_")},  # the defaults
    )
    assert done.returncode == 0, done.stderr
    merged = yaml.safe_load(done.stdout)["services"]
    gridsim = _gridsim_services(merged)
    assert set(_gridsim_services(_services(BASE))) | {"certs"} == set(gridsim)
    for name, service in gridsim.items():
        if name != "certs":
            _check_secured(name, service)
            assert service["user"] == "1000:1000", name
    assert merged["certs"]["command"] == [
        'gridsim certs /certs --keep && chown -R "$$GRID_UID:$$GRID_GID" /certs'
    ]
