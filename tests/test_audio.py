"""The mixer, its WAV sink, cut fades and the lip-sync envelope, on known signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from director.services.audio import (
    FADE_S,
    LIPSYNC_HZ,
    SAMPLE_RATE,
    Mixer,
    WavSink,
    read_wav,
)


def sine(seconds: float, *, freq: float = 220.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_wav_sink_writes_the_mix_at_48k_stereo(tmp_path: Path) -> None:
    mixer = Mixer(origin=10.0)
    mixer.play(sine(0.5), layer="voice", at=11.0)
    mixer.play(sine(0.5, amp=0.2), layer="ambience", at=10.0, pan=-1.0)
    WavSink(tmp_path / "out.wav").close(mixer, until=12.0)
    rate, x = read_wav(tmp_path / "out.wav")
    assert rate == SAMPLE_RATE and x.shape == (2 * SAMPLE_RATE, 2)
    loud = np.abs(x).max(axis=1) > 0.05
    heard = np.nonzero(loud[SAMPLE_RATE // 2:])[0]
    assert heard[0] / SAMPLE_RATE == pytest.approx(0.5, abs=0.01)  # the voice at 11.0 s
    assert np.abs(x[:SAMPLE_RATE // 2, 1]).max() < 1e-3  # hard-left pan: nothing on the right
    assert np.abs(x[:SAMPLE_RATE // 2, 0]).max() > 0.2


def test_lipsync_envelope_is_high_exactly_on_a_sine_burst() -> None:
    mixer = Mixer()
    mixer.play(sine(1.0), layer="voice", at=1.0)
    mixer.play(sine(3.0), layer="ambience", at=0.0)  # only the voice moves the mouth
    env = np.array(mixer.envelope(0.0, 3.0))
    assert len(env) == 3 * LIPSYNC_HZ
    on = np.nonzero(env > 0.1)[0]
    assert on[0] == LIPSYNC_HZ and on[-1] == 2 * LIPSYNC_HZ - 1, env
    assert env[on].min() == pytest.approx(0.5 / np.sqrt(2), abs=0.02)
    assert mixer.mouth(1.5) == 1.0 and mixer.mouth(0.5) == 0.0 and mixer.mouth(2.5) == 0.0


def test_cut_fades_without_a_click() -> None:
    mixer = Mixer()
    clip = mixer.play(sine(2.0, freq=440, amp=0.8), layer="voice", at=0.0)
    mixer.cut(clip, 0.5)
    assert clip.end == pytest.approx(0.5 + FADE_S, abs=1e-3)
    x = mixer.render(0.0, 1.0)[:, 0]
    natural = np.abs(np.diff(x[:SAMPLE_RATE // 2])).max()
    around = np.abs(np.diff(x[SAMPLE_RATE // 2 - 10:])).max()
    assert around <= natural * 1.01  # no step bigger than the sine's own
    assert np.abs(x[int((0.5 + FADE_S) * SAMPLE_RATE):]).max() == 0.0


def test_unknown_layer_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown audio layer 'music'"):
        Mixer().play(sine(0.1), layer="music", at=0.0)
