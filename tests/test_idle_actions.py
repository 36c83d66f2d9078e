"""Idle life (motions, glances, self-talk after a silence, crowd thanks) and the small actions.

Self-talk lines are plain ("TALK tea") so the rotation of topics reads straight off the speech.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from director.errors import ShowErrors
from director.showfile import load_show
from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent
TICK = 1 / 30
SILENCE = 10.0

SHOW = """\
name: idle test
persona:
  name: Tester
  languages: [en]
  topics: [tea, rain, cats]
  self_talk: {en: "TALK {topic}"}
  crowd:
    follow: {en: "WELCOME {names} +{others}"}
idle: {silence_s: 10, look_every_s: 2, motions: [breathe, sway]}
tree:
  priority: show
  children:
    - include: trees/crowd.yaml
      with: {every_s: 10.0}
    - include: trees/chat.yaml
    - include: trees/idle.yaml
"""
SUBTREES = {f"trees/{name}.yaml": (ROOT / "trees" / f"{name}.yaml").read_text(encoding="utf-8")
            for name in ("chat", "crowd", "idle")}


@pytest.fixture
def h(harness: type[ShowHarness], tmp_path: Path) -> ShowHarness:
    return harness.from_text(tmp_path, SHOW, files=SUBTREES)


def explain(h: ShowHarness) -> str:
    lines = "\n".join(f"{s['start_s']:7.2f}-{s['end_s']:7.2f} {s['reason']:5} {s['text']}"
                      for s in h.speech())
    return f"{h.tree_text()}\n{lines}"


def talk(h: ShowHarness) -> list[dict]:
    return [s for s in h.speech() if s["reason"] == "idle"]


# -- self-talk -----------------------------------------------------------------------------------

def test_self_talk_comes_after_the_idle_silence_not_before(h):
    h.run_until(SILENCE - 0.1)
    assert h.speech() == [], explain(h)
    assert h.bb["idle.silence_s"] == pytest.approx(SILENCE - 0.1, abs=TICK), explain(h)
    h.run_until(SILENCE + 0.2)
    [line] = talk(h)
    assert line["start_s"] == pytest.approx(SILENCE, abs=2 * TICK), explain(h)
    assert h.bb["speech.busy"] is True


def test_each_self_talk_waits_a_full_silence_after_the_last_line(h):
    h.run_for(60)
    lines = talk(h)
    assert len(lines) >= 3, explain(h)
    for before, after in itertools.pairwise(lines):
        gap = after["start_s"] - before["end_s"]
        assert SILENCE <= gap <= SILENCE + 2 * TICK, explain(h)


def test_self_talk_topics_rotate(h):
    h.run_for(60)
    assert [s["text"] for s in talk(h)][:4] == ["TALK tea", "TALK rain", "TALK cats",
                                                "TALK tea"], explain(h)


def test_other_speech_restarts_the_silence(h):
    h.run_until(5)
    h.send("chat", viewer="Ann", text="good evening")
    h.run_until(25)
    reply = next(s for s in h.speech() if s["reason"] == "chat")
    first_talk = talk(h)[0]
    assert first_talk["start_s"] == pytest.approx(reply["end_s"] + SILENCE, abs=2 * TICK), \
        explain(h)


def test_idle_motions_and_glances_follow_the_idle_schedule(h):
    avatar = h.director.stage.avatar.state
    h.run_for(9.9)  # motions at 0, 2, 4, 6 and 8 s
    assert avatar.motions_played == 5, explain(h)
    motions = [value for _, what, value in avatar.history if what == "motion"]
    looks = [value for _, what, value in avatar.history if what == "look"]
    assert set(motions) <= {"breathe", "sway"} and len(motions) == 5, avatar.history
    assert len(looks) == 5 and len(set(looks)) > 1, avatar.history
    h.run_for(20)
    assert avatar.motions_played == 15, explain(h)
    assert {value for _, what, value in avatar.history if what == "motion"} == \
        {"breathe", "sway"}, avatar.history


def test_no_self_talk_when_it_is_off(harness, tmp_path):
    h = harness.from_text(tmp_path, SHOW.replace("    - include: trees/idle.yaml\n",
                                                 "    - idle: quiet\n      self_talk: false\n"),
                          files=SUBTREES)
    h.run_for(60)
    assert h.speech() == [], explain(h)
    assert h.director.stage.avatar.state.motions_played == 30, explain(h)


# -- crowd ---------------------------------------------------------------------------------------

def test_follows_are_welcomed_together_then_the_crowd_thanks_cools_down(h):
    first = [h.send("follow", viewer=name) for name in ("Ann", "Ben", "Cat", "Dan", "Eli")]
    h.run_for(3)
    [line] = [s for s in h.speech() if s["reason"] == "gift"]
    assert line["text"] == "WELCOME Ann, Ben, Cat +2", explain(h)
    outcomes = h.outcomes()
    assert [outcomes[e.msg_id] for e in first] == ["thanked"] + ["merged"] * 4, explain(h)

    later = h.send("follow", viewer="Fay")
    h.run_until(line["end_s"] + 10 - 0.2)
    assert h.outcomes()[later.msg_id] == "pending", explain(h)  # cooling down
    h.run_for(5)
    row = next(e for e in h.report()["events"] if e["msg_id"] == later.msg_id)
    assert row["outcome"] == "thanked", explain(h)
    assert row["reacted_s"] == pytest.approx(line["end_s"] + 10, abs=3 * TICK), explain(h)


def test_a_banned_name_is_never_read_out_in_a_welcome(harness, tmp_path):
    show = SHOW.replace("idle: {silence_s", "chat: {banned_words: [idiot]}\nidle: {silence_s")
    h = harness.from_text(tmp_path, show, files=SUBTREES)
    h.send("follow", viewer="ｉｄｉｏｔ_fan")
    h.send("follow", viewer="Ann")
    h.run_for(14)  # the line, then the crowd thanks' cool-down
    h.send("follow", viewer="idiot2")
    h.run_for(3)
    welcomes = [s["text"] for s in h.speech() if s["reason"] == "gift"]
    assert welcomes == ["WELCOME Ann +1", "WELCOME friend +0"], explain(h)


# -- pause ---------------------------------------------------------------------------------------

PAUSABLE = SHOW.replace("""  children:
    - include: trees/crowd.yaml""", """  children:
    - guard: paused
      when: {key: show.paused, eq: true}
      abort: self
      child:
        idle: hold still
        self_talk: false
    - include: trees/crowd.yaml""")
assert PAUSABLE != SHOW


def test_a_paused_show_holds_still_and_goes_on_when_unpaused(harness, tmp_path):
    h = harness.from_text(tmp_path, PAUSABLE, files=SUBTREES)
    h.bb["show.paused"] = True
    chat = h.send("chat", viewer="Ann", text="good evening")
    h.run_for(30)  # longer than the idle silence
    assert h.speech() == [], explain(h)
    assert h.running() == ["show/paused/hold still"], explain(h)
    h.bb["show.paused"] = False
    h.run_for(5)
    assert h.outcomes()[chat.msg_id] == "replied", explain(h)


def test_the_asmr_night_show_resumes_after_a_pause(harness, tmp_path):
    h = harness(load_show(ROOT / "shows" / "asmr_night.yaml"), state_dir=tmp_path / "state")
    h.bb["show.paused"] = True
    gift = h.send("gift", viewer="Ann", gift="rose", value=5)
    h.run_for(35)  # longer than the show's idle silence
    assert h.speech() == [], explain(h)
    assert h.running() == ["show/paused/hold still"], explain(h)
    h.bb["show.paused"] = False
    h.run_for(10)
    assert h.outcomes()[gift.msg_id] == "thanked", explain(h)


# -- small actions -------------------------------------------------------------------------------

ACTIONS = """\
name: actions
persona: {name: Tester, languages: [en, zh], topics: [tea]}
blackboard:
  step: {type: int, default: 0}
tree:
  once: all at once
  child:
    sequence: steps
    children:
      - emote: look happy
        expression: happy
        motion: wave
      - scene: Main
      - effect: confetti
      - speak: greet in chinese
        language: zh
        emotion: shy
        lines: {en: "hello {name}", zh: "大家好，我是{name}"}
      - speak: greet by default
        lines: {en: "hello {name}, let us talk about {topic}", zh: "不会说这句"}
      - set: mark
        key: step
        value: 2
"""


def test_small_actions_do_what_their_names_say(harness, tmp_path):
    h = harness.from_text(tmp_path, ACTIONS)
    h.run_for(10)
    assert h.status("all at once").name == "SUCCESS", explain(h)
    stage = h.director.stage
    changes = [(what, value) for _, what, value in stage.avatar.state.history]
    assert ("expression", "happy") in changes and ("motion", "wave") in changes, changes
    assert ("expression", "shy") in changes, changes
    requests = [(what, value) for _, what, value in stage.obs.requests]
    assert requests == [("scene", "Main"), ("effect", "confetti")], requests
    assert [s["text"] for s in h.speech()] == ["大家好，我是Tester",
                                               "hello Tester, let us talk about tea"], explain(h)
    # the second line waited for the first: lines queue like a real voice
    first, second = h.speech()
    assert second["start_s"] >= first["end_s"], explain(h)
    assert h.bb["step"] == 2


@pytest.mark.parametrize(("key", "value", "message"), [
    ("chat.pending", "3", "built in and read-only"),
    ("step", "'two'", "holds int"),
    ("stpe", "1", "undeclared blackboard key 'stpe'"),
])
def test_set_only_writes_the_shows_own_keys_with_their_type(tmp_path, key, value, message):
    show = tmp_path / "show.yaml"
    show.write_text(ACTIONS.replace("key: step\n        value: 2", f"key: {key}\n"
                                    f"        value: {value}"), encoding="utf-8")
    with pytest.raises(ShowErrors, match=message):
        load_show(show)
