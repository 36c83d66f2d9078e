"""The Stage: services that actions use (voice, dialogue, avatar, OBS), each behind a small base."""

from director.services.handles import Handle
from director.services.stage import Stage

__all__ = ["Handle", "Stage"]
