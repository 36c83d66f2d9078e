"""The renderer process, and the supervisor that keeps it alive from the main process.

The renderer runs in its own process (multiprocessing "spawn": an OpenGL context, and live2d-py's
process-wide state, must start in a fresh interpreter). It draws at the output rate from the
newest state in the `Channel`, hands each frame to the sinks (which run in this process), and
reports its status back. Frames are paced on an absolute schedule; when a frame runs late the
schedule skips ahead rather than bursting to catch up.

The supervisor (`RendererProcess`, main process) never blocks on the renderer: `publish` writes
shared memory, `poll` (once a tick) only checks whether the process is alive. When it has died,
the reason (exit code or signal, and the error the renderer reported) is logged and it is
restarted after a backoff (0.5 s, doubling to 8 s); after `MAX_CRASHES` crashes within a minute a
Live2D avatar is dropped for the built-in one, which needs no files and no library.

The mouth: the main process publishes the lip-sync level at the current show time and the voice
envelope for the next quarter second (60 Hz); the renderer picks the value for the moment each
frame is drawn, so the mouth follows the audio clock between ticks.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from director.logfmt import setup_logging
from renderer.channel import Channel, SlotTooSmall

if TYPE_CHECKING:
    from renderer.sinks import Sinks

log = logging.getLogger("director.renderer")

MAX_CRASHES = 3
CRASH_WINDOW_S = 60.0
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
LIPSYNC_HZ = 60


@dataclass(frozen=True)
class RendererConfig:
    """What the renderer process draws and where the frames go (picklable)."""

    avatar: str = "builtin"
    mapping: str = ""
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    sinks: dict[str, Any] = field(default_factory=dict)  # renderer.sinks.make_sinks settings
    seed: int = 1
    log_level: int = logging.INFO


def mouth_at(state: dict[str, Any], now: float) -> float:
    """The mouth level for a frame drawn at monotonic time `now`, from the published envelope."""
    ahead = state.get("mouth_ahead") or []
    if not ahead:
        return float(state.get("mouth", 0.0))
    shown = (now - float(state.get("wall", now))) * float(state.get("speed", 1.0))
    index = int(max(0.0, shown) * LIPSYNC_HZ)
    return float(ahead[min(index, len(ahead) - 1)]) if index < len(ahead) else 0.0


# -- the renderer process -----------------------------------------------------------------------
def _make_sinks(settings: dict[str, Any]) -> Sinks | None:
    """The frame sinks the settings ask for (renderer.sinks), or None when there are none."""
    from renderer.sinks import Sinks, SinkSettingsError, make_sinks

    if not any(value for value in settings.values()):
        return None
    try:
        return Sinks(make_sinks(settings))
    except SinkSettingsError as exc:
        log.error("%s; the avatar is drawn but its frames go nowhere", exc)
        return None


def renderer_main(config: dict[str, Any], channel_name: str, parent_pid: int) -> None:
    """Entry point of the renderer process: draw frames until told to stop or orphaned."""
    cfg = RendererConfig(**config)
    setup_logging(cfg.log_level, source="renderer")
    channel = Channel.attach(channel_name)
    running = [True]

    def stop(_sig: int, _frame: Any) -> None:
        running[0] = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C goes to the show, which stops us
    status: dict[str, Any] = {"pid": os.getpid(), "frames": 0, "fps": 0.0, "avatar": "",
                              "fallback": None, "error": None}
    try:
        _render_loop(cfg, channel, parent_pid, running, status)
    except BaseException as exc:
        status["error"] = f"{type(exc).__name__}: {exc}"
        try:
            channel.report(status)
        finally:
            raise
    finally:
        channel.close()


def _render_loop(cfg: RendererConfig, channel: Channel, parent_pid: int, running: list[bool],
                 status: dict[str, Any]) -> None:
    from renderer.animation import Drive
    from renderer.scene import Scene

    scene = Scene(avatar=cfg.avatar, mapping=cfg.mapping, width=cfg.width, height=cfg.height,
                  seed=cfg.seed)
    status.update(avatar=scene.kind, fallback=scene.fallback)
    sinks = _make_sinks(cfg.sinks)
    if sinks is not None:
        sinks.open(width=cfg.width, height=cfg.height, fps=cfg.fps)
    period = 1.0 / cfg.fps
    start = time.perf_counter()
    n = 0
    last = start
    state: dict[str, Any] = {}
    shown_version = -1
    window: list[float] = []
    latencies: list[float] = []
    log.info("rendering %s at %dx%d, %g fps%s", scene.kind, cfg.width, cfg.height, cfg.fps,
             f" ({len(sinks.sinks)} sink(s))" if sinks is not None else "")
    try:
        while running[0] and not state.get("stop"):
            n += 1
            due = start + n * period
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif -delay > period:  # more than a frame late: skip ahead, never burst
                n += int(-delay / period)
            if os.getppid() != parent_pid:
                log.warning("the show's process is gone; the renderer stops")
                break
            _, latest = channel.latest()
            if latest is not None:
                state = latest
            now = time.perf_counter()
            dt, last = now - last, now
            wall = time.monotonic()
            look = state.get("look") or (0.0, 0.0)
            drive = Drive(expression=state.get("expression", "neutral"),
                          motion=state.get("motion", ""),
                          motion_count=int(state.get("motion_count", 0)),
                          look=(float(look[0]), float(look[1])),
                          mouth=mouth_at(state, wall), overrides=state.get("overrides") or None)
            frame = scene.frame(drive, dt)
            show_t = float(state.get("show_time", 0.0)) + (
                wall - float(state.get("wall", wall))) * float(state.get("speed", 1.0))
            if sinks is not None:
                sinks.write(frame, show_t)
            done = time.monotonic()
            version = int(state.get("version", 0))
            if version != shown_version:
                if shown_version >= 0 and state.get("decided_wall"):
                    latency = done - float(state["decided_wall"])
                    latencies.append(latency)
                    status["latency_ms"] = round(latency * 1000, 2)
                    status["latency_frames"] = math.ceil(latency / period)
                    status["latency_max_frames"] = max(
                        status.get("latency_max_frames", 0), status["latency_frames"])
                shown_version = version
            window.append(done)
            if len(window) > 2 * cfg.fps:
                del window[0]
            status["frames"] += 1
            status["shown_version"] = shown_version
            if len(window) > 1:
                status["fps"] = round((len(window) - 1) / (window[-1] - window[0]), 2)
            if sinks is not None and status["frames"] % 30 == 1:
                status["sinks"] = sinks.stats()
            channel.report(status)
    finally:
        if sinks is not None:
            sinks.close()
            status["sinks"] = sinks.stats()
            channel.report(status)
        scene.release()
        log.info("renderer stopped after %d frames", status["frames"])


# -- the supervisor (main process) --------------------------------------------------------------
def _exit_reason(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


class RendererProcess:
    """Starts, feeds, watches and restarts the renderer process. Never blocks the show."""

    def __init__(self, *, config: RendererConfig) -> None:
        self.config = config
        self.channel: Channel | None = None
        self.process: Any = None
        self.crashes: list[float] = []
        self.restarts = 0
        self.restart_at: float | None = None
        self.stopping = False
        self._state: dict[str, Any] = {}
        self._warned_size = False
        self.backoff_s = BACKOFF_S

    def start(self) -> None:
        if self.channel is None:
            self.channel = Channel.create()
        self.stopping = False
        self._spawn()

    def _spawn(self) -> None:
        assert self.channel is not None
        ctx = multiprocessing.get_context("spawn")
        self.process = ctx.Process(
            target=renderer_main, name="director-renderer", daemon=True,
            args=(asdict(self.config), self.channel.name, os.getpid()))
        self.process.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and bool(self.process.is_alive())

    def publish(self, state: dict[str, Any]) -> None:
        """Replace the state the renderer draws from. Never blocks, never raises."""
        self._state = state
        if self.channel is None:
            return
        try:
            self.channel.publish(state)
        except SlotTooSmall as exc:
            if not self._warned_size:
                self._warned_size = True
                log.error("avatar state not sent: %s", exc)

    def poll(self) -> None:
        """Once a tick: notice a dead renderer, log why, restart it after a backoff."""
        if self.stopping or self.process is None:
            return
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restart_at = None
                self.restarts += 1
                self._spawn()
            return
        if self.process.is_alive():
            return
        code = self.process.exitcode
        error = self.status().get("error")
        if error and "no headless OpenGL" in error:  # restarting cannot help: say it once
            log.error("the avatar cannot be drawn here: %s; the show goes on without it", error)
            self.stopping = True
            return
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW_S] + [now]
        backoff = self.backoff_s[min(len(self.crashes) - 1, len(self.backoff_s) - 1)]
        fallback = ""
        if len(self.crashes) >= MAX_CRASHES and self.config.avatar != "builtin":
            fallback = (f"; {len(self.crashes)} crashes in a minute with {self.config.avatar}: "
                        "switching to the built-in avatar")
            self.config = replace(self.config, avatar="builtin", mapping="")
        log.error("renderer process stopped (%s%s); restarting in %.1f s%s", _exit_reason(code),
                  f": {error}" if error else "", backoff, fallback)
        self.restart_at = now + backoff

    def status(self) -> dict[str, Any]:
        """The renderer's newest status (frames, fps, latency, avatar), {} before any frame."""
        return self.channel.status() if self.channel is not None else {}

    def stop(self, timeout: float = 10.0) -> dict[str, Any]:
        """Stop the renderer (its sinks finish their files) and return its last status."""
        self.stopping = True
        status: dict[str, Any] = {}
        if self.process is not None:
            if self.channel is not None:
                self.publish({**self._state, "stop": True})
            self.process.join(timeout)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(2.0)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(1.0)
        if self.channel is not None:
            status = self.channel.status()
            self.channel.close()
            self.channel = None
        status["restarts"] = self.restarts
        return status
