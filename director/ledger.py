"""The ledger: every event, durably, before the tree sees it; and what became of it.

SQLite in WAL mode, `synchronous=NORMAL`: a committed row survives a killed process (kill -9),
which is the failure a streaming PC actually has; power loss may lose the last moments, which we
accept for the write speed. Events are keyed by (platform, msg_id), so a platform's resend, or a
sim replay after a restart, is ignored.

Incoming events are written in batches: the first `record` opens a transaction and schedules its
commit for the next turn of the event loop, so a WebSocket message holding 50 gifts costs one
commit, not 50 (a commit per event capped ingest near 1,500 events/s). The director also calls
`flush()` before every tick, so no event reaches the tree before it is durable, and after every
tick, so what the tree did is durable within one tick.

States: received → claimed (a node is reacting; `reacted_s`, `claimed_by`) → done (`outcome`,
`by`, `done_s`). After a crash, events not done are handed back to the queues by `unfinished()`,
so every gift received is thanked exactly once: thanks finished before the crash are done rows and
are never repeated; thanks cut off by the crash are said again.

The show clock continues across restarts: each run starts at the last time the previous run
recorded (`runs.last_s`, written about once a second, or a later event or segment time written
after that last heartbeat), so report times never go backwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from director.errors import LedgerError
from director.events import Event, Money, event_from_record, event_to_record

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY, show TEXT NOT NULL, started_wall REAL NOT NULL,
    offset_s REAL NOT NULL, last_s REAL NOT NULL, ended INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL, msg_id TEXT NOT NULL, kind TEXT NOT NULL, viewer TEXT NOT NULL,
    payload TEXT NOT NULL, received_s REAL NOT NULL, run INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'received', claimed_by TEXT, reacted_s REAL,
    done_s REAL, outcome TEXT, by TEXT, detail TEXT,
    UNIQUE (platform, msg_id));
CREATE INDEX IF NOT EXISTS events_state ON events (state);
CREATE TABLE IF NOT EXISTS speech (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run INTEGER NOT NULL, start_s REAL NOT NULL,
    end_s REAL NOT NULL, text TEXT NOT NULL, voice TEXT NOT NULL, reason TEXT NOT NULL,
    cancelled INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS segments (
    name TEXT PRIMARY KEY, start_s REAL, end_s REAL, elapsed_s REAL NOT NULL DEFAULT 0,
    next_line INTEGER NOT NULL DEFAULT 0, interruptions TEXT NOT NULL DEFAULT '[]');
"""
SCHEMA_VERSION = "1"

EventKey = tuple[str, str]  # (platform, msg_id)


def key_of(event: Event) -> EventKey:
    return (event.platform, event.msg_id)


@dataclass
class SegmentRow:
    name: str
    start_s: float | None
    end_s: float | None
    elapsed_s: float
    next_line: int
    interruptions: list[dict[str, Any]]


class Ledger:
    """One show state's SQLite database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise LedgerError(f"cannot open the ledger at {path}: {exc}; "
                              "pass --state DIR with a writable folder") from None
        row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        elif row[0] != SCHEMA_VERSION:
            self.db.close()
            raise LedgerError(f"{path} was written by another version of director "
                              f"(schema {row[0]}); use a new --state folder")
        self.run = 0
        self.offset = 0.0
        self.closed = False

    @classmethod
    def open(cls, state_dir: Path) -> Ledger:
        return cls(state_dir / "ledger.sqlite3")

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        self.db.close()
        self.closed = True

    def flush(self) -> None:
        """Commit what has been written since the last flush."""
        if not self.closed and self.db.in_transaction:
            self.db.commit()

    # -- runs -----------------------------------------------------------------------------------
    def start_run(self, show: str) -> tuple[int, float]:
        """Begin a run: returns (run number, show-clock offset where this run starts)."""
        row = self.db.execute("SELECT run, last_s FROM runs ORDER BY run DESC LIMIT 1").fetchone()
        self.run = (row[0] + 1) if row else 1
        self.offset = float(row[1]) if row else 0.0
        if row:  # a kill -9 loses up to a second since the heartbeat; rows written since keep it
            later = self.db.execute(
                "SELECT MAX(received_s), MAX(reacted_s), MAX(done_s) FROM events").fetchone()
            later += self.db.execute("SELECT MAX(start_s), MAX(end_s) FROM segments").fetchone()
            self.offset = max([self.offset, *(float(t) for t in later if t is not None)])
        if row:
            self._stop_speech(self.offset)  # what the last run was saying when it died
        self.db.execute("INSERT INTO runs (run, show, started_wall, offset_s, last_s) "
                        "VALUES (?, ?, ?, ?, ?)", (self.run, show, time.time(), self.offset,
                                                   self.offset))
        return self.run, self.offset

    def _stop_speech(self, at: float) -> None:
        """Lines still being said at `at` were cut there; lines queued after it were never heard."""
        self.db.execute("DELETE FROM speech WHERE start_s >= ? AND run <= ?", (at, self.run))
        self.db.execute("UPDATE speech SET end_s=?, cancelled=1 WHERE end_s > ? AND run <= ?",
                        (at, at, self.run))

    def heartbeat(self, now: float) -> None:
        self.db.execute("UPDATE runs SET last_s=? WHERE run=?", (now, self.run))

    def end_run(self, now: float) -> None:
        self._stop_speech(now)
        self.db.execute("UPDATE runs SET last_s=?, ended=1 WHERE run=?", (now, self.run))

    def runs(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    # -- events ---------------------------------------------------------------------------------
    def record(self, event: Event) -> bool:
        """Store a new event. False (and nothing stored) if its msg_id is already known.

        The write is committed by the next `flush()`, at the latest on the next turn of the
        event loop when one is running.
        """
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            with contextlib.suppress(RuntimeError):  # no loop (tools, tests): the caller flushes
                asyncio.get_running_loop().call_soon(self.flush)
        cur = self.db.execute(
            "INSERT OR IGNORE INTO events (platform, msg_id, kind, viewer, payload, received_s, "
            "run) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (event.platform, event.msg_id, event.kind, event.viewer.name,
             json.dumps(event_to_record(event), ensure_ascii=False), event.received, self.run))
        return cur.rowcount == 1

    def claim(self, keys: Iterable[EventKey], by: str, at: float) -> None:
        self.db.executemany(
            "UPDATE events SET state='claimed', claimed_by=?, reacted_s=COALESCE(reacted_s, ?) "
            "WHERE platform=? AND msg_id=? AND state!='done'",
            [(by, at, p, m) for p, m in keys])

    def release(self, keys: Iterable[EventKey]) -> None:
        """A claim was abandoned (the node was interrupted): the events wait again."""
        self.db.executemany(
            "UPDATE events SET state='received', claimed_by=NULL "
            "WHERE platform=? AND msg_id=? AND state='claimed'", list(keys))

    def done(self, outcomes: Iterable[tuple[EventKey, str]], by: str | None, at: float,
             detail: str | None = None) -> None:
        self.db.executemany(
            "UPDATE events SET state='done', outcome=?, by=?, done_s=?, detail=?, "
            "reacted_s=COALESCE(reacted_s, ?) WHERE platform=? AND msg_id=? AND state!='done'",
            [(outcome, by, at, detail, at, p, m) for (p, m), outcome in outcomes])

    def unfinished(self) -> list[Event]:
        """Events received but not done (after a crash), oldest first, claims released."""
        self.db.execute("UPDATE events SET state='received', claimed_by=NULL "
                        "WHERE state='claimed'")
        out = []
        for platform, payload, received in self.db.execute(
                "SELECT platform, payload, received_s FROM events WHERE state!='done' "
                "ORDER BY seq"):
            record = json.loads(payload)
            # stored values are already in the show's base currency: decode them as they are
            base = Money(base=str(record.get("currency") or "CNY"))
            out.append(event_from_record(record, platform=platform, money=base,
                                         received=received))
        return out

    def event_rows(self) -> Iterator[dict[str, Any]]:
        cur = self.db.execute(
            "SELECT msg_id, kind, platform, viewer, received_s, reacted_s, done_s, outcome, by, "
            "run, state, detail FROM events ORDER BY seq")
        names = [d[0] for d in cur.description]
        for row in cur:
            yield dict(zip(names, row, strict=True))

    def outcome_counts(self) -> dict[str, int]:
        return {o or "pending": n for o, n in self.db.execute(
            "SELECT outcome, COUNT(*) FROM events GROUP BY outcome")}

    # -- speech ---------------------------------------------------------------------------------
    def speech_start(self, start: float, end: float, text: str, voice: str, reason: str) -> int:
        cur = self.db.execute(
            "INSERT INTO speech (run, start_s, end_s, text, voice, reason) VALUES (?,?,?,?,?,?)",
            (self.run, start, end, text, voice, reason))
        return int(cur.lastrowid or 0)

    def speech_cut(self, speech_id: int, end: float) -> None:
        self.db.execute("UPDATE speech SET end_s=?, cancelled=1 WHERE id=?", (end, speech_id))

    def speech_moved(self, speech_id: int, start: float, end: float) -> None:
        """A queued line moved up because a line before it was cut."""
        self.db.execute("UPDATE speech SET start_s=?, end_s=? WHERE id=?", (start, end, speech_id))

    def speech_rows(self) -> list[dict[str, Any]]:
        return [
            {"start_s": s, "end_s": e, "text": t, "voice": v, "reason": r, "run": run,
             "cut": bool(cut)}
            for s, e, t, v, r, run, cut in self.db.execute(
                "SELECT start_s, end_s, text, voice, reason, run, cancelled FROM speech "
                "ORDER BY id")
        ]

    # -- segments -------------------------------------------------------------------------------
    def load_segments(self) -> dict[str, SegmentRow]:
        return {
            name: SegmentRow(name, s, e, el, nl, json.loads(ints))
            for name, s, e, el, nl, ints in self.db.execute(
                "SELECT name, start_s, end_s, elapsed_s, next_line, interruptions FROM segments")
        }

    def save_segment(self, row: SegmentRow) -> None:
        self.db.execute(
            "INSERT INTO segments (name, start_s, end_s, elapsed_s, next_line, interruptions) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT(name) DO UPDATE SET start_s=excluded.start_s, "
            "end_s=excluded.end_s, elapsed_s=excluded.elapsed_s, next_line=excluded.next_line, "
            "interruptions=excluded.interruptions",
            (row.name, row.start_s, row.end_s, row.elapsed_s, row.next_line,
             json.dumps(row.interruptions)))
