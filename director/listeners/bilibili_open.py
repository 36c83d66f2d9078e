"""The Bilibili live open platform (开放平台): the sanctioned way for a tool to read a room.

A session is three signed HTTP calls around one WebSocket: `POST /v2/app/start` with the
streamer's identity code (身份码) returns a game id, WebSocket links and an auth body; the game is
kept alive with `POST /v2/app/heartbeat` every 20 s and closed with `POST /v2/app/end`. The
WebSocket speaks the danmaku packets (see `bilibili.py`) with `LIVE_OPEN_PLATFORM_*` commands.

Every call is signed: the `x-bili-*` headers, sorted, as "key:value" lines joined by newlines,
HMAC-SHA256 with the access key secret, hex, in `Authorization`. The identity code and the key
pair live in environment variables the settings name, never in the show file or the logs.

A refused start (bad code, bad signature, app not approved) is a `ListenerConfigError`: said
once, retried slowly. A few codes mean "not now" (the previous game has not timed out yet, a
cool-down) and are retried with the normal backoff instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from typing import Any

import aiohttp

from director.clock import Clock
from director.events import Chat, Enter, Event, Gift, Like, Membership, Money, SuperChat, Viewer
from director.listeners.base import Backoff, Emit, Listener, ListenerConfigError
from director.listeners.bilibili import (
    _ENV_NAME,
    PLATFORM,
    USER_AGENT,
    CommandDecoder,
    Context,
    Decoded,
    PacketListener,
    ShapeError,
    _data,
    _gold,
    _int,
    _num,
    _obj,
    _text,
    _viewer,
    check_money,
    decode_commands,
    member_level,
    secret_from_env,
    unpack,
)
from director.spec import Duration, Field, Int, Str

DEFAULT_API = "https://live-open.biliapi.com"
END_CMD = "LIVE_OPEN_PLATFORM_INTERACTION_END"
# start/heartbeat codes that mean "try again soon", not "your settings are wrong": 4004 repeated
# request, 5000 server error, 7001 request cool-down, 7002 the room's last game is still open,
# 7003 heartbeat expired (the game is gone: start a new one)
RETRY_CODES = frozenset({4004, 5000, 7001, 7002, 7003})


# -- signing ----------------------------------------------------------------------------------
def signature(headers: dict[str, str], secret: str) -> str:
    """Hex HMAC-SHA256 over the x-bili-* headers, sorted, as "key:value" lines."""
    signed = sorted((k.lower(), v) for k, v in headers.items() if k.lower().startswith("x-bili-"))
    text = "\n".join(f"{k}:{v}" for k, v in signed)
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_headers(body: bytes, *, key_id: str, secret: str, nonce: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    """Headers for one open-platform call with this JSON body."""
    headers = {
        "x-bili-accesskeyid": key_id,
        "x-bili-content-md5": hashlib.md5(body).hexdigest(),
        "x-bili-signature-method": "HMAC-SHA256",
        "x-bili-signature-nonce": nonce or str(random.randrange(10**9)),
        "x-bili-signature-version": "1.0",
        "x-bili-timestamp": str(int(time.time()) if timestamp is None else timestamp),
    }
    headers["Authorization"] = signature(headers, secret)
    headers["Content-Type"] = "application/json"
    headers["Accept"] = "application/json"
    return headers


# -- commands → events ------------------------------------------------------------------------
def _who(d: dict[str, Any], ctx: Context, where: str, guard: int = 0) -> Viewer:
    # open_id is the open platform's viewer id; uid is deprecated (often 0)
    vid = d.get("open_id") or d.get("uid")
    if not isinstance(vid, (str, int)) or isinstance(vid, bool) or vid in ("", 0):
        raise ShapeError(f"{where} has neither 'open_id' nor 'uid'")
    return _viewer(ctx, vid, _text(d, "uname", where, ""), guard)


def _msg_id(d: dict[str, Any], where: str, *fallback: str) -> str:
    for key in ("msg_id", *fallback):
        value = d.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool) and value != "":
            return str(value)
    raise ShapeError(f"{where} has no 'msg_id'")


def _dm(obj: dict[str, Any], ctx: Context) -> list[Event]:
    w = "LIVE_OPEN_PLATFORM_DM.data"
    d = _data(obj, w)
    return [Chat(platform=ctx.platform, msg_id=_msg_id(d, w),
                 viewer=_who(d, ctx, w, _int(d, "guard_level", w, 0)),
                 text=_text(d, "msg", w))]


def _gift(obj: dict[str, Any], ctx: Context) -> list[Event]:
    w = "LIVE_OPEN_PLATFORM_SEND_GIFT.data"
    d = _data(obj, w)
    num = _int(d, "gift_num", w)
    if num < 1:
        raise ShapeError(f"{w}.gift_num is {num}")
    # price / r_price are per gift in 1/1000 CNY (the gold unit); r_price is what was paid
    # (discounts, blind boxes). Free gifts may carry a price too: `paid` decides.
    paid = d.get("paid")
    unit = _num(d, "r_price" if "r_price" in d else "price", w)
    value = _gold(ctx, unit * num) if paid is True else 0.0
    return [Gift(platform=ctx.platform, msg_id=_msg_id(d, w),
                 viewer=_who(d, ctx, w, _int(d, "guard_level", w, 0)),
                 value=value, currency=ctx.money.base, gift=_text(d, "gift_name", w),
                 count=num)]


def _guard(obj: dict[str, Any], ctx: Context) -> list[Event]:
    w = "LIVE_OPEN_PLATFORM_GUARD.data"
    d = _data(obj, w)
    level = _int(d, "guard_level", w)
    if not 1 <= level <= 3:
        raise ShapeError(f"{w}.guard_level {level} is not 1..3")
    unit = _text(d, "guard_unit", w, "")
    months = max(1, _int(d, "guard_num", w, 1)) if unit in ("", "月") else 1
    return [Membership(platform=ctx.platform, msg_id=_msg_id(d, w),
                       viewer=_who(_obj(d, "user_info", w), ctx, f"{w}.user_info", level),
                       value=_gold(ctx, _num(d, "price", w) * months),
                       currency=ctx.money.base, level=member_level(level), months=months)]


def _super_chat(obj: dict[str, Any], ctx: Context) -> list[Event]:
    w = "LIVE_OPEN_PLATFORM_SUPER_CHAT.data"
    d = _data(obj, w)
    return [SuperChat(platform=ctx.platform, msg_id=_msg_id(d, w, "message_id"),
                      viewer=_who(d, ctx, w, _int(d, "guard_level", w, 0)),
                      value=ctx.money.to_base(_num(d, "rmb", w), "CNY"),
                      currency=ctx.money.base, text=_text(d, "message", w, ""))]


def _like(obj: dict[str, Any], ctx: Context) -> list[Event]:
    w = "LIVE_OPEN_PLATFORM_LIKE.data"
    d = _data(obj, w)
    viewer = _who(d, ctx, w)
    msg_id = d.get("msg_id") or f"like:{viewer.id}:{d.get('timestamp') or ctx.now_s}"
    return [Like(platform=ctx.platform, msg_id=str(msg_id), viewer=viewer,
                 count=max(1, _int(d, "like_count", w, 1)))]


def _enter(obj: dict[str, Any], ctx: Context) -> list[Event]:
    w = "LIVE_OPEN_PLATFORM_LIVE_ROOM_ENTER.data"
    d = _data(obj, w)
    viewer = _who(d, ctx, w)
    msg_id = d.get("msg_id") or f"enter:{viewer.id}:{d.get('timestamp') or ctx.now_s}"
    return [Enter(platform=ctx.platform, msg_id=str(msg_id), viewer=viewer)]


OPEN_COMMANDS: dict[str, CommandDecoder] = {
    "LIVE_OPEN_PLATFORM_DM": _dm,
    "LIVE_OPEN_PLATFORM_SEND_GIFT": _gift,
    "LIVE_OPEN_PLATFORM_GUARD": _guard,
    "LIVE_OPEN_PLATFORM_SUPER_CHAT": _super_chat,
    "LIVE_OPEN_PLATFORM_LIKE": _like,
    "LIVE_OPEN_PLATFORM_LIVE_ROOM_ENTER": _enter,
}


def decode_open(data: bytes, *, money: Money, platform: str = PLATFORM,
                now_s: int = 0) -> Decoded:
    """The events in one open-platform WebSocket message (pure; never raises)."""
    out = unpack(data)
    if any(cmd == END_CMD for cmd, _ in out.commands):
        out.ended = True
        out.commands = [(cmd, obj) for cmd, obj in out.commands if cmd != END_CMD]
    return decode_commands(out, OPEN_COMMANDS, Context(money, platform, now_s))


# -- the listener -----------------------------------------------------------------------------
class OpenApiError(Exception):
    """The open platform answered a call with a non-zero code."""

    def __init__(self, path: str, code: int, message: str) -> None:
        super().__init__(f"{path} refused (code {code}: {message})")
        self.code = code


class BilibiliOpenListener(PacketListener):
    """A room through the Bilibili live open platform (signed start/heartbeat/end calls)."""

    name = "bilibili_open"
    kind = "bilibili_open"
    doc = "a Bilibili live room through the open platform (开放平台), with an app's key pair " \
          "and the streamer's identity code"
    settings = {
        "app_id": Field(Int(minimum=1), "the open-platform project id", required=True),
        "code_env": Field(Str(non_empty=True, pattern=_ENV_NAME), "environment variable "
                          "holding the streamer's identity code (身份码)",
                          default="BILIBILI_IDENTITY_CODE"),
        "key_id_env": Field(Str(non_empty=True, pattern=_ENV_NAME), "environment variable "
                            "holding the access_key_id", default="BILIBILI_ACCESS_KEY_ID"),
        "key_secret_env": Field(Str(non_empty=True, pattern=_ENV_NAME), "environment variable "
                                "holding the access_key_secret",
                                default="BILIBILI_ACCESS_KEY_SECRET"),
        "api_url": Field(Str(non_empty=True), "open-platform API base URL", default=DEFAULT_API),
        "url": Field(Str(), "WebSocket URL to use instead of the links the start call returns "
                     "(testing)", default=""),
        "heartbeat_s": Field(Duration(minimum=1), "seconds between WebSocket heartbeats",
                             default=30.0),
        "game_heartbeat_s": Field(Duration(minimum=1), "seconds between game heartbeat calls",
                                  default=20.0),
    }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock, money: Money) -> Listener:
        return cls(app_id=int(settings["app_id"]), money=money, code_env=settings["code_env"],
                   key_id_env=settings["key_id_env"], key_secret_env=settings["key_secret_env"],
                   api_url=settings["api_url"], url=settings["url"],
                   heartbeat_s=float(settings["heartbeat_s"]),
                   game_heartbeat_s=float(settings["game_heartbeat_s"]))

    def __init__(self, *, app_id: int, money: Money, code_env: str = "BILIBILI_IDENTITY_CODE",
                 key_id_env: str = "BILIBILI_ACCESS_KEY_ID",
                 key_secret_env: str = "BILIBILI_ACCESS_KEY_SECRET", api_url: str = DEFAULT_API,
                 url: str = "", heartbeat_s: float = 30.0, game_heartbeat_s: float = 20.0,
                 silence_s: float | None = None, backoff: Backoff | None = None) -> None:
        super().__init__(money=money, heartbeat_s=heartbeat_s, silence_s=silence_s,
                         backoff=backoff)
        self.app_id, self.api_url, self.url = app_id, api_url.rstrip("/"), url
        self.code_env, self.key_id_env, self.key_secret_env = code_env, key_id_env, key_secret_env
        self.game_heartbeat_s = game_heartbeat_s
        self.game_id = ""
        self.game_heartbeats = 0  # accepted game heartbeat calls
        self._link = 0  # which wss link to try next
        self._key: tuple[str, str] = ("", "")

    def decode(self, data: bytes) -> Decoded:
        return decode_open(data, money=self.money, now_s=int(time.time()))

    def refused(self, code: int) -> str:
        return f"the open platform's WebSocket refused the auth body (code {code})"

    async def call(self, http: aiohttp.ClientSession, path: str,
                   body: dict[str, Any]) -> dict[str, Any]:
        """One signed call; the reply's `data` (OpenApiError for a non-zero code)."""
        raw = json.dumps(body).encode("utf-8")
        headers = signed_headers(raw, key_id=self._key[0], secret=self._key[1])
        headers["User-Agent"] = USER_AGENT
        async with http.post(self.api_url + path, data=raw, headers=headers,
                             timeout=aiohttp.ClientTimeout(total=10)) as res:
            if res.status != 200:
                raise ConnectionError(f"{path}: HTTP {res.status}")
            try:
                reply = await res.json(content_type=None)
            except ValueError:
                raise ConnectionError(f"{path}: the reply is not JSON") from None
        code = reply.get("code") if isinstance(reply, dict) else None
        if not isinstance(code, int):
            raise ConnectionError(f"{path}: the reply has no code")
        if code != 0:
            raise OpenApiError(path, code, str(reply.get("message", ""))[:200])
        data = reply.get("data")
        return data if isinstance(data, dict) else {}

    async def _start(self, http: aiohttp.ClientSession, code: str) -> tuple[str, list[str], str]:
        try:
            data = await self.call(http, "/v2/app/start", {"code": code, "app_id": self.app_id})
        except OpenApiError as exc:
            if exc.code in RETRY_CODES:
                raise ConnectionError(str(exc)) from None
            raise ListenerConfigError(
                f"{exc}: check app_id {self.app_id}, the identity code in ${self.code_env} and "
                f"the key pair in ${self.key_id_env} / ${self.key_secret_env}") from None
        game = data.get("game_info")
        ws = data.get("websocket_info")
        if not isinstance(ws, dict) or not isinstance(ws.get("auth_body"), str):
            raise ConnectionError("/v2/app/start: no websocket_info.auth_body in the reply")
        links = [link for link in ws.get("wss_link") or [] if isinstance(link, str)]
        if not links and not self.url:
            raise ConnectionError("/v2/app/start: no websocket_info.wss_link in the reply")
        game_id = game.get("game_id") if isinstance(game, dict) else ""
        return str(game_id or ""), links, ws["auth_body"]

    async def _game_heartbeats(self, http: aiohttp.ClientSession,
                               ws: aiohttp.ClientWebSocketResponse[bool],
                               ended: list[str]) -> None:
        while True:
            await asyncio.sleep(self.game_heartbeat_s)
            try:
                await self.call(http, "/v2/app/heartbeat", {"game_id": self.game_id})
            except OpenApiError as exc:  # the game is gone: start a new one
                ended.append(f"game heartbeat {exc}")
                await ws.close()
                return
            except (ConnectionError, aiohttp.ClientError, TimeoutError) as exc:
                self._say(logging.WARNING, f"game heartbeat failed: {exc}", every=60.0)
                continue
            self.game_heartbeats += 1

    async def _end(self, http: aiohttp.ClientSession) -> None:
        try:
            await asyncio.wait_for(
                self.call(http, "/v2/app/end", {"app_id": self.app_id, "game_id": self.game_id}),
                timeout=5)
        except (OpenApiError, ConnectionError, aiohttp.ClientError, TimeoutError) as exc:
            self.log.warning("%s: ending game %s failed: %s", self.name, self.game_id, exc)
        else:
            self.log.info("%s: ended game %s", self.name, self.game_id)
        self.game_id = ""

    async def session(self, emit: Emit) -> None:
        code = secret_from_env(self.code_env, "code_env", "the streamer's identity code")
        self._key = (
            secret_from_env(self.key_id_env, "key_id_env", "the open-platform access_key_id"),
            secret_from_env(self.key_secret_env, "key_secret_env",
                            "the open-platform access_key_secret"))
        check_money(self.money)
        timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            self.game_id, links, auth = await self._start(http, code)
            ended: list[str] = []
            beats: asyncio.Task[None] | None = None
            try:
                url = self.url or links[self._link % len(links)]
                async with http.ws_connect(url, headers={"User-Agent": USER_AGENT}) as ws:
                    if self.game_id:
                        beats = asyncio.create_task(self._game_heartbeats(http, ws, ended))
                    await self.converse(ws, auth.encode("utf-8"), emit)
            except (ConnectionError, aiohttp.ClientError, TimeoutError):
                self._link += 1  # fail over to the next link
                raise
            finally:
                if beats is not None:
                    beats.cancel()
                    await asyncio.wait([beats])
                if self.game_id:
                    await self._end(http)
            if ended:
                raise ConnectionError(ended[0])
