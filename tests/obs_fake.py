"""A small fake obs-websocket v5 server, for what real OBS will not do on demand.

Refusing a password (close 4009), dropping a connection, answering slowly, restarting mid-show.
It runs aiohttp on its own event loop in a thread, because the client under test (obsws-python)
is synchronous. It keeps the state a show changes: the program scene, input settings and which
scene items are enabled, and a log of every request.

Protocol notes: obsws-python's ReqClient takes the next frame as the reply, so this server sends
no events (the client identifies with eventSubscriptions 0) and echoes each requestId.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import socket
import threading
import time
from typing import Any

from aiohttp import WSMsgType, web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def auth_string(password: str, salt: str, challenge: str) -> str:
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest())
    return base64.b64encode(hashlib.sha256(secret + challenge.encode()).digest()).decode()


class FakeObs:
    """obs-websocket v5 on 127.0.0.1:`port`, with scenes, inputs and scene items."""

    def __init__(self, *, password: str | None = "secret", port: int | None = None,
                 scenes: dict[str, list[str]] | None = None,
                 inputs: dict[str, dict[str, Any]] | None = None) -> None:
        self.password = password
        self.port = port or free_port()
        self.scenes = scenes if scenes is not None else {"Main": ["Subtitles", "Petals"],
                                                         "ASMR": []}
        self.inputs = inputs if inputs is not None else {"Subtitles": {"text": ""},
                                                         "Petals": {}}
        self.program = next(iter(self.scenes), "")
        self.enabled: dict[tuple[str, int], bool] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.delay: dict[str, float] = {}  # request type -> seconds before answering
        self.drop_on: set[str] = set()  # request types that make the server drop the connection
        self.virtualcam_code = 604  # no v4l2loopback, as on a stock Linux box
        self.streaming = False
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._sockets: set[web.WebSocketResponse] = set()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeObs:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True, name="fake-obs")
        self._thread.start()
        ready.wait(5)
        return self

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._ws)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    def stop(self) -> None:
        """Quit as OBS does: close every connection, stop listening."""
        if self._loop is None:
            return
        loop = self._loop

        async def down() -> None:
            for ws in list(self._sockets):
                await ws.close(code=1001)
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(down(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        self._loop = None

    def restart(self, *, down_for: float = 0.5, program: str | None = None) -> None:
        """OBS restarts: connections drop, the port is closed a while, the program scene resets."""
        self.stop()
        time.sleep(down_for)
        self.program = program if program is not None else next(iter(self.scenes), "")
        self.start()

    def wait_for(self, predicate: Any, timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.02)
        return bool(predicate())

    def sent(self, request_type: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.requests if kind == request_type]

    # -- protocol -------------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("obswebsocket.json",))
        await ws.prepare(request)
        self._sockets.add(ws)
        self.connections += 1
        try:
            hello: dict[str, Any] = {"obsWebSocketVersion": "5.1.0", "rpcVersion": 1}
            salt, challenge = "c2FsdA==", f"challenge-{self.connections}"
            if self.password is not None:
                hello["authentication"] = {"challenge": challenge, "salt": salt}
            await ws.send_str(json.dumps({"op": 0, "d": hello}))
            msg = await ws.receive()
            if msg.type != WSMsgType.TEXT:
                return ws
            identify = json.loads(msg.data)
            if self.password is not None and identify["d"].get("authentication") != auth_string(
                    self.password, salt, challenge):
                await ws.close(code=4009, message=b"Authentication failed.")
                return ws
            await ws.send_str(json.dumps({"op": 2, "d": {"negotiatedRpcVersion": 1}}))
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                frame = json.loads(msg.data)
                if frame.get("op") != 6:
                    continue
                d = frame["d"]
                kind, data = d["requestType"], d.get("requestData") or {}
                self.requests.append((kind, data))
                if kind in self.drop_on:
                    await ws.close(code=1006)
                    break
                if self.delay.get(kind):
                    await asyncio.sleep(self.delay[kind])
                code, out = self._handle(kind, data)
                reply: dict[str, Any] = {
                    "requestType": kind, "requestId": d["requestId"],
                    "requestStatus": {"result": code == 100, "code": code}}
                if code != 100:
                    reply["requestStatus"]["comment"] = out.get("comment", "")
                elif out:
                    reply["responseData"] = out
                if not ws.closed:
                    await ws.send_str(json.dumps({"op": 7, "d": reply}))
        finally:
            self._sockets.discard(ws)
        return ws

    def _handle(self, kind: str, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        def missing(what: str) -> tuple[int, dict[str, Any]]:
            return 600, {"comment": f"No source was found by the name of `{what}`."}

        if kind == "GetVersion":
            return 100, {"obsVersion": "29.0.2-fake", "obsWebSocketVersion": "5.1.0"}
        if kind == "GetSceneList":  # OBS lists scenes bottom-up
            return 100, {"currentProgramSceneName": self.program,
                         "scenes": [{"sceneName": n, "sceneIndex": i}
                                    for i, n in reversed(list(enumerate(self.scenes)))]}
        if kind == "GetInputList":
            return 100, {"inputs": [{"inputName": n, "inputKind": "fake"} for n in self.inputs]}
        if kind == "GetCurrentProgramScene":
            return 100, {"currentProgramSceneName": self.program}
        if kind == "SetCurrentProgramScene":
            if data["sceneName"] not in self.scenes:
                return missing(data["sceneName"])
            self.program = data["sceneName"]
            return 100, {}
        if kind in ("SetInputSettings", "GetInputSettings"):
            name = data["inputName"]
            if name not in self.inputs:
                return missing(name)
            if kind == "GetInputSettings":
                return 100, {"inputSettings": dict(self.inputs[name]), "inputKind": "fake"}
            self.inputs[name].update(data["inputSettings"])
            return 100, {}
        if kind == "GetSceneItemId":
            items = self.scenes.get(data["sceneName"])
            if items is None or data["sourceName"] not in items:
                return missing(data["sourceName"])
            return 100, {"sceneItemId": items.index(data["sourceName"]) + 1}
        if kind in ("SetSceneItemEnabled", "GetSceneItemEnabled"):
            key = (data["sceneName"], int(data["sceneItemId"]))
            if kind == "SetSceneItemEnabled":
                self.enabled[key] = bool(data["sceneItemEnabled"])
                return 100, {}
            return 100, {"sceneItemEnabled": self.enabled.get(key, False)}
        if kind == "GetVirtualCamStatus":
            return 100, {"outputActive": False}
        if kind == "StartVirtualCam":
            return self.virtualcam_code, {}
        if kind == "GetStreamStatus":
            return 100, {"outputActive": self.streaming}
        if kind in ("StartStream", "StopStream"):
            self.streaming = kind == "StartStream"
            return 100, {}
        return 204, {"comment": f"unknown request {kind}"}
