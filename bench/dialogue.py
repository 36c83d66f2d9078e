"""Dialogue figures: load time, time to first token / sentence, tokens/s, and chat-to-first-audio.

    .venv/bin/python bench/dialogue.py                 # the default model (Qwen2.5-Coder-0.5B)
    .venv/bin/python bench/dialogue.py --model assets/models/smollm2-135m-instruct-q4_1.gguf
    .venv/bin/python bench/dialogue.py --n-gpu-layers -1   # on a GPU machine

Three parts, each over the same English chat messages (one warm-up first):

1. **Floor: raw llama-cpp-python.** `Llama(...)` and `create_chat_completion(stream=True)` on the
   exact messages the director builds; load time, time to first token, decode tokens/s. Raw and
   ours take turns message by message, so both run under the same machine load.
2. **Ours: `LlamaDialogue`.** The same model behind the worker thread, the reply shaper and the
   ReplyStream: time to first token and to the first complete sentence (what the voice waits
   for), decode tokens/s (deltas counted by a timing wrapper around the real source).
3. **Chat to first audio.** A `Director` on the real clock with the Piper voice (voices/
   sakura.yaml), the show's model, and a one-node tree (`reply_chat`), ticked at 30 Hz: from
   the moment a chat message is ingested to the moment its first audio is placed on the mixer.
   The floor for this part is the template responder through the same voice (no model).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from director.events import Chat, Viewer  # noqa: E402
from director.llm_models import DEFAULT_MODEL  # noqa: E402
from director.services.llm import LlamaSource, LlmDialogue  # noqa: E402
from director.services.persona_prompt import Message, chat_messages  # noqa: E402
from director.showfile import load_show  # noqa: E402

MESSAGES = [
    "Good evening! What are you reading tonight?",
    "Do you like the sound of rain?",
    "I just finished a long day at work.",
    "What should I drink before bed?",
    "Tell me something about the stars.",
    "Is your cat asleep already?",
]


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class TimedSource(LlamaSource):
    """The real LlamaSource, with the time of every delta recorded."""

    stamps: list[float]

    def stream(self, messages: list[Message], *, max_tokens: int,
               temperature: float) -> Iterator[str]:
        self.stamps = []
        for delta in super().stream(messages, max_tokens=max_tokens, temperature=temperature):
            self.stamps.append(time.perf_counter())
            yield delta


def raw_round(llm: Any, persona: dict[str, Any], text: str,
              args: argparse.Namespace) -> tuple[float, float]:
    """One reply from raw llama-cpp-python: (time to first token, decode tokens/s)."""
    messages = chat_messages(persona, viewer="Ann", text=text, language="en")
    t0 = time.perf_counter()
    stamps = []
    for chunk in llm.create_chat_completion(messages=messages, stream=True,
                                            max_tokens=args.max_tokens, temperature=0.7,
                                            top_p=0.9, repeat_penalty=1.1):
        if chunk["choices"][0].get("delta", {}).get("content"):
            stamps.append(time.perf_counter())
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 else float("nan")
    return (stamps[0] - t0 if stamps else float("nan")), rate


def ours_round(dialogue: LlmDialogue, source: TimedSource, text: str,
               n: int) -> dict[str, float]:
    """One reply through LlmDialogue: first token, first sentence, decode rate, whole reply."""
    event = Chat(platform="bench", msg_id=f"b{n}", viewer=Viewer("bench", "1", "Ann"), text=text)
    t0 = time.perf_counter()
    handle = dialogue.reply(event)
    first = None
    while not handle.done():
        if first is None and handle.sentences:
            first = time.perf_counter() - t0
        time.sleep(0.001)
    end = time.perf_counter() - t0
    stamps = source.stamps
    return {"ttft": stamps[0] - t0 if stamps else float("nan"),
            "first": first if first is not None else end,
            "rate": ((len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2
                     else float("nan")),
            "total": end, "fallback": float(handle.used_fallback)}


def models_part(persona: dict[str, Any], args: argparse.Namespace) -> None:
    """Raw llama-cpp-python and ours on the same messages, taking turns (same load on both)."""
    import random

    from llama_cpp import Llama

    cores = os.cpu_count() or 1
    t0 = time.perf_counter()
    llm = Llama(model_path=str(args.model), n_ctx=args.n_ctx, n_gpu_layers=args.n_gpu_layers,
                n_threads=args.threads or max(1, cores - 1),
                n_threads_batch=args.threads or max(1, cores - 1), seed=7, verbose=False)
    raw_load = time.perf_counter() - t0
    # LlamaDialogue is LlmDialogue over a LlamaSource; here the source also records its timing
    source = TimedSource(model_path=args.model, n_ctx=args.n_ctx,
                         n_gpu_layers=args.n_gpu_layers, n_threads=args.threads)
    dialogue = LlmDialogue(persona=persona, source=source, rng=random.Random(7),
                           max_tokens=args.max_tokens, timeout_s=60, history=0)
    dialogue.prepare()
    dialogue.loaded.wait()
    raw: list[tuple[float, float]] = []
    mine: list[dict[str, float]] = []
    for i, text in enumerate(["hello", *MESSAGES]):
        if i % 2:
            r, o = raw_round(llm, persona, text, args), ours_round(dialogue, source, text, i)
        else:
            o, r = ours_round(dialogue, source, text, i), raw_round(llm, persona, text, args)
        if i:  # the first message is a warm-up
            raw.append(r)
            mine.append(o)
    dialogue.close()
    llm.close()
    print(f"floor  raw llama-cpp-python: load {raw_load:.2f} s, first token "
          f"{med([r[0] for r in raw]):.2f} s, decode {med([r[1] for r in raw]):.0f} tok/s")
    print(f"ours   LlamaDialogue:        load {source.load_s:.2f} s, first token "
          f"{med([o['ttft'] for o in mine]):.2f} s, first sentence "
          f"{med([o['first'] for o in mine]):.2f} s, decode {med([o['rate'] for o in mine]):.0f} "
          f"tok/s, whole reply {med([o['total'] for o in mine]):.2f} s "
          f"({sum(o['fallback'] for o in mine):.0f} of {len(mine)} fell back to the persona "
          "line)")


def first_audio(model: Path | None, args: argparse.Namespace) -> dict[str, float]:
    """Chat ingested -> first audio on the mixer, through a Director on the real clock."""
    from director.engine import Director
    from director.services.tts import TtsVoice

    base = yaml.safe_load((ROOT / "shows" / "asmr_night.yaml").read_text(encoding="utf-8"))
    show_yaml = {
        "name": "dialogue bench", "persona": base["persona"],
        "voice": {"engine": "tts", "profile": str(ROOT / "voices" / "sakura.yaml")},
        "dialogue": ({"engine": "llama", "model": str(model), "n_ctx": args.n_ctx,
                      "n_gpu_layers": args.n_gpu_layers, "max_tokens": args.max_tokens,
                      "n_threads": args.threads,
                      "history": 0} if model is not None else {"engine": "templates"}),
        "chat": {"reply_interval_s": 0.5, "max_age_s": 600, "max_length": 200},
        "viewer": {"enabled": False},
        "tree": {"reply_chat": "reply"},
    }
    latencies = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "show.yaml"
        path.write_text(yaml.safe_dump(show_yaml, allow_unicode=True), encoding="utf-8")
        director = Director(load_show(path), state_dir=Path(folder) / "state", listeners=[],
                            reload=False)
        voice = director.stage.voice
        assert isinstance(voice, TtsVoice), "the Piper voice did not load"
        dialogue = director.stage.dialogue
        dialogue.prepare()  # as Director.run does
        loaded = getattr(dialogue, "loaded", None)
        if loaded is not None:
            loaded.wait()
        try:
            for i, text in enumerate(["hello there", *MESSAGES]):
                event = Chat(platform="bench", msg_id=f"a{i}",
                             viewer=Viewer("bench", str(i), f"Viewer{i}"), text=text)
                director.ingest(event)
                t0 = time.perf_counter()
                heard = None
                deadline = t0 + 60
                while time.perf_counter() < deadline:
                    director.tick()
                    lines = [h for h in voice.queue if getattr(h, "first_audio_real", None)]
                    if heard is None and lines:
                        heard = min(h.first_audio_real for h in lines)  # type: ignore[union-attr]
                    if heard is not None and not voice.busy and director.ctx.chat.counts(
                            director.clock.now())[2] == 0:
                        break
                    time.sleep(1 / 30)
                voice.queue.clear()
                if i and heard is not None:
                    latencies.append(heard - t0)
                time.sleep(0.6)  # the reply interval
        finally:
            director.close()
    return {"first_audio_s": med(latencies), "max_s": max(latencies, default=float("nan")),
            "n": len(latencies)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--n-gpu-layers", type=int, default=0)
    parser.add_argument("--n-ctx", type=int, default=2048)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0,
                        help="llama.cpp threads (default 0: the director's choice, all cores "
                        "but one)")
    parser.add_argument("--skip-models", action="store_true",
                        help="only the chat-to-first-audio part")
    parser.add_argument("--skip-audio", action="store_true")
    args = parser.parse_args()
    if not args.model.is_file():
        print(f"model not found: {args.model} (run python -m director.llm_models)")
        return 1
    persona = load_show(ROOT / "shows" / "asmr_night.yaml").persona
    print(f"model {args.model.name}, n_ctx {args.n_ctx}, max_tokens {args.max_tokens}, "
          f"n_gpu_layers {args.n_gpu_layers}, threads {args.threads or 'auto'} "
          f"({os.cpu_count()} cores)")
    if not args.skip_models:
        models_part(persona, args)
    if not args.skip_audio:
        floor = first_audio(None, args)
        print(f"floor  chat -> first audio, template reply + Piper: {floor['first_audio_s']:.2f} s "
              f"median, {floor['max_s']:.2f} s max (n={floor['n']})")
        audio = first_audio(args.model, args)
        print(f"ours   chat -> first audio, model reply + Piper:    {audio['first_audio_s']:.2f} s "
              f"median, {audio['max_s']:.2f} s max (n={audio['n']}; target < 1.5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
