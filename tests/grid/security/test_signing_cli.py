"""The signing options of the command line: refused combinations and bad key files are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from grid.app.cli import main
from grid.security.signing import write_signing_keys
from grid.world.roster import Roster


def _error(capsys: pytest.CaptureFixture[str], code: int, *words: str) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    text = " ".join(err.split())
    for word in words:
        assert word in text, text


def test_run_with_missing_keys_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``run --sign-keys DIR`` without keys names the first missing file, before any broker starts."""
    code = main(["run", "--quiet", "--sign-keys", str(tmp_path), "--out", str(tmp_path / "run")])
    _error(capsys, code, "KeyFileError", str(tmp_path / "signing" / "BG.pub"), "missing")


def test_refused_combinations(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A replay window without signing, and temporary keys for processes started elsewhere, are refused."""
    _error(capsys, main(["run", "--quiet", "--replay-window", "5"]), "ConfigError", "--replay-window")
    argv = ["run", "--quiet", "--sign", "--external", "--broker", "mqtt://127.0.0.1:1"]
    _error(capsys, main(argv), "ConfigError", "--sign-keys DIR")
    _error(capsys, main(["fusion", "--broker", "mqtt://127.0.0.1:1", "--replay-window", "5"]), "--sign-keys")


def test_node_with_a_readable_private_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, roster: Roster
) -> None:
    """``gridsim node --sign-keys`` refuses a private key others can read, naming it, before connecting."""
    folder = write_signing_keys(tmp_path, roster)
    (folder / "RO.key").chmod(0o644)
    code = main(["node", "--id", "RO", "--broker", "mqtt://127.0.0.1:1", "--sign-keys", str(tmp_path)])
    _error(capsys, code, "KeyFileError", str(folder / "RO.key"), "readable by others")
