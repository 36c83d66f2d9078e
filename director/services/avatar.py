"""The avatar's state as the tree sets it: expression, motion, gaze, effects.

The renderer (its own process, the avatar issue) draws from the latest state; here the state is
kept, versioned and logged, so the tree's decisions are visible in logs and the report before any
renderer exists, and `decided_at` lets the renderer measure decision-to-frame latency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

log = logging.getLogger("director.avatar")


@dataclass
class AvatarState:
    expression: str = "neutral"
    motion: str = ""
    look: tuple[float, float] = (0.0, 0.0)
    version: int = 0
    decided_at: float = 0.0
    motions_played: int = 0
    history: list[tuple[float, str, str]] = field(default_factory=list)


class Avatar:
    HISTORY = 256

    def __init__(self) -> None:
        self.state = AvatarState()

    def _changed(self, now: float, what: str, value: str) -> None:
        s = self.state
        s.version += 1
        s.decided_at = now
        s.history.append((now, what, value))
        if len(s.history) > self.HISTORY:
            del s.history[: len(s.history) - self.HISTORY]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s -> %s", what, value)

    def express(self, expression: str, now: float) -> None:
        if expression and expression != self.state.expression:
            self.state.expression = expression
            self._changed(now, "expression", expression)

    def play(self, motion: str, now: float) -> None:
        if motion:
            self.state.motion = motion
            self.state.motions_played += 1
            self._changed(now, "motion", motion)

    def look_at(self, x: float, y: float, now: float) -> None:
        self.state.look = (max(-1.0, min(1.0, x)), max(-1.0, min(1.0, y)))
        self._changed(now, "look", f"{x:.2f},{y:.2f}")
