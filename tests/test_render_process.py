"""The renderer process: frames from the latest state, crash -> restart, crashes -> built-in."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from director.services.avatar import Avatar
from renderer.process import RendererConfig, RendererProcess, mouth_at

ROOT = Path(__file__).resolve().parent.parent


def wait_for(what: Callable[[], bool], proc: RendererProcess, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        proc.poll()
        if what():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out; renderer status: {proc.status()}")


def test_mouth_follows_the_published_envelope() -> None:
    state = {"mouth": 0.3, "mouth_ahead": [0.0, 0.5, 1.0], "wall": 100.0, "speed": 1.0}
    assert mouth_at(state, 100.0) == 0.0
    assert mouth_at(state, 100.0 + 1.5 / 60) == 0.5
    assert mouth_at(state, 100.0 + 2.5 / 60) == 1.0
    assert mouth_at(state, 101.0) == 0.0  # past the envelope: silence
    assert mouth_at({"mouth": 0.3}, 5.0) == 0.3


def test_renderer_draws_the_latest_state_and_survives_being_killed() -> None:
    proc = RendererProcess(config=RendererConfig(width=160, height=90, fps=30))
    avatar = Avatar(renderer=proc)
    proc.start()
    try:
        wait_for(lambda: proc.status().get("frames", 0) > 2, proc)
        first = proc.status()
        assert first["avatar"] == "builtin" and first["pid"] == proc.pid
        avatar.express("happy", 1.0)
        avatar.publish(now=1.0)
        wait_for(lambda: proc.status().get("shown_version") == avatar.state.version, proc)
        assert proc.status()["latency_frames"] >= 1
        old_pid = proc.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        wait_for(lambda: proc.pid != old_pid and proc.status().get("pid") == proc.pid
                 and proc.status().get("frames", 0) > 2, proc)
        assert proc.restarts == 1
        # the restarted renderer found the current state at once
        assert proc.status()["shown_version"] == avatar.state.version
    finally:
        final = proc.stop()
    assert final["restarts"] == 1 and not proc.alive()


def test_a_model_that_keeps_crashing_is_replaced_by_the_builtin_avatar(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # passes every check (the moc has the right magic) but crashes live2d-py when loaded
    (tmp_path / "x.moc").write_bytes(b"moc\x09" + os.urandom(4000))
    model = tmp_path / "x.model.json"
    model.write_text(json.dumps({"model": "x.moc", "textures": []}))
    proc = RendererProcess(config=RendererConfig(avatar=str(model), width=160, height=90))
    proc.backoff_s = (0.05,)
    proc.start()
    try:
        wait_for(lambda: proc.status().get("frames", 0) > 1, proc, timeout=60)
        assert proc.status()["avatar"] == "builtin"
        assert proc.config.avatar == "builtin" and proc.restarts >= 3
    finally:
        proc.stop()
    crashes = [r.getMessage() for r in caplog.records
               if "renderer process stopped" in r.getMessage()]
    assert len(crashes) >= 3 and "switching to the built-in avatar" in crashes[-1]
    assert "killed by SIG" in crashes[0] or "exit code" in crashes[0]


def test_headless_run_records_the_avatar(tmp_path: Path) -> None:
    from director.engine import Director
    from director.showfile import load_show

    show = load_show(ROOT / "shows" / "asmr_night.yaml")
    director = Director(show, state_dir=tmp_path / "state", speed=1.0, listeners=[],
                        reload=False, headless=True)
    assert director.renderer is None, "a headless run with no sink must not start a renderer"
    director.close()
    video = tmp_path / "avatar.mp4"
    director = Director(show, state_dir=tmp_path / "state2", speed=1.0, listeners=[],
                        reload=False, headless=True, record_video=video)
    try:
        import asyncio

        asyncio.run(director.run(duration=2.0))
        report = director.report()
    finally:
        director.close()
    status = report["renderer"]
    assert status["frames"] > 5 and status["avatar"] == "builtin" and status["restarts"] == 0
    assert video.is_file() and video.stat().st_size > 1000


def test_no_opengl_is_reported_once_and_not_restarted(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("__EGL_VENDOR_LIBRARY_DIRS", "/nonexistent")  # glvnd finds no EGL driver
    proc = RendererProcess(config=RendererConfig(width=160, height=90))
    proc.start()
    try:
        wait_for(lambda: proc.stopping, proc)
    finally:
        proc.stop()
    assert proc.restarts == 0
    said = [r.getMessage() for r in caplog.records if "cannot be drawn here" in r.getMessage()]
    assert len(said) == 1 and "libegl1" in said[0]
