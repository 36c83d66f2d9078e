"""Turning a model's token stream into sentences the avatar may say, and the reply's emotion.

`ReplyShaper` is fed text as it is generated and hands back complete sentences as soon as each
ends, so the voice can start on the first sentence while the model writes the second. Along the
way it:

* reads a leading emotion tag (`[happy]`, also `【happy】`/`(happy)` and a few synonyms) and
  removes every tag, action (`*giggles*`) and emoji from what is said: tags are never spoken;
* drops a speaker prefix the model copies from the chat format ("Sakura: ...");
* drops sentences that echo the viewer's message back (small models love to quote it), that
  repeat one of the avatar's recent replies, or that break character ("as an AI ...");
* stops the reply when it loops (a sentence said twice), reaches `max_sentences`, or runs on
  past `max_chars` (a sentence with no end is cut at a clause break): `stopped` tells the caller
  to stop generating, which also saves the tokens.

Without a tag, `classify_emotion` picks one from keywords (Chinese and English), cheap enough for
the first sentence. Rejected: asking the model for JSON (small models break the format, and a
sentence cannot be spoken before the closing brace arrives).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher

from director.services.persona_prompt import EMOTIONS

SYNONYMS = {"joy": "happy", "joyful": "happy", "glad": "happy", "cheerful": "happy",
            "smile": "happy", "smiling": "happy", "calm": "neutral", "gentle": "neutral",
            "excitement": "excited", "surprise": "surprised", "shocked": "surprised",
            "embarrassed": "shy", "blush": "shy", "sorrow": "sad", "unhappy": "sad",
            "whispering": "whisper", "soft": "whisper", "quiet": "whisper"}
_OPEN, _CLOSE = "[【(（", "]】)）"
_LEAD_TAG = re.compile(r"^\s*[\[【(（]\s*([A-Za-z]{2,16})\s*[\]】)）]\s*")
_ANY_TAG = re.compile(r"[\[【]\s*[A-Za-z][A-Za-z _-]{0,20}\s*[\]】]|\*[^*\n]{1,40}\*")
_EMOJI = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]")
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)|[.!?]+(?=[\u3000-\u9fff])|[。！？!?…~～]+[”’」』）]*"
                  r"(?=.)|\n+")
_CLAUSE = re.compile(r"[,;:][\"'”’)]*(?=\s)|[，、；：]")
_SOFT = re.compile(r"[,，、;；:：\s]")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_NORM = re.compile(r"[\W_]+")
# the assistant breaking character ("as a virtual streamer, I don't have the ability to ...")
_OUT_OF_CHARACTER = re.compile(
    r"\bas an? (ai|artificial|language model|virtual (streamer|assistant)|vtuber|assistant)\b|"
    r"\b(i am|i'm) (an? )?(ai|language model|assistant)\b|"
    r"作为(一个|一名)?(ai|AI|人工智能|语言模型|虚拟主播|助手)|我(是|只是)(一个)?(ai|AI|人工智能|语言模型)",
    re.IGNORECASE)

KEYWORDS: dict[str, tuple[str, ...]] = {
    "excited": ("太棒", "太好了", "好厉害", "激动", "超级", "哇哦", "amazing", "awesome",
                "incredible", "wow", "fantastic", "!!", "！！"),
    "happy": ("谢谢", "开心", "哈哈", "喜欢", "高兴", "好棒", "欢迎", "thank", "glad", "happy",
              "love", "great", "yay", "haha", "welcome", "nice", "lovely"),
    "shy": ("害羞", "脸红", "不好意思", "羞", "blush", "embarrass", "shy", "flatter"),
    "sad": ("难过", "伤心", "抱歉", "对不起", "可惜", "呜呜", "sad", "sorry", "miss you", "cry",
            "unfortunately", "lonely"),
    "surprised": ("诶", "真的吗", "竟然", "居然", "没想到", "really?", "no way", "what?",
                  "surprise", "oh!", "whoa"),
    "whisper": ("嘘", "小声", "悄悄", "轻轻", "shh", "whisper", "quietly", "softly"),
}
PRIORITY = ("excited", "surprised", "sad", "shy", "whisper", "happy")


def normalise_emotion(word: str) -> str | None:
    """A known emotion for a tag word, or None."""
    word = word.strip().lower()
    if word in EMOTIONS:
        return word
    return SYNONYMS.get(word)


def classify_emotion(text: str) -> str:
    """The emotion whose keywords appear most in `text` (ties: the stronger one); else neutral."""
    lowered = text.lower()
    best, best_hits = "neutral", 0
    for emotion in PRIORITY:
        hits = sum(lowered.count(k) for k in KEYWORDS[emotion])
        if hits > best_hits:
            best, best_hits = emotion, hits
    return best


def split_tag(text: str) -> tuple[str | None, str]:
    """(emotion, rest) for a text that may start with an emotion tag."""
    m = _LEAD_TAG.match(text)
    if m is None:
        return None, text
    emotion = normalise_emotion(m.group(1))
    if emotion is None:
        return None, text
    return emotion, text[m.end():]


def clean(text: str) -> str:
    """What may be spoken: no tags, actions, emoji or doubled spaces."""
    text = _EMOJI.sub("", _ANY_TAG.sub("", text))
    text = re.sub(r"\s+([.,!?;:…。，！？；：])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip().strip("\"'“”")


def width(text: str) -> int:
    """Length for the reply limit: CJK characters count two (they carry about a word each)."""
    return len(text) + len(_CJK.findall(text))


def norm(text: str) -> str:
    return _NORM.sub("", text.lower())


def similar(a: str, b: str, threshold: float = 0.85) -> bool:
    a, b = norm(a), norm(b)
    if not a or not b:
        return False
    return a == b or SequenceMatcher(None, a, b, autojunk=False).ratio() >= threshold


class ReplyShaper:
    """Incremental: `feed(delta)` returns new sentences; `finish()` flushes the last one."""

    def __init__(self, *, viewer_text: str = "", names: Iterable[str] = (),
                 previous: Iterable[str] = (), max_sentences: int = 2,
                 max_chars: int = 140, first_clause_chars: int = 0) -> None:
        self.viewer_text = viewer_text
        self.names = [n for n in names if n]
        self.previous = [s for s in previous if s]
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.buffer = ""
        self.tag_read = False
        self.tag: str | None = None
        self.emotion: str | None = None  # the tag, or classified from the first sentence
        self.sentences: list[str] = []  # whole sentences (an opening clause joins its sentence)
        self.said: list[str] = []  # the pieces handed over, in order (clauses and sentences)
        self.first_clause_chars = first_clause_chars
        self.pieces = 0
        self.joined_clause = False
        self.dropped: list[tuple[str, str]] = []  # (reason, sentence)
        self.stopped = False
        self.stop_reason = ""
        self.raw = ""

    @property
    def text(self) -> str:
        return " ".join(self.sentences) if not self._cjk() else "".join(self.sentences)

    def _cjk(self) -> bool:
        return any(_CJK.search(s) for s in self.sentences)

    def feed(self, delta: str) -> list[str]:
        if self.stopped or not delta:
            return []
        self.raw += delta
        self.buffer += delta
        if not self.tag_read and not self._read_tag():
            return []
        out: list[str] = []
        while not self.stopped:
            m = _END.search(self.buffer)
            if m is None:
                m = self._first_clause()
                if m is None:
                    break
                clause, self.buffer = self.buffer[:m.end()], self.buffer[m.end():]
                out.extend(self._accept(clause, clause=True))
                continue
            sentence, self.buffer = self.buffer[:m.end()], self.buffer[m.end():]
            out.extend(self._accept(sentence))
        if not self.stopped and width(clean(self.buffer)) > self.max_chars:
            out.extend(self._accept(self.buffer, run_on=True))
            self.buffer = ""
        return out

    def finish(self) -> list[str]:
        """The generation ended: the unfinished rest is the last sentence."""
        if not self.tag_read:
            self.tag_read = True
            self.tag, self.buffer = split_tag(self.buffer)
        out: list[str] = []
        if not self.stopped and self.buffer.strip():
            out = self._accept(self.buffer)
        self.buffer = ""
        if self.emotion is None:
            self.emotion = self.tag or classify_emotion(self.text)
        return out

    def _stop(self, reason: str) -> None:
        self.stopped = True
        self.stop_reason = self.stop_reason or reason

    def _read_tag(self) -> bool:
        """True once we know whether the text starts with a tag (and it is taken off)."""
        head = self.buffer.lstrip()
        if not head:
            return False
        if head[0] in _OPEN and not any(c in head for c in _CLOSE) and len(head) < 24:
            return False  # the tag is still coming
        self.tag_read = True
        self.tag, self.buffer = split_tag(self.buffer)
        return True

    def _strip_speaker(self, text: str) -> str:
        for name in [*self.names, "assistant", "AI"]:
            for sep in (":", "："):
                if text.lower().startswith(name.lower() + sep):
                    return text[len(name) + 1:].lstrip()
        return text

    def _first_clause(self) -> re.Match[str] | None:
        """Where the reply's opening clause ends, if it is long enough to say on its own.

        The first words reach the voice sooner when the opening clause ("Good evening, Ann,")
        is said while the model writes the rest of the sentence; later clauses wait for their
        sentence, so the voice is not chopped up.
        """
        if self.pieces or not self.first_clause_chars:
            return None
        for m in _CLAUSE.finditer(self.buffer):
            if width(clean(self.buffer[:m.start()])) >= self.first_clause_chars:
                return m
        return None

    def _accept(self, raw: str, *, run_on: bool = False, clause: bool = False) -> list[str]:
        sentence = clean(raw)
        if not self.sentences:
            sentence = self._strip_speaker(sentence)
        if not norm(sentence):
            return []
        if self._echoes(sentence):
            self.dropped.append(("echo", sentence))
            return []
        if _OUT_OF_CHARACTER.search(sentence):
            self.dropped.append(("out of character", sentence))
            return []
        if any(similar(sentence, s) for s in self.sentences):
            self._stop("repeat")
            return []
        if any(similar(sentence, s) for s in self.previous):
            self.dropped.append(("repeat of an earlier reply", sentence))
            return []
        used = sum(width(s) for s in self.sentences)
        if used + width(sentence) > self.max_chars:
            if self.sentences:
                self._stop("run-on")
                return []
            sentence, run_on = self._cut(sentence), True
        self.pieces += 1
        if self.joined_clause:  # the rest of the opening sentence joins its first clause
            self.sentences[-1] += (" " if not _CJK.search(sentence) else "") + sentence
            self.said.append(sentence)
            self.joined_clause = False
        else:
            self.sentences.append(sentence)
            self.said.append(sentence)
        self.joined_clause = clause
        if self.emotion is None:
            self.emotion = self.tag or classify_emotion(sentence)
        if run_on:
            self._stop("run-on")
        elif len(self.sentences) >= self.max_sentences and not clause:
            self._stop("length")
        return [sentence]

    def _cut(self, sentence: str) -> str:
        """Cut an over-long sentence at the last clause break that fits (else hard), with '…'."""
        fit = ""
        for ch in sentence:
            if width(fit + ch) > self.max_chars - 2:
                break
            fit += ch
        breaks = [m.start() for m in _SOFT.finditer(fit)]
        if breaks and breaks[-1] >= len(fit) // 2:
            fit = fit[:breaks[-1]]
        return fit.rstrip(" ,，、;；:：") + ("……" if _CJK.search(fit) else "...")

    def _echoes(self, sentence: str) -> bool:
        viewer = norm(self.viewer_text)
        said = norm(sentence)
        if len(viewer) < 4 or not said:
            return False
        if viewer in said and len(viewer) >= 0.6 * len(said):
            return True  # the message, quoted back with a word or two around it
        if said in viewer and len(said) >= 6:
            return True  # a piece of the message, said as if it were the answer
        return similar(said, viewer, 0.8)
