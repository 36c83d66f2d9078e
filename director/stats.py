"""Constant-memory latency statistics for hot paths (tick cost, lateness, reaction times).

A four-hour show ticks 432,000 times; keeping every sample would grow memory for nothing. Samples
go into logarithmic buckets 2% wide (about 1,200 ints cover 1 µs to 10,000 s: reaction times of
gifts held back by a long segment reach minutes), which bounds a percentile's error at 2% while
`max` stays exact; a percentile that falls in the overflow bucket reads out as `max`.
"""

from __future__ import annotations

import math

_RATIO = 1.02
_LOG_RATIO = math.log(_RATIO)
_FLOOR = 1e-6  # seconds; smaller samples land in bucket 0
_BUCKETS = int(math.log(1e4 / _FLOOR) / _LOG_RATIO) + 2


class LatencyStats:
    """Counts of durations (seconds) with p50/p99/max read out in milliseconds."""

    __slots__ = ("_buckets", "count", "max", "total")

    def __init__(self) -> None:
        self.count = 0
        self.max = 0.0
        self.total = 0.0
        self._buckets = [0] * _BUCKETS

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds
        if seconds <= _FLOOR:
            self._buckets[0] += 1
            return
        index = int(math.log(seconds / _FLOOR) / _LOG_RATIO) + 1
        self._buckets[min(index, _BUCKETS - 1)] += 1

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) in seconds: the upper edge of the bucket that holds it."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * q / 100.0))
        seen = 0
        for index, n in enumerate(self._buckets):
            seen += n
            if seen >= rank:
                if index == _BUCKETS - 1:  # the overflow bucket has no upper edge
                    return self.max
                edge = _FLOOR if index == 0 else _FLOOR * _RATIO ** index
                return min(edge, self.max)
        return self.max

    def summary_ms(self) -> dict[str, float]:
        return {
            "p50": round(self.percentile(50) * 1000, 4),
            "p99": round(self.percentile(99) * 1000, 4),
            "max": round(self.max * 1000, 4),
        }
