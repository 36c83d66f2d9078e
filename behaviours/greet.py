"""Greeting regulars: "welcome back" by name when a viewer starts another visit.

The viewer memory (director.memory) queues a viewer who starts their second or later visit; this
node greets the ones waiting in one line, and takes their waiting `enter` events off the crowd
queue (settled as thanked by this node), so a regular hears "welcome back, 小明" instead of the
generic "hi 小明, welcome in". Names caught by the moderator are never read out. The line lists
only names, never facts: facts belong in replies, where the viewer asked for attention.
"""

from __future__ import annotations

from typing import Any

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from behaviours.gifts import _join_names, _speakable
from director.events import Event
from director.services.dialogue import choose, fill
from director.services.handles import Handle
from director.showfile import lines_spec
from director.spec import Duration, Field, Int

GREET_FIELDS = ("names", "viewer", "visits", "name")
DEFAULT_GREETINGS = {
    "zh": ["{names}，欢迎回来～又见面啦！", "啊，是{names}！欢迎回来～"],
    "en": ["Welcome back, {names}! So good to see you again.",
           "Oh, {names}! Welcome back."],
}


class GreetRegulars(ShowBehaviour):
    kind = "greet_regulars"
    doc = ("Greet returning regulars by name (viewers starting their second or later visit, from "
           "the viewer memory) in one line, taking their waiting entries off the crowd queue. "
           "Fails when nobody is waiting to be greeted.")
    params = {
        "lines": Field(lines_spec(GREET_FIELDS), "greetings per language ({names}, {viewer}, "
                       "{visits})", default=None),
        "names": Field(Int(minimum=1), "names said aloud in one greeting", default=3),
        "min_visits": Field(Int(minimum=2), "greet from this visit on", default=2),
        "max_wait_s": Field(Duration(minimum=1), "a regular not greeted within this long after "
                            "arriving is not greeted this visit", default=120.0),
    }
    entries: list[Event] | None = None
    handle: Handle[Any] | None = None

    def initialise(self) -> None:
        self.entries = self.handle = None
        ctx = self.ctx
        if ctx.memory is None:
            return
        now = self.now()
        waiting = ctx.memory.take_returning(now, min_visits=self.p["min_visits"],
                                           max_wait_s=self.p["max_wait_s"])
        if not waiting:
            return
        keys = {w.viewer.key for w in waiting}
        entries = [e for e in ctx.crowd.waiting["enter"] if e.viewer.key in keys]
        if entries:
            ctx.crowd.waiting["enter"] = [e for e in ctx.crowd.waiting["enter"]
                                          if e.viewer.key not in keys]
            ctx.claim(entries, self.path)
        shown = [w.viewer.name for w in waiting][: self.p["names"]]
        template, lang = choose(self.p["lines"] or DEFAULT_GREETINGS, "".join(shown), ctx.rng)
        said = _speakable(ctx, shown, lang)
        line = fill(template, {"names": _join_names(said, lang), "viewer": said[0],
                               "visits": waiting[0].visits, "name": ctx.show.persona["name"]})
        ctx.stage.avatar.express("happy", now)
        self.entries = entries
        self.handle = ctx.stage.voice.speak(line, reason="greet", emotion="happy", language=lang)

    def update(self) -> Any:
        if self.entries is None or self.handle is None:
            return FAILURE
        if not self.handle.done():
            return RUNNING
        if self.entries:
            self.ctx.settle_thanks(self.entries, self.path)
        self.entries = None
        return SUCCESS

    def terminate(self, new_status: Any) -> None:
        if new_status != INVALID or self.entries is None or self.handle is None:
            return
        entries, handle, path = self.entries, self.handle, self.path
        self.entries = self.handle = None
        ctx = self.ctx

        def settle() -> None:
            if entries:
                ctx.settle_thanks(entries, path)

        ctx.stage.detach(handle, settle)
