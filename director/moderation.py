"""Moderation before anything reaches the model or the voice, and again before the voice speaks.

Rules, each reported by name (`Verdict.rule`) so the ledger says what caught a message:

- `banned_word` / `banned_name`: the show's words (`chat.banned_words`, `moderation.word_files`)
  plus the shipped zh/en lists (`director/data/banned_words_*.txt`, off with
  `moderation.default_lists: false`; single words let through with `moderation.allow`). Text is
  normalised first: NFKC folds full-width letters, case is folded, leetspeak digits become letters
  (`1d10t`), separators between letters vanish (`i d i o t`, `I.d.I.o.T`, `傻.逼`, `傻1逼`) and
  stretched letters shrink (`fuuuck`). English entries of four letters or fewer match whole words
  only (plus -s/-es/-ed/-ing/-er), so `class` never trips on a short entry; longer ones also
  match inside run-together text (`youidiot`). Chinese entries match in the message's CJK
  characters with everything else removed.
- `homophone`: a Chinese entry written with other characters of the same sound or in pinyin
  (`草泥马`, `cao ni ma`, `caonima`), by comparing toneless pinyin (pypinyin). Automatic for
  entries of three or more characters; a two-character entry opts in with ` ~` in its list
  (`傻逼 ~`), because two syllables sound like too many innocent words (智障/纸张, 鸡巴/几把).
  Without pypinyin the rule is off and the log says so once.
- `link`: URLs, bare domains (`abc.xyz`, `ｅｘａｍｐｌｅ．ｃｏｍ`) and spelled-out ones
  (`abc dot com`, `abc点com`), except `moderation.allowed_domains`.
- `phone` / `contact`: ten or more digits (Chinese numerals too: 一三八...), a Chinese mobile
  number, or "add me on WeChat/QQ/vx + an id". Dates and times do not have enough digits.
- `injection`: attempts to steer the model ("ignore previous instructions", "you are now",
  "system prompt", "忽略之前的指令", "你现在是", "提示词", chat-template markup like
  `<|im_start|>`). The dialogue passes viewer text as quoted data anyway; this rule keeps such
  messages from ever being answered (or remembered, see director.memory).
- `too_long`: over `chat.max_length` characters.

`check(text, username)` is for incoming chat (all rules); `check_output(text)` is for what the
show is about to say (model replies): words, homophones, links and numbers, never length or
injection. Each rule can be switched off under `moderation:` in the show. A hit is logged with
its rule at info level; the text itself is not logged (it may be abuse or a phone number).

Rejected: one big regex over the raw text (no way to say which rule fired, and no answer to
spacing tricks); a model-based classifier (a second model on 2 cores for every message).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger("director.moderation")

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_LISTS = (DATA / "banned_words_en.txt", DATA / "banned_words_zh.txt")
HOMOPHONE_MARK = "~"

_SEPARATORS = re.compile(r"[\s\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_LATIN = re.compile(r"[a-z]+")
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
                       "$": "s"})
_SQUEEZE3 = re.compile(r"(.)\1{2,}")
_SQUEEZE1 = re.compile(r"(.)\1+")
_SUFFIXES = ("", "s", "es", "ed", "ing", "er", "ers")

_TLDS = ("com|net|org|cn|io|tv|gg|me|xyz|top|cc|co|ly|link|live|app|site|shop|vip|info|biz|ru|"
         "jp|uk|de|fun|club|online|store|icu|ink|wang")
_LINK = re.compile(
    rf"(?:https?://|www\.)[^\s]+|\b[a-z0-9][a-z0-9-]{{0,62}}(?:\.[a-z0-9-]{{1,63}})*"
    rf"\.(?:{_TLDS})\b(?:/[^\s]*)?", re.IGNORECASE)
_SPELLED_LINK = re.compile(r"(?:\bdot|点|點|[。])\s*(?:com|net|org|cn)\b", re.IGNORECASE)
_ZH_DIGITS = str.maketrans("零〇一二三四五六七八九幺", "001234567891")
_DIGIT_RUN = re.compile(r"\+?\d[\d\s().\-]{5,}\d")
_DATE_TIME = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}日?"
                        r"|\d{1,2}\s*[:：点]\s*\d{2}")
_CN_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_CONTACT = re.compile(
    r"(?:微信|威信|薇信|v信|vx|wx|weixin|wechat|qq|扣扣|telegram|tg|line|whatsapp)"
    r"\s*(?:号|群|id)?\s*[:：是]?\s*[a-z0-9_\-]{5,}", re.IGNORECASE)

_INJECTION_EN = [re.compile(p) for p in (
    r"\b(?:ignore|disregard|forget|override|bypass)(?: (?:all|any|every|of|the|your|these|"
    r"those|my))* (?:previous|prior|above|earlier|preceding|system|original|initial|old|your|"
    r"all) ?(?:instructions?|prompts?|rules|guidelines|directives|programming|context|"
    r"messages)\b",
    r"\bsystem (?:prompt|message|instructions?)\b",
    r"\b(?:developer|hidden|initial|original|secret) (?:prompt|instructions)\b",
    r"\b(?:reveal|show|print|repeat|tell me|what (?:is|are)|output|leak|give me) (?:me )?"
    r"(?:your|the) (?:prompt|instructions|rules|system|guidelines)\b",
    r"\byou are now\b", r"\byou re now\b", r"\bfrom now on,? you\b",
    r"\bpretend (?:to be|you are|you re)\b", r"\bact as (?:an?|my|the|if)\b",
    r"\broleplay as\b", r"\b(?:developer|dan|god|jailbreak|sudo|admin) mode\b",
    r"\bjailbreak\b", r"\bnew instructions?\b", r"\bdo anything now\b",
)]
_INJECTION_RAW = [re.compile(p, re.IGNORECASE | re.MULTILINE) for p in (
    r"<\|?\s*(?:im_start|im_end|system|assistant|endoftext|eot_id|start_header_id)\s*\|?>",
    r"\[/?(?:inst|sys|system)\]", r"<</?sys>>", r"^\s*(?:system|assistant)\s*:",
    r"#{2,}\s*(?:instruction|system)",
)]
_INJECTION_ZH = [re.compile(p) for p in (
    r"(?:忽略|无视|忘记|忘掉|不要理会|别管|跳过)(?:你|掉)?(?:之前|以上|上面|前面|先前|所有|全部|原来|原有|"
    r"一切|你的)*的?(?:所有|全部)?的?(?:指令|指示|提示|提示词|规则|设定|命令|要求|限制)",
    r"你现在是(?!不是|在|几点|什么时候|哪|谁的)",
    r"从现在(?:开始|起)你(?:是|就是|扮演|要|必须)",
    r"(?:系统|初始|原始|隐藏)(?:提示|指令|设定|消息)", r"提示词",
    r"(?:请你?|你来|你要)扮演", r"假装(?:你是|成)", r"角色扮演",
    r"(?:输出|告诉我|说出|重复|泄露|显示|打印)你的(?:设定|提示|指令|规则|系统)",
    r"(?:开发者|越狱|上帝|管理员)模式", r"越狱", r"新的?(?:指令|设定)",
)]


def normalise(text: str) -> str:
    """Case-folded, width-folded text without separators (also the duplicate-chat key)."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", text).casefold())


def _squeeze1(word: str) -> str:
    return _SQUEEZE1.sub(r"\1", word)


def _latin_tokens(folded: str) -> list[str]:
    """Words in the text, plus runs of single letters joined (`i d i o t` -> `idiot`)."""
    text = folded.translate(_LEET)
    tokens: list[str] = []
    run: list[str] = []
    last_end = -1
    for match in _LATIN.finditer(text):
        word = match.group()
        tokens.append(word)
        between = text[last_end:match.start()] if last_end >= 0 else ""
        joined = len(word) == 1 and (not run or not re.search(r"[^\W_]", between))
        if joined:
            run.append(word)
        else:
            if len(run) > 1:
                tokens.append("".join(run))
            run = [word] if len(word) == 1 else []
        last_end = match.end()
    if len(run) > 1:
        tokens.append("".join(run))
    return tokens


@cache
def _pinyin() -> Any:
    try:
        from pypinyin import lazy_pinyin
    except ImportError:
        log.warning("pypinyin is not installed: Chinese homophones and pinyin spellings of "
                    "banned words are not caught (.venv/bin/pip install pypinyin)")
        return None
    return lazy_pinyin


def _sounds(folded: str) -> list[str]:
    """The text as syllables: CJK characters as toneless pinyin, Latin words as written."""
    lazy_pinyin = _pinyin()
    items: list[str] = []
    pos = 0
    for run in _CJK_RUN.finditer(folded):
        items.extend(_LATIN.findall(folded[pos:run.start()]))
        items.extend(s for s in lazy_pinyin(run.group()) if s.isalpha())
        pos = run.end()
    items.extend(_LATIN.findall(folded[pos:]))
    return items


def read_word_file(path: Path) -> list[str]:
    """Banned words, one a line; `#` starts a comment; a trailing ` ~` asks for homophones."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"banned-word file {path}: {exc.strerror or exc}; fix the path under "
                         "moderation.word_files") from None
    return [w for w in (line.split("#", 1)[0].strip() for line in text.splitlines()) if w]


@cache
def _default_words() -> tuple[str, ...]:
    words: list[str] = []
    for path in DEFAULT_LISTS:
        words.extend(read_word_file(path))
    return tuple(words)


@dataclass(frozen=True)
class Verdict:
    # banned_word | banned_name | homophone | link | phone | contact | injection | too_long
    rule: str
    detail: str


@dataclass(frozen=True)
class _Word:
    shown: str  # as listed, for the ledger's detail
    latin: str  # folded, leet-mapped letters ('' for a CJK entry)
    cjk: str  # the CJK characters ('' for a Latin entry)
    sound: str  # joined toneless pinyin when homophones are matched, else ''
    phrase: str = ""  # a Latin entry of several words: the words, one space apart


class Moderator:
    """The show's moderation rules; `check` for chat, `check_output` for what will be said."""

    def __init__(self, *, banned_words: Iterable[str], max_length: int,
                 default_lists: bool = False, allow: Iterable[str] = (),
                 homophones: bool = True, links: bool = True,
                 allowed_domains: Iterable[str] = (), phones: bool = True,
                 injection: bool = True) -> None:
        allowed = {normalise(w.removesuffix(HOMOPHONE_MARK)) for w in allow}
        listed = [*(_default_words() if default_lists else ()), *banned_words]
        self.homophones = homophones and _pinyin() is not None
        entries: dict[str, _Word] = {}
        for raw in listed:
            marked = raw.rstrip().endswith(HOMOPHONE_MARK)
            word = raw.rstrip().removesuffix(HOMOPHONE_MARK).strip()
            flat = normalise(word)
            if not flat or flat in allowed or flat in entries:
                continue
            cjk = "".join(_CJK.findall(unicodedata.normalize("NFKC", word)))
            latin = "" if cjk else "".join(_LATIN.findall(flat.translate(_LEET)))
            sound = ""
            if cjk and self.homophones and (len(cjk) >= 3 or (marked and len(cjk) >= 2)):
                sound = "".join(_sounds(cjk))
            parts = [] if cjk else _LATIN.findall(
                unicodedata.normalize("NFKC", word).casefold().translate(_LEET))
            entries[flat] = _Word(word, latin, cjk, sound, " ".join(parts) if len(parts) > 1
                                  else "")
        self.entries = tuple(entries.values())
        # per-rule indexes, so a message costs a few lookups rather than one pass per entry
        latin_words = [w for w in self.entries if w.latin]
        self._cjk_words = [w for w in self.entries if w.cjk]
        self._phrases = [w for w in latin_words if w.phrase]
        self._long = [(w, _squeeze1(w.latin)) for w in latin_words
                      if not w.phrase and len(w.latin) >= 5]
        self._short: dict[str, _Word] = {}  # the word and its endings -> entry
        self._stretched: dict[str, _Word] = {}  # `fuuuck`: squeezed -> entry
        for w in latin_words:
            if not w.phrase and len(w.latin) < 5:
                for end in _SUFFIXES:
                    self._short.setdefault(w.latin + end, w)
                self._stretched.setdefault(_squeeze1(w.latin), w)
        self._sounding = [w for w in self.entries if w.sound]
        self.words = tuple(entries)  # normalised, as before
        self.max_length = max_length
        self.links, self.phones, self.injection = links, phones, injection
        self.allowed_domains = tuple(d.casefold().lstrip(".") for d in allowed_domains if d)

    @classmethod
    def from_settings(cls, chat: Mapping[str, Any], moderation: Mapping[str, Any],
                      ) -> Moderator:
        """Build from a show's `chat` and `moderation` sections (word files already resolved)."""
        words = list(chat.get("banned_words") or [])
        for path in moderation.get("word_files") or []:
            words.extend(read_word_file(Path(path)))
        return cls(banned_words=words, max_length=int(chat["max_length"]),
                   default_lists=bool(moderation.get("default_lists", True)),
                   allow=moderation.get("allow") or (),
                   homophones=bool(moderation.get("homophones", True)),
                   links=bool(moderation.get("links", True)),
                   allowed_domains=moderation.get("allowed_domains") or (),
                   phones=bool(moderation.get("phones", True)),
                   injection=bool(moderation.get("injection", True)))

    # -- the rules --------------------------------------------------------------------------------
    def _banned(self, text: str) -> Verdict | None:
        folded = unicodedata.normalize("NFKC", text).casefold()
        cjk = "".join(_CJK.findall(folded))
        for word in self._cjk_words:
            if word.cjk in cjk:
                return Verdict("banned_word", word.shown)
        leet = _LATIN.findall(folded.translate(_LEET))
        flat = "".join(leet)
        if leet:
            words, flat1 = f" {' '.join(leet)} ", _squeeze1(flat)
            for word in self._phrases:  # in sequence, or run together when long
                if f" {word.phrase} " in words or (len(word.latin) >= 8 and word.latin in flat):
                    return Verdict("banned_word", word.shown)
            for word, squeezed in self._long:
                if word.latin in flat or squeezed in flat1:
                    return Verdict("banned_word", word.shown)
            for token in _latin_tokens(folded):
                hit = self._short.get(token)
                if hit is None and _SQUEEZE3.search(token):
                    hit = self._stretched.get(_squeeze1(token))
                if hit is not None:
                    return Verdict("banned_word", hit.shown)
        if self._sounding and (cjk or any(w.sound in flat for w in self._sounding)):
            sounds = _sounds(folded)
            joined = "".join(sounds)
            for word in self._sounding:
                if word.sound in joined and _joins_to(sounds, word.sound):
                    return Verdict("homophone", word.shown)
        return None

    def _link(self, text: str) -> Verdict | None:
        folded = unicodedata.normalize("NFKC", text)
        for match in _LINK.finditer(folded):
            url = match.group().casefold()
            host = re.sub(r"^(?:https?://)?(?:www\.)?", "", url).split("/", 1)[0]
            if not any(host == d or host.endswith("." + d) for d in self.allowed_domains):
                return Verdict("link", host or url)
        spelled = _SPELLED_LINK.search(folded)
        return Verdict("link", spelled.group()) if spelled else None

    def _number(self, text: str) -> Verdict | None:
        folded = _DATE_TIME.sub(" ", unicodedata.normalize("NFKC", text).translate(_ZH_DIGITS))
        if _CN_MOBILE.search(folded.replace(" ", "").replace("-", "")):
            return Verdict("phone", "mobile number")
        for match in _DIGIT_RUN.finditer(folded):
            if sum(c.isdigit() for c in match.group()) >= 10:
                return Verdict("phone", f"{sum(c.isdigit() for c in match.group())} digits")
        if _CONTACT.search(folded):
            return Verdict("contact", "asks to be contacted off-platform")
        return None

    def _injection(self, text: str) -> Verdict | None:
        folded = unicodedata.normalize("NFKC", text).casefold()
        for pattern in _INJECTION_RAW:
            if match := pattern.search(folded):
                return Verdict("injection", match.group().strip())
        words = " ".join(re.findall(r"[^\W_]+", folded.replace("'", " ")))
        for pattern in _INJECTION_EN:
            if match := pattern.search(words):
                return Verdict("injection", match.group())
        flat = normalise(text)
        for pattern in _INJECTION_ZH:
            if match := pattern.search(flat):
                return Verdict("injection", match.group())
        return None

    # -- the interface ----------------------------------------------------------------------------
    def check_output(self, text: str) -> Verdict | None:
        """For text the show itself will say (replies): words, homophones, links, numbers."""
        verdict = self._banned(text)
        if verdict is None and self.links:
            verdict = self._link(text)
        if verdict is None and self.phones:
            verdict = self._number(text)
        if verdict is not None:
            log.info("a line to be said was moderated: %s (%s)", verdict.rule, verdict.detail)
        return verdict

    def check(self, text: str, username: str = "") -> Verdict | None:
        """None when the message may be used; otherwise the rule that caught it."""
        verdict = None
        if username:
            name = self._banned(username) or (self._link(username) if self.links else None)
            if name is not None:
                verdict = Verdict("banned_name", f"{name.detail} ({name.rule})"
                                  if name.rule != "banned_word" else name.detail)
        if verdict is None and text:
            verdict = self._banned(text)
            if verdict is None and self.links:
                verdict = self._link(text)
            if verdict is None and self.phones:
                verdict = self._number(text)
            if verdict is None and self.injection:
                verdict = self._injection(text)
        if verdict is None and len(text) > self.max_length:
            verdict = Verdict("too_long", f"{len(text)} > {self.max_length} characters")
        if verdict is not None and log.isEnabledFor(logging.INFO):
            log.info("moderated a message from %s: %s (%s)", username or "someone", verdict.rule,
                     verdict.detail)
        return verdict


def _joins_to(items: list[str], target: str) -> bool:
    """True when consecutive items concatenate to exactly `target` (syllables or words)."""
    for i in range(len(items)):
        joined = ""
        for item in items[i:]:
            joined += item
            if joined == target:
                return True
            if len(joined) >= len(target) or not target.startswith(joined):
                break
    return False
