"""The browser source in a real headless Chromium: the page OBS loads receives frames over the
WebSocket and draws them with alpha kept (WebGL shader and 2D fallback), what a compositor sees
(a screenshot without background) is transparent around the avatar, in each drawing mode, and
the page reconnects when the renderer restarts."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from renderer.browser_source import BrowserSource

CHROMIUM = Path("/usr/bin/chromium")
try:
    from playwright.sync_api import Page, sync_playwright
except ImportError:  # pragma: no cover
    sync_playwright = None  # type: ignore[assignment]

if sync_playwright is None or not CHROMIUM.exists():  # pragma: no cover
    pytest.skip("needs the playwright package and the system Chromium at /usr/bin/chromium",
                allow_module_level=True)

W, H = 160, 120
RED = (220, 30, 40)
BLUE = (20, 40, 200)


def avatar(colour: tuple[int, int, int] = RED) -> np.ndarray:
    """Opaque colour in the left half, half-transparent blue, a transparent right quarter;
    at the bottom, alpha 250 and 5 where JPEG ringing would leave them."""
    f = np.zeros((H, W, 4), np.uint8)
    f[:, : W // 2] = (*colour, 255)
    f[:, W // 2 : 3 * W // 4] = (*BLUE, 128)
    f[104:, : W // 2, 3] = 250  # JPEG-ringing levels: the page makes these opaque ...
    f[104:, 3 * W // 4 :] = (*BLUE, 5)  # ... and transparent (no halo around the avatar)
    return f


@contextmanager
def streaming(source: BrowserSource, frame: np.ndarray) -> Iterator[None]:
    """Write `frame` at ~30 fps from a render-like thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        k = 0
        while not stop.wait(1 / 30):
            source.write(frame, k / 30)
            k += 1

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _browser(p):  # type: ignore[no-untyped-def]
    # the project's flags (tests/test_viewer_browser.py) plus software WebGL for the shader path
    return p.chromium.launch(executable_path=str(CHROMIUM), args=[
        "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"])


def _wait_frames(page: Page, n: int) -> None:
    page.wait_for_function(f"window.avatarSource.frames >= {n}", timeout=15_000)


def _pixel(page: Page, x: int, y: int) -> list[int]:
    return page.evaluate(f"window.avatarSource.readPixel({x}, {y})")  # type: ignore[no-any-return]


def _close(a: list[int], b: tuple[int, ...], tol: int = 12) -> bool:
    return max(abs(int(x) - int(y)) for x, y in zip(a, b, strict=True)) <= tol


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_playwright() as p:
        b = _browser(p)
        yield b
        b.close()


@pytest.mark.parametrize(("query", "mode"), [
    ("", "filter"),  # the default on a software GL (here): the 2D luminance-to-alpha filter
    ("?mode=webgl", "webgl"), ("?mode=filter", "filter"), ("?mode=pixels", "pixels")])
def test_the_page_draws_frames_with_their_alpha(browser: Any, query: str, mode: str) -> None:
    source = BrowserSource(port=0)
    source.open(width=W, height=H, fps=30)
    page = browser.new_page(viewport={"width": W, "height": H})
    try:
        with streaming(source, avatar()):
            page.goto(source.url + query)
            _wait_frames(page, 5)
            state = page.evaluate("window.avatarSource")
            assert state["mode"] == mode, state
            assert (state["width"], state["height"]) == (W, H) and "error" not in state
            if not query:
                assert re.search("swiftshader|llvmpipe", state["glRenderer"], re.I), state
            # canvas pixels are premultiplied: transparent is (0, 0, 0, 0)
            assert _close(_pixel(page, 20, 60), (*RED, 255)), _pixel(page, 20, 60)
            half = (*(round(c * 128 / 255) for c in BLUE), 128)
            assert _close(_pixel(page, 100, 60), half), _pixel(page, 100, 60)
            assert _pixel(page, 150, 60) == [0, 0, 0, 0]
            # what OBS composites: the page over nothing
            shot = np.asarray(Image.open(io.BytesIO(page.screenshot(omit_background=True)))
                              .convert("RGBA"))
            assert shot.shape == (H, W, 4)
            assert _close(list(shot[60, 20]), (*RED, 255))
            assert abs(int(shot[60, 100, 3]) - 128) <= 12
            assert shot[60, 150, 3] == 0 and shot[5, 155, 3] == 0
            assert shot[112, 20, 3] == 255 and shot[112, 150, 3] == 0
    finally:
        page.close()
        source.close()
    assert source.failures == 0 and source.encoded >= 5


def test_the_page_reconnects_when_the_renderer_restarts(browser: Any) -> None:
    first = BrowserSource(port=0)
    first.open(width=W, height=H, fps=30)
    port = first.port
    page = browser.new_page(viewport={"width": W, "height": H})
    try:
        with streaming(first, avatar(RED)):
            page.goto(first.url)
            _wait_frames(page, 3)
    finally:
        first.close()
    page.wait_for_function("!window.avatarSource.connected", timeout=10_000)
    assert _close(_pixel(page, 20, 60), (*RED, 255))  # the last frame stays up meanwhile
    second = BrowserSource(port=port)  # the restarted renderer, same port
    second.open(width=W, height=H, fps=30)
    try:
        with streaming(second, avatar((30, 200, 60))):
            page.wait_for_function("window.avatarSource.connected", timeout=10_000)
            page.wait_for_function("window.avatarSource.readPixel(20, 60)[1] > 150",
                                   timeout=10_000)
    finally:
        page.close()
        second.close()
