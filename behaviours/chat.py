"""Chat replies: answer the best waiting message, at most once per reply interval."""

from __future__ import annotations

from typing import Any

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from director.chat import CLASS_MEMBER, chat_class
from director.events import Event
from director.services.dialogue import Reply
from director.services.handles import Handle
from director.spec import Bool, Choice, Field, ListOf


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
    reply: Handle[Reply] | None = None
    speech: Handle[Any] | None = None

    def initialise(self) -> None:
        self.event = self.reply = self.speech = None
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
        self.reply = ctx.stage.dialogue.reply(event, topic=ctx.rng.choice(topics) if topics else "")

    def update(self) -> Any:
        if self.event is None or self.reply is None:
            return FAILURE
        if self.speech is None:
            if not self.reply.done():
                return RUNNING
            reply = self.reply.result or Reply("")
            text, emotion = reply.text.strip(), reply.emotion
            verdict = self.ctx.chat.moderator.check_output(text) if text else None
            if not text or verdict is not None:
                detail = f"reply {verdict.rule}: {verdict.detail}" if verdict else "empty reply"
                self.ctx.settle([(self.event, "moderated")], self.path, detail)
                self.event = None
                return SUCCESS
            now = self.now()
            self.ctx.stage.avatar.express(emotion, now)
            self.ctx.stage.obs.set_subtitle(text, now)
            self.speech = self.ctx.stage.voice.speak(
                text, reason="chat", emotion=emotion, language=reply.language)
        if not self.speech.done():
            return RUNNING
        self.ctx.settle([(self.event, "replied")], self.path)
        self.event = None
        return SUCCESS

    def terminate(self, new_status: Any) -> None:
        if new_status != INVALID or self.event is None:
            return
        event, reply, speech = self.event, self.reply, self.speech
        self.event = self.reply = self.speech = None
        path = self.path
        if speech is not None:
            if self.p["uninterruptible"]:
                self.ctx.stage.detach(speech, lambda: self.ctx.settle([(event, "replied")], path))
                return
            speech.cancel()
            self.ctx.settle([(event, "replied")], path, "cut short by a higher priority")
            return
        if reply is not None:
            reply.cancel()
        self.ctx.release([event])
        self.ctx.chat.give_back(event, event.received)
