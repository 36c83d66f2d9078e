"""Gift reactions: thank the next gift (or combo, or crowd of small gifts) by its tier."""

from __future__ import annotations

from typing import Any

from behaviours.base import FAILURE, INVALID, RUNNING, SUCCESS, ShowBehaviour
from director.events import Event
from director.gifts import Thanks
from director.services.dialogue import choose, fill
from director.services.handles import Handle
from director.spec import Bool, Choice, Field, Int, ListOf


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
        line = fill(template, values)
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


