"""Chat selection and moderation: interval, classes, duplicates, spam, banned words, age, language.

Replies come from plain template lines ("CHAT Ann: hello", "SC Sue 30: ...") so a test reads who
was answered, and in which order, from what was spoken. `reacted_s` in the report is when a reply
was chosen; the reply interval is measured on it.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from director.language import detect_language
from director.moderation import normalise
from director.services.dialogue import fill
from director.showfile import load_show
from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent
TICK = 1 / 30
INTERVAL = 4.0
BANNED = ["idiot", "傻逼", "stupid bot"]

SHOW = """\
name: chat test
persona:
  name: Tester
  languages: [en, zh]
  topics: [tea]
  replies:
    chat: {{en: "CHAT {{viewer}}: {{text}}", zh: "聊天 {{viewer}}：{{text}}"}}
    question: {{en: "Q {{viewer}}: {{text}}", zh: "问 {{viewer}}：{{text}}"}}
    super_chat: {{en: "SC {{viewer}} {{value}}: {{text}}"}}
    speech: {{en: "OP {{text}}"}}
chat:
  reply_interval_s: 4
  max_age_s: 30
  max_length: 40
  banned_words: [idiot, 傻逼, stupid bot]
  duplicate_window_s: 60
  spam_per_viewer: 3
  spam_window_s: 30
  pool_size: {pool}
interrupts: {{super_chat: true}}
blackboard:
  hold: {{type: bool, default: false}}
tree:
  priority: show
  children:
    - guard: hold
      when: {{key: hold, eq: true}}
      child:
        sequence: hold on
        children:
          - wait: hold for a while
            seconds: {hold}
          - set: release
            key: hold
            value: false
    - include: trees/urgent.yaml
    - include: trees/chat.yaml
    - idle: idle
      self_talk: false
"""
SUBTREES = {f"trees/{name}.yaml": (ROOT / "trees" / f"{name}.yaml").read_text(encoding="utf-8")
            for name in ("urgent", "chat")}


def make(harness: type[ShowHarness], folder: Path, *, hold: float = 0.0,
         pool: int = 200) -> ShowHarness:
    h = harness.from_text(folder, SHOW.format(hold=hold or 1, pool=pool), files=SUBTREES)
    h.bb["hold"] = hold > 0
    return h


def events(h: ShowHarness) -> dict[str, dict[str, Any]]:
    return {e["msg_id"]: e for e in h.report()["events"]}


def explain(h: ShowHarness) -> str:
    lines = "\n".join(f"{s['start_s']:7.2f}-{s['end_s']:7.2f} {s['reason']:5} {s['text']}"
                      for s in h.speech())
    rows = "\n".join(f"{e['msg_id']:>4} {e['kind']:10} {e['viewer']:12} {e['outcome']:9} "
                     f"reacted={e['reacted_s']} {e.get('detail', '')}"
                     for e in h.report()["events"])
    return f"{h.tree_text()}\n{lines}\n{rows}"


def replied_order(h: ShowHarness) -> list[str]:
    rows = [e for e in h.report()["events"] if e["outcome"] == "replied"]
    return [e["viewer"] for e in sorted(rows, key=lambda e: e["reacted_s"])]


# -- the reply interval --------------------------------------------------------------------------

def test_a_later_message_waits_for_the_reply_interval(harness, tmp_path):
    h = make(harness, tmp_path)
    first = h.send("chat", viewer="Ann", text="good evening")
    h.run_for(1.0)
    second = h.send("chat", viewer="Ben", text="nice rain tonight")
    h.run_for(10)
    rows = events(h)
    assert rows[first.msg_id]["reacted_s"] <= TICK + 1e-9, explain(h)
    gap = rows[second.msg_id]["reacted_s"] - rows[first.msg_id]["reacted_s"]
    assert INTERVAL <= gap <= INTERVAL + 2 * TICK, explain(h)


def test_no_two_ordinary_replies_are_closer_than_the_interval(harness, tmp_path):
    h = make(harness, tmp_path)
    for name, text in zip(["Ann", "Ben", "Cat", "Dan", "Eli", "Fay"],
                          ["good evening", "nice rain", "love this", "so calm", "hello", "hi all"],
                          strict=True):
        h.send("chat", viewer=name, text=text)
    h.run_for(30)
    rows = [e for e in h.report()["events"] if e["outcome"] == "replied"]
    assert len(rows) == 6, explain(h)
    times = sorted(e["reacted_s"] for e in rows)
    for a, b in itertools.pairwise(times):
        assert INTERVAL <= b - a <= INTERVAL + 2 * TICK, explain(h)


def test_a_super_chat_skips_the_interval_and_goes_first(harness, tmp_path):
    h = make(harness, tmp_path)
    h.send("chat", viewer="Ann", text="tell me about the rain tonight")
    h.run_for(1.0)
    sc = h.send("super_chat", viewer="Sue", text="for your tea", value=30)
    plain = h.send("chat", viewer="Ben", text="nice rain")
    h.run_for(10)
    rows = events(h)
    assert rows[sc.msg_id]["reacted_s"] == pytest.approx(1.0 + TICK, abs=2 * TICK), explain(h)
    assert rows[sc.msg_id]["by"] == "show/urgent/urgent reactions/answer super chats"
    assert rows[plain.msg_id]["reacted_s"] >= INTERVAL, explain(h)
    said = [s["text"] for s in h.speech()]
    assert said == ["CHAT Ann: tell me about the rain tonight", "SC Sue 30: for your tea",
                    "CHAT Ben: nice rain"], explain(h)
    # Ann's reply was being said when the super chat took over: it was finished, not cut
    first = h.speech()[0]
    assert h.speech()[1]["start_s"] == pytest.approx(first["end_s"]), explain(h)


# -- selection order -----------------------------------------------------------------------------

def test_selection_order_speech_super_chats_members_questions_rest(harness, tmp_path):
    h = make(harness, tmp_path, hold=5)
    h.send("chat", viewer="Pat", text="nice rain tonight")
    h.send("chat", viewer="Quinn", text="what tea do you like?")
    h.send("chat", viewer="Mo", text="back again", level=2)
    h.send("super_chat", viewer="Sue", text="for your tea", value=30)
    h.send("chat", viewer="Pia", text="so calm")
    h.send("speech", viewer="operator", text="say hi to everyone")
    h.send("super_chat", viewer="Sam", text="buy cocoa", value=100)
    h.run_for(30)
    assert replied_order(h) == ["operator", "Sam", "Sue", "Mo", "Quinn", "Pat", "Pia"], \
        explain(h)
    said = [s["text"].split()[0] for s in h.speech()]
    assert said == ["OP", "SC", "SC", "CHAT", "Q", "CHAT", "CHAT"], explain(h)


# -- duplicates, spam, pool ----------------------------------------------------------------------

def test_duplicates_and_spam_are_skipped_with_reasons(harness, tmp_path):
    h = make(harness, tmp_path, hold=30)
    ok = h.send("chat", viewer="Ann", text="hello everyone")
    h.run_for(1.0)
    dup = h.send("chat", viewer="Ben", text="Hello,  EVERYONE!!")
    flood = h.send("chat", viewer="Dan", text="哈哈哈哈哈哈哈哈哈哈")
    spam = [h.send("chat", viewer="Cat", text=f"message number {i}") for i in range(5)]
    paid = h.send("super_chat", viewer="Sue", text="hello everyone", value=30)
    h.tick()
    rows = events(h)

    def verdict(event):
        row = rows[event.msg_id]
        return row["outcome"], row.get("detail")

    assert verdict(dup) == ("skipped", "duplicate"), explain(h)
    assert verdict(flood) == ("skipped", "spam: flood"), explain(h)
    assert [verdict(e) for e in spam] == [("pending", None)] * 3 + \
        [("skipped", "spam: too many messages")] * 2, explain(h)
    assert verdict(ok) == ("pending", None), explain(h)
    assert verdict(paid) == ("pending", None), explain(h)  # paid messages are never "spam"
    assert rows[dup.msg_id]["by"] == "chat screen"


def test_the_same_text_after_the_duplicate_window_is_answered(harness, tmp_path):
    h = make(harness, tmp_path)
    first = h.send("chat", viewer="Ann", text="good night")
    h.run_for(61)
    again = h.send("chat", viewer="Ben", text="good night")
    h.run_for(5)
    rows = events(h)
    assert rows[first.msg_id]["outcome"] == "replied", explain(h)
    assert rows[again.msg_id]["outcome"] == "replied", explain(h)


def test_a_full_pool_skips_the_oldest_lowest_ranked_message(harness, tmp_path):
    h = make(harness, tmp_path, hold=10, pool=3)
    plain = [h.send("chat", viewer=f"fan{i}", text=f"hello number {i}") for i in range(3)]
    h.tick()
    question = h.send("chat", viewer="Quinn", text="what tea do you like?")
    h.tick()
    rows = events(h)
    assert rows[plain[0].msg_id]["outcome"] == "skipped", explain(h)
    assert rows[plain[0].msg_id]["detail"] == "pool full", explain(h)
    assert [rows[e.msg_id]["outcome"] for e in plain[1:]] == ["pending", "pending"], explain(h)
    assert rows[question.msg_id]["outcome"] == "pending", explain(h)


# -- moderation ----------------------------------------------------------------------------------

MODERATED = [
    ("Eve", "you are an idiot", "banned_word"),
    ("Fin", "i d i o t", "banned_word"),
    ("Gus", "ＩＤＩＯＴ!!", "banned_word"),
    ("Hal", "I.d.I.o.T", "banned_word"),
    ("Ivy", "你是傻 逼", "banned_word"),
    ("Jo", "傻.逼", "banned_word"),
    ("Kai", "such a STUPID-bot", "banned_word"),
    ("idiot_fan", "hello there", "banned_name"),
    ("ｉｄｉｏｔ", "lovely stream", "banned_name"),
    ("stupid  bot 99", "good evening", "banned_name"),
    ("傻逼王", "晚上好", "banned_name"),
]


def test_banned_words_in_text_or_username_are_moderated_and_never_spoken(harness, tmp_path):
    h = make(harness, tmp_path)
    sent = [(h.send("chat", viewer=name, text=text), rule) for name, text, rule in MODERATED]
    sc = h.send("super_chat", viewer="Rich", text="you idiot", value=500)
    clean = h.send("chat", viewer="Zed", text="nice rain tonight")
    h.run_for(20)
    rows = events(h)
    for event, rule in sent:
        row = rows[event.msg_id]
        assert row["outcome"] == "moderated", explain(h)
        assert row["detail"].startswith(rule + ":"), explain(h)
    assert rows[sc.msg_id]["outcome"] == "moderated", explain(h)  # money does not buy a pass
    assert rows[clean.msg_id]["outcome"] == "replied", explain(h)
    spoken = [s["text"] for s in h.speech()]
    assert spoken == ["CHAT Zed: nice rain tonight"], explain(h)
    for text in spoken:
        for word in BANNED:
            assert normalise(word) not in normalise(text), explain(h)


def test_a_message_over_the_length_cap_is_moderated(harness, tmp_path):
    h = make(harness, tmp_path)
    long = h.send("chat", viewer="Ann", text="la " * 20)
    fits = h.send("chat", viewer="Ben", text="x" * 40)
    h.tick()
    rows = events(h)
    assert rows[long.msg_id]["outcome"] == "moderated", explain(h)
    assert rows[long.msg_id]["detail"] == "too_long: 60 > 40 characters", explain(h)
    assert rows[fits.msg_id]["outcome"] != "moderated", explain(h)
    assert all("la la" not in s["text"] for s in h.speech()), explain(h)


# -- age -----------------------------------------------------------------------------------------

def test_old_messages_are_skipped_but_paid_ones_wait(harness, tmp_path):
    h = make(harness, tmp_path, hold=40)
    plain = h.send("chat", viewer="Ann", text="good evening")
    member = h.send("chat", viewer="Mo", text="back again", level=1)
    h.run_for(15)
    fresh = h.send("chat", viewer="Ben", text="nice rain")
    sc = h.send("super_chat", viewer="Sue", text="for your tea", value=30)
    h.run_until(29.9)
    assert events(h)[plain.msg_id]["outcome"] == "pending", explain(h)
    h.run_until(31)
    rows = events(h)
    for old in (plain, member):
        assert rows[old.msg_id]["outcome"] == "skipped", explain(h)
        assert rows[old.msg_id]["detail"] == "too old", explain(h)
        assert rows[old.msg_id]["done_s"] == pytest.approx(30 + TICK, abs=2 * TICK)
    assert rows[fresh.msg_id]["outcome"] == "pending", explain(h)
    h.run_for(15)
    rows = events(h)
    assert rows[sc.msg_id]["outcome"] == "replied", explain(h)
    assert rows[fresh.msg_id]["outcome"] == "replied", explain(h)
    assert [s["text"] for s in h.speech()] == ["SC Sue 30: for your tea", "CHAT Ben: nice rain"]


# -- language ------------------------------------------------------------------------------------

def possible_replies(persona: dict[str, Any], situation: str, lang: str, viewer: str,
                     text: str) -> set[str]:
    return {fill(t, {"viewer": viewer, "text": text})
            for t in persona["replies"][situation][lang]}


@pytest.mark.parametrize(("viewer", "text", "situation", "lang"), [
    ("小明", "今天下雨了，好舒服", "chat", "zh"),
    ("nightowl", "I love rainy nights", "chat", "en"),
    ("阿杰", "你喜欢下雨吗？", "question", "zh"),
    ("小明", "what are you reading tonight?", "question", "en"),
])
def test_a_reply_is_in_the_language_of_the_message(harness, tmp_path, viewer, text, situation,
                                                    lang):
    h = harness(load_show(ROOT / "shows" / "asmr_night.yaml"), state_dir=tmp_path / "state")
    h.send("chat", viewer=viewer, text=text)
    h.run_for(10)
    replies = [s["text"] for s in h.speech() if s["reason"] == "chat"]
    persona = h.director.show.persona
    assert len(replies) == 1, explain(h)
    assert replies[0] in possible_replies(persona, situation, lang, viewer, text), explain(h)
    if viewer.isascii():
        assert detect_language(replies[0]) == lang, explain(h)
