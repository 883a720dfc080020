"""The live map in a real browser: Debian's Chromium, driven by Playwright, on a real run.

The page is opened and connected before the run starts, so it sees every change live: the first
fused track, Romania's node going offline in the node-outage scenario (its sites and its entry
turn grey) and coming back. Nothing is fetched from outside 127.0.0.1. The frame times the page
measures (requestAnimationFrame deltas) are reported, not asserted.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from grid.app.dashboard.server import Dashboard
from grid.app.run import RunOptions, run_grid
from grid.mqtt.broker import BrokerInfo
from grid.world.roster import Roster
from grid.world.scenario import load_scenario

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own waits: far above a loaded machine's times, never part of a verdict.
_WAIT_MS = 180_000
pytestmark = [
    pytest.mark.broker,
    pytest.mark.timeout(420),
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed (scripts/test installs it)"
    ),
]
SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


class _Page:
    """A page on the live map, with every request it made and every script error it met."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page = page
        self.origin = origin
        self.foreign: list[str] = []
        self.errors: list[str] = []


async def _route(route: Any, seen: _Page) -> None:
    if route.request.url.startswith(seen.origin):
        await route.continue_()
    else:  # nothing may leave the machine: refused, and failed below
        seen.foreign.append(route.request.url)
        await route.abort()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium (Debian's; Playwright cannot download its own here)."""
    async with playwright_api.async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


async def _open(browser: Any, dash: Dashboard) -> _Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 900})
    seen = _Page(page, dash.url)
    page.on("pageerror", lambda exc: seen.errors.append(str(exc)))
    await page.route("**/*", lambda route: _route(route, seen))
    await page.goto(dash.url)
    await page.wait_for_selector('body[data-connected="true"]', timeout=_WAIT_MS)
    await page.wait_for_selector('path.site[data-node="RO"]', state="attached", timeout=_WAIT_MS)
    return seen


async def test_live_map_shows_tracks_and_the_outaged_node_grey(
    mosquitto: BrokerInfo, roster: Roster, browser: Any, tmp_path: Path
) -> None:
    """node-outage at 10x: a fused track appears with its ellipse; RO's sites turn grey, then back."""
    scenario = load_scenario(SCENARIOS / "node-outage.yaml", roster=roster)
    # The nodes and fusion in two worker processes, as `gridsim run` has them: this process's loop
    # serves the live map and the controller only.
    options = RunOptions(
        scenario=scenario, roster=roster, speed=10.0, broker_url=mosquitto.url, out_dir=tmp_path, workers=2
    )
    async with Dashboard(roster=roster, broker=(mosquitto.host, mosquitto.port), port=0) as dash:
        seen = await _open(browser, dash)
        page = seen.page
        run = asyncio.create_task(run_grid(options), name="test[run]")
        try:
            await page.wait_for_selector("path.track[data-track-id]", state="attached", timeout=_WAIT_MS)
            await page.wait_for_selector(
                "path.track-ellipse[data-track-id]", state="attached", timeout=_WAIT_MS
            )
            offline_site = 'path.site[data-node="RO"][data-status="offline"]'
            await page.wait_for_selector(offline_site, state="attached", timeout=_WAIT_MS)
            shot = tmp_path / "dashboard.png"
            await page.screenshot(path=str(shot))  # at once: the outage and the track it happens under
            shutil.copyfile(shot, "/tmp/h12d-dashboard.png")
            await page.wait_for_selector('#nodes li[data-node="RO"][data-status="offline"]', timeout=_WAIT_MS)
            fill = await page.get_attribute(offline_site, "fill")
            others = await page.eval_on_selector_all(
                'path.site:not([data-node="RO"])', "els => [...new Set(els.map(e => e.getAttribute('fill')))]"
            )
            await page.wait_for_selector(
                'path.site[data-node="RO"]:not([data-status="offline"])', state="attached", timeout=_WAIT_MS
            )
            summary = await run
        finally:
            run.cancel()
        frames = await page.evaluate("window.gridsimFrames()")
    print(f"node-outage x10 frames: {json.dumps(frames)}; screenshot {shot}")
    assert fill == "#8a8f98"  # grey
    assert others == ["#2e8b57"]  # every other member's sites green
    assert summary["run_id"]
    assert seen.foreign == []
    assert seen.errors == []


async def test_live_map_frame_time_with_the_swarm_at_10x(
    mosquitto: BrokerInfo, roster: Roster, browser: Any, tmp_path: Path
) -> None:
    """swarm-12 at 10x: twelve tracks' worth of reports; the page's frame times are measured and reported."""
    scenario = load_scenario(SCENARIOS / "swarm-12.yaml", roster=roster)
    options = RunOptions(
        scenario=scenario, roster=roster, speed=10.0, broker_url=mosquitto.url, out_dir=tmp_path, workers=2
    )
    async with Dashboard(roster=roster, broker=(mosquitto.host, mosquitto.port), port=0) as dash:
        seen = await _open(browser, dash)
        page = seen.page
        await page.evaluate("window.gridsimFramesReset()")
        run = asyncio.create_task(run_grid(options), name="test[run]")
        try:
            # A picture of the swarm in flight: most of its twelve tracks up at once.
            await page.wait_for_function("Number(document.body.dataset.tracks) >= 8", timeout=_WAIT_MS)
            await page.screenshot(path=str(tmp_path / "swarm.png"))
            shutil.copyfile(tmp_path / "swarm.png", "/tmp/h12d-dashboard-swarm.png")
            summary = await run
        finally:
            run.cancel()
        frames = await page.evaluate("window.gridsimFrames()")
        stats = dash.stats()
    report = {
        "scenario": "swarm-12",
        "speed": 10.0,
        "wall_time_s": summary["wall_time_s"],
        **frames,
        "server": stats,
    }
    (tmp_path / "frames.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    shutil.copyfile(tmp_path / "frames.json", "/tmp/h12d-frames-swarm.json")
    print(f"swarm-12 x10 frames: {json.dumps(report)}")
    assert frames["events"] > 0
    assert frames["frame_ms"]["count"] > 0
    assert seen.errors == []
    assert seen.foreign == []
