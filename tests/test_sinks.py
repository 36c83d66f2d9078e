"""Frame sinks with their real libraries: the base class's fault handling, the settings factory,
the virtual camera (pyvirtualcam with a recording backend), the preview window (pygame, SDL dummy
driver), the recorder and audio mux (PyAV files read back), the browser source over real sockets."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
import pyvirtualcam

from director.services.audio import SAMPLE_RATE, write_wav
from renderer.browser_source import MAX_IN_FLIGHT, BrowserSource, decode_frame, encode_frame
from renderer.sinks import (
    MAX_CONSECUTIVE_FAILURES,
    Compositor,
    FrameSink,
    PreviewWindow,
    Recorder,
    Sinks,
    SinkSettingsError,
    SinkUnavailable,
    VirtualCamera,
    make_sinks,
    mux_audio,
)

RED = (220, 30, 40)
GREEN = (0, 255, 0)


def avatar(width: int = 64, height: int = 48) -> np.ndarray:
    """Opaque red left half, half-transparent blue in the middle, transparent right quarter."""
    f = np.zeros((height, width, 4), np.uint8)
    f[:, : width // 2] = (*RED, 255)
    f[:, width // 2 : 3 * width // 4] = (20, 40, 200, 128)
    return f


# -- base class ----------------------------------------------------------------------------------
class Flaky(FrameSink):
    """A real sink whose device fails on chosen frames."""

    name = "flaky"

    def __init__(self, fail: set[int]) -> None:
        super().__init__()
        self.fail = fail
        self.calls = 0
        self.closed = 0

    def _write(self, frame: np.ndarray, t: float) -> None:
        self.calls += 1
        if self.calls in self.fail:
            raise OSError("device busy")

    def _close(self) -> None:
        self.closed += 1


def test_a_transient_fault_is_logged_and_the_sink_keeps_going(
        caplog: pytest.LogCaptureFixture) -> None:
    sink = Flaky({2, 3})
    sink.open(width=4, height=4, fps=30)
    for k in range(6):
        sink.write(avatar(4, 4), k / 30)
    assert (sink.frames, sink.failures, sink.dropped) == (4, 2, False)
    sink.close()
    sink.write(avatar(4, 4), 1.0)  # after close: ignored, not an error
    sink.close()
    assert (sink.frames, sink.closed, sink.dropped) == (4, 1, False)
    assert "flaky: frame at t=0.03 failed: OSError: device busy" in caplog.text


def test_a_sink_that_keeps_failing_is_dropped_once_with_a_clear_line(
        caplog: pytest.LogCaptureFixture) -> None:
    sink = Flaky(set(range(1, 100)))
    sink.open(width=4, height=4, fps=30)
    with caplog.at_level(logging.ERROR):
        for k in range(20):
            sink.write(avatar(4, 4), k / 30)
    assert sink.dropped and sink.calls == MAX_CONSECUTIVE_FAILURES and sink.closed == 1
    assert caplog.text.count("dropped after") == 1
    assert "the show goes on without it" in caplog.text
    sink.close()
    assert sink.closed == 1


def test_sinks_leave_out_a_sink_that_cannot_open(caplog: pytest.LogCaptureFixture) -> None:
    good = Flaky(set())
    sinks = Sinks([VirtualCamera(backend="nonesuch"), good])
    sinks.open(width=8, height=8, fps=30)
    assert sinks.sinks == [good]
    assert "unknown backend 'nonesuch'" in caplog.text
    sinks.write(avatar(8, 8), 0.0)
    sinks.close()
    assert good.frames == 1 and good.closed == 1


# -- settings ------------------------------------------------------------------------------------
def test_make_sinks_builds_what_the_settings_ask_for(tmp_path: Path) -> None:
    sinks = make_sinks({"preview": False, "virtual_camera": {"key_colour": "#0000FF"},
                        "browser_source": {"port": 0}, "record_video": str(tmp_path / "a.mp4")})
    assert [type(s).__name__ for s in sinks] == ["BrowserSource", "VirtualCamera", "Recorder"]
    assert sinks[1].key_colour == (0, 0, 255)  # type: ignore[attr-defined]
    assert make_sinks({"preview": False}) == []


@pytest.mark.parametrize(("settings", "message"), [
    ({"virtual_cam": True}, "unknown key(s) virtual_cam; allowed: preview, virtual_camera"),
    ({"browser_source": {"prot": 1}}, "browser_source: unknown key(s) prot"),
    ({"browser_source": {"encoding": "png"}}, "'png' is not one of ['jpeg', 'raw']"),
    ({"browser_source": {"port": "8767"}}, "browser_source.port: '8767' is not a port number"),
    ({"browser_source": {"quality": 0}}, "browser_source.quality: 0 is not in 1..100"),
    ({"record_video": {"path": "a.mp4", "when_behind": "drop"}},
     "record_video.when_behind: 'drop' is not \"skip\" or \"wait\""),
    ({"record_video": {"path": "a.mp4", "fps": 30}}, "record_video: unknown key(s) fps"),
    ({"virtual_camera": {"key_colour": "green"}}, "virtual_camera.key_colour: 'green' is not a "
                                                  "colour; write \"#RRGGBB\""),
    ({"record_video": {"crf": 20}}, "record_video: needs a path"),
    ({"record_video": 5}, "record_video: expected true, false or a mapping"),
    ({"preview": "yes"}, "preview: 'yes' is not true, false or \"auto\""),
])
def test_bad_settings_name_the_key_and_the_fix(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(SinkSettingsError) as err:
        make_sinks(settings)
    assert message in str(err.value)


def test_preview_auto_follows_the_display(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    assert make_sinks({}) == []
    monkeypatch.setenv("DISPLAY", ":0")
    assert [type(s) for s in make_sinks({})] == [PreviewWindow]


# -- compositing ---------------------------------------------------------------------------------
def test_the_compositor_blends_exactly_over_the_key_colour() -> None:
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (9, 11, 4), dtype=np.uint8)
    out = Compositor(width=11, height=9, colour=GREEN)(frame)
    a = frame[..., 3:4] / 255.0
    expected = np.round(frame[..., :3] * a + np.array(GREEN) * (1 - a))
    assert out.shape == (9, 11, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - expected).max() <= 1


# -- virtual camera ------------------------------------------------------------------------------
class RecordingCamera:
    """A pyvirtualcam backend that keeps what it is sent (registered as "recording")."""

    frames: list[np.ndarray] = []
    opened: list[dict[str, Any]] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int,
                 device: str | None, **kw: Any) -> None:
        RecordingCamera.opened.append({"width": width, "height": height, "fps": fps,
                                       "fourcc": fourcc, "device": device})
        self.shape = (height, width, 3)

    def send(self, frame: np.ndarray) -> None:
        RecordingCamera.frames.append(frame.reshape(self.shape).copy())

    def close(self) -> None:
        pass

    def device(self) -> str:
        return "recording-cam"

    def native_fourcc(self) -> int | None:
        return None


pyvirtualcam.register_backend("recording", RecordingCamera)


def test_the_virtual_camera_sends_rgb_over_the_key_colour() -> None:
    RecordingCamera.frames.clear()
    cam = VirtualCamera(backend="recording")
    cam.open(width=64, height=48, fps=30)
    cam.write(avatar(), 0.0)
    _wait_for(lambda: cam.stats()["sent"] == 1)  # sent from the sink's own thread
    cam.write(avatar(), 1 / 30)
    cam.close()  # sends what is still waiting
    assert RecordingCamera.opened[-1]["fourcc"] == int.from_bytes(b"raw ", "little")  # RGB
    assert len(RecordingCamera.frames) == 2
    sent = RecordingCamera.frames[0]
    assert tuple(sent[10, 5]) == RED
    assert tuple(sent[10, 60]) == GREEN  # transparent → key colour
    assert tuple(sent[10, 40]) == (10, 147, 100)  # half blue, half green
    assert cam.stats()["device"] == "recording-cam"


class UnpluggedCamera(RecordingCamera):
    def send(self, frame: np.ndarray) -> None:
        raise OSError("device unplugged")


pyvirtualcam.register_backend("unplugged", UnpluggedCamera)


def _wait_for(check: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def test_a_camera_that_fails_on_its_thread_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    cam = VirtualCamera(backend="unplugged")
    cam.open(width=64, height=48, fps=30)
    for k in range(30):
        if cam.dropped:
            break
        cam.write(avatar(), k / 30)
        _wait_for(lambda: cam._worker is None or cam._worker.error is not None or cam.dropped)
    assert cam.dropped and cam.failures == MAX_CONSECUTIVE_FAILURES and cam.frames == 1
    assert "virtual camera dropped after 5 failed frames in a row (last: OSError: device " \
           "unplugged)" in caplog.text


def test_no_camera_device_says_what_to_install() -> None:
    cam = VirtualCamera(backend="v4l2loopback", device="/dev/director-no-such-camera")
    with pytest.raises(SinkUnavailable) as err:
        cam.open(width=64, height=48, fps=30)
    assert "install v4l2loopback" in str(err.value)
    assert "/dev/director-no-such-camera" in str(err.value)


# -- preview window ------------------------------------------------------------------------------
def test_the_preview_shows_alpha_over_a_checkerboard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    preview = PreviewWindow(checker=8)
    preview.open(width=64, height=48, fps=30)
    preview.write(avatar(), 0.0)
    assert preview.pixel(5, 5) == RED
    assert {preview.pixel(60, 5), preview.pixel(60, 13)} == {(204, 204, 204), (153, 153, 153)}
    r, _, b = preview.pixel(40, 5)
    assert b > 100 and r < 120  # half-transparent blue over grey
    import pygame

    pygame.event.post(pygame.event.Event(pygame.QUIT))
    preview.write(avatar(), 1 / 30)  # closing the window drops only the preview
    assert preview.dropped and preview.failures == 0
    preview.close()


def test_the_preview_scales_a_big_frame_down(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    preview = PreviewWindow(max_size=(32, 32))
    preview.open(width=64, height=48, fps=30)
    preview.write(avatar(), 0.0)
    import pygame

    assert pygame.display.get_surface().get_size() == (32, 24)  # every 2nd pixel
    assert preview.frames == 1 and preview.pixel(2, 2) == RED and preview.pixel(31, 2) != RED
    preview.close()


def test_no_display_means_no_preview(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SinkUnavailable, match="no display here"):
        PreviewWindow().open(width=64, height=48, fps=30)


# -- recorder ------------------------------------------------------------------------------------
def _read_video(path: Path) -> tuple[int, float, list[np.ndarray], Any]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        duration = float(c.duration / av.time_base) if c.duration else 0.0
        return len(frames), duration, frames, stream.codec_context.name


def test_the_recorder_keeps_the_length_when_frames_are_dropped(tmp_path: Path) -> None:
    path = tmp_path / "show.mp4"
    rec = Recorder(path=path, when_behind="wait")
    rec.open(width=64, height=48, fps=30)
    written = 0
    for k in range(45):  # 1.5 s of show; the renderer dropped frames 10..24
        if 10 <= k < 25:
            continue
        rec.write(avatar(), 100.0 + k / 30)
        written += 1
    rec.write(avatar(), 100.0 + 44 / 30 + 0.001)  # same 1/30 slot as the last one: kept once
    rec.close()
    count, duration, frames, codec = _read_video(path)
    assert codec == "h264"
    assert count == written == 30
    assert duration == pytest.approx(1.5, abs=0.04)
    first = frames[0]
    assert np.abs(first[20, 8].astype(int) - RED).max() < 12
    assert np.abs(first[20, 58].astype(int) - GREEN).max() < 12  # transparent → background


def test_the_recorder_crops_odd_sizes_and_takes_another_background(tmp_path: Path) -> None:
    path = tmp_path / "odd.mkv"
    rec = Recorder(path=path, background="#202020", codec="mpeg4", origin=0.0, when_behind="wait")
    rec.open(width=65, height=49, fps=Fraction(30000, 1001))  # type: ignore[arg-type]
    for k in range(10):
        rec.write(avatar(65, 49), (k + 5) * 1001 / 30000)
    rec.close()
    count, duration, frames, codec = _read_video(path)
    assert codec == "mpeg4" and count == 10 and frames[0].shape == (48, 64, 3)
    assert duration == pytest.approx(15 * 1001 / 30000, abs=0.04)  # origin 0: starts at frame 5
    assert np.abs(frames[0][20, 60].astype(int) - 32).max() < 12


def test_a_recorder_that_falls_behind_skips_frames_but_keeps_the_end(tmp_path: Path) -> None:
    path = tmp_path / "live.mp4"
    rec = Recorder(path=path, queue_frames=1)
    rec.open(width=640, height=360, fps=30)
    frame = avatar(640, 360)
    for k in range(40):  # far faster than the encoder: a live show's render loop never waits
        rec.write(frame, k / 30)
    rec.close()
    count, duration, _, _ = _read_video(path)
    assert rec.skipped > 0 and count == rec.encoded == 40 - rec.skipped
    assert duration == pytest.approx(40 / 30, abs=0.04)


def test_a_recording_cut_short_by_a_crash_still_plays(tmp_path: Path) -> None:
    import multiprocessing

    path = tmp_path / "crash.mp4"
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_record_then_die, args=(path,))
    child.start()
    child.join(60)
    assert child.exitcode == -9
    count, _, _, _ = _read_video(path)
    assert count >= 60  # every fragment up to the last keyframe (one each 2 s)
    restarted = Recorder(path=path, overwrite=False)  # the restarted renderer's part
    restarted.open(width=64, height=48, fps=30)
    restarted.write(avatar(), 5.0)
    restarted.close()
    assert restarted.path == tmp_path / "crash.part2.mp4" and _read_video(restarted.path)[0] == 1
    assert _read_video(path)[0] == count


def _record_then_die(path: Path) -> None:
    import os
    import signal

    rec = Recorder(path=path, when_behind="wait")
    rec.open(width=64, height=48, fps=30)
    for k in range(100):
        rec.write(avatar(), k / 30)
    while rec.encoded < 100:
        import time

        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_bad_record_path_is_reported() -> None:
    with pytest.raises(SinkUnavailable, match=r"use a \.mp4, \.mkv or \.mov"):
        Recorder(path="out.avi").open(width=64, height=48, fps=30)
    with pytest.raises(SinkUnavailable, match=r"cannot write /proc/nope/x\.mp4"):
        Recorder(path="/proc/nope/x.mp4").open(width=64, height=48, fps=30)


def test_the_show_audio_is_muxed_into_the_video(tmp_path: Path) -> None:
    video = tmp_path / "show.mp4"
    rec = Recorder(path=video, when_behind="wait")
    rec.open(width=64, height=48, fps=30)
    for k in range(60):
        rec.write(avatar(), k / 30)
    rec.close()
    tone = np.sin(2 * np.pi * 440 * np.arange(int(1.5 * SAMPLE_RATE)) / SAMPLE_RATE) * 0.3
    wav = tmp_path / "show.wav"
    write_wav(wav, np.stack([tone, tone], axis=1).astype(np.float32))
    out = mux_audio(video, wav, tmp_path / "final.mp4", audio_offset_s=0.5)
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        a = c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.rate == SAMPLE_RATE
        assert c.streams.video[0].start_time == 0 == a.start_time  # in sync: no B-frame delay
        samples = np.concatenate([f.to_ndarray()[0] for f in c.decode(a)])
    count, duration, _, _ = _read_video(out)
    assert count == 60
    assert duration == pytest.approx(2.0, abs=0.05)  # audio 0.5 + 1.5 s
    assert len(samples) / SAMPLE_RATE == pytest.approx(2.0, abs=0.05)
    lead = samples[: int(0.45 * SAMPLE_RATE)]
    assert np.abs(lead).max() < 0.01 and np.abs(samples[SAMPLE_RATE:]).max() > 0.2
    # in place, and a negative offset cuts the WAV's head
    mux_audio(video, wav, video, audio_offset_s=-1.0)
    with av.open(str(video)) as c:
        kept = sum(f.samples for f in c.decode(c.streams.audio[0]))
    assert kept / SAMPLE_RATE == pytest.approx(0.5, abs=0.05)
    with pytest.raises(FileNotFoundError, match=r"the audio file .*missing\.wav does not exist"):
        mux_audio(video, tmp_path / "missing.wav", out)


# -- browser source over real sockets --------------------------------------------------------
def test_a_frame_message_round_trips_with_its_alpha() -> None:
    frame = avatar()
    info, back = decode_frame(encode_frame(frame, seq=7, t=1.25, quality=90))
    assert info == {"encoding": "jpeg", "width": 64, "height": 48, "seq": 7, "t": 1.25}
    assert np.abs(back[10, 5].astype(int) - (*RED, 255)).max() < 10
    assert back[10, 60, 3] < 8 and abs(int(back[10, 40, 3]) - 128) < 10
    info, back = decode_frame(encode_frame(frame, seq=8, t=2.0, encoding="raw"))
    assert info["encoding"] == "raw" and np.array_equal(back, frame)


async def _client(source: BrowserSource) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(source.url) as page:
            assert page.status == 200 and "avatarSource" in await page.text()
        async with http.ws_connect(source.url + "frames") as ws:
            for _ in range(100):  # the render thread sees the client
                if source.clients:
                    break
                await asyncio.sleep(0.02)
            loop = asyncio.get_running_loop()
            for k in range(12):  # a page that never acknowledges: two frames, then nothing
                await loop.run_in_executor(None, source.write, avatar(), k / 30)
                await asyncio.sleep(0.02)
            got = []
            while True:
                try:
                    got.append(await ws.receive_bytes(timeout=0.5))
                except TimeoutError:
                    break
            assert len(got) == MAX_IN_FLIGHT
            await ws.send_str("ack")  # caught up: it gets the newest frame, not the backlog
            info, frame = decode_frame(await ws.receive_bytes(timeout=5))
            assert info["seq"] == source.encoded - 1 and info["t"] == pytest.approx(11 / 30)
            assert frame.shape == (48, 64, 4)


def test_the_browser_source_sends_a_slow_page_only_the_newest_frame() -> None:
    source = BrowserSource(port=0)
    source.open(width=64, height=48, fps=30)
    try:
        source.write(avatar(), 0.0)  # nobody watching: nothing is encoded
        assert source.encoded == 0
        asyncio.run(_client(source))
    finally:
        source.close()
    assert source.clients == 0 and source.failures == 0


def test_a_taken_port_is_reported_with_the_fix() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SinkUnavailable) as err:
            BrowserSource(port=port).open(width=64, height=48, fps=30)
    assert f"cannot listen on 127.0.0.1:{port}" in str(err.value)
    assert "set browser_source.port to a free port" in str(err.value)
