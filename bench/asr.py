"""Speech recognition: model load, real-time factor against raw faster-whisper, mic latency.

    .venv/bin/python bench/asr.py             # about 1-2 min on 2 cores
    .venv/bin/python bench/asr.py --device cuda

1. A ~10 s clip of three English sentences, said by the project's own voice (Piper, as
   `director say` would), resampled to 16 kHz.
2. Per model (base, tiny.en): load time through `director.asr.load_model` (the hash-stamped model
   directory, then CTranslate2) against `WhisperModel(path)` alone (the floor); real-time factor
   (seconds of compute per second of audio) of `director.asr.transcribe` against
   `WhisperModel.transcribe` with the same options, best of `--repeat`; the word error rate of
   each transcript against the text that was said.
3. Mic latency: the clip's sentences played in real time through `MicListener` (WavSource on the
   real clock → Silero VAD → Whisper), 1.5 s apart. Speech-end-to-event = the moment the audio of
   a sentence's last voiced window was delivered → the `Speech` event emitted. It is the VAD's
   closing silence (`min_silence_ms`, 600 ms) plus Whisper on the utterance; the floor is that
   silence plus raw Whisper on the same utterance audio.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from director.asr import SAMPLE_RATE, load_model, transcribe, whisper_model_dir
from director.clock import RealClock, SimClock
from director.events import Event
from director.ledger import Ledger
from director.listeners.mic import MicListener, WavSource, read_mono
from director.services.audio import Mixer, write_wav
from director.services.tts import build_tts_voice

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [
    "Good evening everyone, and welcome back to the rainy night stream.",
    "Tonight we are reading a story about a lighthouse keeper and her cat.",
    "Please send your questions in the chat, and I will answer them soon.",
]


def say(text: str, path: Path) -> Path:
    """One line in Sakura's English voice (the profile with only its Piper engine)."""
    profile = yaml.safe_load((ROOT / "voices" / "sakura.yaml").read_text(encoding="utf-8"))
    profile["languages"] = {"en": profile["languages"]["en"]}
    voice_path = path.with_suffix(".voice.yaml")
    voice_path.write_text(yaml.safe_dump(profile), encoding="utf-8")
    clock, mixer = SimClock(), Mixer()
    ledger = Ledger.open(path.parent / f"{path.stem}-state")
    ledger.start_run("bench")
    voice = build_tts_voice(voice_path, clock=clock, ledger=ledger, mixer=mixer)
    handle = voice.speak(text, reason="bench")
    voice.wait_idle()
    while not handle.done():
        clock.advance(1 / 30)
    voice.close()
    ledger.close()
    write_wav(path, mixer.render(0.0, handle.end))
    return path


def wer(said: str, heard: str) -> float:
    a, b = (re.findall(r"[a-z']+", t.lower()) for t in (said, heard))
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[len(b)] / max(1, len(a))


def raw_transcribe(model: Any, audio: np.ndarray[Any, Any], multilingual: bool,
                   language: str | None = None) -> str:
    segments, _ = model.transcribe(audio, beam_size=5, condition_on_previous_text=False,
                                   without_timestamps=True,
                                   language=language if multilingual else "en")
    return "".join(s.text for s in segments).strip()


def model_figures(name: str, device: str, clip: np.ndarray[Any, Any], repeat: int,
                  ) -> dict[str, Any]:
    from faster_whisper import WhisperModel  # type: ignore[import-untyped]

    path = whisper_model_dir(name)
    t0 = time.perf_counter()
    floor_model = WhisperModel(str(path), device=device,
                               compute_type="float16" if device == "cuda" else "int8")
    floor_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    loaded = load_model(name, device=device)
    ours_load = time.perf_counter() - t0
    seconds = len(clip) / SAMPLE_RATE
    ours, floor = [], []
    text_ours = text_floor = ""
    for i in range(repeat):
        for which in ("ours", "floor") if i % 2 == 0 else ("floor", "ours"):  # alternate order
            t0 = time.perf_counter()
            if which == "ours":
                text_ours, _lang = transcribe(clip, model=name, device=device)
                ours.append(time.perf_counter() - t0)
            else:
                text_floor = raw_transcribe(floor_model, clip, loaded.multilingual)
                floor.append(time.perf_counter() - t0)
    said = " ".join(SENTENCES)
    return {"model": name, "load_ours": ours_load, "load_floor": floor_load,
            "rtf_ours": min(ours) / seconds, "rtf_floor": min(floor) / seconds,
            "wer_ours": wer(said, text_ours), "wer_floor": wer(said, text_floor),
            "text": text_ours}


async def mic_latency(name: str, device: str, wavs: list[Path], language: str,
                      ) -> list[dict[str, float]]:
    delivered: list[tuple[float, float]] = []  # (stream seconds, perf_counter)
    emitted: list[tuple[Event, float]] = []
    source = WavSource(wavs, clock=RealClock(), gap_s=1.5, lead_s=0.5)
    source.on_chunk = lambda s: delivered.append((s, time.perf_counter()))
    mic = MicListener(clock=RealClock(), source=source, model=name, device=device,
                      language=language)

    def emit(event: Event) -> bool:
        emitted.append((event, time.perf_counter()))
        return True

    await mic.run(emit)
    rows = []
    for timing, (_event, at) in zip(mic.timings, emitted, strict=True):
        end_wall = next(t for s, t in delivered if s >= timing["end_s"])
        rows.append({"latency": at - end_wall, "asr": timing["asr_s"],
                     "audio": timing["audio_s"], "end_s": timing["end_s"]})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--models", default="base,tiny.en")
    args = parser.parse_args()
    models = args.models.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        wavs = [say(text, folder / f"s{i}.wav") for i, text in enumerate(SENTENCES)]
        parts = [read_mono(w) for w in wavs]
        gap = np.zeros(int(0.4 * SAMPLE_RATE), dtype=np.float32)
        clip = np.concatenate([np.concatenate([p, gap]) for p in parts])
        print(f"clip: {len(clip) / SAMPLE_RATE:.1f} s of Piper speech (made in "
              f"{time.perf_counter() - t0:.1f} s); device {args.device}; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
        print(f"{'model':<8} {'load ours':>9} {'floor':>7} {'RTF ours':>9} {'floor':>7} "
              f"{'WER ours':>9} {'floor':>7}")
        results = []
        for name in models:
            r = model_figures(name, args.device, clip, args.repeat)
            results.append(r)
            print(f"{name:<8} {r['load_ours']:>8.2f}s {r['load_floor']:>6.2f}s "
                  f"{r['rtf_ours']:>9.3f} {r['rtf_floor']:>7.3f} {r['wer_ours']:>8.0%} "
                  f"{r['wer_floor']:>7.0%}")
        for r in results:
            print(f"  {r['model']}: {r['text']}")
        print("\nmic: speech end -> Speech event (real clock, VAD closing silence 0.6 s)")
        runs = [(name, "") for name in models]
        if "base" in models:
            runs.append(("base", "en"))  # the language named: no detection pass
        for name, language in runs:
            rows = asyncio.run(mic_latency(name, args.device, wavs, language))
            loaded = load_model(name, device=args.device)
            floor = []
            for part in parts:
                t0 = time.perf_counter()
                raw_transcribe(loaded.model, part, loaded.multilingual, language or None)
                floor.append(0.6 + time.perf_counter() - t0)
            lat = [r["latency"] for r in rows]
            label = f"{name}{'/' + language if language else ''}"
            print(f"{label:<8} latency median {statistics.median(lat):.2f} s (max "
                  f"{max(lat):.2f}); whisper {statistics.median(r['asr'] for r in rows):.2f} s "
                  f"per {statistics.median(r['audio'] for r in rows):.1f} s utterance; floor "
                  f"(0.6 s + raw whisper) {statistics.median(floor):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
