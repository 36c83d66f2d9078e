"""The listener contract: connect, decode, emit, reconnect; never raise into the director.

`Listener.run(emit)` loops until cancelled. Network listeners subclass `ConnectionListener` and
write one `session(emit)`: connect, authenticate, read frames until the connection ends. The base
does the rest, the same for every platform:

- reconnect with exponential backoff and jitter (1 s doubling to 60 s, ±30%); the backoff resets
  after a session that delivered events;
- a connection silent for longer than its heartbeat window (`recv` with `silence_s`) is dead;
- a listener that cannot connect (bad room, bad credentials: `ListenerConfigError`) says so once,
  clearly, and keeps retrying at the slowest rate, so a typo never stops the show;
- malformed frames are counted and logged (at most a few lines a minute), never raised;
- every event goes through `emit`, which ledgers it first; the ledger drops resends by msg_id, so
  nothing is lost or doubled across reconnects.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from director.clock import Clock
from director.events import Event, Money
from director.spec import Field

Emit = Callable[[Event], bool]  # returns False for a duplicate (already in the ledger)


class ListenerConfigError(Exception):
    """The platform refused us for a reason retrying fast will not fix (bad room, bad token)."""


class FrameError(ValueError):
    """A message that does not have the shape the platform documents; the text says what."""


# -- reading decoded JSON: the JSON platforms' decoders (Twitch, YouTube) share these ------------

def json_obj(parent: Mapping[str, Any], key: str, what: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise FrameError(f"{what} has no '{key}' object")
    return value


def json_text(parent: Mapping[str, Any], key: str, what: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise FrameError(f"{what} has no '{key}' text")
    return value


def json_opt_text(parent: Mapping[str, Any], key: str, default: str = "") -> str:
    value = parent.get(key)
    return value if isinstance(value, str) else default


class Pricing:
    """Money for decoders: amounts into the show's currency, never failing on a missing rate.

    A currency without a rate converts to 0 and is remembered in `unpriced` (currency → Money's
    message naming the rate to add), so the listener can say it once; the event is still emitted.
    """

    def __init__(self, money: Money) -> None:
        self.money = money
        self.unpriced: dict[str, str] = {}

    def value(self, amount: float, currency: str) -> float:
        try:
            return self.money.to_base(amount, currency)
        except ValueError as exc:
            self.unpriced.setdefault(currency.upper(), str(exc))
            return 0.0


class Listener:
    """Base: `run(emit)` loops until cancelled; `name` identifies it in logs and the viewer.

    A platform listener sets `kind` (what shows write under `platforms:`), `doc`, and `settings`
    (its show-file keys as specs); `from_settings` builds it from checked settings. Credentials
    are never settings: a setting names the environment variable that holds them.
    """

    name = "listener"
    kind: ClassVar[str] = ""
    doc: ClassVar[str] = ""
    settings: ClassVar[dict[str, Field]] = {}

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock, money: Money) -> Listener:
        raise NotImplementedError(f"{cls.__name__} cannot be built from show settings")

    def __init__(self) -> None:
        self.log = logging.getLogger(f"director.listeners.{self.name}")
        self.received = 0  # events decoded
        self.duplicates = 0  # of those, already in the ledger
        self.errors = 0
        self.finished = False
        self.state = "idle"  # idle | connecting | connected | reconnecting | failed | finished

    async def run(self, emit: Emit) -> None:
        raise NotImplementedError

    def deliver(self, emit: Emit, event: Event) -> None:
        self.received += 1
        if not emit(event):
            self.duplicates += 1


class Backoff:
    """Exponential backoff with jitter."""

    def __init__(self, *, initial: float = 1.0, maximum: float = 60.0, factor: float = 2.0,
                 jitter: float = 0.3, rng: random.Random | None = None) -> None:
        self.initial, self.maximum, self.factor, self.jitter = initial, maximum, factor, jitter
        self.rng = rng or random.Random()
        self.current = initial

    def reset(self) -> None:
        self.current = self.initial

    def next(self) -> float:
        delay = self.current * (1 + self.rng.uniform(-self.jitter, self.jitter))
        self.current = min(self.maximum, self.current * self.factor)
        return max(0.0, min(delay, self.maximum * (1 + self.jitter)))


class ConnectionListener(Listener):
    """A listener over a network connection that may drop at any time."""

    #: seconds without any frame after which the connection is treated as dead
    silence_s = 70.0

    def __init__(self, *, backoff: Backoff | None = None) -> None:
        super().__init__()
        self.backoff = backoff or Backoff()
        self.reconnects = 0
        self.malformed = 0
        self.last_error = ""
        self._said: dict[str, float] = {}
        self._session_events = 0

    async def session(self, emit: Emit) -> None:
        """Connect and read until the connection ends (return) or fails (raise)."""
        raise NotImplementedError

    def deliver(self, emit: Emit, event: Event) -> None:
        self._session_events += 1
        super().deliver(emit, event)

    def bad_frame(self, reason: str) -> None:
        """Count a frame that could not be decoded; log it now and then."""
        self.malformed += 1
        self._say(logging.WARNING, f"malformed frame: {reason}", every=30.0)

    def _say(self, level: int, text: str, *, every: float) -> None:
        key = text.split(":", 1)[0]
        now = time.monotonic()
        if now - self._said.get(key, -1e9) >= every:
            self._said[key] = now
            self.log.log(level, "%s", text)

    async def run(self, emit: Emit) -> None:
        config_error_said = ""
        while True:
            self.state = "connecting"
            self._session_events = 0
            try:
                await self.session(emit)
                reason = "connection closed"
            except asyncio.CancelledError:
                self.state = "finished"
                raise
            except ListenerConfigError as exc:
                self.errors += 1
                self.state = "failed"
                self.last_error = str(exc)
                if config_error_said != str(exc):
                    config_error_said = str(exc)
                    self.log.error("%s: %s (will keep retrying every %.0f s)", self.name, exc,
                                   self.backoff.maximum)
                self.backoff.current = self.backoff.maximum
                await asyncio.sleep(self.backoff.next())
                continue
            except Exception as exc:  # network trouble of any kind: reconnect
                self.errors += 1
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self.last_error = reason
            if self._session_events:
                self.backoff.reset()
            self.state = "reconnecting"
            self.reconnects += 1
            delay = self.backoff.next()
            self._say(logging.WARNING, f"disconnected: {reason}; reconnecting in {delay:.1f} s",
                      every=60.0)
            await asyncio.sleep(delay)
