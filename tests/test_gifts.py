"""Gift reactions: tiers, combos, priority, storms, memberships, urgency and unbroken thanks.

The show under test says plain, checkable lines ("T3 Ann x5 heart 10"), so a test reads tier,
count and value straight from what was spoken. A `hold` branch at the top of the tree keeps the
show busy while events pile up, so several thanks compete when it lets go.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from py_trees.common import Status

from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent

TICK = 1 / 30
URGENT = "show/urgent/urgent reactions/thank big gifts now"

SHOW = """\
name: gift test
persona: {{name: Tester, languages: [en], topics: [tea]}}
currency: {{base: CNY, rates: {{USD: 7.2}}}}
gifts:
  combo_window_s: 3
  aggregate_max_tier: 1
  aggregate_after: 4
  aggregate_names: 2
  priority: {priority}
  tiers:
    - {{name: small, min: 0, lines: {{en: "T1 {{viewer}} x{{count}} {{gift}} {{value}}"}}}}
    - {{name: medium, min: 1, lines: {{en: "T2 {{viewer}} x{{count}} {{gift}} {{value}}"}}}}
    - {{name: large, min: 10, lines: {{en: "T3 {{viewer}} x{{count}} {{gift}} {{value}}"}}}}
    - {{name: huge, min: 100, lines: {{en: "T4 {{viewer}} x{{count}} {{gift}} {{value}}"}}}}
  aggregate_lines: {{en: "ALL {{names}} and {{others}} more x{{count}} {{gift}}"}}
  membership_lines: {{en: "MEMBER {{viewer}} {{months}} months {{value}}"}}
chat:
  reply_interval_s: 4
  banned_words: [idiot]
interrupts: {{gift_tier: 3, super_chat: true}}
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
            seconds: 5
          - set: release
            key: hold
            value: false
{branches}
    - idle: idle
      self_talk: false
"""

STANDARD = """\
    - include: trees/urgent.yaml
    - include: trees/chat.yaml
    - include: trees/gift_reactions.yaml
"""

SUBTREES = {f"trees/{name}.yaml": (ROOT / "trees" / f"{name}.yaml").read_text(encoding="utf-8")
            for name in ("urgent", "chat", "gift_reactions")}


def make(harness: type[ShowHarness], folder: Path, *, branches: str = STANDARD,
         priority: str = "[tier, level, combo]", hold: bool = False) -> ShowHarness:
    h = harness.from_text(folder, SHOW.format(branches=branches.rstrip("\n"), priority=priority),
                          files=SUBTREES)
    h.bb["hold"] = hold
    return h


def events(h: ShowHarness) -> dict[str, dict[str, Any]]:
    return {e["msg_id"]: e for e in h.report()["events"]}


def gift_lines(h: ShowHarness) -> list[str]:
    return [s["text"] for s in h.speech() if s["reason"] == "gift"]


def explain(h: ShowHarness) -> str:
    lines = "\n".join(f"{s['start_s']:7.2f}-{s['end_s']:7.2f} {s['reason']:5} {s['text']}"
                      for s in h.speech())
    return f"{h.tree_text()}\n{lines}\noutcomes: {h.report()['outcomes']}"


# -- tiers ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "tier"), [
    (0.0, 1), (0.1, 1), (0.99, 1), (1.0, 2), (9.99, 2), (10.0, 3), (99.5, 3), (100.0, 4),
    (5000.0, 4),
])
def test_tier_follows_the_value_thresholds(harness, tmp_path, value, tier):
    h = make(harness, tmp_path)
    assert h.director.show.tier_of(value) == tier


def test_each_gift_is_thanked_with_the_line_of_its_tier(harness, tmp_path):
    h = make(harness, tmp_path)
    h.send("gift", viewer="Amy", gift="petal", value=0.5)
    h.send("gift", viewer="Bo", gift="rose", value=5)
    h.send("gift", viewer="Cy", gift="cake", value=50)
    h.send("gift", viewer="Di", gift="rocket", value=500)
    h.send("gift", viewer="Ed", gift="star", value=2, currency="USD")  # 14.4 CNY: large
    h.run_for(20)
    lines = sorted(gift_lines(h))
    assert lines == ["T1 Amy x1 petal 0.5", "T2 Bo x1 rose 5", "T3 Cy x1 cake 50",
                     "T3 Ed x1 star 14.4", "T4 Di x1 rocket 500"], explain(h)
    assert set(h.outcomes().values()) == {"thanked"}, explain(h)


# -- combos --------------------------------------------------------------------------------------

def test_a_combo_is_thanked_once_with_its_totals_and_the_tier_of_the_total(harness, tmp_path):
    h = make(harness, tmp_path)
    ids = []
    for _ in range(5):  # 5 × 2 CNY: each is medium, the combo of 10 CNY is large
        ids.append(h.send("gift", viewer="Ann", gift="heart", value=2).msg_id)
        h.run_for(0.5)
    last_sent = h.now - 0.5
    h.run_for(10)
    assert gift_lines(h) == ["T3 Ann x5 heart 10"], explain(h)
    rows = events(h)
    assert [rows[i]["outcome"] for i in ids] == ["thanked"] + ["merged"] * 4, explain(h)
    assert {rows[i]["by"] for i in ids} == {URGENT}, explain(h)
    # thanked once the combo settled: a combo window after the last click, not before
    reacted = rows[ids[0]]["reacted_s"]
    assert last_sent + 3.0 <= reacted <= last_sent + 3.0 + 2 * TICK, explain(h)


def test_combo_counts_add_up_over_multi_count_events(harness, tmp_path):
    h = make(harness, tmp_path)
    h.send("gift", viewer="Ann", gift="heart", count=3, value=0.3)
    h.run_for(1)
    h.send("gift", viewer="Ann", gift="heart", count=7, value=0.7)
    h.run_for(10)
    assert gift_lines(h) == ["T2 Ann x10 heart 1"], explain(h)


def test_other_gifts_other_viewers_and_later_clicks_are_separate_thanks(harness, tmp_path):
    h = make(harness, tmp_path)
    h.send("gift", viewer="Ann", gift="heart", value=2)
    h.send("gift", viewer="Ann", gift="rose", value=2)
    h.send("gift", viewer="Ben", gift="heart", value=2)
    h.run_for(3.5)  # the combo window closed: the next heart from Ann starts a new combo
    h.send("gift", viewer="Ann", gift="heart", value=2)
    h.run_for(15)
    assert sorted(gift_lines(h)) == ["T2 Ann x1 heart 2", "T2 Ann x1 heart 2",
                                     "T2 Ann x1 rose 2", "T2 Ben x1 heart 2"], explain(h)
    assert set(h.outcomes().values()) == {"thanked"}, explain(h)


# -- priority ------------------------------------------------------------------------------------

ONE_THANKER = """\
    - thank_gifts: thank
"""


@pytest.mark.parametrize(("priority", "order"), [
    ("[tier, level, combo]", ["Dee", "Bea", "Cal", "Amy", "Eve"]),
    ("[combo, tier, level]", ["Cal", "Dee", "Bea", "Amy", "Eve"]),
    ("[level, tier]", ["Bea", "Dee", "Amy", "Cal", "Eve"]),
])
def test_waiting_thanks_are_said_in_the_shows_priority_order(harness, tmp_path, priority, order):
    h = make(harness, tmp_path, branches=ONE_THANKER, priority=priority, hold=True)
    h.send("gift", viewer="Amy", gift="rose", value=5)
    h.run_for(0.1)
    h.send("gift", viewer="Cal", gift="rose", value=5, count=5)
    h.run_for(0.1)
    h.send("gift", viewer="Eve", gift="rose", value=5)
    h.run_for(0.1)
    h.send("gift", viewer="Bea", gift="rose", value=5, level=3)
    h.send("gift", viewer="Dee", gift="cake", value=20)
    h.run_for(25)
    said = [line.split()[1] for line in gift_lines(h)]
    assert said == order, explain(h)


# -- storms --------------------------------------------------------------------------------------

def test_a_storm_of_small_gifts_is_thanked_in_a_few_aggregated_lines(harness, tmp_path):
    h = make(harness, tmp_path)
    viewers = [f"fan{i:02d}" for i in range(60)]
    ids = []
    for i in range(100):  # 10 gifts a second from 60 viewers
        ids.append(h.send("gift", viewer=viewers[i % 60], gift="petal", value=0.5).msg_id)
        h.tick(3)
    h.run_for(30)
    outcomes = h.outcomes()
    assert len(outcomes) == 100, explain(h)  # none lost
    assert set(outcomes.values()) <= {"thanked", "merged"}, explain(h)  # none pending
    lines = gift_lines(h)
    assert 1 <= len(lines) <= 8, explain(h)
    # every line thanked exactly one event as 'thanked'; the others it covered are 'merged'
    assert list(outcomes.values()).count("thanked") == len(lines), explain(h)
    aggregated = [line for line in lines if line.startswith("ALL ")]
    assert aggregated, explain(h)
    assert sum(int(line.split(" x")[1].split()[0]) for line in lines) == 100, explain(h)
    # and the voice is not busy long after the storm: the last thanks ends soon after it
    assert h.speech()[-1]["end_s"] < 10 + 3 + 12, explain(h)


def test_an_aggregated_line_names_a_few_viewers_and_counts_the_others(harness, tmp_path):
    h = make(harness, tmp_path, hold=True)
    for name in ("Ann", "Ben", "Cat", "Dan", "Eli", "Fay"):
        h.send("gift", viewer=name, gift="petal", value=0.5)
    h.run_for(10)
    assert gift_lines(h) == ["ALL Ann, Ben and 4 more x6 petal"], explain(h)


# -- memberships ---------------------------------------------------------------------------------

def test_a_membership_is_thanked_at_once_with_its_own_line(harness, tmp_path):
    h = make(harness, tmp_path)
    member = h.send("membership", viewer="Kim", months=3, value=30)
    h.run_for(6)
    assert gift_lines(h) == ["MEMBER Kim 3 months 30"], explain(h)
    row = events(h)[member.msg_id]
    assert row["outcome"] == "thanked", explain(h)
    assert row["reacted_s"] - row["received_s"] <= 2 * TICK, explain(h)  # no combo wait


# -- urgency -------------------------------------------------------------------------------------

def test_the_urgent_branch_thanks_a_big_gift_before_chat_and_small_gifts(harness, tmp_path):
    h = make(harness, tmp_path, hold=True)
    h.send("chat", viewer="Ann", text="good evening")
    small = h.send("gift", viewer="Bob", gift="rose", value=5)
    big = h.send("gift", viewer="Cal", gift="rocket", value=500)
    h.run_for(20)
    said = [(s["reason"], s["text"].split()[0]) for s in h.speech()]
    assert said == [("gift", "T4"), ("chat", "Ann"), ("gift", "T2")], explain(h)
    rows = events(h)
    assert rows[big.msg_id]["by"] == URGENT, explain(h)
    assert rows[small.msg_id]["by"] == "show/gifts/thank gifts", explain(h)


def test_a_big_gift_preempts_a_chat_reply_which_still_finishes(harness, tmp_path):
    h = make(harness, tmp_path)
    big = h.send("gift", viewer="Cal", gift="rocket", value=500)
    chat = h.send("chat", viewer="Ann",
                  text="tell me a long story about the sea and the stars and the moon tonight")
    h.run_for(3.2)  # the gift is ready at 3 s, while the reply is still being said
    assert h.running() == [URGENT], explain(h)
    assert h.status("show/chat/reply to chat") == Status.INVALID, explain(h)
    h.run_for(15)
    reply, thanks = h.speech()
    assert reply["reason"] == "chat" and thanks["reason"] == "gift", explain(h)
    assert thanks["start_s"] == pytest.approx(reply["end_s"]), explain(h)  # after, not over it
    rows = events(h)
    assert rows[chat.msg_id]["outcome"] == "replied", explain(h)
    assert rows[chat.msg_id]["done_s"] == pytest.approx(reply["end_s"], abs=2 * TICK)
    assert rows[big.msg_id]["outcome"] == "thanked", explain(h)


# -- thanks that must not be cut -----------------------------------------------------------------

def test_a_preempted_thanks_is_finished_and_marked_done_once(harness, tmp_path):
    h = make(harness, tmp_path)
    small = h.send("gift", viewer="Amy", gift="rose", value=5)
    h.run_for(0.5)
    big = h.send("gift", viewer="Bo", gift="rocket", value=500)
    h.run_until(3.6)  # Amy's thanks started at 3 s; Bo's gift became ready at 3.5 s
    assert h.running() == [URGENT], explain(h)
    assert h.status("show/gifts/thank gifts") == Status.INVALID, explain(h)
    assert len(h.director.stage.detached) == 1, explain(h)
    assert h.outcomes()[small.msg_id] == "pending", explain(h)
    h.run_for(10)
    amy, bo = h.speech()
    assert amy["text"] == "T2 Amy x1 rose 5" and bo["text"] == "T4 Bo x1 rocket 500", explain(h)
    assert bo["start_s"] == pytest.approx(amy["end_s"]), explain(h)  # not cut: Bo waits
    rows = events(h)
    assert rows[small.msg_id]["outcome"] == "thanked", explain(h)
    assert rows[small.msg_id]["by"] == "show/gifts/thank gifts", explain(h)
    assert rows[small.msg_id]["done_s"] == pytest.approx(amy["end_s"], abs=2 * TICK)
    assert rows[big.msg_id]["outcome"] == "thanked", explain(h)
    assert h.director.ctx.handled == {"thanked": 2}, explain(h)
    assert h.director.stage.detached == [], explain(h)


CUTTABLE = """\
    - priority: gifts
      children:
        - thank_gifts: thank big gifts
          min_tier: 3
        - thank_gifts: thank gifts
          uninterruptible: false
"""


def test_a_cut_thanks_goes_back_to_the_queue_and_is_said_again_in_full(harness, tmp_path):
    h = make(harness, tmp_path, branches=CUTTABLE)
    small = h.send("gift", viewer="Amy", gift="rose", value=5)
    h.run_for(0.5)
    h.send("gift", viewer="Bo", gift="rocket", value=500)
    h.run_for(15)
    said = [(s["text"], round(s["end_s"] - s["start_s"], 2)) for s in h.speech()]
    assert [text for text, _ in said] == ["T2 Amy x1 rose 5", "T4 Bo x1 rocket 500",
                                          "T2 Amy x1 rose 5"], explain(h)
    assert said[0][1] < said[2][1], explain(h)  # the first time was cut short
    assert h.outcomes()[small.msg_id] == "thanked", explain(h)
    assert h.director.ctx.handled == {"thanked": 2}, explain(h)


def test_a_banned_name_is_never_read_out_in_thanks(harness, tmp_path):
    h = make(harness, tmp_path, hold=True)
    single = h.send("gift", viewer="ｉｄｉｏｔ_king", gift="rose", value=5)
    h.send("gift", viewer="Ann", gift="petal", value=0.5)
    for name in ("I.D.I.O.T", "idiot2", "Ben", "Cat", "Dan"):
        h.send("gift", viewer=name, gift="petal", value=0.5)
    h.run_for(15)
    lines = gift_lines(h)
    assert sorted(lines) == ["ALL Ann and 5 more x6 petal", "T2 friend x1 rose 5"], \
        explain(h)
    assert h.outcomes()[single.msg_id] == "thanked", explain(h)


def test_the_thank_you_line_goes_to_the_obs_gift_banner(harness, tmp_path):
    show = """\
name: banner
persona: {name: Tester, languages: [en], topics: [tea]}
obs: {banner: Gift Banner}
tree:
  priority: show
  children:
    - thank_gifts: thanks
    - idle: idle
"""
    h = harness.from_text(tmp_path, show)
    h.send("gift", viewer="Ann", gift="rose", value=20)
    h.run_for(5)
    said = [s["text"] for s in h.speech() if s["reason"] == "gift"]
    assert said and h.director.stage.obs.texts.get("Gift Banner") == said[0], h.tree_text()
