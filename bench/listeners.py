"""Listener throughput and ingest latency.

1. Decode throughput per platform, gift path, one core: our decoder against the raw library
   underneath it (the floor: decompression + JSON or protobuf parsing alone).
2. Live ingest: a fake Bilibili room in another process pushes SEND_GIFT packets (brotli, 50 per
   WebSocket message) at `--rate` gifts/s into a real Director running the default show on the
   real clock. Each gift carries its send time; the figure is send → decoded and ledgered
   (`Director.ingest` returned), plus the tick rate, cost and lateness while it happens.

    .venv/bin/python bench/listeners.py                   # ~30 s
    .venv/bin/python bench/listeners.py --rate 5000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import multiprocessing
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import brotli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from director.events import Money  # noqa: E402
from director.listeners import bilibili, douyin, douyin_webhook, kuaishou, twitch, youtube  # noqa: E402
from director.listeners.protowire import encode, parse  # noqa: E402

MONEY = Money(base="CNY", rates={"USD": 7.2})
PER_MESSAGE = 50


# -- 1. decode throughput ---------------------------------------------------------------------
def bili_gift(i: int, sent: float = 0.0) -> dict[str, Any]:
    return {"cmd": "SEND_GIFT", "data": {
        "uid": 100000 + i % 5000, "uname": f"观众{i % 5000}", "giftName": "小心心", "num": 1,
        "price": 100, "coin_type": "gold", "total_coin": 100, "tid": f"{i}@{sent:.6f}",
        "timestamp": 1700000000, "giftId": 30607, "face": "https://i0.hdslb.com/face.jpg",
        "medal_info": {"medal_name": "樱花", "medal_level": 12, "guard_level": 0}}}


def bili_message(start: int, n: int, sent: float = 0.0, *, quality: int = 11) -> bytes:
    """One op-5 brotli packet holding n SEND_GIFT packets (quality 1 keeps the fake room fast;
    decoding costs the same whatever the sender's quality)."""
    packets = b"".join(bilibili.pack_command(bili_gift(start + k, sent)) for k in range(n))
    return bilibili.pack(bilibili.OP_MESSAGE, brotli.compress(packets, quality=quality),
                         ver=bilibili.VER_BROTLI)


def douyin_frame(start: int, n: int) -> bytes:
    messages = []
    for k in range(n):
        i = start + k
        payload = {2: 463, 5: 1, 6: 1, 7: {1: 200000 + i % 5000, 3: f"u{i % 5000}"}, 9: 1,
                   11: i, 15: {5: 463, 10: True, 12: 1, 16: "小心心"}}
        messages.append({1: "WebcastGiftMessage", 2: encode(payload), 3: 10_000_000 + i})
    response = {1: messages, 2: "cursor", 4: 1_700_000_000, 5: "ext", 9: True}
    return encode({1: 1, 2: 1, 6: "gzip", 7: "msg", 8: gzip.compress(encode(response))})


def kuaishou_frame(start: int, n: int) -> bytes:
    gifts = [{1: f"g{start + k}", 2: {1: f"k{(start + k) % 5000}", 2: "老铁"}, 3: 1, 4: 9,
              6: "", 7: 1, 8: 1} for k in range(n)]
    return encode({1: kuaishou.SC_FEED_PUSH, 2: 1, 3: encode({1: "1万", 9: gifts})})


def twitch_message(i: int) -> str:
    return json.dumps({
        "metadata": {"message_id": f"tw-{i}", "message_type": "notification",
                     "message_timestamp": "2026-11-05T10:11:12.123Z",
                     "subscription_type": "channel.cheer", "subscription_version": "1"},
        "payload": {"subscription": {"id": "s", "type": "channel.cheer", "version": "1"},
                    "event": {"broadcaster_user_id": "1", "user_id": str(i % 5000),
                              "user_login": "fan", "user_name": "Fan", "is_anonymous": False,
                              "message": "Cheer100", "bits": 100}}})


def youtube_page(start: int, n: int) -> str:
    items = [{"kind": "youtube#liveChatMessage", "id": f"yt-{start + k}", "snippet": {
        "type": "superStickerEvent", "liveChatId": "c", "authorChannelId": f"UC{k}",
        "publishedAt": "2026-11-05T10:11:12+00:00", "hasDisplayContent": True,
        "superStickerDetails": {"amountMicros": "2000000", "currency": "USD", "tier": 1,
                                "superStickerMetadata": {"altText": "heart"}}},
        "authorDetails": {"channelId": f"UC{k}", "displayName": "Fan", "isChatSponsor": False,
                          "isChatModerator": False, "isChatOwner": False}} for k in range(n)]
    return json.dumps({"nextPageToken": "n", "pollingIntervalMillis": 1000, "items": items})


def webhook_body(start: int, n: int) -> bytes:
    return json.dumps([{"msg_id": f"w{start + k}", "sec_openid": f"o{k}", "nickname": "粉丝",
                        "sec_gift_id": "ROSE", "gift_num": 1, "gift_value": 100,
                        "timestamp": 1} for k in range(n)], ensure_ascii=False).encode()


def rate(fn: Callable[[int], int], seconds: float = 1.5) -> float:
    """Events per second of `fn(i)` (which returns how many events it handled)."""
    events, i = 0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        events += fn(i)
        i += 1
    return events / (time.perf_counter() - start)


def decode_table(seconds: float) -> list[tuple[str, float, float, str]]:
    n = PER_MESSAGE
    bili = [bili_message(j * n, n) for j in range(50)]
    dy = [douyin_frame(j * n, n) for j in range(50)]
    ks = [kuaishou_frame(j * n, n) for j in range(50)]
    tw = [twitch_message(j) for j in range(500)]
    yt = [youtube_page(j * n, n) for j in range(50)]
    wh = [webhook_body(j * n, n) for j in range(50)]
    tw_prices = twitch.Prices(MONEY)
    yt_prices = youtube.Prices(MONEY)

    def bili_ours(i: int) -> int:
        return len(bilibili.decode_web(bili[i % 50], money=MONEY).events)

    def bili_floor(i: int) -> int:
        body = brotli.decompress(bili[i % 50][16:])
        pos = count = 0
        while pos < len(body):
            size = int.from_bytes(body[pos:pos + 4], "big")
            json.loads(body[pos + 16:pos + size])
            pos += size
            count += 1
        return count

    dy_decoder = douyin.DouyinDecoder(money=MONEY)

    def dy_ours(i: int) -> int:
        if i % 50 == 0:
            dy_decoder.combos = douyin.GiftCombos()  # a new pass re-sends the same combos
        return len(dy_decoder.decode(dy[i % 50]).events)

    def dy_floor(i: int) -> int:
        frame = parse(dy[i % 50])
        response = parse(gzip.decompress(frame[8][0]))
        for message in response[1]:
            parse(parse(message)[2][0])
        return len(response[1])

    ks_decoder = kuaishou.KuaishouDecoder(money=MONEY, gift_prices={"9": 1.0})

    def ks_ours(i: int) -> int:
        if i % 50 == 0:
            ks_decoder.combos = type(ks_decoder.combos)()
        return len(ks_decoder.decode(ks[i % 50]).events)

    def ks_floor(i: int) -> int:
        frame = parse(ks[i % 50])
        feed = parse(frame[3][0])
        for gift in feed[9]:
            parse(parse(gift)[2][0]) if isinstance(gift, bytes) else None
        return len(feed[9])

    def tw_ours(i: int) -> int:
        return len(twitch.decode_frame(tw[i % 500], tw_prices).events)

    def tw_floor(i: int) -> int:
        json.loads(tw[i % 500])
        return 1

    def yt_ours(i: int) -> int:
        return len(youtube.decode_page(json.loads(yt[i % 50]), yt_prices).events)

    def yt_floor(i: int) -> int:
        return len(json.loads(yt[i % 50])["items"])

    def wh_ours(i: int) -> int:
        return len(douyin_webhook.decode_push("live_gift", wh[i % 50], money=MONEY).events)

    def wh_floor(i: int) -> int:
        return len(json.loads(wh[i % 50]))

    rows = [
        ("bilibili (brotli, 50/msg)", bili_ours, bili_floor, "brotli + json.loads"),
        ("douyin push (gzip protobuf)", dy_ours, dy_floor, "gzip + protobuf parse"),
        ("kuaishou (protobuf)", ks_ours, ks_floor, "protobuf parse"),
        ("twitch eventsub (cheer)", tw_ours, tw_floor, "json.loads"),
        ("youtube (super sticker page)", yt_ours, yt_floor, "json.loads"),
        ("douyin webhook (JSON)", wh_ours, wh_floor, "json.loads"),
    ]
    return [(name, rate(ours, seconds), rate(floor, seconds), what)
            for name, ours, floor, what in rows]


# -- 2. live ingest ---------------------------------------------------------------------------
def serve(port: int, per_second: int, seconds: float, ready: Any) -> None:
    """The fake Bilibili room (run in its own process)."""
    from aiohttp import web

    sessions = [0]

    async def room(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        sessions[0] += 1
        if sessions[0] > 1:  # one measured session; a reconnect at shutdown gets nothing
            await ws.close()
            return ws
        await ws.receive()  # auth
        await ws.send_bytes(bilibili.pack(bilibili.OP_AUTH_REPLY, json.dumps({"code": 0})))
        interval = PER_MESSAGE / per_second
        start = time.perf_counter()
        sent = 0
        while time.perf_counter() - start < seconds:
            due = start + (sent // PER_MESSAGE) * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await ws.send_bytes(bili_message(sent, PER_MESSAGE, time.time(), quality=1))
            sent += PER_MESSAGE
        await asyncio.sleep(1.0)
        with contextlib.suppress(ConnectionError):
            await ws.close()
        return ws

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/sub", room)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()
        await asyncio.sleep(seconds + 30)

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ingest(per_second: int, seconds: float) -> dict[str, Any]:
    from director.engine import Director
    from director.listeners.base import Backoff
    from director.showfile import load_show
    from director.stats import LatencyStats

    port = free_port()
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=serve, args=(port, per_second, seconds, ready),
                                     daemon=True)
    server.start()
    ready.wait(10)
    show = load_show(ROOT / "shows" / "asmr_night.yaml")
    listener = bilibili.BilibiliListener(room_id=1, url=f"ws://127.0.0.1:{port}/sub",
                                         money=show.money, backoff=Backoff(initial=0.05))
    with tempfile.TemporaryDirectory() as state:
        director = Director(show, state_dir=Path(state), listeners=[listener], reload=False)
        latency = LatencyStats()
        original = director.ingest
        counted = [0]

        def timed_ingest(event: Any) -> bool:
            new = original(event)
            sent = float(event.msg_id.split("@", 1)[1])
            latency.add(max(0.0, time.time() - sent))
            counted[0] += 1
            return new

        director.ingest = timed_ingest  # type: ignore[method-assign]
        wall = time.perf_counter()
        asyncio.run(director.run(duration=seconds + 1.5))
        wall = time.perf_counter() - wall
        report = director.report()
        gifts = sum(1 for e in report["events"] if e["kind"] == "gift")
        director.close()
    server.terminate()
    return {"sent_per_s": per_second, "ingested": counted[0], "ledgered": gifts,
            "malformed": listener.malformed, "ingest_ms": latency.summary_ms(),
            "ticks": report["ticks"], "wall_s": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=5000, help="gifts per second pushed")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the live run")
    parser.add_argument("--decode-seconds", type=float, default=1.5)
    parser.add_argument("--skip-decode", action="store_true")
    args = parser.parse_args()
    if not args.skip_decode:
        print(f"decode throughput, gift path, one core ({PER_MESSAGE} events per frame)")
        print(f"{'platform':32} {'ours ev/s':>11} {'floor ev/s':>11} {'floor/ours':>10}  floor")
        for name, ours, floor, what in decode_table(args.decode_seconds):
            print(f"{name:32} {ours:11,.0f} {floor:11,.0f} {floor / ours:9.2f}x  {what}")
        print()
    print(f"live ingest: {args.rate} gifts/s for {args.seconds:g} s over a real WebSocket into "
          "the default show (real clock)")
    r = ingest(args.rate, args.seconds)
    t = r["ticks"]
    print(f"  gifts ingested {r['ingested']:,} (ledgered {r['ledgered']:,}, malformed "
          f"{r['malformed']})")
    i = r["ingest_ms"]
    print(f"  send -> decoded and ledgered: p50 {i['p50']:.2f} ms  p99 {i['p99']:.2f} ms  "
          f"max {i['max']:.2f} ms")
    print(f"  ticks {t['count']} at {t['rate_hz']:.2f} Hz; tick cost p50 {t['cost_ms']['p50']:.3f}"
          f" p99 {t['cost_ms']['p99']:.3f} ms; lateness p50 {t['lateness_ms']['p50']:.2f} p99 "
          f"{t['lateness_ms']['p99']:.2f} max {t['lateness_ms']['max']:.2f} ms")


if __name__ == "__main__":
    main()
