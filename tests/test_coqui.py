"""Coqui TTS: the real loading and synthesis path on a VITS model with random weights that the
test builds from a config (it speaks noise, which is all this machine can check), through a voice
profile that names the local model folder. Skipped only when the `[coqui]` extra is absent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from director.clock import SimClock
from director.ledger import Ledger
from director.services.audio import SAMPLE_RATE, Mixer
from director.services.tts import Prosody, VoiceProfileError, build_tts_voice, load_profile

HAVE_TTS = importlib.util.find_spec("TTS") is not None
needs_tts = pytest.mark.skipif(not HAVE_TTS, reason="coqui-tts (import TTS) is not installed: "
                               "run scripts/install-coqui.sh for the [coqui] extra")


def build_random_vits(folder: Path) -> None:
    """A tiny VITS (about 1.5 MB) with random weights, saved as a Coqui model folder."""
    import torch
    from TTS.tts.configs.shared_configs import CharactersConfig  # type: ignore[import-untyped]
    from TTS.tts.configs.vits_config import VitsConfig  # type: ignore[import-untyped]
    from TTS.tts.models.vits import Vits, VitsArgs  # type: ignore[import-untyped]

    args = VitsArgs(hidden_channels=32, hidden_channels_ffn_text_encoder=64,
                    num_layers_text_encoder=2, num_heads_text_encoder=2,
                    upsample_initial_channel_decoder=32, num_layers_flow=1,
                    num_layers_posterior_encoder=2, resblock_type_decoder="2",
                    init_discriminator=False)
    config = VitsConfig(
        model_args=args, text_cleaner="basic_cleaners", use_phonemes=False,
        characters=CharactersConfig(
            characters="abcdefghijklmnopqrstuvwxyz", punctuations="!,.? ", pad="<PAD>",
            eos="<EOS>", bos="<BOS>", blank="<BLNK>",
            characters_class="TTS.tts.models.vits.VitsCharacters"))
    torch.manual_seed(0)
    model = Vits(config)
    folder.mkdir(parents=True)
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))


@needs_tts
def test_random_vits_speaks_through_a_profile(tmp_path: Path, ledger: Ledger) -> None:
    from director.services.coqui import CoquiEngine

    build_random_vits(tmp_path / "models" / "vits")
    profile = tmp_path / "coqui.yaml"
    profile.write_text("device: auto\nlanguages: {en: {engine: coqui, model: models/vits}}\n"
                       "emotions: {happy: {rate: 1.0, pitch: 1.1, volume: 0.5}}\n")
    clock = SimClock()
    voice = build_tts_voice(profile, clock=clock, ledger=ledger, mixer=Mixer())
    try:
        engine = voice.engines["en"]
        assert isinstance(engine, CoquiEngine) and not engine.xtts and engine.device == "cpu"
        assert engine.rate == 22050
        raw = engine.raw("hello there")
        assert raw.dtype == np.float32 and len(raw) > 0.1 * engine.rate
        handle = voice.speak("Hello there. Bye now!", reason="chat", emotion="happy")
        voice.wait_idle(30)
        clock.advance(0.1)
        assert handle.line.error is None  # type: ignore[attr-defined]
        assert len(handle.line.audio) == 2  # type: ignore[attr-defined]  # two sentences
        assert not handle.done()  # placed on the mixer, playing
        clips = handle.clips  # type: ignore[attr-defined]
        assert len(clips) == 2 and clips[0].start == pytest.approx(handle.start)
        high = engine.synthesize("hello there", Prosody(pitch=1.1, volume=0.5))
        assert len(high) / SAMPLE_RATE == pytest.approx(len(raw) / engine.rate / 1.1, rel=0.3)
        assert np.abs(high).max() <= 0.5
    finally:
        voice.close()


def test_missing_coqui_model_folder_names_profile_key_and_path(tmp_path: Path) -> None:
    profile = tmp_path / "coqui.yaml"
    profile.write_text("languages: {en: {engine: coqui, model: models/xtts_v2}}")
    with pytest.raises(VoiceProfileError) as err:
        load_profile(profile)
    msg = str(err.value)
    assert str(profile) in msg and "languages.en.model" in msg
    assert str(tmp_path / "models" / "xtts_v2") in msg and "config.json" in msg


@needs_tts
def test_xtts_folder_without_its_reference_wav_is_named(tmp_path: Path, ledger: Ledger) -> None:
    folder = tmp_path / "xtts"
    folder.mkdir()
    (folder / "config.json").write_text('{"model": "xtts"}')
    profile = tmp_path / "x.yaml"
    profile.write_text("languages: {en: {engine: coqui, model: xtts, speaker: ref.wav}}")
    with pytest.raises(VoiceProfileError) as err:
        build_tts_voice(profile, clock=SimClock(), ledger=ledger, mixer=Mixer())
    assert "languages.en" in str(err.value) and str(tmp_path / "ref.wav") in str(err.value)
