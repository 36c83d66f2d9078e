"""Normalised live events: what every listener turns its platform's frames into.

One frozen dataclass per kind. Nothing downstream of a listener knows a platform's wire format:
behaviours, the ledger and the report see only these. Money is always `value` in the show's
currency (`Money.to_base` converts at the listener), so gift tiers apply the same on every platform.

`event_from_record` is the one decoder of the JSON object form (the sim JSONL format, the viewer's
`POST /api/events` body and the ledger's stored payload share it); `event_to_record` is its inverse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Viewer:
    """Someone in chat: a platform account."""

    platform: str
    id: str
    name: str
    level: int = 0  # membership / guard level; 0 = not a member

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Fields every event has. `received` is show-clock seconds, set when the event is ingested."""

    kind: ClassVar[str] = "event"
    platform: str
    msg_id: str
    viewer: Viewer
    received: float = 0.0

    @property
    def money(self) -> float:
        return 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Chat(Event):
    kind: ClassVar[str] = "chat"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Paid(Event):
    """An event that carries money: `value` in the show's currency (converted at the listener)."""

    value: float = 0.0
    currency: str = "CNY"

    @property
    def money(self) -> float:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Gift(Paid):
    kind: ClassVar[str] = "gift"
    gift: str
    count: int = 1  # `value` is the total for `count` gifts


@dataclass(frozen=True, slots=True, kw_only=True)
class SuperChat(Paid):
    kind: ClassVar[str] = "super_chat"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Membership(Paid):
    kind: ClassVar[str] = "membership"
    level: int = 1
    months: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Follow(Event):
    kind: ClassVar[str] = "follow"


@dataclass(frozen=True, slots=True, kw_only=True)
class Like(Event):
    kind: ClassVar[str] = "like"
    count: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Enter(Event):
    kind: ClassVar[str] = "enter"


@dataclass(frozen=True, slots=True, kw_only=True)
class Speech(Event):
    """The operator (or a guest) talking to the avatar through a microphone."""

    kind: ClassVar[str] = "speech"
    text: str
    language: str = ""


EVENT_KINDS: dict[str, type[Event]] = {
    cls.kind: cls for cls in (Chat, Gift, SuperChat, Membership, Follow, Like, Enter, Speech)
}
MONEY_KINDS = frozenset({"gift", "super_chat", "membership"})


# Platform units, in the real currency they are sold for. A show may override any of them
# under currency.rates (e.g. `BITS: 0.072` straight into CNY).
UNITS: dict[str, tuple[float, str]] = {
    "BILI_GOLD": (0.001, "CNY"),  # Bilibili gold coins (金瓜子): 1000 = 1 CNY
    "DOUYIN_COIN": (0.1, "CNY"),  # Douyin 抖币: 10 = 1 CNY
    "KUAISHOU_COIN": (0.1, "CNY"),  # Kuaishou 快币: 10 = 1 CNY
    "BITS": (0.01, "USD"),  # Twitch bits: 100 = 1 USD
}


@dataclass(frozen=True)
class Money:
    """Converts amounts into the show's base currency with the rates from the show file."""

    base: str = "CNY"
    rates: Mapping[str, float] = field(default_factory=dict)  # 1 unit of key = rate units of base

    def to_base(self, amount: float, currency: str) -> float:
        currency = (currency or self.base).upper()
        if currency == self.base.upper():
            return float(amount)
        rate = self.rates.get(currency)
        if rate is not None:
            return float(amount) * rate
        unit = UNITS.get(currency)
        if unit is not None:
            return self.to_base(float(amount) * unit[0], unit[1])
        raise ValueError(
            f"no exchange rate for {currency}: add it under currency.rates in the show"
        )


class EventFormatError(ValueError):
    """An event object that does not follow the sim JSONL format; the message says what to fix."""


def _need(obj: Mapping[str, Any], key: str, typ: type | tuple[type, ...], what: str) -> Any:
    if key not in obj:
        raise EventFormatError(f"{what} needs '{key}'")
    value = obj[key]
    if not isinstance(value, typ) or (isinstance(value, bool) and typ is not bool):
        names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
        raise EventFormatError(f"'{key}' must be {names}, got {type(value).__name__}")
    return value


def _opt(obj: Mapping[str, Any], key: str, typ: type | tuple[type, ...], default: Any) -> Any:
    if key not in obj or obj[key] is None:
        return default
    return _need(obj, key, typ, "event")


def event_from_record(
    obj: Mapping[str, Any], *, platform: str = "sim", money: Money | None = None,
    received: float = 0.0,
) -> Event:
    """Decode one event object (sim JSONL format); EventFormatError says what is wrong."""
    if not isinstance(obj, Mapping):
        raise EventFormatError("an event must be a JSON object")
    kind = _need(obj, "kind", str, "an event")
    cls = EVENT_KINDS.get(kind)
    if cls is None:
        raise EventFormatError(f"unknown kind '{kind}' (one of: {', '.join(EVENT_KINDS)})")
    msg_id = obj.get("msg_id")
    if isinstance(msg_id, int) and not isinstance(msg_id, bool):
        msg_id = str(msg_id)
    if not isinstance(msg_id, str) or not msg_id:
        raise EventFormatError("an event needs a non-empty 'msg_id' (the platform's message id)")
    v = _need(obj, "viewer", dict, "an event")
    vid = v.get("id")
    if isinstance(vid, int) and not isinstance(vid, bool):
        vid = str(vid)
    if not isinstance(vid, str) or not vid:
        raise EventFormatError("'viewer' needs a non-empty 'id'")
    platform = _opt(obj, "platform", str, platform)
    viewer = Viewer(
        platform=platform, id=vid, name=str(_opt(v, "name", str, vid)),
        level=int(_opt(v, "level", int, 0)),
    )
    common: dict[str, Any] = {
        "platform": platform, "msg_id": msg_id, "viewer": viewer, "received": received,
    }
    money = money or Money()
    if kind in MONEY_KINDS:
        currency = str(_opt(obj, "currency", str, money.base)).upper()
        amount = float(_opt(obj, "value", (int, float), 0.0))
        if amount < 0:
            raise EventFormatError("'value' must not be negative")
        try:
            common["value"] = money.to_base(amount, currency)
        except ValueError as exc:
            raise EventFormatError(str(exc)) from None
        common["currency"] = money.base
    if cls is Chat or cls is Speech or cls is SuperChat:
        common["text"] = _need(obj, "text", str, f"a {kind} event")
    if cls is Speech:
        common["language"] = _opt(obj, "language", str, "")
    if cls is Gift:
        common["gift"] = _need(obj, "gift", str, "a gift event")
        common["count"] = int(_opt(obj, "count", int, 1))
        if common["count"] < 1:
            raise EventFormatError("'count' must be at least 1")
    if cls is Membership:
        common["level"] = int(_opt(obj, "level", int, 1))
        common["months"] = int(_opt(obj, "months", int, 1))
    if cls is Like:
        common["count"] = int(_opt(obj, "count", int, 1))
    return cls(**common)


def event_to_record(event: Event) -> dict[str, Any]:
    """The JSON object form of an event (inverse of `event_from_record` in the base currency)."""
    # field by field: dataclasses.asdict deep-copies, half the cost of ingesting an event
    record = {name: getattr(event, name) for name in _FIELDS[type(event)]}
    viewer = event.viewer
    record["kind"] = event.kind
    record["viewer"] = {"id": viewer.id, "name": viewer.name, "level": viewer.level}
    return record


_FIELDS: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls) if f.name not in ("viewer", "received"))
    for cls in EVENT_KINDS.values()
}


def describe(event: Event) -> str:
    """A short human line for logs and the viewer: `gift 小明 ×3 小心心 (3.0 CNY)`."""
    name = event.viewer.name
    if isinstance(event, Gift):
        return f"gift {name} x{event.count} {event.gift} ({event.value:g} {event.currency})"
    if isinstance(event, SuperChat):
        return f"super_chat {name} ({event.value:g} {event.currency}): {event.text}"
    if isinstance(event, (Chat, Speech)):
        return f"{event.kind} {name}: {event.text}"
    if isinstance(event, Membership):
        return f"membership {name} level {event.level} ({event.months} months)"
    if isinstance(event, Like):
        return f"like {name} x{event.count}"
    return f"{event.kind} {name}"
