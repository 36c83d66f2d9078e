"""Self-talk and thank-you variations from a real (tiny, scripted) llama.cpp model in a running
show: the idle node's talk after a silence, its cancellation on interruption, and the pool of
model-written thank-you variations (kept with their placeholders, or rejected)."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_gguf import SPACE, pieces, write_tiny_gguf

from behaviours.gifts import placeholders, thanks_pool
from director.services.llm import LlamaDialogue
from director.services.tts import FunctionEngine, Prosody, TtsVoice, load_profile
from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent

SHOW = """\
name: self-talk test
persona:
  name: Sakura
  languages: [en]
  topics: [tea]
  self_talk: {en: "TEMPLATE TALK {topic}"}
chat:
  banned_words: [idiot]
idle: {silence_s: 5, look_every_s: 2, motions: [breathe]}
gifts:
  tiers:
    - {name: small, min: 0, expression: happy, motion: nod, effect: "",
       lines: {en: ["Thank you {viewer}!"]}}
blackboard:
  hold: {type: bool, default: false}
tree:
  priority: show
  children:
    - guard: hold
      when: {key: hold, eq: true}
      child:
        wait: something more important
        seconds: 5
    - guard: gifts
      when: {key: gifts.pending, gt: 0}
      child:
        thank_gifts: thank
    - idle: idle
      vary_thanks: VARY
"""


def show_with(harness: type[ShowHarness], folder: Path, script: list[str], *,
              vary: int = 0) -> ShowHarness:
    """A show whose dialogue is a tiny llama GGUF that says `script` to everything."""
    model = write_tiny_gguf(folder / "tiny.gguf", script=script)
    h = harness.from_text(folder, SHOW.replace("VARY", str(vary)))
    persona = h.director.ctx.show.persona
    h.director.stage.dialogue = LlamaDialogue(persona=persona, model_path=model,
                                              rng=random.Random(1), n_ctx=1024)
    return h


def tick_until(h: ShowHarness, done: Any, timeout: float = 15.0) -> None:
    end = time.perf_counter() + timeout
    while not done():
        if time.perf_counter() > end:
            raise AssertionError(f"timed out\n{h.tree_text()}\n{h.speech()}")
        h.tick()
        time.sleep(0.002)


def idle_lines(h: ShowHarness) -> list[str]:
    return [s["text"] for s in h.speech() if s["reason"] == "idle"]


def test_self_talk_after_the_silence_comes_from_the_model(harness: type[ShowHarness],
                                                          tmp_path: Path) -> None:
    h = show_with(harness, tmp_path, pieces("[whisper] Tea time. Do you like tea?"))
    h.run_for(4)
    assert idle_lines(h) == []  # not before the idle silence
    tick_until(h, lambda: len(idle_lines(h)) == 2)
    assert idle_lines(h) == ["Tea time.", "Do you like tea?"]
    assert h.director.stage.avatar.state.expression == "whisper"
    first, second = (s for s in h.speech() if s["reason"] == "idle")
    assert first["start_s"] >= 5.0 and second["start_s"] >= first["end_s"] - 1e-6
    h.director.stage.dialogue.close()


def test_an_interruption_cuts_the_idle_talk(harness: type[ShowHarness],
                                            tmp_path: Path) -> None:
    h = show_with(harness, tmp_path, pieces("Once upon a time there lived one sleepy cat. "
                                            "Then it dreamed of fish!"))
    tick_until(h, lambda: bool(idle_lines(h)))
    talk = h.node("show/idle").talk
    assert talk is not None and not talk.done()
    h.bb["hold"] = True
    h.tick()
    assert h.running() == ["show/hold/something more important"], h.tree_text()
    assert talk.cancelled and h.node("show/idle").talk is None
    assert all(line.done() for line in talk.lines)  # what was queued on the voice is cut
    spoken = [s for s in h.speech() if s["reason"] == "idle"]
    assert spoken[0]["end_s"] <= h.now + 1e-6  # the line in the air ended at the cut
    h.run_for(3)
    assert [s["text"] for s in h.speech() if s["reason"] == "idle"] == \
        [s["text"] for s in spoken]  # nothing more of it is said
    h.director.stage.dialogue.close()


def test_the_pool_fills_and_thank_yous_use_it(harness: type[ShowHarness],
                                              tmp_path: Path) -> None:
    script = ["[", "happy", "]", f"{SPACE}Wow", f"{SPACE}{{viewer}}", ",", f"{SPACE}thanks",
              f"{SPACE}a", f"{SPACE}lot", "!"]
    h = show_with(harness, tmp_path, script, vary=1)
    h.tick()  # the idle node makes the pool and asks for the first variation
    pool = thanks_pool(h.director.stage.dialogue)
    assert pool is not None
    tick_until(h, lambda: pool.kept.get(("Thank you {viewer}!", "en")))
    assert pool.kept[("Thank you {viewer}!", "en")] == ["Wow {viewer}, thanks a lot!"]
    said = set()
    for n in range(12):
        gift = h.send("gift", viewer=f"Fan{n}", gift="rose", count=1, value=1.0)
        tick_until(h, lambda: h.outcomes()[gift.msg_id] == "thanked")  # noqa: B023
        said = {s["text"] for s in h.speech() if s["reason"] == "gift"}
        if any(t.startswith("Wow") for t in said) and any(t.startswith("Thank") for t in said):
            break
    assert any(t.startswith("Wow Fan") and t.endswith(", thanks a lot!") for t in said), said
    assert any(t.startswith("Thank you Fan") for t in said), said
    h.director.stage.dialogue.close()


def said(text: str) -> list[str]:
    """Script pieces for `[happy] text`, words as whole pieces (a `{placeholder}` is one)."""
    words = text.split(" ")
    return ["[", "happy", "]", *(f"{SPACE}{w}" for w in words[:-1]), f"{SPACE}{words[-1][:-1]}",
            words[-1][-1]]


@pytest.mark.parametrize(("line", "why"), [
    ("Wow you rock!", "placeholders"),
    ("Wow {viewer} idiot!", "moderated"),
    ("Wow {viewer} you rock!", "no thanks in it"),
    ("Thanks {viewer} so much,", "cut off mid-clause"),
    ("Wow {gift} {viewer}!", "placeholders"),
    ("{viewer} thanks so much!", "opens with a placeholder"),
    ("Wow {viewer!", "stray brace"),
    ("谢谢 {viewer}!", "not in en"),
])
def test_a_bad_variation_is_rejected(harness: type[ShowHarness], tmp_path: Path, line: str,
                                     why: str) -> None:
    script = said(line)
    h = show_with(harness, tmp_path, script, vary=1)
    h.tick()  # the idle node makes the pool and asks for the first variation
    pool = thanks_pool(h.director.stage.dialogue)
    assert pool is not None
    tick_until(h, lambda: bool(pool.rejected))
    text, reason = pool.rejected[0]
    assert why in reason, (text, reason)
    assert not pool.kept
    h.director.stage.dialogue.close()


def test_placeholders_compare_names_and_counts() -> None:
    assert placeholders("Hi {viewer}, {gift}!") == placeholders("{gift} from {viewer}?")
    assert placeholders("Hi {viewer}") != placeholders("Hi {viewer} {viewer}")
    assert placeholders("Hi {viewer") is None


def test_an_interruption_pauses_the_variation_in_flight(harness: type[ShowHarness],
                                                        tmp_path: Path) -> None:
    h = show_with(harness, tmp_path, said("Wow {viewer} thanks so much!"), vary=1)
    h.tick()
    pool = thanks_pool(h.director.stage.dialogue)
    assert pool is not None and pool.pending is not None
    handle = pool.pending[1]
    h.bb["hold"] = True
    h.tick()
    assert pool.pending is None and pool.attempts == {("Thank you {viewer}!", "en"): 0}
    assert handle.done() and not pool.kept  # cancelled (or finished) and never judged
    h.bb["hold"] = False
    tick_until(h, lambda: pool.pending is not None)  # idle again: asked for anew
    assert pool.pending is not None and pool.pending[1] is not handle
    assert h.running() == ["show/idle"]
    h.director.stage.dialogue.close()


def test_no_pool_and_template_self_talk_without_a_model(harness: type[ShowHarness],
                                                        tmp_path: Path) -> None:
    h = harness.from_text(tmp_path, SHOW.replace("VARY", "2"))
    h.run_for(6)
    assert thanks_pool(h.director.stage.dialogue, size=2) is None
    assert idle_lines(h) == ["TEMPLATE TALK tea"]


def test_a_variation_is_used_only_once_its_opening_is_cached(harness: type[ShowHarness],
                                                             tmp_path: Path) -> None:
    release = threading.Event()
    made: list[str] = []

    def engine(text: str, prosody: Prosody) -> np.ndarray:
        made.append(text)
        if text == "Wow":
            assert release.wait(10)
        return np.zeros(2400, np.float32)

    h = show_with(harness, tmp_path, said("Wow {viewer} thanks so much!"), vary=1)
    d = h.director
    voice = TtsVoice(clock=d.clock, ledger=d.ledger, mixer=d.audio,
                     profile=load_profile(ROOT / "voices" / "sakura.yaml"),
                     engines={"en": FunctionEngine(engine)})
    d.stage.voice = voice
    h.tick()
    pool = thanks_pool(d.stage.dialogue)
    assert pool is not None
    tick_until(h, lambda: bool(pool.kept))
    key = ("Thank you {viewer}!", "en")
    assert pool.ready(d.ctx, *key, "happy") == []  # its opening is still being made
    release.set()
    assert voice.wait_prewarmed(10)
    assert "Wow" in made
    assert pool.ready(d.ctx, *key, "happy") == ["Wow {viewer} thanks so much!"]
    assert pool.ready(d.ctx, *key, "sad") == []  # cached in the tier's emotion only
    voice.close()
    d.stage.dialogue.close()


def test_a_model_that_cannot_vary_lines_is_not_asked_forever(harness: type[ShowHarness],
                                                             tmp_path: Path) -> None:
    h = show_with(harness, tmp_path, said("Wow you rock!"), vary=2)
    h.tick()
    pool = thanks_pool(h.director.stage.dialogue)
    assert pool is not None
    tick_until(h, lambda: pool.stopped)
    assert sum(pool.attempts.values()) == pool.give_up and not pool.kept
    h.run_for(1)
    assert pool.pending is None
    h.director.stage.dialogue.close()
