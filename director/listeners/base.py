"""The listener contract: connect, decode, emit, reconnect; never raise into the director."""

from __future__ import annotations

import logging
from collections.abc import Callable

from director.events import Event

Emit = Callable[[Event], bool]  # returns False for a duplicate (already in the ledger)


class Listener:
    """Base: `run(emit)` loops until cancelled; `name` identifies it in logs and the viewer."""

    name = "listener"

    def __init__(self) -> None:
        self.log = logging.getLogger(f"director.listeners.{self.name}")
        self.received = 0
        self.duplicates = 0
        self.errors = 0
        self.finished = False

    async def run(self, emit: Emit) -> None:
        raise NotImplementedError
