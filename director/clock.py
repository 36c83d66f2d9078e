"""The show clock: one monotonic time source that tests and `--speed` can replace.

Everything that schedules (ticks, sim events, speech durations, segments, cooldowns) reads the show
clock, never `time.monotonic()` directly, so a four-hour show can be replayed deterministically in a
minute. `RealClock` follows the wall; `SimClock` only moves when the tick loop advances it, one tick
period at a time, and wakes coroutines sleeping on it in time order.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time


class Clock:
    """Show time in seconds since the clock started (plus an offset carried over restarts)."""

    def now(self) -> float:
        raise NotImplementedError

    async def sleep_until(self, t: float) -> None:
        """Suspend the caller until show time `t`."""
        raise NotImplementedError


class RealClock(Clock):
    """Show time that follows `time.monotonic()`."""

    def __init__(self, *, offset: float = 0.0) -> None:
        self._origin = time.monotonic() - offset

    def now(self) -> float:
        return time.monotonic() - self._origin

    async def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)


class SimClock(Clock):
    """Show time that moves only when `advance` is called."""

    def __init__(self, *, offset: float = 0.0) -> None:
        self._now = offset
        self._waiters: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def advance(self, dt: float) -> None:
        """Move time forward by `dt` and wake every sleeper whose time has come."""
        self._now += dt
        while self._waiters and self._waiters[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)

    async def sleep_until(self, t: float) -> None:
        if t <= self._now:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (t, next(self._seq), fut))
        await fut
