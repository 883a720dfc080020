"""The report in a real browser: Debian's Chromium, headless, driven by Playwright, opens
report.html from disk and every image on it loads (scripts/test installs both)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grid.results.report import REPORT_FILE

pytestmark = [pytest.mark.broker, pytest.mark.timeout(300)]

CHROMIUM = Path("/usr/bin/chromium")
SHOT_COPY = Path("/tmp/h12r-report.png")  # for a person to look at; the test's own is in tmp_path


def test_report_images_load_in_chromium(run_dir: Path, tmp_path: Path) -> None:
    """Every <img> of report.html has loaded (naturalWidth > 0) with no request off the disk."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="scripts/test installs playwright")
    assert CHROMIUM.exists(), "chromium is not installed: run scripts/test, which installs it"
    page_url = (run_dir / REPORT_FILE).resolve().as_uri()
    requested: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("request", lambda request: requested.append(request.url))
            page.goto(page_url, wait_until="load", timeout=60_000)
            widths = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.src, i.complete, i.naturalWidth])"
            )
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert len(widths) >= 6
    for src, complete, width in widths:
        assert complete, f"{src} did not load"
        assert width > 0, f"{src} did not load"
    assert all(url.startswith("file://") for url in requested), requested
    assert shot.stat().st_size > 0
    shutil.copyfile(shot, SHOT_COPY)
