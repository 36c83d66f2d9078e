"""The OBS browser-source sink: a small web server inside the renderer process that streams frames
with their alpha to a page (`renderer/static/browser_source.html`) that OBS's Browser Source loads.

Encoding (measured, see bench/sinks.py): a PNG or WebP with alpha costs ~31-40 ms per 720p frame,
too slow for 30 fps on two cores. Instead each frame is sent as TWO JPEGs in one WebSocket message:
the colour (Pillow encodes the RGBA buffer as "RGBX" straight from numpy, no copy: ~2-3 ms at 720p)
and the alpha as a greyscale JPEG (~1.1 ms). The page decodes both with `createImageBitmap` (off its
main thread) and recombines them into premultiplied RGBA on a transparent canvas: a WebGL shader
where the GL is hardware, a 2D canvas with an SVG luminance-to-alpha filter on software GL (see the
page's header). End to end, 720p at 30 fps reaches the page at 29-30 fps here. Rejected: one
side-by-side JPEG (the same bytes plus a copy into a double-width buffer); raw RGBA (3.7 MB a frame,
110 MB/s at 720p30: the page gets 3-5 fps here; kept as `encoding: raw` for measurements).
Pillow is used over simplejpeg (measured the same speed) and PyAV's mjpeg (needs a YUV conversion).
The alpha JPEG gets 10 more quality points, and the page stretches alpha [8, 247] to [0, 255]: JPEG
ringing otherwise leaves a faint halo (alpha up to ~14) around the avatar and lets the scene show
through its edge (~243).

Flow: `write` only copies the newest frame into a slot (no client connected: nothing at all).
An encoder thread encodes the newest frame (Pillow releases the GIL while encoding) and hands the
message to the server's asyncio loop, which runs on its own thread. Each client may have at most
`MAX_IN_FLIGHT` frames that its page has not acknowledged (3: with 2, a page that takes ~60 ms from
receipt to ack under load tops out below 30 fps); a slow client is sent the newest frame when it
catches up, never a queue of old ones.

Wire format of a frame message (little endian): b"AVF1", u8 encoding (0 jpeg pair, 1 raw RGBA),
u8 0, u16 width, u16 height, u16 0, u32 sequence, f64 show time, u32 length of the colour part,
u32 0 (32 bytes in all), then
the colour part and the alpha part (raw: the whole RGBA buffer, no alpha part).
The page answers each drawn frame with the text "ack".
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import struct
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web
from PIL import Image

from renderer.sinks import DEFAULT_BROWSER_PORT, Frame, FrameSink, SinkUnavailable

log = logging.getLogger("director.sinks")

STATIC = Path(__file__).parent / "static"
PAGE = STATIC / "browser_source.html"
HEADER = struct.Struct("<4sBBHHHIdII")  # 32 bytes
MAGIC = b"AVF1"
ENCODINGS = {"jpeg": 0, "raw": 1}
MAX_IN_FLIGHT = 3


def encode_frame(frame: Frame, *, seq: int, t: float, encoding: str = "jpeg",
                 quality: int = 80) -> bytes:
    """One frame as a browser-source message (see the module docstring for the layout)."""
    height, width = frame.shape[:2]
    if encoding == "raw":
        colour = np.ascontiguousarray(frame).tobytes()
        alpha = b""
    else:
        buf = np.ascontiguousarray(frame)
        out = io.BytesIO()
        Image.frombuffer("RGBX", (width, height), buf, "raw", "RGBX", 0, 1).save(
            out, "JPEG", quality=quality)
        colour = out.getvalue()
        out = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(buf[:, :, 3])).save(
            out, "JPEG", quality=min(100, quality + 10))  # edges matter more than size here
        alpha = out.getvalue()
    header = HEADER.pack(MAGIC, ENCODINGS[encoding], 0, width, height, 0, seq & 0xFFFFFFFF, t,
                         len(colour), 0)
    return b"".join((header, colour, alpha))


def decode_frame(message: bytes) -> tuple[dict[str, Any], Frame]:
    """Inverse of `encode_frame` (for tests and tools): header fields and the RGBA frame."""
    magic, enc, _, width, height, _, seq, t, n, _ = HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ValueError(f"not a browser-source frame (magic {magic!r})")
    body = message[HEADER.size:]
    if enc == ENCODINGS["raw"]:
        frame = np.frombuffer(body, np.uint8).reshape(height, width, 4).copy()
    else:
        colour = np.asarray(Image.open(io.BytesIO(body[:n])).convert("RGB"))
        alpha = np.asarray(Image.open(io.BytesIO(body[n:])).convert("L"))
        frame = np.dstack([colour, alpha])
    info = {"encoding": "raw" if enc else "jpeg", "width": width, "height": height, "seq": seq,
            "t": t}
    return info, frame


class _Client:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.sent_seq = -1
        self.in_flight = 0
        self.wake = asyncio.Event()


class BrowserSource(FrameSink):
    """Serves the browser-source page at `url` and streams frames with alpha to it."""

    name = "browser source"

    def __init__(self, *, host: str = "127.0.0.1", port: int = DEFAULT_BROWSER_PORT,
                 encoding: str = "jpeg", quality: int = 80) -> None:
        super().__init__()
        if encoding not in ENCODINGS:
            raise ValueError(f"browser_source.encoding: {encoding!r} is not one of "
                             f"{sorted(ENCODINGS)}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"browser_source.port: {port!r} is not a port number (0-65535; 0 "
                             f"picks a free one)")
        if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 100:
            raise ValueError(f"browser_source.quality: {quality} is not in 1..100")
        self.host = host
        self.port = port
        self.encoding = encoding
        self.quality = quality
        self.encoded = 0  # frames encoded (only while a client is connected)
        self.encode_s = 0.0  # seconds spent encoding, for the bench
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._server_thread: threading.Thread | None = None
        self._encoder_thread: threading.Thread | None = None
        self._slot_lock = threading.Condition()
        self._slot: tuple[Frame, float] | None = None
        self._stopping = False
        self._clients: set[_Client] = set()
        self._n_clients = 0  # read by the render thread without the loop
        self._latest: bytes | None = None
        self._latest_seq = -1
        self._seq = 0

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    @property
    def clients(self) -> int:
        return self._n_clients

    # -- FrameSink hooks ---------------------------------------------------------------------
    def _open(self) -> None:
        if not PAGE.is_file():
            raise SinkUnavailable(f"browser source: page {PAGE} is missing (reinstall director)")
        started = threading.Event()
        problem: list[BaseException] = []
        self._stopping = False

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_server())
            except BaseException as exc:  # the port is taken, the host is wrong, ...
                problem.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._stop_server())
                loop.close()

        self._server_thread = threading.Thread(target=serve, name="browser-source", daemon=True)
        self._server_thread.start()
        started.wait(10)
        if problem or not started.is_set():
            reason = _describe(problem[0]) if problem else "the server did not start in 10 s"
            raise SinkUnavailable(
                f"browser source: cannot listen on {self.host}:{self.port} ({reason}); set "
                f"browser_source.port to a free port (0 picks one)")
        self._encoder_thread = threading.Thread(target=self._encode_loop, name="browser-encoder",
                                                daemon=True)
        self._encoder_thread.start()
        log.info("browser source at %s (OBS: add a Browser source with this URL, %dx%d)",
                 self.url, self.width, self.height)

    def _write(self, frame: Frame, t: float) -> None:
        if self._n_clients == 0:
            return
        if frame.shape != (self.height, self.width, 4) or frame.dtype != np.uint8:
            raise ValueError(f"frame {frame.shape} {frame.dtype} is not "
                             f"({self.height}, {self.width}, 4) uint8")
        copy = frame.copy()
        with self._slot_lock:
            self._slot = (copy, t)  # an unencoded older frame is simply replaced
            self._slot_lock.notify()

    def _close(self) -> None:
        with self._slot_lock:
            self._stopping = True
            self._slot_lock.notify()
        if self._encoder_thread is not None:
            self._encoder_thread.join(5)
        if self._loop is not None and self._server_thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop already stopped
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._server_thread.join(5)
        self._loop = None

    def stats(self) -> dict[str, object]:
        return {**super().stats(), "url": self.url, "clients": self._n_clients,
                "encoded": self.encoded,
                "encode_ms": round(1000 * self.encode_s / max(1, self.encoded), 2)}

    # -- encoder thread ----------------------------------------------------------------------
    def _encode_loop(self) -> None:
        while True:
            with self._slot_lock:
                while self._slot is None and not self._stopping:
                    self._slot_lock.wait()
                if self._stopping:
                    return
                assert self._slot is not None
                frame, t = self._slot
                self._slot = None
            start = time.perf_counter()
            try:
                message = encode_frame(frame, seq=self._seq, t=t, encoding=self.encoding,
                                       quality=self.quality)
            except Exception as exc:  # keep serving; the next frame may encode
                log.warning("browser source: encoding failed: %s", _describe(exc))
                continue
            self.encode_s += time.perf_counter() - start
            self.encoded += 1
            seq = self._seq
            self._seq += 1
            loop = self._loop
            if loop is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._publish, message, seq)

    # -- server loop -------------------------------------------------------------------------
    def _publish(self, message: bytes, seq: int) -> None:
        self._latest, self._latest_seq = message, seq
        for client in self._clients:
            client.wake.set()

    async def _start_server(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/frames", self._frames)
        app.router.add_get("/status", self._status)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        server = site._server
        if self.port == 0 and server is not None:
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    async def _stop_server(self) -> None:
        for client in list(self._clients):
            with contextlib.suppress(Exception):
                await client.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _page(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(PAGE, headers={"Cache-Control": "no-store"})

    async def _status(self, _request: web.Request) -> web.StreamResponse:
        return web.json_response({**self.stats(), "width": self.width, "height": self.height,
                                  "fps": self.fps})

    async def _frames(self, request: web.Request) -> web.StreamResponse:
        # no permessage-deflate: JPEG does not shrink, and deflating every frame cost the loop
        # more than the encoding (and raw RGBA far more)
        ws = web.WebSocketResponse(heartbeat=10, max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        client = _Client(ws)
        self._clients.add(client)
        self._n_clients = len(self._clients)
        log.info("browser source: a page connected (%d now)", self._n_clients)
        client.wake.set()  # show the newest frame at once, even while the show is paused
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and msg.data == "ack":
                    client.in_flight = max(0, client.in_flight - 1)
                    client.wake.set()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self._clients.discard(client)
            self._n_clients = len(self._clients)
            log.info("browser source: a page disconnected (%d left)", self._n_clients)
        return ws

    async def _send_loop(self, client: _Client) -> None:
        while not client.ws.closed:
            await client.wake.wait()
            client.wake.clear()
            if client.in_flight >= MAX_IN_FLIGHT or self._latest_seq <= client.sent_seq:
                continue
            message, seq = self._latest, self._latest_seq
            assert message is not None
            client.sent_seq = seq
            client.in_flight += 1
            try:
                await client.ws.send_bytes(message)
            except Exception:  # the page went away mid-frame; its handler cleans up
                return


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
