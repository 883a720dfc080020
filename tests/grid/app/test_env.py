"""Environment defaults: GRID_BROKER_URL for every --broker, GRID_NODE_ID for node --id, GRID_SPEED
for --speed; a flag beats its variable; neither given is a ConfigError naming both."""

from __future__ import annotations

import pytest

from grid.app.cli import main
from grid.app.env import BROKER_URL, NODE_ID, SPEED, from_env, speed_from_env
from grid.bundled import bundled_dir
from grid.errors import ConfigError

_SCENARIO = str(bundled_dir("scenarios") / "drone-crossing.yaml")
# A URL gridsim refuses before connecting anywhere: when its message shows, the variable was used.
_BAD_URL = "http://127.0.0.1:1"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (BROKER_URL, NODE_ID, SPEED):
        monkeypatch.delenv(var, raising=False)


def _error(capsys: pytest.CaptureFixture[str], code: int, *words: str) -> None:
    err = capsys.readouterr().err
    text = " ".join(err.split())
    assert code == 2, err
    assert "Traceback" not in err
    for word in words:
        assert word in text, text


_BROKER_COMMANDS = [
    ["node", "--id", "RO"],
    ["fusion"],
    ["hub"],
    ["results"],
    ["inject", _SCENARIO],
    ["run", "--external", "--quiet"],
    ["up", "--external"],
    ["health"],
]
_IDS = ["node", "fusion", "hub", "results", "inject", "run-external", "up-external", "health"]


@pytest.mark.parametrize("command", _BROKER_COMMANDS, ids=_IDS)
def test_broker_url_from_the_environment(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no --broker, GRID_BROKER_URL is the broker (its bad scheme is what gets refused)."""
    monkeypatch.setenv(BROKER_URL, _BAD_URL)
    _error(capsys, main(command), "ConfigError", repr(_BAD_URL), "scheme 'http'")


@pytest.mark.parametrize("command", _BROKER_COMMANDS, ids=_IDS)
def test_no_broker_names_flag_and_variable(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Neither --broker nor GRID_BROKER_URL: one line naming both, exit 2."""
    _error(capsys, main(command), "ConfigError", "--broker", BROKER_URL)


@pytest.mark.parametrize("command", _BROKER_COMMANDS, ids=_IDS)
def test_broker_flag_beats_the_variable(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--broker wins over GRID_BROKER_URL: the flag's (bad) URL is the one refused."""
    monkeypatch.setenv(BROKER_URL, "mqtt://127.0.0.1:1")
    _error(capsys, main([*command, "--broker", "ws://127.0.0.1:2"]), "ConfigError", "'ws://127.0.0.1:2'")


def test_node_id_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``node`` with no --id takes GRID_NODE_ID (an unknown one is refused with the known ids)."""
    monkeypatch.setenv(NODE_ID, "XX")
    _error(capsys, main(["node", "--broker", "mqtt://127.0.0.1:1"]), "UnknownNodeError", "'XX'", "RO")


def test_node_id_flag_beats_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--id wins over GRID_NODE_ID."""
    monkeypatch.setenv(NODE_ID, "RO")
    _error(capsys, main(["node", "--id", "YY", "--broker", "mqtt://127.0.0.1:1"]), "UnknownNodeError", "'YY'")


def test_no_node_id_names_flag_and_variable(capsys: pytest.CaptureFixture[str]) -> None:
    """Neither --id nor GRID_NODE_ID: one line naming both."""
    _error(capsys, main(["node", "--broker", "mqtt://127.0.0.1:1"]), "ConfigError", "--id", NODE_ID)


def test_speed_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GRID_SPEED is --speed's default: an out-of-range one is refused like the flag."""
    monkeypatch.setenv(SPEED, "0")
    _error(capsys, main(["run", "--quiet"]), "ConfigError", "--speed")
    monkeypatch.setenv(SPEED, "fast")
    _error(capsys, main(["inject", _SCENARIO, "--broker", "mqtt://127.0.0.1:1"]), SPEED, "'fast'")


def test_resolution_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag beats its variable, an empty variable is unset, and a missing required one names both."""
    monkeypatch.setenv(BROKER_URL, "mqtt://env:1883")
    assert from_env("mqtt://flag:1883", flag="--broker", var=BROKER_URL) == "mqtt://flag:1883"
    assert from_env(None, flag="--broker", var=BROKER_URL) == "mqtt://env:1883"
    monkeypatch.setenv(BROKER_URL, " ")
    assert from_env(None, flag="--broker", var=BROKER_URL, required=False) is None
    with pytest.raises(ConfigError, match=f"--broker.*{BROKER_URL}"):
        from_env(None, flag="--broker", var=BROKER_URL)
    monkeypatch.setenv(SPEED, "20")
    assert speed_from_env(None) == 20.0
    assert speed_from_env(5.0) == 5.0


def test_help_lists_the_variables(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` (top level and each command that reads them) ends with the GRID_* variables."""
    for argv in (["--help"], ["node", "--help"], ["run", "--help"], ["health", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        out = capsys.readouterr().out
        for var in (BROKER_URL, NODE_ID, SPEED):
            assert var in out, argv
