"""Composites, decorators and the condition leaf, on top of py_trees, timed by the show clock.

py_trees gives the tick protocol and the stock composites; what it lacks for shows is a clock that
tests and `--speed` can replace (its Timeout reads `time.monotonic()`) and guard aborts. So:

- `priority` is py_trees' Selector. `reactive: true` (the default) re-checks higher branches every
  tick and interrupts lower ones. `reactive: false` keeps the running branch, except that guards
  with `abort: lower|both` above it are still checked each tick and take over when they pass.
- `guard` runs its child only while `when` holds. `abort: self|both` stops the running child when
  the condition turns false; `abort: lower|both` lets it preempt lower siblings (see above).
- `timeout`, `cooldown`, `retry`, `once`, `invert` as their names say, on the show clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import py_trees
from py_trees.common import ParallelPolicy, Status

from director.kinds import NodeKind
from director.spec import Bool, Choice, Duration, Field, Int, Spec

if TYPE_CHECKING:
    from director.conditions import Predicate
    from director.context import ShowContext
    from director.treeloader import NodeSpec, TreeLoader
    from director.yamlsource import YMap

RUNNING, SUCCESS, FAILURE, INVALID = Status.RUNNING, Status.SUCCESS, Status.FAILURE, Status.INVALID


class AnyCondition(Spec):
    """Spec placeholder for a condition mapping; compiled by the node's validate hook."""

    def check(self, value: Any, place: Any, label: str, ck: Any) -> Any:
        return value

    def schema(self) -> dict[str, Any]:
        return {"$ref": "#/$defs/condition"}

    def describe(self) -> str:
        return "condition"


class Priority(py_trees.composites.Selector):
    """A selector; non-reactive ones still honour guards that abort lower priorities."""

    def __init__(self, name: str, *, reactive: bool, children: list[py_trees.behaviour.Behaviour]):
        super().__init__(name, memory=not reactive, children=children)
        self._aborters = [c for c in children if isinstance(c, Guard) and c.aborts_lower]

    def tick(self) -> Iterator[py_trees.behaviour.Behaviour]:
        if self.memory and self.status == RUNNING and self._aborters and self.current_child:
            running = self.current_child
            limit = self.children.index(running)
            for guard in self._aborters:
                if self.children.index(guard) >= limit:
                    break
                if guard.holds():
                    running.stop(INVALID)
                    self.current_child = guard
                    break
        yield from super().tick()


class Guard(py_trees.decorators.Decorator):
    """Runs its child while a condition holds; abort none|self|lower|both."""

    def __init__(self, name: str, child: py_trees.behaviour.Behaviour, *, check: Predicate,
                 abort: str, ctx: ShowContext) -> None:
        super().__init__(name=name, child=child)
        self.check = check
        self.values = ctx.bb.values
        self.aborts_self = abort in ("self", "both")
        self.aborts_lower = abort in ("lower", "both")

    def holds(self) -> bool:
        return self.check(self.values)

    def tick(self) -> Iterator[py_trees.behaviour.Behaviour]:
        if self.status == RUNNING:
            if self.aborts_self and not self.check(self.values):
                self.stop(FAILURE)
                yield self
                return
        elif not self.check(self.values):
            self.status = FAILURE
            yield self
            return
        yield from self.decorated.tick()
        status = self.decorated.status
        if status != RUNNING:
            self.stop(status)
        self.status = status
        yield self

    def update(self) -> Status:
        return self.decorated.status


class Timeout(py_trees.decorators.Decorator):
    """Fails (and stops its child) when the child runs longer than `seconds` of show time."""

    def __init__(self, name: str, child: py_trees.behaviour.Behaviour, *, seconds: float,
                 ctx: ShowContext) -> None:
        super().__init__(name=name, child=child)
        self.seconds = seconds
        self.clock = ctx.clock
        self.deadline = 0.0

    def initialise(self) -> None:
        self.deadline = self.clock.now() + self.seconds

    def update(self) -> Status:
        if self.decorated.status == RUNNING and self.clock.now() >= self.deadline:
            self.decorated.stop(INVALID)
            self.feedback_message = "timed out"
            return FAILURE
        return self.decorated.status


class Cooldown(py_trees.decorators.Decorator):
    """After its child succeeds, fails without ticking the child for `seconds`."""

    def __init__(self, name: str, child: py_trees.behaviour.Behaviour, *, seconds: float,
                 ctx: ShowContext) -> None:
        super().__init__(name=name, child=child)
        self.seconds = seconds
        self.clock = ctx.clock
        self.ready_at = float("-inf")

    def tick(self) -> Iterator[py_trees.behaviour.Behaviour]:
        if self.status != RUNNING and self.clock.now() < self.ready_at:
            self.status = FAILURE
            self.feedback_message = "cooling down"
            yield self
            return
        yield from super().tick()

    def update(self) -> Status:
        status = self.decorated.status
        if status == SUCCESS:
            self.ready_at = self.clock.now() + self.seconds
        return status


class Retry(py_trees.decorators.Decorator):
    """Restarts a failing child until it has failed `times` times in a row."""

    def __init__(self, name: str, child: py_trees.behaviour.Behaviour, *, times: int) -> None:
        super().__init__(name=name, child=child)
        self.times = times
        self.failures = 0

    def initialise(self) -> None:
        self.failures = 0

    def update(self) -> Status:
        if self.decorated.status == FAILURE:
            self.failures += 1
            return FAILURE if self.failures >= self.times else RUNNING
        return self.decorated.status


class Once(py_trees.decorators.Decorator):
    """Runs its child to completion once; afterwards returns that result without ticking it."""

    def __init__(self, name: str, child: py_trees.behaviour.Behaviour, *, on: str) -> None:
        super().__init__(name=name, child=child)
        self.latch_failure = on == "completion"
        self.final: Status | None = None

    def tick(self) -> Iterator[py_trees.behaviour.Behaviour]:
        if self.final is not None:
            self.status = self.final
            yield self
            return
        yield from super().tick()

    def update(self) -> Status:
        status = self.decorated.status
        if status == SUCCESS or (status == FAILURE and self.latch_failure):
            self.final = status
        return status


class Invert(py_trees.decorators.Decorator):
    """SUCCESS ⇄ FAILURE; RUNNING stays RUNNING."""

    def update(self) -> Status:
        status = self.decorated.status
        if status == SUCCESS:
            return FAILURE
        if status == FAILURE:
            return SUCCESS
        return status


class Condition(py_trees.behaviour.Behaviour):
    """SUCCESS when its condition holds on the blackboard, else FAILURE. Never RUNNING."""

    def __init__(self, name: str, *, check: Predicate, ctx: ShowContext) -> None:
        super().__init__(name)
        self.check = check
        self.values = ctx.bb.values

    def tick(self) -> Iterator[py_trees.behaviour.Behaviour]:
        # The whole Behaviour.tick protocol, minus its eager debug-string formatting: this leaf is
        # ticked by every reactive priority on every tick.
        self.status = SUCCESS if self.check(self.values) else FAILURE
        yield self

    def update(self) -> Status:
        return SUCCESS if self.check(self.values) else FAILURE


def _one(children: list[py_trees.behaviour.Behaviour]) -> py_trees.behaviour.Behaviour:
    return children[0]


def _validate_condition_only(node: NodeSpec, raw: YMap, loader: TreeLoader) -> None:
    from director.conditions import compile_condition

    if "when" in raw:
        node.params["check"] = compile_condition(raw["when"], raw.value_place("when"),
                                                 f"{node.name}.when", loader.keys, loader.ck)


def core_kinds() -> dict[str, NodeKind]:
    def priority(spec: NodeSpec, ch: list[Any], ctx: ShowContext) -> Any:
        return Priority(spec.name, reactive=spec.params["reactive"], children=ch)

    def sequence(spec: NodeSpec, ch: list[Any], ctx: ShowContext) -> Any:
        return py_trees.composites.Sequence(spec.name, memory=spec.params["memory"], children=ch)

    def parallel(spec: NodeSpec, ch: list[Any], ctx: ShowContext) -> Any:
        # synchronise: a child that has succeeded is not ticked again (a finished `speak` would
        # say its line again, and children of different lengths would never all succeed at once)
        policy = (ParallelPolicy.SuccessOnAll(synchronise=True)
                  if spec.params["succeed_on"] == "all" else ParallelPolicy.SuccessOnOne())
        return py_trees.composites.Parallel(spec.name, policy=policy, children=ch)

    kinds = [
        NodeKind("priority", "composite",
                 "tries children in order; the first that runs or succeeds wins", priority,
                 {"reactive": Field(Bool(), "re-check higher branches every tick and interrupt "
                                    "lower ones", default=True)}),
        NodeKind("sequence", "composite", "runs children one after another; fails on a failure",
                 sequence,
                 {"memory": Field(Bool(), "resume at the running child instead of re-checking "
                                  "earlier ones", default=True)}),
        NodeKind("parallel", "composite", "ticks all children together", parallel,
                 {"succeed_on": Field(Choice("all", "one"), "succeed when all / one succeed",
                                      default="all")}),
        NodeKind("guard", "decorator", "runs its child while a condition holds",
                 lambda s, ch, ctx: Guard(s.name, _one(ch), check=s.params["check"][0],
                                          abort=s.params["abort"], ctx=ctx),
                 {"when": Field(AnyCondition(), "the condition", required=True),
                  "abort": Field(Choice("none", "self", "lower", "both"),
                                 "self: stop the child when the condition turns false; lower: "
                                 "preempt lower siblings when it turns true", default="none")},
                 validate=_validate_condition_only),
        NodeKind("timeout", "decorator", "fails when the child runs too long",
                 lambda s, ch, ctx: Timeout(s.name, _one(ch), seconds=s.params["seconds"],
                                            ctx=ctx),
                 {"seconds": Field(Duration(minimum=0.001), "longest run", required=True)}),
        NodeKind("cooldown", "decorator", "after a success, fails for a while",
                 lambda s, ch, ctx: Cooldown(s.name, _one(ch), seconds=s.params["seconds"],
                                             ctx=ctx),
                 {"seconds": Field(Duration(), "cool-down time", required=True)}),
        NodeKind("retry", "decorator", "restarts a failing child",
                 lambda s, ch, ctx: Retry(s.name, _one(ch), times=s.params["times"]),
                 {"times": Field(Int(minimum=1), "attempts before failing", default=3)}),
        NodeKind("once", "decorator", "runs the child once, then repeats its result",
                 lambda s, ch, ctx: Once(s.name, _one(ch), on=s.params["on"]),
                 {"on": Field(Choice("success", "completion"),
                              "latch after a success only, or after any result",
                              default="success")}),
        NodeKind("invert", "decorator", "turns success into failure and back",
                 lambda s, ch, ctx: Invert(s.name, _one(ch))),
        NodeKind("condition", "leaf", "succeeds when a blackboard test holds",
                 lambda s, ch, ctx: Condition(s.name, check=s.params["check"][0], ctx=ctx),
                 condition_params=True),
    ]
    return {k.name: k for k in kinds}

