"""Douyin (抖音) live: the web push WebSocket that the live.douyin.com page itself reads.

Wire format (from the public notes in ../shared/REFERENCE.md and saermart/DouyinLiveWebFetcher's
`douyin.proto`; Douyin publishes no schema, so every number below is as reverse-engineered there):

    PushFrame   {seqId 1, logId 2, service 3, method 4, headers 5 [{key 1, value 2}],
                 payloadEncoding 6 ("gzip"), payloadType 7 ("msg" | "hb" | "ack"), payload 8}
    Response    {messages 1 [Message], cursor 2, fetchInterval 3, now 4, internalExt 5, needAck 9}
    Message     {method 1, payload 2, msgId 3}
    User        {id 1, nickName 3, FansClub 24 {data 1 {clubName 1, level 2}}, secUid 46,
                 idStr 1028}
    WebcastChatMessage      {common 1, user 2, content 3}
    WebcastEmojiChatMessage {common 1, user 2, defaultContent 5}
    WebcastGiftMessage      {common 1, giftId 2, groupCount 4, repeatCount 5, comboCount 6, user 7,
                             repeatEnd 9, groupId 11, gift 15 {id 5, combo 10, diamondCount 12,
                             name 16}}
    WebcastLikeMessage      {common 1, count 2, total 3, user 5}
    WebcastSocialMessage    {common 1, user 2, shareType 3, action 4 (1 follow, 3 share)}
    WebcastMemberMessage    {common 1, user 2}                         (someone entered)
    WebcastFansclubMessage  {common 1, type 2 (1 level up, 2 joined), content 3, user 4}
    Common                  {method 1, msgId 2}

The client answers a Response that has `needAck` with PushFrame(payloadType "ack", payload =
internalExt, logId echoed), and sends PushFrame(payloadType "hb") every ~10 s.

**Gift combos.** A combo (连击) arrives as one WebcastGiftMessage per click, each carrying the
running `repeatCount`, and a last one with `repeatEnd = 1` repeating the final count. Rejected:
thanking at `repeatEnd` only - the show reacts seconds late, and a combo whose end frame is lost (a
reconnect in the middle) is never counted. Instead each frame emits the *delta* over the highest
count already seen for (viewer, giftId, groupId), so a combo of 5 is 5 gifts however its frames
arrive (duplicated, out of order, the end frame missing or alone). The show's gift queue merges the
deltas back into one thanks (`gifts.combo_window_s`). A delta's msg_id is
`{viewer}:{giftId}:{groupId}:{repeatCount}`: every frame that reaches the same count of the same
combo has the same id, so even after a restart (the running totals are in memory) a resent frame
is dropped by the ledger rather than counted again. A combo without a groupId (not seen in public
captures, but possible) cannot be told from the viewer's next one, so it counts at its end frame
only. A gift that is not a combo (`gift.combo` false and no `repeatEnd`) is one event with its
message's msgId and count `repeatCount` (at least 1).
Value: `diamondCount` × count 抖币 (DOUYIN_COIN, 10 = 1 CNY).

**Connecting.** The push URL must be signed (`signature` from the page's own JS, a `ttwid` cookie,
room and user ids): it is made by a logged-in browser session, not here. Copy the whole
`wss://webcast*.douyin.com/webcast/im/push/v2/?...` URL from DevTools → Network → WS into the
environment variable named by `url_env` (it contains session tokens, so it never belongs in a show
file) and the page's cookie into `cookie_env`. A signed URL expires: when Douyin refuses it (HTTP
401/403/404 on the upgrade) the listener says so once and keeps retrying slowly; put a fresh URL in
the environment and restart. `url` (or `director listen douyin --url ...`) is for local relays
and tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import zlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from director.clock import Clock
from director.events import Chat, Enter, Event, Follow, Gift, Like, Membership, Money, Viewer
from director.listeners.base import (
    Backoff,
    ConnectionListener,
    Emit,
    FrameError,
    ListenerConfigError,
)
from director.listeners.protowire import Message, ProtoError, encode
from director.spec import Duration, Field, Str

PLATFORM = "douyin"
MAX_INFLATED = 8 << 20  # a push frame is a few KiB; anything near this is hostile or broken


def gunzip(data: bytes, *, limit: int = MAX_INFLATED) -> bytes:
    """Inflate a gzip payload, refusing truncated streams and anything past `limit` bytes."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit)
    except zlib.error as exc:
        raise FrameError(f"bad gzip payload: {exc}") from None
    if inflater.unconsumed_tail:
        raise FrameError(f"gzip payload inflates past {limit} bytes")
    if not inflater.eof:
        raise FrameError("truncated gzip payload")
    return out


class GiftCombos:
    """The highest running count seen per combo, so each gift of a combo is counted once.

    `advance(key, total)` returns how many gifts `total` adds (0 for a resend or a late frame).
    Only the most recent `capacity` combos are remembered; a combo evicted and then resent is
    still caught by the ledger, because its delta ids repeat (see the module docstring).
    """

    def __init__(self, *, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._totals: OrderedDict[Any, int] = OrderedDict()

    def advance(self, key: Any, total: int) -> int:
        before = self._totals.get(key, 0)
        if total <= before:
            if key in self._totals:
                self._totals.move_to_end(key)
            return 0
        self._totals[key] = total
        self._totals.move_to_end(key)
        while len(self._totals) > self.capacity:
            self._totals.popitem(last=False)
        return total - before

    def __len__(self) -> int:
        return len(self._totals)


@dataclass
class DecodedFrame:
    """What one push frame held: events, the ack to send back (if asked), problems found."""

    payload_type: str = ""
    events: list[Event] = field(default_factory=list)
    ack: bytes | None = None
    problems: list[str] = field(default_factory=list)


def heartbeat_frame() -> bytes:
    return encode({7: "hb"})


def _fallback_id(method: str, payload: bytes) -> str:
    # No msgId at all: the same bytes resent give the same id, so the ledger still dedupes.
    return "h" + hashlib.blake2b(method.encode() + payload, digest_size=12).hexdigest()


class DouyinDecoder:
    """Push frames → events. No I/O; its only state is the running combo totals.

    `decode(data)` never raises: whatever cannot be read becomes a line in `problems` and the rest
    of the frame is still decoded (one bad message does not cost the others).
    """

    def __init__(self, *, money: Money | None = None, platform: str = PLATFORM,
                 combos: GiftCombos | None = None) -> None:
        self.money = money or Money()
        self.platform = platform
        self.combos = combos if combos is not None else GiftCombos()
        self._handlers: dict[str, Callable[[Message, str], Event | None]] = {
            "WebcastChatMessage": self._chat,
            "WebcastEmojiChatMessage": self._emoji_chat,
            "WebcastGiftMessage": self._gift,
            "WebcastLikeMessage": self._like,
            "WebcastSocialMessage": self._social,
            "WebcastMemberMessage": self._member,
            "WebcastFansclubMessage": self._fansclub,
        }

    # -- frames ---------------------------------------------------------------------------------
    def decode(self, data: bytes) -> DecodedFrame:
        out = DecodedFrame()
        try:
            frame = Message(data)
            out.payload_type = frame.text(7)
            if out.payload_type not in ("msg", ""):
                if out.payload_type not in ("hb", "ack"):
                    out.problems.append(f"unexpected payload type {out.payload_type[:40]!r}")
                return out
            payload = frame.raw(8)
            if frame.text(6) == "gzip" or payload[:2] == b"\x1f\x8b":
                payload = gunzip(payload)
            response = Message(payload)
            messages = response.subs(1)
        except ValueError as exc:  # ProtoError, FrameError
            out.problems.append(f"push frame: {exc}")
            return out
        if response.flag(9):
            out.ack = encode({2: frame.uint(2), 7: "ack", 8: response.raw(5)})
        for message in messages:
            method = message.text(1)
            handler = self._handlers.get(method)
            if handler is None:
                continue  # room stats, rankings, control messages: nothing a show reacts to
            try:
                event = handler(Message(message.raw(2)), self._msg_id(message, method))
            except ValueError as exc:  # ProtoError; Money without a rate for CNY
                out.problems.append(f"{method}: {exc}")
                continue
            if event is not None:
                out.events.append(event)
        return out

    def _msg_id(self, message: Message, method: str) -> str:
        msg_id = message.uint(3)
        if msg_id:
            return str(msg_id)
        payload = message.raw(2)
        try:
            common_id = Message(payload).sub(1).uint(2)
        except ProtoError:
            common_id = 0
        return str(common_id) if common_id else _fallback_id(method, payload)

    def _viewer(self, user: Message) -> Viewer:
        uid = user.uint(1)
        vid = str(uid) if uid else (user.text(1028) or user.text(46) or "anonymous")
        level = user.sub(24).sub(1).uint(2)
        return Viewer(platform=self.platform, id=vid, name=user.text(3) or vid, level=level)

    # -- one handler per method -----------------------------------------------------------------
    def _chat(self, m: Message, msg_id: str) -> Event:
        return Chat(platform=self.platform, msg_id=msg_id, viewer=self._viewer(m.sub(2)),
                    text=m.text(3))

    def _emoji_chat(self, m: Message, msg_id: str) -> Event:
        return Chat(platform=self.platform, msg_id=msg_id, viewer=self._viewer(m.sub(2)),
                    text=m.text(5))

    def _gift(self, m: Message, msg_id: str) -> Event | None:
        viewer = self._viewer(m.sub(7))
        gift = m.sub(15)
        gift_id = m.uint(2) or gift.uint(5)
        running = m.uint(5) or m.uint(6) or 1
        ended = m.uint(9) == 1
        group = m.uint(11)
        count = running
        if (gift.flag(10) or ended) and group:
            count = self.combos.advance((viewer.id, gift_id, group), running)
            if count <= 0:
                return None
            msg_id = f"{viewer.id}:{gift_id}:{group}:{running}"
        elif gift.flag(10) and not ended:
            # A combo without a groupId cannot be told from the viewer's next combo of the same
            # gift: it counts once, at its end frame, with the final count.
            return None
        value = self.money.to_base(gift.uint(12) * count, "DOUYIN_COIN")
        return Gift(platform=self.platform, msg_id=msg_id, viewer=viewer,
                    gift=gift.text(16) or f"gift {gift_id}", count=count, value=value,
                    currency=self.money.base)

    def _like(self, m: Message, msg_id: str) -> Event:
        return Like(platform=self.platform, msg_id=msg_id, viewer=self._viewer(m.sub(5)),
                    count=max(1, m.uint(2)))

    def _social(self, m: Message, msg_id: str) -> Event | None:
        if m.uint(4) != 1:  # 3 is a share; nothing else is a follow
            return None
        return Follow(platform=self.platform, msg_id=msg_id, viewer=self._viewer(m.sub(2)))

    def _member(self, m: Message, msg_id: str) -> Event:
        return Enter(platform=self.platform, msg_id=msg_id, viewer=self._viewer(m.sub(2)))

    def _fansclub(self, m: Message, msg_id: str) -> Event | None:
        if m.uint(2) not in (1, 2):
            return None
        viewer = self._viewer(m.sub(4))
        # Joining costs a 1 抖币 gift that arrives as its own WebcastGiftMessage: value 0 here
        # so the money is not counted twice.
        return Membership(platform=self.platform, msg_id=msg_id, viewer=viewer,
                          level=max(1, viewer.level), value=0.0, currency=self.money.base)


class DouyinListener(ConnectionListener):
    """Reads a Douyin room through the signed web push URL (see the module docstring)."""

    name = "douyin"
    kind = "douyin"
    doc = ("Douyin live room through the web push WebSocket; the signed URL comes from a "
           "logged-in browser session, through an environment variable")
    settings = {
        "url": Field(Str(), "push URL (local relays and tests); a real signed URL carries "
                            "session tokens: put it in the environment and use url_env"),
        "url_env": Field(Str(non_empty=True), "environment variable holding the signed "
                                              "wss://.../webcast/im/push/v2/?... URL",
                         default="DOUYIN_WS_URL"),
        "cookie_env": Field(Str(non_empty=True), "environment variable holding the browser's "
                                                 "cookie header (ttwid=...)",
                            default="DOUYIN_COOKIE"),
        "room_id": Field(Str(), "room id, for logs only (the URL already names the room)",
                         default=""),
        "heartbeat_s": Field(Duration(minimum=1), "seconds between heartbeat frames",
                             default=10.0),
    }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock,
                      money: Money) -> DouyinListener:
        return cls(url=settings.get("url") or None, url_env=settings["url_env"],
                   cookie_env=settings["cookie_env"], room_id=settings.get("room_id") or "",
                   heartbeat_s=float(settings["heartbeat_s"]), money=money)

    def __init__(self, *, url: str | None = None, url_env: str = "DOUYIN_WS_URL",
                 cookie_env: str = "DOUYIN_COOKIE", room_id: str = "", heartbeat_s: float = 10.0,
                 money: Money | None = None, backoff: Backoff | None = None) -> None:
        super().__init__(backoff=backoff)
        self.url, self.url_env, self.cookie_env = url, url_env, cookie_env
        self.room_id = room_id
        self.heartbeat_s = heartbeat_s
        self.decoder = DouyinDecoder(money=money)
        self.acks_sent = 0
        self.heartbeats_sent = 0

    def _target(self) -> str:
        url = self.url or os.environ.get(self.url_env, "").strip()
        if not url:
            raise ListenerConfigError(
                f"no Douyin push URL: put the signed wss://.../webcast/im/push/v2/?... URL from a "
                f"logged-in browser (DevTools → Network → WS) in ${self.url_env}")
        if not url.startswith(("ws://", "wss://")):
            raise ListenerConfigError(f"the Douyin push URL must start with wss://, got "
                                      f"{url[:20]!r}... (check ${self.url_env})")
        return url

    async def session(self, emit: Emit) -> None:
        url = self._target()
        headers = {"User-Agent": "Mozilla/5.0 (director)", "Origin": "https://live.douyin.com"}
        cookie = os.environ.get(self.cookie_env, "").strip()
        if cookie:
            headers["Cookie"] = cookie
        timeout = aiohttp.ClientTimeout(total=None, connect=20)  # reads have silence_s
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                ws = await http.ws_connect(url, headers=headers, max_msg_size=MAX_INFLATED)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403, 404):
                    raise ListenerConfigError(
                        f"Douyin refused the push URL (HTTP {exc.status}): signed URLs expire; "
                        f"copy a fresh one into ${self.url_env} (and the cookie into "
                        f"${self.cookie_env})") from None
                raise
            async with ws:
                self.state = "connected"
                self.log.info("connected to Douyin%s", f" room {self.room_id}"
                              if self.room_id else "")
                beats = asyncio.create_task(self._heartbeats(ws))
                try:
                    await self._read(ws, emit)
                finally:
                    beats.cancel()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, emit: Emit) -> None:
        while True:
            try:
                msg = await ws.receive(timeout=self.silence_s)
            except TimeoutError:
                raise ConnectionError(f"no frame for {self.silence_s:.0f} s") from None
            if msg.type == aiohttp.WSMsgType.BINARY:
                await self._on_frame(ws, emit, msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self.bad_frame("text frame on a binary protocol")
            elif msg.type == aiohttp.WSMsgType.ERROR:
                raise ConnectionError(f"websocket error: {ws.exception()}")
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                              aiohttp.WSMsgType.CLOSED):
                return

    async def _on_frame(self, ws: aiohttp.ClientWebSocketResponse, emit: Emit,
                        data: bytes) -> None:
        try:
            frame = self.decoder.decode(data)
        except Exception as exc:  # a decoder bug must not end the show's connection
            self.bad_frame(f"decoder failed: {type(exc).__name__}: {exc}")
            return
        for problem in frame.problems:
            self.bad_frame(problem)
        if frame.ack is not None:
            await ws.send_bytes(frame.ack)
            self.acks_sent += 1
        for event in frame.events:
            self.deliver(emit, event)

    async def _heartbeats(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        beat = heartbeat_frame()
        while not ws.closed:
            await asyncio.sleep(self.heartbeat_s)
            try:
                await ws.send_bytes(beat)
            except (ConnectionError, RuntimeError):
                return  # the reader sees the closed socket and ends the session
            self.heartbeats_sent += 1

