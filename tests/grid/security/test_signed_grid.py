"""End to end, signed: an outsider's forged, unsigned, wrong-signer, stale and replayed reports are
injected over a real Mosquitto into a signed grid; each is refused and counted, and the outsider's
phantom is never tracked. A compromised member's phantom passes the signature check."""

from __future__ import annotations

import asyncio
import math
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from grid.app.run import RunOptions, run_grid
from grid.mqtt.broker import BrokerInfo
from grid.mqtt.session import Session
from grid.security.signing import Signer, SigningKeys, write_signing_keys
from grid.wire import topics
from grid.wire.messages import (
    CyberObjects,
    Envelope,
    FusedTrack,
    RunAction,
    RunControl,
    SensorScan,
    ThreatReport,
)
from grid.world.roster import Roster
from grid.world.scenario import Scenario, load_scenario, scenario_from_dict

# A one-minute run at 5x: 12 s of wall time, several times its CPU need on one loaded core.
SPEED = 5.0
pytestmark = [pytest.mark.broker, pytest.mark.timeout(480)]

# The outsider's phantom: 40 km at bearing 60 degrees from Romania's Cape Midia radar, at sea, far
# from the real drone's path; radar reports with a range would make a track of it if accepted.
RADAR = ("RO-RAD-CAPE-MIDIA", 44.355, 28.68, 30.0)
PHANTOM_BEARING_DEG, PHANTOM_RANGE_M = 60.0, 40_000.0
PHANTOM_LAT = RADAR[1] + PHANTOM_RANGE_M * math.cos(math.radians(60)) / 111_320
PHANTOM_LON = RADAR[2] + PHANTOM_RANGE_M * math.sin(math.radians(60)) / (
    111_320 * math.cos(math.radians(RADAR[1]))
)
FORMS = ("unsigned", "bad_signature", "wrong_signer")
SCANS_PER_FORM = 5


def _scenario() -> Scenario:
    """The drone crossing cut to a minute, while Hungary (compromised) reports a phantom of its own."""
    data = load_scenario(Path("scenarios/drone-crossing.yaml")).to_dict()
    spoofing = {
        "kind": "spoofing",
        "at_s": 5,
        "duration_s": 50,
        "node": "HU",
        "phantom": {
            "id": "ghost-hu",
            "speed_mps": 70,
            "altitude_m": 500,
            "path": [[44.45, 28.45], [44.40, 28.30]],
        },
    }
    # Romania compromised too: its radar reports a phantom south of the real drone, far from the outsider's.
    radar_phantom = {
        "id": "ghost-ro",
        "speed_mps": 60,
        "altitude_m": 400,
        "path": [[43.85, 29.05], [43.80, 28.85]],
    }
    ro_spoofing = {"kind": "spoofing", "at_s": 5, "duration_s": 50, "node": "RO", "phantom": radar_phantom}
    return scenario_from_dict({**data, "duration_s": 60, "events": [spoofing, ro_spoofing]})


def _phantom_scan(run_id: str, time_s: float) -> SensorScan:
    sensor_id, lat, lon, alt = RADAR
    report = ThreatReport(
        run_id=run_id,
        sensor_id=sensor_id,
        sensor_kind="radar",
        sensor_lat=lat,
        sensor_lon=lon,
        sensor_alt_m=alt,
        time_s=time_s,
        bearing_deg=PHANTOM_BEARING_DEG,
        sigma_bearing_deg=0.4,
        range_m=PHANTOM_RANGE_M,
        sigma_range_m=30.0,
        max_range_m=150_000.0,
    )
    return SensorScan(run_id=run_id, reports=(report,))


class Outsider:
    """Publishes on RO's report topic without RO's key, and watches the fused tracks."""

    def __init__(self, broker: BrokerInfo, keys: SigningKeys, forms: tuple[str, ...] = FORMS) -> None:
        self.session = Session(
            host=broker.host,
            port=broker.port,
            client_id="outsider",
            subscriptions=[topics.CONTROL, topics.report_topic("RO"), topics.TRACKS],
        )
        self.hu = keys.signer("HU")  # a member's real key, used on another member's topic
        self.ro_old = keys.signer("RO")  # stands for a message of RO's captured long ago
        self.forger = Signer("RO", Ed25519PrivateKey.generate())
        self.tracks: list[FusedTrack] = []
        self.forms = forms
        self.replays = forms == FORMS  # a stale and a replayed report too
        self.sent: dict[str, int] = dict.fromkeys((*forms, "stale", "replayed") if self.replays else forms, 0)

    async def attack(self) -> None:
        start: RunControl | None = None
        captured: bytes | None = None
        sent_at = 0.0
        form = 0
        async for received in self.session.messages():
            if not received.payload:
                continue
            if received.topic == topics.CONTROL:
                body = Envelope.from_bytes(received.payload).body
                if isinstance(body, RunControl) and body.action is RunAction.START:
                    start = body
                continue
            if received.topic == topics.TRACKS:
                track = Envelope.from_bytes(received.payload).body
                if isinstance(track, FusedTrack):
                    self.tracks.append(track)
            elif captured is None and start is not None and self.replays:
                captured = received.payload  # RO's genuine signed report: sent again, verbatim
                await self.session.publish(topics.report_topic("RO"), captured)
                self.sent["replayed"] += 1
            if start is None:
                continue
            now_s = (time.time_ns() - start.epoch_ns) / 1e9 * start.speed
            forms = self.forms
            if 10.0 <= now_s <= 50.0 and now_s - sent_at >= 1.0 and form < len(forms) * SCANS_PER_FORM:
                sent_at = now_s
                await self._publish_phantom(start.run_id, now_s, forms[form % len(forms)])
                form += 1
                if form == 1 and self.replays:
                    await self._publish_phantom(start.run_id, now_s, "stale")

    async def _publish_phantom(self, run_id: str, now_s: float, how: str) -> None:
        env = Envelope(body=_phantom_scan(run_id, max(0.0, now_s)), origin="RO")
        payload = env.to_bytes()
        if how == "bad_signature":
            payload = self.forger.seal(payload)
        elif how == "wrong_signer":
            payload = self.hu.seal(payload)
        elif how == "stale":
            old = Envelope(body=env.body, origin="RO", sent_ns=time.time_ns() - 400 * 10**9)
            payload = self.ro_old.seal(old.to_bytes())
        await self.session.publish(topics.report_topic("RO"), payload)
        self.sent[how] += 1


def _km_from_phantom(track: FusedTrack) -> float:
    north = (track.lat - PHANTOM_LAT) * 111.32
    east = (track.lon - PHANTOM_LON) * 111.32 * math.cos(math.radians(PHANTOM_LAT))
    return math.hypot(north, east)


async def test_outsider_reports_are_refused_and_its_phantom_never_tracked(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """Forged, unsigned, wrong-signer, stale and replayed reports are counted; none makes a phantom track."""
    write_signing_keys(tmp_path / "keys", roster)
    keys = SigningKeys.load(tmp_path / "keys", roster)
    outsider = Outsider(mosquitto, keys)
    options = RunOptions(
        scenario=_scenario(),
        roster=roster,
        speed=SPEED,
        broker_url=mosquitto.url,
        out_dir=tmp_path / "run",
        sign_keys=tmp_path / "keys",
    )
    async with outsider.session:
        attack = asyncio.create_task(outsider.attack())
        try:
            summary: dict[str, Any] = await run_grid(options)
        finally:
            attack.cancel()
    assert outsider.sent == {**dict.fromkeys(FORMS, SCANS_PER_FORM), "stale": 1, "replayed": 1}
    fusion = {k: v for k, v in summary["per_service"]["fusion"].items() if k.startswith("rejected.")}
    assert fusion == {f"rejected.{k}": v for k, v in outsider.sent.items()}, "the centre refused each"
    # Every peer of RO refused each too: a node verifies its peers' reports as the centre does.
    receivers = 1 + len(roster.peers("RO"))
    messages = summary["messages"]
    assert messages["rejected"] == {k: v * receivers for k, v in outsider.sent.items()}
    assert messages["delivered"] == messages["published"], "nothing valid was lost"
    (threat,) = summary["threats"]
    assert threat["time_to_locate_s"] is not None, "the real drone was located"
    assert outsider.tracks, "the outsider saw the air picture"
    nearest = min(_km_from_phantom(t) for t in outsider.tracks)
    assert nearest > 15.0, f"a track came within {nearest:.1f} km of the outsider's phantom"
    # A compromised member signs its phantom's reports with its own key: they pass the check. HU's
    # direction finder alone makes no track; RO's radar does, and no other member corroborates it.
    hu, ro = summary["events"]
    assert hu["phantom_reports"] > 0
    assert hu["uncorroborated_tracks"] == []
    assert hu["caught_by"].startswith("nothing flagged")
    assert ro["phantom_reports"] > 0
    assert ro["uncorroborated_tracks"], ro
    assert ro["caught_by"].startswith("corroboration: track(s)")
    single = summary["tracking"]["single_source_tracks"]
    assert all(single[t] == "RO" for t in ro["uncorroborated_tracks"])
    assert threat["track_ids"], "the real drone was tracked"
    assert not set(threat["track_ids"]) & set(single), "and its tracks were corroborated"
    assert summary["signing"] == {"signed": True, "keys": str(tmp_path / "keys"), "replay_window_s": 300.0}


async def test_without_signing_the_outsiders_phantom_is_tracked(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """The control: in an unsigned grid the same unsigned phantom reports make a track at the phantom."""
    write_signing_keys(tmp_path / "keys", ["HU", "RO"])  # the outsider's tools; the grid has no keys
    outsider = Outsider(mosquitto, SigningKeys.load(tmp_path / "keys", ["HU", "RO"]), forms=("unsigned",))
    options = RunOptions(
        scenario=_scenario(), roster=roster, speed=SPEED, broker_url=mosquitto.url, out_dir=tmp_path / "run"
    )
    async with outsider.session:
        attack = asyncio.create_task(outsider.attack())
        try:
            summary: dict[str, Any] = await run_grid(options)
        finally:
            attack.cancel()
    assert outsider.sent == {"unsigned": SCANS_PER_FORM}
    assert summary["messages"]["rejected"] == {}
    nearest = min(_km_from_phantom(t) for t in outsider.tracks)
    assert nearest < 5.0, (
        f"no track near the phantom (nearest {nearest:.1f} km): the attack test would be vacuous"
    )


async def _inject_cyber(broker: BrokerInfo) -> None:
    """Once the run has started, an unsigned and a forged cyber report on RO's cyber topic."""
    forger = Signer("RO", Ed25519PrivateKey.generate())
    session = Session(
        host=broker.host, port=broker.port, client_id="outsider-cyber", subscriptions=[topics.CONTROL]
    )
    async with session:
        async for received in session.messages():
            body = Envelope.from_bytes(received.payload).body if received.payload else None
            if isinstance(body, RunControl) and body.action is RunAction.START:
                await asyncio.sleep(max(0.0, (body.epoch_ns - time.time_ns()) / 1e9) + 1.0)
                env = Envelope(body=CyberObjects(run_id=body.run_id, objects="[]"), origin="RO")
                await session.publish(topics.cyber_report_topic("RO"), env.to_bytes())
                await session.publish(topics.cyber_report_topic("RO"), forger.seal(env.to_bytes()))
                return


async def test_signed_cyber_reports_in_worker_processes(
    mosquitto: BrokerInfo, roster: Roster, tmp_path: Path
) -> None:
    """--workers 2: the CERTs' signed indicators are shared as usual; the hub refuses the outsider's two."""
    write_signing_keys(tmp_path / "keys", roster)
    scenario = scenario_from_dict(
        {**load_scenario(Path("scenarios/cyber-phishing.yaml")).to_dict(), "duration_s": 170}
    )
    options = RunOptions(
        scenario=scenario,
        roster=roster,
        speed=20.0,
        broker_url=mosquitto.url,
        out_dir=tmp_path / "run",
        workers=2,
        sign_keys=tmp_path / "keys",
    )
    inject = asyncio.create_task(_inject_cyber(mosquitto))
    try:
        summary: dict[str, Any] = await run_grid(options)
    finally:
        inject.cancel()
    assert summary["workers"] == 2
    assert summary["missing_accounts"] == []
    messages = summary["messages"]
    assert messages["rejected"] == {}
    assert messages["delivered"] == messages["published"] > 0, "every signed report was fused"
    cyber = summary["cyber"]
    assert cyber["rejected"] == {"bad_signature": 1, "unsigned": 1}
    assert len(cyber["indicators"]) == 4, "the CERTs' signed reports were all taken"
    assert sum(c["cyber_reports"] for c in summary["per_node"].values()) == 10
