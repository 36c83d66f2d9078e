"""The Stage: the services a show's actions use, and work left to finish in the background."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from director.services.audio import Mixer
from director.services.avatar import Avatar
from director.services.dialogue import Dialogue
from director.services.handles import Handle
from director.services.obs import Obs
from director.services.voice import Voice


@dataclass
class Stage:
    voice: Voice
    dialogue: Dialogue
    avatar: Avatar
    obs: Obs
    audio: Mixer | None = None  # the program mix (ASMR beds and triggers); None: no sound
    detached: list[tuple[Handle[Any], Callable[[], None]]] = field(default_factory=list)

    def detach(self, handle: Handle[Any], on_done: Callable[[], None]) -> None:
        """Let work finish after the behaviour that started it was interrupted.

        Used for actions that must not be cut (a thank-you already being said): the tree moves
        on, the line completes, and `on_done` then records the outcome.
        """
        self.detached.append((handle, on_done))

    def poll(self) -> None:
        """Called once per tick: complete detached work whose handle is done."""
        if not self.detached:
            return
        still = []
        for handle, on_done in self.detached:
            if handle.done():
                on_done()
            else:
                still.append((handle, on_done))
        self.detached = still
