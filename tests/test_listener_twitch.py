"""The Twitch listener against a fake EventSub WebSocket and a fake Helix on 127.0.0.1.

Each test scripts what the fake server says on each connection; the fake records every Helix
subscription (body and headers) and every connection, so subscribing, hand-overs, reconnects and
the silence watchdog can be asserted without the real platform.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from director.events import Chat, Enter, Event, Follow, Gift, Membership, Money
from director.listeners import listener_kinds, platform_records
from director.listeners.base import Backoff
from director.listeners.twitch import (
    SUBSCRIPTION_TYPES,
    SUBSCRIPTIONS_PATH,
    FrameError,
    Prices,
    TwitchListener,
    badge_level,
    decode_frame,
    decode_message,
)
from director.testing import RecordingEmit

ROOT = Path(__file__).resolve().parent.parent
TOKEN_ENV = "TEST_TWITCH_TOKEN"
CLIENT_ENV = "TEST_TWITCH_CLIENT_ID"
RATES = Money(base="CNY", rates={"USD": 7.0})




# -- messages as Twitch sends them ----------------------------------------------------------------

def message(kind: str, payload: dict[str, Any] | None, *, mid: str = "",
            sub_type: str = "") -> str:
    meta: dict[str, Any] = {"message_id": mid or f"{kind}-{time.monotonic_ns()}",
                            "message_type": kind,
                            "message_timestamp": "2026-11-05T10:11:12.123456789Z"}
    if sub_type:
        meta.update(subscription_type=sub_type, subscription_version=SUBSCRIPTION_TYPES.get(
            sub_type, ("1", ""))[0])
    return json.dumps({"metadata": meta, "payload": payload or {}})


def welcome(session_id: str, keepalive: float | None = 10) -> str:
    return message("session_welcome", {"session": {
        "id": session_id, "status": "connected", "connected_at": "2026-11-05T10:11:12Z",
        "keepalive_timeout_seconds": keepalive, "reconnect_url": None}})


def keepalive() -> str:
    return message("session_keepalive", {})


def reconnect(url: str, session_id: str) -> str:
    return message("session_reconnect", {"session": {
        "id": session_id, "status": "reconnecting", "keepalive_timeout_seconds": None,
        "reconnect_url": url, "connected_at": "2026-11-05T10:11:12Z"}})


BROADCASTER = {"broadcaster_user_id": "1", "broadcaster_user_login": "sakura",
               "broadcaster_user_name": "Sakura"}


def user(uid: str = "42", name: str = "Momo") -> dict[str, Any]:
    return {"user_id": uid, "user_login": name.lower(), "user_name": name}


def chat_event(text: str = "hello", badges: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {**BROADCASTER, "chatter_user_id": "42", "chatter_user_login": "momo",
            "chatter_user_name": "Momo", "message_id": "cm1",
            "message": {"text": text, "fragments": [{"type": "text", "text": text}]},
            "message_type": "text", "badges": badges or [], "color": "#FF0000", "cheer": None,
            "reply": None, "channel_points_custom_reward_id": None}


EVENTS: dict[str, tuple[str, dict[str, Any]]] = {
    "n-chat": ("channel.chat.message", chat_event("hi Sakura", [
        {"set_id": "subscriber", "id": "2012", "info": "14"}, {"set_id": "vip", "id": "1"}])),
    "n-cheer": ("channel.cheer", {**BROADCASTER, **user(), "is_anonymous": False,
                                  "message": "Cheer500 rain!", "bits": 500}),
    "n-cheer-anon": ("channel.cheer", {**BROADCASTER, "user_id": None, "user_login": None,
                                       "user_name": None, "is_anonymous": True, "message": "",
                                       "bits": 100}),
    "n-sub": ("channel.subscribe", {**BROADCASTER, **user(), "tier": "2000", "is_gift": False}),
    "n-sub-gifted": ("channel.subscribe", {**BROADCASTER, **user("77", "Kiki"), "tier": "1000",
                                           "is_gift": True}),
    "n-gift": ("channel.subscription.gift", {**BROADCASTER, **user(), "total": 5, "tier": "1000",
                                             "cumulative_total": 12, "is_anonymous": False}),
    "n-resub": ("channel.subscription.message", {
        **BROADCASTER, **user(), "tier": "3000", "cumulative_months": 9, "streak_months": None,
        "duration_months": 1, "message": {"text": "nine months of rain", "emotes": []}}),
    "n-follow": ("channel.follow", {**BROADCASTER, **user("55", "Nao"),
                                    "followed_at": "2026-11-05T10:11:12Z"}),
}


def notification(mid: str) -> str:
    sub_type, event = EVENTS[mid] if mid in EVENTS else ("channel.chat.message", chat_event(mid))
    sub = {"id": "sub-1", "status": "enabled", "type": sub_type,
           "version": SUBSCRIPTION_TYPES[sub_type][0], "cost": 0, "condition": {},
           "transport": {"method": "websocket", "session_id": "s"}, "created_at": "x"}
    return message("notification", {"subscription": sub, "event": event}, mid=mid,
                   sub_type=sub_type)


# -- decoding (pure) ------------------------------------------------------------------------------

def test_every_notification_type_decodes_with_show_currency_values() -> None:
    prices = Prices(RATES)
    out: dict[str, Event] = {}
    for mid in EVENTS:
        frame = decode_frame(notification(mid), prices)
        assert frame.type == "notification" and frame.message_id == mid
        out.update({e.msg_id: e for e in frame.events})
    assert list(out) == ["n-chat", "n-cheer", "n-cheer-anon", "n-sub", "n-sub-gifted", "n-gift",
                         "n-resub", "n-resub:message", "n-follow"]
    chat = out["n-chat"]
    assert isinstance(chat, Chat) and chat.text == "hi Sakura"
    assert (chat.viewer.id, chat.viewer.name, chat.viewer.level) == ("42", "Momo", 2)
    cheer = out["n-cheer"]
    assert isinstance(cheer, Gift) and (cheer.gift, cheer.count) == ("bits", 500)
    assert cheer.value == pytest.approx(5 * 7.0) and cheer.currency == "CNY"
    anon = out["n-cheer-anon"]
    assert isinstance(anon, Gift) and anon.viewer.id == "anonymous" and anon.value == 7.0
    sub = out["n-sub"]
    assert isinstance(sub, Membership) and (sub.level, sub.months) == (2, 1)
    assert sub.value == pytest.approx(9.99 * 7)
    gifted = out["n-sub-gifted"]
    assert isinstance(gifted, Enter) and (gifted.viewer.id, gifted.viewer.level) == ("77", 1)
    gift = out["n-gift"]
    assert isinstance(gift, Gift) and (gift.gift, gift.count) == ("gift subs", 5)
    assert gift.value == pytest.approx(5 * 4.99 * 7)
    resub = out["n-resub"]
    assert isinstance(resub, Membership) and (resub.level, resub.months) == (3, 9)
    assert resub.value == pytest.approx(24.99 * 7)
    said = out["n-resub:message"]
    assert isinstance(said, Chat) and said.text == "nine months of rain"
    assert isinstance(out["n-follow"], Follow) and out["n-follow"].viewer.name == "Nao"
    assert all(e.platform == "twitch" for e in out.values())
    assert not prices.unpriced


def test_missing_rate_gives_value_zero_and_names_it() -> None:
    prices = Prices(Money(base="CNY"))
    [cheer] = decode_frame(notification("n-cheer"), prices).events
    assert isinstance(cheer, Gift) and cheer.value == 0.0 and cheer.count == 500
    assert "USD" in prices.unpriced["BITS"] and "currency.rates" in prices.unpriced["BITS"]
    custom = Prices(Money(base="USD"), sub_prices={"1000": 3.99}, sub_currency="usd")
    [sub] = decode_frame(notification("n-gift"), custom).events
    assert sub.money == pytest.approx(5 * 3.99)


def test_session_messages_and_badges() -> None:
    prices = Prices(RATES)
    w = decode_frame(welcome("abc", 30), prices)
    assert (w.type, w.session_id, w.keepalive_s) == ("session_welcome", "abc", 30.0)
    r = decode_frame(reconnect("ws://x/ws2", "abc"), prices)
    assert (r.type, r.reconnect_url) == ("session_reconnect", "ws://x/ws2")
    assert decode_frame(keepalive(), prices).type == "session_keepalive"
    rev = decode_frame(message("revocation", {"subscription": {
        "type": "channel.cheer", "status": "authorization_revoked"}}), prices)
    assert (rev.subscription_type, rev.status) == ("channel.cheer", "authorization_revoked")
    assert badge_level([{"set_id": "founder", "id": "0"}]) == 1
    assert badge_level([{"set_id": "subscriber", "id": "3024"}, {"set_id": "moderator"}]) == 3
    assert badge_level([{"set_id": "broadcaster", "id": "1"}]) == 0
    for bad in ("{nope", "[]", json.dumps({"metadata": {}}),
                json.dumps({"metadata": {"message_type": "notification", "message_id": "x"},
                            "payload": {"event": {}}}),
                message("notification", {"event": {"bits": "many"}}, mid="m",
                        sub_type="channel.cheer")):
        with pytest.raises(FrameError):
            decode_frame(bad, prices)


@pytest.mark.parametrize("value", [10**400, -1, 0, "500", 1.5, float("nan"), True, None])
def test_extreme_numbers_are_malformed_not_crashes(value: Any) -> None:
    prices = Prices(RATES)
    for mid, field in (("n-cheer", "bits"), ("n-gift", "total")):
        obj = json.loads(notification(mid))
        obj["payload"]["event"][field] = value
        with pytest.raises(FrameError):
            decode_message(obj, prices)
    hello = json.loads(welcome("s"))
    hello["payload"]["session"]["keepalive_timeout_seconds"] = value
    seconds = decode_message(hello, prices).keepalive_s
    assert seconds is None or 0 <= seconds <= 3600
    with pytest.raises(FrameError):
        decode_frame("[" * 100_000, prices)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
KEYS = st.sampled_from(["metadata", "payload", "message_type", "message_id", "subscription_type",
                        "event", "session", "id", "keepalive_timeout_seconds", "reconnect_url",
                        "bits", "tier", "total", "is_gift", "is_anonymous", "user_id",
                        "chatter_user_id", "message", "text", "badges", "cumulative_months",
                        "duration_months", "subscription", "type", "status"])


def mutate(obj: Any, data: st.DataObject) -> Any:
    """Drop keys and replace values with random JSON, recursively."""
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            choice = data.draw(st.integers(0, 5))
            if choice == 0:
                continue
            out[key] = data.draw(JSON) if choice == 1 else mutate(value, data)
        if data.draw(st.booleans()):
            out[data.draw(KEYS)] = data.draw(JSON)
        return out
    if isinstance(obj, list):
        return [mutate(v, data) for v in obj]
    return obj if data.draw(st.integers(0, 3)) else data.draw(JSON)


SAMPLES = [json.loads(notification(mid)) for mid in EVENTS] + [
    json.loads(welcome("s")), json.loads(reconnect("ws://x", "s")), json.loads(keepalive()),
    json.loads(message("revocation", {"subscription": {"type": "channel.cheer"}}))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_decoders_only_raise_frame_error(data: st.DataObject) -> None:
    prices = Prices(RATES)
    base = data.draw(st.sampled_from(SAMPLES))
    for candidate in (mutate(base, data), data.draw(JSON)):
        with contextlib.suppress(FrameError):
            decode_message(candidate, prices)
        with contextlib.suppress(FrameError):
            decode_frame(json.dumps(candidate), prices)
    with contextlib.suppress(FrameError):
        decode_frame(data.draw(st.binary(max_size=40) | st.text(max_size=40)), prices)


# -- the listener against a fake EventSub + Helix -------------------------------------------------

Script = Callable[["FakeTwitch", web.WebSocketResponse, int], Coroutine[Any, Any, None]]


class FakeTwitch:
    """One port: /ws and /ws2 (EventSub WebSocket, scripted per connection) and Helix."""

    def __init__(self, script: Script, *, keepalive_s: float = 10,
                 helix_status: Callable[[dict[str, Any]], int] = lambda body: 202) -> None:
        self.script = script
        self.keepalive_s = keepalive_s
        self.helix_status = helix_status
        self.subscriptions: list[tuple[dict[str, Any], dict[str, str]]] = []
        self.connections: list[tuple[float, str]] = []  # (when, path)
        self.closed: list[int] = []  # connection numbers the client closed
        self.sockets: list[web.WebSocketResponse] = []
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        number = len(self.connections)
        self.connections.append((time.monotonic(), request.path))
        self.sockets.append(sock)
        script = asyncio.create_task(self.script(self, sock, number))
        async for _ in sock:  # the client never talks; this ends when it closes
            pass
        if not script.done():
            self.closed.append(number)
        script.cancel()
        await asyncio.gather(script, return_exceptions=True)
        return sock

    async def helix(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.subscriptions.append((body, dict(request.headers)))
        status = self.helix_status(body)
        if status >= 300:
            return web.json_response({"error": "Unauthorized" if status == 401 else "Error",
                                      "status": status, "message": f"fake says {status}"},
                                     status=status)
        return web.json_response({"data": [{"id": f"sub-{len(self.subscriptions)}",
                                            "status": "enabled", **body}]}, status=status)

    async def subscribed(self, session_id: str, count: int = len(SUBSCRIPTION_TYPES)) -> None:
        while sum(1 for body, _ in self.subscriptions
                  if body["transport"]["session_id"] == session_id) < count:
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> FakeTwitch:
        app = web.Application()
        app.router.add_get("/ws", self.ws)
        app.router.add_get("/ws2", self.ws)
        app.router.add_post(SUBSCRIPTIONS_PATH, self.helix)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        for sock in self.sockets:
            await sock.close()
        await self.runner.cleanup()


def listener(fake: FakeTwitch, **kwargs: Any) -> TwitchListener:
    options: dict[str, Any] = {
        "broadcaster_id": "1", "user_id": "9", "token_env": TOKEN_ENV,
        "client_id_env": CLIENT_ENV, "url": fake.url.replace("http", "ws") + "/ws",
        "api_url": fake.url, "money": RATES,
        "backoff": Backoff(initial=0.02, maximum=0.1, jitter=0.0)}
    options.update(kwargs)
    return TwitchListener(**options)


async def run_until(tw: TwitchListener, sink: RecordingEmit, done: Callable[[], bool],
                    timeout: float = 5.0) -> str:
    """Run the listener until `done()`; returns its state then (cancelling makes it 'finished')."""
    task = asyncio.create_task(tw.run(sink))
    try:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out: state {tw.state}, " \
                f"events {sink.ids}, last error {tw.last_error!r}"
            assert not task.done(), f"listener stopped: {task.exception()!r}"
            await asyncio.sleep(0.005)
        return tw.state
    finally:
        task.cancel()
        # a listener that ignores cancellation would hang the show's shutdown: fail, not hang
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, f"listener ignored cancellation: state {tw.state}"


@pytest.fixture(autouse=True)
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "oauth:tok-123")
    monkeypatch.setenv(CLIENT_ENV, "client-abc")


async def forever() -> None:
    await asyncio.sleep(3600)


def test_welcome_subscribes_every_type_with_the_session_id() -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome("session-A"))
        await forever()

    async def scenario() -> tuple[FakeTwitch, str]:
        async with FakeTwitch(script) as fake:
            tw = listener(fake)
            state = await run_until(tw, RecordingEmit(), lambda: tw.sessions == 1)
            return fake, state

    fake, state = asyncio.run(scenario())
    assert state == "connected"
    bodies = {body["type"]: body for body, _ in fake.subscriptions}
    assert list(bodies) == list(SUBSCRIPTION_TYPES)
    for sub_type, body in bodies.items():
        assert body["version"] == SUBSCRIPTION_TYPES[sub_type][0]
        assert body["transport"] == {"method": "websocket", "session_id": "session-A"}
    assert bodies["channel.chat.message"]["condition"] == {"broadcaster_user_id": "1",
                                                           "user_id": "9"}
    assert bodies["channel.follow"]["condition"] == {"broadcaster_user_id": "1",
                                                     "moderator_user_id": "9"}
    assert bodies["channel.follow"]["version"] == "2"
    for sub_type in ("channel.cheer", "channel.subscribe", "channel.subscription.gift",
                     "channel.subscription.message"):
        assert bodies[sub_type]["condition"] == {"broadcaster_user_id": "1"}
    for _, headers in fake.subscriptions:
        assert headers["Client-Id"] == "client-abc"
        assert headers["Authorization"] == "Bearer tok-123"  # the oauth: prefix dropped


def test_notifications_keepalives_and_resends() -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome("s1", keepalive=0.2))
        await fake.subscribed("s1")
        for mid in EVENTS:
            await sock.send_str(notification(mid))
            await sock.send_str(keepalive())
        await sock.send_str(notification("n-cheer"))  # Twitch resends with the same id
        await sock.send_str("{not json")
        await sock.send_str(json.dumps({"metadata": {"message_type": "notification"}}))
        await sock.send_str(notification("after-bad"))
        for _ in range(20):  # keepalives alone keep a quiet connection alive
            await asyncio.sleep(0.05)
            await sock.send_str(keepalive())
        await sock.send_str(notification("last"))
        await forever()

    async def scenario() -> tuple[FakeTwitch, RecordingEmit, TwitchListener]:
        async with FakeTwitch(script) as fake:
            sink = RecordingEmit()
            tw = listener(fake)
            tw.keepalive_grace_s = 0.2
            await run_until(tw, sink, lambda: "last" in sink.ids)
            return fake, sink, tw

    fake, sink, tw = asyncio.run(scenario())
    assert sink.ids == ["n-chat", "n-cheer", "n-cheer-anon", "n-sub", "n-sub-gifted", "n-gift",
                          "n-resub", "n-resub:message", "n-follow", "after-bad", "last"]
    assert tw.duplicates == 1 and tw.malformed == 2
    assert len(fake.connections) == 1 and tw.reconnects == 0  # 1 s quiet but for keepalives
    assert tw.silence_s == pytest.approx(0.4)
    values = {e.msg_id: round(e.money, 4) for e in sink.events}
    assert values["n-cheer"] == 35.0 and values["n-gift"] == round(5 * 4.99 * 7, 4)


def test_session_reconnect_hands_over_without_loss_or_resubscribing() -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        if n == 0:
            await sock.send_str(welcome("s1"))
            await fake.subscribed("s1")
            await sock.send_str(notification("e1"))
            await sock.send_str(notification("e2"))
            await sock.send_str(reconnect(fake.url.replace("http", "ws") + "/ws2", "s1"))
            await sock.send_str(notification("e3"))  # the old edge keeps delivering meanwhile
            while len(fake.connections) < 2:
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.05)
            await sock.send_str(notification("e4"))  # sent just before the new welcome ...
            await forever()
        else:
            await asyncio.sleep(0.1)
            await sock.send_str(welcome("s1"))
            await sock.send_str(notification("e4"))  # ... and again on the new edge
            await sock.send_str(notification("e5"))
            await forever()

    async def scenario() -> tuple[FakeTwitch, RecordingEmit, TwitchListener]:
        async with FakeTwitch(script) as fake:
            sink = RecordingEmit()
            tw = listener(fake)
            state = await run_until(tw, sink, lambda: "e5" in sink.ids and bool(fake.closed))
            assert state == "connected"
            return fake, sink, tw

    fake, sink, tw = asyncio.run(scenario())
    assert sink.ids == ["e1", "e2", "e3", "e4", "e5"]
    assert tw.duplicates == 1 and tw.moves == 1 and tw.reconnects == 0
    assert [path for _, path in fake.connections] == ["/ws", "/ws2"]
    assert fake.closed[0] == 0  # the client closed the old connection after the hand-over
    assert len(fake.subscriptions) == len(SUBSCRIPTION_TYPES)  # subscriptions carried over


def test_dropped_connection_reconnects_and_subscribes_the_new_session() -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome(f"s{n}"))
        await fake.subscribed(f"s{n}")
        await sock.send_str(notification(f"e{n}"))
        if n == 0:
            await sock.send_str(notification("e0"))
            await asyncio.sleep(0.02)
            await sock.close(code=4005, message=b"network timeout")
        await forever()

    async def scenario() -> tuple[FakeTwitch, RecordingEmit, TwitchListener]:
        async with FakeTwitch(script) as fake:
            sink = RecordingEmit()
            tw = listener(fake)
            await run_until(tw, sink, lambda: "e1" in sink.ids)
            return fake, sink, tw

    fake, sink, tw = asyncio.run(scenario())
    assert sink.ids == ["e0", "e1"] and tw.duplicates == 1
    assert tw.reconnects == 1 and "4005" in tw.last_error
    sessions = [body["transport"]["session_id"] for body, _ in fake.subscriptions]
    n = len(SUBSCRIPTION_TYPES)
    assert sessions == ["s0"] * n + ["s1"] * n and tw.session_id == "s1"


def test_a_silent_connection_is_treated_as_dead() -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome(f"s{n}", keepalive=0.1))
        await forever()  # then nothing: no keepalive, no close

    async def scenario() -> tuple[FakeTwitch, TwitchListener]:
        async with FakeTwitch(script) as fake:
            tw = listener(fake)
            tw.keepalive_grace_s = 0.2
            await run_until(tw, RecordingEmit(), lambda: len(fake.connections) >= 2, timeout=15.0)
            return fake, tw

    fake, tw = asyncio.run(scenario())
    gap = fake.connections[1][0] - fake.connections[0][0]
    assert gap >= 0.28, gap  # welcome keepalive 0.1 s + grace 0.2 s; the upper bound is load
    assert "keepalive missed" in tw.last_error


def test_401_is_a_config_error_naming_the_environment_variables(
        caplog: pytest.LogCaptureFixture) -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome(f"s{n}"))
        await forever()

    async def scenario() -> tuple[FakeTwitch, TwitchListener, str]:
        async with FakeTwitch(script, helix_status=lambda body: 401) as fake:
            tw = listener(fake, backoff=Backoff(initial=0.001, maximum=0.05, jitter=0.0))
            state = await run_until(tw, RecordingEmit(), lambda: len(fake.connections) >= 3 and
                                    tw.state == "failed")
            return fake, tw, state

    with caplog.at_level(logging.ERROR, logger="director.listeners"):
        _fake, tw, state = asyncio.run(scenario())
    assert state == "failed"
    assert TOKEN_ENV in tw.last_error and CLIENT_ENV in tw.last_error
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "fake says 401" in errors[0]
    assert tw.backoff.current == tw.backoff.maximum


def test_403_names_the_scope_and_409_is_fine() -> None:
    def status(body: dict[str, Any]) -> int:
        return {"channel.cheer": 409, "channel.follow": 403}.get(body["type"], 202)

    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome(f"s{n}"))
        await forever()

    async def scenario(**kwargs: Any) -> TwitchListener:
        async with FakeTwitch(script, helix_status=status) as fake:
            tw = listener(fake, **kwargs)
            await run_until(tw, RecordingEmit(), lambda: tw.state == "failed" or tw.sessions > 0)
            return tw

    refused = asyncio.run(scenario())
    assert "moderator:read:followers" in refused.last_error
    assert "subscriptions setting" in refused.last_error
    without_follow = [t for t in SUBSCRIPTION_TYPES if t != "channel.follow"]
    assert asyncio.run(scenario(subscriptions=without_follow)).sessions == 1


def test_missing_credentials_name_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CLIENT_ENV)

    async def scenario() -> TwitchListener:
        tw = TwitchListener(broadcaster_id="1", token_env=TOKEN_ENV, client_id_env=CLIENT_ENV,
                            url="ws://127.0.0.1:9/ws", backoff=Backoff(initial=0.01,
                                                                       maximum=0.05))
        await run_until(tw, RecordingEmit(), lambda: tw.state == "failed")
        return tw

    error = asyncio.run(scenario()).last_error
    assert CLIENT_ENV in error and TOKEN_ENV not in error.split("(")[0]


def test_revocation_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    revoke = message("revocation", {"subscription": {
        "id": "x", "type": "channel.cheer", "status": "authorization_revoked", "version": "1"}})

    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome("s1"))
        await fake.subscribed("s1")
        await sock.send_str(revoke)
        await sock.send_str(revoke)
        await sock.send_str(notification("after"))
        await forever()

    async def scenario() -> RecordingEmit:
        async with FakeTwitch(script) as fake:
            sink = RecordingEmit()
            await run_until(listener(fake), sink, lambda: bool(sink.events))
            return sink

    with caplog.at_level(logging.ERROR, logger="director.listeners"):
        assert asyncio.run(scenario()).ids == ["after"]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "channel.cheer" in errors[0] and "bits:read" in errors[0]


def test_settings_are_declared_for_shows() -> None:
    assert listener_kinds()["twitch"] is TwitchListener
    record = platform_records()["twitch"]
    assert {"broadcaster_id", "user_id", "token_env", "client_id_env", "url", "api_url",
            "sub_prices"} <= set(record.fields)
    assert json.dumps(record.schema())
    built = TwitchListener.from_settings(
        {"broadcaster_id": "5", "sub_prices": {"1000": 3.0}}, clock=None,  # type: ignore[arg-type]
        money=RATES)
    assert isinstance(built, TwitchListener) and built.user_id == "5"
    assert built.prices.sub_prices == {"1000": 3.0, "2000": 9.99, "3000": 24.99}
    assert built.url == "wss://eventsub.wss.twitch.tv/ws"


def test_director_listen_twitch_prints_json_lines() -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome("cli-session"))
        await fake.subscribed("cli-session")
        for mid in ("n-chat", "n-cheer", "n-follow"):
            await sock.send_str(notification(mid))
        await forever()

    async def scenario() -> tuple[FakeTwitch, list[dict[str, Any]], str]:
        async with FakeTwitch(script) as fake:
            port = fake.url.rsplit(":", 1)[1]
            env = {**os.environ, "TWITCH_TOKEN": "tok-cli", "TWITCH_CLIENT_ID": "cid-cli",
                   "PYTHONPATH": str(ROOT)}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "director", "listen", "twitch", "broadcaster_id=1",
                "user_id=1", f"api_url=http://127.0.0.1:{port}", "--url",
                f"ws://127.0.0.1:{port}/ws", "--currency", "USD", "--duration", "15",
                cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            lines: list[dict[str, Any]] = []
            try:
                while len(lines) < 3:
                    raw = await asyncio.wait_for(proc.stdout.readline(), 10)
                    if not raw:
                        break
                    lines.append(json.loads(raw))
            finally:
                proc.terminate()
                _, err = await proc.communicate()
            return fake, lines, err.decode()

    fake, lines, err = asyncio.run(scenario())
    assert [(r["kind"], r["msg_id"]) for r in lines] == [
        ("chat", "n-chat"), ("gift", "n-cheer"), ("follow", "n-follow")], err
    assert lines[1]["value"] == 5.0 and lines[1]["currency"] == "USD"
    assert all(r["platform"] == "twitch" for r in lines)
    assert {h["Client-Id"] for _, h in fake.subscriptions} == {"cid-cli"}
    assert {b["condition"].get("user_id") for b, _ in fake.subscriptions} >= {"1"}


def test_binary_and_unknown_frames_do_not_stop_the_session() -> None:
    async def script(fake: FakeTwitch, sock: web.WebSocketResponse, n: int) -> None:
        await sock.send_str(welcome("s1"))
        await fake.subscribed("s1")
        await sock.send_bytes(b"\x00\x01")
        await sock.send_str(message("some_future_type", {"x": 1}))
        await sock.send_str(notification("ok"))
        await forever()

    async def scenario() -> tuple[RecordingEmit, TwitchListener]:
        async with FakeTwitch(script) as fake:
            sink = RecordingEmit()
            tw = listener(fake)
            await run_until(tw, sink, lambda: bool(sink.events))
            return sink, tw

    sink, tw = asyncio.run(scenario())
    assert sink.ids == ["ok"] and tw.malformed == 1 and tw.reconnects == 0  # the binary one
