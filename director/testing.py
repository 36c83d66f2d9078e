"""A test harness for shows and trees: a real Director on a simulated clock, ticked by hand.

    h = ShowHarness.from_text(tmp_path, SHOW_YAML)
    h.send("gift", viewer="小明", gift="rocket", value=120)
    h.run_for(2.0)
    assert h.status("show/gifts/thank big gifts") == Status.RUNNING, h.tree_text()

Everything is real (loader, ledger on disk, queues, voice timing, the py_trees tree); only time is
simulated, so a test of a 5-minute segment runs in milliseconds and always the same way. Failing
assertions should print `h.tree_text()`: the tree with each node's status explains a red test.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import py_trees
from py_trees.common import Status

from director.clock import SimClock
from director.engine import Director
from director.events import Event, Gift, event_from_record
from director.showfile import Show, load_show

MINIMAL_SHOW = """\
name: test show
persona: {name: Tester, languages: [en, zh], topics: [tea, rain]}
tree:
  idle: idle
"""


class ShowHarness:
    def __init__(self, show: Show, *, state_dir: Path, seed: int = 7) -> None:
        self.state_dir = state_dir
        self.director = Director(show, state_dir=state_dir, speed=1000.0, listeners=[],
                                 reload=False, seed=seed)
        assert isinstance(self.director.clock, SimClock)
        self.clock: SimClock = self.director.clock
        self._ids = itertools.count(1)

    @classmethod
    def from_text(cls, folder: Path, show_yaml: str, *, files: dict[str, str] | None = None,
                  state: str = "state", seed: int = 7) -> ShowHarness:
        """Write a show (and extra files, e.g. subtrees) under `folder` and load it."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in (files or {}).items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        show_path = folder / "show.yaml"
        show_path.write_text(show_yaml, encoding="utf-8")
        return cls(load_show(show_path), state_dir=folder / state, seed=seed)

    # -- time ---------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.clock.now()

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.clock.advance(self.director.period)
            self.director.tick()

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    def run_until(self, t: float) -> None:
        while self.now + 1e-9 < t:
            self.tick()

    # -- events -------------------------------------------------------------------------------
    def send(self, kind: str, *, viewer: str = "viewer", viewer_id: str | None = None,
             level: int = 0, msg_id: str | None = None, **fields: Any) -> Event:
        """Ingest one event now (sim JSONL fields: text, gift, count, value, currency...)."""
        record = {"kind": kind, "msg_id": msg_id or f"m{next(self._ids)}",
                  "viewer": {"id": viewer_id or viewer, "name": viewer, "level": level},
                  **fields}
        event = event_from_record(record, money=self.director.show.money, received=self.now)
        self.director.ingest(event)
        return event

    # -- looking ------------------------------------------------------------------------------
    def node(self, path: str) -> py_trees.behaviour.Behaviour:
        for node in self.director.root.iterate():
            spec = getattr(node, "spec", None)
            if spec is not None and spec.path == path:
                return node
        paths = [n.spec.path for n in self.director.root.iterate() if hasattr(n, "spec")]
        raise KeyError(f"no node at '{path}'; nodes: {paths}")

    def status(self, path: str) -> Status:
        return self.node(path).status

    def running(self) -> list[str]:
        """Paths of running leaves."""
        return [n.spec.path for n in self.director.root.iterate()
                if not n.children and n.status == Status.RUNNING and hasattr(n, "spec")]

    def tree_text(self) -> str:
        return self.director.tree_status()

    @property
    def bb(self) -> dict[str, Any]:
        return self.director.bb.values

    def report(self) -> dict[str, Any]:
        return self.director.report()

    def outcomes(self) -> dict[str, str]:
        """msg_id -> outcome ('pending' while not done)."""
        return {e["msg_id"]: e["outcome"] for e in self.report()["events"]}

    def speech(self) -> list[dict[str, Any]]:
        return self.director.ledger.speech_rows()

    def close(self) -> None:
        self.director.close()


class RecordingEmit:
    """A listener's `emit` that keeps events and drops repeats of (platform, msg_id).

    That is what the ledger does with them: the test double for listener tests, no database.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.keys: set[tuple[str, str]] = set()
        self.offered = 0  # every call, repeats included

    def __call__(self, event: Event) -> bool:
        self.offered += 1
        key = (event.platform, event.msg_id)
        if key in self.keys:
            return False
        self.keys.add(key)
        self.events.append(event)
        return True

    @property
    def ids(self) -> list[str]:
        """msg_ids of the kept events, in order."""
        return [e.msg_id for e in self.events]

    def gifts(self) -> int:
        """How many gifts the kept gift events add up to."""
        return sum(e.count for e in self.events if isinstance(e, Gift))
