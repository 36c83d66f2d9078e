"""Chat selection: which message, if any, the avatar answers next.

Chat is selected, not answered one by one. Every incoming message is first moderated (never
spoken if caught), then screened for duplicates and spam (skipped), then kept as a candidate in a
bounded pool. `take` returns the best candidate: the operator's speech, then super chats (largest
first), then members, then questions, then the rest, oldest first within a class. Ordinary chat
waits for the reply interval; super chats and the operator do not. Messages older than `max_age_s`
are skipped, and when the pool is full the lowest-ranked oldest message is skipped to make room;
every skip is reported with its reason, so nothing disappears silently.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Any

from director.events import Chat, Event, Speech, SuperChat
from director.moderation import Moderator, Verdict, normalise

_QUESTION = re.compile(
    r"[?？]|吗|呢|什么|怎么|为什么|哪|几|多少|谁|^(who|what|when|where|why|how|do|does|did|is|are|"
    r"can|could|will|would|should)\b", re.IGNORECASE)
_FLOOD = re.compile(r"^(.{1,3})\1{7,}$", re.DOTALL)

CLASS_SPEECH, CLASS_SUPER, CLASS_MEMBER, CLASS_QUESTION, CLASS_CHAT = range(5)


def is_question(text: str) -> bool:
    return bool(_QUESTION.search(text.strip()))


def chat_class(event: Event) -> int:
    if isinstance(event, Speech):
        return CLASS_SPEECH
    if isinstance(event, SuperChat):
        return CLASS_SUPER
    if event.viewer.level > 0:
        return CLASS_MEMBER
    if isinstance(event, Chat) and is_question(event.text):
        return CLASS_QUESTION
    return CLASS_CHAT


class ChatPool:
    def __init__(self, chat: dict[str, Any]) -> None:
        self.pool: list[tuple[int, float, Event]] = []
        self._recent_texts: dict[str, float] = {}
        self._by_viewer: dict[str, deque[float]] = {}
        self.last_reply_at = float("-inf")
        self.configure(chat)

    def configure(self, chat: dict[str, Any]) -> None:
        self.interval = float(chat["reply_interval_s"])
        self.max_age = float(chat["max_age_s"])
        self.dup_window = float(chat["duplicate_window_s"])
        self.spam_limit = int(chat["spam_per_viewer"])
        self.spam_window = float(chat["spam_window_s"])
        self.pool_size = int(chat["pool_size"])
        self.moderator = Moderator(banned_words=list(chat["banned_words"]),
                                   max_length=int(chat["max_length"]))

    def __len__(self) -> int:
        return len(self.pool)

    def moderate(self, event: Event) -> Verdict | None:
        text = getattr(event, "text", "")
        if event.kind == "speech":
            # the operator at the microphone is trusted: "you are now in ASMR mode" is direction,
            # not an injection, and long speech is fine; banned words are still never repeated
            return self.moderator.check_output(text)
        return self.moderator.check(text, event.viewer.name)

    def add(self, event: Event, now: float) -> list[tuple[Event, str, str]]:
        """Screen and keep a message. Returns events settled now: (event, outcome, reason)."""
        verdict = self.moderate(event)
        if verdict is not None:
            return [(event, "moderated", f"{verdict.rule}: {verdict.detail}")]
        cls = chat_class(event)
        if cls >= CLASS_MEMBER:  # paid messages and the operator are never spam
            text = normalise(getattr(event, "text", ""))
            if not text or _FLOOD.match(text):
                return [(event, "skipped", "spam: flood")]
            seen = self._recent_texts.get(text)
            self._recent_texts[text] = now
            if len(self._recent_texts) > 4096:
                self._forget_texts(now)
            if seen is not None and now - seen <= self.dup_window:
                return [(event, "skipped", "duplicate")]
            times = self._by_viewer.setdefault(event.viewer.key, deque())
            while times and now - times[0] > self.spam_window:
                times.popleft()
            times.append(now)
            if len(times) > self.spam_limit:
                return [(event, "skipped", "spam: too many messages")]
        self.pool.append((cls, now, event))
        settled: list[tuple[Event, str, str]] = []
        while len(self.pool) > self.pool_size:
            worst = max(self.pool, key=lambda item: (item[0], -item[1]))
            self.pool.remove(worst)
            settled.append((worst[2], "skipped", "pool full"))
        return settled

    def _forget_texts(self, now: float) -> None:
        self._recent_texts = {t: s for t, s in self._recent_texts.items()
                              if now - s <= self.dup_window}
        self._by_viewer = {k: d for k, d in self._by_viewer.items()
                           if d and now - d[-1] <= self.spam_window}

    def expire(self, now: float) -> list[tuple[Event, str, str]]:
        """Skip ordinary messages older than max_age (paid ones and the operator never expire)."""
        old = [item for item in self.pool
               if item[0] >= CLASS_MEMBER and now - item[1] > self.max_age]
        for item in old:
            self.pool.remove(item)
        return [(item[2], "skipped", "too old") for item in old]

    def counts(self, now: float) -> tuple[int, int, int, bool]:
        """(speech, super chats, other chat, ready) for the blackboard."""
        speech = supers = rest = 0
        for cls, _, _ in self.pool:
            if cls == CLASS_SPEECH:
                speech += 1
            elif cls == CLASS_SUPER:
                supers += 1
            else:
                rest += 1
        ready = bool(speech or supers or (rest and now - self.last_reply_at >= self.interval))
        return speech, supers, rest, ready

    def take(self, now: float, *, kinds: tuple[str, ...]) -> Event | None:
        """Remove and return the best message of the given kinds that may be answered now."""
        interval_ok = now - self.last_reply_at >= self.interval
        best: tuple[int, float, Event] | None = None
        for item in self.pool:
            cls, at, event = item
            if event.kind not in kinds:
                continue
            if cls >= CLASS_MEMBER and not interval_ok:
                continue
            key = (cls, -event.money, at)
            if best is None or key < (best[0], -best[2].money, best[1]):
                best = item
        if best is None:
            return None
        self.pool.remove(best)
        return best[2]

    def give_back(self, event: Event, at: float) -> None:
        self.pool.append((chat_class(event), at, event))
