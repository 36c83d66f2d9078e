"""Reply text for chat, self-talk and thank-you variations; the handle a streamed reply arrives on.

`Dialogue` is the interface the tree uses: `reply(event)` answers a chat message, `talk(topic)`
says something after a silence, `vary(line)` says a thank-you line in the persona's own words. Each
returns a handle. `TemplateResponder` fills the persona's lines (per situation and language) with
the viewer's name and message, so a show without a model still answers in the right language;
the model dialogues (`director.services.llm`) implement the same base and use it as their
fallback.

A model reply arrives sentence by sentence on a `ReplyStream`: the worker thread that generates
it `push`es each complete sentence, the tick side `take`s them and queues them on the voice, so
speech starts before generation ends. The stream finishes (and runs its callbacks) only on the
tick side, in `done()`, like the voice's handles: callbacks never run on a worker thread. Its
deadline and its fallback line live in the stream, so a reply that times out, crashes or comes
back empty turns into the persona line without the worker's help.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from director.chat import is_question
from director.events import Event, Speech, SuperChat
from director.language import pick_language
from director.services.handles import Handle, Ready


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: str, values: Mapping[str, Any]) -> str:
    """Format a checked template; a value the caller lacks becomes empty text, never an error."""
    return template.format_map(_Blank(values))


def choose(lines: Mapping[str, list[str]], text: str, rng: random.Random) -> tuple[str, str]:
    """Pick a line in the language of `text` (or the first language there are lines for)."""
    lang = pick_language(text, list(lines))
    options = lines.get(lang) or next(iter(lines.values()))
    return rng.choice(options), lang


@dataclass(frozen=True)
class Reply:
    text: str
    emotion: str = "neutral"
    language: str = "en"  # the language the line is in (viewer names in it do not count)


class ReplyStream(Handle[Reply]):
    """A reply being generated on a worker thread; its sentences can be taken as they come.

    Worker side: `push(sentence, emotion)` for each sentence, then `complete(reply, error)`.
    Tick side: `take()` new sentences, poll `done()`. `cancel()` (tick side) tells the worker to
    stop. Past `deadline` (a `time.perf_counter` value), or when the worker completes with an
    error or with nothing said, the stream ends with what was said so far, or with the fallback
    reply when nothing was.
    """

    def __init__(self, *, language: str, fallback: Callable[[], Reply], deadline: float,
                 joiner: str = " ") -> None:
        super().__init__()
        self.language = language
        self.fallback = fallback
        self.deadline = deadline
        self.joiner = joiner
        self.emotion: str | None = None
        self.sentences: list[str] = []  # everything pushed (and so everything taken)
        self.used_fallback = False
        self.ended_by = ""  # "", "timeout", "error", "empty"
        self._lock = threading.Lock()
        self._taken = 0
        self._completed = False
        self._final: Reply | None = None
        self._worker_error: BaseException | None = None
        self._event = threading.Event()

    # -- worker side ---------------------------------------------------------------------------
    @property
    def stopping(self) -> bool:
        """True when the worker should stop generating (cancelled, done or past the deadline)."""
        return self._done or self.cancelled or time.perf_counter() > self.deadline

    def push(self, sentence: str, emotion: str) -> bool:
        """Add a complete sentence. False when the stream no longer takes any (stop generating)."""
        with self._lock:
            if self._done or self._completed:
                return False
            if self.emotion is None:
                self.emotion = emotion
            self.sentences.append(sentence)
        self._event.set()
        return True

    def complete(self, reply: Reply | None, error: BaseException | None = None) -> None:
        """The worker is done (its reply, or None/error when it produced nothing)."""
        with self._lock:
            self._completed = True
            self._final = reply
            self._worker_error = error
        self._event.set()

    # -- tick side -----------------------------------------------------------------------------
    def take(self) -> list[str]:
        """Sentences pushed since the last call (checks the deadline first)."""
        self.done()
        with self._lock:
            new = self.sentences[self._taken:]
            self._taken = len(self.sentences)
        return new

    def done(self) -> bool:
        if self._done:
            return True
        with self._lock:
            completed, said = self._completed, bool(self.sentences)
            final, error = self._final, self._worker_error
            late = not completed and time.perf_counter() > self.deadline
            if not completed and not late:
                return False
            self._completed = True  # closed: a worker still running can push no more
            if late:
                self.ended_by = "timeout"
            elif error is not None:
                self.ended_by = "error"
            elif not said:
                self.ended_by = "empty"
            if said:
                text = self.joiner.join(self.sentences)
                emotion = self.emotion or (final.emotion if final else "neutral")
                result = Reply(text, emotion, final.language if final else self.language)
            else:
                result = self.fallback()
                self.used_fallback = True
                self.sentences.append(result.text)
                self.emotion = result.emotion
        self._event.set()
        self.finish(result, error)
        return True

    def wait(self, timeout: float | None = None) -> Reply | None:
        """Block until the reply is finished (the CLI and benchmarks, never the tick)."""
        end = None if timeout is None else time.perf_counter() + timeout
        while not self.done():
            left = self.deadline - time.perf_counter()
            if end is not None:
                left = min(left, end - time.perf_counter())
                if left <= 0:
                    return None
            self._event.wait(max(0.001, min(left, 0.05)))
            self._event.clear()
        return self.result


class Dialogue:
    """What the tree asks for words. Subclasses answer with a model; this base never answers."""

    name = "dialogue"

    def reply(self, event: Event, *, topic: str = "", segment: str = "") -> Handle[Reply]:
        """Start a reply; the handle's result is the Reply (None if cancelled)."""
        raise NotImplementedError

    def talk(self, *, topic: str, language: str, segment: str = "") -> Handle[Reply]:
        """Say something about `topic` to the whole chat (self-talk after a silence)."""
        raise NotImplementedError

    def vary(self, line: str, *, language: str, emotion: str = "happy") -> Handle[Reply]:
        """Say a (filled-in) thank-you line in the persona's own words; the line itself here."""
        return Ready(Reply(line, emotion, language))

    def prepare(self) -> None:
        """Get ready to answer (a model starts loading in the background); called at show start."""

    def close(self, *, wait: bool = True) -> None:
        """Stop background work (a model's worker thread); `wait=False` returns at once."""


class TemplateResponder(Dialogue):
    """The persona's reply lines, filled in: instant, in the message's language."""

    name = "templates"

    def __init__(self, persona: dict[str, Any], rng: random.Random) -> None:
        self.persona = persona
        self.rng = rng

    def talk(self, *, topic: str, language: str, segment: str = "") -> Handle[Reply]:
        lines = self.persona["self_talk"]
        sample = {"zh": "中", "ja": "あ", "ko": "한"}.get(language, "a")
        template, lang = choose(lines, sample, self.rng)
        line = fill(template, {"topic": topic, "name": self.persona["name"]})
        return Ready(Reply(line, "neutral", lang))

    def reply(self, event: Event, *, topic: str = "", segment: str = "") -> Handle[Reply]:
        text = getattr(event, "text", "")
        replies = self.persona["replies"]
        if isinstance(event, Speech):
            situation, emotion = "speech", "neutral"
        elif isinstance(event, SuperChat):
            situation, emotion = "super_chat", "happy"
        elif is_question(text):
            situation, emotion = "question", "neutral"
        else:
            situation, emotion = "chat", "happy"
        template, lang = choose(replies[situation], text or event.viewer.name, self.rng)
        line = fill(template, {"viewer": event.viewer.name, "text": text, "topic": topic,
                               "name": self.persona["name"], "value": f"{event.money:g}",
                               "currency": getattr(event, "currency", "")})
        return Ready(Reply(line, emotion, lang))
