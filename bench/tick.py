"""Tick cost of the default show and of a generated 1,000-node tree, against raw py_trees.

    .venv/bin/python bench/tick.py                   # about 15 s: both trees, ours vs the floor
    .venv/bin/python bench/tick.py --realtime 600    # and a 10-minute real-clock run, 50 events/s

1. Default tree: shows/asmr_night.yaml in a ShowHarness (a real Director on the sim clock) for
   `--seconds` of show (360: both segments start) while `--rate` events/s of every kind arrive
   (bench/feed.py). "tree" is the time inside `root.tick_once()`, the report's tick cost; "full"
   is all of `Director.tick()` (refresh, tree, stage poll, ledger heartbeat). A first pass records,
   per tick, each behaviour leaf's status and the blackboard; the timed pass then ticks ours and
   the floor (bench/floor.py) one after the other on every tick: the floor replays those statuses
   on the same shape, so it ticks the same nodes with the same results. The floor does none of the
   leaves' work (queue scans, ledger writes, speech), so "ours / floor" here is the show's whole
   cost over bare py_trees; it is also shown for the ticks without any ledger write.
2. 1,000 nodes: a generated show-like tree (TreeGen) of priorities, sequences, guards (abort:
   self), inverts and condition leaves on 16 blackboard keys, written as YAML, loaded and built by
   ours; its py_trees twin checks the same compiled conditions on the same dict. Each tick changes
   4 keys, then ticks ours and both floors. This ratio is framework overhead alone.
3. `--realtime S`: `director run shows/asmr_night.yaml --headless` on the real clock for S seconds
   with a `--rate` events/s file; prints the report's tick lateness and cost.

Two floors: "stock" leaves override update() as py_trees documents (each tick formats py_trees'
debug strings); "lean" leaves override tick() as ours do. Stock is what a py_trees user writes.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import floor
import py_trees
from feed import Feed, write_jsonl

from behaviours.base import ShowBehaviour
from director.events import event_from_record
from director.showfile import load_show
from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHOW = ROOT / "shows" / "asmr_night.yaml"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, max(0, math.ceil(q / 100 * len(s)) - 1))]


def figures(samples: list[float]) -> dict[str, float]:
    """p50/p99/max/mean in milliseconds."""
    return {"p50": pct(samples, 50) * 1e3, "p99": pct(samples, 99) * 1e3,
            "max": max(samples) * 1e3, "mean": sum(samples) / len(samples) * 1e3}


def row(label: str, f: dict[str, float], n: int | str = "") -> str:
    return (f"  {label:<34}{f['p50']:>8.3f}{f['p99']:>8.3f}{f['max']:>8.3f}{f['mean']:>8.3f}"
            f"{n!s:>8}")


def ratio_row(label: str, ours: dict[str, float], raw: dict[str, float]) -> str:
    return (f"  {label:<34}" + "".join(f"{ours[k] / raw[k]:>7.2f}x" for k in ("p50", "p99"))
            + f"{'':>8}{ours['mean'] / raw['mean']:>7.2f}x")


HEADER = f"  {'(ms)':<34}{'p50':>8}{'p99':>8}{'max':>8}{'mean':>8}{'ticks':>8}"


# -- 1. the default tree -------------------------------------------------------------------------
def _drive(h: ShowHarness, feed: Feed, ticks: int, each: Any) -> list[float]:
    """Tick `ticks` times, sending the feed's due events before each; returns ingest times."""
    ingest: list[float] = []
    pending = feed.one()
    director = h.director
    money = director.show.money
    for i in range(ticks):
        h.clock.advance(director.period)
        now = h.clock.now()
        while pending["t"] <= now:
            t0 = time.perf_counter()  # what a listener does: decode, then ingest
            director.ingest(event_from_record(pending, money=money, received=now))
            ingest.append(time.perf_counter() - t0)
            pending = feed.one()
        each(i)
    return ingest


def bench_default(seconds: float, rate: float, seed: int, work: Path) -> dict[str, Any]:
    show = load_show(DEFAULT_SHOW)
    ticks = int(seconds * 30)

    # pass 1: record what every behaviour leaf returned at every tick, and the blackboard
    scripts: dict[str, dict[int, py_trees.common.Status]] = {}
    boards: list[dict[str, Any]] = []
    number = floor.TickNumber()
    original = ShowBehaviour.tick

    def recording_tick(self: ShowBehaviour) -> Any:
        for node in original(self):
            scripts.setdefault(self.path, {})[number.i] = self.status
            yield node

    h = ShowHarness(show, state_dir=work / "record", seed=seed)

    def record(i: int) -> None:
        number.i = i
        h.director.tick()
        boards.append(dict(h.director.bb.values))

    ShowBehaviour.tick = recording_tick  # type: ignore[method-assign]
    try:
        _drive(h, Feed(rate=rate, seed=seed), ticks, record)
    finally:
        ShowBehaviour.tick = original  # type: ignore[method-assign]
    recorded = h.director.ledger.outcome_counts()
    h.close()

    # pass 2: ours and the two floors, tick by tick
    h = ShowHarness(show, state_dir=work / "timed", seed=seed)
    director = h.director
    values: dict[str, Any] = {}
    raws = {lean: floor.raw_tree(show.tree, values=values, lean=lean, scripts=scripts,
                                 number=number) for lean in (False, True)}
    tree: list[float] = []
    full: list[float] = []
    raw: dict[bool, list[float]] = {False: [], True: []}
    perf = time.perf_counter
    statements = [0]  # SQL statements run by the ledger, to tell quiet ticks from working ones
    director.ledger.db.set_trace_callback(lambda _: statements.__setitem__(0, statements[0] + 1))
    quiet: list[int] = []

    def timed(i: int) -> None:
        before = statements[0]
        t0 = perf()
        tree.append(director.tick())
        full.append(perf() - t0)
        if statements[0] == before:
            quiet.append(i)
        values.update(boards[i])
        number.i = i
        for lean, root in raws.items():
            t0 = perf()
            root.tick_once()
            raw[lean].append(perf() - t0)

    ingest = _drive(h, Feed(rate=rate, seed=seed), ticks, timed)
    same = director.ledger.outcome_counts() == recorded
    report = director.report()
    h.close()
    leaf_ticks = sum(len(s) for s in scripts.values())
    replayed, misses, cooling = floor.replay_totals(raws[False])
    return {
        "ticks": ticks, "events": len(ingest), "tree": tree, "full": full,
        "stock": raw[False], "lean": raw[True], "ingest": ingest, "same": same, "quiet": quiet,
        "leaf_ticks": leaf_ticks, "replayed": replayed, "misses": misses, "cooling": cooling,
        "outcomes": report["outcomes"], "nodes": len(show.tree.walk()),
        "raw_nodes": sum(1 for _ in raws[False].iterate()),
    }


# -- 2. a generated 1,000-node tree ---------------------------------------------------------------
KEYS = 16


class TreeGen:
    """Seeded show-like trees of exactly `n` nodes on keys bench.k0..k15 (ints 0..9).

    The shape of a big show: a reactive root priority of gated branches, each a priority of
    reactions; a reaction is a sequence that starts with a test that rarely passes ("anything to
    do?"), then more tests, inverted tests and small nested priorities, and ends with an unlikely
    test. Guards pass about 80% of the time, so a tick walks several branches before one reaction
    fires or the root's last child, a long `wait` (the idle branch), runs.
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def test(self, *, likely: bool, rare: bool = False) -> dict[str, Any]:
        """A key test that passes about 80% (`likely`), 25%, or 10% (`rare`) of the time."""
        rng = self.rng
        if rare:
            op, value = rng.choice((("eq", rng.randint(0, 9)), ("gte", 9)))
        elif likely:
            op, value = rng.choice((("lt", 8), ("ne", rng.randint(0, 9)), ("gte", 2)))
        else:
            op, value = rng.choice((("gte", rng.randint(7, 8)), ("eq", rng.randint(0, 9)),
                                    ("in", [1, 5]), ("lt", 3)))
        return {"key": f"bench.k{rng.randrange(KEYS)}", op: value}

    def cond(self, *, likely: bool, rare: bool = False) -> dict[str, Any]:
        return {"condition": self.name("c"), **self.test(likely=likely, rare=rare)}

    def reaction(self, size: int) -> dict[str, Any]:
        """A sequence of exactly `size` (>= 2) nodes; it succeeds on about 1.5% of ticks."""
        rng = self.rng
        children = [self.cond(likely=False, rare=True)]
        left = size - 2
        if left:
            left -= 1
            last = self.cond(likely=False)
        while left:
            roll = rng.random()
            if left >= 4 and roll < 0.2:
                m = rng.randint(2, min(4, left - 1))
                children.append({"priority": self.name("p"),
                                 "children": [self.cond(likely=False) for _ in range(m)]})
                left -= m + 1
            elif left >= 2 and roll < 0.45:
                children.append({"invert": self.name("i"), "child": self.cond(likely=False)})
                left -= 2
            else:
                children.append(self.cond(likely=True))
                left -= 1
        if size > 2:
            children.append(last)
        return {"sequence": self.name("s"), "memory": rng.random() < 0.5, "children": children}

    def branch(self, size: int) -> dict[str, Any]:
        """guard -> priority -> reactions: exactly `size` (>= 4) nodes."""
        rng = self.rng
        left = size - 2
        sizes = []
        while left:
            k = rng.randint(4, 8)
            k = left if left - k < 2 else k
            sizes.append(k)
            left -= k
        return {"guard": self.name("g"), "when": self.test(likely=True), "abort": "self",
                "child": {"priority": self.name("p"),
                          "children": [self.reaction(k) for k in sizes]}}

    def show(self, nodes: int, branches: int = 12) -> dict[str, Any]:
        body = nodes - 2  # the root and its final wait
        sizes = [body // branches + (1 if i < body % branches else 0) for i in range(branches)]
        tree = {"priority": "bench", "children": [*(self.branch(s) for s in sizes),
                                                   {"wait": "idle", "seconds": "999h"}]}
        return {"name": "bench tree", "persona": {"name": "Bench", "languages": ["en"],
                                                  "topics": ["tea"]},
                "blackboard": {f"bench.k{i}": {"type": "int", "default": 0} for i in range(KEYS)},
                "tree": tree}


def bench_big(nodes: int, ticks: int, seed: int, work: Path) -> dict[str, Any]:
    gen = TreeGen(seed)
    text = json.dumps(gen.show(nodes), ensure_ascii=False, indent=1)  # JSON is YAML
    h = ShowHarness.from_text(work / "big", text, seed=seed)
    spec = h.director.show.tree
    ours = h.director.root
    values = h.director.bb.values
    raws = {lean: floor.raw_tree(spec, values=values, lean=lean) for lean in (False, True)}
    rng = random.Random(seed + 1)
    keys = [f"bench.k{i}" for i in range(KEYS)]
    for key in keys:
        values[key] = rng.randrange(10)
    out: dict[str, list[float]] = {"ours": [], "stock": [], "lean": []}
    agree = 0
    perf = time.perf_counter
    for _ in range(ticks):
        for key in rng.sample(keys, 4):
            values[key] = rng.randrange(10)
        t0 = perf()
        ours.tick_once()
        out["ours"].append(perf() - t0)
        for lean, root in raws.items():
            t0 = perf()
            root.tick_once()
            out["lean" if lean else "stock"].append(perf() - t0)
        tip, raw_tip = ours.tip(), raws[False].tip()
        agree += (ours.status == raws[False].status == raws[True].status
                  and tip is not None and raw_tip is not None and tip.name == raw_tip.name)
    visited = _leaves_per_tick(spec, values, seed, ticks)
    h.close()
    return {**out, "nodes": len(spec.walk()), "raw_nodes": sum(1 for _ in raws[False].iterate()),
            "agree": agree, "ticks": ticks, "visited": visited,
            "leaves": sum(1 for n in spec.walk() if not n.children)}


def _leaves_per_tick(spec: Any, values: dict[str, Any], seed: int, ticks: int) -> float:
    """Mean leaves ticked per tick, on a separate counting floor (so no timed tree pays for it)."""
    count = [0]

    class Counting(floor.LeanCondition):
        def tick(self) -> Any:
            count[0] += 1
            return super().tick()

    root = floor.raw_tree(spec, values=values, lean=False)
    for node in list(root.iterate()):
        if isinstance(node, floor.StockCondition):
            node.__class__ = Counting
    rng = random.Random(seed + 1)
    keys = [f"bench.k{i}" for i in range(KEYS)]
    for key in keys:
        values[key] = rng.randrange(10)
    for _ in range(ticks):
        for key in rng.sample(keys, 4):
            values[key] = rng.randrange(10)
        root.tick_once()
    return count[0] / ticks


# -- 3. real time ---------------------------------------------------------------------------------
def bench_realtime(seconds: float, rate: float, seed: int, work: Path) -> dict[str, Any]:
    events = work / "realtime.jsonl"
    n = write_jsonl(events, rate=rate, seconds=seconds + 5, seed=seed)
    report = work / "realtime-report.json"
    cmd = [sys.executable, "-m", "director", "run", str(DEFAULT_SHOW), "--headless",
           "--duration", str(seconds), "--events", str(events), "--state", str(work / "rt"),
           "--report", str(report)]
    print(f"real time: {' '.join(cmd[1:])}  ({n} events)", flush=True)
    load_before = os.getloadavg()
    with (work / "realtime.log").open("w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=log, cwd=ROOT)
    data = json.loads(report.read_text(encoding="utf-8"))
    data["load"] = (load_before, os.getloadavg())
    data["n_events"] = n
    return data


# -- output ---------------------------------------------------------------------------------------
def print_default(r: dict[str, Any], rate: float) -> None:
    tree, full = figures(r["tree"]), figures(r["full"])
    stock, lean = figures(r["stock"]), figures(r["lean"])
    ingest = figures(r["ingest"])
    print(f"\ndefault tree: shows/asmr_night.yaml, {r['nodes']} nodes (py_trees twin: "
          f"{r['raw_nodes']}), {r['ticks']} ticks, {r['events']} events at {rate:g}/s")
    print(HEADER)
    print(row("ours: tree (root.tick_once)", tree, r["ticks"]))
    print(row("ours: full Director.tick()", full, r["ticks"]))
    print(row("py_trees floor, stock leaves", stock, r["ticks"]))
    print(row("py_trees floor, lean leaves", lean, r["ticks"]))
    print(ratio_row("ours tree / stock floor", tree, stock))
    print(ratio_row("ours tree / lean floor", tree, lean))
    quiet = r["quiet"]
    q_tree = figures([r["tree"][i] for i in quiet])
    q_stock = figures([r["stock"][i] for i in quiet])
    print(f"  ticks without a ledger write ({len(quiet) / r['ticks']:.0%}): no leaf started or "
          "finished work")
    print(row("ours: tree", q_tree, len(quiet)))
    print(row("py_trees floor, stock leaves", q_stock, len(quiet)))
    print(ratio_row("ours tree / stock floor", q_tree, q_stock))
    print(row("ingest one event (not a tick)", ingest, f"{r['events']}ev"))
    print(f"  replay check: {r['leaf_ticks']} leaf ticks recorded, floor ticked {r['replayed']}, "
          f"{r['misses']} off-path (+{r['cooling']} under a cooldown, expected); "
          f"same outcomes in both passes: {r['same']}")
    print(f"  outcomes: {', '.join(f'{k} {v}' for k, v in sorted(r['outcomes'].items()))}")


def print_big(r: dict[str, Any]) -> None:
    ours, stock, lean = figures(r["ours"]), figures(r["stock"]), figures(r["lean"])
    print(f"\ngenerated tree: {r['nodes']} nodes (py_trees twin: {r['raw_nodes']}), "
          f"{r['leaves']} leaves, {r['visited']:.0f} leaves ticked per tick on average, "
          f"{r['ticks']} ticks")
    print(HEADER)
    print(row("ours (root.tick_once)", ours, r["ticks"]))
    print(row("py_trees floor, stock leaves", stock, r["ticks"]))
    print(row("py_trees floor, lean leaves", lean, r["ticks"]))
    print(ratio_row("ours / stock floor", ours, stock))
    print(ratio_row("ours / lean floor", ours, lean))
    print(f"  same status and tip as the floors on {r['agree']}/{r['ticks']} ticks")


def print_realtime(d: dict[str, Any], seconds: float, rate: float) -> None:
    t = d["ticks"]
    late, cost = t["lateness_ms"], t["cost_ms"]
    print(f"\nreal time: {seconds:g} s at speed 1, {d['n_events']} events at {rate:g}/s, "
          f"{t['count']} ticks ({t['rate_hz']} Hz); load avg before/after "
          f"{d['load'][0][0]:.2f}/{d['load'][1][0]:.2f}")
    print(f"  {'(ms)':<34}{'p50':>8}{'p99':>8}{'max':>8}")
    print(f"  {'tick lateness':<34}{late['p50']:>8.3f}{late['p99']:>8.3f}{late['max']:>8.3f}")
    print(f"  {'tick cost (tree)':<34}{cost['p50']:>8.3f}{cost['p99']:>8.3f}{cost['max']:>8.3f}")
    for kind, r in d.get("reaction_ms", {}).items():  # waiting in queues: seconds, not ms
        print(f"  {'reaction, ' + kind + ' (s, show time)':<34}{r['p50'] / 1e3:>8.1f}"
              f"{r['p99'] / 1e3:>8.1f}{r['max'] / 1e3:>8.1f}")
    print(f"  outcomes: {', '.join(f'{k} {v}' for k, v in sorted(d['outcomes'].items()))}")
    print(f"  target lateness p99 < 4 ms: {'PASS' if late['p99'] < 4 else 'FAIL'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=360.0,
                    help="simulated seconds of the default show (30 ticks each)")
    ap.add_argument("--rate", type=float, default=50.0, help="events per second")
    ap.add_argument("--nodes", type=int, default=1000, help="size of the generated tree")
    ap.add_argument("--big-ticks", type=int, default=3000, help="ticks of the generated tree")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--realtime", type=float, default=0.0, metavar="SECONDS",
                    help="also run the show on the real clock this long (0 = skip)")
    ap.add_argument("--only-realtime", action="store_true", help="skip the sim-clock benches")
    args = ap.parse_args()
    started = time.perf_counter()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"load avg {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="director-bench-") as tmp:
        work = Path(tmp)
        if not args.only_realtime:
            d = bench_default(args.seconds, args.rate, args.seed, work)
            print_default(d, args.rate)
            b = bench_big(args.nodes, args.big_ticks, args.seed, work)
            print_big(b)
            tree_p99 = figures(d["tree"])["p99"]
            big = figures(b["ours"])["p50"] / figures(b["stock"])["p50"]
            print(f"\ntargets: default tree tick p99 {tree_p99:.3f} ms < 1 ms: "
                  f"{'PASS' if tree_p99 < 1 else 'FAIL'}; 1,000-node overhead over py_trees "
                  f"(p50) {big:.2f}x < 1.2x: {'PASS' if big < 1.2 else 'FAIL'}")
        if args.realtime > 0:
            print_realtime(bench_realtime(args.realtime, args.rate, args.seed, work),
                           args.realtime, args.rate)
    print(f"\nwall time {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
