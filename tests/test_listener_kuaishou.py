"""The Kuaishou listener against a local stand-in of the live room socket on 127.0.0.1.

Frames are built with protowire.encode from the field numbers in director/listeners/kuaishou.py;
the emit dedupes on (platform, msg_id) exactly like the ledger.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from director.errors import Place
from director.events import Chat, Gift, Like, Money
from director.listeners import listener_kinds, platform_records
from director.listeners.base import Backoff, ListenerConfigError
from director.listeners.kuaishou import (
    CS_ENTER_ROOM,
    CS_HEARTBEAT,
    SC_ENTER_ROOM_ACK,
    SC_ERROR,
    SC_FEED_PUSH,
    KuaishouDecoder,
    KuaishouListener,
)
from director.listeners.protowire import Message, encode
from director.spec import Checker
from director.testing import RecordingEmit

FAST = Backoff(initial=0.01, maximum=0.03)
PRICES = {"1": 1.0, "9": 100.0}  # 快币: 1 = 0.1 CNY, 100 = 10 CNY
NAMES = {"1": "荧光棒", "9": "火箭"}


# -- frames ---------------------------------------------------------------------------------------
def user(uid: str, name: str) -> dict[int, Any]:
    return {1: uid, 2: name, 3: "https://p.example/head.jpg"}


def comment(fid: str, uid: str, text: str) -> dict[int, Any]:
    return {1: fid, 2: user(uid, f"n{uid}"), 3: text, 5: 1}


def like(fid: str, uid: str) -> dict[int, Any]:
    return {1: fid, 2: user(uid, f"n{uid}"), 3: 1}


def gift(fid: str, uid: str, gift_id: int, *, combo: int = 1, batch: int = 1,
         merge: str = "") -> dict[int, Any]:
    return {1: fid, 2: user(uid, f"n{uid}"), 3: 1_700_000_000_000, 4: gift_id, 6: merge,
            7: batch, 8: combo}


def feed(*, comments: Sequence[dict[int, Any]] = (), likes: Sequence[dict[int, Any]] = (),
         gifts: Sequence[dict[int, Any]] = (), compressed: bool = False) -> bytes:
    body = encode({1: "1.2万", 2: "3万", 5: list(comments), 8: list(likes), 9: list(gifts),
                   10: "gift-cursor"})
    if compressed:
        return encode({1: SC_FEED_PUSH, 2: 2, 3: gzip.compress(body)})
    return encode({1: SC_FEED_PUSH, 2: 1, 3: body})


def enter_ack(heartbeat_ms: int = 0) -> bytes:
    return encode({1: SC_ENTER_ROOM_ACK, 2: 1, 3: {1: 1000, 2: 3000, 3: heartbeat_ms}})


def error(code: int, text: str) -> bytes:
    return encode({1: SC_ERROR, 3: {1: code, 2: text}})




def decoder() -> KuaishouDecoder:
    return KuaishouDecoder(gift_prices=PRICES, gift_names=NAMES)


def decode_all(dec: KuaishouDecoder, frames: Sequence[bytes], emit: RecordingEmit) -> list[str]:
    problems = []
    for data in frames:
        out = dec.decode(data)
        problems += out.problems
        for event in out.events:
            emit(event)
    return problems


# -- decoding -------------------------------------------------------------------------------------
@pytest.mark.parametrize("compressed", [False, True])
def test_comments_likes_and_gifts_decode(compressed: bool) -> None:
    out = decoder().decode(feed(comments=[comment("c1", "u1", "老铁666")], likes=[like("l1", "u2")],
                                gifts=[gift("g1", "u3", 9)], compressed=compressed))
    assert out.problems == [] and out.payload_type == SC_FEED_PUSH
    c, lk, g = out.events
    assert isinstance(c, Chat) and (c.msg_id, c.text, c.viewer.id, c.viewer.name, c.platform) == \
        ("c1", "老铁666", "u1", "nu1", "kuaishou")
    assert isinstance(lk, Like) and (lk.msg_id, lk.count) == ("l1", 1)
    assert isinstance(g, Gift) and (g.msg_id, g.gift, g.count) == ("g1", "火箭", 1)
    assert g.value == pytest.approx(10.0) and g.currency == "CNY"  # 100 快币 = 10 CNY


def test_value_normalisation_and_unknown_gifts() -> None:
    out = decoder().decode(feed(gifts=[gift("g1", "u1", 1, batch=10), gift("g2", "u1", 555)]))
    batch, unknown = out.events
    assert isinstance(batch, Gift) and batch.count == 10 and batch.value == pytest.approx(1.0)
    assert isinstance(unknown, Gift) and unknown.value == 0.0 and unknown.gift == "gift 555"
    assert out.unpriced == [555]
    usd = KuaishouDecoder(gift_prices=PRICES, money=Money(base="USD", rates={"CNY": 0.14}))
    (g,) = usd.decode(feed(gifts=[gift("g1", "u1", 9)])).events
    assert g.money == pytest.approx(1.4)


COMBO = [gift(f"f{n}", "u7", 1, combo=n, merge="mk-1") for n in range(1, 6)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, len(COMBO) - 1), min_size=1, max_size=20))
def test_combo_counted_once_whatever_the_delivery(order: list[int]) -> None:
    emit = RecordingEmit()
    dec = decoder()
    assert decode_all(dec, [feed(gifts=[COMBO[i]]) for i in order], emit) == []
    decode_all(dec, [feed(gifts=[COMBO[i] for i in order])], emit)
    top = max(order) + 1
    assert emit.gifts() == top
    assert sum(e.money for e in emit.events) == pytest.approx(top * 0.1)


def test_combo_of_batches_counts_every_gift() -> None:
    emit = RecordingEmit()
    frames = [feed(gifts=[gift(f"f{n}", "u1", 1, combo=n, batch=10, merge="mk")])
              for n in (1, 2, 2, 3)]
    decode_all(decoder(), frames, emit)
    assert emit.gifts() == 30


def test_feeds_without_merge_key_count_one_click_each() -> None:
    emit = RecordingEmit()
    clicks = [feed(gifts=[gift(f"f{n}", "u1", 1, combo=n, batch=2)]) for n in (1, 2, 3, 3)]
    decode_all(decoder(), [*clicks, clicks[1]], emit)  # f3 twice, f2 resent: same feed ids
    assert emit.gifts() == 6


def test_combo_resent_after_a_restart_is_not_counted_again() -> None:
    emit = RecordingEmit()
    decode_all(decoder(), [feed(gifts=[f]) for f in COMBO[:3]], emit)
    decode_all(decoder(), [feed(gifts=[f]) for f in COMBO], emit)
    assert emit.gifts() == 5


def test_enter_ack_and_error_frames() -> None:
    assert decoder().decode(enter_ack(15000)).heartbeat_ms == 15000
    out = decoder().decode(error(10013, "token expired"))
    assert out.error == "code 10013: token expired" and out.events == []


def test_malformed_frames_are_problems_not_exceptions() -> None:
    good = feed(comments=[comment("c1", "u1", "hi")])
    cases = {
        "truncated": good[:-3],
        "garbage": b"\xff\xff\xff\xff",
        "bad gzip": encode({1: SC_FEED_PUSH, 2: 2, 3: b"\x1f\x8bnope"}),
        "aes": encode({1: SC_FEED_PUSH, 2: 3, 3: b"\x00" * 16}),
        "odd compression": encode({1: SC_FEED_PUSH, 2: 9, 3: b""}),
        "odd type": encode({1: 9999, 3: b""}),
        "feed not a message": encode({1: SC_FEED_PUSH, 3: encode({5: 12})}),
    }
    for what, data in cases.items():
        out = decoder().decode(data)
        assert out.events == [] and len(out.problems) == 1, what
    # Known types nobody reacts to (watching list, red packs) are not problems.
    assert decoder().decode(encode({1: 340, 3: b""})).problems == []


_VALID = [feed(comments=[comment("c1", "u1", "你好")], likes=[like("l1", "u2")],
               gifts=[gift("g1", "u3", 9), *COMBO]),
          feed(gifts=COMBO, compressed=True), enter_ack(20000), error(1, "x")]


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(_VALID), st.integers(0, 400), st.binary(min_size=1, max_size=8))
    .map(lambda t: t[0][:t[1] % len(t[0])] + t[2] + t[0][t[1] % len(t[0]):]),
    st.tuples(st.sampled_from(_VALID), st.integers(1, 400)).map(lambda t: t[0][:t[1]]),
    st.tuples(st.sampled_from([SC_FEED_PUSH, SC_ERROR, SC_ENTER_ROOM_ACK]), st.integers(0, 4),
              st.binary(max_size=200)).map(lambda t: encode({1: t[0], 2: t[1], 3: t[2]})),
    st.binary(max_size=200).map(lambda b: encode({1: SC_FEED_PUSH, 2: 2, 3: gzip.compress(b)})),
))
def test_decoder_never_raises(data: bytes) -> None:
    out = decoder().decode(data)
    assert isinstance(out.events, list) and isinstance(out.problems, list)


# -- the socket, live -----------------------------------------------------------------------------
@dataclass
class Connection:
    frames: Sequence[bytes | str]  # sent after the enter-room request; str as a text frame
    then: str = "stay"  # stay | close
    ack: bytes | None = None  # answer to CS_ENTER_ROOM (default: an enter-room ack)


@dataclass
class RoomServer:
    """The live room socket, locally: waits for CS_ENTER_ROOM, acks it, plays the script."""

    scripts: list[Connection]
    received: list[Message] = field(default_factory=list)
    connections: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                continue
            frame = Message(msg.data)
            self.received.append(frame)
            if frame.uint(1) != CS_ENTER_ROOM:
                continue
            await ws.send_bytes(script.ack if script.ack is not None else enter_ack(50))
            for data in script.frames:
                if isinstance(data, str):
                    await ws.send_str(data)
                else:
                    await ws.send_bytes(data)
            if script.then == "close":
                await asyncio.sleep(0.05)
                await ws.close()
        return ws

    def sent(self, payload_type: int) -> list[Message]:
        return [m for m in self.received if m.uint(1) == payload_type]


@asynccontextmanager
async def serving(server: RoomServer) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/websocket", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}/websocket"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def running(listener: KuaishouListener, emit: RecordingEmit) -> AsyncIterator[None]:
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


def listener_for(url: str, **kwargs: Any) -> KuaishouListener:
    return KuaishouListener(url=url, live_stream_id="ls-42", page_id="PAGE_1",
                            gift_prices=PRICES, gift_names=NAMES, backoff=FAST, **kwargs)


def test_enters_the_room_heartbeats_and_delivers(monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("KUAISHOU_TOKEN", "tok-123")
    frames: list[bytes | str] = [
        feed(comments=[comment("c1", "u1", "hi")], likes=[like("l1", "u2")]),
        feed(gifts=[gift("g1", "u3", 777), gift("g2", "u4", 777), gift("g3", "u5", 9)],
             compressed=True),
        encode({1: 340, 3: b""}),  # watching list: ignored
    ]
    server = RoomServer([Connection(frames)])
    emit = RecordingEmit()

    async def main() -> None:
        async with serving(server) as url:
            listener = listener_for(url, heartbeat_s=30)  # the ack asks for 50 ms
            with caplog.at_level(logging.WARNING, logger="director.listeners.kuaishou"):
                async with running(listener, emit):
                    await until(lambda: len(emit.events) == 5 and
                                len(server.sent(CS_HEARTBEAT)) >= 3, "events and heartbeats")
            assert listener.state == "finished" and listener.malformed == 0

    asyncio.run(main())
    (enter,) = server.sent(CS_ENTER_ROOM)
    room = enter.sub(3)
    assert (room.text(1), room.text(2), room.text(7)) == ("tok-123", "ls-42", "PAGE_1")
    assert all(beat.sub(3).uint(1) > 1_600_000_000_000 for beat in server.sent(CS_HEARTBEAT))
    assert [type(e).__name__ for e in emit.events] == ["Chat", "Like", "Gift", "Gift", "Gift"]
    unpriced = [r for r in caplog.records if "777" in r.getMessage()]
    assert len(unpriced) == 1 and "gift_prices" in unpriced[0].getMessage()


def test_disconnect_mid_stream_reconnects_and_each_event_appears_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUAISHOU_TOKEN", "tok")
    chats = [feed(comments=[comment(f"c{n}", f"u{n}", f"line {n}")]) for n in range(10)]
    combo = [feed(gifts=[f]) for f in COMBO]
    first: list[bytes | str] = [*chats[:5], *combo[:3]]
    second: list[bytes | str] = [*chats[3:], *combo[1:]]
    server = RoomServer([Connection(first, then="close"), Connection(second)])
    emit = RecordingEmit()

    async def main() -> None:
        async with serving(server) as url:
            listener = listener_for(url)
            async with running(listener, emit):
                await until(lambda: server.connections == 2 and len(emit.events) == 15,
                            "every event after the reconnect")
                await asyncio.sleep(0.1)
            assert listener.reconnects >= 1

    asyncio.run(main())
    assert sorted(e.text for e in emit.events if isinstance(e, Chat)) == \
        sorted(f"line {n}" for n in range(10))
    assert emit.gifts() == 5 and emit.offered > len(emit.events)
    reconnect_counts = [m.sub(3).uint(3) for m in server.sent(CS_ENTER_ROOM)]
    assert reconnect_counts == [0, 1]


def test_malformed_frames_are_counted_and_the_connection_survives(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUAISHOU_TOKEN", "tok")
    frames: list[bytes | str] = [b"\xff\xff", "text?", encode({1: SC_FEED_PUSH, 2: 2, 3: b"zz"}),
                                 feed(comments=[comment("c1", "u1", "still here")])]
    server = RoomServer([Connection(frames)])
    emit = RecordingEmit()

    async def main() -> None:
        async with serving(server) as url:
            listener = listener_for(url)
            async with running(listener, emit):
                await until(lambda: len(emit.events) == 1, "the good frame")
            assert listener.malformed == 3 and listener.reconnects == 0

    asyncio.run(main())


def test_refused_token_and_missing_token_are_config_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = RoomServer([Connection([], ack=error(10013, "token invalid"))])

    async def main() -> None:
        async with serving(server) as url:
            monkeypatch.delenv("KUAISHOU_TOKEN", raising=False)
            with pytest.raises(ListenerConfigError, match=r"\$KUAISHOU_TOKEN"):
                await listener_for(url).session(RecordingEmit())
            monkeypatch.setenv("KUAISHOU_TOKEN", "old")
            with pytest.raises(ListenerConfigError, match="token invalid"):
                await listener_for(url).session(RecordingEmit())

    asyncio.run(main())


def test_error_after_entering_is_a_disconnect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUAISHOU_TOKEN", "tok")
    server = RoomServer([Connection([error(5, "room closed")])])

    async def main() -> None:
        async with serving(server) as url:
            with pytest.raises(ConnectionError, match="room closed"):
                await listener_for(url).session(RecordingEmit())

    asyncio.run(main())


def test_settings_check_and_build() -> None:
    ck = Checker()
    checked = platform_records()["kuaishou"].check(
        {"kind": "kuaishou", "url": "wss://livejs-ws-group1.gifshow.com/websocket",
         "live_stream_id": "abc", "gift_prices": {"9": 100, "1": "x"}},
        Place("show.yaml", 3, 1), "platforms[0]", ck)
    assert [e.message for e in ck.errors] == ["'platforms[0].gift_prices.1' must be a number, "
                                              "got 'x'"]
    ck = Checker()
    checked = platform_records()["kuaishou"].check(
        {"kind": "kuaishou", "url": "wss://x/websocket", "live_stream_id": "abc",
         "gift_prices": {"9": 100}, "gift_names": {"9": "火箭"}},
        Place("show.yaml", 3, 1), "platforms[0]", ck)
    assert ck.errors == []
    listener = listener_kinds()["kuaishou"].from_settings(checked, clock=None,  # type: ignore[arg-type]
                                                          money=Money())
    assert isinstance(listener, KuaishouListener)
    assert listener.heartbeat_s == 20.0 and listener.decoder.prices == {"9": 100.0}
    assert len(listener.page_id) > 17 and listener.page_id[16] == "_"
