"""Scheduled segments: start on time, lines in order, interruptions, resuming with the time left.

The show has two segments: `whispers` (at 10 s, 60 s long, interruptible by the show's rules:
gifts of tier 3 and up, super chats) and `brushing` (at 100 s, 30 s long, interruptible only by
tier 4 gifts). Gift tiers are the defaults: 0 / 1 / 10 / 100 CNY.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from py_trees.common import Status

from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent
TICK = 1 / 30
URGENT_GIFT = "show/urgent/urgent reactions/thank big gifts now"
RUN_SEGMENT = "show/segment/run segment"
LONG_LINE = "line two is a long whispered line that keeps going on and on about the quiet rain"
LINES = ["line one", LONG_LINE, "line three"]

SHOW = f"""\
name: segment test
persona: {{name: Tester, languages: [en], topics: [tea]}}
interrupts: {{gift_tier: 3, super_chat: true}}
segments:
  - name: whispers
    at: 10
    duration: 60
    lines: {LINES}
  - name: brushing
    at: "01:40"
    duration: 30s
    lines: [brush one, brush two]
    interruptible_by: {{gift_tier: 4, super_chat: false}}
tree:
  priority: show
  children:
    - include: trees/urgent.yaml
    - include: trees/segment.yaml
    - include: trees/gift_reactions.yaml
    - include: trees/chat.yaml
    - idle: idle
      self_talk: false
"""
SUBTREES = {f"trees/{name}.yaml": (ROOT / "trees" / f"{name}.yaml").read_text(encoding="utf-8")
            for name in ("urgent", "segment", "gift_reactions", "chat")}


@pytest.fixture
def h(harness: type[ShowHarness], tmp_path: Path) -> ShowHarness:
    return harness.from_text(tmp_path, SHOW, files=SUBTREES)


def segment(h: ShowHarness, name: str) -> dict[str, Any]:
    for row in h.report()["segments"]:
        if row["name"] == name:
            return row
    raise AssertionError(f"segment '{name}' never started\n{explain(h)}")


def events(h: ShowHarness) -> dict[str, dict[str, Any]]:
    return {e["msg_id"]: e for e in h.report()["events"]}


def asmr_lines(h: ShowHarness) -> list[dict[str, Any]]:
    return [s for s in h.speech() if s["reason"] == "asmr"]


def explain(h: ShowHarness) -> str:
    lines = "\n".join(f"{s['start_s']:7.2f}-{s['end_s']:7.2f} {s['reason']:5} {s['text']}"
                      for s in h.speech())
    return f"{h.tree_text()}\n{lines}\nsegments: {h.report()['segments']}"


def test_a_segment_starts_at_its_time_and_runs_for_its_duration(h):
    h.run_until(9.95)
    assert h.bb["segment.due"] == "", explain(h)
    assert h.status(RUN_SEGMENT) != Status.RUNNING, explain(h)
    h.run_until(10.1)
    assert h.running() == [RUN_SEGMENT], explain(h)
    assert h.bb["segment.active"] == "whispers"
    h.run_until(40)
    assert h.bb["segment.remaining_s"] == pytest.approx(30, abs=2 * TICK), explain(h)
    h.run_until(75)
    row = segment(h, "whispers")
    assert row["start_s"] == pytest.approx(10, abs=2 * TICK), explain(h)
    assert row["end_s"] == pytest.approx(row["start_s"] + 60, abs=2 * TICK), explain(h)
    assert row["elapsed_s"] == pytest.approx(60)
    assert row["interrupted"] == []
    assert h.bb["segment.active"] == "" and h.bb["segment.due"] == "", explain(h)


def test_whispered_lines_are_spoken_in_order_spread_over_the_segment(h):
    h.run_until(90)
    lines = asmr_lines(h)
    assert [s["text"] for s in lines] == LINES, explain(h)
    for i, line in enumerate(lines):
        assert line["start_s"] == pytest.approx(10 + 20 * i, abs=2 * TICK), explain(h)
    assert h.director.stage.avatar.state.expression == "neutral"  # back from its whisper


def test_a_big_gift_interrupts_and_the_segment_resumes_with_its_remaining_time(h):
    h.run_until(31)
    gift = h.send("gift", viewer="Cal", gift="cake", value=50)  # tier 3, ready at 34 s
    h.run_until(34.2)
    assert h.running() == [URGENT_GIFT], explain(h)
    assert h.bb["segment.active"] == "whispers", explain(h)  # interrupted, not over
    frozen = h.bb["segment.remaining_s"]
    h.run_for(1.0)
    assert h.bb["segment.remaining_s"] == frozen, explain(h)  # its clock stands still

    h.run_until(90)
    row = segment(h, "whispers")
    [stop] = row["interrupted"]
    assert stop["at_s"] == pytest.approx(34, abs=2 * TICK), explain(h)
    assert stop["by"] == URGENT_GIFT, explain(h)
    thanks = next(s for s in h.speech() if s["reason"] == "gift")
    assert thanks["start_s"] == pytest.approx(stop["at_s"], abs=2 * TICK), explain(h)
    assert stop["resumed_s"] == pytest.approx(thanks["end_s"], abs=2 * TICK), explain(h)
    away = stop["resumed_s"] - stop["at_s"]
    assert row["end_s"] == pytest.approx(row["start_s"] + 60 + away, abs=2 * TICK), explain(h)
    assert row["elapsed_s"] == pytest.approx(60)
    assert events(h)[gift.msg_id]["by"] == URGENT_GIFT

    # the line cut by the gift is said again when the segment resumes, then the rest in order
    lines = asmr_lines(h)
    assert [s["text"] for s in lines] == [LINES[0], LINES[1], LINES[1], LINES[2]], explain(h)
    cut, again = lines[1], lines[2]
    assert cut["end_s"] == pytest.approx(stop["at_s"], abs=2 * TICK), explain(h)
    assert again["start_s"] == pytest.approx(stop["resumed_s"], abs=2 * TICK), explain(h)


def test_a_small_gift_waits_until_the_segment_is_over(h):
    h.run_until(31)
    gift = h.send("gift", viewer="Amy", gift="rose", value=5)  # tier 2
    h.run_until(60)
    assert h.running() == [RUN_SEGMENT], explain(h)
    assert events(h)[gift.msg_id]["outcome"] == "pending", explain(h)
    h.run_until(80)
    row = segment(h, "whispers")
    assert row["interrupted"] == [], explain(h)
    assert row["end_s"] == pytest.approx(row["start_s"] + 60, abs=2 * TICK), explain(h)
    done = events(h)[gift.msg_id]
    assert done["outcome"] == "thanked", explain(h)
    assert done["reacted_s"] >= row["end_s"], explain(h)


def test_ordinary_chat_waits_for_the_segment(h):
    h.run_until(20)
    chat = h.send("chat", viewer="Ann", text="so relaxing")
    h.run_until(80)
    row = events(h)[chat.msg_id]
    assert row["outcome"] == "replied", explain(h)
    assert row["reacted_s"] >= segment(h, "whispers")["end_s"], explain(h)


def test_a_super_chat_interrupts_under_the_shows_rules(h):
    h.run_until(20)
    h.send("super_chat", viewer="Sue", text="sweet dreams", value=30)
    h.run_until(80)
    [stop] = segment(h, "whispers")["interrupted"]
    assert stop["at_s"] == pytest.approx(20 + TICK, abs=2 * TICK), explain(h)
    assert stop["by"] == "show/urgent/urgent reactions/answer super chats", explain(h)


def test_a_segments_own_rules_override_the_shows(h):
    h.run_until(103)
    tier3 = h.send("gift", viewer="Cal", gift="cake", value=50)
    sc = h.send("super_chat", viewer="Sue", text="sweet dreams", value=30)
    h.run_until(110)
    # neither may interrupt `brushing` (gift_tier: 4, super_chat: false)
    assert h.running() == [RUN_SEGMENT], explain(h)
    assert h.bb["urgent.pending"] == 0, explain(h)
    big = h.send("gift", viewer="Di", gift="rocket", value=500)  # tier 4, ready at 113 s
    h.run_until(150)
    row = segment(h, "brushing")
    [stop] = row["interrupted"]
    assert stop["at_s"] == pytest.approx(113, abs=2 * TICK), explain(h)
    assert stop["by"] == URGENT_GIFT, explain(h)
    away = stop["resumed_s"] - stop["at_s"]
    assert row["end_s"] == pytest.approx(100 + 30 + away, abs=2 * TICK), explain(h)
    rows = events(h)
    assert rows[big.msg_id]["by"] == URGENT_GIFT
    for waited in (tier3, sc):
        assert rows[waited.msg_id]["outcome"] in ("thanked", "replied"), explain(h)
        assert rows[waited.msg_id]["reacted_s"] >= row["end_s"], explain(h)
