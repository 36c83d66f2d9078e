"""The YouTube listener against a fake Data API on 127.0.0.1: polling, decoding, errors.

The fake serves scripted liveChatMessages pages (tiny pollingIntervalMillis) and records when and
with what each request came, so the tests can check the interval and the page token are honoured.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from director.events import Chat, Enter, Gift, Membership, Money, SuperChat
from director.listeners import listener_kinds, platform_records
from director.listeners.base import Backoff
from director.listeners.youtube import (
    MESSAGES_PATH,
    VIDEOS_PATH,
    FrameError,
    Prices,
    YouTubeListener,
    decode_item,
    decode_page,
)
from director.testing import RecordingEmit

KEY_ENV = "TEST_YT_KEY"
TOKEN_ENV = "TEST_YT_TOKEN"
RATES = Money(base="CNY", rates={"USD": 7.0})




def stamp(offset_s: float = 0.0) -> str:
    """An RFC 3339 time `offset_s` from now; items default to a few seconds ahead (not history)."""
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


def item(msg_id: str, kind: str = "textMessageEvent", *, published: str | None = None,
         author: str = "UCalice", name: str = "Alice", sponsor: bool = False,
         **details: Any) -> dict[str, Any]:
    snippet: dict[str, Any] = {"type": kind, "liveChatId": "chat1", "authorChannelId": author,
                               "publishedAt": published or stamp(5), "hasDisplayContent": True}
    if kind == "textMessageEvent":
        snippet["displayMessage"] = details.pop("text", "hello")
        snippet["textMessageDetails"] = {"messageText": snippet["displayMessage"]}
    snippet.update(details)
    return {"kind": "youtube#liveChatMessage", "id": msg_id, "snippet": snippet,
            "authorDetails": {"channelId": author, "displayName": name, "isChatSponsor": sponsor,
                              "isChatModerator": False, "isChatOwner": False}}


def every_kind() -> list[dict[str, Any]]:
    return [
        item("m-text", text="hi there", sponsor=True),
        item("m-sc", "superChatEvent", superChatDetails={
            "amountMicros": "5000000", "currency": "USD", "amountDisplayString": "$5.00",
            "userComment": "love the rain", "tier": 2}),
        item("m-sticker", "superStickerEvent", superStickerDetails={
            "amountMicros": 2000000, "currency": "usd", "amountDisplayString": "$2.00", "tier": 1,
            "superStickerMetadata": {"stickerId": "s1", "altText": "Happy cat", "language": "en"}}),
        item("m-new", "newSponsorEvent", newSponsorDetails={"memberLevelName": "Raindrop",
                                                            "isUpgrade": False}),
        item("m-mile", "memberMilestoneChatEvent", sponsor=True, memberMilestoneChatDetails={
            "memberMonth": 7, "memberLevelName": "Raindrop", "userComment": "7 months!"}),
        item("m-gift", "membershipGiftingEvent", membershipGiftingDetails={
            "giftMembershipsCount": 5, "giftMembershipsLevelName": "Raindrop"}),
        item("m-recv", "giftMembershipReceivedEvent", author="UCbob", name="Bob",
             giftMembershipReceivedDetails={"memberLevelName": "Raindrop",
                                            "gifterChannelId": "UCalice"}),
        item("m-del", "messageDeletedEvent", messageDeletedDetails={"deletedMessageId": "x"}),
    ]


def test_every_item_kind_decodes_with_show_currency_values() -> None:
    prices = Prices(RATES, membership_price=4.99, membership_currency="USD")
    events = [e for it in every_kind() for e in decode_item(it, prices)]
    by_id = {e.msg_id: e for e in events}
    assert list(by_id) == ["m-text", "m-sc", "m-sticker", "m-new", "m-mile", "m-mile:comment",
                           "m-gift", "m-recv"]
    text = by_id["m-text"]
    assert isinstance(text, Chat) and text.text == "hi there"
    assert (text.viewer.id, text.viewer.name, text.viewer.level) == ("UCalice", "Alice", 1)
    sc = by_id["m-sc"]
    assert isinstance(sc, SuperChat) and sc.text == "love the rain"
    assert sc.value == pytest.approx(35.0) and sc.currency == "CNY"
    sticker = by_id["m-sticker"]
    assert isinstance(sticker, Gift) and sticker.gift == "Happy cat"
    assert sticker.value == pytest.approx(14.0)
    new = by_id["m-new"]
    assert isinstance(new, Membership) and (new.level, new.months) == (1, 1)
    assert new.value == pytest.approx(4.99 * 7) and new.viewer.level == 1
    mile = by_id["m-mile"]
    assert isinstance(mile, Membership) and mile.months == 7
    comment = by_id["m-mile:comment"]
    assert isinstance(comment, Chat) and comment.text == "7 months!"
    gift = by_id["m-gift"]
    assert isinstance(gift, Gift) and (gift.gift, gift.count) == ("memberships", 5)
    assert gift.value == pytest.approx(5 * 4.99 * 7)
    recv = by_id["m-recv"]
    assert isinstance(recv, Enter) and (recv.viewer.id, recv.viewer.level) == ("UCbob", 1)
    assert all(e.platform == "youtube" for e in events)
    assert not prices.unpriced


def test_missing_rate_gives_value_zero_and_names_the_currency() -> None:
    prices = Prices(RATES)
    sc = item("m-jpy", "superChatEvent", superChatDetails={
        "amountMicros": "1000000000", "currency": "JPY", "userComment": ""})
    [event] = decode_item(sc, prices)
    assert isinstance(event, SuperChat) and event.value == 0.0 and event.text == ""
    assert "JPY" in prices.unpriced and "currency.rates" in prices.unpriced["JPY"]


def test_page_skips_history_and_reads_token_and_interval() -> None:
    now = time.time()
    page = decode_page({"nextPageToken": "p2", "pollingIntervalMillis": 1500, "items": [
        item("old", published=stamp(-3600)), item("new", published=stamp(5)),
        {"id": "broken"}, item("nostamp", published="yesterday")]},
        Prices(RATES), history_before=now)
    assert [e.msg_id for e in page.events] == ["new", "nostamp"]
    assert page.skipped == 1 and page.next_page_token == "p2" and page.interval_s == 1.5
    assert len(page.problems) == 1 and "broken" in page.problems[0]
    assert not page.ended
    assert decode_page({"offlineAt": stamp(), "items": []}, Prices(RATES)).ended
    with pytest.raises(FrameError):
        decode_page(["not", "a", "page"], Prices(RATES))


# -- fuzz: decoders never raise anything but FrameError ------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
KEYS = st.sampled_from(["id", "snippet", "type", "authorDetails", "channelId", "displayName",
                        "superChatDetails", "amountMicros", "currency", "memberMonth",
                        "giftMembershipsCount", "publishedAt", "items", "nextPageToken",
                        "pollingIntervalMillis", "superStickerDetails", "isChatSponsor",
                        "textMessageDetails", "messageText", "memberMilestoneChatDetails",
                        "membershipGiftingDetails", "offlineAt", "userComment"])


def mutate(obj: Any, data: st.DataObject) -> Any:
    """Drop keys and replace values with random JSON, recursively, a few times."""
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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fuzz_decoders_only_raise_frame_error(data: st.DataObject) -> None:
    prices = Prices(RATES)
    base = data.draw(st.sampled_from(every_kind()))
    for candidate in (mutate(base, data), data.draw(JSON),
                      {"items": [mutate(base, data), data.draw(JSON)],
                       "pollingIntervalMillis": data.draw(JSON),
                       "nextPageToken": data.draw(JSON), "offlineAt": data.draw(JSON)}):
        with contextlib.suppress(FrameError):
            decode_item(candidate, prices)
        try:
            page = decode_page(candidate, prices, history_before=time.time())
        except FrameError:
            continue
        assert page.interval_s >= 0


@pytest.mark.parametrize("value", [10**400, -1, "9" * 5000, "1e3", 1.5, float("inf"), True, None])
def test_extreme_numbers_are_malformed_not_crashes(value: Any) -> None:
    prices = Prices(RATES)
    for it in (item("x", "superChatEvent", superChatDetails={"amountMicros": value,
                                                               "currency": "USD"}),
               item("x", "membershipGiftingEvent",
                    membershipGiftingDetails={"giftMembershipsCount": value}),
               item("x", "memberMilestoneChatEvent",
                    memberMilestoneChatDetails={"memberMonth": value})):
        with pytest.raises(FrameError):
            decode_item(it, prices)
    page = decode_page({"pollingIntervalMillis": value, "items": [
        item("y", published="9999-12-31T23:59:59-23:59")]}, prices, history_before=time.time())
    assert 0 <= page.interval_s <= 300 and [e.msg_id for e in page.events] == ["y"]


# -- the listener against a fake API --------------------------------------------------------------

Page = tuple[int, dict[str, Any] | str]  # (status, JSON body or raw text)


class FakeYouTube:
    """Serves the scripted pages in order, then empty pages; records every request."""

    def __init__(self, pages: list[Page | Callable[[], Page]], *, video_chat: str = "") -> None:
        self.pages = list(pages)
        self.requests: list[tuple[float, str, dict[str, str], dict[str, str]]] = []
        self.video_chat = video_chat
        self.url = ""
        self.runner: web.AppRunner | None = None

    async def messages(self, request: web.Request) -> web.Response:
        self.requests.append((time.monotonic(), MESSAGES_PATH, dict(request.query),
                              dict(request.headers)))
        entry = self.pages.pop(0) if self.pages else (200, {
            "nextPageToken": request.query.get("pageToken", "end"),
            "pollingIntervalMillis": 20, "items": []})
        status, body = entry() if callable(entry) else entry
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    async def videos(self, request: web.Request) -> web.Response:
        self.requests.append((time.monotonic(), VIDEOS_PATH, dict(request.query),
                              dict(request.headers)))
        details = {"activeLiveChatId": self.video_chat} if self.video_chat else {}
        items = [{"id": request.query.get("id"), "liveStreamingDetails": details}] \
            if request.query.get("id") == "vid1" else []
        return web.json_response({"items": items})

    async def __aenter__(self) -> FakeYouTube:
        app = web.Application()
        app.router.add_get(MESSAGES_PATH, self.messages)
        app.router.add_get(VIDEOS_PATH, self.videos)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()

    def message_requests(self) -> list[tuple[float, dict[str, str], dict[str, str]]]:
        return [(t, q, h) for t, path, q, h in self.requests if path == MESSAGES_PATH]


def listener(fake: FakeYouTube, **kwargs: Any) -> YouTubeListener:
    options: dict[str, Any] = {"live_chat_id": "chat1", "api_key_env": KEY_ENV,
                               "token_env": TOKEN_ENV, "api_url": fake.url, "money": RATES,
                               "backoff": Backoff(initial=0.02, maximum=0.1, jitter=0.0)}
    options.update(kwargs)
    return YouTubeListener(**options)


async def run_until(yt: YouTubeListener, sink: RecordingEmit, done: Callable[[], bool],
                    timeout: float = 5.0) -> str:
    """Run the listener until `done()`; returns its state then (cancelling makes it 'finished')."""
    task = asyncio.create_task(yt.run(sink))
    try:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out: state {yt.state}, " \
                f"events {sink.ids}, last error {yt.last_error!r}"
            assert not task.done(), f"listener stopped: {task.exception()!r}"
            await asyncio.sleep(0.005)
        return yt.state
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "k-123")
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def test_polls_honour_interval_and_page_token_and_skip_history() -> None:
    def first() -> Page:
        return 200, {"nextPageToken": "p2", "pollingIntervalMillis": 150, "items": [
            item("h1", published=stamp(-3600)), item("h2", published=stamp(-60)),
            item("a1", published=stamp(0.5))]}

    def second() -> Page:
        return 200, {"nextPageToken": "p3", "pollingIntervalMillis": 100,
                     "items": [item("a2"), item("h3", published=stamp(-7200))]}

    async def scenario() -> tuple[FakeYouTube, RecordingEmit, YouTubeListener]:
        async with FakeYouTube([first, second]) as fake:
            sink = RecordingEmit()
            yt = listener(fake)
            state = await run_until(yt, sink, lambda: len(fake.message_requests()) >= 4)
            assert state == "connected"
            return fake, sink, yt

    fake, sink, yt = asyncio.run(scenario())
    # later pages are never filtered by time: h3 is new to us whatever its stamp says
    assert sink.ids == ["a1", "a2", "h3"]
    assert yt.skipped_history == 2
    reqs = fake.message_requests()
    assert "pageToken" not in reqs[0][1]
    assert [q.get("pageToken") for _, q, _ in reqs[1:4]] == ["p2", "p3", "p3"]
    for _, query, _ in reqs:
        assert query["liveChatId"] == "chat1" and query["key"] == "k-123"
        assert query["part"] == "snippet,authorDetails"
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(reqs)]
    assert gaps[0] >= 0.145 and gaps[1] >= 0.095 and gaps[2] >= 0.015, gaps
    assert gaps[0] < 5.0, gaps  # honoured, not multiplied (generous: CI machines are busy)


def test_include_history_keeps_the_first_page() -> None:
    async def scenario() -> RecordingEmit:
        async with FakeYouTube([(200, {"nextPageToken": "p2", "pollingIntervalMillis": 10,
                                       "items": [item("h1", published=stamp(-3600))]})]) as fake:
            sink = RecordingEmit()
            await run_until(listener(fake, include_history=True), sink, lambda: bool(sink.events))
            return sink

    assert asyncio.run(scenario()).ids == ["h1"]


def test_every_kind_through_the_listener_and_a_missing_rate_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    jpy = [item(f"jpy{i}", "superChatEvent", superChatDetails={
        "amountMicros": "500000000", "currency": "JPY", "userComment": f"yen {i}"})
        for i in range(2)]
    pages: list[Page | Callable[[], Page]] = [
        (200, {"nextPageToken": "p2", "pollingIntervalMillis": 10, "items": every_kind()[:4]}),
        (200, {"nextPageToken": "p3", "pollingIntervalMillis": 10,
               "items": [*every_kind()[4:], jpy[0], {"id": "bad", "snippet": {"type": 3}}]}),
        (200, "<html>proxy error</html>"),
        (200, {"nextPageToken": "p4", "pollingIntervalMillis": 10, "items": [jpy[1]]}),
    ]

    async def scenario() -> tuple[RecordingEmit, YouTubeListener]:
        async with FakeYouTube(pages) as fake:
            sink = RecordingEmit()
            yt = listener(fake)
            yt.unreadable_wait_s = 0.01  # after the non-JSON page
            await run_until(yt, sink, lambda: "jpy1" in sink.ids)
            return sink, yt

    with caplog.at_level(logging.WARNING, logger="director.listeners"):
        sink, yt = asyncio.run(scenario())
    kinds = [(e.kind, e.msg_id) for e in sink.events]
    assert kinds == [("chat", "m-text"), ("super_chat", "m-sc"), ("gift", "m-sticker"),
                     ("membership", "m-new"), ("membership", "m-mile"), ("chat", "m-mile:comment"),
                     ("gift", "m-gift"), ("enter", "m-recv"), ("super_chat", "jpy0"),
                     ("super_chat", "jpy1")]
    values = {e.msg_id: round(e.money, 4) for e in sink.events}
    assert values["m-sc"] == 35.0 and values["m-gift"] == round(5 * 4.99 * 7, 4)
    assert values["jpy0"] == 0.0 and values["jpy1"] == 0.0
    jpy_lines = [r for r in caplog.records if "JPY" in r.getMessage()]
    assert len(jpy_lines) == 1 and jpy_lines[0].levelno == logging.ERROR
    assert "currency.rates" in jpy_lines[0].getMessage()
    assert yt.malformed == 2  # the bad item and the non-JSON page


def quota_body() -> dict[str, Any]:
    return {"error": {"code": 403, "message": "The request cannot be completed because you have "
                      "exceeded your quota.", "errors": [{"message": "quota", "domain":
                                                          "youtube.quota",
                                                          "reason": "quotaExceeded"}]}}


@pytest.mark.parametrize(("status", "body", "says"), [
    (403, quota_body(), "quota"),
    (401, {"error": {"code": 401, "message": "Invalid Credentials",
                     "errors": [{"reason": "authError"}]}}, KEY_ENV),
    (404, {"error": {"code": 404, "message": "live chat not found",
                     "errors": [{"reason": "liveChatNotFound"}]}}, "live_chat_id"),
    (403, {"error": {"code": 403, "message": "ended", "errors": [{"reason": "liveChatEnded"}]}},
     "ended"),
])
def test_refusals_fail_clearly_once_and_retry_slowly(
        caplog: pytest.LogCaptureFixture, status: int, body: dict[str, Any], says: str) -> None:
    async def scenario() -> tuple[FakeYouTube, YouTubeListener]:
        async with FakeYouTube([(status, body)] * 100) as fake:
            yt = listener(fake, backoff=Backoff(initial=0.001, maximum=0.08, jitter=0.0))
            state = await run_until(
                yt, RecordingEmit(), lambda: len(fake.requests) >= 3 and yt.state == "failed",
                timeout=3.0)
            assert state == "failed"
            return fake, yt

    with caplog.at_level(logging.ERROR, logger="director.listeners"):
        start = time.monotonic()
        _fake, yt = asyncio.run(scenario())
        took = time.monotonic() - start
    assert says in yt.last_error
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert says in errors[0].getMessage()
    # retried at the slowest rate (0.08 s), not the fastest (0.001 s doubling)
    assert took >= 0.15 and yt.backoff.current == yt.backoff.maximum


def test_server_errors_retry_and_resume_from_the_page_token() -> None:
    pages: list[Page | Callable[[], Page]] = [
        (200, {"nextPageToken": "p2", "pollingIntervalMillis": 10, "items": [item("a1")]}),
        (503, {"error": {"code": 503, "message": "backend error"}}),
        (500, {}),
        (200, {"nextPageToken": "p3", "pollingIntervalMillis": 10, "items": [item("a2")]}),
    ]

    async def scenario() -> tuple[FakeYouTube, RecordingEmit, YouTubeListener]:
        async with FakeYouTube(pages) as fake:
            sink = RecordingEmit()
            yt = listener(fake)
            await run_until(yt, sink, lambda: "a2" in sink.ids)
            return fake, sink, yt

    fake, sink, yt = asyncio.run(scenario())
    assert sink.ids == ["a1", "a2"]
    assert yt.reconnects == 2 and "HTTP 500" in yt.last_error
    assert [q.get("pageToken") for _, q, _ in fake.message_requests()[:4]] == \
        [None, "p2", "p2", "p2"]


def test_network_error_retries() -> None:
    async def scenario() -> YouTubeListener:
        yt = YouTubeListener(live_chat_id="chat1", api_key_env=KEY_ENV,
                             api_url="http://127.0.0.1:9", money=RATES,
                             backoff=Backoff(initial=0.01, maximum=0.05, jitter=0.0))
        assert await run_until(yt, RecordingEmit(), lambda: yt.reconnects >= 2) == "reconnecting"
        return yt

    yt = asyncio.run(scenario())
    assert yt.errors >= 2 and "Connect" in yt.last_error


def test_video_id_is_resolved_to_its_live_chat() -> None:
    async def scenario() -> FakeYouTube:
        async with FakeYouTube([(200, {"nextPageToken": "p2", "pollingIntervalMillis": 10,
                                       "items": [item("a1")]})], video_chat="chat-from-video") \
                as fake:
            sink = RecordingEmit()
            await run_until(listener(fake, live_chat_id="", video_id="vid1"), sink,
                            lambda: bool(sink.events))
            return fake

    fake = asyncio.run(scenario())
    assert fake.requests[0][1] == VIDEOS_PATH
    assert fake.requests[0][2]["part"] == "liveStreamingDetails"
    assert fake.message_requests()[0][1]["liveChatId"] == "chat-from-video"


@pytest.mark.parametrize(("video", "chat", "says"), [
    ("nope", "", "no video"), ("vid1", "", "no active live chat")])
def test_video_without_a_live_chat_is_a_config_error(video: str, chat: str, says: str) -> None:
    async def scenario() -> YouTubeListener:
        async with FakeYouTube([], video_chat=chat) as fake:
            yt = listener(fake, live_chat_id="", video_id=video)
            await run_until(yt, RecordingEmit(), lambda: yt.state == "failed")
            return yt

    assert says in asyncio.run(scenario()).last_error


def test_oauth_token_is_sent_as_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "ya29.token")

    async def scenario() -> FakeYouTube:
        async with FakeYouTube([]) as fake:
            await run_until(listener(fake), RecordingEmit(), lambda: bool(fake.requests))
            return fake

    _, query, headers = asyncio.run(scenario()).message_requests()[0]
    assert headers["Authorization"] == "Bearer ya29.token" and "key" not in query

    async def refused() -> YouTubeListener:
        async with FakeYouTube([(401, {"error": {"code": 401, "message": "Invalid Credentials"}})]
                               * 10) as fake:
            yt = listener(fake)
            await run_until(yt, RecordingEmit(), lambda: yt.state == "failed")
            return yt

    error = asyncio.run(refused()).last_error
    assert TOKEN_ENV in error and "expired" in error


def test_missing_credentials_and_ids_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV)

    async def scenario(**kwargs: Any) -> YouTubeListener:
        yt = YouTubeListener(api_key_env=KEY_ENV, token_env=TOKEN_ENV, api_url="http://127.0.0.1:9",
                             backoff=Backoff(initial=0.01, maximum=0.05), **kwargs)
        await run_until(yt, RecordingEmit(), lambda: yt.state == "failed")
        return yt

    assert KEY_ENV in asyncio.run(scenario(live_chat_id="c")).last_error
    assert "video_id" in asyncio.run(scenario()).last_error


def test_chat_end_stops_with_a_clear_state() -> None:
    async def scenario() -> tuple[RecordingEmit, YouTubeListener]:
        async with FakeYouTube([(200, {"pollingIntervalMillis": 10, "offlineAt": stamp(),
                                       "items": [item("last")]})] * 10) as fake:
            sink = RecordingEmit()
            yt = listener(fake)
            await run_until(yt, sink, lambda: yt.state == "failed")
            return sink, yt

    sink, yt = asyncio.run(scenario())
    assert sink.ids == ["last"] and "ended" in yt.last_error


def test_settings_are_declared_for_shows() -> None:
    assert listener_kinds()["youtube"] is YouTubeListener
    record = platform_records()["youtube"]
    assert {"live_chat_id", "video_id", "api_key_env", "token_env", "api_url", "include_history",
            "membership_price", "membership_currency"} <= set(record.fields)
    built = YouTubeListener.from_settings(
        {"live_chat_id": "c", "membership_price": 2.0, "membership_currency": "eur"},
        clock=None, money=RATES)  # type: ignore[arg-type]
    assert isinstance(built, YouTubeListener)
    assert built.prices.membership_currency == "EUR" and built.api_url.startswith("https://")
    assert json.dumps(record.schema())
