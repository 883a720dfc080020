"""Tests of grid.mqtt.address: broker URLs, and loopback ports free or in use."""

from __future__ import annotations

import socket

import pytest

from grid.errors import ConfigError
from grid.mqtt.address import free_port, parse_broker_url, port_in_use


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mqtt://127.0.0.1:1883", ("127.0.0.1", 1883)),
        ("mqtt://broker.local", ("broker.local", 1883)),
        ("mqtt://broker.local/", ("broker.local", 1883)),
        ("MQTT://Broker:2000", ("broker", 2000)),
        ("tcp://10.1.2.3:1884", ("10.1.2.3", 1884)),
        ("tcp://localhost", ("localhost", 1883)),
        ("localhost:1883", ("localhost", 1883)),
        ("  127.0.0.1:65535 ", ("127.0.0.1", 65535)),
        ("mqtt://[::1]:1883", ("::1", 1883)),
        ("mqtts://127.0.0.1:8884", ("127.0.0.1", 8884)),
        ("mqtts://broker", ("broker", 8883)),
    ],
)
def test_parse_broker_url_accepts(url: str, expected: tuple[str, int]) -> None:
    """Supported broker address forms give host and port."""
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:9001",
        "http://127.0.0.1:1883",
        "mqtt://127.0.0.1:notaport",
        "mqtt://127.0.0.1:70000",
        "mqtt://127.0.0.1:0",
        "mqtt://:1883",
        "mqtt://",
        "localhost",
        "",
        "mqtt://user:secret@127.0.0.1:1883",
        "mqtt://127.0.0.1:1883/topic",
        "mqtt://127.0.0.1:1883?x=1",
    ],
)
def test_parse_broker_url_rejects(url: str) -> None:
    """Unsupported schemes and malformed addresses raise ConfigError."""
    with pytest.raises(ConfigError, match="broker"):
        parse_broker_url(url)


def test_free_port_is_free_and_a_held_port_is_in_use() -> None:
    """free_port gives a port nothing holds; a port a listening socket holds is in use."""
    assert not port_in_use("127.0.0.1", free_port())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        assert port_in_use("127.0.0.1", holder.getsockname()[1])
