"""Frame sinks: cost per frame at 1280x720 and 1920x1080, each against the raw library beneath it.

    .venv/bin/python bench/sinks.py                 # about 1-2 min on 2 cores
    .venv/bin/python bench/sinks.py --no-browser    # without headless Chromium

Frames are synthetic avatars (a soft-edged body with features, transparent around it), shifted a
little every frame so no encoder sees the same picture twice. For each sink:

- "write ms" is what the render loop pays per frame (`sink.write`), "worker ms" the work on the
  sink's own thread (encoding), "fps" the sustained rate of the whole sink (the recorder: its
  encoding throughput; its write ms and skipped frames are for a live 30 fps loop).
- Floors: Pillow JPEG of the colour alone (no alpha) and PNG with alpha (the rejected encodings);
  `pyvirtualcam.Camera.send` of a ready RGB frame (a null backend: no v4l2loopback here); PyAV
  libx264 encode of a ready RGB frame; pygame blit + flip of the frame (SDL dummy driver).
- Browser source end to end: the real page in headless Chromium (software GL), frames written at
  30 fps for a few seconds: frames the page drew per second, for the WebGL path, the 2D path and
  raw RGBA.

`measure_sinks(width, height)` returns the rows; `bench/render.py` imports it (bench/ is on
sys.path when a bench script runs) to print sink figures next to the renderer's.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

from renderer.browser_source import BrowserSource, encode_frame  # noqa: E402
from renderer.sinks import Compositor, PreviewWindow, Recorder, VirtualCamera  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


def avatar_frames(width: int, height: int, n: int = 8) -> list[np.ndarray]:
    """`n` avatar-like RGBA frames: a shaded body and head with a soft alpha edge, shifting."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for k in range(n):
        cx = width / 2 + 6 * np.sin(k / 2)
        body = np.hypot((x - cx) / (width * 0.20), (y - height * 0.95) / (height * 0.40))
        head = np.hypot((x - cx) / (width * 0.13), (y - height * 0.38) / (height * 0.26))
        alpha = np.clip((1 - np.minimum(body, head)) * 30, 0, 1)
        f = np.zeros((height, width, 4), np.uint8)
        f[..., 0] = np.clip(230 - 40 * (y / height) + 10 * np.sin(x / 9 + k), 0, 255)
        f[..., 1] = np.clip(190 - 70 * (body < head) + 8 * np.cos(y / 7), 0, 255)
        f[..., 2] = np.clip(170 + 60 * (body < head) * (x / width), 0, 255)
        eyes = (np.hypot(x - cx - width * 0.05, y - height * 0.35) < height * 0.03) | (
            np.hypot(x - cx + width * 0.05, y - height * 0.35) < height * 0.03)
        f[eyes, :3] = (40, 30, 60)
        f[..., 3] = (alpha * 255).astype(np.uint8)
        frames.append(f)
    return frames


def _time(fn: Any, n: int) -> float:
    """Mean seconds per call over n calls, after one warm-up call."""
    fn(0)
    start = time.perf_counter()
    for k in range(n):
        fn(k)
    return (time.perf_counter() - start) / n


def _row(what: str, kind: str, write_s: float, worker_s: float | None = None,
         fps: float | None = None, note: str = "") -> dict[str, Any]:
    per_frame = write_s + (worker_s or 0.0)
    return {"what": what, "kind": kind, "write_ms": write_s * 1e3,
            "worker_ms": None if worker_s is None else worker_s * 1e3,
            "fps": fps if fps is not None else (1 / per_frame if per_frame else float("inf")),
            "note": note}


class _NullCamera:
    """A pyvirtualcam backend that accepts frames and drops them (no device here)."""

    def __init__(self, **_: Any) -> None:
        pass

    def send(self, frame: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "null"

    def native_fourcc(self) -> int | None:
        return None


def measure_sinks(width: int, height: int, *, n: int | None = None,
                  browser: bool = True) -> list[dict[str, Any]]:
    """Rows of figures for every sink at this size (see the module docstring)."""
    from PIL import Image

    n = n or (60 if width * height <= 1280 * 720 else 30)
    frames = avatar_frames(width, height)
    pick = frames.__getitem__
    rows: list[dict[str, Any]] = []

    def nth(k: int) -> np.ndarray:
        return pick(k % len(frames))

    # -- browser source ------------------------------------------------------------------------
    def jpeg_colour(k: int) -> None:
        out = io.BytesIO()
        Image.frombuffer("RGBX", (width, height), nth(k), "raw", "RGBX", 0, 1).save(
            out, "JPEG", quality=80)

    def png_alpha(k: int) -> None:
        Image.fromarray(nth(k), "RGBA").save(io.BytesIO(), "PNG", compress_level=1)

    rows.append(_row("JPEG colour only, no alpha (Pillow)", "floor", _time(jpeg_colour, n)))
    rows.append(_row("PNG with alpha (Pillow, level 1)", "floor", _time(png_alpha, max(5, n // 6))))
    rows.append(_row("browser source message: JPEG colour + JPEG alpha", "encode",
                     _time(lambda k: encode_frame(nth(k), seq=k, t=0.0), n)))
    rows.append(_row("browser source message: raw RGBA", "encode",
                     _time(lambda k: encode_frame(nth(k), seq=k, t=0.0, encoding="raw"), n)))
    if browser:
        for label, encoding, query in (
                ("2D luminance filter, the default here", "jpeg", ""),
                ("WebGL shader", "jpeg", "?mode=webgl"),
                ("2D per pixel", "jpeg", "?mode=pixels"),
                ("raw RGBA, WebGL", "raw", "?mode=webgl")):
            row = _browser_end_to_end(width, height, frames, encoding, query)
            if row is not None:
                row["what"] = f"browser source → Chromium page ({label})"
                rows.append(row)

    # -- virtual camera ------------------------------------------------------------------------
    import pyvirtualcam  # type: ignore[import-untyped]

    pyvirtualcam.register_backend("bench-null", _NullCamera)
    composite = Compositor(width=width, height=height, colour=(0, 255, 0))
    rgbs = [composite(f).copy() for f in frames]
    with pyvirtualcam.Camera(width, height, 30, backend="bench-null") as cam:
        rows.append(_row("pyvirtualcam send of a ready RGB frame", "floor",
                         _time(lambda k: cam.send(rgbs[k % len(rgbs)]), n),
                         note="null backend: no v4l2loopback here"))

    def numpy_composite(k: int) -> None:
        f = nth(k)
        a = f[..., 3:4].astype(np.uint16)
        x = f[..., :3] * a + np.array([0, 255, 0], np.uint16) * (255 - a) + 128
        ((x + (x >> 8)) >> 8).astype(np.uint8)

    rows.append(_row("alpha over key colour in numpy (rejected)", "floor",
                     _time(numpy_composite, max(5, n // 4))))
    rows.append(_row("alpha over key colour in Pillow (used)", "sink",
                     _time(lambda k: composite(nth(k)), n)))
    camera = VirtualCamera(backend="bench-null")
    camera.open(width=width, height=height, fps=30)
    write_s = 0.0
    for k in range(n):  # a 30 fps render loop
        w0 = time.perf_counter()
        camera.write(nth(k), k / 30)
        write_s += time.perf_counter() - w0
        time.sleep(1 / 30)
    write_s /= n
    stats = camera.stats()
    camera.close()
    send_s = float(stats["send_ms"]) / 1e3  # type: ignore[arg-type]
    rows.append(_row("virtual camera sink (copy; composite + send on its thread)", "sink",
                     write_s, send_s, fps=1 / send_s,
                     note=f"at 30 fps: {stats['replaced']} of {stats['sent']} replaced"))

    # -- recorder ------------------------------------------------------------------------------
    import av

    with tempfile.TemporaryDirectory() as tmp:
        with av.open(os.path.join(tmp, "floor.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=30)
            stream.width, stream.height = width, height
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "20", "preset": "veryfast"}

            pts = iter(range(1 << 30))

            def raw_encode(k: int) -> None:
                frame = av.VideoFrame.from_ndarray(rgbs[k % len(rgbs)], format="rgb24")
                frame.pts = next(pts)
                for packet in stream.encode(frame):
                    container.mux(packet)

            floor_s = _time(raw_encode, n)
            for packet in stream.encode(None):
                container.mux(packet)
        rows.append(_row("PyAV libx264 veryfast encode of a ready RGB frame", "floor", floor_s))
        for preset in ("veryfast", "ultrafast"):  # "auto" picks veryfast to 720p, ultrafast above
            # throughput: "wait" mode, as fast as the encoder goes
            rec = Recorder(path=os.path.join(tmp, f"{preset}.mp4"), preset=preset,
                           when_behind="wait")
            rec.open(width=width, height=height, fps=30)
            start = time.perf_counter()
            for k in range(n):
                rec.write(nth(k), k / 30)
            rec.close()
            wall = time.perf_counter() - start
            worker = rec.encode_s / max(1, rec.encoded)
            # live: a 30 fps render loop in "skip" mode, what write costs it, frames skipped
            rec = Recorder(path=os.path.join(tmp, f"{preset}-live.mp4"), preset=preset)
            rec.open(width=width, height=height, fps=30)
            write = 0.0
            start = time.perf_counter()
            live = 90  # 3 s: longer than the 16-frame queue can hide
            for k in range(live):
                w0 = time.perf_counter()
                rec.write(nth(k), k / 30)
                write += time.perf_counter() - w0
                time.sleep(max(0.0, start + (k + 1) / 30 - time.perf_counter()))
            rec.close()
            rows.append(_row(f"recorder sink ({preset}; composite + encode on its thread)",
                             "sink", write / live, worker, fps=n / wall,
                             note=f"live at 30 fps: {rec.skipped} of {live} skipped"))

    # -- preview window ------------------------------------------------------------------------
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    import pygame

    pygame.display.init()
    screen = pygame.display.set_mode((width, height))

    def raw_blit(k: int) -> None:
        f = nth(k)
        screen.blit(pygame.image.frombuffer(f, (width, height), "RGBA"),  # type: ignore[arg-type]
                    (0, 0))
        pygame.display.flip()

    rows.append(_row("pygame blit + flip of the frame", "floor", _time(raw_blit, n)))
    pygame.display.quit()
    preview = PreviewWindow()
    preview.open(width=width, height=height, fps=30)
    rows.append(_row("preview window sink (over checkerboard, every 2nd pixel)", "sink",
                     _time(lambda k: preview.write(nth(k), k / 30), n)))
    preview.close()
    return rows


def _browser_end_to_end(width: int, height: int, frames: list[np.ndarray], encoding: str,
                        query: str, seconds: float = 4.0) -> dict[str, Any] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    source = BrowserSource(port=0, encoding=encoding)
    source.open(width=width, height=height, fps=30)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
                "--no-first-run", "--disable-background-networking"])
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(source.url + query)
            page.wait_for_function("window.avatarSource.connected", timeout=15_000)
            stop = threading.Event()
            write_s = [0.0, 0]

            def render() -> None:  # a render loop at 30 fps
                k = 0
                start = time.perf_counter()
                while not stop.is_set():
                    w0 = time.perf_counter()
                    source.write(frames[k % len(frames)], k / 30)
                    write_s[0] += time.perf_counter() - w0
                    write_s[1] += 1
                    k += 1
                    time.sleep(max(0.0, start + k / 30 - time.perf_counter()))

            thread = threading.Thread(target=render, daemon=True)
            thread.start()
            time.sleep(2.0)  # warm-up: first frames, texture allocation, a cold Chromium
            before = page.evaluate("window.avatarSource.frames")
            t0 = time.perf_counter()
            time.sleep(seconds)
            after = page.evaluate("window.avatarSource.frames")
            elapsed = time.perf_counter() - t0
            stop.set()
            thread.join()
            state = page.evaluate("window.avatarSource")
            browser.close()
    finally:
        source.close()
    stats = source.stats()
    return _row("", "end to end", write_s[0] / max(1, write_s[1]),
                float(stats["encode_ms"]) / 1e3,  # type: ignore[arg-type]
                fps=(after - before) / elapsed,
                note=f"input 30 fps; page decode {state['decodeMs']:.1f} ms, "
                     f"draw {state['drawMs']:.1f} ms, mode {state['mode']}")


def print_rows(width: int, height: int, rows: list[dict[str, Any]]) -> None:
    print(f"\n{width}x{height}")
    print(f"  {'':72} {'kind':>10} {'write ms':>9} {'worker ms':>9} {'fps':>7}  note")
    for r in rows:
        worker = "" if r["worker_ms"] is None else f"{r['worker_ms']:.2f}"
        print(f"  {r['what']:72} {r['kind']:>10} {r['write_ms']:9.2f} {worker:>9} "
              f"{r['fps']:7.1f}  {r['note']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-browser", action="store_true", help="skip headless Chromium")
    parser.add_argument("--sizes", default="1280x720,1920x1080")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
          "write ms = render-loop cost, worker ms = the sink's thread")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        print_rows(width, height, measure_sinks(width, height, browser=not args.no_browser))


if __name__ == "__main__":
    main()
