"""Tree semantics: composites, guards and decorators on the show clock, through a real Director.

Each scenario is a small show built from `wait`, `set`, `speak` and conditions on the show's own
blackboard keys, which a test flips by hand between ticks. A failing assertion prints the tree
with every node's status.
"""

from __future__ import annotations

import itertools
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from py_trees.common import Status

from director.testing import ShowHarness

RUNNING, SUCCESS, FAILURE, INVALID = Status.RUNNING, Status.SUCCESS, Status.FAILURE, Status.INVALID
TICK = 1 / 30

HEAD = """\
name: node semantics
persona: {name: Tester, languages: [en], topics: [tea]}
blackboard:
  go: {type: bool, default: false}
  alarm: {type: bool, default: false}
  done: {type: bool, default: false}
  count: {type: int, default: 3}
  mood: {type: str, default: calm}
  tags: {type: list, default: [a, b]}
tree:
"""


def make(harness: type[ShowHarness], folder: Path, tree: str) -> ShowHarness:
    return harness.from_text(folder, HEAD + textwrap.indent(textwrap.dedent(tree), "  "))


def spy_terminate(h: ShowHarness, path: str) -> list[Status]:
    """Record every status the node at `path` is terminated with."""
    node = h.node(path)
    seen: list[Status] = []
    original = node.terminate

    def terminate(new_status: Status) -> None:
        seen.append(new_status)
        original(new_status)

    node.terminate = terminate  # type: ignore[method-assign]
    return seen


def tick_until(h: ShowHarness, ready: Callable[[], bool], *, within: float) -> float:
    """Tick until `ready()`; returns the show time it became true (fails after `within` s)."""
    end = h.now + within
    while h.now < end:
        h.tick()
        if ready():
            return h.now
    raise AssertionError(f"not ready within {within} s\n{h.tree_text()}")


def assert_status(h: ShowHarness, path: str, expected: Status) -> None:
    assert h.status(path) == expected, f"{path}: {h.status(path)} != {expected}\n{h.tree_text()}"


# -- priority ----------------------------------------------------------------------------------

PRIORITY = """\
priority: root
reactive: {reactive}
children:
  - guard: plain
    when: {{key: go, eq: true}}
    child:
      wait: plain work
      seconds: 2
  - guard: alarm
    when: {{key: alarm, eq: true}}
    abort: {abort}
    child:
      wait: alarm work
      seconds: 2
  - wait: low work
    seconds: 60
"""


def test_reactive_priority_interrupts_a_running_lower_branch(harness, tmp_path):
    h = make(harness, tmp_path, PRIORITY.format(reactive="true", abort="none"))
    h.run_for(1.0)
    assert h.running() == ["root/low work"], h.tree_text()
    stops = spy_terminate(h, "root/low work")

    h.bb["go"] = True
    h.tick()
    assert h.running() == ["root/plain/plain work"], h.tree_text()
    assert_status(h, "root/low work", INVALID)
    assert stops == [INVALID], h.tree_text()

    # when the higher branch is done and no longer ready, the lower one starts again from scratch
    h.bb["go"] = False
    h.run_for(2.1)
    assert h.running() == ["root/low work"], h.tree_text()
    assert h.node("root/low work").until == pytest.approx(h.now + 60, abs=2.2)


def test_non_reactive_priority_keeps_the_running_branch(harness, tmp_path):
    h = make(harness, tmp_path, PRIORITY.format(reactive="false", abort="none"))
    h.run_for(1.0)
    stops = spy_terminate(h, "root/low work")
    h.bb["go"] = True
    h.bb["alarm"] = True
    h.run_for(3.0)
    assert h.running() == ["root/low work"], h.tree_text()
    assert stops == [], h.tree_text()


@pytest.mark.parametrize(("abort", "takes_over"),
                         [("none", False), ("self", False), ("lower", True), ("both", True)])
def test_non_reactive_priority_yields_to_a_guard_that_aborts_lower(harness, tmp_path, abort,
                                                                    takes_over):
    h = make(harness, tmp_path, PRIORITY.format(reactive="false", abort=abort))
    h.run_for(1.0)
    stops = spy_terminate(h, "root/low work")
    h.bb["alarm"] = True
    h.tick()
    if takes_over:
        assert h.running() == ["root/alarm/alarm work"], h.tree_text()
        assert stops == [INVALID], h.tree_text()
        # it finishes, then the lower branch runs again
        h.bb["alarm"] = False
        h.run_for(2.1)
        assert h.running() == ["root/low work"], h.tree_text()
    else:
        assert h.running() == ["root/low work"], h.tree_text()
        assert stops == [], h.tree_text()


def test_aborting_guard_below_the_running_branch_waits(harness, tmp_path):
    h = make(harness, tmp_path, """\
        priority: root
        reactive: false
        children:
          - guard: plain
            when: {key: go, eq: true}
            child:
              wait: plain work
              seconds: 5
          - guard: alarm
            when: {key: alarm, eq: true}
            abort: lower
            child:
              wait: alarm work
              seconds: 2
        """)
    h.bb["go"] = True
    h.tick()
    h.bb["alarm"] = True
    h.run_for(2.0)
    assert h.running() == ["root/plain/plain work"], h.tree_text()
    h.bb["go"] = False
    h.run_for(3.1)
    assert h.running() == ["root/alarm/alarm work"], h.tree_text()


# -- guard ---------------------------------------------------------------------------------------

GUARDED = """\
priority: root
children:
  - guard: gate
    when: {{key: go, eq: true}}
    abort: {abort}
    child:
      wait: gated work
      seconds: 5
  - wait: fallback
    seconds: 60
"""


@pytest.mark.parametrize(("abort", "stops_itself"),
                         [("none", False), ("self", True), ("lower", False), ("both", True)])
def test_guard_abort_self_stops_its_child_when_the_condition_turns_false(
        harness, tmp_path, abort, stops_itself):
    h = make(harness, tmp_path, GUARDED.format(abort=abort))
    h.bb["go"] = True
    h.run_for(1.0)
    assert h.running() == ["root/gate/gated work"], h.tree_text()
    stops = spy_terminate(h, "root/gate/gated work")

    h.bb["go"] = False
    h.tick()
    if stops_itself:
        assert_status(h, "root/gate", FAILURE)
        assert_status(h, "root/gate/gated work", INVALID)
        assert stops == [INVALID], h.tree_text()
        assert h.running() == ["root/fallback"], h.tree_text()
    else:
        assert h.running() == ["root/gate/gated work"], h.tree_text()
        # it runs to its end although the condition no longer holds
        finished = tick_until(h, lambda: h.running() == ["root/fallback"], within=5)
        assert finished == pytest.approx(5.0 + TICK, abs=2 * TICK), h.tree_text()
        assert stops == [SUCCESS], h.tree_text()


def test_guard_does_not_start_its_child_while_the_condition_is_false(harness, tmp_path):
    h = make(harness, tmp_path, GUARDED.format(abort="none"))
    h.run_for(2.0)
    assert_status(h, "root/gate", FAILURE)
    assert_status(h, "root/gate/gated work", INVALID)
    assert h.running() == ["root/fallback"], h.tree_text()


# -- sequence ------------------------------------------------------------------------------------

SEQUENCE = """\
sequence: steps
memory: {memory}
children:
  - condition: gate
    key: go
    eq: true
  - wait: work
    seconds: 3
  - set: mark
    key: done
    value: true
"""


def test_sequence_with_memory_resumes_at_the_running_child(harness, tmp_path):
    h = make(harness, tmp_path, SEQUENCE.format(memory="true"))
    h.bb["go"] = True
    h.run_for(1.0)
    h.bb["go"] = False  # not re-checked: the sequence resumes at `work`
    stops = spy_terminate(h, "steps/work")
    finished = tick_until(h, lambda: h.bb["done"], within=3)
    assert finished == pytest.approx(3.0 + TICK, abs=2 * TICK), h.tree_text()
    assert stops == [SUCCESS], h.tree_text()


def test_sequence_without_memory_rechecks_earlier_children(harness, tmp_path):
    h = make(harness, tmp_path, SEQUENCE.format(memory="false"))
    h.bb["go"] = True
    h.run_for(1.0)
    assert h.running() == ["steps/work"], h.tree_text()
    stops = spy_terminate(h, "steps/work")
    h.bb["go"] = False
    h.tick()
    assert_status(h, "steps/gate", FAILURE)
    assert_status(h, "steps/work", INVALID)
    assert_status(h, "steps", FAILURE)
    assert stops == [INVALID], h.tree_text()
    h.run_for(4.0)
    assert h.bb["done"] is False, h.tree_text()


def test_sequence_fails_on_the_first_failure_and_skips_the_rest(harness, tmp_path):
    h = make(harness, tmp_path, SEQUENCE.format(memory="true"))
    h.run_for(1.0)
    assert_status(h, "steps", FAILURE)
    assert_status(h, "steps/work", INVALID)
    assert h.bb["done"] is False, h.tree_text()


# -- parallel ------------------------------------------------------------------------------------

PARALLEL = """\
once: latch
on: completion
child:
  sequence: steps
  children:
    - parallel: together
      succeed_on: {policy}
      children:
        - speak: greet
          lines: {{en: "hello there"}}
        - wait: short
          seconds: 1
        - wait: long
          seconds: 3
    - set: mark
      key: done
      value: true
"""


def test_parallel_succeed_on_all_waits_for_the_slowest_child(harness, tmp_path):
    h = make(harness, tmp_path, PARALLEL.format(policy="all"))
    h.run_for(2.0)
    assert_status(h, "latch/steps/together", RUNNING)
    assert_status(h, "latch/steps/together/short", SUCCESS)
    assert_status(h, "latch/steps/together/long", RUNNING)
    finished = tick_until(h, lambda: h.bb["done"], within=2)
    assert finished == pytest.approx(3.0 + TICK, abs=2 * TICK), h.tree_text()
    # a child that already succeeded is not run again while the others finish
    assert [s["text"] for s in h.speech()] == ["hello there"], h.tree_text()


def test_parallel_succeed_on_one_stops_the_others(harness, tmp_path):
    h = make(harness, tmp_path, PARALLEL.format(policy="one"))
    stops = spy_terminate(h, "latch/steps/together/long")
    h.tick()
    stops.clear()
    finished = tick_until(h, lambda: h.bb["done"], within=2)
    # `greet` (a short line, under a second) finishes first
    line = h.speech()[0]
    assert finished == pytest.approx(line["end_s"], abs=2 * TICK), h.tree_text()
    assert_status(h, "latch/steps/together", SUCCESS)
    assert_status(h, "latch/steps/together/long", INVALID)
    assert stops == [INVALID], h.tree_text()


def test_parallel_fails_when_a_child_fails(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: latch
        on: completion
        child:
          parallel: together
          succeed_on: all
          children:
            - wait: long
              seconds: 3
            - condition: gate
              key: go
              eq: true
        """)
    h.tick()
    assert_status(h, "latch/together", FAILURE)
    assert_status(h, "latch/together/long", INVALID)
    assert_status(h, "latch", FAILURE)


# -- timeout, cooldown, retry, once, invert ------------------------------------------------------

def test_timeout_fails_after_its_seconds_of_show_time(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: latch
        on: completion
        child:
          timeout: limit
          seconds: 2
          child:
            wait: slow
            seconds: 10
        """)
    h.tick()
    stops = spy_terminate(h, "latch/limit/slow")
    h.run_until(1.95)
    assert_status(h, "latch/limit", RUNNING)
    assert_status(h, "latch/limit/slow", RUNNING)
    failed = tick_until(h, lambda: h.status("latch/limit") == FAILURE, within=1)
    assert failed == pytest.approx(2.0 + TICK, abs=2 * TICK), h.tree_text()
    assert h.node("latch/limit").feedback_message == "timed out"
    assert_status(h, "latch/limit/slow", INVALID)
    assert stops == [INVALID], h.tree_text()


def test_timeout_passes_on_a_child_that_finishes_in_time(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: latch
        on: completion
        child:
          timeout: limit
          seconds: 2
          child:
            wait: quick
            seconds: 1
        """)
    done = tick_until(h, lambda: h.status("latch") != RUNNING, within=3)
    assert done == pytest.approx(1.0 + TICK, abs=2 * TICK), h.tree_text()
    assert_status(h, "latch/limit", SUCCESS)


def test_cooldown_lets_its_child_run_again_only_after_the_pause(harness, tmp_path):
    h = make(harness, tmp_path, """\
        cooldown: pause
        seconds: 5
        child:
          speak: hello
          lines: {en: "hello"}
        """)
    h.run_for(12.0)
    lines = h.speech()
    assert len(lines) == 3, (lines, h.tree_text())
    for before, after in itertools.pairwise(lines):
        gap = after["start_s"] - before["end_s"]
        assert 5.0 <= gap <= 5.0 + 3 * TICK, (lines, h.tree_text())


def test_cooldown_starts_only_after_a_success(harness, tmp_path):
    h = make(harness, tmp_path, """\
        cooldown: pause
        seconds: 5
        child:
          condition: gate
          key: go
          eq: true
        """)
    h.run_for(1.0)
    assert_status(h, "pause", FAILURE)
    assert h.node("pause").feedback_message != "cooling down", h.tree_text()
    h.bb["go"] = True
    h.tick()
    assert_status(h, "pause", SUCCESS)
    h.tick()
    assert_status(h, "pause", FAILURE)
    assert h.node("pause").feedback_message == "cooling down", h.tree_text()
    again = tick_until(h, lambda: h.status("pause") == SUCCESS, within=6)
    assert again == pytest.approx(1.0 + TICK + 5.0, abs=2 * TICK), h.tree_text()


def test_retry_restarts_a_failing_child_up_to_its_times(harness, tmp_path):
    h = make(harness, tmp_path, """\
        retry: again
        times: 3
        child:
          condition: gate
          key: go
          eq: true
        """)
    seen = []
    for _ in range(4):
        h.tick()
        seen.append(h.status("again"))
    # three failures in a row fail it; the next start counts from zero again
    assert seen == [RUNNING, RUNNING, FAILURE, RUNNING], h.tree_text()
    h.bb["go"] = True
    h.tick()
    assert_status(h, "again", SUCCESS)


def test_retry_restarts_a_long_child_after_each_failure(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: latch
        on: completion
        child:
          retry: again
          times: 2
          child:
            timeout: limit
            seconds: 1
            child:
              wait: slow
              seconds: 10
        """)
    h.run_for(1.5)
    assert_status(h, "latch/again", RUNNING)
    assert_status(h, "latch/again/limit/slow", RUNNING)  # started over after the first failure
    failed = tick_until(h, lambda: h.status("latch/again") == FAILURE, within=2)
    assert failed == pytest.approx(2.0 + 2 * TICK, abs=2 * TICK), h.tree_text()


def test_once_on_success_runs_its_child_a_single_time(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: greet once
        child:
          speak: greet
          lines: {en: "welcome, everyone"}
        """)
    h.run_for(10.0)
    assert [s["text"] for s in h.speech()] == ["welcome, everyone"], h.tree_text()
    assert_status(h, "greet once", SUCCESS)


def test_once_on_success_retries_after_a_failure_then_latches(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: latch
        child:
          condition: gate
          key: go
          eq: true
        """)
    h.tick()
    assert_status(h, "latch", FAILURE)
    h.bb["go"] = True
    h.tick()
    assert_status(h, "latch", SUCCESS)
    h.bb["go"] = False
    h.run_for(1.0)
    assert_status(h, "latch", SUCCESS)


def test_once_on_completion_latches_a_failure(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: latch
        on: completion
        child:
          condition: gate
          key: go
          eq: true
        """)
    h.tick()
    assert_status(h, "latch", FAILURE)
    h.bb["go"] = True
    h.run_for(1.0)
    assert_status(h, "latch", FAILURE)


def test_invert_swaps_success_and_failure_but_not_running(harness, tmp_path):
    h = make(harness, tmp_path, """\
        sequence: both
        memory: false
        children:
          - invert: not gate
            child:
              condition: gate
              key: go
              eq: true
          - invert: not waiting
            child:
              wait: work
              seconds: 1
        """)
    h.tick()
    assert_status(h, "both/not gate", SUCCESS)
    assert_status(h, "both/not waiting", RUNNING)
    h.bb["go"] = True
    h.tick()
    assert_status(h, "both/not gate", FAILURE)
    assert_status(h, "both/not waiting", INVALID)  # the sequence failed and stopped it


def test_invert_turns_a_finished_child_into_failure(harness, tmp_path):
    h = make(harness, tmp_path, """\
        once: latch
        on: completion
        child:
          invert: not waiting
          child:
            wait: work
            seconds: 1
        """)
    h.run_for(0.5)
    assert_status(h, "latch/not waiting", RUNNING)
    h.run_for(1.0)
    assert_status(h, "latch/not waiting", FAILURE)
    assert_status(h, "latch/not waiting/work", SUCCESS)


# -- condition -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("test", "holds"), [
    ("key: count\neq: 3", True),
    ("key: count\nne: 3", False),
    ("key: count\ngt: 2", True),
    ("key: count\ngte: 4", False),
    ("key: count\nlt: 4", True),
    ("key: count\nlte: 2", False),
    ("key: count\nin: [1, 3]", True),
    ("key: count\nnot_in: [1, 3]", False),
    ("key: mood\neq: calm", True),
    ("key: mood\ncontains: al", True),
    ("key: mood\nempty: true", False),
    ("key: tags\ncontains: c", False),
    ("key: tags\nnot_empty: true", True),
    ("key: go\neq: false", True),
    ("all: [{key: count, gte: 3}, {key: mood, eq: calm}]", True),
    ("all: [{key: count, gte: 3}, {key: mood, eq: sleepy}]", False),
    ("any: [{key: count, gte: 9}, {key: mood, eq: calm}]", True),
    ("not: {key: count, eq: 3}", False),
])
def test_condition_operators(harness, tmp_path, test, holds):
    h = make(harness, tmp_path, "condition: check\n" + test + "\n")
    h.tick()
    assert_status(h, "check", SUCCESS if holds else FAILURE)


def test_condition_follows_the_blackboard_from_tick_to_tick(harness, tmp_path):
    h = make(harness, tmp_path, """\
        condition: check
        key: count
        gte: 5
        """)
    h.tick()
    assert_status(h, "check", FAILURE)
    h.bb["count"] = 5
    h.tick()
    assert_status(h, "check", SUCCESS)


def test_condition_reads_built_in_keys_refreshed_each_tick(harness, tmp_path):
    h = make(harness, tmp_path, """\
        sequence: both
        memory: false
        children:
          - condition: late
            key: show.time_s
            gte: 5.0
          - condition: chat waiting
            key: chat.pending
            gte: 1
        """)
    h.run_for(4.9)
    assert_status(h, "both/late", FAILURE)
    h.run_for(0.2)
    assert_status(h, "both/late", SUCCESS)
    assert_status(h, "both/chat waiting", FAILURE)
    h.send("chat", viewer="Ann", text="hello")
    h.tick()
    assert h.bb["chat.pending"] == 1
    assert_status(h, "both", SUCCESS)


def test_tree_text_shows_each_node_with_its_status(harness, tmp_path):
    h = make(harness, tmp_path, GUARDED.format(abort="none"))
    h.run_for(0.5)
    text = h.tree_text()
    assert "gate [✕]" in text, text
    assert "fallback [*]" in text, text
