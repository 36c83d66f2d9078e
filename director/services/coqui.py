"""Coqui TTS (the maintained `coqui-tts` fork): XTTS-v2 voice cloning and VITS, for GPU PCs.

Optional: installed with the `[coqui]` extra by `scripts/install-coqui.sh` (torchaudio from PyPI
is CUDA-linked and needs the care that script takes). A profile names a local model folder; the
engine never fetches anything, so Coqui's model-name download path is not used at all:

    languages:
      en: {engine: coqui, model: models/xtts_v2, speaker: sakura_reference.wav}

The folder holds `config.json` and the weights. An XTTS folder is handed to Coqui whole (it loads
its GPT, decoder and vocabulary from it) and `speaker` is the reference WAV to clone, relative to
the profile; any other model (VITS, …) is loaded from its checkpoint file (`model.pth`,
`model_file.pth`, `best_model.pth`, or the only `*.pth`) and `speaker` names one of a multi-speaker
model's speakers. Prosody: XTTS takes `speed`, VITS its `length_scale`; pitch is a resample, as
for the other engines.

Licences: XTTS-v2's weights are under the Coqui Public Model License (non-commercial use only;
a stream that takes gifts is commercial). VITS models carry their own licence. Kokoro (Apache-2.0)
also runs on CUDA and is the licence-safe GPU choice.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from director.services.audio import Audio

if TYPE_CHECKING:
    from director.services.tts import Prosody

CHECKPOINTS = ("model.pth", "model_file.pth", "best_model.pth", "checkpoint.pth")
XTTS_LANGUAGE = {"zh": "zh-cn"}  # XTTS's code for Mandarin


def find_checkpoint(folder: Path) -> Path:
    """The weights file in a Coqui model folder; FileNotFoundError names what was looked for."""
    for name in CHECKPOINTS:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.pth"))
    if len(found) == 1:
        return found[0]
    raise FileNotFoundError(f"no checkpoint in {folder} (looked for {', '.join(CHECKPOINTS)} or a "
                            "single *.pth)")


class CoquiEngine:
    """One Coqui model from a local folder, on 'cpu' or 'cuda' (resolved by the caller)."""

    def __init__(self, *, model: str, speaker: str = "", language: str = "en",
                 device: str = "cpu", base: Path | None = None) -> None:
        folder = Path(model) if Path(model).is_dir() or base is None else base / model
        config = folder / "config.json"
        if not config.is_file():
            raise FileNotFoundError(f"Coqui model folder {folder} has no config.json")
        kind = str(json.loads(config.read_text(encoding="utf-8")).get("model", "")).lower()
        self.xtts = kind == "xtts"
        self.speaker_wav: str | None = None
        self.speaker: str | None = speaker or None
        if self.xtts:
            if not speaker:
                raise ValueError("XTTS clones a voice: give `speaker:` a reference WAV")
            wav = Path(speaker) if Path(speaker).is_file() or base is None else base / speaker
            if not wav.is_file():
                raise FileNotFoundError(f"XTTS reference WAV {wav} not found")
            self.speaker_wav, self.speaker = str(wav), None
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError("torch sees no CUDA device")
        t0 = time.perf_counter()
        from TTS.api import TTS  # type: ignore[import-untyped]

        weights = folder if self.xtts else find_checkpoint(folder)
        self.tts: Any = TTS(model_path=str(weights), config_path=str(config), progress_bar=False)
        self.tts.to(device)
        self.rate = int(self.tts.synthesizer.output_sample_rate)
        self.language = XTTS_LANGUAGE.get(language, language) if self.xtts else None
        self.device, self.path = device, folder
        self.lock = threading.Lock()
        self.load_s = time.perf_counter() - t0

    def raw(self, text: str, speed: float = 1.0) -> Audio:
        """Text → mono audio at the model's own rate."""
        kwargs: dict[str, Any] = {}
        model = self.tts.synthesizer.tts_model
        if self.xtts:
            kwargs["speed"] = speed
        elif hasattr(model, "length_scale"):
            model.length_scale = 1.0 / speed
        wav = self.tts.tts(text, speaker=self.speaker, language=self.language,
                           speaker_wav=self.speaker_wav, split_sentences=False, **kwargs)
        return np.asarray(wav, dtype=np.float32).ravel()

    def synthesize(self, text: str, prosody: Prosody) -> Audio:
        from director.services.tts import resample

        with self.lock:
            raw = self.raw(text, speed=max(0.1, prosody.rate) / prosody.pitch)
        peak = float(np.max(np.abs(raw))) if raw.size else 0.0
        if peak > 0.95:  # some checkpoints overshoot; the mixer wants headroom
            raw = raw * np.float32(0.9 / peak)
        return resample(raw, self.rate, pitch=prosody.pitch) * np.float32(prosody.volume)
