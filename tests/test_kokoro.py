"""Kokoro-82M: the real model speaks Chinese and Japanese through a profile, lines are routed by
language, bad speakers are named, and a CUDA request on a machine without one falls back to CPU."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from director.clock import SimClock
from director.ledger import Ledger
from director.services.audio import SAMPLE_RATE, Mixer
from director.services.kokoro import KokoroEngine, chunk_phonemes
from director.services.tts import (
    PiperEngine,
    Prosody,
    TtsVoice,
    VoiceProfileError,
    build_tts_voice,
    load_profile,
)

ROOT = Path(__file__).resolve().parent.parent
SAKURA = ROOT / "voices" / "sakura.yaml"


def test_long_phonemes_are_cut_after_punctuation() -> None:
    text = "a" * 300 + ", " + "b" * 300 + ". " + "c" * 700
    pieces = chunk_phonemes(text, limit=500)
    assert all(len(p) <= 500 for p in pieces)
    assert pieces[0] == "a" * 300 + "," and pieces[1] == "b" * 300 + "."
    assert "".join(pieces).replace(" ", "") == text.replace(" ", "")


@pytest.fixture(scope="module")
def sakura(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TtsVoice]:
    led = Ledger.open(tmp_path_factory.mktemp("state"))
    led.start_run("test")
    voice = build_tts_voice(SAKURA, clock=SimClock(), ledger=led, mixer=Mixer())
    yield voice
    voice.close()
    led.close()


def test_sakura_speaks_each_language_with_its_engine(sakura: TtsVoice) -> None:
    voice = sakura
    clock = voice.clock
    assert isinstance(clock, SimClock)
    assert isinstance(voice.engines["en"], PiperEngine)
    zh, ja = voice.engines["zh"], voice.engines["ja"]
    assert isinstance(zh, KokoroEngine) and isinstance(ja, KokoroEngine)
    assert zh.session is ja.session  # one model in memory for both languages
    handles = [voice.speak(text, reason="chat") for text in ("谢谢你！", "ありがとう。", "Thanks!")]
    voice.wait_idle(60)
    for handle in handles:
        clock.advance(0.1)
        audio = np.concatenate(handle.line.audio)  # type: ignore[attr-defined]
        assert handle.line.error is None  # type: ignore[attr-defined]
        assert 0.3 < len(audio) / SAMPLE_RATE < 3.0, handle.text
        assert np.sqrt(np.mean(audio ** 2)) > 0.02, handle.text
    assert [h.line.lang for h in handles] == ["zh", "ja", "en"]  # type: ignore[attr-defined]


def test_kokoro_prosody_rate_shortens_the_line(sakura: TtsVoice) -> None:
    engine = sakura.engines["zh"]
    slow = engine.synthesize("好。", Prosody(rate=0.8))
    fast = engine.synthesize("好。", Prosody(rate=1.25, volume=0.5))
    assert len(fast) < 0.8 * len(slow)
    assert np.abs(fast).max() < np.abs(slow).max()


def test_unknown_kokoro_speaker_names_profile_key_and_choices(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("languages: {zh: {engine: kokoro, model: kokoro-82m, speaker: af_bella}}")
    with pytest.raises(VoiceProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert str(path) in msg and "languages.zh.speaker" in msg and "jf_nezumi" in msg


def test_missing_kokoro_model_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("languages: {ja: {engine: kokoro, model: models/k.onnx}}")
    with pytest.raises(VoiceProfileError,
                       match=r"languages\.ja\.model: model file .*models/k\.onnx"):
        load_profile(path)


def test_cuda_that_fails_falls_back_to_cpu_and_says_so(
        tmp_path: Path, ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "gpu.yaml"
    path.write_text("device: cuda\nlanguages: {ja: {engine: kokoro, model: kokoro-82m}}")
    with caplog.at_level(logging.WARNING, logger="director.voice"):
        voice = build_tts_voice(path, clock=SimClock(), ledger=ledger, mixer=Mixer())
    voice.close()
    engine = voice.engines["ja"]
    assert isinstance(engine, KokoroEngine) and engine.device == "cpu"
    assert any("languages.ja" in r.getMessage() and "falling back to the CPU" in r.getMessage()
               for r in caplog.records)
