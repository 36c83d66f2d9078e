"""YouTube live chat: polls the Data API's liveChatMessages.list and emits each message once.

The API is a pull API: every response carries the page token for the next call and
`pollingIntervalMillis`, how long to wait before making it. The listener keeps the page token
across reconnects (it stays valid for a while), so a network error costs a retry, not messages;
anything fetched twice is dropped by the ledger (msg_id = the message's id).

The first page of a chat is its recent history. By default (`include_history: false`) items of a
page fetched without a page token that were published before the listener started are skipped, so
a restarted show does not thank yesterday's super chats again. Later pages are never filtered:
they hold only what arrived since the previous call, whatever the two clocks say.

Mapping (decisions, not all dictated by the platform):

- textMessageEvent → Chat; superChatEvent → SuperChat (amountMicros / 1e6 in its currency);
  superStickerEvent → Gift named by the sticker's alt text.
- newSponsorEvent → Membership priced at `membership_price` (the API does not say what a level
  costs; each channel sets its own prices). memberMilestoneChatEvent → Membership with `months`,
  priced the same (the renewal it announces), plus a Chat of the member's comment if there is one,
  so the show can read it out.
- membershipGiftingEvent → Gift "memberships" (count × `membership_price`) from the gifter.
  giftMembershipReceivedEvent → Enter of the new member: the gifter's Gift already carries the
  money and the thanks; a Membership per recipient would count it twice and queue a thank-you for
  each of fifty recipients of one purchase.
- Other types (deletions, bans, polls, chatEndedEvent) carry no event; chatEndedEvent and
  `offlineAt` end the chat.

A missing exchange rate never drops an event: its value is 0 and the currency is named once in the
log with the setting to add. Decoders (`decode_item`, `decode_page`) are pure functions of the
JSON so they can be fuzzed and benchmarked; the listener does the HTTP.

Rejected alternative: liveChatMessages.streamList (server streaming, lower latency, same quota per
call). It is newer, needs a gRPC-style chunked reader, and cannot be exercised against anything
here; polling is documented, simple, and honours the interval YouTube asks for.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp

from director.clock import Clock
from director.events import (
    Chat,
    Enter,
    Event,
    Gift,
    Membership,
    Money,
    SuperChat,
    Viewer,
)
from director.listeners.base import (
    Backoff,
    ConnectionListener,
    Emit,
    FrameError,
    Listener,
    ListenerConfigError,
    Pricing,
)
from director.listeners.base import json_obj as _obj
from director.listeners.base import json_opt_text as _opt_text
from director.listeners.base import json_text as _text
from director.spec import Bool, Duration, Field, Number, Str

PLATFORM = "youtube"
DEFAULT_INTERVAL_S = 5.0  # when a page does not say (the API usually asks for 1-5 s)
MESSAGES_PATH = "/youtube/v3/liveChat/messages"
VIDEOS_PATH = "/youtube/v3/videos"


class Prices(Pricing):
    """Money for the decoders: the show's rates, what a membership costs, unpriced currencies.

    A currency without a rate converts to 0 and is remembered in `unpriced` (the listener names it
    once in the log); the event itself is always emitted.
    """

    def __init__(self, money: Money, *, membership_price: float = 4.99,
                 membership_currency: str = "USD") -> None:
        super().__init__(money)
        self.membership_price = membership_price
        self.membership_currency = membership_currency.upper()

    def memberships(self, count: int) -> float:
        return self.value(count * self.membership_price, self.membership_currency)


# -- decoding (pure) ------------------------------------------------------------------------------

MAX_COUNT = 10**15  # above any real amount (a billion units in micros); keeps floats exact


def _whole(value: Any) -> int | None:
    """A whole number sent as a JSON number or, as Google does for 64-bit fields, a string."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _count(parent: dict[str, Any], key: str, what: str, *, minimum: int = 0) -> int:
    number = _whole(parent.get(key))
    if number is None:
        raise FrameError(f"{what} has no whole number '{key}'")
    if not minimum <= number <= MAX_COUNT:
        raise FrameError(f"{what} '{key}' is out of range")
    return number


def _currency(parent: dict[str, Any], what: str) -> str:
    code = _text(parent, "currency", what)
    if not code.isascii() or not code.isalpha():
        raise FrameError(f"{what} has an invalid currency {code[:16]!r}")
    return code.upper()


def published_at(item: Any) -> float | None:
    """The item's snippet.publishedAt as epoch seconds; None when absent or unreadable."""
    if not isinstance(item, dict):
        return None
    snippet = item.get("snippet")
    stamp = snippet.get("publishedAt") if isinstance(snippet, dict) else None
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    except (ValueError, OverflowError, OSError):  # unreadable or out of the platform's range
        return None


def _viewer(item: dict[str, Any], snippet: dict[str, Any]) -> Viewer:
    author = item.get("authorDetails")
    if isinstance(author, dict):
        channel = author.get("channelId")
        if not isinstance(channel, str) or not channel:
            channel = snippet.get("authorChannelId")
        if not isinstance(channel, str) or not channel:
            raise FrameError("chat item has no author channelId")
        name = _opt_text(author, "displayName") or channel
        return Viewer(platform=PLATFORM, id=channel, name=name,
                      level=1 if author.get("isChatSponsor") is True else 0)
    channel = snippet.get("authorChannelId")
    if not isinstance(channel, str) or not channel:
        raise FrameError("chat item has neither authorDetails nor snippet.authorChannelId")
    return Viewer(platform=PLATFORM, id=channel, name=channel)


def decode_item(item: Any, prices: Prices) -> list[Event]:
    """One liveChatMessage resource → its events (none for types that carry none).

    Raises FrameError when the item lacks what its type needs.
    """
    if not isinstance(item, dict):
        raise FrameError(f"chat item is {type(item).__name__}, not an object")
    msg_id = _text(item, "id", "chat item")
    snippet = _obj(item, "snippet", f"chat item {msg_id}")
    kind = _text(snippet, "type", f"chat item {msg_id} snippet")
    if kind not in DECODERS:
        return []
    viewer = _viewer(item, snippet)
    return DECODERS[kind](msg_id, snippet, viewer, prices)


def _text_message(msg_id: str, snippet: dict[str, Any], viewer: Viewer,
                  prices: Prices) -> list[Event]:
    details = snippet.get("textMessageDetails")
    text = _opt_text(details, "messageText") if isinstance(details, dict) else ""
    text = text or _opt_text(snippet, "displayMessage")
    if not text:
        raise FrameError(f"text message {msg_id} has no text")
    return [Chat(platform=PLATFORM, msg_id=msg_id, viewer=viewer, text=text)]


def _super_chat(msg_id: str, snippet: dict[str, Any], viewer: Viewer,
                prices: Prices) -> list[Event]:
    what = f"super chat {msg_id}"
    details = _obj(snippet, "superChatDetails", what)
    micros = _count(details, "amountMicros", what)
    value = prices.value(micros / 1e6, _currency(details, what))
    return [SuperChat(platform=PLATFORM, msg_id=msg_id, viewer=viewer,
                      text=_opt_text(details, "userComment"), value=value,
                      currency=prices.money.base)]


def _super_sticker(msg_id: str, snippet: dict[str, Any], viewer: Viewer,
                   prices: Prices) -> list[Event]:
    what = f"super sticker {msg_id}"
    details = _obj(snippet, "superStickerDetails", what)
    micros = _count(details, "amountMicros", what)
    value = prices.value(micros / 1e6, _currency(details, what))
    meta = details.get("superStickerMetadata")
    name = (_opt_text(meta, "altText") if isinstance(meta, dict) else "") or "Super Sticker"
    return [Gift(platform=PLATFORM, msg_id=msg_id, viewer=viewer, gift=name, count=1,
                 value=value, currency=prices.money.base)]


def _new_sponsor(msg_id: str, snippet: dict[str, Any], viewer: Viewer,
                 prices: Prices) -> list[Event]:
    member = Viewer(platform=PLATFORM, id=viewer.id, name=viewer.name, level=max(1, viewer.level))
    return [Membership(platform=PLATFORM, msg_id=msg_id, viewer=member, level=1, months=1,
                       value=prices.memberships(1), currency=prices.money.base)]


def _milestone(msg_id: str, snippet: dict[str, Any], viewer: Viewer,
               prices: Prices) -> list[Event]:
    what = f"member milestone {msg_id}"
    details = _obj(snippet, "memberMilestoneChatDetails", what)
    months = _count(details, "memberMonth", what, minimum=1)
    member = Viewer(platform=PLATFORM, id=viewer.id, name=viewer.name, level=max(1, viewer.level))
    events: list[Event] = [
        Membership(platform=PLATFORM, msg_id=msg_id, viewer=member, level=1, months=months,
                   value=prices.memberships(1), currency=prices.money.base)]
    comment = _opt_text(details, "userComment").strip()
    if comment:
        events.append(Chat(platform=PLATFORM, msg_id=f"{msg_id}:comment", viewer=member,
                           text=comment))
    return events


def _gifting(msg_id: str, snippet: dict[str, Any], viewer: Viewer,
             prices: Prices) -> list[Event]:
    what = f"membership gifting {msg_id}"
    details = _obj(snippet, "membershipGiftingDetails", what)
    count = _count(details, "giftMembershipsCount", what, minimum=1)
    return [Gift(platform=PLATFORM, msg_id=msg_id, viewer=viewer, gift="memberships",
                 count=count, value=prices.memberships(count), currency=prices.money.base)]


def _gift_received(msg_id: str, snippet: dict[str, Any], viewer: Viewer,
                   prices: Prices) -> list[Event]:
    member = Viewer(platform=PLATFORM, id=viewer.id, name=viewer.name, level=max(1, viewer.level))
    return [Enter(platform=PLATFORM, msg_id=msg_id, viewer=member)]


DECODERS = {
    "textMessageEvent": _text_message,
    "superChatEvent": _super_chat,
    "superStickerEvent": _super_sticker,
    "newSponsorEvent": _new_sponsor,
    "memberMilestoneChatEvent": _milestone,
    "membershipGiftingEvent": _gifting,
    "giftMembershipReceivedEvent": _gift_received,
}


@dataclass
class Page:
    """One decoded liveChatMessageListResponse."""

    events: list[Event] = field(default_factory=list)
    next_page_token: str | None = None
    interval_s: float = DEFAULT_INTERVAL_S
    ended: bool = False  # offlineAt set or a chatEndedEvent: nothing more will come
    skipped: int = 0  # history items left out
    problems: list[str] = field(default_factory=list)  # one line per item that could not decode


def decode_page(obj: Any, prices: Prices, *, history_before: float | None = None) -> Page:
    """A liveChatMessageListResponse → events, next page token and the wait before the next poll.

    Items published before `history_before` (epoch seconds) are skipped. A bad item is reported
    in `problems` and the rest of the page decodes; FrameError only when the page itself is not
    a response.
    """
    if not isinstance(obj, dict):
        raise FrameError(f"response is {type(obj).__name__}, not an object")
    page = Page()
    token = obj.get("nextPageToken")
    if isinstance(token, str) and token:
        page.next_page_token = token
    interval = obj.get("pollingIntervalMillis")
    millis = _whole(interval) if not isinstance(interval, float) else (
        interval if math.isfinite(interval) else None)
    if millis is not None and millis >= 0:
        page.interval_s = min(millis, 300_000) / 1000.0
    page.ended = isinstance(obj.get("offlineAt"), str)
    items = obj.get("items", [])
    if not isinstance(items, list):
        raise FrameError(f"response 'items' is {type(items).__name__}, not a list")
    for item in items:
        if history_before is not None:
            stamp = published_at(item)
            if stamp is not None and stamp < history_before:
                page.skipped += 1
                continue
        try:
            page.events.extend(decode_item(item, prices))
        except FrameError as exc:
            page.problems.append(str(exc))
            continue
        snippet = item.get("snippet")
        if isinstance(snippet, dict) and snippet.get("type") == "chatEndedEvent":
            page.ended = True
    return page


def api_error(status: int, body: str) -> tuple[str, str]:
    """(reason, message) from a Google API error body; reasons like 'quotaExceeded'."""
    try:
        obj = json.loads(body)
    except ValueError:
        return "", body.strip()[:200]
    error = obj.get("error") if isinstance(obj, dict) else None
    if not isinstance(error, dict):
        return "", ""
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    reason = ""
    errors = error.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0].get("reason")
        reason = first if isinstance(first, str) else ""
    return reason, str(message)


# -- the listener (I/O) ---------------------------------------------------------------------------

class ChatEnded(ListenerConfigError):
    """The live chat is over; polling it again is pointless until the settings name a new one."""


class YouTubeListener(ConnectionListener):
    name = "youtube"
    kind = "youtube"
    doc = ("YouTube live chat through the Data API (liveChatMessages.list polling): chat, super "
           "chats, super stickers, memberships and gifted memberships")
    settings = {
        "live_chat_id": Field(Str(), "the broadcast's live chat id (or give video_id)",
                              default=""),
        "video_id": Field(Str(), "the live video's id; its active live chat is looked up",
                          default=""),
        "api_key_env": Field(Str(non_empty=True), "environment variable holding a Data API key",
                             default="YOUTUBE_API_KEY"),
        "token_env": Field(Str(non_empty=True), "environment variable holding an OAuth access "
                           "token (used instead of the key when it is set)",
                           default="YOUTUBE_TOKEN"),
        "api_url": Field(Str(non_empty=True), "Data API base URL",
                         default="https://www.googleapis.com"),
        "include_history": Field(Bool(), "also emit the chat history the first page returns "
                                 "(items from before the listener started)", default=False),
        "membership_price": Field(Number(minimum=0), "what one membership costs (new, "
                                  "milestone or gifted)", default=4.99),
        "membership_currency": Field(Str(pattern=r"[A-Za-z_]{3,16}"),
                                     "currency of membership_price", default="USD"),
        "min_interval_s": Field(Duration(), "poll no more often than this, even when YouTube "
                                "asks for less (saves quota: each poll costs 5 units)",
                                default=0.0),
    }

    #: seconds an HTTP request may take before the poll counts as failed
    request_timeout_s = 20.0
    #: seconds to wait after a page that could not be read (it gave no interval)
    unreadable_wait_s = DEFAULT_INTERVAL_S

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock, money: Money) -> Listener:
        return cls(
            live_chat_id=str(settings.get("live_chat_id") or ""),
            video_id=str(settings.get("video_id") or ""),
            api_key_env=str(settings.get("api_key_env") or "YOUTUBE_API_KEY"),
            token_env=str(settings.get("token_env") or "YOUTUBE_TOKEN"),
            api_url=str(settings.get("api_url") or "https://www.googleapis.com"),
            include_history=bool(settings.get("include_history", False)),
            membership_price=float(settings.get("membership_price", 4.99)),
            membership_currency=str(settings.get("membership_currency") or "USD"),
            min_interval_s=float(settings.get("min_interval_s") or 0.0),
            money=money,
        )

    def __init__(self, *, live_chat_id: str = "", video_id: str = "",
                 api_key_env: str = "YOUTUBE_API_KEY", token_env: str = "YOUTUBE_TOKEN",
                 api_url: str = "https://www.googleapis.com", include_history: bool = False,
                 membership_price: float = 4.99, membership_currency: str = "USD",
                 min_interval_s: float = 0.0, money: Money | None = None,
                 backoff: Backoff | None = None) -> None:
        super().__init__(backoff=backoff)
        self.live_chat_id = live_chat_id.strip()
        self.video_id = video_id.strip()
        self.api_key_env, self.token_env = api_key_env, token_env
        self.api_url = api_url.rstrip("/")
        self.include_history = include_history
        self.min_interval_s = min_interval_s
        self.prices = Prices(money or Money(), membership_price=membership_price,
                             membership_currency=membership_currency)
        self.page_token: str | None = None  # kept across reconnects: resume where we were
        self.polls = 0
        self.skipped_history = 0
        self._chat_id = self.live_chat_id
        self._started: float | None = None  # wall time of the first session
        self._unpriced_said: set[str] = set()
        self._credential = ""  # the environment variable whose credential is in use

    # -- credentials and requests --
    def _auth(self) -> tuple[dict[str, str], dict[str, str]]:
        token = os.environ.get(self.token_env, "").strip()
        if token:
            self._credential = self.token_env
            return {}, {"Authorization": f"Bearer {token}"}
        key = os.environ.get(self.api_key_env, "").strip()
        if key:
            self._credential = self.api_key_env
            return {"key": key}, {}
        raise ListenerConfigError(
            f"no YouTube credentials: set the environment variable {self.api_key_env} to a Data "
            f"API key (or {self.token_env} to an OAuth access token); the names come from the "
            "api_key_env and token_env settings")

    async def _get(self, http: aiohttp.ClientSession, path: str,
                   params: dict[str, str]) -> Any:
        async with http.get(self.api_url + path, params=params) as resp:
            body = await resp.text()
            if resp.status >= 400:
                raise self._http_error(resp.status, body, path)
        try:
            return json.loads(body)
        except ValueError:
            raise FrameError(f"{path} answered with something that is not JSON: "
                             f"{body[:60]!r}") from None

    def _http_error(self, status: int, body: str, path: str) -> Exception:
        reason, message = api_error(status, body)
        said = f"HTTP {status} {reason}".strip() + (f": {message}" if message else "")
        who = f"live chat {self._chat_id}" if path == MESSAGES_PATH else f"video {self.video_id}"
        if status == 401 and self._credential == self.token_env:
            return ListenerConfigError(
                f"YouTube refused the credentials ({said}): the OAuth token in {self.token_env} "
                f"is invalid or expired; get a new one, or unset it and use an API key in "
                f"{self.api_key_env}")
        if status == 401:
            return ListenerConfigError(
                f"YouTube refused the credentials ({said}): check the API key in "
                f"{self.api_key_env}")
        if reason in ("quotaExceeded", "dailyLimitExceeded"):
            return ListenerConfigError(
                f"YouTube API quota used up ({said}): polling resumes when the daily quota resets "
                "(midnight Pacific time); raise min_interval_s or ask Google for more quota")
        if reason in ("rateLimitExceeded", "userRateLimitExceeded") or status == 429 or \
                status >= 500:
            return ConnectionError(f"YouTube API {said}")
        if reason == "liveChatEnded":
            return ChatEnded(f"{who} has ended ({said}): nothing more will come from it; set "
                             "video_id or live_chat_id for the next stream")
        if reason == "liveChatDisabled":
            return ListenerConfigError(f"{who} has chat disabled ({said}): turn live chat on "
                                       "for the stream")
        if status == 404:
            return ListenerConfigError(
                f"{who} not found ({said}): check the setting (a live_chat_id is not a video "
                "id: give the video's id as video_id and the listener looks the chat up)")
        if status == 400 and self.page_token and path == MESSAGES_PATH:
            self.page_token = None  # an expired page token: start again from the newest page
            return ConnectionError(f"YouTube API rejected the page token ({said})")
        return ListenerConfigError(
            f"YouTube API refused the request for {who} ({said}): check the API key in "
            f"{self.api_key_env} (YouTube Data API v3 enabled for its project) and the ids")

    async def _resolve_chat(self, http: aiohttp.ClientSession, params: dict[str, str]) -> str:
        obj = await self._get(http, VIDEOS_PATH,
                              {**params, "part": "liveStreamingDetails", "id": self.video_id})
        items = obj.get("items") if isinstance(obj, dict) else None
        if not isinstance(items, list) or not items:
            raise ListenerConfigError(f"YouTube has no video {self.video_id!r}: check video_id "
                                      "(the part after watch?v= or /live/ in the stream's URL)")
        details = items[0].get("liveStreamingDetails") if isinstance(items[0], dict) else None
        chat = details.get("activeLiveChatId") if isinstance(details, dict) else None
        if not isinstance(chat, str) or not chat:
            raise ListenerConfigError(
                f"video {self.video_id} has no active live chat (not live yet, already over, "
                "or chat is off); retrying")
        self.log.info("video %s: live chat %s", self.video_id, chat)
        return chat

    def _report_unpriced(self) -> None:
        for currency, problem in sorted(self.prices.unpriced.items()):
            if currency not in self._unpriced_said:
                self._unpriced_said.add(currency)
                self.log.error("%s (YouTube payments in %s count as 0 until then)", problem,
                               currency)

    # -- the session --
    async def session(self, emit: Emit) -> None:
        if not self.live_chat_id and not self.video_id:
            raise ListenerConfigError("youtube needs live_chat_id or video_id in its settings")
        if self._started is None:
            self._started = time.time()
        params, headers = self._auth()
        timeout = aiohttp.ClientTimeout(total=self.request_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout, headers=headers) as http:
            try:
                if not self._chat_id:
                    self._chat_id = await self._resolve_chat(http, params)
                    self.page_token = None
                while True:
                    await asyncio.sleep(await self._poll(http, params, emit))
            except ListenerConfigError:
                if self.video_id:
                    self._chat_id = ""  # the chat id may be stale: look the video up again
                raise

    async def _poll(self, http: aiohttp.ClientSession, params: dict[str, str],
                    emit: Emit) -> float:
        """Fetch and emit one page; returns the seconds to wait before the next poll."""
        query = {**params, "liveChatId": self._chat_id, "part": "snippet,authorDetails"}
        fresh = self.page_token is None
        if not fresh:
            query["pageToken"] = str(self.page_token)
        self.polls += 1
        try:
            obj = await self._get(http, MESSAGES_PATH, query)
            page = decode_page(obj, self.prices, history_before=(
                self._started if fresh and not self.include_history else None))
        except FrameError as exc:
            self.bad_frame(str(exc))
            return max(self.unreadable_wait_s, self.min_interval_s)
        if self.state != "connected":
            self.state = "connected"
            self.log.info("polling YouTube live chat %s", self._chat_id)
        for problem in page.problems:
            self.bad_frame(problem)
        for event in page.events:
            self.deliver(emit, event)
        if len(self.prices.unpriced) > len(self._unpriced_said):
            self._report_unpriced()
        if page.skipped:
            self.skipped_history += page.skipped
            self.log.info("skipped %d chat items from before the listener started "
                          "(include_history: true keeps them)", page.skipped)
        if page.next_page_token:
            self.page_token = page.next_page_token
        if page.ended:
            self.page_token = None
            raise ChatEnded(f"live chat {self._chat_id} has ended (the stream is over); set "
                            "video_id or live_chat_id for the next stream")
        return max(page.interval_s, self.min_interval_s)
