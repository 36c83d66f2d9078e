"""Bilibili listeners against local servers speaking the real packet protocol over WebSockets.

The fake danmaku server checks the auth packet, answers heartbeats (with the real quirk: the
echo of the client's heartbeat after a pack_len that does not count it) and plays a script of
WebSocket messages per connection. The fake open platform verifies each call's HMAC signature
with its own implementation and hands out a link to the fake danmaku server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import struct
import sys
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest
from aiohttp import WSMsgType, web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from director.errors import Place
from director.events import Chat, Enter, Event, Follow, Gift, Like, Membership, Money, SuperChat
from director.listeners import listener_kinds, platform_records
from director.listeners.base import Backoff
from director.listeners.bilibili import (
    HEADER,
    OP_AUTH,
    OP_AUTH_REPLY,
    OP_HEARTBEAT,
    OP_HEARTBEAT_REPLY,
    OP_MESSAGE,
    VER_BROTLI,
    VER_JSON,
    VER_ZLIB,
    BilibiliListener,
    compress_packets,
    decode_web,
    pack,
    pack_command,
    unpack,
)
from director.listeners.bilibili_open import BilibiliOpenListener, decode_open, signed_headers
from director.listeners.protowire import encode
from director.spec import Checker
from director.testing import RecordingEmit

ROOT = Path(__file__).resolve().parent.parent
CNY = Money()


# -- frames, as Bilibili sends them -------------------------------------------------------------
def danmu(id_str: str, text: str = "hello", uid: int = 1001, uname: str = "小明",
          guard: int = 0) -> dict[str, Any]:
    extra = json.dumps({"id_str": id_str, "content": text, "send_from_me": False})
    meta = [0, 1, 25, 16777215, 1700000000123, 98765, 0, "b1e2", 0, 0, 0, "", 0, "{}", "{}",
            {"mode": 0, "extra": extra}]
    return {"cmd": "DANMU_MSG:4:0:2:2:2:0",
            "info": [meta, text, [uid, uname, 0, 0, 0, 10000, 1, ""], [], [20, 0, 0, ">50000"],
                     ["", ""], 0, guard, None, {"ts": 1700000000, "ct": "ABC"}]}


def gift(tid: str, *, num: int = 1, price: int = 1000, coin: str = "gold", uid: int = 1002,
         name: str = "小心心") -> dict[str, Any]:
    return {"cmd": "SEND_GIFT", "data": {
        "uid": uid, "uname": "小红", "giftName": name, "num": num, "price": price,
        "coin_type": coin, "total_coin": price * num, "tid": tid, "rnd": "1700000000",
        "timestamp": 1700000000, "guard_level": 3, "action": "投喂"}}


def guard_buy(uid: int = 1003, level: int = 3, num: int = 1,
              start: int = 1700000100) -> dict[str, Any]:
    return {"cmd": "GUARD_BUY", "data": {
        "uid": uid, "username": "阿舰", "guard_level": level, "num": num, "price": 198000,
        "gift_id": 10003, "gift_name": "舰长", "start_time": start, "end_time": start}}


def toast_v2(uid: int = 1003, level: int = 3, num: int = 1, start: int = 1700000100,
             source: int = 0) -> dict[str, Any]:
    return {"cmd": "USER_TOAST_MSG_V2", "data": {
        "sender_uinfo": {"uid": uid, "base": {"name": "阿舰"}},
        "guard_info": {"guard_level": level, "start_time": start, "end_time": start},
        "pay_info": {"num": num, "price": 198000, "unit": "月"},
        "gift_info": {"gift_id": 10003}, "option": {"source": source},
        "toast_msg": "<%阿舰%> 开通了舰长"}}


def super_chat(sc_id: int = 77, price: float = 30) -> dict[str, Any]:
    return {"cmd": "SUPER_CHAT_MESSAGE", "data": {
        "id": sc_id, "uid": 1004, "price": price, "message": "加油！",
        "user_info": {"uname": "阿超", "guard_level": 1}}}


def interact(uid: int = 1005, msg_type: int = 1,
             trigger: int = 1700000000123456789) -> dict[str, Any]:
    return {"cmd": "INTERACT_WORD", "data": {
        "uid": uid, "uname": "路人", "msg_type": msg_type, "timestamp": 1700000000,
        "trigger_time": trigger, "roomid": 1}}


def interact_v2(uid: int = 1005, msg_type: int = 2,
                trigger: int = 1700000000123456789) -> dict[str, Any]:
    pb = encode({1: uid, 2: "路人", 5: msg_type, 6: 1, 7: 1700000000, 15: trigger})
    return {"cmd": "INTERACT_WORD_V2", "data": {"dmscore": 10, "pb": base64.b64encode(pb).decode()}}


def like(uid: int = 1006) -> dict[str, Any]:
    return {"cmd": "LIKE_INFO_V3_CLICK", "data": {"uid": uid, "uname": "点赞的人",
                                                  "like_text": "为主播点赞了"}}


def brotli_msg(*objs: dict[str, Any]) -> bytes:
    return compress_packets([pack_command(o) for o in objs], VER_BROTLI)


# -- the decoder --------------------------------------------------------------------------------
def test_one_message_holds_json_zlib_and_nested_brotli_packets() -> None:
    inner_zlib = compress_packets([pack_command(danmu("c")), pack_command(danmu("d"))], VER_ZLIB)
    message = (pack_command(danmu("a"))
               + compress_packets([pack_command(danmu("b"))], VER_ZLIB)
               + compress_packets([inner_zlib, pack_command(danmu("e"))], VER_BROTLI))
    out = decode_web(message, money=CNY)
    assert out.problems == []
    assert [e.msg_id for e in out.events] == ["dm:a", "dm:b", "dm:c", "dm:d", "dm:e"]
    assert [cmd for cmd, _ in out.commands] == ["DANMU_MSG"] * 5  # the part before ':'


def test_commands_become_events_with_values_in_the_show_currency() -> None:
    message = brotli_msg(danmu("x1", text="你好", guard=3), gift("t1", num=3, price=1000),
                         gift("t2", num=5, price=100, coin="silver", name="辣条"),
                         guard_buy(), super_chat(price=30), interact(msg_type=1),
                         interact(uid=1007, msg_type=2), interact(uid=1008, msg_type=3), like())
    out = decode_web(message, money=CNY, now_s=1700000000)
    assert out.problems == [] and out.unknown == []
    chat, gold, silver, member, sc, enter, follow, liked = out.events
    assert isinstance(chat, Chat) and chat.text == "你好" and chat.msg_id == "dm:x1"
    assert chat.viewer.id == "1001" and chat.viewer.name == "小明"
    assert chat.viewer.level == 1, "guard 3 (舰长) is the lowest member level"
    assert isinstance(gold, Gift) and (gold.gift, gold.count) == ("小心心", 3)
    assert gold.value == pytest.approx(3.0) and gold.currency == "CNY"  # 3 × 1000 gold
    assert gold.msg_id == "gift:t1" and gold.viewer.level == 1
    assert isinstance(silver, Gift) and silver.value == 0.0 and silver.count == 5
    assert isinstance(member, Membership) and member.value == pytest.approx(198.0)
    assert (member.level, member.months, member.viewer.level) == (1, 1, 1)
    assert isinstance(sc, SuperChat) and sc.value == 30.0 and sc.text == "加油！"
    assert sc.msg_id == "sc:77" and sc.viewer.level == 3, "guard 1 (总督) is the top level"
    assert isinstance(enter, Enter) and isinstance(follow, Follow)
    assert follow.viewer.id == "1007"  # msg_type 3 (share) is not a show event
    assert isinstance(liked, Like) and liked.count == 1 and liked.msg_id == "like:1006:1700000000"


def test_values_convert_into_another_show_currency() -> None:
    usd = Money(base="USD", rates={"CNY": 0.14})
    out = decode_web(brotli_msg(gift("t1", num=3, price=1000), super_chat(price=50)), money=usd)
    assert [round(e.money, 4) for e in out.events] == [0.42, 7.0]
    assert {e.currency for e in out.events if isinstance(e, Gift | SuperChat)} == {"USD"}


def test_guard_buy_and_toast_v2_for_one_purchase_share_a_msg_id() -> None:
    out = decode_web(brotli_msg(guard_buy(), toast_v2(), toast_v2(source=2),
                                guard_buy(start=1700009999)), money=CNY)
    ids = [e.msg_id for e in out.events]
    assert ids[0] == ids[1] == ids[2] != ids[3], ids
    three = decode_web(pack_command(guard_buy(num=3)), money=CNY).events[0]
    assert isinstance(three, Membership) and three.months == 3
    assert three.value == pytest.approx(594.0)


def test_interact_word_v2_protobuf_decodes_like_the_json_form() -> None:
    out = decode_web(brotli_msg(interact_v2(msg_type=2), interact(msg_type=2)), money=CNY)
    assert out.problems == []
    v2, v1 = out.events
    assert isinstance(v2, Follow) and v2.viewer.id == "1005" and v2.viewer.name == "路人"
    assert v2.msg_id == v1.msg_id, "the same follow in both forms is one event"
    bad = {"cmd": "INTERACT_WORD_V2", "data": {"pb": "not base64!"}}
    junk = {"cmd": "INTERACT_WORD_V2", "data": {"pb": "//////8="}}
    out = decode_web(brotli_msg(bad, junk, danmu("ok")), money=CNY)
    assert [e.msg_id for e in out.events] == ["dm:ok"]
    assert len(out.problems) == 2 and all("INTERACT_WORD_V2" in p for p in out.problems)


def test_danmu_without_id_str_gets_a_stable_id() -> None:
    frame = danmu("x")
    frame["info"][0] = frame["info"][0][:6]  # an older frame: no mode_info
    first = decode_web(pack_command(frame), money=CNY).events[0].msg_id
    again = decode_web(pack_command(json.loads(json.dumps(frame))), money=CNY).events[0].msg_id
    frame["info"][0][4] += 1  # sent a millisecond later: another message
    later = decode_web(pack_command(frame), money=CNY).events[0].msg_id
    assert first == again != later and first.startswith("dm:")


def test_unknown_commands_are_ignored_and_listed() -> None:
    out = decode_web(brotli_msg({"cmd": "ONLINE_RANK_COUNT", "data": {"count": 5}},
                                {"cmd": "STOP_LIVE_ROOM_LIST", "data": {}}, danmu("a")),
                     money=CNY)
    assert out.unknown == ["ONLINE_RANK_COUNT", "STOP_LIVE_ROOM_LIST"] and out.problems == []
    assert len(out.events) == 1


def raw_packet(body: bytes, *, op: int = OP_MESSAGE, ver: int = VER_JSON,
               pack_len: int | None = None, header_len: int = 16) -> bytes:
    length = HEADER.size + len(body) if pack_len is None else pack_len
    return HEADER.pack(length, header_len, ver, op, 0) + body


MALFORMED = [
    (b"\x00\x00\x00", "truncated header"),
    (b"", "empty message"),
    (raw_packet(b"{}", pack_len=400), "does not fit"),
    (raw_packet(b"{}", pack_len=3), "does not fit"),
    (raw_packet(b'{"cmd": "X"}', header_len=20), "header length 20"),
    (raw_packet(b"\x78\x9c garbage", ver=VER_ZLIB), "bad zlib"),
    (raw_packet(b"\x1b\xff\xff garbage", ver=VER_BROTLI), "bad brotli"),
    (raw_packet(zlib.compress(b"abc")[:-3], ver=VER_ZLIB), "bad zlib"),
    (raw_packet(brotli.compress(pack_command(danmu("a")))[:-4], ver=VER_BROTLI), "bad brotli"),
    (raw_packet(b"not json"), "not JSON"),
    (raw_packet(b"\xff\xfe\xfd"), "not JSON"),
    (raw_packet(b"[1, 2]"), "not an object"),
    (raw_packet(b'{"data": {}}'), "no 'cmd'"),
    (raw_packet(b"[" * 100_000), "not JSON"),
    (raw_packet(b"{}", ver=7), "unknown protocol version"),
    (raw_packet(b"\x00\x01", op=OP_HEARTBEAT_REPLY, ver=1), "heartbeat reply of 2 bytes"),
    (raw_packet(b"nope", op=OP_AUTH_REPLY), "auth reply"),
    (pack_command({"cmd": "DANMU_MSG", "info": "flat"}), "DANMU_MSG"),
    (pack_command({"cmd": "DANMU_MSG", "info": [[], 5, [1, "a"]]}), "info[1]"),
    (pack_command({"cmd": "SEND_GIFT", "data": []}), "SEND_GIFT"),
    (pack_command({"cmd": "SEND_GIFT", "data": {**gift("t")["data"], "num": "many"}}), "num"),
    (pack_command({"cmd": "SEND_GIFT", "data": {**gift("t")["data"], "coin_type": "bits"}}),
     "coin_type"),
    (pack_command({"cmd": "SEND_GIFT", "data": {**gift("t")["data"], "total_coin": 1e400}}),
     "total_coin"),
    (pack_command({"cmd": "GUARD_BUY", "data": {**guard_buy()["data"], "guard_level": 9}}),
     "guard_level"),
    (pack_command({"cmd": "SUPER_CHAT_MESSAGE", "data": {"id": 1}}), "SUPER_CHAT_MESSAGE"),
    (pack_command({"cmd": "USER_TOAST_MSG_V2", "data": {"sender_uinfo": 5}}), "sender_uinfo"),
]


@pytest.mark.parametrize(("message", "expected"), MALFORMED,
                         ids=[m[1] + f"-{i}" for i, m in enumerate(MALFORMED)])
def test_malformed_messages_are_problems_not_exceptions(message: bytes, expected: str) -> None:
    out = decode_web(message, money=CNY)
    assert any(expected in p for p in out.problems), out.problems
    assert out.events == []
    if expected not in ("does not fit", "truncated header", "empty message",
                        "heartbeat reply of 2 bytes"):  # (an echo follows a heartbeat reply)
        # the packet's length was trustworthy: the next packet in the message still decodes
        out = decode_web(message + pack_command(danmu("after")), money=CNY)
        assert [e.msg_id for e in out.events] == ["dm:after"], out.problems
        assert len(out.problems) == 1, out.problems


def test_heartbeat_reply_echo_after_pack_len_is_not_a_packet() -> None:
    message = raw_packet((31337).to_bytes(4, "big"), op=OP_HEARTBEAT_REPLY, ver=1) + b"{}"
    out = unpack(message)
    assert out.popularity == 31337 and out.problems == []
    assert unpack(pack(OP_AUTH_REPLY, b'{"code":-101}')).auth_code == -101


def test_a_decompression_bomb_is_refused() -> None:
    bomb = raw_packet(zlib.compress(b"\x00" * (17 << 20)), ver=VER_ZLIB)
    assert any("16 MiB" in p for p in unpack(bomb).problems)
    bomb = raw_packet(brotli.compress(b"\x00" * (17 << 20)), ver=VER_BROTLI)
    assert any("16 MiB" in p for p in unpack(bomb).problems)


# -- fuzzing ------------------------------------------------------------------------------------
VALID = [
    brotli_msg(danmu("a"), gift("t1", num=2), super_chat(), interact_v2()),
    compress_packets([pack_command(guard_buy()), pack_command(like())], VER_ZLIB)
    + pack_command(toast_v2()),
    pack(OP_AUTH_REPLY, b'{"code":0}') + raw_packet(b"\x00\x00\x01\x00", op=OP_HEARTBEAT_REPLY),
]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_never_raises(data: bytes) -> None:
    out = decode_web(data, money=CNY, now_s=1)
    assert isinstance(out.problems, list)
    for event in out.events:
        assert isinstance(event, Event) and event.msg_id and event.money >= 0


@FUZZ
@given(st.binary(max_size=512))
def test_fuzz_random_bytes(data: bytes) -> None:
    check_never_raises(data)
    check_never_raises(HEADER.pack(len(data) + 16, 16, 0, OP_MESSAGE, 0) + data)


@FUZZ
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                        min_size=1, max_size=8),
       st.integers(0, 10**6))
def test_fuzz_mutated_frames(frame: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(frame)
    for where, value in flips:
        data[where % len(data)] = value
    check_never_raises(bytes(data))
    check_never_raises(bytes(data[:cut % (len(data) + 1)]))
    check_never_raises(frame[:cut % len(frame)] + frame)


@FUZZ
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**16 - 1), st.integers(0, 2**16 - 1),
       st.sampled_from([OP_MESSAGE, OP_AUTH_REPLY, OP_HEARTBEAT_REPLY, 9]),
       st.binary(max_size=64))
def test_fuzz_wrong_lengths(pack_len: int, header_len: int, ver: int, op: int,
                            body: bytes) -> None:
    data = struct.pack(">I2H2I", pack_len, header_len, ver, op, 1) + body
    out = decode_web(data, money=CNY)
    if pack_len != len(data) or (header_len != 16 and op in (OP_MESSAGE, OP_AUTH_REPLY)):
        assert out.problems, (pack_len, header_len, len(data))


@FUZZ
@given(st.sampled_from([VER_ZLIB, VER_BROTLI]), st.binary(max_size=256))
def test_fuzz_bad_compression_is_counted(ver: int, body: bytes) -> None:
    out = decode_web(raw_packet(body, ver=ver), money=CNY)
    assert out.problems and out.events == []


# -- the fake danmaku server --------------------------------------------------------------------
DROP, CLOSE = "drop", "close"
Script = Callable[[int], list[Any]]  # connection index -> bytes to send, float pauses, DROP/CLOSE


class FakeRoom:
    """A local danmaku server: checks the auth packet, answers heartbeats, plays a script."""

    def __init__(self, script: Script | None = None, *, auth_code: int = 0,
                 reply_heartbeats: bool = True, popularity: int = 4242,
                 expect_auth: Callable[[dict[str, Any]], list[str]] | None = None) -> None:
        self.script = script or (lambda n: [])
        self.auth_code = auth_code
        self.reply_heartbeats = reply_heartbeats
        self.popularity = popularity
        self.expect_auth = expect_auth or web_auth_problems
        self.connections = 0
        self.auths: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.violations: list[str] = []  # protocol mistakes by the client
        self.sockets: set[web.WebSocketResponse] = set()

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        index = self.connections
        self.connections += 1
        self.sockets.add(ws)
        try:
            if not await self._auth(ws):
                await ws.close()
                return ws
            reader = asyncio.create_task(self._read(ws))
            for item in self.script(index):
                if isinstance(item, bytes):
                    await ws.send_bytes(item)
                elif isinstance(item, int | float):
                    await asyncio.sleep(item)
                elif item == DROP:  # the network goes away: no close handshake
                    assert request.transport is not None
                    request.transport.abort()
                    reader.cancel()
                    return ws
                elif item == CLOSE:
                    await ws.close()
                    break
            await reader
        finally:
            self.sockets.discard(ws)
        return ws

    async def _auth(self, ws: web.WebSocketResponse) -> bool:
        msg = await ws.receive(timeout=5)
        if msg.type != WSMsgType.BINARY:
            self.violations.append(f"first message is {msg.type}, not binary")
            return False
        data = msg.data
        pack_len, header_len, _ver, op, _seq = HEADER.unpack_from(data)
        if (pack_len, header_len, op) != (len(data), 16, OP_AUTH):
            self.violations.append(f"bad auth header {(pack_len, header_len, op)}")
            return False
        body = json.loads(data[16:])
        self.auths.append(body)
        self.violations += self.expect_auth(body)
        await ws.send_bytes(pack(OP_AUTH_REPLY, json.dumps({"code": self.auth_code})))
        return self.auth_code == 0

    async def _read(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY:
                self.violations.append(f"client sent {msg.type}")
                continue
            _len, _hl, _ver, op, _seq = HEADER.unpack_from(msg.data)
            if op != OP_HEARTBEAT:
                self.violations.append(f"client sent op {op}")
                continue
            self.heartbeats += 1
            if self.reply_heartbeats:  # pack_len counts the popularity, not the echo after it
                reply = pack(OP_HEARTBEAT_REPLY, self.popularity.to_bytes(4, "big"))
                await ws.send_bytes(reply + msg.data[16:])


def web_auth_problems(body: dict[str, Any]) -> list[str]:
    want = {"protover": 3, "platform": "web", "type": 2}
    problems = [f"auth {k}={body.get(k)!r}, want {v!r}" for k, v in want.items()
                if body.get(k) != v]
    if not isinstance(body.get("roomid"), int) or not isinstance(body.get("uid"), int):
        problems.append(f"auth roomid/uid not integers: {body}")
    return problems


@contextlib.asynccontextmanager
async def serve(routes: dict[str, Any]) -> AsyncIterator[str]:
    """Serve handlers on 127.0.0.1 at a free port; yields the base URL (http://...)."""
    app = web.Application()
    for path, handler in routes.items():
        if path.startswith("POST "):
            app.router.add_post(path[5:], handler)
        else:
            app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()




async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(listener: Any, emit: Any) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(listener.run(emit))
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self, level: int = logging.DEBUG) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= level]


@contextlib.contextmanager
def captured(logger: logging.Logger) -> Any:
    handler = Records()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def tiny_backoff() -> Backoff:
    return Backoff(initial=0.01, maximum=0.05)


def web_listener(url: str, **kwargs: Any) -> BilibiliListener:
    kwargs.setdefault("backoff", tiny_backoff())
    return BilibiliListener(room_id=kwargs.pop("room_id", 7734200), url=url, money=CNY,
                            **kwargs)


# -- the web listener over a real WebSocket -----------------------------------------------------
def test_handshake_heartbeats_and_frames_of_every_encoding() -> None:
    junk = [b"\x00\x01", raw_packet(b"\x78\x9cjunk", ver=VER_ZLIB), raw_packet(b"[1]")]
    messages = [
        pack_command(danmu("j1")),  # plain JSON
        compress_packets([pack_command(gift("g1", num=3)), pack_command(danmu("z1"))],
                         VER_ZLIB),
        brotli_msg(danmu("b1"), super_chat(), interact(), like()),  # several packets
        pack_command(danmu("j2")) + brotli_msg(guard_buy(), toast_v2()),  # mixed in one
        *junk,
        pack_command({"cmd": "WATCHED_CHANGE", "data": {"num": 5}}),
        brotli_msg(danmu("last")),
    ]
    room = FakeRoom(lambda n: messages)

    async def main() -> None:
        async with serve({"/sub": room.handler}) as base:
            listener = web_listener(base.replace("http", "ws") + "/sub", heartbeat_s=0.05)
            emit = RecordingEmit()
            with captured(listener.log) as logs:
                async with running(listener, emit):
                    await until(lambda: "dm:last" in emit.ids, "the last danmaku")
                    await until(lambda: room.heartbeats >= 3, "three heartbeats")
                    await until(lambda: listener.popularity == 4242, "a heartbeat reply")
                    assert listener.state == "connected"
        assert room.violations == [] and room.connections == 1
        assert room.auths == [{"uid": 0, "roomid": 7734200, "protover": 3, "platform": "web",
                               "type": 2}]
        assert emit.ids == ["dm:j1", "gift:g1", "dm:z1", "dm:b1", "sc:77",
                            "interact:1005:1:1700000000123456789", emit.ids[6], "dm:j2",
                            "guard:1003:3:1700000100", "dm:last"], emit.ids
        assert listener.duplicates == 1, "USER_TOAST_MSG_V2 repeats the GUARD_BUY"
        assert emit.events[1].money == pytest.approx(3.0)
        assert listener.malformed == 3 and listener.errors == 0
        assert listener.unknown == {"WATCHED_CHANGE": 1}
        assert any("malformed frame" in t for t in logs.text(logging.WARNING))
        assert any("WATCHED_CHANGE" in t for t in logs.text(logging.DEBUG))

    asyncio.run(main())


def test_reconnect_after_a_drop_and_resent_frames_are_kept_once() -> None:
    frames = [brotli_msg(danmu(f"m{i}"), gift(f"g{i}")) for i in range(8)]

    def script(n: int) -> list[Any]:
        if n == 0:  # five frames, then the network drops mid-stream
            return [*frames[:5], 0.05, DROP]
        return [*frames[2:5], *frames[5:]]  # the server resends the last three

    room = FakeRoom(script)

    async def main() -> None:
        async with serve({"/sub": room.handler}) as base:
            listener = web_listener(base.replace("http", "ws") + "/sub")
            emit = RecordingEmit()
            async with running(listener, emit):
                await until(lambda: "dm:m7" in emit.ids, "the frames after the reconnect")
            assert room.connections == 2 and listener.reconnects >= 1
            want = [x for i in range(8) for x in (f"dm:m{i}", f"gift:g{i}")]
            assert emit.ids == want, "each event exactly once, in order"
            assert listener.received == 22 and listener.duplicates == 6
            assert room.violations == []

    asyncio.run(main())


def test_refused_auth_is_a_config_error_said_once_and_retried_slowly() -> None:
    room = FakeRoom(auth_code=-101)

    async def main() -> None:
        async with serve({"/sub": room.handler}) as base:
            listener = web_listener(base.replace("http", "ws") + "/sub", room_id=12345)
            with captured(listener.log) as logs:
                async with running(listener, RecordingEmit()):
                    await until(lambda: room.connections >= 3 and listener.state == "failed",
                                "three attempts, the listener failed")
            errors = logs.text(logging.ERROR)
            assert len(errors) == 1, errors
            assert "room 12345 refused the connection (auth code -101)" in errors[0]
            assert "room_id" in listener.last_error

    asyncio.run(main())


def test_a_silent_connection_is_dead_and_reconnected() -> None:
    room = FakeRoom(reply_heartbeats=False)

    async def main() -> None:
        async with serve({"/sub": room.handler}) as base:
            listener = web_listener(base.replace("http", "ws") + "/sub", silence_s=0.2,
                                    heartbeat_s=0.05)
            async with running(listener, RecordingEmit()):
                await until(lambda: room.connections >= 2, "a reconnect")
            assert "no frame for 0.2 s" in listener.last_error
            assert room.heartbeats >= 1, "heartbeats were sent but never answered"

    asyncio.run(main())


def test_credentials_come_from_the_environment_and_are_never_logged(
        monkeypatch: pytest.MonkeyPatch) -> None:
    secret, cookie = "k3y-SECRET-0123456789", "SESSDATA=sess-SECRET; buvid3=BUVID-42; x=1"
    monkeypatch.setenv("TEST_BILI_KEY", secret)
    monkeypatch.setenv("TEST_BILI_COOKIE", cookie)
    seen_cookie: list[str] = []
    room = FakeRoom(lambda n: [brotli_msg(danmu("a"))])

    async def handler(request: web.Request) -> web.WebSocketResponse:
        seen_cookie.append(request.headers.get("Cookie", ""))
        return await room.handler(request)

    async def main() -> None:
        async with serve({"/sub": handler}) as base:
            listener = web_listener(base.replace("http", "ws") + "/sub", uid=99,
                                    token_env="TEST_BILI_KEY", cookie_env="TEST_BILI_COOKIE")
            with captured(listener.log) as logs:
                async with running(listener, RecordingEmit()):
                    await until(lambda: listener.received == 1, "a danmaku")
            assert room.auths[0]["key"] == secret and room.auths[0]["buvid"] == "BUVID-42"
            assert room.auths[0]["uid"] == 99 and seen_cookie == [cookie]
            assert not any("SECRET" in t for t in logs.text()), logs.text()

            missing = web_listener(base.replace("http", "ws") + "/sub",
                                   token_env="TEST_BILI_NOT_SET")
            with captured(missing.log) as logs:
                async with running(missing, RecordingEmit()):
                    await until(lambda: missing.state == "failed", "the config error")
            assert "TEST_BILI_NOT_SET is not set" in logs.text(logging.ERROR)[0]
            assert room.connections == 1, "no connection without the key"

    asyncio.run(main())


def test_settings_are_checked_like_a_show_section() -> None:
    record = platform_records()["bilibili"]
    ck = Checker()
    out = record.check({"kind": "bilibili", "room_id": 5}, Place("show.yaml", 1, 1), "", ck)
    assert ck.errors == [] and out["url"].startswith("wss://") and out["heartbeat_s"] == 30
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "required key 'room_id'"), ({"room_id": 0}, "at least 1"),
        ({"room_id": 5, "token_env": "sk-abc=="}, "invalid value")]
    for bad, message in cases:
        ck = Checker()
        record.check({"kind": "bilibili", **bad}, Place("show.yaml", 1, 1), "", ck)
        assert any(message in e.message for e in ck.errors), [e.message for e in ck.errors]
    assert listener_kinds()["bilibili"] is BilibiliListener
    assert listener_kinds()["bilibili_open"] is BilibiliOpenListener
    built = BilibiliListener.from_settings(out, clock=None, money=CNY)  # type: ignore[arg-type]
    assert isinstance(built, BilibiliListener) and built.room_id == 5


def test_director_listen_prints_json_lines() -> None:
    room = FakeRoom(lambda n: [brotli_msg(danmu("cli-1", text="弹幕"), gift("cli-g", num=3))])

    async def main() -> list[dict[str, Any]]:
        async with serve({"/sub": room.handler}) as base:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "director", "listen", "bilibili", "room_id=1", "--url",
                base.replace("http", "ws") + "/sub", "--duration", "2",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
                cwd=str(ROOT))
            out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
            assert proc.returncode == 0, err.decode()
            return [json.loads(line) for line in out.decode().splitlines() if line.strip()]

    lines = asyncio.run(main())
    assert [(r["kind"], r["msg_id"]) for r in lines] == [("chat", "dm:cli-1"),
                                                         ("gift", "gift:cli-g")], lines
    assert lines[0]["text"] == "弹幕" and lines[1]["value"] == pytest.approx(3.0)
    assert lines[1]["platform"] == "bilibili" and room.auths[0]["roomid"] == 1


# -- the open platform --------------------------------------------------------------------------
KEY_ID, KEY_SECRET, IDENTITY = "test-key-id", "test-key-secret-SECRET", "IDCODE-SECRET"


def open_frame(cmd: str, **data: Any) -> dict[str, Any]:
    return {"cmd": cmd, "data": data}


OPEN_FRAMES = [
    open_frame("LIVE_OPEN_PLATFORM_DM", uname="观众", open_id="oid-1", uid=0, msg="你好",
               msg_id="dm-1", guard_level=2, timestamp=1700000000, room_id=1),
    open_frame("LIVE_OPEN_PLATFORM_SEND_GIFT", uname="观众", open_id="oid-1", gift_name="小花花",
               gift_num=3, price=1000, r_price=1000, paid=True, msg_id="gift-1"),
    open_frame("LIVE_OPEN_PLATFORM_SEND_GIFT", uname="观众", open_id="oid-1", gift_name="辣条",
               gift_num=2, price=100, r_price=100, paid=False, msg_id="gift-2"),
    open_frame("LIVE_OPEN_PLATFORM_GUARD", user_info={"open_id": "oid-2", "uname": "舰长"},
               guard_level=3, guard_num=1, guard_unit="月", price=198000, msg_id="guard-1"),
    open_frame("LIVE_OPEN_PLATFORM_SUPER_CHAT", uname="阿超", open_id="oid-3", rmb=50,
               message="冲", message_id=9, msg_id="sc-1", guard_level=0),
    open_frame("LIVE_OPEN_PLATFORM_LIKE", uname="点赞", open_id="oid-4", like_count=7,
               msg_id="like-1"),
    open_frame("LIVE_OPEN_PLATFORM_SUPER_CHAT_DEL", message_ids=[9], msg_id="del-1"),
]


def test_open_platform_commands_become_events() -> None:
    out = decode_open(brotli_msg(*OPEN_FRAMES), money=CNY)
    assert out.problems == [] and out.unknown == ["LIVE_OPEN_PLATFORM_SUPER_CHAT_DEL"]
    dm, paid, free, member, sc, liked = out.events
    assert isinstance(dm, Chat) and dm.viewer.id == "oid-1" and dm.viewer.level == 2
    assert isinstance(paid, Gift) and paid.value == pytest.approx(3.0) and paid.count == 3
    assert isinstance(free, Gift) and free.value == 0.0
    assert isinstance(member, Membership) and member.value == pytest.approx(198.0)
    assert member.viewer.name == "舰长" and member.level == 1
    assert isinstance(sc, SuperChat) and sc.value == 50.0 and sc.msg_id == "sc-1"
    assert isinstance(liked, Like) and liked.count == 7
    end = decode_open(pack_command(open_frame("LIVE_OPEN_PLATFORM_INTERACTION_END",
                                              game_id="g")), money=CNY)
    assert end.ended and end.unknown == [] and end.events == []


def test_signed_headers_follow_the_documented_recipe() -> None:
    body = b'{"code":"X","app_id":1}'
    headers = signed_headers(body, key_id="id", secret="sec", nonce="42", timestamp=1700000000)
    lines = ["x-bili-accesskeyid:id", f"x-bili-content-md5:{hashlib.md5(body).hexdigest()}",
             "x-bili-signature-method:HMAC-SHA256", "x-bili-signature-nonce:42",
             "x-bili-signature-version:1.0", "x-bili-timestamp:1700000000"]
    want = hmac.new(b"sec", "\n".join(lines).encode(), hashlib.sha256).hexdigest()
    assert headers["Authorization"] == want


class FakeOpenApi:
    """The open platform's HTTP API: verifies each call's signature, hands out the fake room."""

    def __init__(self, ws_url: str, *, secret: str = KEY_SECRET) -> None:
        self.ws_url, self.secret = ws_url, secret
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.rejected: list[str] = []
        self.games = 0
        self.auth_body = ""

    def verify(self, request: web.Request, body: bytes) -> str:
        h = request.headers
        if h.get("x-bili-accesskeyid") != KEY_ID:
            return "unknown access key id"
        if h.get("x-bili-content-md5") != hashlib.md5(body).hexdigest():
            return "content md5 mismatch"
        if h.get("x-bili-signature-method") != "HMAC-SHA256" or \
                h.get("x-bili-signature-version") != "1.0" or \
                not h.get("x-bili-signature-nonce") or not h.get("x-bili-timestamp"):
            return "signature headers missing"
        names = sorted(k.lower() for k in h if k.lower().startswith("x-bili-"))
        text = "\n".join(f"{k}:{h[k]}" for k in names)
        want = hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        return "" if hmac.compare_digest(want, h.get("Authorization", "")) else "bad signature"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        problem = self.verify(request, body)
        if problem:
            self.rejected.append(problem)
            return web.json_response({"code": 4002, "message": problem, "request_id": "r"})
        payload = json.loads(body)
        self.calls.append((request.path, payload))
        if request.path == "/v2/app/start":
            if payload != {"code": IDENTITY, "app_id": 1234}:
                return web.json_response({"code": 7007, "message": "identity code invalid"})
            self.games += 1
            self.auth_body = json.dumps({"roomid": 1, "protoover": 2, "key": f"k{self.games}"})
            return web.json_response({"code": 0, "message": "0", "request_id": "r", "data": {
                "game_info": {"game_id": f"game-{self.games}"},
                "websocket_info": {"auth_body": self.auth_body, "wss_link": [self.ws_url]},
                "anchor_info": {"room_id": 1, "uname": "主播", "uid": 1, "open_id": "anchor"}}})
        return web.json_response({"code": 0, "message": "0", "request_id": "r", "data": {}})

    def paths(self) -> list[str]:
        return [p for p, _ in self.calls]


@contextlib.asynccontextmanager
async def open_platform(script: Script) -> AsyncIterator[tuple[str, FakeOpenApi, FakeRoom]]:
    holder: list[FakeOpenApi] = []

    def auth_problems(body: dict[str, Any]) -> list[str]:
        want = json.loads(holder[0].auth_body)
        return [] if body == want else [f"auth body {body}, want {want}"]

    room = FakeRoom(script, expect_auth=auth_problems)
    async with serve({"/sub": room.handler}) as ws_base:
        api = FakeOpenApi(ws_base.replace("http", "ws") + "/sub")
        holder.append(api)
        async with serve({"POST /v2/app/{call}": api.handle}) as api_base:
            yield api_base, api, room


def open_env(monkeypatch: pytest.MonkeyPatch, secret: str = KEY_SECRET) -> None:
    monkeypatch.setenv("TEST_OPEN_CODE", IDENTITY)
    monkeypatch.setenv("TEST_OPEN_KEY_ID", KEY_ID)
    monkeypatch.setenv("TEST_OPEN_KEY_SECRET", secret)


def open_listener(api_url: str, **kwargs: Any) -> BilibiliOpenListener:
    kwargs.setdefault("backoff", tiny_backoff())
    return BilibiliOpenListener(app_id=1234, money=CNY, api_url=api_url,
                                code_env="TEST_OPEN_CODE", key_id_env="TEST_OPEN_KEY_ID",
                                key_secret_env="TEST_OPEN_KEY_SECRET", **kwargs)


def test_open_platform_session_starts_beats_and_ends(monkeypatch: pytest.MonkeyPatch) -> None:
    open_env(monkeypatch)

    async def main() -> None:
        async with open_platform(lambda n: [brotli_msg(*OPEN_FRAMES)]) as (base, api, room):
            listener = open_listener(base, game_heartbeat_s=0.05, heartbeat_s=0.05)
            emit = RecordingEmit()
            with captured(listener.log) as logs:
                async with running(listener, emit):
                    await until(lambda: len(emit.events) == 6, "the open-platform events")
                    await until(lambda: listener.game_heartbeats >= 2, "game heartbeats")
                    await until(lambda: room.heartbeats >= 2, "websocket heartbeats")
            assert api.rejected == [] and room.violations == []
            assert api.calls[0] == ("/v2/app/start", {"code": IDENTITY, "app_id": 1234})
            assert ("/v2/app/heartbeat", {"game_id": "game-1"}) in api.calls
            assert api.calls[-1] == ("/v2/app/end", {"app_id": 1234, "game_id": "game-1"}), \
                "the game is ended when the listener stops"
            assert emit.ids == ["dm-1", "gift-1", "gift-2", "guard-1", "sc-1", "like-1"]
            assert not any("SECRET" in t for t in logs.text())

    asyncio.run(main())


def test_open_platform_interaction_end_restarts_the_game(
        monkeypatch: pytest.MonkeyPatch) -> None:
    open_env(monkeypatch)
    end = pack_command(open_frame("LIVE_OPEN_PLATFORM_INTERACTION_END", game_id="game-1"))

    def script(n: int) -> list[Any]:
        return [brotli_msg(OPEN_FRAMES[0]), end] if n == 0 else [brotli_msg(OPEN_FRAMES[1])]

    async def main() -> None:
        async with open_platform(script) as (base, api, room):
            listener = open_listener(base)
            emit = RecordingEmit()
            async with running(listener, emit):
                await until(lambda: emit.ids == ["dm-1", "gift-1"], "events of both games")
            assert api.paths() == ["/v2/app/start", "/v2/app/end", "/v2/app/start",
                                   "/v2/app/end"], api.calls
            assert api.calls[1][1]["game_id"] == "game-1" and api.calls[3][1]["game_id"] == \
                "game-2"
            assert room.connections == 2 and room.violations == []

    asyncio.run(main())


def test_open_platform_bad_signature_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    open_env(monkeypatch, secret="wrong-secret-SECRET")

    async def main() -> None:
        async with open_platform(lambda n: []) as (base, api, room):
            listener = open_listener(base)
            with captured(listener.log) as logs:
                async with running(listener, RecordingEmit()):
                    # the server counts the refusal before the listener has read the reply
                    await until(lambda: len(api.rejected) >= 2 and listener.state == "failed",
                                "two refused starts, the listener failed")
            errors = logs.text(logging.ERROR)
            assert len(errors) == 1 and "code 4002" in errors[0] and "bad signature" in errors[0]
            assert "$TEST_OPEN_KEY_SECRET" in errors[0]
            assert not any("SECRET" in t.replace("$TEST_OPEN_KEY_SECRET", "")
                           for t in logs.text()), logs.text()
            assert room.connections == 0

    asyncio.run(main())


def test_open_platform_missing_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    open_env(monkeypatch)
    monkeypatch.delenv("TEST_OPEN_KEY_ID")

    async def main() -> None:
        async with open_platform(lambda n: []) as (base, api, _room):
            listener = open_listener(base)
            async with running(listener, RecordingEmit()):
                await until(lambda: listener.state == "failed", "the config error")
            assert "environment variable TEST_OPEN_KEY_ID is not set" in listener.last_error
            assert api.calls == [] and api.rejected == []

    asyncio.run(main())
