"""Moderation before anything reaches the model or the voice: banned words and a length cap.

Text is normalised first (NFKC folds full-width letters, case is folded, and spaces, dots and
other separators between characters are removed) so `B a N n E d` and `ｂａｎｎｅｄ` and `坏.词`
are caught. Usernames pass the same filter: a viewer named with a banned word is never read out.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_SEPARATORS = re.compile(r"[\s\W_]+", re.UNICODE)


def normalise(text: str) -> str:
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True)
class Verdict:
    rule: str  # "banned_word" | "banned_name" | "too_long"
    detail: str


class Moderator:
    def __init__(self, *, banned_words: list[str], max_length: int) -> None:
        self.words = tuple(w for w in (normalise(w) for w in banned_words) if w)
        self.max_length = max_length

    def _banned(self, text: str) -> str | None:
        flat = normalise(text)
        for word in self.words:
            if word in flat:
                return word
        return None

    def check_output(self, text: str) -> Verdict | None:
        """For text the show itself will say (replies): banned words only, no length cap."""
        word = self._banned(text)
        return Verdict("banned_word", word) if word else None

    def check(self, text: str, username: str = "") -> Verdict | None:
        """None when the message may be used; otherwise the rule that caught it."""
        word = self._banned(username) if username else None
        if word:
            return Verdict("banned_name", word)
        word = self._banned(text)
        if word:
            return Verdict("banned_word", word)
        if len(text) > self.max_length:
            return Verdict("too_long", f"{len(text)} > {self.max_length} characters")
        return None
