"""A steady, seeded stream of live events of every kind, for the benchmarks.

Records are the sim JSONL objects (`event_from_record` form), each with its show time `t`, so the
same stream feeds a Director by hand (tick.py), through an in-process listener (soak.py) or as a
`director run --events` file (tick.py --realtime). Arrivals are a Poisson process at `rate`
events/s; the mix per 100 events is a busy night: chat 40, like 20, enter 15, gift 18, follow 5,
super chat 0.08, membership 0.04, operator speech 0.01; about 1% of gifts are big enough (10 CNY
and up) to interrupt a segment. Gifts come as singles, combos (the same viewer clicking the same
gift for a few seconds) and, about every 90 s, a 5 s storm of small gifts from many viewers.

Paid events are rare on purpose: at 50 events/s one voice (a line takes 2-7 s) cannot keep up with
more, and a show that only ever answers urgent events is not the one worth measuring. Chat
includes questions, members, duplicates, floods, over-long and banned messages, so every screening
path in ChatPool runs.

Viewers: a core of regulars plus new arrivals (`new_viewer_share` of events bring a viewer never
seen before), so per-viewer state in the director meets a growing audience as in a real stream.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KINDS = ("chat", "like", "enter", "gift", "follow", "super_chat", "membership", "speech")
WEIGHTS = (40.0, 20.0, 15.0, 18.0, 5.0, 0.08, 0.04, 0.01)
STORM_EVERY_S = 90.0
STORM_LEN_S = 5.0
# (gift name, unit value in CNY, weight): tiers of asmr_night are 0 / 1 / 10 / 100 CNY
GIFTS = (("小心心", 0.1, 56), ("小花花", 0.1, 26), ("荧光棒", 1.0, 17), ("花束", 10.0, 0.6),
         ("告白气球", 52.0, 0.15), ("小电视飞船", 1245.0, 0.02), ("rocket", 500.0, 0.05))
CHAT = ("晚上好小樱！", "hi Sakura, is it raining where you are?", "好喜欢这个声音",
        "what book are you reading tonight", "今天好累，来听听雨声", "lol the cat",
        "can you do the brushing sounds again?", "你吃晚饭了吗？", "first time here, hello",
        "晚安～", "this is so relaxing", "主播声音好温柔")


class Feed:
    """Events at `rate`/s from show time 0; `until(t)` yields those due before `t`."""

    def __init__(self, *, rate: float, seed: int = 1, regulars: int = 300,
                 new_viewer_share: float = 0.25) -> None:
        self.rate = rate
        self.rng = random.Random(seed)
        self.t = 0.0
        self.seq = 0
        self.regulars = regulars
        self.new_share = new_viewer_share
        self.viewers = regulars
        # open combos: (until, viewer, gift, unit value)
        self.combos: list[tuple[float, dict[str, Any], str, float]] = []
        self.recent: list[str] = []
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._next()

    def _next(self) -> None:
        self.t += self.rng.expovariate(self.rate)

    def _viewer(self) -> dict[str, Any]:
        rng = self.rng
        if rng.random() < self.new_share:
            self.viewers += 1
            n = self.viewers
        elif rng.random() < 0.5:
            n = rng.randrange(1, self.regulars + 1)
        else:
            n = rng.randrange(1, self.viewers + 1)
        level = 3 if n % 23 == 0 else (1 if n % 11 == 0 else 0)
        return {"id": f"v{n}", "name": f"viewer{n}" if n % 3 else f"观众{n}", "level": level}

    def _chat_text(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.05 and self.recent:
            return rng.choice(self.recent)  # a duplicate
        if roll < 0.07:
            return "哈哈" * 10  # flood
        if roll < 0.08:
            return "so cozy " * 20  # over max_length
        if roll < 0.10:
            return f"you are a stupid bot {self.seq}"  # banned word
        text = f"{rng.choice(CHAT)} {self.seq % 1000}"
        self.recent = [*self.recent[-20:], text]
        return text

    def _gift(self, viewer: dict[str, Any], storm: bool) -> dict[str, Any]:
        rng = self.rng
        now = self.t
        self.combos = [c for c in self.combos if c[0] > now]
        if storm:
            name, unit, count = "小心心", 0.1, 1
        elif self.combos and rng.random() < 0.4:
            _, viewer, name, unit = rng.choice(self.combos)
            count = rng.choice((1, 1, 2))
        else:
            name, unit, _ = rng.choices(GIFTS, weights=[g[2] for g in GIFTS])[0]
            count = rng.choice((1, 1, 1, 2, 5, 10) if unit < 1 else (1, 1, 1, 2))
            if unit < 10 and rng.random() < 0.3:
                self.combos.append((now + rng.uniform(2.0, 8.0), viewer, name, unit))
        return {"viewer": viewer, "gift": name, "count": count, "value": round(unit * count, 2)}

    def one(self) -> dict[str, Any]:
        """The next event record (with `t`), and move on."""
        rng = self.rng
        storm = (self.t % STORM_EVERY_S) < STORM_LEN_S
        kind = "gift" if storm and rng.random() < 0.7 else rng.choices(KINDS, weights=WEIGHTS)[0]
        self.seq += 1
        viewer = self._viewer()
        rec: dict[str, Any] = {"t": round(self.t, 4), "kind": kind, "msg_id": f"b{self.seq}",
                               "viewer": viewer}
        if kind == "chat":
            rec["text"] = self._chat_text()
        elif kind == "gift":
            rec.update(self._gift(viewer, storm))
        elif kind == "like":
            rec["count"] = rng.choice((1, 1, 3, 10))
        elif kind == "super_chat":
            rec["text"] = rng.choice(("能讲一个关于星星的故事吗？", "Thank you for the streams!"))
            rec.update(rng.choice(({"value": 30}, {"value": 100}, {"value": 5, "currency": "USD"})))
        elif kind == "membership":
            rec.update({"value": 30, "level": 3, "months": rng.choice((1, 3, 12))})
        elif kind == "speech":
            rec["viewer"] = {"id": "operator", "name": "operator", "level": 0}
            rec["text"] = "Sakura, say good night to everyone who just arrived"
        self.counts[kind] += 1
        self._next()
        return rec

    def until(self, t: float) -> Iterator[dict[str, Any]]:
        while self.t < t:
            yield self.one()


def write_jsonl(path: Path, *, rate: float, seconds: float, seed: int = 1) -> int:
    """Write `seconds` of the feed as a sim JSONL file; returns the number of events."""
    feed = Feed(rate=rate, seed=seed)
    n = 0
    with path.open("w", encoding="utf-8") as out:
        for rec in feed.until(seconds):
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n
