"""The model dialogues: tiny GGUF files through the real llama-cpp-python (its real chat-template
code), the OpenAI-compatible server path, streaming order, cancel, timeout/crash/empty fallbacks,
and the default model's smoke test."""

from __future__ import annotations

import logging
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_gguf import pieces, write_tiny_gguf

from director.events import Chat, Speech, Viewer
from director.llm_models import DEFAULT_MODEL, QWEN, is_assembled
from director.services.dialogue import ReplyStream, TemplateResponder
from director.services.llm import (
    FunctionSource,
    LlamaDialogue,
    LlmDialogue,
    OpenAIDialogue,
    build_dialogue,
)
from director.showfile import Show, load_show

ROOT = Path(__file__).resolve().parent.parent
FALLBACK_EN = "FALLBACK {viewer}"
SHOW = f"""\
name: dialogue test
persona:
  name: Sakura
  personality: kind
  languages: [en, zh]
  topics: [tea]
  replies:
    chat: {{en: "{FALLBACK_EN}", zh: "后备 {{viewer}}"}}
    question: {{en: "{FALLBACK_EN}", zh: "后备 {{viewer}}"}}
  self_talk: {{en: "SELF {{topic}}"}}
tree:
  idle: idle
"""
SCRIPT = "[happy] Hello there. I love tea!"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("gguf")
    return {
        "script": write_tiny_gguf(folder / "script.gguf", script=pieces(SCRIPT)),
        "loop": write_tiny_gguf(folder / "loop.gguf", script=pieces("[sad] la di da"), loop=True),
        "tag_only": write_tiny_gguf(folder / "tag_only.gguf", script=pieces("[happy]")),
        "random": write_tiny_gguf(folder / "random.gguf", seed=3),
    }


@pytest.fixture(scope="module")
def show(tmp_path_factory: pytest.TempPathFactory) -> Show:
    path = tmp_path_factory.mktemp("show") / "show.yaml"
    path.write_text(SHOW, encoding="utf-8")
    return load_show(path)


def chat(text: str, name: str = "Ann", n: int = 1) -> Chat:
    return Chat(platform="sim", msg_id=f"m{n}", viewer=Viewer("sim", f"u{n}", name), text=text)


def llama(show: Show, path: Path, **options: Any) -> LlamaDialogue:
    return LlamaDialogue(persona=show.persona, model_path=path, rng=random.Random(1), n_ctx=2048,
                         n_threads=1, **options)


def scripted(show: Show, fn: Any, **options: Any) -> LlmDialogue:
    return LlmDialogue(persona=show.persona, source=FunctionSource(fn), rng=random.Random(1),
                       **options)


def drain(handle: Any, timeout: float = 20.0) -> list[str]:
    """Take sentences until the stream is done (as the tick does, but in a loop)."""
    taken: list[str] = []
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        taken += handle.take()
        if handle.done():
            return taken + handle.take()
        time.sleep(0.002)
    raise AssertionError(f"reply not done after {timeout} s: {taken}")


# -- llama.cpp with tiny GGUF files -- ------------------------------------------------------------

def test_a_tiny_model_answers_through_llama_cpp_in_sentences(show: Show,
                                                             models: dict[str, Path]) -> None:
    dialogue = llama(show, models["script"])
    try:
        handle = dialogue.reply(chat("good evening"))
        assert isinstance(handle, ReplyStream)
        assert drain(handle) == ["Hello there.", "I love tea!"]
        assert handle.result is not None
        assert (handle.result.text, handle.result.emotion) == ("Hello there. I love tea!", "happy")
        assert not handle.used_fallback and handle.ended_by == ""
        # the prompt went through the GGUF's own ChatML template
        assert dialogue.source.llm.metadata["tokenizer.chat_template"].startswith("{% for")
    finally:
        dialogue.close()


def test_a_reply_that_echoes_the_viewer_loses_the_echo(show: Show,
                                                       models: dict[str, Path]) -> None:
    dialogue = llama(show, models["script"])
    try:
        handle = dialogue.reply(chat("hello there"))
        assert drain(handle) == ["I love tea!"]
    finally:
        dialogue.close()


def test_the_same_reply_twice_becomes_the_persona_line(show: Show,
                                                        models: dict[str, Path]) -> None:
    dialogue = llama(show, models["script"])
    try:
        assert drain(dialogue.reply(chat("good evening", n=1))) == ["Hello there.", "I love tea!"]
        second = dialogue.reply(chat("nice weather", name="Ben", n=2))
        assert drain(second) == ["FALLBACK Ben"]
        assert second.used_fallback and second.ended_by == "empty"
    finally:
        dialogue.close()


def test_a_model_that_runs_on_is_cut_and_stopped(show: Show, models: dict[str, Path]) -> None:
    dialogue = llama(show, models["loop"], max_chars=40, max_tokens=2000)
    try:
        handle = dialogue.reply(chat("sing for me"))
        (said,) = drain(handle)
        assert said.startswith("la di da la di da") and said.endswith("...") and len(said) <= 40
        assert handle.emotion == "sad"
    finally:
        dialogue.close()


def test_a_model_that_says_only_a_tag_gives_the_persona_line(show: Show,
                                                             models: dict[str, Path]) -> None:
    dialogue = llama(show, models["tag_only"])
    try:
        handle = dialogue.reply(chat("你好", name="小明"))
        assert drain(handle) == ["后备 小明"]
        assert handle.ended_by == "empty" and handle.result is not None
        assert handle.result.language == "zh"
    finally:
        dialogue.close()


def test_a_random_weight_model_generates_and_the_show_gets_a_line(show: Show,
                                                                  models: dict[str, Path]) -> None:
    dialogue = llama(show, models["random"], max_tokens=24)
    try:
        handle = dialogue.reply(chat("hello"))
        said = drain(handle)
        assert said and all(s.strip() for s in said)
        assert handle.result is not None and handle.ended_by in ("", "empty")
    finally:
        dialogue.close()


def test_self_talk_and_thanks_variations_come_from_the_model(show: Show,
                                                              models: dict[str, Path]) -> None:
    dialogue = llama(show, models["script"])
    try:
        talk = dialogue.talk(topic="tea", language="en")
        assert drain(talk) == ["Hello there.", "I love tea!"]
        thanks = dialogue.vary("Thank you Ann for the rose!", language="en")
        # the same words again are a repeat: the original line is said instead
        assert drain(thanks) == ["Thank you Ann for the rose!"]
    finally:
        dialogue.close()


def test_a_missing_model_file_answers_from_the_persona(show: Show, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="director"):
        plain = build_dialogue({"engine": "llama", "model": "nowhere/missing.gguf"},
                               show.persona, rng=random.Random(1), show_path=show.path)
        assert isinstance(plain, TemplateResponder)
        assert any("missing.gguf" in r.getMessage() and "template" in r.getMessage()
                   for r in caplog.records)
        # a file that is there but is no model: the worker logs it and replies fall back
        bad = tmp_path / "bad.gguf"
        bad.write_bytes(b"not a gguf")
        dialogue = build_dialogue({"engine": "llama", "model": str(bad)}, show.persona,
                                  rng=random.Random(1), show_path=show.path)
        assert isinstance(dialogue, LlamaDialogue)
        try:
            assert not dialogue.loaded.is_set()  # nothing loads before the show runs
            dialogue.prepare()
            assert dialogue.loaded.wait(10)
            handle = dialogue.reply(chat("hi"))
            assert drain(handle) == ["FALLBACK Ann"] and handle.ended_by == "error"
        finally:
            dialogue.close()
    assert any("could not be loaded" in r.getMessage() for r in caplog.records)


def test_replays_faster_than_real_time_use_the_templates(show: Show,
                                                        models: dict[str, Path]) -> None:
    settings = {"engine": "llama", "model": str(models["script"])}
    assert isinstance(build_dialogue(settings, show.persona, rng=random.Random(1),
                                     realtime=False), TemplateResponder)
    assert isinstance(build_dialogue({"engine": "templates"}, show.persona,
                                     rng=random.Random(1)), TemplateResponder)
    assert isinstance(build_dialogue({"engine": "openai", "url": ""}, show.persona,
                                     rng=random.Random(1)), TemplateResponder)


# -- streaming, cancel, timeout, crash (scripted sources) -- --------------------------------------

def test_the_first_sentence_is_out_before_generation_ends(show: Show) -> None:
    taken_first = threading.Event()

    def slow(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        yield "[excited] First one! "
        assert taken_first.wait(10), "the first sentence was not available mid-generation"
        yield "Second one."

    dialogue = scripted(show, slow)
    try:
        handle = dialogue.reply(chat("hi"))
        assert isinstance(handle, ReplyStream)
        end = time.perf_counter() + 10
        while not (first := handle.take()) and time.perf_counter() < end:
            time.sleep(0.002)
        assert first == ["First one!"] and not handle.done() and handle.emotion == "excited"
        taken_first.set()
        assert drain(handle) == ["Second one."]
        assert handle.result is not None and handle.result.text == "First one! Second one."
    finally:
        dialogue.close()


def test_a_cancelled_reply_stops_the_model(show: Show) -> None:
    closed = threading.Event()
    started = threading.Event()

    def endless(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        try:
            started.set()
            while True:
                yield "word "
                time.sleep(0.001)
        finally:
            closed.set()

    dialogue = scripted(show, endless, max_chars=4000)
    try:
        handle = dialogue.reply(chat("hi"))
        assert started.wait(10)
        handle.cancel()
        assert closed.wait(10), "the token stream was not closed after cancel"
        assert handle.done() and handle.cancelled and handle.result is None
    finally:
        dialogue.close()


def test_a_slow_model_times_out_into_the_persona_line(show: Show) -> None:
    release = threading.Event()

    def stuck(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        release.wait(10)
        yield "Too late."

    dialogue = scripted(show, stuck, timeout_s=0.3)
    try:
        handle = dialogue.reply(chat("hi", name="Cat"))
        assert drain(handle) == ["FALLBACK Cat"]
        assert handle.ended_by == "timeout" and handle.used_fallback
        release.set()
    finally:
        dialogue.close()


def test_a_timeout_after_the_first_sentence_keeps_what_was_said(show: Show) -> None:
    release = threading.Event()

    def stalls(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        yield "I heard you. "
        release.wait(10)
        yield "Never said."

    dialogue = scripted(show, stalls, timeout_s=0.5)
    try:
        handle = dialogue.reply(chat("hi"))
        assert drain(handle) == ["I heard you."]
        assert handle.ended_by == "timeout" and not handle.used_fallback
        release.set()
    finally:
        dialogue.close()


def test_a_crash_falls_back_and_the_next_reply_works(show: Show,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def flaky(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        calls.append(messages)
        if len(calls) == 1:
            raise RuntimeError("GGML_ASSERT: out of memory")
        yield "[shy] Sorry, I'm back."

    dialogue = scripted(show, flaky)
    try:
        with caplog.at_level(logging.ERROR, logger="director"):
            first = dialogue.reply(chat("hi", name="Dan"))
            assert drain(first) == ["FALLBACK Dan"] and first.ended_by == "error"
        assert any("out of memory" in r.getMessage() for r in caplog.records)
        second = dialogue.reply(chat("are you ok?", n=2))
        assert drain(second) == ["Sorry, I'm back."] and second.emotion == "shy"
    finally:
        dialogue.close()


def test_the_operator_and_memory_reach_the_prompt(show: Show) -> None:
    seen: list[Any] = []

    def record(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        seen.append(messages)
        yield "Okay."

    class Memory:
        def profile(self, platform: str, viewer_id: str) -> Any:
            return None

        def facts(self, platform: str, viewer_id: str, limit: int = 3) -> list[str]:
            return ["my cat is called Mochi"] if viewer_id == "u1" else []

    dialogue = LlmDialogue(persona=show.persona, source=FunctionSource(record),
                           rng=random.Random(1), memory=Memory())
    try:
        drain(dialogue.reply(chat("how is it going"), segment="rain whispers"))
        drain(dialogue.reply(Speech(platform="mic", msg_id="s1",
                                    viewer=Viewer("mic", "op", "operator"), text="wrap up now")))
    finally:
        dialogue.close()
    first, second = (m[-1]["content"] for m in seen)
    assert '"my cat is called Mochi"' in first and '"rain whispers"' in first
    assert "operator" in second and '"wrap up now"' in second
    # the first exchange is history in the second prompt, its user turn word for word (so the
    # model's cache of the earlier prompt still matches and only the new turn is read)
    assert [m["content"] for m in seen[1] if m["role"] == "assistant"][-1] == "[neutral] Okay."
    assert seen[1][:len(seen[0])] == seen[0]


# -- an OpenAI-compatible server (llama-cpp-python's own) -- --------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(models: dict[str, Path]) -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(models["script"]),
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        end = time.perf_counter() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/models", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.perf_counter() > end:
                    raise AssertionError("llama_cpp.server did not start: " +
                                         (proc.stderr.read().decode()[-2000:]
                                          if proc.stderr else "")) from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_openai_compatible_server_streams_the_reply(show: Show, server: str) -> None:
    dialogue = OpenAIDialogue(persona=show.persona, url=server, rng=random.Random(1),
                              model="tiny")
    try:
        handle = dialogue.reply(chat("good evening"))
        assert drain(handle) == ["Hello there.", "I love tea!"]
        assert handle.emotion == "happy" and not handle.used_fallback
    finally:
        dialogue.close()


def test_an_unreachable_server_answers_from_the_persona(show: Show,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    dialogue = build_dialogue({"engine": "openai", "url": f"http://127.0.0.1:{_free_port()}/v1",
                               "timeout_s": 5}, show.persona, rng=random.Random(1))
    assert isinstance(dialogue, OpenAIDialogue)
    try:
        with caplog.at_level(logging.ERROR, logger="director"):
            handle = dialogue.reply(chat("hi"))
            assert drain(handle) == ["FALLBACK Ann"] and handle.ended_by == "error"
        assert any("cannot reach the dialogue server" in r.getMessage() for r in caplog.records)
    finally:
        dialogue.close()


# -- the default model -- -------------------------------------------------------------------------

@pytest.mark.skipif(not is_assembled(QWEN), reason="the default model is not assembled "
                    "(python -m director.llm_models)")
def test_the_default_model_answers_a_short_message() -> None:
    show = load_show(ROOT / "shows" / "asmr_night.yaml")
    dialogue = LlamaDialogue(persona=show.persona, model_path=DEFAULT_MODEL,
                             rng=random.Random(1), n_ctx=768, n_threads=1, max_tokens=24,
                             temperature=0.0,
                             timeout_s=60)
    try:
        handle = dialogue.reply(chat("What's your favourite book?"))
        said = drain(handle, timeout=90)
        assert said and handle.ended_by == "", (said, handle.ended_by)
        assert handle.result is not None and handle.result.language == "en"
        assert handle.result.emotion in ("neutral", "happy", "excited", "shy", "sad",
                                         "surprised", "whisper")
    finally:
        dialogue.close()


def test_closing_cancels_the_reply_in_hand(show: Show) -> None:
    closed = threading.Event()

    def endless(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        try:
            while True:
                yield "word "
                time.sleep(0.001)
        finally:
            closed.set()

    dialogue = scripted(show, endless, max_chars=4000, timeout_s=60)
    handle = dialogue.reply(chat("hi"))
    queued = dialogue.reply(chat("and me", n=2))
    end = time.perf_counter() + 10
    while not dialogue._current and time.perf_counter() < end:  # the first is being generated
        time.sleep(0.001)
    dialogue.close()
    assert closed.is_set() and handle.cancelled
    assert queued.done() and queued.result is not None and queued.ended_by == "empty"
