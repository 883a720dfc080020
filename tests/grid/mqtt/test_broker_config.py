"""Tests of grid.mqtt.config: broker configuration comes from broker/ only, and fails loudly without it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import grid.mqtt.config as config_module
from grid.errors import BrokerStartError
from grid.mqtt.broker import start_broker
from grid.mqtt.config import CONFIG_FILES, LocalKind, read_template, render_config

REPO = Path(__file__).resolve().parents[3]
KINDS: list[LocalKind] = ["mosquitto", "amqtt"]
# Where the compose broker may differ from gridsim's own: it listens on the compose network,
# stores in the image's volume, logs to docker's stdout (which adds timestamps) and autosaves
# on Mosquitto's default schedule.
COMPOSE_ONLY_DIFFERENCES = {
    "listener",
    "persistence_location",
    "log_dest",
    "log_timestamp",
    "log_timestamp_format",
    "autosave_interval",
}


def directives(path: Path) -> dict[str, list[str]]:
    """A Mosquitto config file as directive -> values in file order (comments and blanks dropped)."""
    out: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.strip().partition(" ")
            out.setdefault(name, []).append(value.strip())
    return out


def test_templates_in_repo_have_port_placeholder() -> None:
    """The shipped broker templates exist, bind loopback and carry the port placeholder."""
    mosquitto = (REPO / "broker" / "mosquitto.conf").read_text()
    amqtt = (REPO / "broker" / "amqtt.yaml").read_text()
    assert "listener {port} 127.0.0.1" in mosquitto
    assert "set_tcp_nodelay true" in mosquitto
    assert "bind: 127.0.0.1:{port}" in amqtt


@pytest.mark.parametrize("kind", KINDS)
def test_rendered_config_is_the_repo_file_filled_in(kind: LocalKind, tmp_path: Path) -> None:
    """The rendered configuration is broker/'s file with port and folder filled in, no placeholder left."""
    template = (REPO / "broker" / CONFIG_FILES[kind]).read_text(encoding="utf-8")
    rendered = render_config(kind, 18_830, tmp_path)
    assert read_template(kind) == template
    assert rendered.startswith(template.replace("{port}", "18830").replace("{dir}", str(tmp_path)))
    assert "{port}" not in rendered
    assert "{dir}" not in rendered
    assert "18830" in rendered


def test_mosquitto_template_keeps_timestamp_format() -> None:
    """The setting the old built-in copy had lost (log_timestamp_format) reaches the broker."""
    assert "log_timestamp_format %Y-%m-%dT%H:%M:%S" in render_config("mosquitto", 1883, Path("/tmp"))


@pytest.mark.parametrize("kind", KINDS)
def test_missing_template_is_a_broker_start_error(kind: LocalKind, tmp_path: Path) -> None:
    """Without its file in broker/ a broker does not start; the error names the missing file."""
    with pytest.raises(BrokerStartError, match="cannot read its configuration template") as caught:
        read_template(kind, tmp_path)
    assert str(tmp_path / CONFIG_FILES[kind]) in caught.value.cause
    assert caught.value.kind == kind


def test_template_without_port_placeholder_is_refused(tmp_path: Path) -> None:
    """A template that would not listen on the chosen port is refused before the broker starts."""
    (tmp_path / "mosquitto.conf").write_text("listener 1883\n", encoding="utf-8")
    with pytest.raises(BrokerStartError, match="no \\{port\\} placeholder"):
        read_template("mosquitto", tmp_path)


async def test_start_broker_without_templates_fails_before_spawning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """start_broker with no bundled broker/ folder raises BrokerStartError and starts nothing."""
    monkeypatch.setattr(config_module, "bundled_dir", lambda name: tmp_path / name)
    with pytest.raises(BrokerStartError, match=r"amqtt\.yaml"):
        async with start_broker("amqtt"):
            pytest.fail("a broker started without its configuration")


def test_wheel_ships_the_broker_folder() -> None:
    """pyproject force-includes broker/ as grid/_data/broker, where bundled_dir looks in a wheel."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    force_include = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force_include["broker"] == "grid/_data/broker"


def test_compose_config_matches_gridsim_config() -> None:
    """The compose broker keeps every setting of gridsim's own except where it listens, stores and logs."""
    own = directives(REPO / "broker" / "mosquitto.conf")
    compose = directives(REPO / "broker" / "mosquitto-compose.conf")
    shared = (own.keys() | compose.keys()) - COMPOSE_ONLY_DIFFERENCES
    assert {k: own.get(k) for k in shared} == {k: compose.get(k) for k in shared}
    assert compose["listener"] == ["1883"]
    assert compose["persistence_location"] == ["/mosquitto/data/"]
