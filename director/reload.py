"""Hot reload: apply an edited show at the next safe point, keeping what is running.

The new tree is compared with the running one node by node (by content hashes that ignore line
numbers). Unchanged nodes stay as they are, with their state; a changed node is swapped for a
freshly built one as soon as it is not RUNNING, so a segment in progress is never cut by an edit
elsewhere. A composite whose own settings changed (a priority's `reactive`, a renamed sequence)
but whose children did not is rebuilt around its existing children at once, even while running:
the root priority runs for the whole show, so waiting for it to stop would mean never.
Settings outside the tree (tiers, chat policy, persona, segments) apply at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import py_trees
from py_trees.common import Status

from director.builder import build_tree
from director.nodes import Guard, Priority

if TYPE_CHECKING:
    from director.context import ShowContext
    from director.treeloader import NodeSpec


@dataclass
class Swap:
    old: py_trees.behaviour.Behaviour
    new: NodeSpec
    keep_children: bool = False  # rebuild only this composite, around its current children


def plan_swaps(node: py_trees.behaviour.Behaviour, new: NodeSpec) -> list[Swap]:
    """Nodes to replace so the running tree matches `new`; unchanged nodes get the new spec."""
    old: NodeSpec = node.spec  # type: ignore[attr-defined]
    if old.kind != new.kind or len(node.children) != len(new.children):
        return [Swap(node, new)]
    swaps: list[Swap] = []
    if old.own_hash != new.own_hash:
        if not isinstance(node, py_trees.composites.Composite):
            return [Swap(node, new)]
        swaps.append(Swap(node, new, keep_children=True))
    else:
        node.spec = new  # type: ignore[attr-defined]
    for child, child_spec in zip(node.children, new.children, strict=True):
        swaps.extend(plan_swaps(child, child_spec))
    return swaps


def _reshell(old: py_trees.composites.Composite, spec: NodeSpec,
             ctx: ShowContext) -> py_trees.behaviour.Behaviour:
    from director.kinds import node_kinds

    children = list(old.children)
    for child in children:
        child.parent = None
    fresh = node_kinds()[spec.kind].build(spec, children, ctx)
    fresh.spec = spec  # type: ignore[attr-defined]
    fresh.status = old.status
    if isinstance(fresh, py_trees.composites.Composite) and old.current_child in children:
        fresh.current_child = old.current_child
    return fresh


def apply_swaps(root: py_trees.behaviour.Behaviour, swaps: list[Swap],
                ctx: ShowContext) -> tuple[py_trees.behaviour.Behaviour, list[Swap]]:
    """Swap every planned node that is not running; returns (root, swaps still waiting)."""
    waiting = []
    for swap in swaps:
        if swap.keep_children and isinstance(swap.old, py_trees.composites.Composite):
            fresh = _reshell(swap.old, swap.new, ctx)
        elif swap.old.status == Status.RUNNING:
            waiting.append(swap)
            continue
        else:
            fresh = build_tree(swap.new, ctx)
        parent = swap.old.parent
        if parent is None:
            root = fresh
            continue
        if isinstance(parent, py_trees.decorators.Decorator):
            parent.children[0] = fresh
            parent.decorated = fresh
            fresh.parent = parent
        else:
            index = parent.children.index(swap.old)
            parent.children[index] = fresh
            fresh.parent = parent
            if isinstance(parent, py_trees.composites.Composite) and \
                    parent.current_child is swap.old:
                parent.current_child = fresh
        if isinstance(parent, Priority):
            parent._aborters = [c for c in parent.children
                                if isinstance(c, Guard) and c.aborts_lower]
    return root, waiting
