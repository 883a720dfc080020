"""``gridsim bench codec``: the results file of a tiny run."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from grid.app.bench.__main__ import main
from grid.mqtt.address import free_port


def test_tiny_bench_writes_every_field(tmp_path: Path) -> None:
    """``python -m grid.app.bench codec --repeats 200`` writes config, versions, machine and every timing."""
    assert main(["codec", "--repeats", "200", "--inner", "2", "--seed", "3", "--out", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "bench-codec.json").read_text())
    assert results["config"] == {"repeats": 200, "inner": 2, "warmup": 100, "seed": 3}
    assert set(results["versions"]) == {"python", "msgpack", "msgspec"}
    assert results["versions"]["msgspec"] is not None
    assert results["machine"]["cpu_count"] == os.cpu_count()
    assert results["machine"]["platform"]
    assert set(results["messages"]) == {"report", "track"}
    for message in results["messages"].values():
        assert message["bytes"] > 0
        assert set(message["codecs"]) == {"production", "msgpack", "json"}
        assert [c for c, codec in message["codecs"].items() if codec["validates"]] == ["production"]
        for codec in message["codecs"].values():
            for op in ("encode", "decode"):
                assert codec[op]["median_us"] > 0
                assert codec[op]["p95_us"] >= codec[op]["median_us"]
            assert math.isclose(
                codec["round_trip_median_us"], codec["encode"]["median_us"] + codec["decode"]["median_us"]
            )
    assert results["production_over_json_report"] > 0
    (target,) = results["targets"]
    assert target["limit"] == 5.0
    assert target["passed"] in {True, False}  # a timing: reported, never asserted


def test_the_standalone_entry_has_the_output_modes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m grid.app.bench``: ``--json`` prints the results as one document, ``--quiet``
    nothing, and a failure is one stderr line, a JSON error document and exit 1 (2 for a
    configuration error), as ``gridsim bench``."""
    tiny = ["codec", "--repeats", "50", "--inner", "1", "--out", str(tmp_path)]
    capsys.readouterr()
    assert main([*tiny, "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["config"]["repeats"] == 50
    assert main([*tiny, "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    closed = f"mqtt://127.0.0.1:{free_port()}"
    assert main(["latency", "--broker", closed, "--duration", "1", "--warmup", "0", "--json"]) == 1
    captured = capsys.readouterr()
    error = json.loads(captured.out)["error"]
    assert error["type"] == "BrokerUnavailable"
    assert error["exit_code"] == 1
    assert captured.err.strip().splitlines()[-1].startswith("BrokerUnavailable: ")
