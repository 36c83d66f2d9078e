"""The director: takes events in, keeps the blackboard fresh, ticks the tree at 30 Hz.

One asyncio loop runs the listeners and the tick timer. Each tick:

1. (simulated clock) advance show time one period and let woken listeners emit;
2. `refresh()` writes the built-in blackboard keys from the queues;
3. `tree.tick()` (timed: the report's tick cost);
4. detached work is polled, segment interruptions get the path of the node that took over, the
   ledger's run clock is saved about once a second, and the show file is checked for edits.

Ticks are scheduled on absolute times (start + n × period), so one late tick does not push the
rest back; lateness is measured against that schedule. With `speed` > 1 the show clock is a
`SimClock` moved one period per tick and ticks are paced at period / speed of real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
import py_trees
from py_trees.common import Status

from director.blackboard import Blackboard
from director.builder import build_tree, path_of
from director.chat import ChatPool
from director.clock import Clock, RealClock, SimClock
from director.context import CrowdQueue, ShowContext
from director.errors import ShowErrors
from director.events import Event
from director.gifts import GiftQueue
from director.ledger import Ledger
from director.listeners import listener_kinds
from director.listeners.base import Listener
from director.listeners.sim import SimListener
from director.memory import ViewerMemory
from director.moderation import Moderator
from director.reload import Swap, apply_swaps, plan_swaps
from director.report import build_report
from director.segments import SegmentBook
from director.services.audio import MOUTH_FULL_RMS, DeviceSink, Mixer, WavSink
from director.services.avatar import Avatar
from director.services.dialogue import TemplateResponder
from director.services.llm import build_dialogue
from director.services.obs_ws import make_obs
from director.services.stage import Stage
from director.services.tts import TtsVoice, VoiceProfileError, build_tts_voice
from director.services.voice import SubtitlesVoice, Voice
from director.showfile import Show, load_show
from director.stats import LatencyStats

if TYPE_CHECKING:
    from renderer.process import RendererProcess

log = logging.getLogger("director")

TICK_HZ = 30.0
GIFT_KINDS = frozenset({"gift", "membership"})
CHAT_KINDS = frozenset({"chat", "super_chat", "speech"})
CROWD_KINDS = frozenset({"follow", "enter", "like"})


def default_state_dir(show_path: Path) -> Path:
    """A per-show folder under the user's data dir, stable for the same show file."""
    digest = hashlib.blake2b(str(show_path.resolve()).encode(), digest_size=4).hexdigest()
    return Path(platformdirs.user_data_dir("director")) / "shows" / f"{show_path.stem}-{digest}"


class Director:
    """One show running on one state directory."""

    def __init__(self, show: Show, *, state_dir: Path, speed: float = 1.0,
                 events_file: Path | None = None, seed: int = 7,
                 listeners: list[Listener] | None = None, reload: bool = True,
                 voice_profile: Path | None = None, audio_out: Path | None = None,
                 headless: bool = True, avatar: str | None = None, fps: float | None = None,
                 record_video: Path | None = None) -> None:
        self.show = show
        self.speed = speed
        self.period = 1.0 / TICK_HZ
        self.ledger = Ledger.open(state_dir)
        self.run_number, offset = self.ledger.start_run(show.name)
        self.offset = offset
        self.clock: Clock = RealClock(offset=offset) if speed == 1.0 else SimClock(offset=offset)
        self.rng = random.Random(seed + self.run_number)
        self.bb = Blackboard(show.keys)
        # the program mix along the show clock; second 0 of --audio-out is this run's start
        self.audio = Mixer(origin=offset)
        self.audio_out = audio_out
        self.headless = headless
        self._device: DeviceSink | None = None
        self.renderer = self._make_renderer(avatar, fps, record_video)
        self.renderer_status: dict[str, Any] = {}
        self.stage = Stage(
            voice=self._make_voice(voice_profile),
            dialogue=TemplateResponder(show.persona, self.rng),
            avatar=Avatar(renderer=self.renderer),
            obs=make_obs(show.obs), audio=self.audio)
        self.ctx = ShowContext(
            show=show, clock=self.clock, bb=self.bb, ledger=self.ledger, stage=self.stage,
            gifts=GiftQueue(show.gifts, show.tier_of), chat=ChatPool(show.chat),
            crowd=CrowdQueue(), segments=SegmentBook(show.segments, self.ledger), rng=self.rng)
        # facts are only taken from text the show's moderator lets through
        self.memory = ViewerMemory(
            ledger=self.ledger, clock=self.clock,
            allow_fact=lambda text, name: self.ctx.chat.moderator.check(text, name) is None)
        self.ctx.memory = self.memory
        # the show's model (or its template lines in replays faster than real time)
        self.stage.dialogue = build_dialogue(
            show.dialogue, show.persona, rng=self.rng, show_path=show.path, memory=self.memory,
            realtime=speed == 1.0)
        self._moderate(show)
        self.root = build_tree(show.tree, self.ctx)
        self.swaps: list[Swap] = []
        self.reload_enabled = reload
        self._mtimes = self._file_times()
        self._last_reload_check = time.perf_counter()
        self.tick_cost = LatencyStats()
        self.lateness = LatencyStats()
        self.reaction = {"gift": LatencyStats(), "chat": LatencyStats()}
        self.ticks = 0
        self.faults = 0
        self.stopping = False
        # called after every tick with the tree's cost (the live viewer); errors are logged
        self.tick_watchers: list[Callable[[float], None]] = []
        self._subtitled: object = None
        self.started_real = 0.0
        self.run_seconds = 0.0
        self.listeners = listeners if listeners is not None else self._listeners(events_file)
        self.barge_ins = 0
        from director.listeners.mic import MicListener  # here: `import director` stays light

        for listener in self.listeners:
            if isinstance(listener, MicListener):
                listener.on_voice_start = self.barge_in
        requeued = self.ledger.unfinished()
        for event in requeued:
            self._route(event, event.received)
        if requeued:
            log.info("resumed run %d at %.1f s: %d events from before the restart still to "
                     "handle", self.run_number, offset, len(requeued))

    # -- set-up ---------------------------------------------------------------------------------
    def _make_voice(self, profile: Path | None) -> Voice:
        """The TTS voice when the show (or --voice) asks for one; subtitles otherwise.

        A bad profile must not stop the show: it is logged and the subtitles voice speaks.
        """
        settings = self.show.voice
        subtitles = SubtitlesVoice(clock=self.clock, ledger=self.ledger, rate=settings["rate"])
        if profile is None and settings["engine"] != "tts":
            return subtitles
        if profile is None and os.environ.get("DIRECTOR_VOICE") == "subtitles":
            log.info("DIRECTOR_VOICE=subtitles: lines are shown as subtitles, not spoken")
            return subtitles  # test suites that replay shows far faster than a voice can speak
        if profile is None:
            beside = self.show.path.parent / settings["profile"]
            profile = beside if beside.is_file() else Path(settings["profile"])
        try:
            voice = build_tts_voice(profile, clock=self.clock, ledger=self.ledger, mixer=self.audio)
        except VoiceProfileError as exc:
            log.error("%s; the show goes on with the subtitles voice", exc)
            return subtitles
        voice.prewarm_gifts(self.show.gifts)  # on the voice's worker, after any line to speak
        return voice

    def _moderate(self, show: Show) -> None:
        """The show's full moderation (lists, homophones, links, numbers, injection) for chat."""
        try:
            self.ctx.chat.moderator = Moderator.from_settings(show.chat, show.moderation)
        except ValueError as exc:  # a word file vanished since loading: keep the plain words
            log.error("%s; moderation goes on with chat.banned_words only", exc)

    def _make_renderer(self, avatar: str | None, fps: float | None,
                       record_video: Path | None) -> RendererProcess | None:
        """The avatar renderer process, when something will show its frames.

        Headless runs start one only for a sink (a recording, a virtual camera, the browser
        source); a run with a window always does (the preview window when a display exists).
        A model that cannot be used is reported here, and the built-in avatar is drawn instead.
        """
        from renderer.mapping import MappingError, resolve_avatar
        from renderer.process import RendererConfig, RendererProcess
        from renderer.sinks import has_display

        settings = self.show.avatar
        sinks: dict[str, Any] = {"preview": False}
        if not self.headless and settings["preview"] not in (False, "off", "no"):
            sinks["preview"] = settings["preview"]
        for key in ("virtual_camera", "browser_source"):
            if settings[key]:
                sinks[key] = settings[key]
        record = record_video or (Path(settings["record_video"]) if settings["record_video"]
                                  else None)
        if record is not None:
            sinks["record_video"] = {"path": str(record), "origin": self.offset}
        if self.headless and not any(sinks.values()):
            return None
        if not self.headless and not has_display() and not any(
                value for key, value in sinks.items() if key != "preview"):
            # no screen for the preview (a server, a container): frames go to OBS's browser
            # source instead of nowhere, and the log prints its address
            log.info("no display for the avatar's preview window; serving it as an OBS browser "
                     "source instead (avatar.browser_source)")
            sinks["browser_source"], sinks["preview"] = True, False
        model = avatar or settings["model"]
        mapping = settings["mapping"] if avatar is None else ""
        if model != "builtin":
            model, mapping = (self._beside_show(model),
                              self._beside_show(mapping) if mapping else "")
            try:
                resolve_avatar(model, mapping)
            except MappingError as exc:
                log.error("%s; the show goes on with the built-in avatar", exc)
                model, mapping = "builtin", ""
        width, _, height = settings["size"].partition("x")
        return RendererProcess(config=RendererConfig(
            avatar=model, mapping=mapping, width=int(width), height=int(height),
            fps=float(fps or settings["fps"]), sinks=sinks, seed=self.run_number,
            log_level=logging.getLogger("director").getEffectiveLevel()))

    async def _first_frame(self, *, timeout: float) -> None:
        """Wait (without blocking the loop) until the renderer drew its first frame."""
        assert self.renderer is not None
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.renderer.status().get("frames", 0) > 0 or not self.renderer.alive():
                break
            self._publish_avatar()
            await asyncio.sleep(0.05)
        else:
            log.warning("the avatar renderer drew no frame within %.0f s; the show starts "
                        "without waiting for it", timeout)
            return
        log.info("avatar renderer ready in %.1f s", time.perf_counter() - t0)

    def _mux_recording(self) -> None:
        """Put the show's audio (--audio-out) into the avatar recording, when both were made."""
        record = self.renderer.config.sinks.get("record_video") if self.renderer else None
        if not record or self.audio_out is None or not self.audio_out.is_file():
            return
        from renderer.sinks import mux_audio

        video = Path(record["path"])
        try:
            mux_audio(video, self.audio_out, video,
                      audio_offset_s=self.audio.origin - float(record["origin"]))
        except Exception as exc:  # the silent video is still there
            log.error("could not add the audio to %s: %s", video, exc)

    def _beside_show(self, name: str) -> str:
        beside = self.show.path.parent / name
        return str(beside if beside.exists() else Path(name))

    def _publish_avatar(self) -> None:
        """Send the avatar state and the mouth level (now and just ahead) to the renderer."""
        now = self.clock.now()
        ahead = [min(1.0, v / MOUTH_FULL_RMS) for v in self.audio.envelope(now, now + 0.25)]
        self.stage.avatar.publish(now=now, mouth=self.audio.mouth(now), mouth_ahead=ahead,
                                  speed=self.speed)

    def _listeners(self, events_file: Path | None) -> list[Listener]:
        if events_file is not None:
            return [SimListener(events_file, clock=self.clock, money=self.show.money)]
        kinds = listener_kinds()
        return [kinds[plat["kind"]].from_settings(plat, clock=self.clock, money=self.show.money)
                for plat in self.show.platforms]

    def _file_times(self) -> dict[Path, float]:
        times = {}
        for path in self.show.files:
            try:
                times[path] = path.stat().st_mtime
            except OSError:
                times[path] = 0.0
        return times

    # -- intake ---------------------------------------------------------------------------------
    def ingest(self, event: Event) -> bool:
        """Store an event in the ledger (durably) and queue it. False for a duplicate."""
        now = self.clock.now()
        if event.received != now:
            event = replace(event, received=now)
        if not self.ledger.record(event):
            return False
        try:
            self.memory.observe(event)  # in the ledger's open batch: no extra commit
        except Exception:  # memory is a nicety: a fault must not lose the event
            log.exception("viewer memory could not record %s", event.msg_id)
        self._route(event, now)
        return True

    def _route(self, event: Event, now: float) -> None:
        ctx = self.ctx
        kind = event.kind
        self.bb.values["viewers.last"] = event.viewer.name
        if kind in GIFT_KINDS:
            ctx.gifts.add(event, now)
        elif kind in CHAT_KINDS:
            for settled, outcome, reason in ctx.chat.add(event, now):
                ctx.settle([(settled, outcome)], "chat screen", reason)
        elif kind in CROWD_KINDS:
            pushed = ctx.crowd.add(event)
            if pushed:
                ctx.settle([(e, "skipped") for e in pushed], "crowd", "acknowledged in bulk")

    # -- ticking --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Write the built-in blackboard keys from the queues."""
        ctx, v = self.ctx, self.bb.values
        now = self.clock.now()
        expired = ctx.chat.expire(now)
        if expired:
            for event, outcome, reason in expired:
                ctx.settle([(event, outcome)], "chat screen", reason)
        ready, top, tiers = ctx.gifts.summary(now)
        speech, supers, rest, chat_ready = ctx.chat.counts(now)
        book = ctx.segments
        active = book.active()
        due = book.due(now)
        current = active or due
        rules = current.interrupts if current is not None else self.show.interrupts
        ctx.interrupts = rules
        urgent = sum(1 for t in tiers if t >= rules["gift_tier"])
        if rules["super_chat"]:
            urgent += supers
        if rules["speech"]:
            urgent += speech
        voice = ctx.stage.voice
        v["show.time_s"] = now
        v["gifts.pending"] = ready
        v["gifts.waiting"] = len(ctx.gifts)
        v["gifts.top_tier"] = top
        v["urgent.pending"] = urgent
        v["superchats.pending"] = supers
        v["speech.pending"] = speech
        v["chat.pending"] = rest
        v["chat.ready"] = chat_ready
        v["crowd.pending"] = len(ctx.crowd)
        v["segment.due"] = due.name if due else ""
        v["segment.active"] = active.name if active else ""
        v["segment.remaining_s"] = book.remaining(active) if active else 0.0
        v["speech.busy"] = voice.busy
        v["idle.silence_s"] = voice.silence(now)

    def tick(self) -> float:
        """One tick: refresh, tick the tree, settle. Returns the tree tick's cost in seconds."""
        self.ledger.flush()  # every event the tree may see is durable first
        self.refresh()
        ctx = self.ctx
        ctx.reactions.clear()
        t0 = time.perf_counter()
        try:
            self.root.tick_once()
        except Exception:  # a faulty node must not stop the show: reset the tree and go on
            self.faults += 1
            if self.faults <= 5 or self.faults % 100 == 0:
                log.exception("a tree node failed (fault %d); the tree restarts from the top",
                              self.faults)
            try:
                self.root.stop(Status.INVALID)
            except Exception:
                self.root = build_tree(self.show.tree, ctx)
        cost = time.perf_counter() - t0
        self.ticks += 1
        self.tick_cost.add(cost)
        for kind, latency in ctx.reactions:
            self.reaction["gift" if kind in GIFT_KINDS else "chat"].add(latency)
        self.stage.poll()
        if self.renderer is not None:
            self._publish_avatar()
            self.renderer.poll()
        if self.show.obs["subtitles"]:
            self._subtitle_line()
        self._name_interrupters()
        if self.swaps:
            self.root, self.swaps = apply_swaps(self.root, self.swaps, ctx)
        if self.ticks % int(TICK_HZ) == 0:
            self.ledger.heartbeat(self.clock.now())
            # a running segment's progress goes with the clock, so a restart resumes it there
            active = ctx.segments.active()
            if active is not None:
                ctx.segments.save(active.name)
        self.ledger.flush()
        for watcher in self.tick_watchers:
            try:
                watcher(cost)
            except Exception:  # a watcher (the viewer) must never stop the show
                log.exception("a tick watcher failed; it is removed")
                self.tick_watchers.remove(watcher)
                break
        return cost

    def _name_interrupters(self) -> None:
        for row in self.ctx.segments.rows.values():
            if row.interruptions and row.interruptions[-1]["by"] is None:
                tip = self.root.tip()
                by = path_of(tip)
                if by is None or tip is None or tip.status == Status.INVALID:
                    continue
                row.interruptions[-1]["by"] = by
                self.ctx.segments.save(row.name)

    def _subtitle_line(self) -> None:
        """Show the line being spoken as the OBS subtitle when it starts (lines queue)."""
        now = self.clock.now()
        for line in self.stage.voice.queue:
            if line.start <= now < line.end and not line.done():
                if line is not self._subtitled:
                    self._subtitled = line
                    if line.text != self.stage.obs.subtitle:
                        self.stage.obs.set_subtitle(line.text, now)
                return

    def tree_status(self) -> str:
        return py_trees.display.unicode_tree(self.root, show_status=True)

    # -- hot reload -----------------------------------------------------------------------------
    def check_reload(self) -> bool:
        """Reload the show if one of its files changed. True when a new show was applied."""
        times = self._file_times()
        if times == self._mtimes:
            return False
        changed = ", ".join(str(p.name) for p, t in times.items() if self._mtimes.get(p) != t)
        self._mtimes = times
        try:
            new = load_show(self.show.path)
        except ShowErrors as exc:
            log.error("%s changed but the show is not valid now; it keeps running as it was:\n%s",
                      changed, exc)
            return False
        self.apply_show(new)
        return True

    def apply_show(self, new: Show) -> None:
        ctx = self.ctx
        old = self.show
        self.show = ctx.show = new
        if (new.dialogue, new.persona) != (old.dialogue, old.persona):
            # a new persona or model: new replies use it; a reply in hand finishes on the old one
            previous = self.stage.dialogue
            self.stage.dialogue = build_dialogue(
                new.dialogue, new.persona, rng=self.rng, show_path=new.path, memory=self.memory,
                realtime=self.speed == 1.0)
            previous.close(wait=False)
            self.stage.dialogue.prepare()
        ctx.gifts.configure(new.gifts, new.tier_of)
        ctx.chat.configure(new.chat)
        self._moderate(new)
        ctx.segments.configure(new.segments)
        self.bb.declare(new.keys)
        self.swaps = plan_swaps(self.root, new.tree) if new.tree is not None else []
        self.root, self.swaps = apply_swaps(self.root, self.swaps, ctx)
        self._mtimes = self._file_times()
        log.info("reloaded %s%s", new.path,
                 f" ({len(self.swaps)} changed node(s) wait until they stop running)"
                 if self.swaps else "")

    # -- running --------------------------------------------------------------------------------
    async def run(self, *, duration: float | None = None) -> None:
        """Tick until `stop()`, or until `duration` seconds of show time in this run."""
        loop = asyncio.get_running_loop()
        tasks = [asyncio.create_task(self._listen(listener)) for listener in self.listeners]
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop)
        sim = isinstance(self.clock, SimClock)
        pace = self.period / self.speed if sim else self.period
        end = None if duration is None else self.offset + duration
        if self.renderer is not None:
            # the avatar is up before the first line, so viewers (and a recording) see the show
            # from its start; the model loads after, not competing with the renderer's start-up
            self._publish_avatar()
            self.renderer.start()
            await self._first_frame(timeout=15.0)
        self.started_real = time.perf_counter()
        self.stage.obs.start()
        self.stage.dialogue.prepare()  # the model loads in the background while the show starts
        if not self.headless:
            self._device = DeviceSink.open(self.audio, self.clock.now)
        try:
            n = 0
            while not self.stopping:
                n += 1
                scheduled = self.started_real + n * pace
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)
                self.lateness.add(max(0.0, time.perf_counter() - scheduled))
                if sim:
                    assert isinstance(self.clock, SimClock)
                    self.clock.advance(self.period)
                    await asyncio.sleep(0)  # woken listeners emit their due events
                    await asyncio.sleep(0)
                self.tick()
                if end is not None and self.clock.now() >= end:
                    break
                if self.reload_enabled and time.perf_counter() - self._last_reload_check >= 1.0:
                    self._last_reload_check = time.perf_counter()
                    self.check_reload()
        finally:
            self.run_seconds = time.perf_counter() - self.started_real
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
            voice = self.stage.voice
            if isinstance(voice, TtsVoice):
                voice.stop_pending()  # lines not yet heard are cut where the show stopped
            if self._device is not None:
                self._device.close()
                self._device = None
            if self.audio_out is not None:
                WavSink(self.audio_out).close(self.audio, self.clock.now())
            if self.renderer is not None:
                self.renderer_status = await asyncio.to_thread(self.renderer.stop)
                self._mux_recording()
            self.ledger.end_run(self.clock.now())
            await asyncio.to_thread(self.stage.obs.close)  # stops streaming if the show started it

    async def _listen(self, listener: Listener) -> None:
        try:
            await listener.run(self.ingest)
        except asyncio.CancelledError:
            raise
        except Exception:  # a listener must never stop the show
            log.exception("listener %s failed; the show goes on without it", listener.name)

    def barge_in(self) -> None:
        """The operator started talking (the mic heard a voice): the line being said fades out.

        Lines queued behind it still play; the tree answers the operator first when their words
        arrive as an urgent speech event.
        """
        now = self.clock.now()
        for line in list(self.stage.voice.queue):
            if not line.done() and line.start <= now and getattr(line, "started", True):
                line.cancel()
                self.barge_ins += 1
                log.info("barge-in: the operator is talking; cut %r", line.text[:40])

    def stop(self) -> None:
        self.stopping = True

    def report(self) -> dict[str, Any]:
        show_seconds = self.clock.now() - self.offset
        return build_report(
            show=self.show.name, ledger=self.ledger, duration_s=self.clock.now(),
            ticks=self.ticks, tick_cost=self.tick_cost, lateness=self.lateness,
            run_seconds=show_seconds,
            extra={"run": self.run_number, "barge_ins": self.barge_ins, "reaction_ms": {
                k: v.summary_ms() for k, v in self.reaction.items()},
                **({"renderer": self.renderer_status} if self.renderer_status else {})})

    def close(self) -> None:
        if self.renderer is not None and not self.renderer.stopping:
            self.renderer.stop()
        self.stage.dialogue.close()
        if isinstance(self.stage.voice, TtsVoice):
            self.stage.voice.close()
        self.stage.obs.close()
        self.ledger.close()
