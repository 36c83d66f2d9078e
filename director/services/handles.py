"""Handles for work a behaviour starts on the Stage: poll `done()`, read `result`, `cancel()`.

Behaviours never block: `initialise` starts work and keeps its handle, `update` polls it each tick,
`terminate` cancels it. A handle may also finish work in the background after the behaviour that
started it was interrupted (see `Stage.detach`): thanks that are half said get finished.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Handle(Generic[T]):
    """Work in progress. Subclasses decide when it is done; `finish` sets the result."""

    def __init__(self) -> None:
        self._done = False
        self.cancelled = False
        self.result: T | None = None
        self.error: BaseException | None = None
        self._callbacks: list[Callable[[Handle[T]], Any]] = []

    def done(self) -> bool:
        return self._done

    def finish(self, result: T | None = None, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        self.result = result
        self.error = error
        callbacks, self._callbacks = self._callbacks, []
        for cb in callbacks:
            cb(self)

    def cancel(self) -> None:
        if not self._done:
            self.cancelled = True
            self.finish(None)

    def on_done(self, callback: Callable[[Handle[T]], Any]) -> None:
        if self._done:
            callback(self)
        else:
            self._callbacks.append(callback)


class Ready(Handle[T]):
    """A handle whose work is already finished (template replies, cached results)."""

    def __init__(self, result: T) -> None:
        super().__init__()
        self.finish(result)
