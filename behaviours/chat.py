"""Chat replies: answer the best waiting message, at most once per reply interval.

A reply is said sentence by sentence as it arrives (`SpokenReply`): with a model dialogue the
first sentence is on the voice while the model still writes the second, so speech starts before
generation ends. A template reply arrives whole and is said as one line, as before. Every
sentence passes the output moderation before it is said; the first one that fails ends the
reply there (and the event is 'moderated' when nothing had been said yet).
"""

from __future__ import annotations

from typing import Any

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from director.chat import CLASS_MEMBER, chat_class
from director.context import ShowContext
from director.events import Event
from director.language import detect_language
from director.services.dialogue import Reply, ReplyStream
from director.services.handles import Handle
from director.spec import Bool, Choice, Field, ListOf


class SpokenReply(Handle[None]):
    """A reply being said: each sentence is moderated and queued on the voice as it arrives.

    Done when the reply is complete and its last line has been heard. `outcome` is 'replied' or
    'moderated' (with `detail`) once done. Polled by the behaviour, or by the Stage after the
    behaviour detached it, so a reply that must not be cut keeps speaking its later sentences.
    Any `Dialogue` handle works: `dialogue.talk(...)` (self-talk) and `dialogue.vary(...)` (a
    thank-you in the persona's words) are said the same way.
    """

    def __init__(self, ctx: ShowContext, reply: Handle[Reply], *, reason: str = "chat") -> None:
        super().__init__()
        self.ctx = ctx
        self.reply = reply
        self.reason = reason  # the speech log's reason: chat, or idle for self-talk
        self.lines: list[Handle[Any]] = []
        self.outcome = "replied"
        self.detail: str | None = None
        self.stopped = False  # no further sentences are said (moderated or cut)

    @property
    def started(self) -> bool:
        return bool(self.lines)

    def _new_sentences(self) -> list[str]:
        if isinstance(self.reply, ReplyStream):
            return self.reply.take()
        if self.reply.done() and not self.lines and not self.stopped:
            result = self.reply.result
            return [result.text] if result is not None else []
        return []

    def _emotion(self) -> str:
        if isinstance(self.reply, ReplyStream) and self.reply.emotion:
            return self.reply.emotion
        result = self.reply.result
        return result.emotion if result is not None else "neutral"

    def pump(self) -> None:
        """Say the sentences that arrived since the last call."""
        if self.stopped:
            return
        for sentence in self._new_sentences():
            text = sentence.strip()
            if not text:
                continue
            verdict = self.ctx.chat.moderator.check_output(text)
            if verdict is not None:
                self.stopped = True
                self.reply.cancel()
                if not self.lines:
                    self.outcome = "moderated"
                    self.detail = f"reply {verdict.rule}: {verdict.detail}"
                else:
                    self.detail = f"reply cut by {verdict.rule}: {verdict.detail}"
                return
            now = self.ctx.clock.now()
            emotion = self._emotion()
            stage = self.ctx.stage
            if not self.lines:
                stage.avatar.express(emotion, now)
                stage.obs.set_subtitle(text, now)
            result = self.reply.result
            language = (result.language if result is not None and not isinstance(
                self.reply, ReplyStream) else detect_language(text))
            self.lines.append(stage.voice.speak(text, reason=self.reason, emotion=emotion,
                                                language=language))

    def done(self) -> bool:
        if self._done:
            return True
        self.pump()
        if not (self.stopped or self.reply.done()):
            return False
        self.pump()  # sentences that came with the end (a fallback line)
        if not self.lines and self.outcome == "replied":
            self.outcome, self.detail = "moderated", "empty reply"
        if all(line.done() for line in self.lines):
            self.finish(None)
        return self._done

    def cancel(self) -> None:
        """Stop generating and cut what is being said."""
        if self._done:
            return
        self.stopped = True
        self.reply.cancel()
        for line in self.lines:
            line.cancel()
        super().cancel()


class ReplyChat(ShowBehaviour):
    kind = "reply_chat"
    doc = ("Pick the best waiting message (operator speech, super chats, members, questions, the "
           "rest) and answer it through the dialogue service and the voice. Ordinary chat waits "
           "for the show's reply interval. Fails when nothing may be answered now.")
    params = {
        "kinds": Field(ListOf(Choice("speech", "super_chat", "chat"), min_items=1),
                       "which messages this node answers",
                       default=["speech", "super_chat", "chat"]),
        "uninterruptible": Field(Bool(), "finish a reply already being said when a higher "
                                 "priority takes over (false: cut it off)", default=True),
    }
    reads = ("chat.ready", "chat.pending", "superchats.pending", "speech.pending")
    event: Event | None = None
    speech: SpokenReply | None = None

    def initialise(self) -> None:
        self.event = self.speech = None
        ctx = self.ctx
        now = self.now()
        event = ctx.chat.take(now, kinds=tuple(self.p["kinds"]))
        if event is None:
            return
        self.event = event
        if chat_class(event) >= CLASS_MEMBER:
            ctx.chat.last_reply_at = now
        ctx.claim([event], self.path)
        topics = ctx.show.persona["topics"]
        ctx.stage.avatar.look_at(0.0, 0.0, now)
        active = ctx.segments.active()
        reply = ctx.stage.dialogue.reply(
            event, topic=ctx.rng.choice(topics) if topics else "",
            segment=active.name if active is not None else "")
        self.speech = SpokenReply(ctx, reply)

    def update(self) -> Any:
        if self.event is None or self.speech is None:
            return FAILURE
        if not self.speech.done():
            return RUNNING
        self.ctx.settle([(self.event, self.speech.outcome)], self.path, self.speech.detail)
        self.event = None
        return SUCCESS

    def terminate(self, new_status: Any) -> None:
        if new_status != INVALID or self.event is None:
            return
        event, speech = self.event, self.speech
        self.event = self.speech = None
        path = self.path
        if speech is not None and speech.started:
            if self.p["uninterruptible"]:
                def settle() -> None:
                    self.ctx.settle([(event, speech.outcome)], path, speech.detail)
                self.ctx.stage.detach(speech, settle)
                return
            speech.cancel()
            self.ctx.settle([(event, "replied")], path, "cut short by a higher priority")
            return
        if speech is not None:
            speech.cancel()
        self.ctx.release([event])
        self.ctx.chat.give_back(event, event.received)
