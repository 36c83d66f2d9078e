"""Voices. The subtitles voice "speaks" by writing the line, with real timing.

Until a TTS voice is configured (the voice issue), lines are shown as subtitles: each is logged
and recorded in the ledger's speech table with a duration estimated from the text, and the handle
is done when that time has passed on the show clock. Lines queue behind each other like a real
voice, so the show's pacing (silence, reply intervals, segment timing) is what it will be with TTS.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from director.language import detect_language
from director.services.handles import Handle

if TYPE_CHECKING:
    from director.clock import Clock
    from director.ledger import Ledger

log = logging.getLogger("director.voice")

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_WORD = re.compile(r"[A-Za-z0-9']+")
_PAUSE = re.compile(r"[,.!?;:，。！？；：…、]")
CJK_CHARS_PER_S = 4.5  # measured Mandarin TTS speaking rate, roughly
WORDS_PER_S = 2.6
EMOTION_RATE = {"whisper": 0.8, "excited": 1.12, "happy": 1.05, "sad": 0.9, "shy": 0.95}


def estimate_seconds(text: str, *, rate: float = 1.0, emotion: str = "neutral") -> float:
    """How long a line takes to say: CJK characters, words and pauses, scaled by rate/emotion."""
    seconds = (len(_CJK.findall(text)) / CJK_CHARS_PER_S + len(_WORD.findall(text)) / WORDS_PER_S
               + 0.18 * len(_PAUSE.findall(text)))
    seconds /= max(0.1, rate * EMOTION_RATE.get(emotion, 1.0))
    return max(0.6, round(seconds, 3))


class SpeechHandle(Handle[None]):
    """One line: queued at `start`, heard until `end` (show clock)."""

    def __init__(self, voice: Voice, *, text: str, start: float, end: float, reason: str,
                 emotion: str, speech_id: int) -> None:
        super().__init__()
        self.voice, self.text, self.start, self.end = voice, text, start, end
        self.reason, self.emotion, self.speech_id = reason, emotion, speech_id

    def done(self) -> bool:
        if not self._done and self.voice.clock.now() >= self.end:
            self.finish(None)
        return self._done

    def cancel(self) -> None:
        """Cut the line now (the voice issue adds a short fade here)."""
        if self._done:
            return
        now = self.voice.clock.now()
        self.voice._cut(self, now)
        super().cancel()


class Voice:
    """Base: speak a line, get a handle. `name` appears in the report."""

    name = "voice"

    def __init__(self, *, clock: Clock, ledger: Ledger) -> None:
        self.clock = clock
        self.ledger = ledger
        self.busy_until = float("-inf")
        self.last_end = float("-inf")
        self.queue: list[SpeechHandle] = []

    def speak(self, text: str, *, reason: str, emotion: str = "neutral",
              language: str | None = None) -> SpeechHandle:
        raise NotImplementedError

    @property
    def busy(self) -> bool:
        return self.clock.now() < self.busy_until

    def silence(self, now: float) -> float:
        """Seconds since the voice last finished speaking (0 while speaking)."""
        if now < self.busy_until:
            return 0.0
        return now - self.last_end if self.last_end > float("-inf") else now

    def _cut(self, handle: SpeechHandle, now: float) -> None:
        end = max(handle.start, min(now, handle.end))
        shift = handle.end - end
        handle.end = end
        self.ledger.speech_cut(handle.speech_id, end)
        # lines queued after the cut one move up
        for other in self.queue:
            if other is not handle and other.start >= end and not other._done:
                other.start -= shift
                other.end -= shift
                self.ledger.speech_moved(other.speech_id, other.start, other.end)
        self.busy_until = max((h.end for h in self.queue if h is not handle and not h._done),
                              default=end)
        self.last_end = min(self.last_end, self.busy_until) if self.busy_until > now else end


class SubtitlesVoice(Voice):
    name = "subtitles"

    def __init__(self, *, clock: Clock, ledger: Ledger, rate: float = 1.0) -> None:
        super().__init__(clock=clock, ledger=ledger)
        self.rate = rate

    def speak(self, text: str, *, reason: str, emotion: str = "neutral",
              language: str | None = None) -> SpeechHandle:
        now = self.clock.now()
        start = max(now, self.busy_until)
        end = start + estimate_seconds(text, rate=self.rate, emotion=emotion)
        self.busy_until = end
        self.last_end = end
        speech_id = self.ledger.speech_start(start, end, text, self.name, reason)
        lang = language or detect_language(text)
        log.info("[%s %s %s] %s", reason, lang, emotion, text)
        handle = SpeechHandle(self, text=text, start=start, end=end, reason=reason,
                              emotion=emotion, speech_id=speech_id)
        self.queue = [h for h in self.queue if not h.done()]
        self.queue.append(handle)
        return handle
