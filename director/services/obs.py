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
    last_error = ""

    def __init__(self) -> None:
        self.scene = ""
        self.subtitle = ""
        self.texts: dict[str, str] = {}
        self.problems: list[str] = []  # show names OBS does not know, once connected
        self.requests: deque[tuple[float, str, str]] = deque(maxlen=512)

    def start(self) -> None:
        """Called when the show starts running: connect (in the background) if there is OBS."""

    def close(self) -> None:
        """Called when the show ends: stop streaming if the show started it, disconnect."""

    def state(self) -> dict[str, object]:
        """What the viewer shows about OBS."""
        return {"connected": self.connected, "last_error": self.last_error,
                "scene": self.scene, "subtitle": self.subtitle, "problems": list(self.problems)}

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

    def set_text(self, source: str, text: str, now: float) -> None:
        """Set the text of a text source (a banner, a caption)."""
        self.texts[source] = text
        self._note(now, "text", f"{source}: {text}")


class OfflineObs(Obs):
    """No OBS connection: requests are recorded, nothing is sent."""
