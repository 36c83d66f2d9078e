"""The base of every show behaviour: declared parameters, a show context, a quiet tick.

Subclasses override the py_trees template methods, never `tick`:

- `initialise()`: called when the node starts (it was not RUNNING). Start long work here, as a
  handle on the Stage (speak a line, ask for a reply). Do not block.
- `update()`: called every tick while the node is ticked. Poll the handle; return RUNNING until it
  is done, then SUCCESS or FAILURE. Triggering, checking, monitoring; anything but blocking.
- `terminate(new_status)`: called when the node stops. `INVALID` means a higher priority took
  over: cancel or detach the work and give unfinished events back to their queue.

Class data (`kind`, `doc`, `params`, `reads`, `writes`) is what `director validate` and
`director schema` read; it must describe every parameter `update` uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import py_trees
from py_trees.common import Status

from director.spec import Field

if TYPE_CHECKING:
    from director.context import ShowContext
    from director.treeloader import NodeSpec, TreeLoader
    from director.yamlsource import YMap

RUNNING, SUCCESS, FAILURE, INVALID = Status.RUNNING, Status.SUCCESS, Status.FAILURE, Status.INVALID


class ShowBehaviour(py_trees.behaviour.Behaviour):
    kind: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    params: ClassVar[dict[str, Field]] = {}
    reads: ClassVar[tuple[str, ...]] = ()
    writes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: NodeSpec, ctx: ShowContext) -> None:
        super().__init__(spec.name)
        self.spec = spec
        self.ctx = ctx
        self.p: dict[str, Any] = spec.params
        self.path = spec.path

    @classmethod
    def validate(cls, node: NodeSpec, raw: YMap, loader: TreeLoader) -> None:
        """Checks beyond parameter types (names that must exist in the show, keys...)."""

    # The py_trees tick protocol without its eager per-tick debug strings (a third of a tick's
    # cost in py_trees 2.6); semantics are identical to Behaviour.tick / Behaviour.stop.
    def tick(self) -> Iterator[py_trees.behaviour.Behaviour]:
        if self.status != RUNNING:
            self.initialise()
        new_status = self.update()
        if new_status != RUNNING:
            self.stop(new_status)
        self.status = new_status
        yield self

    def stop(self, new_status: Status) -> None:
        self.terminate(new_status)
        self.status = new_status
        self.iterator = self.tick()

    def now(self) -> float:
        return self.ctx.clock.now()
