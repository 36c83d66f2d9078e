"""Gift thanks: tiers, combos, priority and aggregation under a storm.

Every gift (and paid membership) becomes part of exactly one `Thanks`. Gifts from the same viewer
of the same gift within the combo window merge into one entry whose count and value are totals, and
whose tier follows the total. An entry is *ready* once its combo has settled (no new gift for the
window), so a combo is thanked once, with its total, not once per click.

Under a storm the queue stays short: when more small entries (tier ≤ `aggregate_max_tier`) are
ready than `aggregate_after`, they are all thanked together in one line ("thank you 小明, 阿杰 and
35 others for the hearts!"); and when more than `STORM_CAP` entries of any tier wait, the lowest
tier present is aggregated the same way. Nothing is dropped: every merged event is marked in the
ledger as part of the thanks that covered it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from director.events import Event, Gift, Membership, Viewer

STORM_CAP = 40


# eq=False: a Thanks is one queued entry, compared by identity. Field equality made every
# `entry in entries` / `entries.remove(e)` compare whole event lists (a third of a busy tick).
@dataclass(eq=False)
class Thanks:
    """One thank-you to say: a single gift, a combo, or an aggregate of many."""

    tier: int
    viewer: Viewer
    gift: str
    count: int
    value: float
    events: list[Event]
    first_at: float
    last_at: float
    kind: str = "gift"  # gift | membership | aggregate
    names: list[str] = field(default_factory=list)  # aggregates: viewers named aloud
    others: int = 0  # aggregates: viewers not named

    @property
    def level(self) -> int:
        return self.viewer.level


class GiftQueue:
    """Waiting thanks, in the order the show's `gifts.priority` says."""

    def __init__(self, gifts: dict[str, Any], tier_of: Any) -> None:
        self.configure(gifts, tier_of)
        self.entries: list[Thanks] = []
        self._open: dict[tuple[str, str], Thanks] = {}

    def configure(self, gifts: dict[str, Any], tier_of: Any) -> None:
        self.window = float(gifts["combo_window_s"])
        self.aggregate_max_tier = int(gifts["aggregate_max_tier"])
        self.aggregate_after = int(gifts["aggregate_after"])
        self.aggregate_names = int(gifts["aggregate_names"])
        self.priority = list(gifts["priority"])
        self.tier_of = tier_of

    def __len__(self) -> int:
        return len(self.entries)

    def _entry(self, event: Event, now: float) -> Thanks:
        if isinstance(event, Membership):
            return Thanks(
                tier=self.tier_of(event.value), viewer=event.viewer,
                gift=f"membership level {event.level}", count=event.months, value=event.value,
                events=[event], first_at=now, last_at=now - self.window, kind="membership")
        if not isinstance(event, Gift):
            raise TypeError(f"not a gift: {event.kind}")
        return Thanks(tier=self.tier_of(event.value), viewer=event.viewer, gift=event.gift,
                      count=event.count, value=event.value, events=[event], first_at=now,
                      last_at=now)

    def add(self, event: Event, now: float) -> None:
        if isinstance(event, Membership):  # memberships never combo: ready at once
            self.entries.append(self._entry(event, now))
            return
        if not isinstance(event, Gift):
            raise TypeError(f"not a gift: {event.kind}")
        key = (event.viewer.key, event.gift)
        entry = self._open.get(key)
        if entry is not None and now - entry.last_at <= self.window and entry in self.entries:
            entry.count += event.count
            entry.value += event.value
            entry.events.append(event)
            entry.last_at = now
            entry.tier = self.tier_of(entry.value)
            return
        entry = self._entry(event, now)
        self.entries.append(entry)
        self._open[key] = entry
        if len(self._open) > 2 * len(self.entries) + 1024:
            # a combo quiet for longer than the window never grows again: forget it, or every
            # (viewer, gift) of a long show stays here with its events (amortised O(1))
            self._open = {k: e for k, e in self._open.items() if now - e.last_at <= self.window}

    def ready(self, now: float) -> list[Thanks]:
        return [e for e in self.entries if now - e.last_at >= self.window]

    def summary(self, now: float) -> tuple[int, int, list[int]]:
        """(ready count, top ready tier, tiers of ready entries) for the blackboard."""
        tiers = [e.tier for e in self.entries if now - e.last_at >= self.window]
        return len(tiers), max(tiers, default=0), tiers

    def _rank(self, e: Thanks) -> tuple[Any, ...]:
        parts: list[Any] = []
        for p in self.priority:
            parts.append(-{"tier": e.tier, "level": e.level, "combo": e.count,
                           "value": e.value}[p])
        parts.append(e.first_at)
        return tuple(parts)

    def take(self, now: float, *, min_tier: int = 1, max_tier: int = 10**6) -> Thanks | None:
        """Remove and return the next thanks to say among ready entries in the tier range."""
        ready = [e for e in self.ready(now) if min_tier <= e.tier <= max_tier]
        if not ready:
            return None
        small = [e for e in ready if e.tier <= self.aggregate_max_tier]
        group: list[Thanks] = []
        if len(small) > self.aggregate_after:
            group = small
        elif len(ready) > STORM_CAP:
            lowest = min(e.tier for e in ready)
            group = [e for e in ready if e.tier == lowest]
        if len(group) > 1:
            taken = {id(e) for e in group}  # one pass: removing one by one is O(n²) in a storm
            self.entries = [e for e in self.entries if id(e) not in taken]
            return self._aggregate(group)
        best = min(ready, key=self._rank)
        self.entries.remove(best)
        return best

    def _aggregate(self, group: list[Thanks]) -> Thanks:
        group.sort(key=self._rank)
        by_viewer: dict[str, Viewer] = {}
        for e in group:
            by_viewer.setdefault(e.viewer.key, e.viewer)
        gift = Counter(e.gift for e in group).most_common(1)[0][0]
        viewers = list(by_viewer.values())
        names = [v.name for v in viewers[: self.aggregate_names]]
        others = len(viewers) - len(names)
        if others == 0 and len(names) > 1:
            names, others = names[:-1], 1
        events = [ev for e in group for ev in e.events]
        return Thanks(
            tier=max(e.tier for e in group), viewer=viewers[0], gift=gift,
            count=sum(e.count for e in group), value=sum(e.value for e in group), events=events,
            first_at=min(e.first_at for e in group), last_at=max(e.last_at for e in group),
            kind="aggregate" if len(viewers) > 1 else "gift", names=names, others=others)

    def give_back(self, thanks: Thanks) -> None:
        """An interrupted thanks goes back to the queue, ready at once."""
        if thanks.kind != "aggregate":
            self.entries.append(thanks)
            return
        for ev in thanks.events:
            entry = self._entry(ev, thanks.first_at)
            entry.last_at = thanks.first_at - self.window  # settled: ready at once
            self.entries.append(entry)
