"""ASMR audio: the whisper voice chain, procedural trigger sounds and ambience, as numpy arrays.

Everything here is a pure function of its inputs and a seed: stereo float32 of shape (n, 2),
built from whole-array numpy/scipy operations (filters, convolutions, scatter-adds), never a
per-sample Python loop, so 10 s of whisper at 48 kHz renders far faster than real time.

The trigger sounds and ambiences are synthesised (shaped noise, damped resonances, envelopes)
rather than recorded. Rejected alternative: shipping sample packs. Recordings sound richer, but
each needs a licence the project can redistribute and adds megabytes to the repository; a seeded
synthesis ships as code, is the same on every machine, and `render_assets` writes WAV files at
set-up time for a mixer that wants files.

`SoundBank` renders what a show's segments need on a thread when the show is built, so
no tick ever waits for a sound (an 8 s rain loop takes ~0.15 s here). Ambience beds are seamless
loops (`ambience_loop`: the tail is crossfaded into the head), laid end to end by the segment.

The whisper chain keeps the input's length: the reverb tail past the last sample is cut, so a
line's audio ends when its subtitle timing says it does (the tail inside the line is kept).
"""

from __future__ import annotations

import logging
import threading
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import signal  # type: ignore[import-untyped]
from scipy.io import wavfile  # type: ignore[import-untyped]

Audio = npt.NDArray[np.float32]
_F64 = npt.NDArray[np.float64]

log = logging.getLogger("director.audio")

TRIGGER_SECONDS = {"tapping": 2.0, "brushing": 3.0, "crinkling": 2.5, "water": 3.0,
                   "page_turn": 1.2}
AMBIENCES = ("rain", "fireplace")
TRIGGER_PEAK = 0.5  # -6 dBFS: headroom for the mixer to lay triggers under a voice
AMBIENCE_PEAK = 0.3  # ambience sits well under everything else


# --- small building blocks ----------------------------------------------------------------------

def _rng(name: str, seed: int) -> np.random.Generator:
    # The name joins the seed so that "rain" and "fireplace" never share a noise stream.
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _n(seconds: float, sr: int) -> int:
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, got {seconds}")
    return round(seconds * sr)


def _sos(kind: str, hz: float | tuple[float, float], sr: int, order: int = 4) -> _F64:
    nyq = sr / 2
    if isinstance(hz, tuple):
        wn: float | tuple[float, float] = (hz[0], min(hz[1], 0.95 * nyq))
    else:
        wn = min(hz, 0.95 * nyq)
    sos: _F64 = signal.butter(order, wn, btype=kind, fs=sr, output="sos")
    return sos


def _filt(x: _F64, kind: str, hz: float | tuple[float, float], sr: int, order: int = 4) -> _F64:
    out: _F64 = signal.sosfilt(_sos(kind, hz, sr, order), x, axis=0)
    return out


def _biquad(x: _F64, sr: int, kind: str, hz: float, db: float, q: float = 0.707) -> _F64:
    """RBJ audio-EQ-cookbook low shelf or peaking filter (the scipy butter family has neither)."""
    a_ = 10 ** (db / 40)
    w0 = 2 * np.pi * hz / sr
    alpha = np.sin(w0) / (2 * q)
    cw = np.cos(w0)
    if kind == "peak":
        b = [1 + alpha * a_, -2 * cw, 1 - alpha * a_]
        a = [1 + alpha / a_, -2 * cw, 1 - alpha / a_]
    else:  # low shelf
        sq = 2 * np.sqrt(a_) * alpha
        b = [a_ * ((a_ + 1) - (a_ - 1) * cw + sq), 2 * a_ * ((a_ - 1) - (a_ + 1) * cw),
             a_ * ((a_ + 1) - (a_ - 1) * cw - sq)]
        a = [(a_ + 1) + (a_ - 1) * cw + sq, -2 * ((a_ - 1) + (a_ + 1) * cw),
             (a_ + 1) + (a_ - 1) * cw - sq]
    out: _F64 = signal.lfilter(b, a, x, axis=0)
    return out


def _one_pole(x: _F64, sr: int, ms: float) -> _F64:
    k = np.exp(-1000.0 / (ms * sr))
    out: _F64 = signal.lfilter([1 - k], [1, -k], x, axis=0)
    return out


def _peak_to(x: _F64, peak: float) -> _F64:
    top = float(np.max(np.abs(x))) if x.size else 0.0
    return x * (peak / top) if top > 0 else x


def _stereo(x: _F64) -> Audio:
    out = x if x.ndim == 2 else np.stack([x, x], axis=1) / np.sqrt(2)
    return np.ascontiguousarray(out, dtype=np.float32)


def _pan_gains(position: float | _F64) -> tuple[_F64, _F64]:
    """Equal-power pan law: -1 = all left, 0 = both at -3 dB, 1 = all right."""
    theta = (np.clip(position, -1.0, 1.0) + 1) * np.pi / 4
    return np.asarray(np.cos(theta), dtype=np.float64), np.asarray(np.sin(theta),
                                                                    dtype=np.float64)


def _scatter(n: int, at: npt.NDArray[np.int64], grains: _F64) -> _F64:
    """Add each row of `grains` (k, m) into a silent signal of length n, starting at `at[i]`."""
    out = np.zeros(n + grains.shape[1])
    idx = at[:, None] + np.arange(grains.shape[1])[None, :]
    np.add.at(out, idx.ravel(), grains.ravel())
    return out[:n]


def _impulses(rng: np.random.Generator, n: int, per_s: float, sr: int) -> _F64:
    """Sparse random impulses (a Poisson process) with random signs and heavy-tailed sizes."""
    hits = rng.random(n) < per_s / sr
    sizes = np.minimum(rng.pareto(2.5, n), 3.0) * rng.choice([-1.0, 1.0], n)
    return np.where(hits, sizes, 0.0)


def _damped(sr: int, hz: float, ms: float, seconds: float) -> _F64:
    t = np.arange(round(seconds * sr)) / sr
    out: _F64 = np.sin(2 * np.pi * hz * t) * np.exp(-t * 1000 / ms)
    return out


# --- public API ---------------------------------------------------------------------------------

def pan(audio: npt.NDArray[np.floating], position: float) -> Audio:
    """Place a sound between the ears, -1 (left) .. 1 (right), equal power.

    A mono sound is placed at `position`. In a stereo sound each channel is a source (left at -1,
    right at +1 at position 0); panning moves both towards `position` and narrows the image, so
    at -1 everything is in the left ear and no energy is lost on the way.
    """
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 1:
        gl, gr = _pan_gains(position)
        return _stereo(np.stack([x * gl, x * gr], axis=1))
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"pan takes mono (n,) or stereo (n, 2) audio, got shape {x.shape}")
    p = float(np.clip(position, -1.0, 1.0))
    spread = 1 - abs(p)
    ll, lr = _pan_gains(p - spread)
    rl, rr = _pan_gains(p + spread)
    left = x[:, 0] * ll + x[:, 1] * rl
    right = x[:, 0] * lr + x[:, 1] * rr
    return _stereo(np.stack([left, right], axis=1))


def apply_gain(audio: npt.NDArray[np.floating], db: float) -> Audio:
    """Scale by `db` decibels (negative = quieter); no clipping, the mixer owns the headroom."""
    return np.asarray(audio, dtype=np.float32) * np.float32(10 ** (db / 20))


def room_impulse(sr: int, *, seconds: float = 0.35, seed: int = 0) -> Audio:
    """A small, soft room: exponentially decaying low-passed noise, different in each ear."""
    rng = _rng("room", seed)
    n = _n(seconds, sr)
    t = np.arange(n) / sr
    decay = np.exp(-t * 6.9 / seconds)  # -60 dB at the end: the RT60 is `seconds`
    noise = _filt(rng.standard_normal((n, 2)), "low", 3500, sr, order=2)
    ir = noise * decay[:, None]
    ir[: round(0.004 * sr)] = 0.0  # the first reflection arrives a few ms after the voice
    return _stereo(ir / np.sqrt(np.sum(ir**2, axis=0, keepdims=True)))


def whisper_chain(mono: npt.NDArray[np.floating], sr: int, *,
                  pan_hz: float = 0.05, seed: int = 0, start_s: float = 0.0) -> Audio:
    """Turn a dry TTS line into a close, soft, slowly wandering whisper; (n, 2) float32.

    Order: low-pass 5 kHz (takes the hiss and sibilance off) -> close-mic colour (proximity
    low shelf, 3 kHz presence) -> soft compression (evens loud and quiet syllables) -> equal-power
    pan swept by a slow sine -> a little room. Peak is at most 0.98. `start_s` is where this
    piece sits in a longer line, so the pan of consecutive sentences carries on where it was.
    """
    x = np.asarray(mono, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"whisper_chain takes mono audio of shape (n,), got {x.shape}")
    n = x.size
    if n == 0:
        return np.zeros((0, 2), dtype=np.float32)
    rng = _rng("whisper", seed)
    x = _filt(x, "low", min(5000.0, 0.45 * sr), sr, order=8)
    x = _biquad(x, sr, "shelf", 200.0, 4.0)
    x = _biquad(x, sr, "peak", 3000.0, 2.5, q=1.0)
    x = _compress(x, sr)
    t = start_s + np.arange(n) / sr
    position = 0.7 * np.sin(2 * np.pi * pan_hz * t + rng.uniform(0, 2 * np.pi))
    gl, gr = _pan_gains(position)
    dry = np.stack([x * gl, x * gr], axis=1)
    ir = room_impulse(sr, seed=seed).astype(np.float64)
    wet = signal.fftconvolve(x[:, None], ir, axes=0)[:n]
    out = dry + 0.18 * wet
    return _stereo(_peak_to(out, 0.98) if np.max(np.abs(out)) > 0.98 else out)


def _compress(x: _F64, sr: int, *, threshold_db: float = -30.0, ratio: float = 3.0,
              knee_db: float = 12.0) -> _F64:
    """Soft-knee RMS compressor with smoothed gain, then makeup back to the input's peak level.

    The gain is worked out in dB from a 25 ms RMS envelope and smoothed over 60 ms, so it
    breathes with the syllables instead of clipping them.
    """
    level = 10 * np.log10(_one_pole(x**2, sr, 25.0) + 1e-12)
    over = level - threshold_db
    half = knee_db / 2
    slope = 1 - 1 / ratio
    cut = np.where(over <= -half, 0.0,
                   np.where(over >= half, slope * over, slope * (over + half) ** 2 / (2 * knee_db)))
    gain = 10 ** (-_one_pole(cut, sr, 60.0) / 20)
    y = x * gain
    top = float(np.max(np.abs(y)))
    return y * (float(np.max(np.abs(x))) / top) if top > 0 else y


# --- triggers -----------------------------------------------------------------------------------

def _tapping(rng: np.random.Generator, n: int, sr: int) -> _F64:
    # Fingernail taps on a hard surface: ~6 taps a second with a little human jitter, each a
    # click ringing at one of three body resonances.
    out = np.zeros(n)
    grid = np.arange(0.05 * sr, n - 0.06 * sr, sr / 6.0)
    starts = np.clip(grid + rng.normal(0, 0.012 * sr, grid.size), 0, n - 1).astype(np.int64)
    which = rng.integers(0, 3, starts.size)
    loud = rng.uniform(0.5, 1.0, starts.size)
    for k, hz in enumerate((900.0, 1400.0, 2100.0)):  # one train per resonance, convolved
        train = np.zeros(n)
        np.add.at(train, starts[which == k], loud[which == k])
        kernel = _damped(sr, hz, 18, 0.08) + 0.4 * _damped(sr, hz * 2.7, 6, 0.08)
        out += signal.fftconvolve(train, kernel)[:n]
    nail = np.zeros(n)
    np.add.at(nail, starts, 0.3 * loud)
    return out + _filt(nail, "high", 3000, sr)


def _brushing(rng: np.random.Generator, n: int, sr: int) -> _F64:
    # A soft brush over a microphone: bright hiss in strokes of about 0.7 s, a push and a pull.
    t = np.arange(n) / sr
    stroke = np.abs(np.sin(np.pi * 0.7 * t)) ** 1.5
    push = _filt(rng.standard_normal(n), "band", (3000.0, 9000.0), sr)
    pull = _filt(rng.standard_normal(n), "band", (1800.0, 6000.0), sr)
    forward = (np.floor(0.7 * t) % 2 == 0).astype(np.float64)
    bristles = 1 + 0.3 * _one_pole(rng.standard_normal(n), sr, 3.0) * 20
    out: _F64 = stroke * (forward * push + (1 - forward) * pull) * np.clip(bristles, 0.2, 2.0)
    return out


def _crinkling(rng: np.random.Generator, n: int, sr: int) -> _F64:
    # Plastic or foil: dense little crackles that come in bursts as the hand squeezes.
    t = np.arange(n) / sr
    squeeze = np.clip(np.sin(2 * np.pi * 0.8 * t + rng.uniform(0, 6)), 0, None) ** 0.7
    hits = _impulses(rng, n, 300.0, sr) * (rng.random(n) < squeeze)
    decay = np.exp(-np.arange(round(0.004 * sr)) / (0.0012 * sr))
    envelope = np.abs(signal.fftconvolve(hits, decay)[:n])
    out: _F64 = envelope * _filt(rng.standard_normal(n), "band", (2000.0, 12000.0), sr)
    return out


def _water(rng: np.random.Generator, n: int, sr: int) -> _F64:
    # Bubbles: each a short sine whose pitch rises as it decays (a bubble shrinking at the
    # surface), at random pitches and times, over a gentle low stream.
    k = max(1, round(12 * n / sr))
    m = round(0.06 * sr)
    t = np.arange(m) / sr
    f0 = rng.uniform(400.0, 1600.0, k)[:, None]
    rise = rng.uniform(4.0, 12.0, k)[:, None]
    tau = rng.uniform(0.008, 0.025, k)[:, None]
    phase = 2 * np.pi * f0 * (t + rise * t**2 / 2)
    grains = np.sin(phase) * np.exp(-t / tau) * rng.uniform(0.3, 1.0, k)[:, None]
    at = rng.integers(0, max(1, n - m), k).astype(np.int64)
    stream = 0.08 * _filt(rng.standard_normal(n), "band", (200.0, 1500.0), sr, order=2)
    return _scatter(n, at, grains) + stream


def _page_turn(rng: np.random.Generator, n: int, sr: int) -> _F64:
    # A swish of paper through the air (rising then falling band of noise) and the flap as the
    # page lands: a soft low thump with a papery click.
    t = np.arange(n) / sr
    land = 0.7 * t[-1]
    swish_env = np.where(t < land, (t / land) ** 2, np.exp(-(t - land) / 0.05))
    low = _filt(rng.standard_normal(n), "band", (500.0, 2500.0), sr)
    high = _filt(rng.standard_normal(n), "band", (1500.0, 6000.0), sr)
    sweep = np.clip(t / land, 0, 1)
    swish = swish_env * ((1 - sweep) * low + sweep * high)
    after = np.clip(t - land, 0, None)
    flap = (np.where(t >= land, 1.0, 0.0) * (np.sin(2 * np.pi * 140 * after) * np.exp(-after / 0.03)
            + 0.8 * _filt(rng.standard_normal(n), "high", 2500, sr) * np.exp(-after / 0.006)))
    out: _F64 = swish + 1.5 * flap
    return out


_TRIGGERS: dict[str, Callable[[np.random.Generator, int, int], _F64]] = {
    "tapping": _tapping, "brushing": _brushing, "crinkling": _crinkling, "water": _water,
    "page_turn": _page_turn,
}


def trigger_sound(name: str, sr: int = 48000, *, seed: int = 0,
                  seconds: float | None = None) -> Audio:
    """One ASMR trigger, centred in stereo, peak -6 dBFS; `seconds` defaults per trigger.

    Known: tapping, brushing, crinkling, water, page_turn. Move it with `pan`.
    """
    make = _TRIGGERS.get(name)
    if make is None:
        raise ValueError(f"unknown trigger sound '{name}'; known: {', '.join(_TRIGGERS)}")
    n = _n(TRIGGER_SECONDS[name] if seconds is None else seconds, sr)
    x = make(_rng(name, seed), n, sr)
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.005 * sr))
    return _stereo(_peak_to(x * fade, TRIGGER_PEAK * np.sqrt(2)))


# --- ambience -----------------------------------------------------------------------------------

def _pink(rng: np.random.Generator, shape: tuple[int, ...]) -> _F64:
    # Paul Kellet's economy pink filter: -3 dB/octave within 0.5 dB across the audio band.
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1.0, -2.494956002, 2.017265875, -0.522189400]
    out: _F64 = signal.lfilter(b, a, rng.standard_normal(shape), axis=0)
    return out


def _rain(rng: np.random.Generator, n: int, sr: int) -> _F64:
    wash = _filt(_pink(rng, (n, 2)), "high", 250, sr, order=2)
    wash /= np.std(wash)
    drops = np.stack([_impulses(rng, n, 25.0, sr) for _ in range(2)], axis=1)
    kernel = _damped(sr, 3200, 3, 0.02) + _damped(sr, 5100, 2, 0.02)
    pings = signal.fftconvolve(drops, kernel[:, None], axes=0)[:n]
    out: _F64 = 0.6 * wash + 0.5 * pings / (np.max(np.abs(pings)) + 1e-12) * 3
    return out


def _fireplace(rng: np.random.Generator, n: int, sr: int) -> _F64:
    # Brown noise is the roar; a leaky integrator keeps it from drifting away.
    roar = signal.lfilter([1.0], [1.0, -0.997], rng.standard_normal((n, 2)), axis=0)
    roar = _filt(roar, "high", 30, sr, order=2)
    roar /= np.std(roar)
    hits = np.stack([_impulses(rng, n, 8.0, sr) for _ in range(2)], axis=1)
    burst = np.exp(-np.arange(round(0.01 * sr)) / (0.002 * sr))
    env = np.abs(signal.fftconvolve(hits, burst[:, None], axes=0)[:n])
    crackle = env * _filt(rng.standard_normal((n, 2)), "band", (1500.0, 8000.0), sr)
    out: _F64 = 0.5 * roar + 2.5 * crackle / (np.max(np.abs(crackle)) + 1e-12)
    return out


_AMBIENCES: dict[str, Callable[[np.random.Generator, int, int], _F64]] = {
    "rain": _rain, "fireplace": _fireplace,
}


def ambience(name: str, seconds: float, sr: int = 48000, *, seed: int = 0) -> Audio:
    """A stereo background bed (rain, fireplace), different in each ear, peak about -10 dBFS."""
    make = _AMBIENCES.get(name)
    if make is None:
        raise ValueError(f"unknown ambience '{name}'; known: {', '.join(_AMBIENCES)}")
    n = _n(seconds, sr)
    x = make(_rng(name, seed), n, sr)
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (0.02 * sr))
    return _stereo(_peak_to(x * fade[:, None], AMBIENCE_PEAK))


def render_assets(folder: Path, sr: int = 48000, *, ambience_seconds: float = 4.0,
                  seed: int = 0) -> list[Path]:
    """Write every trigger (trigger_<name>.wav) and ambience (ambience_<name>.wav) as 16-bit
    stereo WAV into `folder`; returns the paths. Called by set-up or by the mixer.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    sounds = [(f"trigger_{name}", trigger_sound(name, sr, seed=seed)) for name in _TRIGGERS]
    sounds += [(f"ambience_{name}", ambience(name, ambience_seconds, sr, seed=seed))
               for name in _AMBIENCES]
    for stem, audio in sounds:
        path = folder / f"{stem}.wav"
        wavfile.write(path, sr, np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16))
        written.append(path)
    return written


def ambience_loop(name: str, seconds: float = 8.0, sr: int = 48000, *, seed: int = 0,
                  crossfade_s: float = 0.5) -> Audio:
    """An ambience bed of `seconds` that loops without a seam: the sound that would follow the
    end is crossfaded (equal power) into the head, so copies laid end to end run continuously.
    """
    n, xf = _n(seconds, sr), _n(crossfade_s, sr)
    x = ambience(name, seconds + crossfade_s + 0.1, sr, seed=seed).astype(np.float64)
    out = x[:n].copy()
    theta = np.linspace(0, np.pi / 2, xf)[:, None]
    out[:xf] = x[:xf] * np.sin(theta) + x[n:n + xf] * np.cos(theta)
    return _stereo(out)


class SoundBank:
    """Trigger sounds and ambience loops, rendered on a thread, read from the tick.

    Keys are 'trigger:NAME' and 'ambience:NAME'. `request` queues what is not there yet; `get`
    returns None until a sound is ready (the caller skips it that time). An unknown name is
    logged once and never becomes ready.
    """

    def __init__(self, sr: int = 48000) -> None:
        self.sr = sr
        self.sounds: dict[str, Audio] = {}
        self.failed: set[str] = set()
        self._wanted: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def request(self, keys: Iterable[str]) -> None:
        with self._lock:
            new = [k for k in keys if k not in self.sounds and k not in self.failed
                   and k not in self._wanted]
            self._wanted += new
            if new and (self._thread is None or not self._thread.is_alive()):
                # not a daemon: a daemon thread stopped inside scipy's C++ at interpreter exit
                # aborts the process ("terminate called"); the renders take under a second
                self._thread = threading.Thread(target=self._render, name="asmr-sounds")
                self._thread.start()

    def get(self, key: str) -> Audio | None:
        return self.sounds.get(key)

    def wait(self, timeout: float = 10.0) -> None:
        """Block until everything requested is rendered (tests and benches)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _render(self) -> None:
        while True:
            with self._lock:
                if not self._wanted:
                    return
                key = self._wanted[0]
            kind, _, name = key.partition(":")
            try:
                sound = (ambience_loop(name, sr=self.sr) if kind == "ambience"
                         else trigger_sound(name, self.sr))
                self.sounds[key] = sound
            except ValueError as exc:
                log.warning("ASMR sound %s cannot be made (%s); segments play without it",
                            key, exc)
                self.failed.add(key)
            with self._lock:
                self._wanted.remove(key)


BANK = SoundBank()  # shared: every sound is a pure function of its name, so runs can share it
