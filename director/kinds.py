"""The registry of node kinds a show may use: composites, decorators and behaviours.

Each kind declares its parameters (specs), the blackboard keys it reads and writes, and how to
build it, so the loader can check a tree without building it and `director schema` can describe it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from director.spec import Field

if TYPE_CHECKING:
    import py_trees

    from director.context import ShowContext
    from director.treeloader import NodeSpec, TreeLoader
    from director.yamlsource import YMap

Builder = Callable[["NodeSpec", list["py_trees.behaviour.Behaviour"], "ShowContext"],
                   "py_trees.behaviour.Behaviour"]
Validator = Callable[["NodeSpec", "YMap", "TreeLoader"], None]


@dataclass
class NodeKind:
    name: str
    category: Literal["composite", "decorator", "leaf"]
    doc: str
    build: Builder
    params: dict[str, Field] = field(default_factory=dict)
    condition_params: bool = False  # the node's keys are a condition (key + operator)
    validate: Validator | None = None
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    example: dict[str, Any] = field(default_factory=dict)


@cache
def node_kinds() -> dict[str, NodeKind]:
    from behaviours import behaviour_kinds
    from director.nodes import core_kinds

    kinds = core_kinds()
    kinds.update(behaviour_kinds())
    return kinds
