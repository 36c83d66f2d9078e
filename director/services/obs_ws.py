"""The real OBS client: obs-websocket v5 through obsws-python, in one worker thread.

obsws-python is synchronous (a blocking websocket, and the next frame is taken as the reply), so it
never runs on the show's event loop: the show's calls only record what it wants and wake the
worker. The worker keeps one slot per thing that has a latest value (the program scene, the
subtitle, each text source) and a short queue of effects, so a show that switches scenes while OBS
is restarting sends only the last scene once OBS is back, and a subtitle older than
`STALE_SECONDS` is never sent. Rejected: one asyncio client on the show's loop (obsws-python would
block a 30 Hz tick on a slow OBS) and an unbounded request queue (a restart would replay minutes
of stale scene switches).

OBS being absent, refusing the password or restarting never raises into the show: the worker
connects in the background, retries with backoff, and reports `connected`, `last_error` and
`problems` (show names OBS does not have, with did-you-mean) for the viewer.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlparse

from director.services.obs import Obs, OfflineObs
from director.spec import did_you_mean

log = logging.getLogger("director.obs")
# obsws-python logs a full traceback for every refused connection; the worker reports each
# failure once itself, so its logger is kept quiet while OBS is away.
logging.getLogger("obsws_python").setLevel(logging.CRITICAL)

STALE_SECONDS = 10.0
BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
HEARTBEAT_SECONDS = 2.0


class Requester(Protocol):
    """What the worker needs of an obs-websocket client (obsws_python.ReqClient)."""

    def send(self, param: str, data: dict[str, Any] | None = None, raw: bool = False) -> Any: ...
    def disconnect(self) -> None: ...


def obs_settings(obs: Mapping[str, Any], env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The show's `obs:` section with DIRECTOR_OBS_URL / DIRECTOR_OBS_PASSWORD applied."""
    env = os.environ if env is None else env
    out = dict(obs)
    url = env.get("DIRECTOR_OBS_URL", "")
    if url:
        parsed = urlparse(url if "//" in url else f"ws://{url}")
        out["host"] = parsed.hostname or out.get("host", "127.0.0.1")
        out["port"] = parsed.port or out.get("port", 4455)
        out["enabled"] = True
    password = env.get("DIRECTOR_OBS_PASSWORD") or env.get(str(obs.get("password_env", "")), "")
    out["password"] = password
    return out


def make_obs(obs: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Obs:
    """The real client when the show enables OBS (or DIRECTOR_OBS_URL is set), else offline."""
    settings = obs_settings(obs, env)
    if not settings.get("enabled"):
        return OfflineObs()
    return ObsWebSocket(settings=settings)


def _connect_obsws(host: str, port: int, password: str, timeout: float) -> Requester:
    import obsws_python  # type: ignore[import-untyped]

    client: Requester = obsws_python.ReqClient(host=host, port=port, password=password,
                                               timeout=timeout)
    return client


def _describe(exc: BaseException) -> str:
    """A failure as a streamer reads it."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, ConnectionRefusedError):
        return "OBS is not running, or its WebSocket server is off (Tools > WebSocket Server)"
    if "identify" in text or "no password" in text:
        return ("OBS refused the password: set it in the environment variable named by "
                "obs.password_env (or DIRECTOR_OBS_PASSWORD)")
    if "Timeout" in type(exc).__name__ or "timed out" in text:
        return f"OBS did not answer in time ({text})"
    return f"{type(exc).__name__}: {text}"


class ObsWebSocket(Obs):
    """Drives OBS over obs-websocket v5; every call from the show returns at once."""

    def __init__(self, *, settings: Mapping[str, Any], timeout: float = 3.0,
                 connect: Callable[[], Requester] | None = None) -> None:
        super().__init__()
        self.settings = dict(settings)
        self.host = str(settings.get("host", "127.0.0.1"))
        self.port = int(settings.get("port", 4455))
        self.timeout = timeout
        self._connect = connect or (lambda: _connect_obsws(
            self.host, self.port, str(self.settings.get("password", "")), self.timeout))
        self.effects: dict[str, dict[str, Any]] = dict(settings.get("effects") or {})
        self.connected = False
        self.last_error = ""
        self.sent = 0
        self.dropped = 0
        self.version = ""
        self.last_code = 0
        self._last_sent = 0.0
        self._cond = threading.Condition()
        self._slots: dict[str, tuple[float, str, dict[str, Any]]] = {}  # latest-wins requests
        self._effects: deque[tuple[float, str]] = deque(maxlen=32)
        self._hide: list[tuple[float, str, str]] = []  # (monotonic due, scene, source)
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closing = False
        self._client: Requester | None = None
        self._item_ids: dict[tuple[str, str], int] = {}
        self._streaming_started = False

    # -- the show's side (never blocks) ---------------------------------------------------------
    def start(self) -> None:
        with self._cond:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._run, name="obs-websocket",
                                                daemon=True)
                self._thread.start()

    def close(self, wait: float = 5.0) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None:
            thread.join(wait)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(wait)

    def _want(self, slot: str, request: str, data: dict[str, Any]) -> None:
        with self._cond:
            self._slots[slot] = (time.monotonic(), request, data)
            self._cond.notify_all()
        self.start()

    def switch_scene(self, scene: str, now: float) -> None:
        if scene and scene != self.scene:
            super().switch_scene(scene, now)
            self._want("scene", "SetCurrentProgramScene", {"sceneName": scene})

    def set_subtitle(self, text: str, now: float) -> None:
        if text == self.subtitle:
            return
        super().set_subtitle(text, now)
        source = str(self.settings.get("subtitles") or "")
        if source:
            self._want("subtitle", "SetInputSettings",
                       {"inputName": source, "inputSettings": {"text": text}, "overlay": True})

    def set_text(self, source: str, text: str, now: float) -> None:
        super().set_text(source, text, now)
        self._want(f"text:{source}", "SetInputSettings",
                   {"inputName": source, "inputSettings": {"text": text}, "overlay": True})

    def show_effect(self, effect: str, now: float) -> None:
        super().show_effect(effect, now)
        if effect not in self.effects:
            self._problem(f"effect '{effect}' is not under obs.effects",
                          did_you_mean(effect, self.effects))
            return
        with self._cond:
            self._effects.append((time.monotonic(), effect))
            self._cond.notify_all()
        self.start()

    def _problem(self, what: str, hint: str) -> None:
        message = f"{what}" + (f" ({hint})" if hint else "")
        if message not in self.problems:
            self.problems.append(message)
            log.warning("OBS: %s", message)

    def state(self) -> dict[str, object]:
        out = super().state()
        out.update(url=f"ws://{self.host}:{self.port}", sent=self.sent, dropped=self.dropped,
                   version=self.version)
        return out

    # -- the worker -------------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._disconnect()

    def _loop(self) -> None:
        backoff = BACKOFF_START
        while not self._stopping:
            if self._client is None:
                if self._closing:
                    return
                if not self._try_connect():
                    with self._cond:
                        self._cond.wait(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                backoff = BACKOFF_START
            job = self._next_job()
            if job is None:
                if self._closing:
                    self._at_show_end()
                    return
                if time.monotonic() - self._last_sent < HEARTBEAT_SECONDS:
                    continue
                # an idle socket does not notice OBS quitting: ask something cheap
                job = lambda: self._request("GetVersion")  # noqa: E731
            try:
                job()
            except Exception as exc:
                self._lost(exc)

    def _next_job(self) -> Callable[[], None] | None:
        """The next thing to send, waiting a little for one; stale requests are dropped here."""
        with self._cond:
            if not (self._slots or self._effects or self._due_hide() or self._closing):
                self._cond.wait(self._wait_time())
            now = time.monotonic()
            due = self._due_hide()
            if due is not None:
                self._hide.remove(due)
                return lambda: self._set_enabled(due[1], due[2], False)
            for slot in list(self._slots):
                at, request, data = self._slots.pop(slot)
                if now - at > STALE_SECONDS and slot != "scene":
                    self.dropped += 1
                    continue
                return lambda: self._send_slot(slot, at, request, data)
            while self._effects:
                at, effect = self._effects.popleft()
                if now - at > STALE_SECONDS:
                    self.dropped += 1
                    continue
                return lambda: self._show(effect)
        return None

    def _due_hide(self) -> tuple[float, str, str] | None:
        # at show end, effects still showing are hidden at once
        now = float("inf") if self._closing else time.monotonic()
        return min((h for h in self._hide if h[0] <= now), default=None)

    def _wait_time(self) -> float:
        if not self._hide:
            return 0.5
        return max(0.0, min(min(h[0] for h in self._hide) - time.monotonic(), 0.5))

    def _send_slot(self, slot: str, at: float, request: str, data: dict[str, Any]) -> None:
        try:
            self._request(request, data)
        except Exception:
            with self._cond:  # OBS went away mid-request: resend once back, unless superseded
                self._slots.setdefault(slot, (at, request, data))
            raise

    def _show(self, effect: str) -> None:
        spec = self.effects[effect]
        scene, source = str(spec["scene"]), str(spec["source"])
        self._set_enabled(scene, source, True)
        with self._cond:
            self._hide.append((time.monotonic() + float(spec.get("seconds", 4.0)), scene, source))

    def _set_enabled(self, scene: str, source: str, enabled: bool) -> None:
        key = (scene, source)
        if key not in self._item_ids:
            reply = self._request("GetSceneItemId", {"sceneName": scene, "sourceName": source})
            if reply is None:
                return
            self._item_ids[key] = int(reply["sceneItemId"])
        self._request("SetSceneItemEnabled", {
            "sceneName": scene, "sceneItemId": self._item_ids[key], "sceneItemEnabled": enabled})

    def _request(self, request: str, data: dict[str, Any] | None = None) -> Any:
        """Send one request. OBS saying no (unknown name, wrong state) is reported and returns
        None; a broken connection raises so the worker reconnects.
        """
        from obsws_python.error import OBSSDKRequestError  # type: ignore[import-untyped]

        client = self._client
        if client is None:
            raise ConnectionError("not connected")
        try:
            reply = client.send(request, data, raw=True)
        except OBSSDKRequestError as exc:
            self.last_code = int(exc.code)
            self.last_error = f"{request} {data or ''}: OBS answered {exc.code} ({exc})"
            log.warning("OBS: %s", self.last_error)
            return None
        self.sent += 1
        self._last_sent = time.monotonic()
        return reply if reply is not None else {}

    def _try_connect(self) -> bool:
        try:
            self._client = self._connect()
        except Exception as exc:
            error = _describe(exc)
            if error != self.last_error:
                log.warning("OBS at ws://%s:%d: %s; retrying in the background",
                            self.host, self.port, error)
            self.last_error = error
            return False
        try:
            self._on_connect()
        except Exception as exc:
            self._lost(exc)
            return False
        return True

    def _on_connect(self) -> None:
        self._item_ids.clear()
        version = self._request("GetVersion") or {}
        self.version = str(version.get("obsVersion", ""))
        self.connected = True
        self.last_error = ""
        log.info("OBS %s connected at ws://%s:%d", self.version, self.host, self.port)
        self._check_names()
        if self.scene:  # after an OBS restart, put the show's scene back
            with self._cond:
                self._slots.setdefault("scene", (time.monotonic(), "SetCurrentProgramScene",
                                                 {"sceneName": self.scene}))
        if self.settings.get("virtual_camera"):
            status = self._request("GetVirtualCamStatus") or {}
            if not status.get("outputActive") and self._request("StartVirtualCam") is None:
                self.last_error = (f"the virtual camera did not start (OBS answered "
                                   f"{self.last_code}; on Linux it needs the v4l2loopback "
                                   "kernel module)")
                log.warning("OBS: %s", self.last_error)
        if self.settings.get("start_streaming") and not self._streaming_started:
            status = self._request("GetStreamStatus") or {}
            if not status.get("outputActive") and self._request("StartStream") is not None:
                self._streaming_started = True

    def _check_names(self) -> None:
        """Report show names that OBS does not have, against OBS's own lists."""
        scenes = [s["sceneName"] for s in (self._request("GetSceneList") or {}).get("scenes", [])]
        inputs = [i["inputName"] for i in (self._request("GetInputList") or {}).get("inputs", [])]
        wanted_scenes = {f"obs.scenes.{k}": v for k, v in
                         (self.settings.get("scenes") or {}).items() if v}
        wanted_inputs = {f"obs.{k}": self.settings.get(k) for k in ("subtitles", "banner")
                         if self.settings.get(k)}
        for name, spec in self.effects.items():
            wanted_scenes[f"obs.effects.{name}.scene"] = spec["scene"]
            wanted_inputs[f"obs.effects.{name}.source"] = spec["source"]
        for where, scene in wanted_scenes.items():
            if scene not in scenes:
                self._problem(f"{where}: OBS has no scene '{scene}'", did_you_mean(scene, scenes))
        sources = inputs + scenes  # a scene can be nested as a source
        for where, source in wanted_inputs.items():
            if source not in sources:
                self._problem(f"{where}: OBS has no source '{source}'",
                              did_you_mean(str(source), sources))

    def _at_show_end(self) -> None:
        if self._streaming_started:
            try:
                self._request("StopStream")
            except Exception as exc:
                self._lost(exc)
            self._streaming_started = False

    def _lost(self, exc: BaseException) -> None:
        self.last_error = _describe(exc)
        if self.connected:
            log.warning("OBS connection lost: %s; reconnecting in the background", self.last_error)
        self._disconnect()

    def _disconnect(self) -> None:
        self.connected = False
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
            except Exception:
                log.debug("OBS disconnect failed", exc_info=True)
