"""Gift reactions: thank the next gift (or combo, or crowd of small gifts) by its tier.

Thank-you variations from the dialogue model. A gift's first audio must come within 150 ms of the
decision (cached TTS openings), and a model call takes a second or more, so no model call is ever
on the gift path. Instead a `ThanksPool` (one per dialogue service) keeps a few model-written
variations of each thank-you *template* ("Thank you for the {gift}, {viewer}!"), written in the
background while the show is idle: the idle behaviour pumps it (one `dialogue.vary(template)` at
a time, so a chat reply never queues behind more than one), and cancels the one in flight when a
higher priority takes over, so the model is free at the next token. `thank_gifts` picks the same
template as always, then one of the template and its ready variations.

`LlmDialogue.vary` asks the model to keep every name and number exactly; given a template, the
names are the `{placeholders}`, and small models keep them often enough. Each variation is checked
before it is used, and discarded otherwise: exactly the template's placeholders (same names, same
count, a format string that parses), text before the first placeholder (the opening the voice
pre-synthesises, as `TtsVoice.prewarm_gifts` does for the templates), the template's language,
different from the template and the variations already kept, still a thank-you (a thank word
when the template has one), not cut off mid-clause, and it passes the output moderation
(`check_output`, on the line with its placeholders blank). An accepted variation is pre-warmed
on a TTS voice and only chosen once its opening is in the voice's cache, so it starts as fast as
the template. Rejected: varying filled lines at gift time for big tiers (a second of silence
before the biggest thanks), and asking for JSON with slots (small models break the format).

Without a model (`TemplateResponder`, replays faster than real time) there is no pool and the
lines, and the random choices, are exactly those of the templates.
"""

from __future__ import annotations

import logging
import re
import string
import weakref
from dataclasses import dataclass, field
from typing import Any

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from director.events import Event
from director.gifts import Thanks
from director.language import detect_language
from director.services.dialogue import (
    Dialogue,
    Reply,
    ReplyStream,
    TemplateResponder,
    choose,
    fill,
)
from director.services.handles import Handle
from director.services.tts import TtsVoice
from director.spec import Bool, Choice, Field, Int, ListOf

log = logging.getLogger("director.gifts")

_WORDY = re.compile(r"\w{2}|[\u3040-\u30ff\u3400-\u9fff]")  # an opening worth caching
_THANKS = re.compile(r"thank|grateful|appreciate|谢|ありがと", re.IGNORECASE)
_CUT = re.compile(r"[,，、;；:：]\s*$")  # a line that stops mid-clause (cut by the length limit)


def placeholders(text: str) -> list[tuple[str, str, str]] | None:
    """The `{fields}` of a line as sorted (name, spec, conversion); None when it does not parse
    as a format string (a stray brace).
    """
    try:
        fields = [(name, spec or "", conv or "") for _, name, spec, conv
                  in string.Formatter().parse(text) if name is not None]
    except ValueError:
        return None
    return sorted(fields)


def opening(text: str) -> str:
    """The fixed text before a line's first placeholder (what the voice can cache)."""
    return text.split("{", 1)[0].strip()


@dataclass
class _Wanted:
    template: str
    language: str
    emotion: str


@dataclass
class ThanksPool:
    """Model-written variations of the thank-you templates (see the module docstring)."""

    size: int = 2  # variations to keep per template (and language)
    tries: int = 3  # model attempts per variation kept, before giving up on a template
    kept: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (variation, why), recent
    give_up: int = 8  # attempts with nothing kept at all: this model cannot vary lines; stop
    pending: tuple[_Wanted, Handle[Reply]] | None = None
    stopped: bool = False

    def wanted(self, ctx: Any) -> list[_Wanted]:
        """Every thank-you template of the show, with its language and emotion."""
        gifts = ctx.show.gifts
        tiers = gifts["tiers"]
        first = tiers[0]["expression"] if tiers else "happy"
        out: list[_Wanted] = []
        for lines, emotion in [*((t["lines"], t["expression"]) for t in tiers),
                               (gifts["aggregate_lines"], first),
                               (gifts["membership_lines"], first)]:
            for lang, templates in (lines or {}).items():
                out += [_Wanted(t, lang, emotion) for t in templates]
        return out

    def pump(self, ctx: Any) -> None:
        """Judge the variation in flight when it is done; start the next one the pool lacks."""
        if self.pending is not None:
            want, handle = self.pending
            if not handle.done():
                return
            self.pending = None
            self._judge(ctx, want, handle)
        if self.stopped:
            return
        if not self.kept and sum(self.attempts.values()) >= self.give_up:
            self.stopped = True
            log.warning("the dialogue model kept no thank-you variation in %d tries (see the "
                        "log for why); thank-yous use the templates only", self.give_up)
            return
        for want in self.wanted(ctx):
            key = (want.template, want.language)
            have = self.kept.get(key, [])
            if len(have) >= self.size or self.attempts.get(key, 0) >= self.size * self.tries:
                continue
            self.attempts[key] = self.attempts.get(key, 0) + 1
            self.pending = (want, ctx.stage.dialogue.vary(want.template, language=want.language,
                                                          emotion=want.emotion))
            return

    def pause(self) -> None:
        """Stop the variation in flight (a higher priority needs the model); it is tried again."""
        if self.pending is None:
            return
        want, handle = self.pending
        self.pending = None
        key = (want.template, want.language)
        self.attempts[key] = max(0, self.attempts.get(key, 0) - 1)
        handle.cancel()

    def check(self, ctx: Any, want: _Wanted, text: str) -> str | None:
        """Why a variation may not be used, or None when it may."""
        if not text:
            return "empty"
        if text == want.template or text in self.kept.get((want.template, want.language), []):
            return "a repeat"
        fields = placeholders(text)
        if fields is None:
            return "not a valid line (stray brace)"
        if fields != placeholders(want.template):
            return (f"placeholders {sorted(f[0] for f in fields)} differ from the template's "
                    f"{sorted(f[0] for f in placeholders(want.template) or [])}")
        bare = fill(text, {})
        verdict = ctx.chat.moderator.check_output(bare)
        if verdict is not None:
            return f"moderated ({verdict.rule}: {verdict.detail})"
        if _THANKS.search(want.template) and not _THANKS.search(text):
            return "no thanks in it"
        if _CUT.search(text):
            return "cut off mid-clause"
        if fields and not _WORDY.search(opening(text)):
            return "opens with a placeholder (no cached opening)"
        if detect_language(bare) != detect_language(fill(want.template, {})):
            return f"not in {want.language}"
        return None

    def _judge(self, ctx: Any, want: _Wanted, handle: Handle[Reply]) -> None:
        result = handle.result
        if isinstance(handle, ReplyStream) and handle.used_fallback:
            why: str | None = f"no model line ({handle.ended_by or 'cancelled'})"
            text = ""
        else:
            # a line the model opened with "..." after its tag: the dots are not said
            text = result.text.strip().lstrip(".…。，, ") if result is not None else ""
            why = self.check(ctx, want, text)
        if why is not None:
            log.info("thank-you variation rejected (%s): %r", why, text)
            self.rejected = [*self.rejected[-19:], (text, why)]
            return
        log.info("thank-you variation kept for %r: %r", want.template, text)
        self.kept.setdefault((want.template, want.language), []).append(text)
        voice = ctx.stage.voice
        if isinstance(voice, TtsVoice):  # cache its opening, like the templates'
            voice.prewarm_gifts({"tiers": [{"lines": {want.language: [text]},
                                            "expression": want.emotion}]})

    def ready(self, ctx: Any, template: str, language: str, emotion: str) -> list[str]:
        """The kept variations of `template` that can start as fast as it does."""
        kept = self.kept.get((template, language), [])
        voice = ctx.stage.voice
        if not kept or not isinstance(voice, TtsVoice):
            return list(kept)
        return [v for v in kept if detect_language(opening(v)) not in voice.engines
                or voice._key(opening(v), emotion) in voice.cache]


_POOLS: weakref.WeakKeyDictionary[Dialogue, ThanksPool] = weakref.WeakKeyDictionary()


def thanks_pool(dialogue: Dialogue, *, size: int | None = None) -> ThanksPool | None:
    """The dialogue's pool of thank-you variations (None without a model: templates only)."""
    if isinstance(dialogue, TemplateResponder):
        return None
    pool = _POOLS.get(dialogue)
    if pool is None:
        if size is None:
            return None
        pool = _POOLS[dialogue] = ThanksPool(size=size)
    elif size is not None:
        pool.size = size
    return pool


def vary_line(ctx: Any, template: str, language: str, emotion: str) -> str:
    """The template, or one of its ready model-written variations (the template's chance is
    the same as each variation's). No pool: the template, and no random draw.
    """
    pool = thanks_pool(ctx.stage.dialogue)
    options = pool.ready(ctx, template, language, emotion) if pool is not None else []
    if not options:
        return template
    choice: str = ctx.rng.choice([template, *options])
    return choice


def _join_names(names: list[str], lang: str) -> str:
    return "、".join(names) if lang in ("zh", "ja") else ", ".join(names)


_SOMEONE = {"zh": "这位朋友", "ja": "この方"}


def _speakable(ctx: Any, names: list[str], lang: str) -> list[str]:
    """The names that may be read out: a name caught by the banned words never is."""
    ok = [n for n in names if ctx.chat.moderator.check("", n) is None]
    return ok if ok or not names else [_SOMEONE.get(lang, "friend")]


class ThankGifts(ShowBehaviour):
    kind = "thank_gifts"
    doc = ("Thank the next gift in priority order with its tier's line, expression, motion and "
           "effect; combos are thanked once with the total, small gifts in a storm together. "
           "Fails when no gift in the tier range is ready.")
    params = {
        "min_tier": Field(Int(minimum=1), "only gifts of this tier or above", default=1),
        "max_tier": Field(Int(minimum=0), "only gifts up to this tier (0 = no limit)", default=0),
        "urgent": Field(Bool(), "only gifts big enough to interrupt the current segment (the "
                        "show's interrupts.gift_tier, or the segment's own)", default=False),
        "uninterruptible": Field(Bool(), "finish a thank-you already being said when a higher "
                                 "priority takes over", default=True),
    }
    reads = ("gifts.pending", "gifts.top_tier", "urgent.pending")
    thanks: Thanks | None = None
    handle: Handle[Any] | None = None

    def initialise(self) -> None:
        self.thanks = self.handle = None
        ctx = self.ctx
        now = self.now()
        max_tier = self.p["max_tier"] or 10**6
        min_tier = self.p["min_tier"]
        if self.p["urgent"]:
            min_tier = max(min_tier, ctx.interrupts["gift_tier"])
        thanks = ctx.gifts.take(now, min_tier=min_tier, max_tier=max_tier)
        if thanks is None:
            return
        self.thanks = thanks
        ctx.claim(thanks.events, self.path)
        tiers = ctx.show.gifts["tiers"]
        tier = tiers[min(thanks.tier, len(tiers)) - 1]
        values = {"viewer": thanks.viewer.name, "gift": thanks.gift, "count": thanks.count,
                  "value": f"{thanks.value:g}", "currency": ctx.show.money.base,
                  "tier": tier["name"], "name": ctx.show.persona["name"]}
        if thanks.kind == "membership":
            member = thanks.events[0]
            template, lang = choose(ctx.show.gifts["membership_lines"], thanks.viewer.name,
                                    ctx.rng)
            values.update(level=getattr(member, "level", 1), months=getattr(member, "months", 1))
        elif thanks.kind == "aggregate":
            template, lang = choose(ctx.show.gifts["aggregate_lines"],
                                    thanks.gift + "".join(thanks.names), ctx.rng)
            names = _speakable(ctx, thanks.names, lang)
            values.update(names=_join_names(names, lang),
                          others=thanks.others + max(0, len(thanks.names) - len(names)))
        else:
            template, lang = choose(tier["lines"], thanks.gift + thanks.viewer.name, ctx.rng)
        values["viewer"] = _speakable(ctx, [thanks.viewer.name], lang)[0]
        line = fill(vary_line(ctx, template, lang, tier["expression"]), values)
        stage = ctx.stage
        stage.avatar.express(tier["expression"], now)
        stage.avatar.play(tier["motion"], now)
        stage.obs.show_effect(tier["effect"], now)
        banner = ctx.show.obs.get("banner", "")
        if banner:  # the thank-you line, on screen while it is said
            stage.obs.set_text(banner, line, now)
        self.handle = stage.voice.speak(line, reason="gift", emotion=tier["expression"],
                                        language=lang)

    def update(self) -> Any:
        if self.thanks is None or self.handle is None:
            return FAILURE
        if not self.handle.done():
            return RUNNING
        self.ctx.settle_thanks(self.thanks.events, self.path)
        self.thanks = None
        return SUCCESS

    def terminate(self, new_status: Any) -> None:
        if new_status != INVALID or self.thanks is None or self.handle is None:
            return
        thanks, handle = self.thanks, self.handle
        self.thanks = self.handle = None
        if self.p["uninterruptible"]:
            path = self.path
            self.ctx.stage.detach(handle, lambda: self.ctx.settle_thanks(thanks.events, path))
            return
        handle.cancel()
        self.ctx.release(thanks.events)
        self.ctx.gifts.give_back(thanks)


class ThankCrowd(ShowBehaviour):
    kind = "thank_crowd"
    doc = ("Acknowledge waiting follows, entries or likes together in one line (the kind that "
           "has waited longest). Fails when none wait.")
    params = {
        "kinds": Field(ListOf(Choice("follow", "enter", "like"), min_items=1),
                       "which events, in order of preference", default=["follow", "like", "enter"]),
        "names": Field(Int(minimum=1), "names said aloud", default=3),
    }
    reads = ("crowd.pending",)
    batch: tuple[str, list[Event]] | None = None
    handle: Handle[Any] | None = None

    def initialise(self) -> None:
        self.batch = self.handle = None
        ctx = self.ctx
        batch = ctx.crowd.take(self.p["kinds"])
        if batch is None:
            return
        kind, events = batch
        self.batch = batch
        ctx.claim(events, self.path)
        unique: dict[str, str] = {}
        for e in events:
            unique.setdefault(e.viewer.key, e.viewer.name)
        names = list(unique.values())
        shown = names[: self.p["names"]]
        template, lang = choose(ctx.show.persona["crowd"][kind], "".join(shown), ctx.rng)
        said = _speakable(ctx, shown, lang)
        line = fill(template, {
            "names": _join_names(said, lang), "others": len(names) - len(said),
            "count": ctx.crowd.like_count(events) if kind == "like" else len(events),
            "name": ctx.show.persona["name"]})
        ctx.stage.avatar.express("happy", self.now())
        self.handle = ctx.stage.voice.speak(line, reason="gift", emotion="happy", language=lang)

    def update(self) -> Any:
        if self.batch is None or self.handle is None:
            return FAILURE
        if not self.handle.done():
            return RUNNING
        self.ctx.settle_thanks(self.batch[1], self.path)
        self.batch = None
        return SUCCESS

    def terminate(self, new_status: Any) -> None:
        if new_status != INVALID or self.batch is None or self.handle is None:
            return
        batch, handle = self.batch, self.handle
        self.batch = self.handle = None
        path = self.path
        self.ctx.stage.detach(handle, lambda: self.ctx.settle_thanks(batch[1], path))


