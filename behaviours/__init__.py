"""Behaviours shows use as tree leaves: gifts, chat, segments, idle and small actions."""

from __future__ import annotations

from typing import Any

from behaviours.actions import Effect, Emote, Scene, SetKey, SetText, Speak, Wait
from behaviours.asmr import AsmrSegment
from behaviours.base import ShowBehaviour
from behaviours.chat import ReplyChat
from behaviours.gifts import ThankCrowd, ThankGifts
from behaviours.greet import GreetRegulars
from behaviours.idle import IdlePerformance
from director.kinds import NodeKind

BEHAVIOURS: tuple[type[ShowBehaviour], ...] = (
    ThankGifts, ThankCrowd, GreetRegulars, ReplyChat, AsmrSegment, IdlePerformance,
    Speak, Emote, Wait, SetKey, Scene, Effect, SetText,
)


def behaviour_kinds() -> dict[str, NodeKind]:
    def builder(cls: type[ShowBehaviour]) -> Any:
        return lambda spec, children, ctx: cls(spec, ctx)

    return {
        cls.kind: NodeKind(cls.kind, "leaf", cls.doc, builder(cls), dict(cls.params),
                           validate=cls.validate, reads=cls.reads, writes=cls.writes)
        for cls in BEHAVIOURS
    }


__all__ = ["BEHAVIOURS", "ShowBehaviour", "behaviour_kinds"]
