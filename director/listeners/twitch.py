"""Twitch: EventSub over WebSocket, subscriptions created through the Helix API.

Flow: connect to `url`; the first message (session_welcome) gives the session id and the keepalive
window; POST one Helix subscription per event type with that session id; then read. Any message
resets the silence window (keepalive + `keepalive_grace_s`): past it the connection is dead and
the base reconnects, which gets a new session and subscribes again (subscriptions belong to a
session and die with it).

session_reconnect (Twitch moving us to another edge) is handled inside the session: connect to the
reconnect URL while still reading the old connection, switch when the new welcome arrives, then
close the old one. Subscriptions carry over, so nothing is re-created. Each connection has its own
reader task feeding one queue, so a notification that arrives on the old connection during the
hand-over is still delivered; one sent on both is dropped by the ledger (msg_id =
metadata.message_id, which Twitch keeps on a resend).

Mapping (decisions, not all dictated by the platform):

- channel.chat.message → Chat; badges give the level (subscriber/founder: tier 1-3 from the badge
  id, 2xxx = tier 2, 3xxx = tier 3). A cheer's text arrives this way too, so the cheer itself
  (channel.cheer) is only the Gift "bits": count = bits, value = bits in BITS (100 = 1 USD
  unless the show overrides the BITS rate).
- channel.subscribe → Membership (level = tier, value from `sub_prices`). A gifted sub
  (is_gift) → Enter of the new subscriber instead: the gifter's channel.subscription.gift already
  carries the money and the thanks; a Membership per recipient would count it twice and queue a
  thank-you for each of fifty recipients of one purchase.
- channel.subscription.gift → Gift "gift subs" (count = total, value = total × tier price).
- channel.subscription.message (a resub shared in chat) → Membership with months =
  cumulative_months, value = tier price × duration_months (the renewal it announces), plus a Chat
  of its message when not empty: that text reaches the channel only through this event, and it
  is meant to be read out.
- channel.follow → Follow.

A missing exchange rate never drops an event: its value is 0 and the currency is named once in
the log with the setting to add. `decode_frame` is a pure function of the text so it can be fuzzed
and benchmarked; the listener does the I/O.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from director.clock import Clock
from director.events import Chat, Enter, Event, Follow, Gift, Membership, Money, Viewer
from director.listeners.base import (
    Backoff,
    ConnectionListener,
    Emit,
    FrameError,
    Listener,
    ListenerConfigError,
    Pricing,
)
from director.listeners.base import json_obj as _obj
from director.listeners.base import json_opt_text as _opt_text
from director.listeners.base import json_text as _text
from director.spec import Choice, Field, ListOf, MapOf, Number, Str

PLATFORM = "twitch"
DEFAULT_URL = "wss://eventsub.wss.twitch.tv/ws"
DEFAULT_API_URL = "https://api.twitch.tv"
SUBSCRIPTIONS_PATH = "/helix/eventsub/subscriptions"
DEFAULT_SUB_PRICES = {"1000": 4.99, "2000": 9.99, "3000": 24.99}

# type → (version, the token scope it needs)
SUBSCRIPTION_TYPES: dict[str, tuple[str, str]] = {
    "channel.chat.message": ("1", "user:read:chat"),
    "channel.cheer": ("1", "bits:read"),
    "channel.subscribe": ("1", "channel:read:subscriptions"),
    "channel.subscription.gift": ("1", "channel:read:subscriptions"),
    "channel.subscription.message": ("1", "channel:read:subscriptions"),
    "channel.follow": ("2", "moderator:read:followers"),
}
CLOSE_REASONS = {
    4000: "internal server error", 4001: "client sent inbound traffic",
    4002: "client failed ping-pong", 4003: "connection unused (no subscription in time)",
    4004: "reconnect grace time expired", 4005: "network timeout", 4006: "network error",
    4007: "invalid reconnect",
}
ANONYMOUS = "anonymous"


class Prices(Pricing):
    """Money for the decoders: the show's rates, what a sub of each tier costs, unpriced currencies.

    A currency without a rate converts to 0 and is remembered in `unpriced` (the listener names it
    once in the log); the event itself is always emitted.
    """

    def __init__(self, money: Money, *, sub_prices: Mapping[str, float] | None = None,
                 sub_currency: str = "USD") -> None:
        super().__init__(money)
        self.sub_prices = {**DEFAULT_SUB_PRICES, **{str(k): float(v) for k, v in
                                                    (sub_prices or {}).items()}}
        self.sub_currency = sub_currency.upper()

    def subs(self, tier: str, count: int) -> float:
        price = self.sub_prices.get(tier, self.sub_prices["1000"])
        return self.value(count * price, self.sub_currency)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded EventSub message: its type, the session facts it carries, its events."""

    type: str  # session_welcome | session_keepalive | notification | session_reconnect | ...
    message_id: str = ""
    session_id: str = ""
    keepalive_s: float | None = None
    reconnect_url: str = ""
    subscription_type: str = ""
    status: str = ""  # revocation: why
    events: tuple[Event, ...] = ()


# -- decoding (pure) ------------------------------------------------------------------------------

MAX_COUNT = 10**9  # above any real number of bits, subs or months; keeps money arithmetic exact


def _int(parent: Mapping[str, Any], key: str, what: str, *, minimum: int = 0,
         default: int | None = None) -> int:
    value = parent.get(key)
    if value is None and default is not None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise FrameError(f"{what} has no whole number '{key}'")
    if not minimum <= value <= MAX_COUNT:
        raise FrameError(f"{what} '{key}' is out of range")
    return value


def _user(event: Mapping[str, Any], what: str, *, prefix: str = "user", level: int = 0,
          anonymous_ok: bool = False) -> Viewer:
    if anonymous_ok and event.get("is_anonymous") is True:
        return Viewer(platform=PLATFORM, id=ANONYMOUS, name="Anonymous", level=level)
    uid = _text(event, f"{prefix}_id", what)
    name = _opt_text(event, f"{prefix}_name") or _opt_text(event, f"{prefix}_login") or uid
    return Viewer(platform=PLATFORM, id=uid, name=name, level=level)


def tier_level(tier: str) -> int:
    """Sub tier "1000" / "2000" / "3000" → level 1 / 2 / 3."""
    return {"1000": 1, "2000": 2, "3000": 3}.get(tier, 1)


def badge_level(badges: Any) -> int:
    """Membership level from chat badges: a subscriber or founder badge gives its tier."""
    if not isinstance(badges, list):
        return 0
    level = 0
    for badge in badges:
        if not isinstance(badge, dict) or badge.get("set_id") not in ("subscriber", "founder"):
            continue
        badge_id = badge.get("id")
        months = int(badge_id) if isinstance(badge_id, str) and badge_id.isascii() and \
            badge_id.isdigit() else 0
        level = max(level, 3 if months >= 3000 else 2 if months >= 2000 else 1)
    return level


def _tier(event: Mapping[str, Any], what: str) -> str:
    return _text(event, "tier", what)


def _chat(mid: str, ev: dict[str, Any], prices: Prices) -> list[Event]:
    what = f"chat message {mid}"
    viewer = _user(ev, what, prefix="chatter_user", level=badge_level(ev.get("badges")))
    text = _text(_obj(ev, "message", what), "text", f"{what} message")
    return [Chat(platform=PLATFORM, msg_id=mid, viewer=viewer, text=text)]


def _cheer(mid: str, ev: dict[str, Any], prices: Prices) -> list[Event]:
    what = f"cheer {mid}"
    bits = _int(ev, "bits", what, minimum=1)
    viewer = _user(ev, what, anonymous_ok=True)
    return [Gift(platform=PLATFORM, msg_id=mid, viewer=viewer, gift="bits", count=bits,
                 value=prices.value(bits, "BITS"), currency=prices.money.base)]


def _subscribe(mid: str, ev: dict[str, Any], prices: Prices) -> list[Event]:
    what = f"subscription {mid}"
    tier = _tier(ev, what)
    viewer = _user(ev, what, level=tier_level(tier))
    if ev.get("is_gift") is True:
        return [Enter(platform=PLATFORM, msg_id=mid, viewer=viewer)]
    return [Membership(platform=PLATFORM, msg_id=mid, viewer=viewer, level=viewer.level,
                       months=1, value=prices.subs(tier, 1), currency=prices.money.base)]


def _gift_subs(mid: str, ev: dict[str, Any], prices: Prices) -> list[Event]:
    what = f"gift subscriptions {mid}"
    total = _int(ev, "total", what, minimum=1)
    tier = _tier(ev, what)
    viewer = _user(ev, what, anonymous_ok=True)
    return [Gift(platform=PLATFORM, msg_id=mid, viewer=viewer, gift="gift subs", count=total,
                 value=prices.subs(tier, total), currency=prices.money.base)]


def _resub(mid: str, ev: dict[str, Any], prices: Prices) -> list[Event]:
    what = f"resubscription {mid}"
    tier = _tier(ev, what)
    months = _int(ev, "cumulative_months", what, minimum=1, default=1)
    paid = _int(ev, "duration_months", what, minimum=1, default=1)
    viewer = _user(ev, what, level=tier_level(tier))
    events: list[Event] = [
        Membership(platform=PLATFORM, msg_id=mid, viewer=viewer, level=viewer.level,
                   months=months, value=prices.subs(tier, paid), currency=prices.money.base)]
    message = ev.get("message")
    text = _opt_text(message, "text").strip() if isinstance(message, dict) else ""
    if text:
        events.append(Chat(platform=PLATFORM, msg_id=f"{mid}:message", viewer=viewer, text=text))
    return events


def _follow(mid: str, ev: dict[str, Any], prices: Prices) -> list[Event]:
    return [Follow(platform=PLATFORM, msg_id=mid, viewer=_user(ev, f"follow {mid}"))]


DECODERS = {
    "channel.chat.message": _chat,
    "channel.cheer": _cheer,
    "channel.subscribe": _subscribe,
    "channel.subscription.gift": _gift_subs,
    "channel.subscription.message": _resub,
    "channel.follow": _follow,
}


def decode_notification(sub_type: str, message_id: str, event: Any,
                        prices: Prices) -> list[Event]:
    """One notification's `payload.event` → its events (none for types we do not use)."""
    decoder = DECODERS.get(sub_type)
    if decoder is None:
        return []
    if not isinstance(event, dict):
        raise FrameError(f"{sub_type} notification {message_id} has no event object")
    return decoder(message_id, event, prices)


def decode_message(obj: Any, prices: Prices) -> Frame:
    """An EventSub WebSocket message (parsed JSON) → Frame; FrameError if malformed."""
    if not isinstance(obj, dict):
        raise FrameError(f"message is {type(obj).__name__}, not an object")
    meta = _obj(obj, "metadata", "message")
    kind = _text(meta, "message_type", "message metadata")
    mid = _opt_text(meta, "message_id")
    payload = obj.get("payload")
    if kind == "session_keepalive":
        return Frame(type=kind, message_id=mid)
    if not isinstance(payload, dict):
        raise FrameError(f"{kind} message has no payload object")
    if kind in ("session_welcome", "session_reconnect"):
        session = _obj(payload, "session", kind)
        keepalive = session.get("keepalive_timeout_seconds")
        seconds = None  # Twitch allows 10-600 s; anything odd leaves the default window
        if isinstance(keepalive, (int, float)) and not isinstance(keepalive, bool) and \
                0 <= keepalive <= 3600:
            seconds = float(keepalive)
        if kind == "session_welcome":
            return Frame(type=kind, message_id=mid, session_id=_text(session, "id", kind),
                         keepalive_s=seconds)
        return Frame(type=kind, message_id=mid, session_id=_opt_text(session, "id"),
                     reconnect_url=_text(session, "reconnect_url", kind))
    if kind == "notification":
        if not mid:
            raise FrameError("notification has no metadata.message_id")
        sub = payload.get("subscription")
        sub_type = _opt_text(meta, "subscription_type") or (
            _opt_text(sub, "type") if isinstance(sub, dict) else "")
        if not sub_type:
            raise FrameError(f"notification {mid} names no subscription type")
        events = decode_notification(sub_type, mid, payload.get("event"), prices)
        return Frame(type=kind, message_id=mid, subscription_type=sub_type,
                     events=tuple(events))
    if kind == "revocation":
        sub = _obj(payload, "subscription", kind)
        return Frame(type=kind, message_id=mid, subscription_type=_opt_text(sub, "type"),
                     status=_opt_text(sub, "status"))
    return Frame(type=kind, message_id=mid)  # a type added later: nothing to do


def decode_frame(data: str | bytes, prices: Prices) -> Frame:
    """The text of one WebSocket message → Frame; FrameError if it is not a valid message."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        raise FrameError(f"not JSON: {data[:60]!r}") from None
    return decode_message(obj, prices)


def subscription_body(sub_type: str, *, session_id: str, broadcaster_id: str,
                      user_id: str) -> dict[str, Any]:
    """The Helix body that subscribes this WebSocket session to one event type."""
    version, _ = SUBSCRIPTION_TYPES[sub_type]
    condition = {"broadcaster_user_id": broadcaster_id}
    if sub_type == "channel.chat.message":
        condition["user_id"] = user_id
    elif sub_type == "channel.follow":
        condition["moderator_user_id"] = user_id
    return {"type": sub_type, "version": version, "condition": condition,
            "transport": {"method": "websocket", "session_id": session_id}}


def helix_message(body: str) -> str:
    """The `message` of a Helix error body, or the body's start."""
    try:
        obj = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    message = obj.get("message") if isinstance(obj, dict) else None
    return message if isinstance(message, str) else body.strip()[:200]


# -- the listener (I/O) ---------------------------------------------------------------------------

_Item = tuple[int, aiohttp.WSMessage]


class _Connection:
    """One EventSub WebSocket and the task that copies its messages into the session's queue."""

    def __init__(self, number: int, ws: aiohttp.ClientWebSocketResponse,
                 queue: asyncio.Queue[_Item]) -> None:
        self.number, self.ws = number, ws
        self.task = asyncio.create_task(self._read(queue))

    async def _read(self, queue: asyncio.Queue[_Item]) -> None:
        while True:
            msg = await self.ws.receive()
            queue.put_nowait((self.number, msg))
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.ws.close()


def _ended(ws: aiohttp.ClientWebSocketResponse, msg: aiohttp.WSMessage) -> str:
    """Why a connection ended, for the log: the close code and what Twitch means by it."""
    if msg.type is aiohttp.WSMsgType.ERROR:
        return f"failed ({msg.data!r})"
    code = ws.close_code
    if not code:
        return "closed"
    meaning = CLOSE_REASONS.get(code)
    return f"closed ({code} {meaning})" if meaning else f"closed ({code})"


class TwitchListener(ConnectionListener):
    name = "twitch"
    kind = "twitch"
    doc = ("Twitch EventSub over WebSocket: chat, cheers, subs, gift subs, resub messages and "
           "follows")
    settings = {
        "broadcaster_id": Field(Str(non_empty=True, pattern=r"\d+"),
                                "the channel's numeric user id", required=True),
        "user_id": Field(Str(pattern=r"(\d+)?"), "numeric user id the token belongs to (reads "
                         "chat, and follows as moderator); default: broadcaster_id", default=""),
        "token_env": Field(Str(non_empty=True), "environment variable holding a user access "
                           "token", default="TWITCH_TOKEN"),
        "client_id_env": Field(Str(non_empty=True), "environment variable holding the client "
                               "id the token was issued for", default="TWITCH_CLIENT_ID"),
        "url": Field(Str(non_empty=True), "EventSub WebSocket URL", default=DEFAULT_URL),
        "api_url": Field(Str(non_empty=True), "Helix API base URL", default=DEFAULT_API_URL),
        "sub_prices": Field(MapOf(Number(minimum=0), key_pattern=r"1000|2000|3000"),
                            "what one sub of each tier costs, in sub_currency",
                            default=dict(DEFAULT_SUB_PRICES)),
        "sub_currency": Field(Str(pattern=r"[A-Za-z_]{3,16}"), "currency of sub_prices",
                              default="USD"),
        "subscriptions": Field(ListOf(Choice(*SUBSCRIPTION_TYPES)),
                               "event types to subscribe to (leave out those the token has no "
                               "scope for)", default=list(SUBSCRIPTION_TYPES)),
    }

    #: seconds added to the session's keepalive window before silence counts as a dead connection
    keepalive_grace_s = 10.0
    #: seconds an HTTP request or a WebSocket handshake may take
    request_timeout_s = 15.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock, money: Money) -> Listener:
        return cls(
            broadcaster_id=str(settings["broadcaster_id"]),
            user_id=str(settings.get("user_id") or ""),
            token_env=str(settings.get("token_env") or "TWITCH_TOKEN"),
            client_id_env=str(settings.get("client_id_env") or "TWITCH_CLIENT_ID"),
            url=str(settings.get("url") or DEFAULT_URL),
            api_url=str(settings.get("api_url") or DEFAULT_API_URL),
            sub_prices=settings.get("sub_prices") or None,
            sub_currency=str(settings.get("sub_currency") or "USD"),
            subscriptions=settings.get("subscriptions") or None,
            money=money,
        )

    def __init__(self, *, broadcaster_id: str, user_id: str = "", token_env: str = "TWITCH_TOKEN",
                 client_id_env: str = "TWITCH_CLIENT_ID", url: str = DEFAULT_URL,
                 api_url: str = DEFAULT_API_URL, sub_prices: Mapping[str, float] | None = None,
                 sub_currency: str = "USD", subscriptions: list[str] | None = None,
                 money: Money | None = None, backoff: Backoff | None = None) -> None:
        super().__init__(backoff=backoff)
        self.broadcaster_id = broadcaster_id
        self.user_id = user_id or broadcaster_id
        self.token_env, self.client_id_env = token_env, client_id_env
        self.url = url
        self.api_url = api_url.rstrip("/")
        self.subscriptions = list(dict.fromkeys(subscriptions or SUBSCRIPTION_TYPES))
        self.prices = Prices(money or Money(), sub_prices=sub_prices, sub_currency=sub_currency)
        self.session_id = ""
        self.sessions = 0  # welcomes that led to subscribing (one per fresh connection)
        self.moves = 0  # session_reconnect hand-overs completed
        self._revoked: set[str] = set()
        self._unpriced_said: set[str] = set()

    def _credentials(self) -> tuple[str, str]:
        token = os.environ.get(self.token_env, "").strip()
        client_id = os.environ.get(self.client_id_env, "").strip()
        missing = [name for name, value in ((self.token_env, token),
                                            (self.client_id_env, client_id)) if not value]
        if missing:
            raise ListenerConfigError(
                f"no Twitch credentials: set {' and '.join(missing)} (a user access token and "
                "the client id it was issued for; the names come from the token_env and "
                "client_id_env settings)")
        return token.removeprefix("oauth:"), client_id

    async def _subscribe(self, http: aiohttp.ClientSession, token: str, client_id: str) -> None:
        headers = {"Client-Id": client_id, "Authorization": f"Bearer {token}"}
        timeout = aiohttp.ClientTimeout(total=self.request_timeout_s)
        for sub_type in self.subscriptions:
            body = subscription_body(sub_type, session_id=self.session_id,
                                     broadcaster_id=self.broadcaster_id, user_id=self.user_id)
            async with http.post(self.api_url + SUBSCRIPTIONS_PATH, json=body, headers=headers,
                                 timeout=timeout) as resp:
                status, text = resp.status, await resp.text()
            if status < 300 or status == 409:  # 409: this session already has it
                continue
            said = f"HTTP {status}: {helix_message(text)}"
            if status == 401:
                raise ListenerConfigError(
                    f"Twitch refused the token ({said}): {self.token_env} must hold a valid user "
                    f"access token issued for the client id in {self.client_id_env}")
            if status == 403:
                raise ListenerConfigError(
                    f"Twitch refused the {sub_type} subscription ({said}): the token in "
                    f"{self.token_env} needs the scope {SUBSCRIPTION_TYPES[sub_type][1]} (and "
                    f"user_id {self.user_id} must be its user), or leave {sub_type} out of "
                    "the subscriptions setting")
            if status == 400:
                raise ListenerConfigError(
                    f"Twitch rejected the {sub_type} subscription ({said}): check "
                    "broadcaster_id and user_id are numeric user ids, not login names")
            raise ConnectionError(f"Twitch could not create the {sub_type} subscription "
                                  f"({said})")

    def _report_unpriced(self) -> None:
        for currency, problem in sorted(self.prices.unpriced.items()):
            if currency not in self._unpriced_said:
                self._unpriced_said.add(currency)
                self.log.error("%s (Twitch payments in %s count as 0 until then)", problem,
                               currency)

    def _revocation(self, frame: Frame) -> None:
        if frame.subscription_type in self._revoked:
            return
        self._revoked.add(frame.subscription_type)
        scope = SUBSCRIPTION_TYPES.get(frame.subscription_type, ("", "its scope"))[1]
        self.log.error("Twitch revoked the %s subscription (%s): no more of these events until "
                       "the token in %s is authorised again with %s and the listener reconnects",
                       frame.subscription_type, frame.status or "no reason given",
                       self.token_env, scope)

    async def _connect(self, http: aiohttp.ClientSession, url: str, number: int,
                       queue: asyncio.Queue[_Item]) -> _Connection:
        # a short close timeout: a dead peer never answers the close frame
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that lands
        # as the awaited result arrives, and the listener would outlive the show's shutdown
        async with asyncio.timeout(self.request_timeout_s):
            ws = await http.ws_connect(
                url, autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0))
        return _Connection(number, ws, queue)

    async def session(self, emit: Emit) -> None:
        token, client_id = self._credentials()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        opened: list[_Connection] = []
        self.silence_s = type(self).silence_s  # until a welcome says otherwise
        async with aiohttp.ClientSession() as http:
            try:
                current = await self._connect(http, self.url, 0, queue)
                opened.append(current)
                pending: _Connection | None = None
                subscribed = False
                while True:
                    try:
                        async with asyncio.timeout(self.silence_s):
                            number, msg = await queue.get()
                    except TimeoutError:
                        raise ConnectionError(f"no message from Twitch for {self.silence_s:.1f} s "
                                              "(keepalive missed): connection dead") from None
                    live = number == current.number or (
                        pending is not None and number == pending.number)
                    if not live and msg.type is not aiohttp.WSMsgType.TEXT:
                        continue  # the old connection closing after a hand-over
                    if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        conn = current if number == current.number else pending or current
                        why = _ended(conn.ws, msg)
                        if pending is not None and number == pending.number:
                            self.log.warning("reconnect URL %s before its welcome; staying on "
                                             "the old connection", why)
                            await pending.close()
                            pending = None
                            continue
                        raise ConnectionError(f"Twitch connection {why}")
                    try:
                        frame = decode_frame(msg.data, self.prices)
                    except FrameError as exc:
                        self.bad_frame(str(exc))
                        continue
                    if frame.type == "notification":
                        # also from the old connection after a hand-over: it was sent to us
                        for event in frame.events:
                            self.deliver(emit, event)
                        if len(self.prices.unpriced) > len(self._unpriced_said):
                            self._report_unpriced()
                    elif not live:
                        continue
                    elif frame.type == "session_welcome":
                        if frame.keepalive_s is not None:
                            self.silence_s = frame.keepalive_s + self.keepalive_grace_s
                        if pending is not None and number == pending.number:
                            await current.close()  # subscriptions moved with the session
                            current, pending = pending, None
                            self.moves += 1
                            self.log.info("moved to a new Twitch connection (session %s)",
                                          frame.session_id)
                        elif not subscribed:
                            self.session_id = frame.session_id
                            await self._subscribe(http, token, client_id)
                            subscribed = True
                            self.sessions += 1
                            self.state = "connected"
                            self.log.info("Twitch EventSub session %s: subscribed to %s",
                                          self.session_id, ", ".join(self.subscriptions))
                    elif frame.type == "session_reconnect":
                        if pending is None:
                            pending = await self._connect(http, frame.reconnect_url,
                                                          len(opened), queue)
                            opened.append(pending)
                    elif frame.type == "revocation":
                        self._revocation(frame)
            finally:
                for conn in opened:
                    await conn.close()
