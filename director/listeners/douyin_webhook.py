"""Douyin open-platform live data push: Douyin POSTs a room's comments, gifts, likes and fans-club
events to an HTTP endpoint that this listener serves.

This is the official route (抖音开放平台 直播小玩法 "数据开放": the anchor mounts the app in the
room, the app starts a push task per message type). Unlike the web push (douyin.py) it needs no
browser session, but a registered app; the platform calls a public HTTPS URL, so in practice a
tunnel or reverse proxy forwards to `host:port` + `path` here.

Each POST carries headers x-nonce-str, x-timestamp (ms), x-roomid, x-msg-type and x-signature,
and a JSON array of messages. The signature, as the platform documents it (验签: headers other than
x-signature and content-type, sorted by key):

    base64(md5("x-msg-type=…&x-nonce-str=…&x-roomid=…&x-timestamp=…" + body + secret))

with the raw body bytes and the app's push secret, all UTF-8; `sign` reproduces the platform's own
worked example. A request whose signature does not match is answered 403, counted in `rejected`,
and nothing from it is emitted. No timestamp window is enforced: the platform retries (at-least-
once delivery) and a replayed request can only repeat msg_ids, which the ledger drops.

Messages, by x-msg-type (every one has msg_id, sec_openid, nickname, avatar_url, timestamp):

    live_comment   content                              → Chat
    live_gift      sec_gift_id, gift_num, gift_value    → Gift (gift_value: total in 分, 0.01 CNY)
    live_like      like_num                             → Like
    live_fansclub  fansclub_reason_type (1 level up, 2 joined), fansclub_level → Membership

gift_value in 分 is an assumption checked against published self-test figures (仙女棒, 1 抖币, shows
gift_value 10; 超级空投, 888 抖币, shows 8880), i.e. 1 抖币 = 10 分 = 0.1 CNY, and it is the total
for gift_num gifts. `sec_gift_id` is an opaque id: `gift_names` maps it to the name said in
thanks. Replies are 200 at once: the platform counts a reply slower than 2 s (3 s for gifts) as a
failure and stops pushing for a while after ten in a row.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from director.clock import Clock
from director.events import Chat, Event, Gift, Like, Membership, Money, Viewer
from director.listeners.base import Backoff, ConnectionListener, Emit, ListenerConfigError
from director.spec import Field, Int, MapOf, Str

PLATFORM = "douyin"
SIGNED_HEADERS = ("x-msg-type", "x-nonce-str", "x-roomid", "x-timestamp")  # sorted
MAX_BODY = 4 << 20


def sign(headers: Mapping[str, str], body: bytes, secret: str) -> str:
    """The x-signature Douyin computes for these headers, body and secret."""
    signed = "&".join(f"{key}={headers.get(key, '')}" for key in SIGNED_HEADERS)
    digest = hashlib.md5(signed.encode() + body + secret.encode()).digest()
    return base64.b64encode(digest).decode("ascii")


@dataclass
class DecodedPush:
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _count(item: Mapping[str, Any], key: str) -> int:
    value = item.get(key, 1)
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"'{key}' must be a whole number of at least 1, got {value!r}")
    return value


def decode_push(msg_type: str, body: bytes, *, money: Money | None = None,
                gift_names: Mapping[str, str] | None = None,
                platform: str = PLATFORM) -> DecodedPush:
    """One push body → events. Pure and total: problems are reported, never raised."""
    money = money or Money()
    names = gift_names or {}
    out = DecodedPush()
    try:
        items = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        out.problems.append(f"{msg_type}: body is not JSON ({exc})")
        return out
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        out.problems.append(f"{msg_type}: body must be a JSON array of messages")
        return out
    for index, item in enumerate(items):
        try:
            event = _message(msg_type, item, money, names, platform)
        except (ValueError, TypeError) as exc:
            out.problems.append(f"{msg_type}[{index}]: {exc}")
            continue
        if event is not None:
            out.events.append(event)
    return out


def _message(msg_type: str, item: Any, money: Money, names: Mapping[str, str],
             platform: str) -> Event | None:
    if not isinstance(item, dict):
        raise ValueError("a message must be a JSON object")
    msg_id = item.get("msg_id")
    if isinstance(msg_id, int) and not isinstance(msg_id, bool):
        msg_id = str(msg_id)
    if not isinstance(msg_id, str) or not msg_id:
        raise ValueError("no msg_id (needed to drop the platform's repeats)")
    openid = item.get("sec_openid")
    vid = openid if isinstance(openid, str) and openid else "anonymous"
    nickname = item.get("nickname")
    viewer = Viewer(platform=platform, id=vid,
                    name=nickname if isinstance(nickname, str) and nickname else vid)
    common: dict[str, Any] = {"platform": platform, "msg_id": msg_id, "viewer": viewer}
    if msg_type == "live_comment":
        content = item.get("content")
        if not isinstance(content, str):
            raise ValueError("'content' must be text")
        return Chat(**common, text=content)
    if msg_type == "live_gift":
        gift_id = item.get("sec_gift_id")
        if not isinstance(gift_id, str) or not gift_id:
            raise ValueError("no sec_gift_id")
        fen = item.get("gift_value", 0)
        if not isinstance(fen, (int, float)) or isinstance(fen, bool) or not math.isfinite(fen) \
                or fen < 0:
            raise ValueError(f"'gift_value' must be a number of 分, got {fen!r}")
        return Gift(**common, gift=names.get(gift_id) or gift_id, count=_count(item, "gift_num"),
                    value=money.to_base(fen / 100, "CNY"), currency=money.base)
    if msg_type == "live_like":
        return Like(**common, count=_count(item, "like_num"))
    if msg_type == "live_fansclub":
        if item.get("fansclub_reason_type") not in (1, 2):
            return None  # leaving the club (16) and anything new: nothing to thank
        level = item.get("fansclub_level")
        level = level if isinstance(level, int) and not isinstance(level, bool) else 1
        return Membership(**common, level=max(1, level), value=0.0, currency=money.base)
    raise ValueError(f"unknown x-msg-type {msg_type[:40]!r}")


class DouyinWebhookListener(ConnectionListener):
    """Serves the endpoint Douyin's live data push calls (see the module docstring).

    `session` binds and serves until cancelled; a port that cannot be bound is retried like a
    dropped connection. `port` 0 binds a free port, readable as `bound_port` once `ready` is set.
    """

    name = "douyin_webhook"
    kind = "douyin_webhook"
    doc = ("Douyin open-platform live data push (webhook): serves the HTTP endpoint the "
           "platform POSTs comments, gifts, likes and fans-club events to")
    settings = {
        "host": Field(Str(non_empty=True), "address to listen on (a tunnel or reverse proxy "
                                           "forwards the platform's calls here)",
                      default="127.0.0.1"),
        "port": Field(Int(minimum=0, maximum=65535), "port to listen on", default=8790),
        "path": Field(Str(pattern=r"/\S*"), "URL path configured as the push address",
                      default="/douyin/webhook"),
        "secret_env": Field(Str(non_empty=True), "environment variable holding the app's push "
                                                 "secret", default="DOUYIN_WEBHOOK_SECRET"),
        "gift_names": Field(MapOf(Str()), "name of each sec_gift_id, for the thanks line",
                            default={}),
    }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock,
                      money: Money) -> DouyinWebhookListener:
        return cls(host=settings["host"], port=int(settings["port"]), path=settings["path"],
                   secret_env=settings["secret_env"],
                   gift_names=settings.get("gift_names") or {}, money=money)

    def __init__(self, *, host: str = "127.0.0.1", port: int = 8790,
                 path: str = "/douyin/webhook", secret_env: str = "DOUYIN_WEBHOOK_SECRET",
                 gift_names: Mapping[str, str] | None = None, money: Money | None = None,
                 backoff: Backoff | None = None) -> None:
        super().__init__(backoff=backoff)
        self.host, self.port, self.path, self.secret_env = host, port, path, secret_env
        self.gift_names = dict(gift_names or {})
        self.money = money or Money()
        self.rejected = 0  # requests with a missing or wrong signature
        self.requests = 0
        self.bound_port = 0
        self.ready = asyncio.Event()
        self._emit: Emit | None = None
        self._secret = ""

    async def session(self, emit: Emit) -> None:
        self._secret = os.environ.get(self.secret_env, "")
        if not self._secret:
            raise ListenerConfigError(
                f"no Douyin push secret: put the app's push secret (开发配置) in "
                f"${self.secret_env}; unsigned pushes are never accepted")
        self._emit = emit
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self.path, self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
            address = runner.addresses[0]
            self.bound_port = int(address[1]) if isinstance(address, tuple) else self.port
            self.state = "connected"
            self.ready.set()
            self.log.info("serving Douyin live data push on http://%s:%d%s", self.host,
                          self.bound_port, self.path)
            await asyncio.Event().wait()  # until cancelled
        finally:
            self.ready.clear()
            await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.read()
        headers = {key: request.headers.get(key, "") for key in SIGNED_HEADERS}
        given = request.headers.get("x-signature", "")
        if not given or not all(headers.values()) or \
                not hmac.compare_digest(given, sign(headers, body, self._secret)):
            self.rejected += 1
            self._say(logging.WARNING, f"rejected: push with a bad signature from "
                      f"{request.remote} (is ${self.secret_env} the app's push secret?)",
                      every=30.0)
            return web.json_response({"err_no": 403, "err_msg": "bad signature"}, status=403)
        decoded = decode_push(headers["x-msg-type"], body, money=self.money,
                              gift_names=self.gift_names)
        for problem in decoded.problems:
            self.bad_frame(problem)
        if self._emit is not None:
            for event in decoded.events:
                self.deliver(self._emit, event)
        if decoded.problems and not decoded.events:
            return web.json_response({"err_no": 400, "err_msg": "unreadable body"}, status=400)
        return web.json_response({"err_no": 0, "err_msg": "success"})
