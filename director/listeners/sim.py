"""The sim listener: replays a JSONL file of timed events on the show clock.

One JSON object a line: `t` (seconds from the show start), `kind`, `msg_id`, `viewer` {id, name,
level} and the kind's fields (see `director.events`). A bad line is reported with its line number
and skipped; the rest plays. Times are show-clock times, so after a restart (where the clock
continues) the events already due are emitted at once and the ledger drops the ones it already has:
this is exactly how a platform behaves when it resends after a reconnect.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from director.clock import Clock
from director.errors import EventsFileError
from director.events import Event, EventFormatError, Money, event_from_record
from director.listeners.base import Emit, Listener
from director.spec import Field, Str

log = logging.getLogger("director.listeners.sim")


def read_events_file(path: Path, *, platform: str = "sim", money: Money | None = None,
                     ) -> tuple[list[tuple[float, Event]], list[str]]:
    """Parse a JSONL events file: (sorted (t, event) pairs, one problem line per bad line)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EventsFileError(f"cannot read events file {path}: {exc.strerror or exc}") from None
    events: list[tuple[float, Event]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("//"):
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(
                f"{path}:{number}:{exc.colno}: not valid JSON: {exc.msg} (line skipped)")
            continue
        try:
            if not isinstance(obj, dict):
                raise EventFormatError("an event must be a JSON object")
            t = obj.get("t")
            if not isinstance(t, (int, float)) or isinstance(t, bool) or t < 0:
                raise EventFormatError("'t' must be a number of seconds from the show start")
            events.append((float(t), event_from_record(obj, platform=platform, money=money)))
        except EventFormatError as exc:
            problems.append(f"{path}:{number}:1: {exc} (line skipped)")
    events.sort(key=lambda pair: pair[0])
    return events, problems


class SimListener(Listener):
    name = "sim"
    kind = "sim"
    doc = "replays a JSONL file of timed events (demos, tests, rehearsals)"
    settings = {
        "events": Field(Str(non_empty=True), "JSONL events file, relative to the show",
                        required=True),
        "platform": Field(Str(non_empty=True), "platform name the events claim", default="sim"),
    }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock, money: Money) -> Listener:
        return cls(Path(settings["events"]), clock=clock, platform=settings["platform"],
                   money=money)

    def __init__(self, path: Path, *, clock: Clock, platform: str = "sim",
                 money: Money | None = None) -> None:
        super().__init__()
        self.path = path
        self.clock = clock
        self.platform = platform
        self.money = money
        # Parsed here, before the show starts ticking: a long file parsed inside run() would
        # stall the first ticks by a quarter of a second per 30,000 events.
        self.events: list[tuple[float, Event]] = []
        self.problems: list[str] = []
        self.failure: str | None = None
        try:
            self.events, self.problems = read_events_file(path, platform=platform, money=money)
        except EventsFileError as exc:
            self.failure = str(exc)

    async def run(self, emit: Emit) -> None:
        if self.failure is not None:
            self.errors += 1
            log.error("%s", self.failure)
            self.finished = True
            return
        events, problems = self.events, self.problems
        for problem in problems:
            self.errors += 1
            log.warning("%s", problem)
        log.info("replaying %d events from %s", len(events), self.path)
        for t, event in events:
            await self.clock.sleep_until(t)
            self.received += 1
            if not emit(replace(event, received=self.clock.now())):
                self.duplicates += 1
        self.finished = True
        log.info("sim events finished (%d new, %d already in the ledger)",
                 self.received - self.duplicates, self.duplicates)
