"""Frame sinks: where the renderer's frames go (a preview window, a virtual camera, OBS's browser
source, a video file).

The contract (`FrameSink`): the renderer calls `open(width=, height=, fps=)` once, then
`write(frame, t)` for every frame it draws, then `close()`. A frame is a uint8 numpy array of shape
(H, W, 4), straight (not premultiplied) alpha RGBA, row 0 at the top; `t` is seconds on the show
clock. A sink may not keep a reference to `frame` after `write` returns (the renderer reuses its
buffer): a sink that works on another thread copies it first.

Faults degrade, never stop the show: `open` raises `SinkUnavailable` with what to install or change;
`write` never raises — a failure is logged and counted, and a sink that fails
`MAX_CONSECUTIVE_FAILURES` times in a row is dropped with one clear log line. This lives in the base
class (template method: subclasses implement `_open`, `_write`, `_close`), so every sink behaves the
same. `Sinks` fans one frame out to several sinks and drops those that fail to open. Rejected:
letting each sink catch its own errors (every sink would log differently, and a forgotten `try`
would take the renderer process down).

Virtual cameras and video files carry no alpha: those sinks composite the frame over a key colour
(default #00FF00, for OBS's Chroma Key filter). The browser source keeps alpha (see
`renderer/browser_source.py`).

Settings for `make_sinks` (a plain dict; every key optional):

    preview: true | false | "auto"         # "auto" (default): a window only when a display exists
    virtual_camera: false | true | {device: str, backend: str, key_colour: "#00FF00"}
    browser_source: false | true | {host: "127.0.0.1", port: 8767, encoding: "jpeg"|"raw",
                                    quality: 80}
    record_video: null | "FILE.mp4" | {path: "FILE.mp4", background: "#00FF00", codec: "auto",
                                       crf: 20, preset: "auto", origin: 0.0,
                                       when_behind: "skip"|"wait", overwrite: true}
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger("director.sinks")

Frame = npt.NDArray[np.uint8]
MAX_CONSECUTIVE_FAILURES = 5
DEFAULT_KEY_COLOUR = "#00FF00"
DEFAULT_BROWSER_PORT = 8767


class SinkUnavailable(RuntimeError):
    """A sink cannot start here: the message says why and what to install or change."""


class SinkSettingsError(ValueError):
    """A bad `make_sinks` setting: the message names the key and the fix."""


class FrameSink:
    """One place frames go. Subclasses implement `_open`, `_write` and `_close`.

    `open`, `write` and `close` are the public template methods: the renderer calls only those.
    `_write` should return quickly (a few ms at 720p); slow work belongs on the sink's own thread.
    """

    name: str = "sink"

    def __init__(self) -> None:
        self.width = 0
        self.height = 0
        self.fps = 30.0
        self.frames = 0  # frames written successfully
        self.failures = 0  # failed writes in total
        self.dropped = False  # True once the sink gave up after repeated failures
        self._failures_in_a_row = 0
        self._opened = False

    # -- public template methods -------------------------------------------------------------
    def open(self, *, width: int, height: int, fps: float) -> None:
        """Start the sink for frames of this size; raises SinkUnavailable with the fix."""
        if width <= 0 or height <= 0 or fps <= 0:
            raise SinkUnavailable(f"{self.name}: bad frame format {width}x{height} @ {fps} fps")
        self.width, self.height, self.fps = width, height, float(fps)
        self._open()
        self._opened = True
        self.dropped = False

    def write(self, frame: Frame, t: float) -> None:
        """Hand one frame to the sink. Never raises; repeated failures drop the sink."""
        if self.dropped or not self._opened:
            return
        try:
            self._write(frame, t)
        except Exception as exc:
            self.failures += 1
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
                log.error("%s dropped after %d failed frames in a row (last: %s); the show goes "
                          "on without it", self.name, self._failures_in_a_row, _describe(exc))
                self.dropped = True
                self._safe_close()
            else:
                log.warning("%s: frame at t=%.2f failed: %s", self.name, t, _describe(exc))
        else:
            self.frames += 1
            self._failures_in_a_row = 0

    def close(self) -> None:
        """Finish (flush files, stop threads). Safe to call twice; never raises."""
        if self._opened:
            self._safe_close()

    def stats(self) -> dict[str, object]:
        """Counters for logs and benchmarks."""
        return {"sink": self.name, "frames": self.frames, "failures": self.failures,
                "dropped": self.dropped}

    # -- subclass hooks ----------------------------------------------------------------------
    def _open(self) -> None:
        """Acquire the device/file/port. Raise SinkUnavailable(what to do) when it cannot."""

    def _write(self, frame: Frame, t: float) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        """Release everything `_open` acquired."""

    def _safe_close(self) -> None:
        self._opened = False
        try:
            self._close()
        except Exception as exc:
            log.warning("%s: closing failed: %s", self.name, _describe(exc))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Sinks:
    """Fans frames out to several sinks; sinks that cannot open are logged and left out."""

    def __init__(self, sinks: Sequence[FrameSink]) -> None:
        self.sinks = list(sinks)

    def open(self, *, width: int, height: int, fps: float) -> None:
        opened = []
        for sink in self.sinks:
            try:
                sink.open(width=width, height=height, fps=fps)
            except Exception as exc:
                log.error("%s not started: %s", sink.name,
                          exc if isinstance(exc, SinkUnavailable) else _describe(exc))
                continue
            log.info("%s started (%dx%d @ %g fps)", sink.name, width, height, fps)
            opened.append(sink)
        self.sinks = opened

    def write(self, frame: Frame, t: float) -> None:
        for sink in self.sinks:
            sink.write(frame, t)

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()

    def stats(self) -> list[dict[str, object]]:
        return [sink.stats() for sink in self.sinks]


# -- helpers -------------------------------------------------------------------------------------
def parse_colour(value: object, *, key: str) -> tuple[int, int, int]:
    """"#RRGGBB" or [r, g, b] (0-255) → (r, g, b); a bad value raises SinkSettingsError."""
    if isinstance(value, str):
        text = value.strip().lstrip("#")
        if len(text) == 6:
            try:
                return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16))
            except ValueError:
                pass
    elif (isinstance(value, Sequence) and len(value) == 3
          and all(isinstance(c, int) and 0 <= c <= 255 for c in value)):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise SinkSettingsError(f"{key}: {value!r} is not a colour; write \"#RRGGBB\", e.g. "
                            f"\"{DEFAULT_KEY_COLOUR}\"")


class Compositor:
    """Straight-alpha RGBA over a solid colour → RGB, for outputs without alpha.

    Pillow's paste-with-mask blends in C: 3.3 ms at 720p here, against 16 ms for the same integer
    arithmetic in numpy (bench/sinks.py). Results equal round(rgb*a + key*(1-a)) exactly.
    """

    def __init__(self, *, width: int, height: int, colour: tuple[int, int, int]) -> None:
        from PIL import Image

        self._image = Image
        self.size = (width, height)
        self._background = Image.new("RGB", self.size, colour)

    def __call__(self, frame: Frame) -> Frame:
        frame = np.ascontiguousarray(frame)
        if frame.shape != (self.size[1], self.size[0], 4) or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} is not "
                             f"({self.size[1]}, {self.size[0]}, 4) uint8")
        rgba = self._image.frombuffer("RGBA", self.size, frame, "raw", "RGBA", 0, 1)
        out = self._background.copy()
        out.paste(rgba, (0, 0), rgba)
        return np.asarray(out)


def has_display() -> bool:
    """Whether a window can open: Windows and macOS always; elsewhere an X11/Wayland display,
    or an explicit SDL_VIDEODRIVER (tests use "dummy").
    """
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("SDL_VIDEODRIVER"))


# -- preview window ------------------------------------------------------------------------------
class PreviewWindow(FrameSink):
    """A pygame window showing the frame over a checkerboard, so alpha is visible.

    Frames larger than `max_size` are shown at 1/2, 1/3, ... (every n-th pixel).

    A plain (software) pygame surface, not an OpenGL one: the renderer already owns a GL context
    in this process, and a second one from SDL would fight over it. Closing the window only drops
    the preview; the show goes on.
    """

    name = "preview window"

    def __init__(self, *, max_size: tuple[int, int] = (960, 540), checker: int = 16,
                 background: str | None = None, title: str = "director — avatar") -> None:
        super().__init__()
        self.max_size = max_size
        self.checker = checker
        self.background = (parse_colour(background, key="preview.background")
                           if background is not None else None)
        self.title = title
        self._pg: Any = None
        self._screen: Any = None
        self._backdrop: Any = None
        self._window_size = (0, 0)
        self._step = 1

    def _open(self) -> None:
        if not has_display():
            raise SinkUnavailable("preview window: no display here (no DISPLAY/WAYLAND_DISPLAY); "
                                  "run with a desktop, or leave preview off (it is for local "
                                  "checks; OBS takes the browser source or virtual camera)")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame

            pygame.display.init()
            # an integer step (every 2nd pixel at 720p and 1080p) is a cheap numpy slice; a
            # smooth rescale cost the render loop ~10 ms a frame at 720p
            self._step = max(1, math.ceil(max(self.width / self.max_size[0],
                                              self.height / self.max_size[1])))
            size = (len(range(0, self.width, self._step)), len(range(0, self.height, self._step)))
            self._screen = pygame.display.set_mode(size)
            pygame.display.set_caption(self.title)
        except Exception as exc:
            raise SinkUnavailable(
                f"preview window: cannot open a window ({_describe(exc)})") from exc
        self._pg = pygame
        self._window_size = size
        backdrop = pygame.Surface(size)
        if self.background is not None:
            backdrop.fill(self.background)
        else:
            backdrop.fill((204, 204, 204))
            for y in range(0, size[1], self.checker):
                for x in range((y // self.checker) % 2 * self.checker, size[0], 2 * self.checker):
                    backdrop.fill((153, 153, 153), (x, y, self.checker, self.checker))
        self._backdrop = backdrop

    def _write(self, frame: Frame, t: float) -> None:
        pg = self._pg
        for event in pg.event.get():
            if event.type == pg.QUIT:
                log.info("preview window closed by the user; the show goes on")
                self.dropped = True
                self._safe_close()
                return
        frame = np.ascontiguousarray(frame[:: self._step, :: self._step])
        image = pg.image.frombuffer(frame, (frame.shape[1], frame.shape[0]), "RGBA")
        image = image.convert_alpha()  # the screen's pixel order: blitting is then 15x faster
        self._screen.blit(self._backdrop, (0, 0))
        self._screen.blit(image, (0, 0))
        pg.display.flip()

    def _close(self) -> None:
        if self._pg is not None:
            self._pg.display.quit()
            self._pg = None

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        """The window's pixel at (x, y), for tests."""
        r, g, b, *_ = self._screen.get_at((x, y))
        return (int(r), int(g), int(b))


class NewestFrameWorker:
    """A one-frame mailbox and the thread that empties it: the newest frame wins.

    For sinks whose work (compositing, a device write) should not run on the render loop: `put`
    stores a copy and returns; a frame not yet handled when the next arrives is replaced (counted
    in `replaced`). An exception in `handle` is kept in `error` for the sink to raise from its next
    `_write`, so the base class counts it like any other failure.
    """

    def __init__(self, *, name: str, handle: Callable[[Frame, float], None]) -> None:
        self.name = name
        self.handle = handle
        self.replaced = 0
        self.handled = 0
        self.handle_s = 0.0
        self.error: BaseException | None = None
        self._slot: tuple[Frame, float] | None = None
        self._stopping = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, frame: Frame, t: float) -> None:
        """Queue a copy of the frame; then raise what went wrong with an earlier one, if anything
        did (the new frame is still tried: a device may come back).
        """
        copy = frame.copy()
        with self._cond:
            if self._slot is not None:
                self.replaced += 1
            self._slot = (copy, t)
            self._cond.notify()
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def stop(self, timeout: float = 5.0) -> None:
        """Handle the frame still waiting, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._slot is None and not self._stopping:
                    self._cond.wait()
                item, self._slot = self._slot, None
                if item is None:
                    return
            start = time.perf_counter()
            try:
                self.handle(*item)
            except Exception as exc:
                self.error = exc
            else:
                self.handled += 1
                self.handle_s += time.perf_counter() - start


# -- virtual camera ------------------------------------------------------------------------------
def _camera_install_hint() -> str:
    if sys.platform.startswith("linux"):
        return ("install v4l2loopback (Debian/Ubuntu: sudo apt install v4l2loopback-dkms; then "
                "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=director) and "
                "in OBS add a Video Capture Device source on that /dev/videoN")
    return ("install OBS Studio (26 or newer) and start its Virtual Camera once (Start Virtual "
            "Camera, then Stop), so the OBS virtual camera device exists")


class VirtualCamera(FrameSink):
    """Frames to a virtual webcam through pyvirtualcam, composited over `key_colour`.

    Compositing and sending run on the sink's own thread (`NewestFrameWorker`): 3-6 ms at 720p and
    7-16 ms at 1080p (bench/sinks.py) that the render loop does not wait for; `write` copies.

    Webcams carry no alpha: the avatar goes over a key colour (default #00FF00) that OBS's Chroma
    Key filter removes. `backend` picks a pyvirtualcam backend by name (None tries all:
    v4l2loopback on Linux, OBS's camera on Windows/macOS); tests register their own.
    """

    name = "virtual camera"

    def __init__(self, *, device: str | None = None, backend: str | None = None,
                 key_colour: str = DEFAULT_KEY_COLOUR) -> None:
        super().__init__()
        self.device = device
        self.backend = backend
        self.key_colour = parse_colour(key_colour, key="virtual_camera.key_colour")
        self._camera: Any = None
        self._composite: Compositor | None = None
        self._worker: NewestFrameWorker | None = None

    def _open(self) -> None:
        try:
            import pyvirtualcam  # type: ignore[import-untyped]
        except ImportError as exc:
            raise SinkUnavailable("virtual camera: the pyvirtualcam package is missing "
                                  "(pip install pyvirtualcam)") from exc
        if self.backend is not None and self.backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none on this platform"
            raise SinkUnavailable(f"virtual camera: unknown backend {self.backend!r} (known: "
                                  f"{known}); leave virtual_camera.backend unset to try them all")
        try:
            self._camera = pyvirtualcam.Camera(
                self.width, self.height, self.fps, fmt=pyvirtualcam.PixelFormat.RGB,
                device=self.device, backend=self.backend)
        except Exception as exc:
            where = f" {self.device}" if self.device else ""
            raise SinkUnavailable(f"virtual camera{where}: no device ({exc}); "
                                  f"{_camera_install_hint()}") from exc
        self._composite = Compositor(width=self.width, height=self.height,
                                     colour=self.key_colour)
        self.device = self._camera.device
        self._worker = NewestFrameWorker(name="virtual-camera", handle=self._send)
        self._worker.start()
        log.info("virtual camera %s (%s backend), key colour #%02X%02X%02X",
                 self.device, self._camera.backend, *self.key_colour)

    def _write(self, frame: Frame, t: float) -> None:
        assert self._worker is not None
        if frame.shape != (self.height, self.width, 4) or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} is not "
                             f"({self.height}, {self.width}, 4) uint8")
        self._worker.put(frame, t)

    def _send(self, frame: Frame, t: float) -> None:
        assert self._composite is not None
        self._camera.send(self._composite(frame))

    def _close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
        if self._camera is not None:
            self._camera.close()
            self._camera = None

    def stats(self) -> dict[str, object]:
        worker = self._worker
        return {**super().stats(), "device": self.device,
                "sent": worker.handled if worker else 0,
                "replaced": worker.replaced if worker else 0,
                "send_ms": round(1000 * worker.handle_s / max(1, worker.handled), 2)
                if worker else 0.0}


# -- recorder ------------------------------------------------------------------------------------
def pick_video_codec(requested: str = "auto") -> str:
    """The encoder to use: H.264 (libx264) when this PyAV build has it, else MPEG-4 Part 2."""
    import av

    available = av.codecs_available
    if requested != "auto":
        if requested not in available:
            raise SinkUnavailable(f"recorder: codec {requested!r} is not in this PyAV build; use "
                                  f"\"auto\" or one of libx264, mpeg4")
        return requested
    if "libx264" in available:
        return "libx264"
    log.warning("recorder: this PyAV build has no libx264; recording MPEG-4 Part 2 (larger "
                "files) — install the PyPI wheel of av, which bundles libx264, for H.264")
    return "mpeg4"


class Recorder(FrameSink):
    """Writes what the camera shows (the frame over `background`) to a video file with PyAV.

    Timestamps come from `t`: frame k is stamped round((t - origin) * fps) in a 1/fps time base,
    so frames the renderer dropped leave a longer previous frame instead of a shorter video, and the
    video lines up with the show's audio (`mux_audio`). `origin` is the show time of the video's
    start (default: the first frame's `t`). Encoding runs on its own thread behind a bounded queue;
    when the encoder falls `queue_frames` behind, `when_behind="skip"` (live shows) skips new frames
    (counted in `skipped`) so the render loop never waits, while `"wait"` (offline renders that run
    faster than real time) makes `write` wait for room. The last frame written is always recorded,
    so the video ends where the show did. Two frames in the same 1/fps slot keep the first.
    `overwrite=False` (for a restarted renderer) writes NAME.part2.mp4, ... beside an existing file.
    """

    name = "recorder"

    def __init__(self, *, path: str | Path, background: str = DEFAULT_KEY_COLOUR,
                 codec: str = "auto", crf: int = 20, preset: str = "auto",
                 origin: float | None = None, queue_frames: int = 16,
                 when_behind: str = "skip", overwrite: bool = True) -> None:
        super().__init__()
        self.overwrite = overwrite
        if when_behind not in ("skip", "wait"):
            raise ValueError(f"record_video.when_behind: {when_behind!r} is not \"skip\" or "
                             f"\"wait\"")
        self.when_behind = when_behind
        self._held: tuple[Frame, float] | None = None  # the newest skipped frame
        self.path = Path(path)
        self.background = parse_colour(background, key="record_video.background")
        self.codec = codec
        self.crf = crf
        self.preset = preset
        self.origin = origin
        self.skipped = 0  # frames not recorded because the encoder was behind
        self.encoded = 0
        self.encode_s = 0.0
        self._queue: queue.Queue[tuple[Frame, float] | None] = queue.Queue(maxsize=queue_frames)
        self._thread: threading.Thread | None = None
        self._container: Any = None
        self._stream: Any = None
        self._composite: Compositor | None = None
        self._error: BaseException | None = None
        self._last_pts = -1
        self._size = (0, 0)
        self._rate = Fraction(30)

    def _open(self) -> None:
        import av

        codec = pick_video_codec(self.codec)
        if self.path.suffix.lower() not in (".mp4", ".mkv", ".mov"):
            raise SinkUnavailable(f"recorder: {self.path}: use a .mp4, .mkv or .mov file name")
        if not self.overwrite and self.path.exists():  # a restarted renderer keeps the first part
            stem, n = self.path.stem, 2
            while self.path.with_name(f"{stem}.part{n}{self.path.suffix}").exists():
                n += 1
            self.path = self.path.with_name(f"{stem}.part{n}{self.path.suffix}")
        # Fragmented MP4, flushed per packet: if the renderer process dies, what was recorded up
        # to the last keyframe (every 2 s) still plays. mux_audio writes a plain MP4.
        options = {"flush_packets": "1"}
        if self.path.suffix.lower() in (".mp4", ".mov"):
            options["movflags"] = "frag_keyframe+empty_moov+default_base_moof"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self.path), "w", options=options)
        except Exception as exc:
            raise SinkUnavailable(f"recorder: cannot write {self.path} ({_describe(exc)}); pick a "
                                  f"writable path for --record-video") from exc
        # 4:2:0 needs even sizes: an odd last row/column is cut off.
        self._size = (self.width - self.width % 2, self.height - self.height % 2)
        self._rate = Fraction(self.fps).limit_denominator(1001)
        stream = self._container.add_stream(codec, rate=self._rate)
        stream.width, stream.height = self._size
        stream.pix_fmt = "yuv420p"
        stream.time_base = 1 / self._rate
        stream.codec_context.gop_size = max(1, round(2 * self.fps))
        # no B-frames: a fragmented MP4 has no edit list, and B-frame reordering would start the
        # video 2 frames late against the audio
        stream.codec_context.max_b_frames = 0
        if codec.startswith("libx264"):
            # measured (bench/sinks.py): veryfast 12 ms a 720p frame, 70 ms at 1080p where
            # ultrafast takes 24 ms; "auto" keeps 30 fps on two cores at either size
            preset = self.preset
            if preset == "auto":
                preset = "veryfast" if self.width * self.height <= 1280 * 720 else "ultrafast"
            stream.options = {"crf": str(self.crf), "preset": preset}
        else:
            stream.bit_rate = 8_000_000
        self._stream = stream
        self._composite = Compositor(width=self._size[0], height=self._size[1],
                                     colour=self.background)
        self._last_pts = -1
        self._thread = threading.Thread(target=self._encode_loop, name="recorder", daemon=True)
        self._thread.start()
        log.info("recording %s (%s, %dx%d @ %s fps)", self.path, codec, *self._size, self._rate)

    def _write(self, frame: Frame, t: float) -> None:
        self._enqueue(frame, t)
        if self._error is not None:  # an earlier frame failed on the encoder thread
            error, self._error = self._error, None
            raise error

    def _enqueue(self, frame: Frame, t: float) -> None:
        if self.origin is None:
            self.origin = t
        item = (frame[: self._size[1], : self._size[0]].copy(), t)
        if self.when_behind == "wait":
            self._queue.put(item)
            return
        try:
            self._queue.put_nowait(item)
            self._held = None
        except queue.Full:
            self._held = item
            self.skipped += 1
            if self.skipped == 1 or self.skipped % 100 == 0:
                log.warning("recorder: the encoder is behind, %d frames skipped so far (the video "
                            "keeps its length; try record_video.preset: ultrafast)", self.skipped)

    def _encode_loop(self) -> None:
        import av

        while True:
            item = self._queue.get()
            if item is None:
                return
            frame, t = item
            try:
                start = time.perf_counter()
                pts = round((t - (self.origin or 0.0)) * self._rate)
                if pts <= self._last_pts:
                    continue
                assert self._composite is not None
                video = av.VideoFrame.from_ndarray(self._composite(frame), format="rgb24")
                video.pts = pts
                for packet in self._stream.encode(video):
                    self._container.mux(packet)
                self._last_pts = pts
                self.encoded += 1
                self.encode_s += time.perf_counter() - start
            except Exception as exc:  # reported on the render thread by the next write
                self._error = exc

    def _close(self) -> None:
        if self._thread is not None:
            if self._held is not None:  # the video must reach the show's last frame
                self._queue.put(self._held)
                self.skipped -= 1
                self._held = None
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self._container is not None:
            try:
                for packet in self._stream.encode(None):
                    self._container.mux(packet)
            finally:
                self._container.close()
                self._container = None
            log.info("video written to %s (%d frames, %d skipped)", self.path, self.encoded,
                     self.skipped)

    def stats(self) -> dict[str, object]:
        return {**super().stats(), "path": str(self.path), "encoded": self.encoded,
                "skipped": self.skipped,
                "encode_ms": round(1000 * self.encode_s / max(1, self.encoded), 2)}


def mux_audio(video_path: str | Path, wav_path: str | Path, out_path: str | Path, *,
              audio_offset_s: float = 0.0) -> Path:
    """Copy the video stream of `video_path` and the audio of `wav_path` (AAC) into `out_path`.

    The video is not re-encoded. `audio_offset_s` is where the WAV's first sample falls on the
    video's timeline (the mixer's origin minus the recorder's origin; negative cuts the start).
    `out_path` may equal `video_path`: the result is written beside it and moved over it.
    """
    import av

    video_path, wav_path, out_path = Path(video_path), Path(wav_path), Path(out_path)
    for what, path in (("video", video_path), ("audio", wav_path)):
        if not path.is_file():
            raise FileNotFoundError(f"mux_audio: the {what} file {path} does not exist")
    target = out_path.with_name(out_path.stem + ".muxing" + out_path.suffix)
    with av.open(str(video_path)) as vin, av.open(str(wav_path)) as ain, \
            av.open(str(target), "w") as out:
        vin_stream = vin.streams.video[0]
        vout = out.add_stream_from_template(vin_stream)
        ain_stream = ain.streams.audio[0]
        rate = ain_stream.rate
        channels = len(ain_stream.layout.channels)
        # a WAV's layout is "2 channels" (no order), which the AAC encoder refuses
        layout = {1: "mono", 2: "stereo"}.get(channels, ain_stream.layout.name)
        aout = out.add_stream("aac", rate=rate, layout=layout)
        aout.time_base = Fraction(1, rate)  # the muxer opens it before its first frame
        for packet in vin.demux(vin_stream):
            if packet.dts is None:  # the demuxer's final empty packet
                continue
            packet.stream = vout
            out.mux(packet)
        offset = round(audio_offset_s * rate)
        if offset > 0:  # the WAV starts after the video: lead in with silence (AAC in MP4 has
            # no gaps; a later first timestamp would just be played early)
            silence = av.AudioFrame.from_ndarray(np.zeros((channels, offset), np.float32),
                                                 format="fltp", layout=layout)
            silence.sample_rate = rate
            silence.pts, silence.time_base = 0, Fraction(1, rate)
            for packet in aout.encode(silence):
                out.mux(packet)
        skip = max(0, -offset)  # the WAV starts before the video: cut its head
        written = max(0, offset)
        # one format for every frame the encoder sees (its resampler is fixed by the first)
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        decoded = (f for frame in ain.decode(ain_stream) for f in resampler.resample(frame))
        for frame in itertools.chain(decoded, resampler.resample(None)):
            if skip >= frame.samples:
                skip -= frame.samples
                continue
            if skip:
                data: Any = frame.to_ndarray()[:, skip:]
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format="fltp",
                                                   layout=layout)
                frame.sample_rate = rate
                skip = 0
            frame.pts, frame.time_base = written, Fraction(1, rate)
            written += frame.samples
            for packet in aout.encode(frame):
                out.mux(packet)
        for packet in aout.encode(None):
            out.mux(packet)
    target.replace(out_path)
    return out_path


# -- settings ------------------------------------------------------------------------------------
SETTINGS_KEYS = ("preview", "virtual_camera", "browser_source", "record_video")


def _options(value: object, key: str, allowed: Sequence[str]) -> dict[str, Any] | None:
    """false/None → None, true → {}, a mapping → checked keys."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if not isinstance(value, Mapping):
        raise SinkSettingsError(f"{key}: expected true, false or a mapping of "
                                f"{', '.join(allowed)}; got {value!r}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise SinkSettingsError(f"{key}: unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                                f"{', '.join(allowed)}")
    return dict(value)


def make_sinks(settings: Mapping[str, Any]) -> list[FrameSink]:
    """The sinks a settings dict asks for (see the module docstring for the keys).

    Bad settings raise SinkSettingsError naming the key; a sink that cannot start on this
    machine is found out later, by `open` (`Sinks.open` logs and leaves it out).
    """
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise SinkSettingsError(f"sinks: unknown key(s) {', '.join(map(str, unknown))}; allowed: "
                                f"{', '.join(SETTINGS_KEYS)}")
    sinks: list[FrameSink] = []
    try:
        browser = _options(settings.get("browser_source"), "browser_source",
                           ("host", "port", "encoding", "quality"))
        if browser is not None:
            from renderer.browser_source import BrowserSource

            sinks.append(BrowserSource(**browser))
        camera = _options(settings.get("virtual_camera"), "virtual_camera",
                          ("device", "backend", "key_colour"))
        if camera is not None:
            sinks.append(VirtualCamera(**camera))
        record = settings.get("record_video")
        if isinstance(record, (str, Path)):
            record = {"path": record}
        recorder = _options(record, "record_video",
                            ("path", "background", "codec", "crf", "preset", "origin",
                             "when_behind", "overwrite"))
        if recorder is not None:
            if not recorder.get("path"):
                raise SinkSettingsError("record_video: needs a path, e.g. out.mp4")
            sinks.append(Recorder(**recorder))
        preview = settings.get("preview", "auto")
        if preview not in (True, False, "auto", None):
            raise SinkSettingsError(f"preview: {preview!r} is not true, false or \"auto\"")
        if preview is True or (preview == "auto" and has_display()):
            sinks.append(PreviewWindow())
    except (TypeError, ValueError) as exc:
        if isinstance(exc, SinkSettingsError):
            raise
        raise SinkSettingsError(f"sinks: {exc}") from exc
    return sinks
