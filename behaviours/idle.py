"""Idle performance: life when nothing else runs, and self-talk after a silence."""

from __future__ import annotations

from typing import Any

from behaviours.base import RUNNING, ShowBehaviour
from director.services.dialogue import choose, fill
from director.spec import Bool, Field


class IdlePerformance(ShowBehaviour):
    kind = "idle"
    doc = ("Idle motions and glances around on the show's idle schedule; after the idle silence, "
           "a self-talk line about one of the persona's topics. Always RUNNING: put it last.")
    params = {
        "self_talk": Field(Bool(), "talk to chat after a silence", default=True),
    }
    reads = ("idle.silence_s",)

    def initialise(self) -> None:
        now = self.now()
        self.next_look = now
        self.ctx.stage.avatar.express("neutral", now)

    def update(self) -> Any:
        ctx = self.ctx
        now = self.now()
        idle = ctx.show.idle
        if now >= self.next_look:
            self.next_look = now + idle["look_every_s"]
            motions = idle["motions"]
            if motions:
                ctx.stage.avatar.play(ctx.rng.choice(motions), now)
            ctx.stage.avatar.look_at(ctx.rng.uniform(-0.6, 0.6), ctx.rng.uniform(-0.3, 0.3), now)
        voice = ctx.stage.voice
        if self.p["self_talk"] and not voice.busy and voice.silence(now) >= idle["silence_s"]:
            persona = ctx.show.persona
            topics = persona["topics"] or [""]
            topic = topics[ctx.topic_turn % len(topics)]
            ctx.topic_turn += 1
            template, lang = choose(persona["self_talk"], topic or persona["name"], ctx.rng)
            voice.speak(fill(template, {"topic": topic, "name": persona["name"]}), reason="idle",
                        language=lang)
        return RUNNING
