"""Model replies in a running show: sentences go to the voice as they arrive, output moderation
per sentence, the avatar's expression from the reply's emotion; and `director chat`."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_gguf import pieces, write_tiny_gguf

from director.services.llm import FunctionSource, LlmDialogue
from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent
SHOW = """\
name: dialogue show test
persona:
  name: Sakura
  languages: [en, zh]
  replies:
    chat: {en: "FALLBACK {viewer}"}
chat:
  reply_interval_s: 1
  banned_words: [idiot]
blackboard:
  hold: {type: bool, default: false}
tree:
  priority: show
  children:
    - guard: hold
      when: {key: hold, eq: true}
      child:
        sequence: something more important
        children:
          - wait: for two seconds
            seconds: 2
          - set: done
            key: hold
            value: false
    - guard: chat
      when: {key: chat.ready, eq: true}
      child:
        reply_chat: reply to chat
    - idle: idle
      self_talk: false
"""


def with_model(harness: type[ShowHarness], folder: Path, fn: Any) -> ShowHarness:
    h = harness.from_text(folder, SHOW)
    ctx = h.director.ctx
    h.director.stage.dialogue = LlmDialogue(persona=ctx.show.persona, source=FunctionSource(fn),
                                            rng=random.Random(1))
    return h


def tick_until(h: ShowHarness, done: Any, timeout: float = 10.0) -> None:
    end = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > end:
            raise AssertionError(f"timed out\n{h.tree_text()}\n{h.speech()}\n"
                                 f"{h.report()['events']}")
        h.tick()
        time.sleep(0.001)


def chat_lines(h: ShowHarness) -> list[str]:
    return [s["text"] for s in h.speech() if s["reason"] == "chat"]


def test_speech_starts_before_the_model_has_finished(harness: type[ShowHarness],
                                                     tmp_path: Path) -> None:
    spoken_first = threading.Event()

    def model(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        yield "[excited] Welcome back, Ann! "
        assert spoken_first.wait(10)
        yield "I missed you."

    h = with_model(harness, tmp_path, model)
    event = h.send("chat", viewer="Ann", text="I'm back")
    tick_until(h, lambda: chat_lines(h))
    assert chat_lines(h) == ["Welcome back, Ann!"]
    assert h.outcomes()[event.msg_id] == "pending"  # claimed, still being generated and said
    assert h.director.stage.avatar.state.expression == "excited"
    spoken_first.set()
    tick_until(h, lambda: h.outcomes()[event.msg_id] != "pending")
    assert chat_lines(h) == ["Welcome back, Ann!", "I missed you."]
    first, second = (s for s in h.speech() if s["reason"] == "chat")
    assert second["start_s"] >= first["end_s"] - 1e-6  # queued behind, in order
    assert h.outcomes()[event.msg_id] == "replied"
    report = h.report()
    row = next(e for e in report["events"] if e["msg_id"] == event.msg_id)
    assert [report["speech"][i]["text"] for i in row["reply_lines"]] == chat_lines(h)
    assert row["said_s"] == pytest.approx(first["start_s"], abs=1e-3)
    assert row["received_s"] <= row["reacted_s"] <= row["said_s"]


def test_a_reply_interrupted_mid_stream_is_still_said_to_the_end(harness: type[ShowHarness],
                                                                 tmp_path: Path) -> None:
    go_on = threading.Event()

    def model(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        yield "[happy] Thank you for asking. "
        assert go_on.wait(10)
        yield "I am doing well."

    h = with_model(harness, tmp_path, model)
    event = h.send("chat", viewer="Ann", text="how are you?")
    tick_until(h, lambda: chat_lines(h))
    h.bb["hold"] = True  # a higher priority takes over while the model still writes
    h.tick()
    assert h.running() == ["show/hold/something more important/for two seconds"], h.tree_text()
    go_on.set()
    tick_until(h, lambda: h.outcomes()[event.msg_id] != "pending")
    assert chat_lines(h) == ["Thank you for asking.", "I am doing well."]
    assert h.outcomes()[event.msg_id] == "replied"


def test_a_reply_not_yet_started_goes_back_to_the_queue(harness: type[ShowHarness],
                                                        tmp_path: Path) -> None:
    calls = []

    def model(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        calls.append(messages)
        if len(calls) == 1:
            time.sleep(0.3)  # still thinking when the higher priority comes
        yield "Hello Ann."

    h = with_model(harness, tmp_path, model)
    event = h.send("chat", viewer="Ann", text="hi")
    h.tick()
    h.bb["hold"] = True
    h.tick()
    assert chat_lines(h) == [] and h.outcomes()[event.msg_id] == "pending"
    tick_until(h, lambda: h.outcomes()[event.msg_id] != "pending")
    assert chat_lines(h) == ["Hello Ann."], str(h.report()["events"])
    assert h.outcomes()[event.msg_id] == "replied"


def test_a_moderated_sentence_ends_the_reply_there(harness: type[ShowHarness],
                                                   tmp_path: Path) -> None:
    def model(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        yield "Nice to meet you. You are an idiot. "
        yield "And more."

    h = with_model(harness, tmp_path, model)
    event = h.send("chat", viewer="Ann", text="hello")
    tick_until(h, lambda: h.outcomes()[event.msg_id] != "pending")
    assert chat_lines(h) == ["Nice to meet you."]
    row = next(e for e in h.report()["events"] if e["msg_id"] == event.msg_id)
    assert row["outcome"] == "replied" and "reply cut by" in row["detail"]


def test_a_reply_moderated_from_the_start_is_never_spoken(harness: type[ShowHarness],
                                                          tmp_path: Path) -> None:
    def model(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        yield "[happy] idiot!"

    h = with_model(harness, tmp_path, model)
    event = h.send("chat", viewer="Ann", text="hello")
    tick_until(h, lambda: h.outcomes()[event.msg_id] != "pending")
    assert chat_lines(h) == []
    row = next(e for e in h.report()["events"] if e["msg_id"] == event.msg_id)
    assert row["outcome"] == "moderated" and row["detail"].startswith("reply ")


@pytest.fixture
def tiny_show(tmp_path: Path) -> Path:
    write_tiny_gguf(tmp_path / "tiny.gguf", script=pieces("[shy] Oh, thank you. Good night!"))
    show = tmp_path / "show.yaml"
    show.write_text(SHOW.replace("tree:", "dialogue:\n  engine: llama\n  model: tiny.gguf\n"
                                 "  n_ctx: 2048\ntree:"), encoding="utf-8")
    return show


def test_director_chat_prints_the_reply_and_its_emotion(tiny_show: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "director", "chat", str(tiny_show), "you are lovely",
         "--viewer", "Ann", "--state", str(tmp_path / "none")],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[shy] Oh, thank you. Good night!"
    assert "llama" in run.stderr


def test_a_reloaded_persona_answers_the_next_message(harness: type[ShowHarness],
                                                     tmp_path: Path) -> None:
    from director.showfile import load_show

    h = harness.from_text(tmp_path, SHOW)
    first = h.send("chat", viewer="Ann", text="hello")
    tick_until(h, lambda: h.outcomes()[first.msg_id] != "pending")
    path = tmp_path / "show.yaml"
    path.write_text(SHOW.replace("FALLBACK {viewer}", "RELOADED {viewer}"), encoding="utf-8")
    h.director.apply_show(load_show(path))
    h.run_for(2)
    second = h.send("chat", viewer="Ben", text="hi there")
    tick_until(h, lambda: h.outcomes()[second.msg_id] != "pending")
    assert chat_lines(h) == ["FALLBACK Ann", "RELOADED Ben"]


def test_self_talk_from_the_model_is_said_like_a_reply(harness: type[ShowHarness],
                                                       tmp_path: Path) -> None:
    from behaviours.chat import SpokenReply

    seen: list[Any] = []

    def model(messages: Any, max_tokens: int, temperature: float) -> Iterator[str]:
        seen.append(messages)
        yield "[whisper] Shh, listen to the rain. Do you like tea?"

    h = with_model(harness, tmp_path, model)
    talk = SpokenReply(h.director.ctx, h.director.stage.dialogue.talk(topic="tea",
                                                                      language="en"),
                       reason="idle")
    h.director.stage.detach(talk, lambda: None)  # polled each tick, as a behaviour would
    tick_until(h, talk.done)
    assert [(s["reason"], s["text"]) for s in h.speech()] == [
        ("idle", "Shh, listen to the rain."), ("idle", "Do you like tea?")]
    assert h.director.stage.avatar.state.expression == "whisper"
    assert '"tea"' in seen[0][-1]["content"]
