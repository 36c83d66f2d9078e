"""NodeSpec → py_trees behaviours. Every built node keeps its spec (`node.spec`) for the viewer,
the report's `by` paths and hot reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import py_trees

from director.kinds import node_kinds

if TYPE_CHECKING:
    from director.context import ShowContext
    from director.treeloader import NodeSpec


def build_tree(spec: NodeSpec, ctx: ShowContext) -> py_trees.behaviour.Behaviour:
    kinds = node_kinds()
    children = [build_tree(child, ctx) for child in spec.children]
    node = kinds[spec.kind].build(spec, children, ctx)
    node.spec = spec  # type: ignore[attr-defined]
    return node


def path_of(node: py_trees.behaviour.Behaviour | None) -> str | None:
    spec = getattr(node, "spec", None)
    return spec.path if spec is not None else None
