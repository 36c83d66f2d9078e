"""Idle performance: life when nothing else runs, self-talk after a silence, and the model's
background work on thank-you variations.

Self-talk: after the show's idle silence the node asks the dialogue service for a line
(`dialogue.talk(topic, language, segment)`) and says it through `SpokenReply`, sentence by
sentence as the model writes, each sentence moderated like a chat reply. The tick never waits:
the handle is polled. Topics rotate through the persona's topics (`ctx.topic_turn`); the language
is the topic's own when it is written in a CJK script the persona speaks, otherwise the persona's
languages take turns. With the template responder the line is the persona's `self_talk` line,
at once, as before. Idle talk is interruptible: when a higher priority takes over (terminate
INVALID) the talk is cancelled, generation and speech alike. A talk that said nothing (moderated,
empty) waits another full silence before the next try, so a failing model is not asked each tick.

While the idle node runs the model is otherwise unused, so it also pumps the dialogue's
`ThanksPool` (behaviours.gifts): one thank-you variation at a time, paused (cancelled) when the
node is interrupted, so a chat reply or a gift never waits behind it. `vary_thanks: 0` turns it
off; without a model there is no pool.
"""

from __future__ import annotations

from typing import Any

from behaviours.base import INVALID, RUNNING, ShowBehaviour
from behaviours.chat import SpokenReply
from behaviours.gifts import thanks_pool
from director.language import detect_language
from director.spec import Bool, Field, Int


class IdlePerformance(ShowBehaviour):
    kind = "idle"
    doc = ("Idle motions and glances around on the show's idle schedule; after the idle silence, "
           "a self-talk line about one of the persona's topics (from the dialogue model when "
           "there is one; cut when a higher priority takes over). While idle, the model writes "
           "variations of the thank-you lines. Always RUNNING: put it last.")
    params = {
        "self_talk": Field(Bool(), "talk to chat after a silence", default=True),
        "vary_thanks": Field(Int(minimum=0), "model-written variations to keep of each "
                             "thank-you line, written while idle (0 = templates only)",
                             default=2),
    }
    reads = ("idle.silence_s",)
    talk: SpokenReply | None = None

    def initialise(self) -> None:
        now = self.now()
        self.next_look = now
        self.next_talk = now  # a talk that said nothing pushes this a full silence ahead
        self.talk = None
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
        if self.talk is not None and self.talk.done():
            if not self.talk.lines:
                self.next_talk = now + idle["silence_s"]
            self.talk = None
        voice = ctx.stage.voice
        if self.p["self_talk"] and self.talk is None and now >= self.next_talk \
                and not voice.busy and voice.silence(now) >= idle["silence_s"]:
            self.talk = self._start_talk()
            self.talk.done()  # a template line is said in this tick
        if self.p["vary_thanks"]:
            pool = thanks_pool(ctx.stage.dialogue, size=self.p["vary_thanks"])
            if pool is not None:
                pool.pump(ctx)
        return RUNNING

    def _start_talk(self) -> SpokenReply:
        ctx = self.ctx
        persona = ctx.show.persona
        topics = persona["topics"] or [""]
        turn = ctx.topic_turn
        topic = topics[turn % len(topics)]
        ctx.topic_turn += 1
        languages = persona["languages"] or ["en"]
        language = detect_language(topic) if topic else "en"
        if language == "en" or language not in languages:
            language = languages[turn % len(languages)]
        active = ctx.segments.active()
        reply = ctx.stage.dialogue.talk(topic=topic, language=language,
                                        segment=active.name if active is not None else "")
        return SpokenReply(ctx, reply, reason="idle")

    def terminate(self, new_status: Any) -> None:
        if new_status != INVALID:
            return
        if self.talk is not None:
            self.talk.cancel()
            self.talk = None
        pool = thanks_pool(self.ctx.stage.dialogue)
        if pool is not None:
            pool.pause()
