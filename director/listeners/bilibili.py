"""Bilibili live danmaku: the packet protocol, its command decoders, and the web listener.

Bilibili pushes a live room over one WebSocket. Every message holds one or more packets with a
16-byte big-endian header `>I2H2I` (packet length, header length 16, protocol version, operation,
sequence). Version 0 is a JSON body, 1 a heartbeat/int body, 2 and 3 a zlib / brotli body that
is itself more packets. Operations: 2 heartbeat (client, every 30 s), 3 heartbeat reply (u32
popularity), 5 a message (JSON with `cmd`), 7 auth (client), 8 auth reply (`{"code": 0}`).
The open platform (`bilibili_open.py`) speaks the same packets with other commands.

Decoding is split from I/O so it can be fuzzed and benchmarked: `unpack(bytes)` gives the
(cmd, object) pairs and control replies of one WebSocket message, `decode_web(bytes)` the
normalised events. Neither raises on bad input: what cannot be decoded is listed in `problems`,
and the listener counts each with `bad_frame`.

Message ids (the ledger's dedupe key) come from the frame where Bilibili sends one (danmaku
`id_str`, gift `tid`, super chat `id`), else from fields that identify the action (a guard
purchase is (uid, level, start time), so GUARD_BUY and USER_TOAST_MSG_V2 for one purchase share
an id and the ledger keeps one). Rejected: the packet sequence number, which is 0 or 1 in
practice, and hashing the whole frame, which changes when Bilibili adds a field between resends.

Viewer levels: Bilibili's guard levels count down (1 总督, 2 提督, 3 舰长); the show counts up
(0 none, 1 舰长, 2 提督, 3 总督), so `gifts.priority: level` ranks 总督 first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import math
import os
import re
import struct
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import brotli  # type: ignore[import-untyped]

from director.clock import Clock
from director.events import (
    Chat,
    Enter,
    Event,
    Follow,
    Gift,
    Like,
    Membership,
    Money,
    SuperChat,
    Viewer,
)
from director.listeners.base import Backoff, ConnectionListener, Emit, Listener, ListenerConfigError
from director.listeners.protowire import Message, ProtoError
from director.spec import Duration, Field, Int, Str

PLATFORM = "bilibili"
DEFAULT_URL = "wss://broadcastlv.chat.bilibili.com/sub"
USER_AGENT = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0 Safari/537.36")

HEADER = struct.Struct(">I2H2I")
OP_HEARTBEAT, OP_HEARTBEAT_REPLY, OP_MESSAGE, OP_AUTH, OP_AUTH_REPLY = 2, 3, 5, 7, 8
VER_JSON, VER_INT, VER_ZLIB, VER_BROTLI = 0, 1, 2, 3
MAX_DEPTH = 3  # compressed packets inside compressed packets; Bilibili nests once
MAX_INFLATED = 16 << 20  # a compressed body may not inflate past this (a bomb, not a room)

_ENV_NAME = r"([A-Za-z_][A-Za-z0-9_]*)?"


# -- packets ----------------------------------------------------------------------------------
def pack(op: int, body: bytes | str = b"", *, ver: int = VER_INT, seq: int = 1) -> bytes:
    """One packet: header and body."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return HEADER.pack(HEADER.size + len(data), HEADER.size, ver, op, seq) + data


def pack_command(obj: dict[str, Any]) -> bytes:
    """One op-5 JSON packet, as the server sends a command."""
    return pack(OP_MESSAGE, json.dumps(obj, ensure_ascii=False), ver=VER_JSON, seq=0)


def compress_packets(packets: Iterable[bytes], ver: int = VER_BROTLI) -> bytes:
    """One op-5 packet whose body is the given packets, zlib (2) or brotli (3) compressed."""
    raw = b"".join(packets)
    body = zlib.compress(raw) if ver == VER_ZLIB else brotli.compress(raw)
    return pack(OP_MESSAGE, body, ver=ver, seq=0)


@dataclass(slots=True)
class Decoded:
    """What one WebSocket message held, and what in it could not be read."""

    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (cmd, object)
    events: list[Event] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per malformed packet/command
    unknown: list[str] = field(default_factory=list)  # cmds that are not show events
    auth_code: int | None = None  # op 8: 0 = accepted
    popularity: int | None = None  # op 3
    ended: bool = False  # the platform ended the session (open platform)


def _inflate(ver: int, body: bytes) -> bytes:
    if ver == VER_ZLIB:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(body, MAX_INFLATED)
        if inflater.unconsumed_tail or not inflater.eof:
            raise ValueError("zlib body is truncated or inflates past 16 MiB")
        return raw
    decompressor = brotli.Decompressor()
    try:
        raw = decompressor.process(body, output_buffer_limit=MAX_INFLATED)
    except TypeError:  # brotli < 1.2 has no output limit
        return bytes(brotli.decompress(body))
    # the limit is checked between output chunks, so the output may overshoot it a little
    if not decompressor.is_finished() or len(raw) > MAX_INFLATED:
        raise ValueError("brotli body is truncated or inflates past 16 MiB")
    return bytes(raw)


def _command(body: bytes, out: Decoded) -> None:
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        out.problems.append(f"message body is not JSON ({len(body)} bytes)")
        return
    if not isinstance(obj, dict):
        out.problems.append(f"message body is JSON {type(obj).__name__}, not an object")
        return
    cmd = obj.get("cmd")
    if not isinstance(cmd, str) or not cmd:
        out.problems.append("message has no 'cmd'")
        return
    out.commands.append((cmd.partition(":")[0], obj))


def _unpack_into(data: bytes, out: Decoded, depth: int) -> None:
    offset, end = 0, len(data)
    if not end:
        out.problems.append("empty message")
    while offset < end:
        left = end - offset
        if left < HEADER.size:
            out.problems.append(f"truncated header: {left} bytes at offset {offset}")
            return
        pack_len, header_len, ver, op, _seq = HEADER.unpack_from(data, offset)
        if pack_len < HEADER.size or pack_len > left:
            out.problems.append(f"packet length {pack_len} does not fit the {left} bytes left")
            return
        if header_len != HEADER.size:
            out.problems.append(f"header length {header_len}, expected {HEADER.size}")
            offset += pack_len
            continue
        body = data[offset + HEADER.size:offset + pack_len]
        offset += pack_len
        if op == OP_MESSAGE:
            if ver == VER_JSON:
                if body:
                    _command(body, out)
            elif ver in (VER_ZLIB, VER_BROTLI):
                if depth >= MAX_DEPTH:
                    out.problems.append(f"compressed packets nested deeper than {MAX_DEPTH}")
                    continue
                try:
                    inner = _inflate(ver, body)
                except (ValueError, zlib.error, brotli.error, MemoryError) as exc:
                    what = "zlib" if ver == VER_ZLIB else "brotli"
                    out.problems.append(f"bad {what} body: {exc}")
                    continue
                _unpack_into(inner, out, depth + 1)
            else:
                out.problems.append(f"unknown protocol version {ver} for a message")
        elif op == OP_HEARTBEAT_REPLY:
            if len(body) < 4:
                out.problems.append(f"heartbeat reply of {len(body)} bytes")
            else:
                out.popularity = int.from_bytes(body[:4], "big")
            # What follows is the echo of the client's heartbeat, which the server does not
            # count in pack_len: not a packet, so stop here.
            return
        elif op == OP_AUTH_REPLY:
            try:
                reply = json.loads(body)
            except (ValueError, RecursionError):
                reply = None
            code = reply.get("code") if isinstance(reply, dict) else None
            if isinstance(code, int) and not isinstance(code, bool):
                out.auth_code = code
            else:
                out.problems.append("auth reply without an integer 'code'")
        # other operations (e.g. an echoed heartbeat) carry nothing a show uses


def unpack(data: bytes) -> Decoded:
    """The commands and control replies in one WebSocket message; never raises."""
    out = Decoded()
    _unpack_into(bytes(data), out, 0)
    return out


# -- commands → events ------------------------------------------------------------------------
class ShapeError(ValueError):
    """A command whose JSON is not the shape its decoder expects."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a command decoder needs besides the command: money, platform name, wall time."""

    money: Money
    platform: str = PLATFORM
    now_s: int = 0  # unix seconds; only for commands that carry neither an id nor a time


CommandDecoder = Callable[[dict[str, Any], Context], list[Event]]


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.isascii() and value.lstrip("-").isdigit() and \
            len(value) < 40:
        return int(value)
    raise ShapeError(f"{what} is not a whole number: {value!r:.40}")


def _int(d: dict[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = d.get(key)
    if value is None:
        if default is None:
            raise ShapeError(f"{where} has no '{key}'")
        return default
    return _as_int(value, f"{where}.{key}")


def _num(d: dict[str, Any], key: str, where: str) -> float:
    value = d.get(key)
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and \
            math.isfinite(value) and value >= 0:
        return float(value)
    raise ShapeError(f"{where}.{key} is not an amount: {value!r:.40}")


def _text(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = d.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None and default is not None:
        return default
    raise ShapeError(f"{where}.{key} is not text: {value!r:.40}")


def _obj(d: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = d.get(key)
    if not isinstance(value, dict):
        raise ShapeError(f"{where}.{key} is not an object")
    return value


def _data(obj: dict[str, Any], cmd: str) -> dict[str, Any]:
    return _obj(obj, "data", cmd)


def _digest(*parts: Any) -> str:
    return hashlib.blake2b(repr(parts).encode("utf-8"), digest_size=8).hexdigest()


def member_level(guard_level: int) -> int:
    """Bilibili guard level (1 总督 .. 3 舰长, 0 none) → show viewer level (3 总督 .. 1 舰长)."""
    return 4 - guard_level if 1 <= guard_level <= 3 else 0


def _viewer(ctx: Context, uid: int | str, name: str, guard_level: int = 0) -> Viewer:
    # Anonymous connections see uid 0 and masked names: keep viewers apart by name at least.
    vid = str(uid) if uid not in (0, "", "0") else f"name:{name}"
    return Viewer(platform=ctx.platform, id=vid, name=name or vid,
                  level=member_level(guard_level))


def _gold(ctx: Context, amount: float) -> float:
    return ctx.money.to_base(amount, "BILI_GOLD")


_ID_STR = re.compile(r'"id_str"\s*:\s*"([^"\\]{1,128})"')


def _danmu(obj: dict[str, Any], ctx: Context) -> list[Event]:
    info = obj.get("info")
    if not isinstance(info, list) or len(info) < 3:
        raise ShapeError("DANMU_MSG info is not a list of at least 3 items")
    text, user = info[1], info[2]
    if not isinstance(text, str):
        raise ShapeError("DANMU_MSG info[1] (the text) is not text")
    if not isinstance(user, list) or len(user) < 2 or not isinstance(user[1], str):
        raise ShapeError("DANMU_MSG info[2] is not [uid, uname, ...]")
    uid = _as_int(user[0], "DANMU_MSG info[2][0]")
    guard = info[7] if len(info) > 7 and isinstance(info[7], int) else 0
    meta = info[0] if isinstance(info[0], list) else []
    msg_id = ""
    if len(meta) > 15 and isinstance(meta[15], dict):
        extra = meta[15].get("extra")
        if isinstance(extra, str):
            found = _ID_STR.search(extra)
            msg_id = found.group(1) if found else ""
    if not msg_id:  # older frames: the send time (ms) and the client's random number
        msg_id = _digest(uid, user[1], text, meta[4:6])
    return [Chat(platform=ctx.platform, msg_id=f"dm:{msg_id}",
                 viewer=_viewer(ctx, uid, user[1], guard), text=text)]


def _send_gift(obj: dict[str, Any], ctx: Context) -> list[Event]:
    d = _data(obj, "SEND_GIFT")
    where = "SEND_GIFT.data"
    uid, name = _int(d, "uid", where), _text(d, "uname", where, "")
    gift, num = _text(d, "giftName", where), _int(d, "num", where)
    if num < 1:
        raise ShapeError(f"{where}.num is {num}")
    coin = d.get("coin_type")
    if coin == "gold":
        total = _num(d, "total_coin", where) if "total_coin" in d else \
            _num(d, "price", where) * num
        value = _gold(ctx, total)
    elif coin == "silver":  # free gifts: still a gift to thank, worth nothing
        value = 0.0
    else:
        raise ShapeError(f"{where}.coin_type is {coin!r:.20}, not gold or silver")
    tid = d.get("tid")
    msg_id = str(tid) if isinstance(tid, (str, int)) and tid not in ("", 0, "0") else \
        _digest(uid, gift, num, d.get("timestamp"), d.get("rnd"))
    return [Gift(platform=ctx.platform, msg_id=f"gift:{msg_id}",
                 viewer=_viewer(ctx, uid, name, _int(d, "guard_level", where, 0)),
                 value=value, currency=ctx.money.base, gift=gift, count=num)]


def _membership(ctx: Context, uid: int, name: str, level: int, num: int, unit: str,
                price: float, start: Any) -> Membership:
    if not 1 <= level <= 3:
        raise ShapeError(f"guard_level {level} is not 1..3")
    # `unit` is normally 月 (months); anything else (e.g. "*3天", a trial) ignores `num`.
    months = max(1, num) if unit in ("", "月") else 1
    msg_id = f"guard:{uid}:{level}:{start}" if start else \
        f"guard:{_digest(uid, level, num, price)}"
    return Membership(platform=ctx.platform, msg_id=msg_id,
                      viewer=_viewer(ctx, uid, name, level),
                      value=_gold(ctx, price * months), currency=ctx.money.base,
                      level=member_level(level), months=months)


def _guard_buy(obj: dict[str, Any], ctx: Context) -> list[Event]:
    d = _data(obj, "GUARD_BUY")
    w = "GUARD_BUY.data"
    return [_membership(ctx, _int(d, "uid", w), _text(d, "username", w, ""),
                        _int(d, "guard_level", w), _int(d, "num", w, 1), "",
                        _num(d, "price", w), d.get("start_time"))]


def _user_toast_v2(obj: dict[str, Any], ctx: Context) -> list[Event]:
    d = _data(obj, "USER_TOAST_MSG_V2")
    w = "USER_TOAST_MSG_V2.data"
    sender, guard, pay = _obj(d, "sender_uinfo", w), _obj(d, "guard_info", w), \
        _obj(d, "pay_info", w)
    base = sender.get("base")
    name = _text(base, "name", f"{w}.sender_uinfo.base", "") if isinstance(base, dict) else ""
    return [_membership(ctx, _int(sender, "uid", f"{w}.sender_uinfo"), name,
                        _int(guard, "guard_level", f"{w}.guard_info"),
                        _int(pay, "num", f"{w}.pay_info", 1),
                        _text(pay, "unit", f"{w}.pay_info", ""),
                        _num(pay, "price", f"{w}.pay_info"), guard.get("start_time"))]


def _super_chat(obj: dict[str, Any], ctx: Context) -> list[Event]:
    d = _data(obj, "SUPER_CHAT_MESSAGE")
    w = "SUPER_CHAT_MESSAGE.data"
    user = _obj(d, "user_info", w)
    return [SuperChat(platform=ctx.platform, msg_id=f"sc:{_int(d, 'id', w)}",
                      viewer=_viewer(ctx, _int(d, "uid", w), _text(user, "uname", w, ""),
                                     _int(user, "guard_level", f"{w}.user_info", 0)),
                      value=ctx.money.to_base(_num(d, "price", w), "CNY"),
                      currency=ctx.money.base, text=_text(d, "message", w, ""))]


def _interaction(ctx: Context, uid: int, name: str, msg_type: int, when: Any) -> list[Event]:
    cls: type[Enter] | type[Follow]
    if msg_type == 1:
        cls = Enter
    elif msg_type == 2:
        cls = Follow
    else:  # 3 share, 4 special follow, 5 mutual follow ...: not show events
        return []
    msg_id = f"interact:{uid}:{msg_type}:{when}" if when else \
        f"interact:{uid}:{msg_type}:{ctx.now_s}"
    return [cls(platform=ctx.platform, msg_id=msg_id, viewer=_viewer(ctx, uid, name))]


def _interact_word(obj: dict[str, Any], ctx: Context) -> list[Event]:
    d = _data(obj, "INTERACT_WORD")
    pb = d.get("pb")
    if isinstance(pb, str):  # INTERACT_WORD_V2 carries the same fields as protobuf
        return _interact_pb(pb, ctx)
    w = "INTERACT_WORD.data"
    return _interaction(ctx, _int(d, "uid", w), _text(d, "uname", w, ""),
                        _int(d, "msg_type", w), d.get("trigger_time") or d.get("timestamp"))


def _interact_pb(pb: str, ctx: Context) -> list[Event]:
    # Field numbers from public notes and a decoded live sample: 1 uid, 2 uname, 5 msg_type,
    # 6 room id, 7 timestamp (s), 15 trigger_time (ns), the same as the JSON INTERACT_WORD.
    try:
        msg = Message(base64.b64decode(pb, validate=True))
    except (binascii.Error, ValueError, ProtoError) as exc:
        raise ShapeError(f"INTERACT_WORD_V2 pb is not protobuf: {exc}") from None
    if 1 not in msg.fields or 5 not in msg.fields:
        raise ShapeError("INTERACT_WORD_V2 pb has no uid (1) or msg_type (5)")
    return _interaction(ctx, msg.uint(1), msg.text(2), msg.uint(5),
                        msg.uint(15) or msg.uint(7))


def _like(obj: dict[str, Any], ctx: Context) -> list[Event]:
    d = _data(obj, "LIKE_INFO_V3_CLICK")
    w = "LIKE_INFO_V3_CLICK.data"
    uid = _int(d, "uid", w)
    count = _int(d, "like_count", w, 0) or _int(d, "click_count", w, 0) or 1
    # Likes carry no id and no time: one like per viewer per second is what the ledger keeps.
    return [Like(platform=ctx.platform, msg_id=f"like:{uid}:{ctx.now_s}",
                 viewer=_viewer(ctx, uid, _text(d, "uname", w, "")), count=count)]


WEB_COMMANDS: dict[str, CommandDecoder] = {
    "DANMU_MSG": _danmu,
    "SEND_GIFT": _send_gift,
    "GUARD_BUY": _guard_buy,
    "USER_TOAST_MSG_V2": _user_toast_v2,
    "SUPER_CHAT_MESSAGE": _super_chat,
    "INTERACT_WORD": _interact_word,
    "INTERACT_WORD_V2": _interact_word,
    "LIKE_INFO_V3_CLICK": _like,
    "LIKE": _like,
}


def decode_commands(out: Decoded, decoders: dict[str, CommandDecoder], ctx: Context) -> Decoded:
    """Turn `out.commands` into `out.events`; a command that does not decode is a problem."""
    for cmd, obj in out.commands:
        decoder = decoders.get(cmd)
        if decoder is None:
            out.unknown.append(cmd)
            continue
        try:
            out.events.extend(decoder(obj, ctx))
        except (ValueError, TypeError, OverflowError) as exc:  # ShapeError is a ValueError
            out.problems.append(f"{cmd}: {exc}")
    return out


def decode_web(data: bytes, *, money: Money, platform: str = PLATFORM,
               now_s: int = 0) -> Decoded:
    """The events in one danmaku WebSocket message (pure; never raises)."""
    return decode_commands(unpack(data), WEB_COMMANDS, Context(money, platform, now_s))


# -- listeners --------------------------------------------------------------------------------
def secret_from_env(variable: str, setting: str, what: str) -> str:
    """The value of an environment variable a setting names; ListenerConfigError if unset."""
    value = os.environ.get(variable, "")
    if not value:
        raise ListenerConfigError(
            f"environment variable {variable} is not set: it should hold {what} "
            f"(named by the '{setting}' setting)")
    return value


def check_money(money: Money) -> None:
    """Gift values are converted from CNY: a show currency without a CNY rate is a config error."""
    try:
        money.to_base(1.0, "CNY")
    except ValueError as exc:
        raise ListenerConfigError(f"cannot value Bilibili gifts: {exc}") from None


class PacketListener(ConnectionListener):
    """A WebSocket speaking Bilibili's packets: auth, heartbeats, the silence watchdog, decoding.

    Subclasses connect (`session`), then call `converse(ws, auth_body, emit)`, and say how a
    message decodes (`decode`) and what a refused auth means (`refused`).
    """

    def __init__(self, *, money: Money, heartbeat_s: float = 30.0,
                 silence_s: float | None = None, backoff: Backoff | None = None) -> None:
        super().__init__(backoff=backoff)
        self.money = money
        self.heartbeat_s = heartbeat_s
        if silence_s is not None:
            self.silence_s = silence_s
        self.unknown: Counter[str] = Counter()  # ignored cmds, by name
        self.heartbeats = 0  # heartbeats sent
        self.popularity = 0

    def decode(self, data: bytes) -> Decoded:
        raise NotImplementedError

    def refused(self, code: int) -> str:
        """The message for an auth reply with a non-zero code."""
        raise NotImplementedError

    async def converse(self, ws: aiohttp.ClientWebSocketResponse[bool], auth: bytes,
                       emit: Emit) -> None:
        """Authenticate, then read until the connection closes; heartbeats run meanwhile."""
        await ws.send_bytes(pack(OP_AUTH, auth))
        authed = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(ws, authed))
        try:
            while True:
                try:
                    msg = await ws.receive(timeout=self.silence_s)
                except TimeoutError:
                    raise ConnectionError(
                        f"no frame for {self.silence_s:g} s: connection dead") from None
                if msg.type == aiohttp.WSMsgType.BINARY:
                    if not self._handle(msg.data, emit, authed):
                        return
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    self.bad_frame("a text message on a binary protocol")
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    raise ConnectionError(f"websocket error: {ws.exception()}")
                else:  # CLOSE, CLOSING, CLOSED
                    return
        finally:
            beat.cancel()
            await asyncio.wait([beat])

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse[bool],
                         authed: asyncio.Event) -> None:
        await authed.wait()
        try:
            while not ws.closed:
                await ws.send_bytes(pack(OP_HEARTBEAT, b"{}"))
                self.heartbeats += 1
                await asyncio.sleep(self.heartbeat_s)
        except (ConnectionError, aiohttp.ClientError) as exc:
            # the read loop sees the connection end; nothing to do here
            self.log.debug("heartbeat stopped: %s", exc)

    def _handle(self, data: bytes, emit: Emit, authed: asyncio.Event) -> bool:
        decoded = self.decode(data)
        for problem in decoded.problems:
            self.bad_frame(problem)
        for cmd in decoded.unknown:
            self.unknown[cmd] += 1
            if self.unknown[cmd] == 1:
                self.log.debug("ignoring %s messages (not show events)", cmd)
        if decoded.auth_code is not None:
            if decoded.auth_code != 0:
                raise ListenerConfigError(self.refused(decoded.auth_code))
            if not authed.is_set():
                authed.set()
                self.state = "connected"
                self.log.info("%s: connected", self.name)
        if decoded.popularity is not None:
            self.popularity = decoded.popularity
        for event in decoded.events:
            self.deliver(emit, event)
        return not decoded.ended


def _cookie_value(cookie: str, name: str) -> str:
    for part in cookie.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


class BilibiliListener(PacketListener):
    """A Bilibili live room's danmaku WebSocket (chat, gifts, guards, super chats, ...)."""

    name = "bilibili"
    kind = "bilibili"
    doc = "a Bilibili live room's danmaku WebSocket (chat, gifts, guards, super chats, likes)"
    settings = {
        "room_id": Field(Int(minimum=1), "the room's real (long) id", required=True),
        "url": Field(Str(non_empty=True), "danmaku WebSocket URL", default=DEFAULT_URL),
        "uid": Field(Int(minimum=0), "logged-in account uid (0: anonymous, names masked)",
                     default=0),
        "token_env": Field(Str(pattern=_ENV_NAME), "environment variable holding the danmaku "
                           "auth key (getDanmuInfo token); never the key itself", default=""),
        "cookie_env": Field(Str(pattern=_ENV_NAME), "environment variable holding the account "
                            "cookie (for buvid3); never the cookie itself", default=""),
        "heartbeat_s": Field(Duration(minimum=1), "seconds between heartbeats", default=30.0),
    }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock, money: Money) -> Listener:
        return cls(room_id=int(settings["room_id"]), url=settings["url"],
                   uid=int(settings["uid"]), token_env=settings["token_env"],
                   cookie_env=settings["cookie_env"],
                   heartbeat_s=float(settings["heartbeat_s"]), money=money)

    def __init__(self, *, room_id: int, money: Money, url: str = DEFAULT_URL, uid: int = 0,
                 token_env: str = "", cookie_env: str = "", heartbeat_s: float = 30.0,
                 silence_s: float | None = None, backoff: Backoff | None = None) -> None:
        super().__init__(money=money, heartbeat_s=heartbeat_s, silence_s=silence_s,
                         backoff=backoff)
        self.room_id, self.url, self.uid = room_id, url, uid
        self.token_env, self.cookie_env = token_env, cookie_env

    def decode(self, data: bytes) -> Decoded:
        return decode_web(data, money=self.money, now_s=int(time.time()))

    def refused(self, code: int) -> str:
        hint = f"and that ${self.token_env} holds a current key" if self.token_env else \
            "(some rooms need a key: set token_env)"
        return (f"room {self.room_id} refused the connection (auth code {code}): check that "
                f"room_id is the room's real id {hint}")

    def auth_body(self, key: str, cookie: str) -> dict[str, Any]:
        body: dict[str, Any] = {"uid": self.uid, "roomid": self.room_id, "protover": 3,
                                "platform": "web", "type": 2}
        buvid = _cookie_value(cookie, "buvid3")
        if buvid:
            body["buvid"] = buvid
        if key:
            body["key"] = key
        return body

    async def session(self, emit: Emit) -> None:
        key = secret_from_env(self.token_env, "token_env", "the danmaku auth key") \
            if self.token_env else ""
        cookie = secret_from_env(self.cookie_env, "cookie_env", "the account cookie") \
            if self.cookie_env else ""
        check_money(self.money)
        headers = {"User-Agent": USER_AGENT}
        if cookie:
            headers["Cookie"] = cookie
        timeout = aiohttp.ClientTimeout(total=None, connect=15, sock_connect=15)
        async with aiohttp.ClientSession(timeout=timeout) as http, \
                http.ws_connect(self.url, headers=headers, autoping=True) as ws:
            await self.converse(ws, json.dumps(self.auth_body(key, cookie)).encode(), emit)
