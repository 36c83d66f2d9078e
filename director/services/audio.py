"""Audio output: a mixer laid along the show clock, its sinks, and the lip-sync envelope.

Everything that makes sound (the voice, trigger sounds, ambience beds) is a clip placed at a show
time on one of three layers, at one format (48 kHz, stereo, float32). The mixer renders any span
of show time on demand, so the same timeline feeds a WAV file (headless runs and tests: the file's
second 0 is the run's start) and, when a sound card exists and the run is not headless, the
sounddevice stream. Placing clips on the show clock rather than pushing them into a device queue
is what keeps a `--speed 20` replay's WAV in step with its report.

The mouth follows the voice layer: an RMS envelope at 60 Hz, read by `mouth(t)` on the playback
clock and recorded whole by `envelope()` for headless runs.

Layer gain automation: `ramp(layer, gain, at=, over=)` adds breakpoints on the show clock and the
render multiplies the layer by the interpolated curve, so an ASMR bed ducks under a gift and comes
back as a smooth fade placed in show time (the same in the WAV and on the sound card). Rejected:
changing a gain value when the tick runs (a step, heard as a click, and at tick resolution).
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

log = logging.getLogger("director.audio")

SAMPLE_RATE = 48_000
LAYERS = ("voice", "triggers", "ambience")
FADE_S = 0.03  # a cut fades over 30 ms: long enough to never click, short enough to feel instant
LIPSYNC_HZ = 60
MOUTH_FULL_RMS = 0.12  # voice RMS at which the mouth is fully open

Audio = NDArray[np.float32]


@dataclass
class Clip:
    """Samples (frames × 2) heard from show time `start` on `layer`."""

    layer: str
    start: float
    samples: Audio

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / SAMPLE_RATE


def to_stereo(samples: NDArray[Any], *, gain: float = 1.0, pan: float = 0.0) -> Audio:
    """Mono or stereo samples → frames × 2 float32, with gain and an equal-power pan (-1..1)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim == 2 and x.shape[1] == 2 and gain == 1.0:
        return x  # shared, not copied: a looped bed placed many times costs one array (clips are
        # never changed in place; `cut` replaces a clip's samples)
    if x.ndim == 1:
        angle = (max(-1.0, min(1.0, pan)) + 1.0) * np.pi / 4
        left, right = np.cos(angle) * np.sqrt(2), np.sin(angle) * np.sqrt(2)
        return (np.stack([x * left, x * right], axis=1) * gain).astype(np.float32)
    return (x[:, :2] * gain).astype(np.float32)


class Mixer:
    """The program mix: clips on layers, rendered along the show clock."""

    def __init__(self, *, origin: float = 0.0) -> None:
        self.origin = origin  # show time of the WAV's first sample
        self.clips: list[Clip] = []
        self.gains = dict.fromkeys(LAYERS, 1.0)
        self.automation: dict[str, list[tuple[float, float]]] = {}  # layer → (time, gain) points

    def play(self, samples: NDArray[Any], *, layer: str = "triggers", at: float,
             gain: float = 1.0, pan: float = 0.0) -> Clip:
        """Place sound (48 kHz, mono or stereo) at show time `at`; returns the clip to `cut`."""
        if layer not in self.gains:
            raise ValueError(f"unknown audio layer {layer!r}; layers are {', '.join(LAYERS)}")
        clip = Clip(layer, at, to_stereo(samples, gain=gain, pan=pan))
        self.clips.append(clip)
        return clip

    def cut(self, clip: Clip, at: float) -> None:
        """Stop a clip at show time `at` with a short fade (never a click)."""
        idx = round((at - clip.start) * SAMPLE_RATE)
        if idx <= 0:
            clip.samples = clip.samples[:0]
            return
        if idx >= len(clip.samples):
            return
        fade = int(FADE_S * SAMPLE_RATE)
        tail = clip.samples[idx:idx + fade].copy()
        tail *= np.linspace(1.0, 0.0, len(tail), dtype=np.float32)[:, None]
        clip.samples = np.concatenate([clip.samples[:idx], tail])

    def end(self) -> float:
        return max((c.end for c in self.clips), default=self.origin)

    def gain_at(self, layer: str, t: float) -> float:
        """The automated gain of `layer` at show time `t` (1.0 where nothing was automated)."""
        points = self.automation.get(layer)
        if not points:
            return 1.0
        return float(np.interp(t, [p[0] for p in points], [p[1] for p in points]))

    def ramp(self, layer: str, gain: float, *, at: float, over: float = 0.5,
             start: float | None = None) -> None:
        """Fade `layer` from its gain at show time `at` (or from `start`) to `gain` over `over`
        seconds. A ramp replaces whatever automation was planned after `at`.
        """
        if layer not in self.gains:
            raise ValueError(f"unknown audio layer {layer!r}; layers are {', '.join(LAYERS)}")
        before = self.gain_at(layer, at)
        points = [p for p in self.automation.get(layer, []) if p[0] < at - 1e-3]
        if start is None:
            start = before
        elif points or before != start:  # hold the old gain up to `at` (a jump: use it in silence)
            points.append((at - 1e-3, before))
        points += [(at, start), (at + max(over, 1e-3), gain)]
        self.automation[layer] = points

    def _curve(self, layer: str, t0: float, n: int) -> Audio | None:
        points = self.automation.get(layer)
        if not points:
            return None
        times = t0 + np.arange(n) / SAMPLE_RATE
        curve = np.interp(times, [p[0] for p in points], [p[1] for p in points])
        return curve.astype(np.float32)[:, None]

    def render(self, t0: float, t1: float, *, layers: tuple[str, ...] = LAYERS) -> Audio:
        """The mix of show time [t0, t1) as frames × 2."""
        n = max(0, round((t1 - t0) * SAMPLE_RATE))
        out = np.zeros((n, 2), dtype=np.float32)
        curves = {layer: self._curve(layer, t0, n) for layer in layers}
        for clip in self.clips:
            if clip.layer not in layers or clip.end <= t0 or clip.start >= t1:
                continue
            first = round((clip.start - t0) * SAMPLE_RATE)
            src = clip.samples[max(0, -first):]
            dst = max(0, first)
            take = min(len(src), n - dst)
            if take > 0:
                curve = curves[clip.layer]
                gain = self.gains[clip.layer]
                if curve is None:
                    out[dst:dst + take] += src[:take] * gain
                else:
                    out[dst:dst + take] += src[:take] * (curve[dst:dst + take] * gain)
        return out

    # -- lip-sync -------------------------------------------------------------------------------
    def mouth(self, t: float) -> float:
        """How open the mouth is at show time `t` (0..1), from the voice layer's RMS."""
        half = 0.5 / LIPSYNC_HZ
        frame = self.render(t - half, t + half, layers=("voice",))
        rms = float(np.sqrt(np.mean(frame ** 2))) if len(frame) else 0.0
        return min(1.0, rms / MOUTH_FULL_RMS)

    def envelope(self, t0: float | None = None, t1: float | None = None) -> list[float]:
        """The voice layer's RMS per 1/60 s frame from `t0` (default: the origin) to `t1`."""
        start = self.origin if t0 is None else t0
        stop = self.end() if t1 is None else t1
        voice = self.render(start, stop, layers=("voice",)).mean(axis=1)
        hop = SAMPLE_RATE // LIPSYNC_HZ
        frames = len(voice) // hop
        if frames == 0:
            return []
        rms = np.sqrt(np.mean(voice[:frames * hop].reshape(frames, hop) ** 2, axis=1))
        return [round(float(v), 5) for v in rms]


def write_wav(path: Path, samples: Audio) -> None:
    """Frames × 2 float32 → a 16-bit stereo WAV at the mixer's rate."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())


def read_wav(path: Path) -> tuple[int, Audio]:
    """A 16-bit WAV → (rate, frames × channels float32)."""
    with wave.open(str(path), "rb") as src:
        rate, channels = src.getframerate(), src.getnchannels()
        data = np.frombuffer(src.readframes(src.getnframes()), dtype="<i2")
    return rate, (data.reshape(-1, channels) / 32768.0).astype(np.float32)


class WavSink:
    """Writes the program mix from the mixer's origin to its last sound when the show ends."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def close(self, mixer: Mixer, until: float) -> None:
        write_wav(self.path, mixer.render(mixer.origin, max(until, mixer.end())))
        log.info("audio written to %s (%.1f s)", self.path, max(until, mixer.end()) - mixer.origin)


class DeviceSink:
    """Plays the mix on the default sound card, following the show clock.

    Opened only for a run with a window (not --headless) and only when an output device exists.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    @classmethod
    def open(cls, mixer: Mixer, now: Callable[[], float]) -> DeviceSink | None:
        try:
            import sounddevice as sd  # type: ignore[import-untyped]

            sd.query_devices(kind="output")
        except Exception as exc:  # no PortAudio, no device: the show runs silent
            log.info("no audio output device (%s): sound goes to --audio-out only", exc)
            return None
        position = [now()]

        def callback(out: Any, frames: int, _time: Any, _status: Any) -> None:
            t0 = position[0]
            out[:] = mixer.render(t0, t0 + frames / SAMPLE_RATE)
            position[0] = max(t0 + frames / SAMPLE_RATE, now() - 0.2)  # catch up after a stall

        stream = sd.OutputStream(samplerate=SAMPLE_RATE, channels=2, dtype="float32",
                                 callback=callback)
        stream.start()
        return cls(stream)

    def close(self) -> None:
        self.stream.stop()
        self.stream.close()
