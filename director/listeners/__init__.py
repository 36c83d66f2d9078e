"""Listeners: async loops that turn a source of live events into normalised `Event`s.

Every module in this package may define listener classes; a class with a non-empty `kind` is a
platform a show can name under `platforms:` (its `settings` are checked like any show section).
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from director.listeners.base import (
    Backoff,
    ConnectionListener,
    Emit,
    Listener,
    ListenerConfigError,
)
from director.listeners.sim import SimListener, read_events_file
from director.spec import Field, Record, Str


@cache
def listener_kinds() -> dict[str, type[Listener]]:
    """Every listener kind, by the `kind` name shows use."""
    kinds: dict[str, type[Listener]] = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in ("base", "protowire"):
            continue
        mod = importlib.import_module(f"{__name__}.{module.name}")
        for value in vars(mod).values():
            if isinstance(value, type) and issubclass(value, Listener) and \
                    value.__module__ == mod.__name__ and value.kind:
                kinds[value.kind] = value
    return kinds


def platform_records() -> dict[str, Record]:
    """The settings of each listener kind as show-file records (with the `kind` key)."""
    return {
        kind: Record({"kind": Field(Str(), "listener kind", required=True), **cls.settings},
                     doc=cls.doc)
        for kind, cls in listener_kinds().items()
    }


__all__ = [
    "Backoff", "ConnectionListener", "Emit", "Listener", "ListenerConfigError", "SimListener",
    "listener_kinds", "platform_records", "read_events_file",
]
