"""Hot reload: edits apply at the next safe point, running nodes finish first, bad edits fail.

The harness runs with reload off, so each test edits the show (or a subtree) on disk and applies it
by hand: `apply_show(load_show(path))`, or `check_reload()` after moving the file's mtime on.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from py_trees.common import Status

from director.showfile import load_show
from director.testing import ShowHarness

TICK = 1 / 30

GREETER = """\
name: reload test
persona: {name: Tester, languages: [en], topics: [tea]}
chat: {reply_interval_s: 4}
tree:
  priority: show
  children:
    - cooldown: greeting
      seconds: 3
      child:
        speak: greet
        lines: {en: "hello one"}
    - idle: idle
      self_talk: false
"""

WORKER = """\
name: reload test
persona: {name: Tester, languages: [en], topics: [tea]}
blackboard:
  go: {type: bool, default: true}
tree:
  priority: show
  children:
    - sequence: work
      children:
        - condition: gate
          key: go
          eq: true
        - wait: long wait
          seconds: 10
        - speak: report
          lines: {en: "work done"}
    - idle: idle
      self_talk: false
"""


def edit(path: Path, old: str, new: str) -> None:
    """Change the file and move its mtime on, as an editor saving it a moment later would."""
    text = path.read_text(encoding="utf-8")
    assert old in text, f"'{old}' not in {path}"
    before = path.stat().st_mtime
    path.write_text(text.replace(old, new), encoding="utf-8")
    os.utime(path, (before + 5, before + 5))


def explain(h: ShowHarness) -> str:
    lines = "\n".join(f"{s['start_s']:7.2f}-{s['end_s']:7.2f} {s['text']}" for s in h.speech())
    return f"{h.tree_text()}\n{lines}"


def said(h: ShowHarness) -> list[str]:
    return [s["text"] for s in h.speech()]


def test_an_edited_leaf_parameter_takes_effect(harness, tmp_path):
    h = harness.from_text(tmp_path, GREETER)
    h.run_for(1.0)
    assert said(h) == ["hello one"], explain(h)
    old_speak, cooldown = h.node("show/greeting/greet"), h.node("show/greeting")

    edit(h.director.show.path, "hello one", "hello two")
    h.director.apply_show(load_show(h.director.show.path))
    assert h.director.swaps == [], explain(h)  # nothing was running there: swapped at once
    new_speak = h.node("show/greeting/greet")
    assert new_speak is not old_speak
    assert h.node("show/greeting") is cooldown  # unchanged nodes keep their state
    assert new_speak.parent is cooldown and cooldown.decorated is new_speak

    h.run_for(4.0)
    assert said(h) == ["hello one", "hello two"], explain(h)
    # the cool-down was not reset by the reload: the second line still came 3 s after the first
    first, second = h.speech()
    assert second["start_s"] - first["end_s"] >= 3.0, explain(h)


def test_an_edit_to_a_running_node_waits_until_it_stops(harness, tmp_path):
    h = harness.from_text(tmp_path, WORKER)
    h.run_for(1.0)
    running = h.node("show/work/long wait")
    assert running.status == Status.RUNNING, explain(h)

    edit(h.director.show.path, "seconds: 10", "seconds: 2")
    h.director.apply_show(load_show(h.director.show.path))
    assert [s.old for s in h.director.swaps] == [running], explain(h)
    h.run_until(9.9)
    assert h.node("show/work/long wait") is running, explain(h)
    assert running.status == Status.RUNNING, explain(h)  # not cut, still on its old 10 s
    assert said(h) == [], explain(h)

    h.run_until(10.2)
    assert said(h) == ["work done"], explain(h)
    fresh = h.node("show/work/long wait")
    assert fresh is not running and fresh.p["seconds"] == 2, explain(h)
    assert h.director.swaps == [], explain(h)

    # the next round uses the new wait: two seconds between the reports, not ten
    h.run_for(5.0)
    first, second = h.speech()[:2]
    gap = second["start_s"] - first["end_s"]
    assert 2.0 <= gap <= 2.0 + 3 * TICK, explain(h)


def test_a_composite_setting_applies_at_once_around_its_running_children(harness, tmp_path):
    h = harness.from_text(tmp_path, WORKER)
    h.run_for(1.0)
    branch, running = h.node("show/work"), h.node("show/work/long wait")
    assert branch.memory is True
    edit(h.director.show.path, "    - sequence: work\n      children:",
         "    - sequence: work\n      memory: false\n      children:")
    h.director.apply_show(load_show(h.director.show.path))
    assert h.director.swaps == [], explain(h)
    rebuilt = h.node("show/work")
    assert rebuilt is not branch and rebuilt.memory is False, explain(h)
    # the running child was moved, not restarted
    assert h.node("show/work/long wait") is running, explain(h)
    assert running.status == Status.RUNNING and running.parent is rebuilt, explain(h)
    h.run_until(12)
    assert said(h) == ["work done"], explain(h)
    # and the new setting is live: without memory the gate is checked every tick
    h.bb["go"] = False
    h.run_until(25)
    assert said(h) == ["work done"], explain(h)


def test_check_reload_applies_a_valid_edit_of_an_included_subtree(harness, tmp_path):
    show = GREETER.replace("""        speak: greet
        lines: {en: "hello one"}""", """        include: trees/hello.yaml""")
    h = harness.from_text(tmp_path, show, files={"trees/hello.yaml": """\
tree:
  speak: greet
  lines: {en: "hello one"}
"""})
    h.run_for(1.0)
    assert h.director.check_reload() is False  # nothing changed
    edit(tmp_path / "trees" / "hello.yaml", "hello one", "hello two")
    assert h.director.check_reload() is True
    h.run_for(4.0)
    assert said(h) == ["hello one", "hello two"], explain(h)


def test_an_invalid_edit_keeps_the_old_tree(harness, tmp_path, caplog):
    h = harness.from_text(tmp_path, GREETER)
    h.run_for(1.0)
    root, speak = h.director.root, h.node("show/greeting/greet")
    path = h.director.show.path

    edit(path, "speak: greet", "speek: greet")
    with caplog.at_level(logging.ERROR, logger="director"):
        assert h.director.check_reload() is False
    assert "unknown node kind 'speek'" in caplog.text
    assert "keeps running as it was" in caplog.text
    assert h.director.root is root and h.node("show/greeting/greet") is speak
    assert h.director.check_reload() is False  # the same broken file is not reported again
    h.run_for(4.0)
    assert said(h) == ["hello one", "hello one"], explain(h)  # the old show goes on

    edit(path, 'speek: greet\n        lines: {en: "hello one"}',
         'speak: greet\n        lines: {en: "hello three"}')
    assert h.director.check_reload() is True
    h.run_for(4.0)
    assert said(h)[-1] == "hello three", explain(h)


def test_settings_outside_the_tree_apply_at_once(harness, tmp_path):
    h = harness.from_text(tmp_path, """\
name: reload test
persona: {name: Tester, languages: [en], topics: [tea]}
chat: {reply_interval_s: 10}
tree:
  priority: show
  children:
    - guard: chat
      when: {key: chat.ready, eq: true}
      child:
        reply_chat: reply
    - idle: idle
      self_talk: false
""")
    h.send("chat", viewer="Ann", text="first")
    h.run_for(2.0)
    edit(h.director.show.path, "reply_interval_s: 10", "reply_interval_s: 3")
    h.director.apply_show(load_show(h.director.show.path))
    later = h.send("chat", viewer="Ben", text="second")
    h.run_for(10)
    row = next(e for e in h.report()["events"] if e["msg_id"] == later.msg_id)
    assert row["outcome"] == "replied", explain(h)
    assert row["reacted_s"] == pytest.approx(3.0 + TICK, abs=2 * TICK), explain(h)
