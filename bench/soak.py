"""Soak: a four-hour show on the simulated clock, with a steady stream of every event kind.

    .venv/bin/python bench/soak.py                     # 4 h of show at 10 events/s: about a minute
    .venv/bin/python bench/soak.py --hours 1 --rate 20

shows/asmr_night.yaml runs in the real `Director.run` loop (what `director run --speed N` does)
at a speed high enough that it ticks as fast as it can; events come from bench/feed.py through an
in-process listener that sleeps on the show clock like the sim listener, but generates events as
it goes instead of reading a file (the sim listener holds its whole file in memory, which would
hide a leak in the director behind the file's own size). Logging is at warning level.

At every simulated hour it prints the process's memory (RSS, and live Python objects after a full
collection), the process CPU time per tick (ticks, events and all: the figure least disturbed by
other load on the machine), that hour's tick figures (tree = `root.tick_once()`, the report's
tick cost; full = all of `Director.tick()`), the events ledgered, outcomes so far, and the size of
every queue and per-viewer table the director keeps, so unbounded growth shows up by name. At the
end: memory growth from hour 1 to the last hour, and the last hour's figures against hour 1's.
Lateness is not reported: at this speed every tick is "late" by design.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from feed import Feed

from director.engine import Director
from director.events import Money, event_from_record
from director.listeners.base import Emit, Listener
from director.showfile import load_show
from director.stats import LatencyStats

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


class FeedListener(Listener):
    """Emits the feed's events at their show times (the sim listener, minus the file)."""

    name = "feed"

    def __init__(self, feed: Feed, director: Director, money: Money) -> None:
        super().__init__()
        self.feed = feed
        self.director = director
        self.money = money

    async def run(self, emit: Emit) -> None:
        clock = self.director.clock
        offset = self.director.offset
        while True:
            rec = self.feed.one()
            await clock.sleep_until(offset + rec["t"])
            self.received += 1
            emit(event_from_record(rec, money=self.money, received=clock.now()))


def sizes(d: Director) -> dict[str, int]:
    """Lengths of everything in the director that could grow with the audience or with time."""
    ctx, stage = d.ctx, d.stage

    def n(obj: Any, attr: str) -> int:
        value = getattr(obj, attr, None)
        return len(value) if value is not None else -1

    return {
        "gifts": n(ctx.gifts, "entries"), "gift_open": n(ctx.gifts, "_open"),
        "chat": n(ctx.chat, "pool"), "chat_texts": n(ctx.chat, "_recent_texts"),
        "chat_viewers": n(ctx.chat, "_by_viewer"), "crowd": len(ctx.crowd),
        "voice_q": n(stage.voice, "queue"), "detached": n(stage, "detached"),
        "avatar_hist": n(stage.avatar.state, "history"), "obs_req": n(stage.obs, "requests"),
        "clock_wait": n(d.clock, "_waiters"), "seg_rows": n(ctx.segments, "rows"),
        "handled": len(ctx.handled), "swaps": len(d.swaps),
    }


def ledger_mb(state: Path) -> float:
    return sum(p.stat().st_size for p in state.glob("ledger.sqlite3*")) / MB


async def soak(args: argparse.Namespace, state: Path) -> list[dict[str, Any]]:
    show = load_show(ROOT / "shows" / "asmr_night.yaml")
    director = Director(show, state_dir=state, speed=args.speed, listeners=[], seed=args.seed)
    feed = Feed(rate=args.rate, seed=args.seed)
    director.listeners = [FeedListener(feed, director, show.money)]
    proc = psutil.Process()

    full = LatencyStats()
    tick = director.tick

    def timed_tick() -> float:
        t0 = time.perf_counter()
        cost = tick()
        full.add(time.perf_counter() - t0)
        return cost

    director.tick = timed_tick  # type: ignore[method-assign]
    rows: list[dict[str, Any]] = []
    gc.collect()
    start = {"rss": proc.memory_info().rss / MB, "objects": len(gc.get_objects()),
             "wall": time.perf_counter(), "cpu": sum(proc.cpu_times()[:2])}

    async def monitor() -> None:
        nonlocal full
        last_wall, last_cpu, last_ticks, last_events = start["wall"], start["cpu"], 0, 0
        for hour in range(1, args.hours + 1):
            await director.clock.sleep_until(director.offset + hour * 3600.0)
            wall, cpu = time.perf_counter(), sum(proc.cpu_times()[:2])
            gc.collect()
            events = int(director.ledger.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
            rows.append({
                "hour": hour, "wall": wall - last_wall, "rss": proc.memory_info().rss / MB,
                "cpu_us": (cpu - last_cpu) / max(1, director.ticks - last_ticks) * 1e6,
                "objects": len(gc.get_objects()), "ticks": director.ticks - last_ticks,
                "tree": director.tick_cost.summary_ms(), "full": full.summary_ms(),
                "events": events - last_events, "events_total": events,
                "outcomes": director.ledger.outcome_counts(), "sizes": sizes(director),
                "ledger_mb": ledger_mb(state), "faults": director.faults,
            })
            print_hour(rows[-1], start, flush=True)
            director.tick_cost, full = LatencyStats(), LatencyStats()
            last_ticks, last_events = director.ticks, events
            last_wall, last_cpu = time.perf_counter(), sum(proc.cpu_times()[:2])

    watcher = asyncio.create_task(monitor())
    await director.run(duration=args.hours * 3600.0)
    await asyncio.sleep(0)
    watcher.cancel()
    director.close()
    return [start, *rows]


HEAD = (f"{'hour':>4}{'wall s':>8}{'cpu/tick':>9}{'RSS MB':>8}{'objects':>9}{'ticks':>8}"
        f"{'tree p50':>9}{'p99':>7}{'max':>7}{'full p50':>9}{'p99':>7}{'max':>7}"
        f"{'events':>8}{'total':>8}{'ledger MB':>10}")


def print_hour(r: dict[str, Any], start: dict[str, Any], *, flush: bool = False) -> None:
    t, f = r["tree"], r["full"]
    print(f"{r['hour']:>4}{r['wall']:>8.1f}{r['cpu_us']:>7.1f}us{r['rss']:>8.1f}{r['objects']:>9}"
          f"{r['ticks']:>8}"
          f"{t['p50']:>9.3f}{t['p99']:>7.3f}{t['max']:>7.2f}{f['p50']:>9.3f}{f['p99']:>7.3f}"
          f"{f['max']:>7.2f}{r['events']:>8}{r['events_total']:>8}{r['ledger_mb']:>10.1f}")
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r["outcomes"].items()))
    queues = " ".join(f"{k}={v}" for k, v in r["sizes"].items())
    print(f"      outcomes: {outcomes}\n      sizes: {queues}"
          + (f"\n      tree faults: {r['faults']}" if r["faults"] else ""), flush=flush)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=int, default=4, help="simulated hours of show")
    ap.add_argument("--rate", type=float, default=10.0, help="events per second (show time)")
    ap.add_argument("--speed", type=float, default=1e6,
                    help="show seconds per real second at most (high: as fast as it can)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    logging.getLogger("director").setLevel(logging.WARNING)
    print(f"soak: shows/asmr_night.yaml, {args.hours} h of show at {args.rate:g} events/s, "
          f"speed {args.speed:g}; python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load avg {os.getloadavg()[0]:.2f}")
    print("tick figures in ms, per simulated hour; RSS and objects at the end of the hour\n")
    print(HEAD, flush=True)
    with tempfile.TemporaryDirectory(prefix="director-soak-") as tmp:
        rows = asyncio.run(soak(args, Path(tmp) / "state"))
    start, hours = rows[0], rows[1:]
    first, last = hours[0], hours[-1]
    growth = last["rss"] - first["rss"]
    drift = {k: last["tree"][k] / first["tree"][k] for k in ("p50", "p99")}
    drift_full = {k: last["full"][k] / first["full"][k] for k in ("p50", "p99")}
    wall = sum(r["wall"] for r in hours)
    cpu = last["cpu_us"] / first["cpu_us"]
    print(f"\nRSS: {start['rss']:.1f} MB before the show, {first['rss']:.1f} after hour 1, "
          f"{last['rss']:.1f} after hour {last['hour']}: growth {growth:+.1f} MB "
          f"(target < 50 MB: {'PASS' if growth < 50 else 'FAIL'}); live objects "
          f"{first['objects']} -> {last['objects']}")
    print(f"tick hour {last['hour']} / hour 1: tree p50 {drift['p50']:.2f}x, p99 "
          f"{drift['p99']:.2f}x; full p50 {drift_full['p50']:.2f}x, p99 {drift_full['p99']:.2f}x"
          f"; process CPU per tick (ticks, events, everything) {cpu:.2f}x (no slowdown: "
          f"{'PASS' if cpu < 1.15 and drift['p50'] < 1.15 else 'CHECK'}; wall-clock p99 moves "
          "with other load on the machine, CPU per tick much less)")
    print(f"wall time {wall:.1f} s for {sum(r['ticks'] for r in hours)} ticks and "
          f"{last['events_total']} events")
    return 0


if __name__ == "__main__":
    sys.exit(main())
