"""director: a show director for AI VTubers.

The public API: load a show, run it, and the event types listeners produce.
"""

from director.clock import Clock, RealClock, SimClock
from director.engine import Director
from director.errors import DirectorError, ShowError, ShowErrors, ShowLoadError
from director.events import (
    Chat,
    Enter,
    Event,
    Follow,
    Gift,
    Like,
    Membership,
    Money,
    Speech,
    SuperChat,
    Viewer,
)
from director.showfile import Show, load_show

__all__ = [
    "Chat", "Clock", "Director", "DirectorError", "Enter", "Event", "Follow", "Gift", "Like",
    "Membership", "Money", "RealClock", "Show", "ShowError", "ShowErrors", "ShowLoadError",
    "SimClock", "Speech", "SuperChat", "Viewer", "load_show",
]
