"""Douyin listeners against local stand-ins of the platform: the web push WebSocket (douyin) and
the open-platform live data push (douyin_webhook), over real sockets on 127.0.0.1.

Frames are built with protowire.encode from the field numbers in director/listeners/douyin.py;
the emit used everywhere dedupes on (platform, msg_id) exactly like the ledger.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from director.errors import Place
from director.events import Chat, Enter, Event, Follow, Gift, Like, Membership, Money
from director.listeners import listener_kinds, platform_records
from director.listeners.base import Backoff, ListenerConfigError
from director.listeners.douyin import DouyinDecoder, DouyinListener, GiftCombos, gunzip
from director.listeners.douyin_webhook import DouyinWebhookListener, decode_push, sign
from director.listeners.protowire import Message, encode
from director.spec import Checker
from director.testing import RecordingEmit

ROOT = Path(__file__).resolve().parent.parent
FAST = Backoff(initial=0.01, maximum=0.03)


# -- frames ---------------------------------------------------------------------------------------
def user(uid: int, name: str, fans_level: int = 0) -> dict[int, Any]:
    out: dict[int, Any] = {1: uid, 3: name}
    if fans_level:
        out[24] = {1: {1: "club", 2: fans_level}}
    return out


def message(method: str, msg_id: int, payload: dict[int, Any]) -> dict[int, Any]:
    return {1: method, 2: encode(payload), 3: msg_id}


def chat(msg_id: int, uid: int, name: str, text: str, fans_level: int = 0) -> dict[int, Any]:
    return message("WebcastChatMessage", msg_id,
                   {1: {1: "WebcastChatMessage", 2: msg_id}, 2: user(uid, name, fans_level),
                    3: text})


def gift(msg_id: int, uid: int, *, gift_id: int = 463, name: str = "小心心", diamonds: int = 1,
         repeat: int = 1, group: int = 0, end: bool = False, combo: bool = True,
         ) -> dict[int, Any]:
    return message("WebcastGiftMessage", msg_id, {
        2: gift_id, 5: repeat, 6: repeat, 7: user(uid, f"u{uid}"), 9: int(end), 11: group,
        15: {5: gift_id, 10: combo, 12: diamonds, 16: name}})


def like(msg_id: int, uid: int, count: int) -> dict[int, Any]:
    return message("WebcastLikeMessage", msg_id, {2: count, 3: 999, 5: user(uid, f"u{uid}")})


def social(msg_id: int, uid: int, action: int) -> dict[int, Any]:
    return message("WebcastSocialMessage", msg_id, {2: user(uid, f"u{uid}"), 4: action})


def member(msg_id: int, uid: int) -> dict[int, Any]:
    return message("WebcastMemberMessage", msg_id, {2: user(uid, f"u{uid}")})


def fansclub(msg_id: int, uid: int, kind: int, level: int) -> dict[int, Any]:
    return message("WebcastFansclubMessage", msg_id,
                   {2: kind, 3: "joined", 4: user(uid, f"u{uid}", level)})


def push(messages: Sequence[dict[int, Any]], *, log_id: int = 1, need_ack: bool = True,
         ext: str = "") -> bytes:
    response = {1: list(messages), 2: "cursor", 4: 1_700_000_000, 5: ext or f"ext-{log_id}",
                9: need_ack}
    return encode({1: log_id, 2: log_id, 6: "gzip", 7: "msg",
                   8: gzip.compress(encode(response))})




def decode_all(decoder: DouyinDecoder, frames: Sequence[bytes], emit: RecordingEmit) -> list[str]:
    problems = []
    for data in frames:
        out = decoder.decode(data)
        problems += out.problems
        for event in out.events:
            emit(event)
    return problems


# -- decoding -------------------------------------------------------------------------------------
def test_every_kind_decodes_with_viewer_and_msg_id() -> None:
    frame = push([
        chat(101, 7, "小明", "主播好", fans_level=12),
        gift(102, 8, diamonds=99, name="嘉年华", combo=False, gift_id=3, repeat=1),
        like(103, 9, 15),
        social(104, 10, 1),
        social(105, 11, 3),  # a share: not a follow
        member(106, 12),
        fansclub(107, 13, 2, 1),
        message("WebcastRoomUserSeqMessage", 108, {3: 5000}),  # ignored, not a problem
    ])
    out = DouyinDecoder().decode(frame)
    assert out.problems == []
    assert out.ack is not None
    kinds = [(type(e).__name__, e.msg_id) for e in out.events]
    assert kinds == [("Chat", "101"), ("Gift", "102"), ("Like", "103"), ("Follow", "104"),
                     ("Enter", "106"), ("Membership", "107")]
    c, g, lk, f, en, m = out.events
    assert isinstance(c, Chat) and c.text == "主播好"
    assert (c.viewer.id, c.viewer.name, c.viewer.level, c.platform) == ("7", "小明", 12, "douyin")
    assert isinstance(g, Gift)
    assert (g.gift, g.count, g.value, g.currency) == ("嘉年华", 1, 9.9, "CNY")
    assert isinstance(lk, Like) and lk.count == 15
    assert isinstance(f, Follow) and f.viewer.id == "10"
    assert isinstance(en, Enter) and en.viewer.name == "u12"
    assert isinstance(m, Membership) and m.level == 1 and m.value == 0.0


def test_msg_id_falls_back_to_common_then_to_a_content_hash() -> None:
    no_outer = {1: "WebcastChatMessage", 2: encode({1: {2: 555}, 2: user(1, "a"), 3: "hi"})}
    bare = {1: "WebcastChatMessage", 2: encode({2: user(1, "a"), 3: "hi"})}
    first = DouyinDecoder().decode(push([no_outer, bare])).events
    again = DouyinDecoder().decode(push([bare])).events
    assert first[0].msg_id == "555"
    assert first[1].msg_id.startswith("h") and first[1].msg_id == again[0].msg_id


def test_value_normalisation_ten_douyin_coins_is_one_yuan() -> None:
    one = gift(1, 5, diamonds=10, combo=False)
    (g,) = DouyinDecoder().decode(push([one])).events
    assert isinstance(g, Gift) and g.value == pytest.approx(1.0) and g.currency == "CNY"
    usd = Money(base="USD", rates={"CNY": 0.14})
    (g,) = DouyinDecoder(money=usd).decode(push([one])).events
    assert isinstance(g, Gift) and g.value == pytest.approx(0.14) and g.currency == "USD"
    # A show whose currency has no rate for CNY: reported, not raised; the frame's chat survives.
    out = DouyinDecoder(money=Money(base="EUR")).decode(push([one, chat(2, 1, "a", "x")]))
    assert [type(e) for e in out.events] == [Chat]
    assert len(out.problems) == 1 and "no exchange rate for CNY" in out.problems[0]


COMBO = [gift(200 + n, 42, repeat=n, group=777, diamonds=5) for n in range(1, 6)] + \
    [gift(206, 42, repeat=5, group=777, diamonds=5, end=True)]
COMBO_COUNTS = [1, 2, 3, 4, 5, 5]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(COMBO) - 1), min_size=1, max_size=20))
def test_combo_counted_once_whatever_the_delivery(order: list[int]) -> None:
    """Any subset of the combo's frames, in any order, repeated: the count is the highest count
    delivered, never a sum; the value follows the count."""
    emit = RecordingEmit()
    decoder = DouyinDecoder()
    # One frame per message, and also all of them bundled in one frame (Douyin batches).
    assert decode_all(decoder, [push([COMBO[i]]) for i in order], emit) == []
    decode_all(decoder, [push([COMBO[i] for i in order])], emit)
    top = max(COMBO_COUNTS[i] for i in order)
    assert emit.gifts() == top
    assert sum(e.money for e in emit.events) == pytest.approx(top * 5 * 0.1)


def test_combo_of_five_then_end_is_five_gifts_not_fifteen() -> None:
    emit = RecordingEmit()
    decode_all(DouyinDecoder(), [push([f]) for f in COMBO], emit)
    assert [e.count for e in emit.events if isinstance(e, Gift)] == [1, 1, 1, 1, 1]
    assert emit.gifts() == 5


def test_combo_end_frame_alone_counts_the_whole_combo() -> None:
    emit = RecordingEmit()
    decode_all(DouyinDecoder(), [push([COMBO[-1]])], emit)
    assert emit.gifts() == 5


def test_combo_resent_after_a_restart_is_not_counted_again() -> None:
    """The running totals live in memory; after a restart the platform's resends carry the same
    delta ids, so the ledger drops them and only the new clicks count."""
    emit = RecordingEmit()
    decode_all(DouyinDecoder(), [push([f]) for f in COMBO[:3]], emit)
    decode_all(DouyinDecoder(), [push([f]) for f in COMBO], emit)  # fresh decoder, all resent
    assert emit.gifts() == 5


def test_two_viewers_same_group_id_are_separate_combos() -> None:
    emit = RecordingEmit()
    frames = [gift(1, 1, repeat=3, group=9), gift(2, 2, repeat=2, group=9),
              gift(3, 1, repeat=4, group=9)]
    decode_all(DouyinDecoder(), [push([f]) for f in frames], emit)
    by_viewer: dict[str, int] = {}
    for e in emit.events:
        assert isinstance(e, Gift)
        by_viewer[e.viewer.id] = by_viewer.get(e.viewer.id, 0) + e.count
    assert by_viewer == {"1": 4, "2": 2}


def test_combo_without_group_id_counts_at_its_end_frame() -> None:
    emit = RecordingEmit()
    first = [gift(1, 1, repeat=n) for n in (1, 2, 3)] + [gift(4, 1, repeat=3, end=True)]
    second = [gift(5, 1, repeat=n) for n in (1, 2)] + [gift(6, 1, repeat=2, end=True)]
    decode_all(DouyinDecoder(), [push([f]) for f in first + second + first[-1:]], emit)
    assert [e.count for e in emit.events if isinstance(e, Gift)] == [3, 2]


def test_non_combo_gifts_each_count() -> None:
    emit = RecordingEmit()
    frames = [gift(1, 1, combo=False, gift_id=3, diamonds=3000),
              gift(2, 1, combo=False, gift_id=3, diamonds=3000)]
    decode_all(DouyinDecoder(), [push([f]) for f in frames], emit)
    assert emit.gifts() == 2 and sum(e.money for e in emit.events) == pytest.approx(600.0)


def test_combo_tracker_forgets_oldest_beyond_capacity() -> None:
    combos = GiftCombos(capacity=2)
    assert combos.advance("a", 3) == 3
    assert combos.advance("b", 1) == 1
    assert combos.advance("a", 3) == 0  # touches a: b is now the oldest
    assert combos.advance("c", 1) == 1
    assert len(combos) == 2 and combos.advance("a", 4) == 1 and combos.advance("b", 1) == 1


def test_ack_echoes_log_id_and_internal_ext() -> None:
    out = DouyinDecoder().decode(push([chat(1, 1, "a", "x")], log_id=77, ext="internal-xyz"))
    assert out.ack is not None
    ack = Message(out.ack)
    assert (ack.uint(2), ack.text(7), ack.raw(8)) == (77, "ack", b"internal-xyz")
    assert DouyinDecoder().decode(push([chat(1, 1, "a", "x")], need_ack=False)).ack is None


def test_malformed_frames_are_problems_not_exceptions() -> None:
    decoder = DouyinDecoder()
    good = push([chat(1, 1, "a", "x")])
    cases = {
        "truncated": good[:-5],
        "not protobuf": b"\xff\xff\xff",
        "bad gzip": encode({7: "msg", 6: "gzip", 8: b"\x1f\x8bnot really gzip"}),
        "truncated gzip": encode({7: "msg", 6: "gzip", 8: gzip.compress(b"x" * 100)[:-8]}),
        "odd type": encode({7: "surprise"}),
        "bad message": encode({7: "msg", 8: encode({1: [{1: "WebcastChatMessage",
                                                         2: b"\x0a\xff"}]})}),
    }
    for what, data in cases.items():
        out = decoder.decode(data)
        assert out.events == [] and len(out.problems) == 1, what
    assert decoder.decode(encode({7: "hb"})).problems == []


def test_gzip_bomb_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (9 << 20))
    with pytest.raises(ValueError, match="inflates past"):
        gunzip(bomb)
    out = DouyinDecoder().decode(encode({7: "msg", 6: "gzip", 8: bomb}))
    assert out.problems and "inflates past" in out.problems[0]


_VALID = [push([chat(1, 1, "小明", "你好"), gift(2, 2, repeat=3, group=4), like(3, 3, 5)]),
          push(COMBO), push([member(9, 9), social(10, 10, 1), fansclub(11, 11, 2, 3)])]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(_VALID), st.integers(0, 400), st.binary(min_size=1, max_size=8))
    .map(lambda t: t[0][:t[1] % len(t[0])] + t[2] + t[0][t[1] % len(t[0]):]),
    st.tuples(st.sampled_from(_VALID), st.integers(1, 400)).map(lambda t: t[0][:t[1]]),
    st.binary(max_size=200).map(lambda b: encode({6: "gzip", 7: "msg", 8: b})),
    st.binary(max_size=200).map(lambda b: encode({7: "msg", 8: gzip.compress(b)})),
    st.lists(st.tuples(st.sampled_from(["WebcastChatMessage", "WebcastGiftMessage",
                                        "WebcastLikeMessage", "WebcastSocialMessage",
                                        "WebcastFansclubMessage"]), st.binary(max_size=60)),
             max_size=5)
    .map(lambda ms: push([{1: m, 2: p, 3: 1} for m, p in ms])),
))
def test_decoder_never_raises(data: bytes) -> None:
    out = DouyinDecoder().decode(data)
    assert isinstance(out.events, list) and isinstance(out.problems, list)


# -- the push WebSocket, live ----------------------------------------------------------------------
@dataclass
class Connection:
    frames: Sequence[bytes | str]  # str: sent as a text frame
    then: str = "stay"  # stay (until the client leaves) | close


@dataclass
class PushServer:
    """Douyin's push endpoint, locally: connection N plays scripts[N] (the last one repeats)."""

    scripts: list[Connection]
    refuse: int = 0  # answer the upgrade with this HTTP status instead
    received: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            return web.Response(status=self.refuse)
        self.headers.append(dict(request.headers))
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for frame in script.frames:
            if isinstance(frame, str):
                await ws.send_str(frame)
            else:
                await ws.send_bytes(frame)
        if script.then == "close":
            await asyncio.sleep(0.05)  # let the client's acks arrive first
            await ws.close()
            return ws
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.received.append(msg.data)
        return ws

    def sent(self, payload_type: str) -> list[Message]:
        return [m for m in map(Message, self.received) if m.text(7) == payload_type]


@asynccontextmanager
async def serving(handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                  path: str = "/webcast/im/push/v2/", method: str = "GET") -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield int(runner.addresses[0][1])
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running(listener: Any, emit: Callable[[Event], bool]) -> AsyncIterator[None]:
    task = asyncio.create_task(listener.run(emit))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def until(condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/webcast/im/push/v2/?room_id=1&signature=x"


def test_live_session_decodes_acks_and_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOUYIN_COOKIE", "ttwid=abc")
    frames = [push([chat(1, 1, "小明", "hi"), like(2, 2, 3)], log_id=11, ext="ext-a"),
              push([gift(3, 3, repeat=1, group=5, diamonds=10)], log_id=12, ext="ext-b"),
              push([member(4, 4)], log_id=13, need_ack=False)]
    server = PushServer([Connection(frames)])
    emit = RecordingEmit()

    async def main() -> None:
        async with serving(server.handle) as port:
            listener = DouyinListener(url=url(port), heartbeat_s=0.05, backoff=FAST)
            async with running(listener, emit):
                await until(lambda: len(emit.events) == 4 and len(server.sent("hb")) >= 2,
                            "events and heartbeats")
                await until(lambda: len(server.sent("ack")) == 2, "acks")
            assert listener.state == "finished" and listener.malformed == 0

    asyncio.run(main())
    acks = server.sent("ack")
    assert [(a.uint(2), a.raw(8)) for a in acks] == [(11, b"ext-a"), (12, b"ext-b")]
    assert server.headers[0]["Cookie"] == "ttwid=abc"
    assert [type(e).__name__ for e in emit.events] == ["Chat", "Like", "Gift", "Enter"]
    assert emit.events[2].money == pytest.approx(1.0)


def test_disconnect_mid_stream_reconnects_and_each_event_appears_once() -> None:
    """The first connection drops half-way through a combo; the server resends its recent frames
    on the next one. Every chat and every gift reaches the show exactly once."""
    chats = [push([chat(n, n, f"v{n}", f"line {n}")], log_id=n) for n in range(1, 11)]
    combo = [push([gift(100 + n, 9, repeat=n, group=3, diamonds=1)], log_id=100 + n)
             for n in range(1, 6)] + [push([gift(106, 9, repeat=5, group=3, end=True)])]
    first = chats[:5] + combo[:3]
    second = chats[3:] + combo[1:]  # resends chats 4-5 and combo clicks 2-3
    server = PushServer([Connection(first, then="close"), Connection(second)])
    emit = RecordingEmit()

    async def main() -> None:
        async with serving(server.handle) as port:
            listener = DouyinListener(url=url(port), backoff=FAST)
            async with running(listener, emit):
                await until(lambda: server.connections == 2 and len(emit.events) == 15,
                            "every event after the reconnect")
                await asyncio.sleep(0.1)  # nothing more trickles in
            assert listener.reconnects >= 1 and listener.received > listener.duplicates

    asyncio.run(main())
    texts = sorted(e.text for e in emit.events if isinstance(e, Chat))
    assert texts == sorted(f"line {n}" for n in range(1, 11))
    assert emit.gifts() == 5
    assert emit.offered > len(emit.events)  # resends did arrive, and were dropped


def test_malformed_frames_are_counted_and_the_connection_survives() -> None:
    frames: list[bytes | str] = [b"\x00\x01garbage", "a text frame",
                                 encode({6: "gzip", 7: "msg", 8: b"\x1f\x8bbroken"}),
                                 push([chat(1, 1, "a", "still here")])]
    server = PushServer([Connection(frames)])
    emit = RecordingEmit()

    async def main() -> None:
        async with serving(server.handle) as port:
            listener = DouyinListener(url=url(port), backoff=FAST)
            async with running(listener, emit):
                await until(lambda: len(emit.events) == 1, "the good frame")
            assert listener.malformed == 3 and listener.reconnects == 0

    asyncio.run(main())


def test_missing_or_refused_url_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOUYIN_WS_URL", raising=False)

    async def main() -> None:
        with pytest.raises(ListenerConfigError, match=r"\$DOUYIN_WS_URL"):
            await DouyinListener().session(RecordingEmit())
        monkeypatch.setenv("DOUYIN_WS_URL", "https://live.douyin.com/123")
        with pytest.raises(ListenerConfigError, match="wss://"):
            await DouyinListener().session(RecordingEmit())
        server = PushServer([Connection([])], refuse=403)
        async with serving(server.handle) as port:
            monkeypatch.setenv("DOUYIN_WS_URL", url(port))
            with pytest.raises(ListenerConfigError, match="fresh one"):
                await DouyinListener().session(RecordingEmit())

    asyncio.run(main())


def test_settings_check_and_build() -> None:
    ck = Checker()
    record = platform_records()["douyin"]
    checked = record.check({"kind": "douyin", "room_id": 123, "heartbeat_s": "15s"},
                           Place("show.yaml", 3, 1), "platforms[0]", ck)
    assert ck.errors == []
    listener = listener_kinds()["douyin"].from_settings(checked, clock=None,  # type: ignore[arg-type]
                                                        money=Money())
    assert isinstance(listener, DouyinListener)
    assert (listener.url, listener.url_env, listener.heartbeat_s, listener.room_id) == \
        (None, "DOUYIN_WS_URL", 15.0, "123")


def test_director_listen_douyin_prints_json_lines() -> None:
    frames = [push([chat(1, 1, "小明", "你好"), gift(2, 2, combo=False, diamonds=10)])]
    server = PushServer([Connection(frames)])

    async def main() -> tuple[int, bytes, bytes]:
        async with serving(server.handle) as port:
            env = {k: v for k, v in os.environ.items() if not k.startswith("DOUYIN_")}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "director", "listen", "douyin", "--url", url(port),
                "--duration", "2", cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            return proc.returncode or 0, out, err

    code, out, err = asyncio.run(main())
    assert code == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert [(r["kind"], r["platform"], r["msg_id"]) for r in lines] == \
        [("chat", "douyin", "1"), ("gift", "douyin", "2")]
    assert lines[0]["text"] == "你好" and lines[0]["viewer"]["name"] == "小明"
    assert lines[1]["value"] == pytest.approx(1.0) and lines[1]["currency"] == "CNY"


# -- the open-platform webhook ---------------------------------------------------------------------
SECRET = "123abc"


def test_signature_matches_the_platforms_worked_example() -> None:
    headers = {"x-nonce-str": "123456", "x-timestamp": "456789", "x-roomid": "268",
               "x-msg-type": "user_group"}
    assert sign(headers, "abc123你好".encode(), SECRET) == "GAkalGmhzqlUGQO/TgvMug=="


def signed(msg_type: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    headers = {"x-nonce-str": "n0nce", "x-timestamp": "1700000000000", "x-roomid": "7001",
               "x-msg-type": msg_type}
    return {**headers, "x-signature": sign(headers, body, secret),
            "content-type": "application/json"}


COMMENTS = [{"msg_id": "c1", "sec_openid": "oa", "nickname": "小明", "content": "你好",
             "avatar_url": "", "timestamp": 1}]
GIFTS = [{"msg_id": "g1", "sec_openid": "ob", "nickname": "阿杰", "sec_gift_id": "SEC-ROCKET",
          "gift_num": 2, "gift_value": 1776, "timestamp": 2}]
LIKES = [{"msg_id": "l1", "sec_openid": "oc", "nickname": "c", "like_num": 12, "timestamp": 3}]
FANS = [{"msg_id": "f1", "sec_openid": "od", "nickname": "d", "fansclub_reason_type": 2,
         "fansclub_level": 1}, {"msg_id": "f2", "sec_openid": "oe", "nickname": "e",
                                "fansclub_reason_type": 16, "fansclub_level": 0}]


@asynccontextmanager
async def webhook(emit: Callable[[Event], bool], **kwargs: Any,
                  ) -> AsyncIterator[tuple[DouyinWebhookListener, str]]:
    listener = DouyinWebhookListener(port=0, backoff=FAST, **kwargs)
    async with running(listener, emit):
        await asyncio.wait_for(listener.ready.wait(), 5)
        yield listener, f"http://127.0.0.1:{listener.bound_port}/douyin/webhook"


async def post(http: aiohttp.ClientSession, endpoint: str, msg_type: str, items: Any,
               *, secret: str = SECRET, tamper: bool = False) -> int:
    body = json.dumps(items, ensure_ascii=False).encode()
    headers = signed(msg_type, body, secret)
    if tamper:
        body = body.replace(b"12", b"99")
    async with http.post(endpoint, data=body, headers=headers) as response:
        return response.status


def test_webhook_valid_signature_becomes_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOUYIN_WEBHOOK_SECRET", SECRET)
    emit = RecordingEmit()

    async def main() -> None:
        async with webhook(emit, gift_names={"SEC-ROCKET": "抖音1号"}) as (listener, endpoint), \
                aiohttp.ClientSession() as http:
            for msg_type, items in (("live_comment", COMMENTS), ("live_gift", GIFTS),
                                    ("live_like", LIKES), ("live_fansclub", FANS)):
                assert await post(http, endpoint, msg_type, items) == 200
            assert listener.rejected == 0 and listener.malformed == 0

    asyncio.run(main())
    c, g, lk, m = emit.events
    assert isinstance(c, Chat) and (c.text, c.viewer.id, c.viewer.name) == ("你好", "oa", "小明")
    assert isinstance(g, Gift) and (g.gift, g.count) == ("抖音1号", 2)
    assert g.value == pytest.approx(17.76)  # gift_value is the total in 分
    assert isinstance(lk, Like) and lk.count == 12
    assert isinstance(m, Membership) and m.level == 1  # the member who left is not thanked
    assert {e.platform for e in emit.events} == {"douyin"}


def test_webhook_bad_signature_is_403_and_nothing_is_emitted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOUYIN_WEBHOOK_SECRET", SECRET)
    emit = RecordingEmit()

    async def main() -> None:
        async with webhook(emit) as (listener, endpoint), aiohttp.ClientSession() as http:
            assert await post(http, endpoint, "live_like", LIKES, secret="wrong") == 403
            assert await post(http, endpoint, "live_like", LIKES, tamper=True) == 403
            body = json.dumps(LIKES).encode()
            async with http.post(endpoint, data=body) as unsigned:
                assert unsigned.status == 403
            assert listener.rejected == 3 and emit.offered == 0

    asyncio.run(main())


def test_webhook_redelivery_is_emitted_twice_and_deduped_by_the_ledger(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOUYIN_WEBHOOK_SECRET", SECRET)
    emit = RecordingEmit()

    async def main() -> None:
        async with webhook(emit) as (listener, endpoint), aiohttp.ClientSession() as http:
            for _ in range(2):
                assert await post(http, endpoint, "live_gift", GIFTS) == 200
            assert (listener.received, listener.duplicates) == (2, 1)

    asyncio.run(main())
    assert emit.offered == 2 and len(emit.events) == 1


def test_webhook_unreadable_body_is_400_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOUYIN_WEBHOOK_SECRET", SECRET)
    emit = RecordingEmit()

    async def main() -> None:
        async with webhook(emit) as (listener, endpoint), aiohttp.ClientSession() as http:
            body = b"{not json"
            async with http.post(endpoint, data=body,
                                 headers=signed("live_comment", body)) as response:
                assert response.status == 400
            assert await post(http, endpoint, "live_comment",
                              [{"sec_openid": "x", "content": "no id"}, *COMMENTS]) == 200
            assert listener.malformed == 2 and len(emit.events) == 1

    asyncio.run(main())


def test_webhook_without_a_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOUYIN_WEBHOOK_SECRET", raising=False)
    with pytest.raises(ListenerConfigError, match=r"\$DOUYIN_WEBHOOK_SECRET"):
        asyncio.run(DouyinWebhookListener(port=0).session(RecordingEmit()))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["live_comment", "live_gift", "live_like", "live_fansclub", "other"]),
       st.one_of(st.binary(max_size=200),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.floats() |
                              st.text(max_size=10),
                              lambda inner: st.lists(inner, max_size=4) |
                              st.dictionaries(st.sampled_from(
                                  ["msg_id", "sec_openid", "nickname", "content", "gift_num",
                                   "gift_value", "sec_gift_id", "like_num", "fansclub_level",
                                   "fansclub_reason_type"]), inner, max_size=8),
                              max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_webhook_decoder_never_raises(msg_type: str, body: bytes) -> None:
    out = decode_push(msg_type, body)
    assert isinstance(out.events, list) and isinstance(out.problems, list)
