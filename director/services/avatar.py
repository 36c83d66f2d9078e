"""The avatar's state as the tree sets it: expression, motion, gaze, parameter overrides.

Behaviours call `express`, `play` and `look_at`; the state is kept, versioned and logged here, so
the tree's decisions are visible in logs and the report whether or not a renderer runs. When one
does (`renderer.process.RendererProcess`, its own process), the engine calls `publish` once a
tick: the whole state, the lip-sync level from the program mix, and the wall time of the latest
decision (`decided_wall`, monotonic, shared by all processes) so the renderer can measure
decision-to-frame latency. Publishing writes shared memory and never waits for the renderer.

Motions carry a counter (`motions_played`): playing the same motion twice replays it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger("director.avatar")


class StateSink(Protocol):
    """Where published states go (the renderer process's supervisor)."""

    def publish(self, state: dict[str, Any]) -> None: ...


@dataclass
class AvatarState:
    expression: str = "neutral"
    motion: str = ""
    look: tuple[float, float] = (0.0, 0.0)
    version: int = 0
    decided_at: float = 0.0
    decided_wall: float = 0.0
    motions_played: int = 0
    overrides: dict[str, float] = field(default_factory=dict)
    history: list[tuple[float, str, str]] = field(default_factory=list)


class Avatar:
    HISTORY = 256

    def __init__(self, *, renderer: StateSink | None = None) -> None:
        self.state = AvatarState()
        self.renderer = renderer

    def _changed(self, now: float, what: str, value: str) -> None:
        s = self.state
        s.version += 1
        s.decided_at = now
        s.decided_wall = time.monotonic()
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

    def set_param(self, name: str, value: float | None, now: float) -> None:
        """Hold one avatar parameter (renderer.animation.PARAMS) at a value; None releases it."""
        if value is None:
            if self.state.overrides.pop(name, None) is None:
                return
        else:
            self.state.overrides[name] = float(value)
        self._changed(now, "param", f"{name}={value}")

    def snapshot(self, *, now: float, mouth: float = 0.0, mouth_ahead: list[float] | None = None,
                 speed: float = 1.0) -> dict[str, Any]:
        """The state as the renderer reads it (a plain, JSON-able dict)."""
        s = self.state
        return {"version": s.version, "expression": s.expression, "motion": s.motion,
                "motion_count": s.motions_played, "look": list(s.look),
                "overrides": dict(s.overrides), "mouth": round(mouth, 4),
                "mouth_ahead": mouth_ahead or [], "show_time": now, "wall": time.monotonic(),
                "speed": speed, "decided_at": s.decided_at, "decided_wall": s.decided_wall}

    def publish(self, *, now: float, mouth: float = 0.0, mouth_ahead: list[float] | None = None,
                speed: float = 1.0) -> None:
        """Send the current state to the renderer, if one runs (never blocks)."""
        if self.renderer is not None:
            self.renderer.publish(self.snapshot(now=now, mouth=mouth, mouth_ahead=mouth_ahead,
                                                speed=speed))
