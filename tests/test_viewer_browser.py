"""The live viewer in a real browser: headless system Chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
THANK = "show/gifts/thank gifts"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None  # type: ignore[assignment]

if sync_playwright is None or not CHROMIUM.exists():
    pytest.skip("needs the playwright package and the system Chromium at /usr/bin/chromium",
                allow_module_level=True)


@pytest.fixture
def show_process(tmp_path: Path) -> Iterator[tuple[str, str]]:
    events = tmp_path / "none.jsonl"
    events.write_text("", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "director", "run", str(ROOT / "shows" / "asmr_night.yaml"),
         "--headless", "--viewer-port", "0", "--events", str(events), "--state",
         str(tmp_path / "state"), "--no-reload", "--duration", "120"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = token = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        if m := re.match(r"viewer: (http://127\.0\.0\.1:\d+/)", line):
            url = m.group(1)
        if m := re.match(r"viewer control token: (\S+)", line):
            token = m.group(1)
            break
    assert url and token, "the show printed no viewer address and token"
    try:
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _browser(p):  # type: ignore[no-untyped-def]
    return p.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"])


def test_gift_from_the_panel_runs_the_node_and_is_thanked(show_process: tuple[str, str]) -> None:
    url, token = show_process
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # without the token the panel is refused, and says so
        page.goto(url)
        expect(page.locator("#conn")).to_have_text("live", timeout=10_000)
        node = page.locator(f'[data-path="{THANK}"]')
        expect(node).not_to_have_attribute("data-status", "running")
        page.click("#send-gift")
        expect(page.locator("#answer")).to_contain_text("401", timeout=5_000)
        expect(page.locator("#events tbody tr")).to_have_count(0)

        page.goto(url + "?token=" + token)
        expect(page.locator("#conn")).to_have_text("live", timeout=10_000)
        page.select_option("#tier", "5")
        page.click("#send-gift")
        expect(page.locator("#answer")).to_contain_text("ok", timeout=5_000)
        expect(page.locator("#events tbody tr")).to_have_count(1, timeout=5_000)
        node = page.locator(f'[data-path="{THANK}"]')
        expect(node).to_have_attribute("data-status", "running", timeout=10_000)
        page.screenshot(path="/tmp/viewer.png", full_page=True)
        expect(page.locator("#events tbody tr").first).to_have_attribute(
            "data-outcome", "thanked", timeout=15_000)
        browser.close()
