"""ASMR audio: the whisper chain does what each stage claims; triggers and ambience are sane."""

from __future__ import annotations

import time
import wave
from pathlib import Path

import numpy as np
import pytest

from director.services.asmr_audio import (
    AMBIENCES,
    TRIGGER_SECONDS,
    ambience,
    apply_gain,
    pan,
    render_assets,
    trigger_sound,
    whisper_chain,
)

SR = 48000


def noise(seconds: float, seed: int = 1, level: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(round(seconds * SR)) * level).astype(
        np.float32)


def band_energy(x: np.ndarray, lo: float, hi: float = SR / 2) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / SR)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def centroid(x: np.ndarray) -> float:
    mono = x.mean(axis=1) if x.ndim == 2 else x
    spectrum = np.abs(np.fft.rfft(mono)) ** 2
    return float((np.fft.rfftfreq(mono.size, 1 / SR) * spectrum).sum() / spectrum.sum())


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


# --- whisper chain ------------------------------------------------------------------------------

def test_whisper_chain_low_passes_above_7khz_by_20db() -> None:
    dry = noise(2.0)
    wet = whisper_chain(dry, SR).mean(axis=1)
    before = band_energy(dry, 7000) / band_energy(dry, 0)
    after = band_energy(wet, 7000) / band_energy(wet, 0)
    drop_db = 10 * np.log10(before / after)
    assert drop_db >= 20, f"only {drop_db:.1f} dB less energy above 7 kHz"


def test_whisper_chain_is_stereo_float32_within_peak() -> None:
    out = whisper_chain(noise(1.0, level=3.0), SR)  # a hot input must not clip
    assert out.shape == (SR, 2)
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.max(np.abs(out)) <= 1.0


def test_whisper_pan_swings_between_the_ears() -> None:
    out = whisper_chain(noise(20.0), SR, pan_hz=0.1)  # two full LFO cycles
    blocks = out[: out.shape[0] // SR * SR].reshape(-1, SR, 2)
    ratio_db = 20 * np.log10(np.sqrt((blocks[:, :, 0] ** 2).mean(axis=1)
                                     / (blocks[:, :, 1] ** 2).mean(axis=1)))
    assert ratio_db.max() > 5, ratio_db.round(1)
    assert ratio_db.min() < -5, ratio_db.round(1)


def test_whisper_compression_narrows_loud_and_soft_parts() -> None:
    rng = np.random.default_rng(3)
    loud = rng.standard_normal(SR) * 0.5
    soft = rng.standard_normal(SR) * 0.02
    dry = np.concatenate([loud, soft, loud, soft]).astype(np.float32)
    wet = whisper_chain(dry, SR).mean(axis=1)

    def spread_db(x: np.ndarray) -> float:
        q = SR // 4  # skip the first quarter of each part: the gain is settling there
        return float(20 * np.log10(rms(x[q:SR]) / rms(x[SR + q: 2 * SR])))

    assert spread_db(dry) - spread_db(wet) > 6, (spread_db(dry), spread_db(wet))


def test_whisper_room_leaves_a_decaying_tail() -> None:
    dry = np.concatenate([noise(0.5), np.zeros(SR // 2, dtype=np.float32)])
    out = whisper_chain(dry, SR)
    end = SR // 2
    early = rms(out[end + SR // 50: end + SR // 20])  # 20-50 ms after the voice stops
    late = rms(out[end + SR // 5: end + SR // 4])  # 200-250 ms after
    assert early > 1e-3, "no reverb tail after the input stops"
    assert late < early / 4, (early, late)


def test_whisper_chain_is_deterministic_and_seeded() -> None:
    dry = noise(1.0)
    assert np.array_equal(whisper_chain(dry, SR, seed=4), whisper_chain(dry, SR, seed=4))
    assert not np.array_equal(whisper_chain(dry, SR, seed=4), whisper_chain(dry, SR, seed=5))


def test_whisper_chain_rejects_stereo_and_takes_empty() -> None:
    with pytest.raises(ValueError, match="mono"):
        whisper_chain(np.zeros((10, 2), dtype=np.float32), SR)
    assert whisper_chain(np.zeros(0, dtype=np.float32), SR).shape == (0, 2)


def test_whisper_chain_is_much_faster_than_real_time() -> None:
    dry = noise(10.0)
    start = time.perf_counter()
    whisper_chain(dry, SR)
    assert time.perf_counter() - start < 2.0  # sanity bound only; the real figure is ~0.2 s


# --- pan and gain -------------------------------------------------------------------------------

def test_hard_left_pan_puts_all_energy_left() -> None:
    for sound in (noise(0.2), trigger_sound("brushing", SR)):
        left = pan(sound, -1.0)
        assert rms(left[:, 1]) < 1e-6
        assert rms(left[:, 0]) > 0.01


def test_pan_is_equal_power() -> None:
    mono = noise(0.2)
    energies = [float((pan(mono, p).astype(np.float64) ** 2).sum()) for p in (-1, -0.3, 0, 0.6, 1)]
    assert np.allclose(energies, energies[0], rtol=1e-4)
    centre = pan(mono, 0.0)
    assert np.allclose(centre[:, 0], centre[:, 1])


def test_apply_gain_in_decibels() -> None:
    x = noise(0.1)
    assert np.allclose(apply_gain(x, -6.0206), x / 2, atol=1e-6)
    assert apply_gain(x, 0.0).dtype == np.float32


# --- triggers and ambience ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TRIGGER_SECONDS))
def test_trigger_is_sane(name: str) -> None:
    sound = trigger_sound(name, SR)
    assert sound.shape == (round(TRIGGER_SECONDS[name] * SR), 2)
    assert sound.dtype == np.float32
    assert np.isfinite(sound).all()
    assert 0.1 < np.max(np.abs(sound)) <= 1.0
    assert rms(sound) > 1e-3
    assert trigger_sound(name, SR, seconds=0.5).shape == (SR // 2, 2)


@pytest.mark.parametrize("name", AMBIENCES)
def test_ambience_is_sane(name: str) -> None:
    bed = ambience(name, 2.0, SR)
    assert bed.shape == (2 * SR, 2)
    assert np.isfinite(bed).all()
    assert 0.05 < np.max(np.abs(bed)) <= 1.0
    assert rms(bed) > 1e-3
    assert not np.allclose(bed[:, 0], bed[:, 1]), "ambience should be wide, not mono"


def test_sounds_differ_by_name() -> None:
    sounds = {name: trigger_sound(name, SR, seconds=1.0) for name in TRIGGER_SECONDS}
    sounds |= {name: ambience(name, 1.0, SR) for name in AMBIENCES}
    centroids = {name: centroid(s) for name, s in sounds.items()}
    assert centroids["brushing"] > 1.5 * centroids["tapping"], centroids
    assert centroids["rain"] > 2 * centroids["fireplace"], centroids
    names = list(sounds)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not np.allclose(sounds[a], sounds[b]), (a, b)


def test_sounds_are_deterministic_for_a_seed() -> None:
    for name in TRIGGER_SECONDS:
        assert np.array_equal(trigger_sound(name, SR, seed=2), trigger_sound(name, SR, seed=2))
        assert not np.array_equal(trigger_sound(name, SR, seed=2), trigger_sound(name, SR, seed=3))
    assert np.array_equal(ambience("rain", 0.5, SR, seed=1), ambience("rain", 0.5, SR, seed=1))


def test_unknown_names_say_what_is_known() -> None:
    with pytest.raises(ValueError, match=r"unknown trigger sound 'knocking'.*tapping.*page_turn"):
        trigger_sound("knocking", SR)
    with pytest.raises(ValueError, match=r"unknown ambience 'ocean'.*rain.*fireplace"):
        ambience("ocean", 1.0, SR)
    with pytest.raises(ValueError, match="positive"):
        trigger_sound("water", SR, seconds=0)


def test_render_assets_writes_readable_wavs(tmp_path: Path) -> None:
    written = render_assets(tmp_path / "asmr", 16000, ambience_seconds=1.0)
    names = {p.name for p in written}
    assert names == ({f"trigger_{n}.wav" for n in TRIGGER_SECONDS}
                     | {f"ambience_{n}.wav" for n in AMBIENCES})
    for path in written:
        with wave.open(str(path)) as wav:
            assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 16000)
            frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
        assert frames.size > 0 and np.abs(frames).max() > 1000, path.name
        assert path.stat().st_size < 400_000, path.name
