"""Listeners: async loops that turn a source of live events into normalised `Event`s."""

from director.listeners.base import Listener
from director.listeners.sim import SimListener, read_events_file

__all__ = ["Listener", "SimListener", "read_events_file"]
