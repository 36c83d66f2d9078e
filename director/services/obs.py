"""OBS requests from the show: scene switches, effects, subtitle text.

`OfflineObs` is what a show gets with `obs.enabled: false` (or before OBS answers): it keeps the
requests the show made and what OBS would now show, so the show runs the same with or without OBS,
and the viewer can show it. The obs-websocket client (the OBS issue) implements the same base.
"""

from __future__ import annotations

import logging
from collections import deque

log = logging.getLogger("director.obs")


class Obs:
    connected = False

    def __init__(self) -> None:
        self.scene = ""
        self.subtitle = ""
        self.requests: deque[tuple[float, str, str]] = deque(maxlen=512)

    def _note(self, now: float, what: str, value: str) -> None:
        self.requests.append((now, what, value))

    def switch_scene(self, scene: str, now: float) -> None:
        if scene and scene != self.scene:
            self.scene = scene
            self._note(now, "scene", scene)
            log.info("scene -> %s", scene)

    def show_effect(self, effect: str, now: float) -> None:
        if effect:
            self._note(now, "effect", effect)
            log.info("effect %s", effect)

    def set_subtitle(self, text: str, now: float) -> None:
        self.subtitle = text
        self._note(now, "subtitle", text)


class OfflineObs(Obs):
    """No OBS connection: requests are recorded, nothing is sent."""
