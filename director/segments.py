"""Scheduled segments and their progress, kept in the ledger so they resume after anything.

A segment is *due* from its `at` time until it has run for its whole `duration`. Progress counts
only while the segment is actually running: an interruption freezes `elapsed`, and the next start
resumes with the remaining time and the next unspoken line. Progress is written to the ledger at
each change, so a restarted show resumes a segment too, instead of starting it over.
"""

from __future__ import annotations

from director.ledger import Ledger, SegmentRow
from director.showfile import Segment


class SegmentBook:
    def __init__(self, segments: list[Segment], ledger: Ledger) -> None:
        self.ledger = ledger
        self.rows: dict[str, SegmentRow] = ledger.load_segments()
        self.segments: list[Segment] = []
        self.configure(segments)

    def configure(self, segments: list[Segment]) -> None:
        self.segments = sorted(segments, key=lambda s: s.at)
        self.by_name = {s.name: s for s in self.segments}

    def row(self, name: str) -> SegmentRow:
        row = self.rows.get(name)
        if row is None:
            row = self.rows[name] = SegmentRow(name, None, None, 0.0, 0, [])
        return row

    def due(self, now: float) -> Segment | None:
        """The first segment whose time has come and that has not finished."""
        for seg in self.segments:
            if seg.at > now:
                return None
            row = self.rows.get(seg.name)
            if row is None or row.end_s is None:
                return seg
        return None

    def active(self) -> Segment | None:
        """The segment that has started and not finished (running or interrupted)."""
        for seg in self.segments:
            row = self.rows.get(seg.name)
            if row is not None and row.start_s is not None and row.end_s is None:
                return seg
        return None

    def remaining(self, seg: Segment) -> float:
        return max(0.0, seg.duration - self.row(seg.name).elapsed_s)

    def save(self, name: str) -> None:
        self.ledger.save_segment(self.row(name))
