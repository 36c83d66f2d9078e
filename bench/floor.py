"""The floor: a loaded show tree rebuilt directly with py_trees, node for node.

`raw_tree(spec, ...)` walks our checked `NodeSpec` tree and builds the same shape from py_trees'
own classes, so the comparison is ours against what a py_trees user would write by hand:

    priority  -> py_trees.composites.Selector(memory=not reactive)
    sequence  -> py_trees.composites.Sequence(memory=...)
    parallel  -> py_trees.composites.Parallel (same policy)
    guard     -> abort self|both: py_trees.decorators.EternalGuard (py_trees' own guard);
                 abort none|lower: Sequence(memory=True)[condition, child], the py_trees idiom
                 with the same semantics (one node more per such guard)
    invert    -> py_trees.decorators.Inverter
    cooldown  -> py_trees.decorators.PassThrough (a replayed child answers FAILURE while ours
                 was cooling down, so the parent sees the same status)
    condition -> a leaf checking the same compiled predicate on the same dict
    wait      -> a leaf that is always RUNNING (the benches use waits longer than the run)
    any other leaf (show behaviours) -> a leaf replaying, tick by tick, the status ours returned

Two leaf flavours: `stock` leaves override `update()` only, as py_trees documents, so each tick
goes through `Behaviour.tick` and its eager debug strings; `lean` leaves override `tick()` the way
our leaves do (behaviours/base.py). Composites and decorators are py_trees' own in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import py_trees
from py_trees.behaviour import Behaviour
from py_trees.common import ParallelPolicy, Status

RUNNING, SUCCESS, FAILURE = Status.RUNNING, Status.SUCCESS, Status.FAILURE
Predicate = Callable[[dict[str, Any]], bool]


class TickNumber:
    """The index of the tick being replayed, shared by every replay leaf of a tree."""

    def __init__(self) -> None:
        self.i = 0


class StockCondition(Behaviour):
    def __init__(self, name: str, check: Predicate, values: dict[str, Any]) -> None:
        super().__init__(name)
        self.check = check
        self.values = values

    def update(self) -> Status:
        return SUCCESS if self.check(self.values) else FAILURE


class LeanCondition(StockCondition):
    def tick(self) -> Iterator[Behaviour]:
        self.status = SUCCESS if self.check(self.values) else FAILURE
        yield self


class StockRunning(Behaviour):
    def update(self) -> Status:
        return RUNNING


class StockReplay(Behaviour):
    """The status ours returned at this tick; FAILURE (and a miss) if ours did not tick it."""

    def __init__(self, name: str, script: dict[int, Status], number: TickNumber) -> None:
        super().__init__(name)
        self.script = script
        self.number = number
        self.ticks = 0
        self.misses = 0

    def update(self) -> Status:
        self.ticks += 1
        status = self.script.get(self.number.i)
        if status is None:
            self.misses += 1
            return FAILURE
        return status


def _lean(cls: type[Behaviour]) -> type[Behaviour]:
    """The same leaf with our quiet tick (behaviours/base.py ShowBehaviour.tick/stop)."""

    def tick(self: Behaviour) -> Iterator[Behaviour]:
        if self.status != RUNNING:
            self.initialise()
        new_status = self.update()
        if new_status != RUNNING:
            self.stop(new_status)
        self.status = new_status
        yield self

    def stop(self: Behaviour, new_status: Status) -> None:
        self.terminate(new_status)
        self.status = new_status
        self.iterator = self.tick()

    return type(f"Lean{cls.__name__.removeprefix('Stock')}", (cls,), {"tick": tick, "stop": stop})


LeanRunning = _lean(StockRunning)
LeanReplay = _lean(StockReplay)


def raw_tree(spec: Any, *, values: dict[str, Any], lean: bool,
             scripts: dict[str, dict[int, Status]] | None = None,
             number: TickNumber | None = None, cooling: bool = False) -> Behaviour:
    """Build `spec` (a NodeSpec) with py_trees classes; see the module docstring."""
    cond = LeanCondition if lean else StockCondition
    kind, p, name = spec.kind, spec.params, spec.name
    children = [raw_tree(c, values=values, lean=lean, scripts=scripts, number=number,
                         cooling=cooling or kind == "cooldown")
                for c in spec.children]
    if kind == "priority":
        return py_trees.composites.Selector(name, memory=not p["reactive"], children=children)
    if kind == "sequence":
        return py_trees.composites.Sequence(name, memory=p["memory"], children=children)
    if kind == "parallel":
        policy = (ParallelPolicy.SuccessOnAll(synchronise=True) if p["succeed_on"] == "all"
                  else ParallelPolicy.SuccessOnOne())
        return py_trees.composites.Parallel(name, policy=policy, children=children)
    if kind == "guard":
        check: Predicate = p["check"][0]
        if p["abort"] in ("self", "both"):
            return py_trees.decorators.EternalGuard(
                name, children[0], condition=lambda: check(values))
        return py_trees.composites.Sequence(
            name, memory=True, children=[cond(f"{name}?", check, values), children[0]])
    if kind == "invert":
        return py_trees.decorators.Inverter(name, children[0])
    if kind == "cooldown":
        return py_trees.decorators.PassThrough(name, children[0])
    if kind == "condition":
        return cond(name, p["check"][0], values)
    if kind == "wait":
        return (LeanRunning if lean else StockRunning)(name)
    if children:
        raise ValueError(f"no py_trees mirror for '{kind}' ({spec.path})")
    if scripts is None or number is None:
        raise ValueError(f"leaf '{kind}' ({spec.path}) needs recorded statuses to replay")
    replay = (LeanReplay if lean else StockReplay)(name, scripts.setdefault(spec.path, {}), number)
    replay.cooling = cooling  # type: ignore[attr-defined]
    return replay


def replay_totals(root: Behaviour) -> tuple[int, int, int]:
    """(replay leaf ticks, misses, misses under a cooldown) over a tree.

    A miss is a tick of a raw leaf that ours did not tick at that tick. Under a cooldown misses are
    expected (PassThrough ticks the child while ours was cooling down); anywhere else a miss means
    the raw tree took another path than ours.
    """
    ticks = misses = cooling = 0
    for node in root.iterate():
        if isinstance(node, StockReplay):
            ticks += node.ticks
            if getattr(node, "cooling", False):
                cooling += node.misses
            else:
                misses += node.misses
    return ticks, misses, cooling
