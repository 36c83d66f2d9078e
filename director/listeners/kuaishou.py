"""Kuaishou (快手) live: the web live room's WebSocket, as far as its public protocol goes.

Field numbers (from OrdinaryRoad-Project/ordinaryroad-live-chat-client's kuaishou `.proto` files,
reverse-engineered from live.kuaishou.com's JS; Kuaishou publishes no schema):

    SocketMessage  {payloadType 1, compressionType 2 (0 UNKNOWN, 1 NONE, 2 GZIP, 3 AES), payload 3}
    payload types  client: CS_HEARTBEAT 1, CS_ENTER_ROOM 200
                   server: SC_HEARTBEAT_ACK 101, SC_ERROR 103, SC_ENTER_ROOM_ACK 300,
                           SC_FEED_PUSH 310 (and ~40 others nobody reacts to, ignored)
    CSWebEnterRoom {token 1, liveStreamId 2, reconnectCount 3, pageId 7}
    CSWebHeartbeat {timestamp 1 (ms)}
    SCWebEnterRoomAck {minReconnectMs 1, maxReconnectMs 2, heartbeatIntervalMs 3}
    SCError        {code 1, msg 2, subCode 3}
    SCWebFeedPush  {commentFeeds 5, comboCommentFeed 7, likeFeeds 8, giftFeeds 9, ...}
    WebCommentFeed {id 1, user 2, content 3}
    WebLikeFeed    {id 1, user 2}
    WebGiftFeed    {id 1, user 2, time 3, intGiftId 4, mergeKey 6, batchSize 7, comboCount 8}
    SimpleUserInfo {principalId 1, userName 2, headUrl 3}

Note likeFeeds is 8, not 10 as some notes say; 10 is giftCursor (a string).

**Gifts.** A combo is a run of WebGiftFeeds sharing a `mergeKey`, `comboCount` growing by one per
click of `batchSize` gifts, so the running total is comboCount × batchSize. As on Douyin, each
feed emits the delta over the highest total seen for its (viewer, gift, mergeKey), with msg_id
`{mergeKey}:{total}`, so a combo is counted once however its feeds arrive (see douyin.py, whose
`GiftCombos` this shares). A feed without a mergeKey is taken as one click: batchSize gifts, with
the feed's own id. Kuaishou frames carry no prices: `gift_prices` maps intGiftId → 快币
(KUAISHOU_COIN, 10 = 1 CNY); an unknown gift is worth 0 and logged once, so a show still thanks
it, just at the lowest tier. `gift_names` maps ids to names for the thanks line.

**Connecting.** The socket URL (wss://livejs-ws-group*.gifshow.com/websocket) and the enter-room
token come from live.kuaishou.com's `websocketinfo` API for a live stream, which wants a logged-in
cookie; like the Douyin signed URL that is done outside this listener. The token goes in the
environment (`token_env`), never in the show. An SC_ERROR before the enter-room ack means the
token or live stream id was refused: said once, retried slowly. Once the room is entered the
client sends a heartbeat every 20 s (or at the interval the enter-room ack asks for).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from director.clock import Clock
from director.events import Chat, Event, Gift, Like, Money, Viewer
from director.listeners.base import Backoff, ConnectionListener, Emit, ListenerConfigError
from director.listeners.douyin import GiftCombos, gunzip
from director.listeners.protowire import Message, encode
from director.spec import Duration, Field, MapOf, Number, Str

PLATFORM = "kuaishou"
MAX_FRAME = 8 << 20

CS_HEARTBEAT, CS_ENTER_ROOM = 1, 200
SC_HEARTBEAT_ACK, SC_ERROR, SC_ENTER_ROOM_ACK, SC_FEED_PUSH = 101, 103, 300, 310
NONE, GZIP, AES = 1, 2, 3
# Server types the web client knows (PayloadType enum) that carry nothing a show reacts to.
_KNOWN = frozenset({
    51, 101, 102, 103, 104, 105, 300, 301, 302, 303, 304, 305, 306, 307, 308, 310, 311, 312,
    320, 321, 322, 323, 324, 325, 326, 327, 330, 340, 350, 351, 352, 353, 354, 355, 360, 361,
    370, 371, 380, 381, 390, 391, 412, 441, 442, 645, 758,
})


@dataclass
class KuaishouFrame:
    """What one socket message held."""

    payload_type: int = 0
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    error: str | None = None  # SC_ERROR: "code N: message"
    heartbeat_ms: int = 0  # SC_ENTER_ROOM_ACK: the interval the server wants
    unpriced: list[int] = field(default_factory=list)  # gift ids missing from gift_prices


def enter_room_frame(*, token: str, live_stream_id: str, page_id: str,
                     reconnects: int = 0) -> bytes:
    room = {1: token, 2: live_stream_id, 3: reconnects, 7: page_id}
    return encode({1: CS_ENTER_ROOM, 3: room})


def heartbeat_frame(now_ms: int) -> bytes:
    return encode({1: CS_HEARTBEAT, 3: {1: now_ms}})


def new_page_id() -> str:
    # The web client's own shape: 16 random letters/digits, '_', the time in ms.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(16)) + f"_{int(time.time() * 1000)}"


class KuaishouDecoder:
    """Socket messages → events. No I/O; its only state is the running combo totals."""

    def __init__(self, *, money: Money | None = None,
                 gift_prices: Mapping[str, float] | None = None,
                 gift_names: Mapping[str, str] | None = None, platform: str = PLATFORM,
                 combos: GiftCombos | None = None) -> None:
        self.money = money or Money()
        self.prices = dict(gift_prices or {})
        self.names = dict(gift_names or {})
        self.platform = platform
        self.combos = combos if combos is not None else GiftCombos()

    def decode(self, data: bytes) -> KuaishouFrame:
        """Never raises: what cannot be read becomes a line in `problems`."""
        out = KuaishouFrame()
        try:
            socket_message = Message(data)
            out.payload_type = kind = socket_message.uint(1)
            if kind == SC_HEARTBEAT_ACK:
                return out
            if kind not in _KNOWN:
                out.problems.append(f"unexpected payload type {kind}")
                return out
            compression = socket_message.uint(2)
            payload = socket_message.raw(3)
            if compression == GZIP:
                payload = gunzip(payload, limit=MAX_FRAME)
            elif compression == AES:
                out.problems.append("AES-encrypted payload (not supported by the web protocol "
                                    "this listener speaks)")
                return out
            elif compression not in (0, NONE):
                out.problems.append(f"unknown compression type {compression}")
                return out
            body = Message(payload)
            if kind == SC_ERROR:
                out.error = f"code {body.uint(1)}: {body.text(2) or 'no message'}"
            elif kind == SC_ENTER_ROOM_ACK:
                out.heartbeat_ms = body.uint(3)
            elif kind == SC_FEED_PUSH:
                self._feeds(body, out)
        except ValueError as exc:  # ProtoError, FrameError
            out.problems.append(f"payload type {out.payload_type}: {exc}")
        return out

    def _feeds(self, push: Message, out: KuaishouFrame) -> None:
        for number, build in ((5, self._comment), (8, self._like), (9, self._gift)):
            for raw in push.fields.get(number, []):
                if not isinstance(raw, bytes):
                    out.problems.append(f"feed field {number} is not a message")
                    continue
                try:
                    event = build(Message(raw), raw, out)
                except ValueError as exc:
                    out.problems.append(f"feed field {number}: {exc}")
                    continue
                if event is not None:
                    out.events.append(event)

    def _viewer(self, user: Message) -> Viewer:
        vid = user.text(1) or "anonymous"
        return Viewer(platform=self.platform, id=vid, name=user.text(2) or vid)

    @staticmethod
    def _feed_id(feed: Message, raw: bytes, what: str) -> str:
        fid = feed.text(1)
        if fid:
            return fid
        # No id: the same bytes resent give the same id, so the ledger still dedupes.
        return what + hashlib.blake2b(raw, digest_size=12).hexdigest()

    def _comment(self, feed: Message, raw: bytes, out: KuaishouFrame) -> Event:
        return Chat(platform=self.platform, msg_id=self._feed_id(feed, raw, "c"),
                    viewer=self._viewer(feed.sub(2)), text=feed.text(3))

    def _like(self, feed: Message, raw: bytes, out: KuaishouFrame) -> Event:
        return Like(platform=self.platform, msg_id=self._feed_id(feed, raw, "l"),
                    viewer=self._viewer(feed.sub(2)), count=1)

    def _gift(self, feed: Message, raw: bytes, out: KuaishouFrame) -> Event | None:
        viewer = self._viewer(feed.sub(2))
        gift_id = feed.uint(4)
        total = max(1, feed.uint(8)) * max(1, feed.uint(7))
        merge_key = feed.text(6)
        if merge_key:
            count = self.combos.advance((viewer.id, gift_id, merge_key), total)
            if count <= 0:
                return None
            msg_id = f"{merge_key}:{total}"
        else:  # no key to follow a combo by: each feed is one click of batchSize gifts
            count, msg_id = max(1, feed.uint(7)), self._feed_id(feed, raw, "g")
        price = self.prices.get(str(gift_id))
        if price is None:
            out.unpriced.append(gift_id)
            price = 0.0
        value = self.money.to_base(price * count, "KUAISHOU_COIN")
        return Gift(platform=self.platform, msg_id=msg_id, viewer=viewer,
                    gift=self.names.get(str(gift_id)) or f"gift {gift_id}", count=count,
                    value=value, currency=self.money.base)


class KuaishouListener(ConnectionListener):
    """Reads a Kuaishou live stream through the web live room's socket."""

    name = "kuaishou"
    kind = "kuaishou"
    doc = ("Kuaishou live stream through the web live room WebSocket (URL and enter-room token "
           "from live.kuaishou.com's websocketinfo API)")
    settings = {
        "url": Field(Str(non_empty=True), "socket URL, wss://livejs-ws-group*.gifshow.com/"
                                          "websocket", required=True),
        "live_stream_id": Field(Str(non_empty=True), "the live stream id (liveStreamId)",
                                required=True),
        "token_env": Field(Str(non_empty=True), "environment variable holding the enter-room "
                                                "token", default="KUAISHOU_TOKEN"),
        "page_id": Field(Str(), "pageId sent when entering (default: a fresh random one)",
                         default=""),
        "heartbeat_s": Field(Duration(minimum=1), "seconds between heartbeats", default=20.0),
        "gift_prices": Field(MapOf(Number(minimum=0)), "price of each gift id in 快币 (frames "
                                                       "carry none); unknown gifts are worth 0",
                             default={}),
        "gift_names": Field(MapOf(Str()), "name of each gift id, for the thanks line",
                            default={}),
    }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock,
                      money: Money) -> KuaishouListener:
        return cls(url=settings["url"], live_stream_id=settings["live_stream_id"],
                   token_env=settings["token_env"], page_id=settings.get("page_id") or "",
                   heartbeat_s=float(settings["heartbeat_s"]),
                   gift_prices=settings.get("gift_prices") or {},
                   gift_names=settings.get("gift_names") or {}, money=money)

    def __init__(self, *, url: str, live_stream_id: str, token_env: str = "KUAISHOU_TOKEN",
                 page_id: str = "", heartbeat_s: float = 20.0,
                 gift_prices: Mapping[str, float] | None = None,
                 gift_names: Mapping[str, str] | None = None, money: Money | None = None,
                 backoff: Backoff | None = None) -> None:
        super().__init__(backoff=backoff)
        self.url, self.live_stream_id, self.token_env = url, live_stream_id, token_env
        self.page_id = page_id or new_page_id()
        self.heartbeat_s = heartbeat_s
        self.decoder = KuaishouDecoder(money=money, gift_prices=gift_prices,
                                       gift_names=gift_names)
        self.heartbeats_sent = 0
        self._unpriced_said: set[int] = set()

    async def session(self, emit: Emit) -> None:
        token = os.environ.get(self.token_env, "").strip()
        if not token:
            raise ListenerConfigError(
                f"no Kuaishou enter-room token: put the token from live.kuaishou.com's "
                f"websocketinfo API for live stream {self.live_stream_id} in ${self.token_env}")
        timeout = aiohttp.ClientTimeout(total=None, connect=20)  # reads have silence_s
        async with aiohttp.ClientSession(timeout=timeout) as http:
            try:
                ws = await http.ws_connect(self.url, max_msg_size=MAX_FRAME,
                                           headers={"Origin": "https://live.kuaishou.com"})
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403, 404):
                    raise ListenerConfigError(f"Kuaishou refused the socket URL (HTTP "
                                              f"{exc.status}): fetch a fresh one") from None
                raise
            async with ws:
                await ws.send_bytes(enter_room_frame(
                    token=token, live_stream_id=self.live_stream_id, page_id=self.page_id,
                    reconnects=self.reconnects))
                beats: list[asyncio.Task[None]] = []
                try:
                    await self._read(ws, emit, beats)
                finally:
                    for task in beats:
                        task.cancel()

    async def _read(self, ws: aiohttp.ClientWebSocketResponse, emit: Emit,
                    beats: list[asyncio.Task[None]]) -> None:
        entered = False
        while True:
            try:
                msg = await ws.receive(timeout=self.silence_s)
            except TimeoutError:
                raise ConnectionError(f"no frame for {self.silence_s:.0f} s") from None
            if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                            aiohttp.WSMsgType.CLOSED):
                return
            if msg.type == aiohttp.WSMsgType.ERROR:
                raise ConnectionError(f"websocket error: {ws.exception()}")
            if msg.type != aiohttp.WSMsgType.BINARY:
                self.bad_frame("text frame on a binary protocol")
                continue
            try:
                frame = self.decoder.decode(msg.data)
            except Exception as exc:  # a decoder bug must not end the show's connection
                self.bad_frame(f"decoder failed: {type(exc).__name__}: {exc}")
                continue
            for problem in frame.problems:
                self.bad_frame(problem)
            if frame.error is not None:
                if not entered:
                    raise ListenerConfigError(
                        f"Kuaishou would not enter live stream {self.live_stream_id} "
                        f"({frame.error}): the token in ${self.token_env} expires with its "
                        f"session; fetch a fresh one")
                raise ConnectionError(f"Kuaishou error {frame.error}")
            if frame.payload_type == SC_ENTER_ROOM_ACK and not entered:
                entered = True
                self.state = "connected"
                # Heartbeats start once in the room, at the interval the ack asks for.
                interval = max(0.05, frame.heartbeat_ms / 1000) if frame.heartbeat_ms \
                    else self.heartbeat_s
                beats.append(asyncio.create_task(self._heartbeats(ws, interval)))
                self.log.info("entered Kuaishou live stream %s", self.live_stream_id)
            for gift_id in frame.unpriced:
                if gift_id not in self._unpriced_said:
                    self._unpriced_said.add(gift_id)
                    self.log.warning("Kuaishou gift %d has no price: counted as 0; add it under "
                                     "gift_prices (in 快币)", gift_id)
            for event in frame.events:
                self.deliver(emit, event)

    async def _heartbeats(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        while not ws.closed:
            try:
                await ws.send_bytes(heartbeat_frame(int(time.time() * 1000)))
            except (ConnectionError, RuntimeError):
                return
            self.heartbeats_sent += 1
            await asyncio.sleep(interval)
