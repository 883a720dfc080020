"""End to end: the bundled cyber-phishing scenario through a real Mosquitto, fifteen nodes, the
fusion centre, the cyber-exchange hub and the Joint Cyber Centre; its feed into a real medallion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import stix2
from taxii2client.v21 import Collection

from grid.app.run import RunOptions, run_grid
from grid.cyber.observables import observable_key
from grid.cyber.taxii import TaxiiFeed, TaxiiTarget
from grid.mqtt.broker import BrokerInfo
from grid.results.cyber_export import BUNDLE_FILE, OBJECTS_FILE
from grid.world.events import ObservableType
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict
from tests.grid.cyber.conftest import FEED_ID, Medallion, medallion

__all__ = ["medallion"]  # the TAXII server fixture, from the cyber tests

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

# The last CERT observation is at 150 s: 60 s more leave the JCC's 5 s analysis and the acks room
# even in a process that fell seconds behind the clock (load: the analysis counts from arrival).
DURATION_S = 210.0
SPEED = 20.0
URL = "https://constanta-port-logistics.example.com/invoice"


def phishing() -> Scenario:
    """The bundled cyber-phishing scenario, cut after its last observation."""
    return scenario_from_dict(
        {**load_scenario("scenarios/cyber-phishing.yaml").to_dict(), "duration_s": DURATION_S}
    )


async def _run(broker: BrokerInfo, roster: Roster, out: Path, **options: Any) -> dict[str, Any]:
    run = RunOptions(
        scenario=phishing(), roster=roster, speed=SPEED, broker_url=broker.url, out_dir=out, **options
    )
    return await run_grid(run)


def _assert_cyber(summary: dict[str, Any], roster: Roster) -> dict[str, Any]:
    """The URL: 1 indicator, 4 sightings, flagged and acknowledged by every member; TLP rules held."""
    assert summary["missing_accounts"] == []
    cyber: dict[str, Any] = summary["cyber"]
    assert set(cyber) == {
        "indicators",
        "duplicates_absorbed",
        "analysis_saved",
        "time_to_warning_s",
        "rejected",
        "taxii",
        "export",
    }
    by_pattern = {i["pattern"]: i for i in cyber["indicators"]}
    assert len(by_pattern) == 4, "url, sender address, domain, hash: each shared once"
    url = by_pattern[f"[url:value = '{URL}']"]
    assert url["key"] == observable_key(ObservableType.URL, URL).key
    assert url["observed_by"] == ["RO", "BG", "TR", "GR", "HU"]
    assert url["sightings"] == 4
    assert url["time_to_flag_s"] is not None
    assert url["time_to_mitigate_s"] is not None, "every member acknowledged the URL's mitigation"
    assert url["time_to_mitigate_s"] >= url["time_to_flag_s"] >= 5.0  # the JCC's analysis
    assert cyber["duplicates_absorbed"] == 0
    assert cyber["analysis_saved"] == pytest.approx(0.6)  # 10 reports, 6 of them sightings
    assert set(cyber["time_to_warning_s"]) == set(roster)
    assert all(v is not None for v in cyber["time_to_warning_s"].values())
    assert cyber["rejected"] == {}
    # TLP: the hash (red) reached RO only; the URL, the address (amber) and the domain (clear) all.
    received = {n: c["mitigations_received"] for n, c in summary["per_node"].items()}
    assert received == {n: 4 if n == "RO" else 3 for n in roster}
    assert all(c["mitigations_acked"] == c["mitigations_received"] for c in summary["per_node"].values())
    reports = sum(c["cyber_reports"] for c in summary["per_node"].values())
    assert reports == 10, "the scenario's ten CERT observations"
    return cyber


def _objects(out: Path) -> list[dict[str, Any]]:
    objects = json.loads((out / OBJECTS_FILE).read_text())
    assert isinstance(objects, list)
    return objects


async def test_phishing_in_one_process(mosquitto: BrokerInfo, roster: Roster, tmp_path: Path) -> None:
    """--workers 0: the cyber section and cyber-objects.json, every object a valid STIX 2.1 one."""
    summary = await _run(mosquitto, roster, tmp_path, workers=0)
    cyber = _assert_cyber(summary, roster)
    assert cyber["taxii"] == {}
    objects = _objects(tmp_path)
    types = [o["type"] for o in objects]
    assert types.count("indicator") == 4
    assert types.count("sighting") == 3  # url, domain, hash
    assert types.count("course-of-action") == 4
    url_sighting = next(o for o in objects if o["type"] == "sighting" and o["count"] == 4)
    assert len(url_sighting["where_sighted_refs"]) == 4
    for obj in objects:
        stix2.parse(obj, allow_custom=False)
    export = cyber["export"]
    assert export["path"] == str(tmp_path / BUNDLE_FILE)
    assert export["objects"] == len(objects)
    assert export["validator"]["errors"] == 0
    bundle = stix2.parse((tmp_path / BUNDLE_FILE).read_text(), allow_custom=False)
    assert [o.id for o in bundle.objects] == [o["id"] for o in objects]
    assert json.loads((tmp_path / "summary.json").read_text())["cyber"]["export"] == export


async def test_phishing_in_workers_with_a_taxii_feed(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path, medallion: Medallion
) -> None:
    """--workers 2 --taxii: the same section; medallion holds the feed (no TLP:RED), read back by
    taxii2-client filtered by added_after (an object pushed before the run is left out)."""
    target = TaxiiTarget.parse(medallion.collection_url())
    reader = Collection(
        f"{medallion.api_root}collections/{FEED_ID}/", user=medallion.user, password=medallion.password
    )
    before = stix2.Identity(name="before the run", identity_class="organization")
    with TaxiiFeed(target) as feed:
        assert feed.push([before]).count == 1
    cut = reader.get_manifest()["objects"][0]["date_added"]

    summary = await _run(mosquitto, roster, tmp_path, workers=2, taxii=target)
    cyber = _assert_cyber(summary, roster)
    assert summary["workers"] == 2
    taxii = cyber["taxii"]
    assert taxii["failures"] == 0
    assert taxii["error"] is None
    assert taxii["unsent"] == 0
    assert taxii["pushed"] > 0
    assert taxii["withheld_red"] == 3  # the hash's indicator, its relationship and DE's sighting

    feed_objects = reader.get_objects(added_after=cut)["objects"]
    assert before.id not in {o["id"] for o in feed_objects}
    indicators = [o for o in feed_objects if o["type"] == "indicator"]
    assert sorted(o["pattern"] for o in indicators) == sorted(
        i["pattern"] for i in cyber["indicators"] if "file:" not in i["pattern"]
    )
    sightings = reader.get_objects(added_after=cut, type="sighting")["objects"]
    assert sorted(s["count"] for s in sightings) == [1, 4], "the domain's and the URL's latest versions"
    assert all(o["object_marking_refs"] for o in indicators)
