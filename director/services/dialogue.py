"""Reply text for chat. Until a dialogue model is configured, a template responder answers.

The template responder fills the persona's reply lines (per situation and language) with the
viewer's name and message, so a show without a model still answers in the right language and
voice. The llama.cpp service (the dialogue issue) implements the same `reply` base.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
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


class Dialogue:
    name = "dialogue"

    def reply(self, event: Event, *, topic: str = "") -> Handle[Reply]:
        """Start a reply; the handle's result is the Reply (None if cancelled)."""
        raise NotImplementedError


class TemplateResponder(Dialogue):
    name = "templates"

    def __init__(self, persona: dict[str, Any], rng: random.Random) -> None:
        self.persona = persona
        self.rng = rng

    def reply(self, event: Event, *, topic: str = "") -> Handle[Reply]:
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
