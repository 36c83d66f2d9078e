"""Every platform at once in one `director run`: five protocols, one ledger, one report.

Local servers speak each platform's protocol over real sockets (Bilibili danmaku, Douyin push,
Kuaishou, Twitch EventSub + Helix, YouTube Data API) and a signed Douyin webhook is posted to the
director's own endpoint. The report must show every event, on its platform, handled by the tree.
Frame builders come from each listener's own test module.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import test_listener_douyin as dy
import test_listener_kuaishou as ks
import test_listener_twitch as tw
import test_listener_youtube as yt
from aiohttp import WSMsgType, web

from director.listeners.bilibili import compress_packets, pack, pack_command
from director.listeners.douyin_webhook import sign

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow

SECRET = "webhook-secret"
SPEED = 10.0  # the show clock runs 10x so every line gets said; the network stays real-time
DURATION_S = 150.0  # of show time: 15 s of real time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Platforms:
    """All the fake platform servers on one aiohttp app, in a thread of their own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.runner: web.AppRunner | None = None
        self.seen: dict[str, int] = {}
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _count(self, what: str) -> None:
        self.seen[what] = self.seen.get(what, 0) + 1

    # -- Bilibili danmaku: auth, then one brotli message holding a danmaku and a gift ----------
    async def bilibili(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        auth = await ws.receive(timeout=5)
        assert auth.type == WSMsgType.BINARY
        self._count("bilibili auth")
        await ws.send_bytes(pack(8, json.dumps({"code": 0})))
        danmu = {"cmd": "DANMU_MSG", "info": [
            [0, 1, 25, 16777215, 1700000000000, 0, 0, "", 0, 0, 0, "", 0, "{}", "{}",
             {"extra": json.dumps({"id_str": "bili-dm-1"})}],
            "晚上好", [2001, "B站观众", 0, 0, 0, 10000, 1, ""], [], [], {}, 0, 0]}
        gift = {"cmd": "SEND_GIFT", "data": {
            "uid": 2002, "uname": "B站大佬", "giftName": "小电视", "num": 1, "price": 100000,
            "coin_type": "gold", "total_coin": 100000, "tid": "bili-gift-1",
            "timestamp": 1700000000}}
        await ws.send_bytes(compress_packets([pack_command(danmu), pack_command(gift)]))
        async for msg in ws:  # heartbeats until the director goes
            if msg.type == WSMsgType.BINARY:
                await ws.send_bytes(pack(3, (1).to_bytes(4, "big")))
        return ws

    # -- Douyin web push: one gzip frame with a chat and a finished gift combo ----------------
    async def douyin(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._count("douyin connect")
        await ws.send_bytes(dy.push([
            dy.chat(9001, 3001, "抖音观众", "主播好"),
            dy.gift(9002, 3002, name="嘉年华", diamonds=30000, repeat=1, group=77, end=True),
        ], need_ack=True))
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                self._count("douyin ack or heartbeat")
        return ws

    # -- Kuaishou: enter room, then a feed with a comment, a like and a gift ------------------
    async def kuaishou(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive(timeout=5)  # enter room
        self._count("kuaishou enter")
        await ws.send_bytes(ks.enter_ack())
        await ws.send_bytes(ks.feed(comments=[ks.comment("ks-c1", "k1", "老铁666")],
                                    likes=[ks.like("ks-l1", "k2")],
                                    gifts=[ks.gift("ks-g1", "k3", 9)]))
        async for _ in ws:
            pass
        return ws

    # -- Twitch EventSub + Helix --------------------------------------------------------------
    async def twitch(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(tw.welcome("session-all"))
        while self.seen.get("twitch subscription", 0) < 6:
            await asyncio.sleep(0.01)
        await ws.send_str(tw.notification("tw-chat-1"))
        await ws.send_str(tw.notification("n-cheer"))
        async for _ in ws:
            pass
        return ws

    async def helix(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._count("twitch subscription")
        return web.json_response({"data": [{"id": "s", "status": "enabled", **body}]},
                                 status=202)

    # -- YouTube: one page with a message and a super chat, then empty pages -----------------
    async def youtube(self, request: web.Request) -> web.Response:
        first = "pageToken" not in request.query
        self._count("youtube poll")
        items = [] if not first else [
            yt.item("yt-msg-1", text="hello from YouTube", published=yt.stamp(30)),
            yt.item("yt-sc-1", "superChatEvent", published=yt.stamp(30), superChatDetails={
                "amountMicros": "5000000", "currency": "USD", "amountDisplayString": "$5.00",
                "userComment": "love the stream", "tier": 2}),
        ]
        return web.json_response({"nextPageToken": "next", "pollingIntervalMillis": 500,
                                  "items": items})

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/bili/sub", self.bilibili)
        app.router.add_get("/douyin/push", self.douyin)
        app.router.add_get("/kuaishou/ws", self.kuaishou)
        app.router.add_get("/twitch/ws", self.twitch)
        app.router.add_post("/helix/eventsub/subscriptions", self.helix)
        app.router.add_get("/youtube/v3/liveChat/messages", self.youtube)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self) -> Platforms:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def show_yaml(port: int, webhook_port: int) -> str:
    base = f"127.0.0.1:{port}"
    return f"""\
name: every platform
persona: {{name: Sakura, languages: [en, zh], topics: [rain]}}
currency: {{base: CNY, rates: {{USD: 7.2}}}}
chat: {{reply_interval_s: 0.5}}
platforms:
  - {{kind: bilibili, room_id: 7734200, url: "ws://{base}/bili/sub"}}
  - {{kind: douyin, url: "ws://{base}/douyin/push"}}
  - {{kind: douyin_webhook, port: {webhook_port}, secret_env: TEST_ALL_DY_SECRET}}
  - kind: kuaishou
    url: "ws://{base}/kuaishou/ws"
    live_stream_id: ks-live
    token_env: TEST_ALL_KS_TOKEN
    gift_prices: {{"9": 100}}
  - kind: twitch
    broadcaster_id: "1"
    url: "ws://{base}/twitch/ws"
    api_url: "http://{base}"
    token_env: TEST_ALL_TW_TOKEN
    client_id_env: TEST_ALL_TW_CLIENT
  - kind: youtube
    live_chat_id: chat1
    api_url: "http://{base}"
    api_key_env: TEST_ALL_YT_KEY
tree:
  priority: show
  children:
    - thank_gifts: thanks
    - reply_chat: replies
    - thank_crowd: crowd
    - idle: idle
"""


def post_webhook(port: int, msg_type: str, items: list[dict[str, Any]]) -> int:
    body = json.dumps(items, ensure_ascii=False).encode()
    headers = {"x-nonce-str": "n", "x-timestamp": "1700000000000", "x-roomid": "1",
               "x-msg-type": msg_type}
    headers["x-signature"] = sign(headers, body, SECRET)
    request = urllib.request.Request(f"http://127.0.0.1:{port}/douyin/webhook", data=body,
                                     headers={**headers, "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return int(response.status)


def test_every_platform_in_one_run(tmp_path: Path) -> None:
    webhook_port = free_port()
    env = {**os.environ, "TEST_ALL_DY_SECRET": SECRET, "TEST_ALL_KS_TOKEN": "ks-token",
           "TEST_ALL_TW_TOKEN": "tw-token", "TEST_ALL_TW_CLIENT": "tw-client",
           "TEST_ALL_YT_KEY": "yt-key"}
    report = tmp_path / "report.json"
    with Platforms() as platforms:
        show = tmp_path / "show.yaml"
        show.write_text(show_yaml(platforms.port, webhook_port), encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-m", "director", "run", str(show), "--headless", "--speed",
             str(SPEED), "--duration", str(DURATION_S), "--state", str(tmp_path / "state"),
             "--report", str(report), "--no-reload"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        while True:  # the webhook endpoint comes up with the show
            try:
                assert post_webhook(webhook_port, "live_comment", dy.COMMENTS) == 200
                assert post_webhook(webhook_port, "live_gift", dy.GIFTS) == 200
                assert post_webhook(webhook_port, "live_gift", dy.GIFTS) == 200  # redelivery
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    proc.kill()
                    raise
                time.sleep(0.1)
        out, _ = proc.communicate(timeout=DURATION_S / SPEED + 30)
    assert proc.returncode == 0, out
    data = json.loads(report.read_text(encoding="utf-8"))
    got: dict[tuple[str, str], int] = {}
    for event in data["events"]:
        key = (event["platform"], event["kind"])
        got[key] = got.get(key, 0) + 1
    expected = {
        ("bilibili", "chat"): 1, ("bilibili", "gift"): 1,
        ("douyin", "chat"): 2, ("douyin", "gift"): 2,  # web push + webhook (redelivery deduped)
        ("kuaishou", "chat"): 1, ("kuaishou", "like"): 1, ("kuaishou", "gift"): 1,
        ("twitch", "chat"): 1, ("twitch", "gift"): 1,
        ("youtube", "chat"): 1, ("youtube", "super_chat"): 1,
    }
    assert got == expected, (got, out[-3000:])
    pending = [e for e in data["events"] if e["outcome"] == "pending"]
    assert not pending, (pending, out[-3000:])
    gifts = {e["msg_id"]: e for e in data["events"] if e["kind"] == "gift"}
    assert all(e["outcome"] in ("thanked", "merged") and e["by"] for e in gifts.values()), gifts
    spoken = " ".join(s["text"] for s in data["speech"])
    for name in ("B站大佬", "Momo", "嘉年华"):
        assert name in spoken, (name, spoken)
    assert platforms.seen.get("douyin ack or heartbeat", 0) >= 1, platforms.seen
    assert platforms.seen.get("youtube poll", 0) >= 3, platforms.seen
