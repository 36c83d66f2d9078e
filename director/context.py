"""Everything a running show's nodes share: the show, clock, blackboard, queues, ledger, stage."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from director.blackboard import Blackboard
from director.chat import ChatPool
from director.clock import Clock
from director.events import Event, Like
from director.gifts import GiftQueue
from director.ledger import Ledger, key_of
from director.memory import ViewerMemory
from director.segments import SegmentBook
from director.services.stage import Stage
from director.showfile import Show

CROWD_LIMIT = 200  # most follows/entries kept per kind; older ones are acknowledged in bulk


class CrowdQueue:
    """Follows, entries and likes waiting to be acknowledged together."""

    def __init__(self) -> None:
        self.waiting: dict[str, list[Event]] = {"follow": [], "enter": [], "like": []}
        self.overflow: list[Event] = []

    def add(self, event: Event) -> list[Event]:
        """Queue an event; returns older events pushed out by the limit (to be marked skipped)."""
        items = self.waiting[event.kind]
        items.append(event)
        if len(items) > CROWD_LIMIT:
            pushed = items[: len(items) - CROWD_LIMIT]
            del items[: len(items) - CROWD_LIMIT]
            return pushed
        return []

    def __len__(self) -> int:
        return sum(len(v) for v in self.waiting.values())

    def take(self, kinds: Iterable[str]) -> tuple[str, list[Event]] | None:
        """All waiting events of the kind (among `kinds`) whose oldest event waited longest;
        ties go to the order of `kinds`.
        """
        best: str | None = None
        for kind in kinds:
            items = self.waiting.get(kind)
            if items and (best is None or items[0].received < self.waiting[best][0].received):
                best = kind
        if best is None:
            return None
        batch, self.waiting[best] = self.waiting[best], []
        return best, batch

    def give_back(self, kind: str, batch: list[Event]) -> None:
        self.waiting[kind] = batch + self.waiting[kind]

    @staticmethod
    def like_count(batch: list[Event]) -> int:
        return sum(e.count for e in batch if isinstance(e, Like))


@dataclass
class ShowContext:
    show: Show
    clock: Clock
    bb: Blackboard
    ledger: Ledger
    stage: Stage
    gifts: GiftQueue
    chat: ChatPool
    crowd: CrowdQueue
    segments: SegmentBook
    rng: random.Random
    topic_turn: int = 0  # self-talk walks through the persona's topics in order
    interrupts: dict[str, Any] = field(default_factory=dict)  # rules in force (show or segment)
    handled: dict[str, int] = field(default_factory=dict)  # outcome -> count, this run
    reactions: list[tuple[str, float]] = field(default_factory=list)  # (kind, latency) this tick
    memory: ViewerMemory | None = None  # viewer profiles and facts (director.memory)

    def claim(self, events: Iterable[Event], by: str) -> None:
        now = self.clock.now()
        events = list(events)
        self.ledger.claim([key_of(e) for e in events], by, now)
        for e in events:
            self.reactions.append((e.kind, now - e.received))

    def release(self, events: Iterable[Event]) -> None:
        self.ledger.release([key_of(e) for e in events])

    def settle(self, outcomes: Iterable[tuple[Event, str]], by: str | None,
               detail: str | None = None) -> None:
        outcomes = list(outcomes)
        self.ledger.done([(key_of(e), o) for e, o in outcomes], by, self.clock.now(), detail)
        for _, outcome in outcomes:
            self.handled[outcome] = self.handled.get(outcome, 0) + 1

    def settle_thanks(self, events: list[Event], by: str) -> None:
        """The first event of a thanks is 'thanked'; the rest were thanked with it: 'merged'."""
        self.settle([(e, "thanked" if i == 0 else "merged") for i, e in enumerate(events)], by)

