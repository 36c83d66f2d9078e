"""`director` command line: run, validate, schema, tree."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from director.errors import DirectorError, ShowErrors
from director.events import Event
from director.logfmt import setup_logging

if TYPE_CHECKING:
    from director.engine import Director
    from director.ledger import Ledger
    from director.memory import ViewerMemory
    from director.showfile import Show
    from director.viewer import Viewer

log = logging.getLogger("director")


def _print_errors(exc: ShowErrors) -> None:
    for error in exc.errors:
        print(error.render(), file=sys.stderr)
    count = len(exc.errors)
    print(f"{count} problem{'s' if count != 1 else ''} found", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    from director.showfile import load_show

    status = 0
    for path in args.shows:
        try:
            show = load_show(path)
        except ShowErrors as exc:
            _print_errors(exc)
            status = 2
            continue
        nodes = len(show.tree.walk()) if show.tree else 0
        print(f"{path}: ok ({nodes} nodes, {len(show.segments)} segments, "
              f"{len(show.files) - 1} subtree files)")
    return status


def cmd_schema(args: argparse.Namespace) -> int:
    from director.schema import show_schema

    print(json.dumps(show_schema(), ensure_ascii=False, indent=1))
    return 0


def cmd_tree(args: argparse.Namespace) -> int:
    from director.showfile import load_show

    try:
        show = load_show(args.show)
    except ShowErrors as exc:
        _print_errors(exc)
        return 2
    for node in show.tree.walk():
        depth = node.path.count("/")
        print(f"{'  ' * depth}{node.kind}: {node.name}    [{node.place}]")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from director.engine import Director, default_state_dir
    from director.report import write_report
    from director.showfile import load_show

    formatter = setup_logging(args.log_level)
    try:
        show = load_show(args.show)
    except ShowErrors as exc:
        _print_errors(exc)
        return 2
    if args.speed <= 0:
        print("director: --speed must be greater than 0", file=sys.stderr)
        return 2
    events = Path(args.events) if args.events else None
    if events is not None and not events.is_file():
        print(f"director: events file not found: {events}", file=sys.stderr)
        return 2
    viewer_at = _viewer_address(show, args)
    if isinstance(viewer_at, int):
        return viewer_at
    state = Path(args.state) if args.state else default_state_dir(Path(args.show))
    director = Director(show, state_dir=state, speed=args.speed, events_file=events,
                        reload=not args.no_reload,
                        voice_profile=Path(args.voice) if args.voice else None,
                        audio_out=Path(args.audio_out) if args.audio_out else None,
                        headless=args.headless, avatar=args.avatar, fps=args.fps,
                        record_video=Path(args.record_video) if args.record_video else None)
    formatter.clock = director.clock
    log.info("show '%s' (run %d, state %s)%s", show.name, director.run_number, state,
             "" if args.speed == 1 else f" at {args.speed:g}x")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run_with_viewer(director, viewer_at, duration=args.duration))
    report = director.report()
    if args.report:
        write_report(report, Path(args.report))
        log.info("report written to %s", args.report)
    outcomes = report["outcomes"]
    log.info("%d ticks, tick p99 %.3f ms, lateness p99 %.2f ms; events: %s",
             report["ticks"]["count"], report["ticks"]["cost_ms"]["p99"],
             report["ticks"]["lateness_ms"]["p99"],
             ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none")
    director.close()
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    """Render one avatar frame (straight alpha, transparent background) into a PNG."""
    import re

    setup_logging("warning")
    size = re.fullmatch(r"([1-9][0-9]{1,4})x([1-9][0-9]{1,4})", args.size)
    if size is None:
        print(f"director: --size must be WIDTHxHEIGHT (e.g. 1280x720), got '{args.size}'",
              file=sys.stderr)
        return 2
    if not 0.0 <= args.mouth <= 1.0:
        print("director: --mouth must be between 0 and 1", file=sys.stderr)
        return 2
    from PIL import Image

    from renderer.scene import snapshot

    try:
        frame, scene = snapshot(avatar=args.avatar, mapping=args.mapping,
                                expression=args.expression, mouth=args.mouth,
                                width=int(size.group(1)), height=int(size.group(2)))
    except RuntimeError as exc:  # no OpenGL at all
        print(f"director: {exc}", file=sys.stderr)
        return 1
    kind = scene.kind
    scene.release()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame, "RGBA").save(out)
    print(f"{out}: {frame.shape[1]}x{frame.shape[0]} {kind} avatar, {args.expression}"
          + (" (fell back to the built-in avatar)" if scene.fallback else ""))
    return 0


def cmd_say(args: argparse.Namespace) -> int:
    import tempfile

    from director.clock import SimClock
    from director.ledger import Ledger
    from director.services.audio import Mixer, WavSink
    from director.services.tts import VoiceProfileError, build_tts_voice

    setup_logging("warning")
    clock, mixer = SimClock(), Mixer()
    with tempfile.TemporaryDirectory() as state:
        ledger = Ledger.open(Path(state))
        ledger.start_run("say")
        try:
            voice = build_tts_voice(Path(args.voice), clock=clock, ledger=ledger, mixer=mixer)
        except VoiceProfileError as exc:
            print(f"director: {exc}", file=sys.stderr)
            return 2
        handle = voice.speak(args.text, reason="say", emotion=args.emotion)
        voice.wait_idle()
        while not handle.done():
            clock.advance(1 / 30)
        voice.close()
        ledger.close()
    WavSink(Path(args.out)).close(mixer, handle.end)
    print(f"{args.out}: {handle.end - handle.start:.2f} s")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    """Answer one message with the show's persona and dialogue model; print reply and emotion."""
    import random
    import time

    from director.engine import default_state_dir
    from director.events import Chat, Viewer
    from director.ledger import Ledger
    from director.memory import ViewerMemory
    from director.moderation import Moderator
    from director.services.dialogue import ReplyStream
    from director.services.llm import LlmDialogue, build_dialogue
    from director.showfile import load_show

    setup_logging("warning")
    try:
        show = load_show(args.show)
    except ShowErrors as exc:
        _print_errors(exc)
        return 2
    settings = dict(show.dialogue)
    if args.model:
        settings.update(engine="llama", model=args.model)
    if args.engine:
        settings["engine"] = args.engine
    moderator = Moderator.from_settings(show.chat, show.moderation)
    verdict = moderator.check(args.message, args.viewer)
    if verdict is not None:
        print(f"moderated ({verdict.rule}): {verdict.detail}; the show would not answer it")
        return 0
    platform, viewer_id = "cli", args.viewer
    state = Path(args.state) if args.state else default_state_dir(Path(args.show))
    ledger = Ledger.open(state) if (state / "ledger.sqlite3").is_file() else None
    memory = ViewerMemory(ledger=ledger) if ledger is not None else None
    if memory is not None:
        known = memory.find(args.viewer)
        if len(known) == 1:  # a viewer the show remembers: their facts go into the prompt
            platform, viewer_id = known[0].platform, known[0].id
    dialogue = build_dialogue(settings, show.persona, rng=random.Random(args.seed),
                              show_path=show.path, memory=memory)
    event = Chat(platform=platform, msg_id="cli-1", viewer=Viewer(platform, viewer_id,
                                                                  args.viewer),
                 text=args.message)
    t0 = time.perf_counter()
    try:
        if isinstance(dialogue, LlmDialogue):
            dialogue.prepare()
            dialogue.loaded.wait()
            t0 = time.perf_counter()
        handle = dialogue.reply(event)
        first = None
        while not handle.done():
            if isinstance(handle, ReplyStream) and first is None and handle.sentences:
                first = time.perf_counter() - t0
            time.sleep(0.005)
        total = time.perf_counter() - t0
        reply = handle.result
    finally:
        dialogue.close()
        if ledger is not None:
            ledger.close()
    if reply is None:
        print("director: no reply", file=sys.stderr)
        return 1
    out_verdict = moderator.check_output(reply.text)
    if out_verdict is not None:
        print(f"moderated reply ({out_verdict.rule}): {out_verdict.detail}; it would not be "
              "said")
        return 0
    print(f"[{reply.emotion}] {reply.text}")
    source = getattr(getattr(dialogue, "source", None), "name", dialogue.name)
    note = ""
    if isinstance(handle, ReplyStream):
        note = f", first sentence {first if first is not None else total:.2f} s"
        if handle.used_fallback:
            note += f", persona line ({handle.ended_by or 'fallback'})"
    print(f"({source}: {reply.language}, {total:.2f} s{note})", file=sys.stderr)
    return 0


def _memory_of(args: argparse.Namespace) -> tuple[Ledger, ViewerMemory] | int:
    """(ledger, ViewerMemory) of the state named by --state or by the show, or an exit status."""
    from director.engine import default_state_dir
    from director.ledger import Ledger
    from director.memory import ViewerMemory

    if not args.state and not args.show:
        print("director: name the show (its default state) or --state DIR", file=sys.stderr)
        return 2
    state = Path(args.state) if args.state else default_state_dir(Path(args.show))
    if not (state / "ledger.sqlite3").is_file():
        print(f"director: no show state at {state} (nothing remembered yet); run the show "
              "first or pass the --state DIR it ran with", file=sys.stderr)
        return 2
    ledger = Ledger.open(state)
    return ledger, ViewerMemory(ledger=ledger)


def _pad(text: str, width: int) -> str:
    """Left-align in a terminal column: CJK characters take two cells."""
    import unicodedata

    cells = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)
    return text + " " * max(1, width - cells)


def cmd_viewers(args: argparse.Namespace) -> int:
    import datetime

    opened = _memory_of(args)
    if isinstance(opened, int):
        return opened
    ledger, memory = opened
    rows = list(memory.viewers(platform=args.platform, top=args.top))
    if not rows:
        print("no viewers remembered" + (f" on {args.platform}" if args.platform else ""))
    else:
        print(f"{'viewer':<24}{'name':<16}{'visits':>6} {'chats':>6} {'gifts':>9} {'level':>5}  "
              "last seen         facts")
    for p in rows:
        seen = datetime.datetime.fromtimestamp(p.last_seen).strftime("%Y-%m-%d %H:%M")
        facts = "; ".join(memory.facts(p.platform, p.id, limit=3))
        print(f"{_pad(p.key, 24)}{_pad(p.name, 16)}{p.visits:>6} {p.chats:>6} {p.gift_total:>9.2f} "
              f"{p.level:>5}  {seen}  {facts}")
    ledger.close()
    return 0


def cmd_forget(args: argparse.Namespace) -> int:
    opened = _memory_of(args)
    if isinstance(opened, int):
        return opened
    ledger, memory = opened
    found = memory.find(args.viewer)
    status = 0
    if not found:
        print(f"director: no viewer '{args.viewer}' (give a name or platform:id, see "
              "`director viewers`)", file=sys.stderr)
        status = 2
    elif len(found) > 1:
        print(f"director: {len(found)} viewers are called '{args.viewer}': "
              f"{', '.join(p.key for p in found)}; forget one by platform:id", file=sys.stderr)
        status = 2
    else:
        memory.forget(found[0].platform, found[0].id)
        print(f"forgot {found[0].key} ({found[0].name}): profile and facts deleted, name and "
              "text blanked in the event log")
    ledger.close()
    return status


def _viewer_address(show: Show, args: argparse.Namespace) -> tuple[str, int] | int | None:
    """(host, port) of the live viewer, None when it is off, or an exit status on a bad host."""
    from director.viewer import ViewerError, check_host

    settings = show.viewer
    if getattr(args, "no_viewer", False) or not settings["enabled"]:
        return None
    host = args.viewer_host or settings["host"]
    port = settings["port"] if args.viewer_port is None else args.viewer_port
    try:
        check_host(host, allow_remote=args.allow_remote_viewer)
    except ViewerError as exc:
        print(f"director: {exc}", file=sys.stderr)
        return 2
    return host, port


async def _start_viewer(director: Director, at: tuple[str, int], *,
                        running: bool) -> Viewer | None:
    from director.viewer import Viewer, ViewerError

    viewer = Viewer(director, host=at[0], port=at[1], allow_remote=True, running=running)
    try:
        url = await viewer.start()
    except ViewerError as exc:  # the show goes on without its viewer
        log.error("%s; running without the viewer", exc)
        return None
    print(f"viewer: {url}", flush=True)
    if running:
        print(f"viewer control token: {viewer.token}  (open {url}?token={viewer.token})",
              flush=True)
    return viewer


async def _run_with_viewer(director: Director, at: tuple[str, int] | None, *,
                           duration: float | None) -> None:
    viewer = await _start_viewer(director, at, running=True) if at is not None else None
    try:
        await director.run(duration=duration)
    finally:
        if viewer is not None:
            await viewer.stop()


def cmd_view(args: argparse.Namespace) -> int:
    """Serve the viewer page for a show without running it (structure only, all idle)."""
    import tempfile

    from director.engine import Director
    from director.showfile import load_show

    setup_logging(args.log_level)
    try:
        show = load_show(args.show)
    except ShowErrors as exc:
        _print_errors(exc)
        return 2
    at = _viewer_address(show, args)
    if isinstance(at, int):
        return at
    if at is None:
        at = (show.viewer["host"], show.viewer["port"])

    async def serve(director: Director) -> None:
        viewer = await _start_viewer(director, at, running=False)
        if viewer is None:
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        try:
            if args.duration:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.duration)
            else:
                await stop.wait()
        finally:
            await viewer.stop()

    with tempfile.TemporaryDirectory(prefix="director-view-") as state:
        director = Director(show, state_dir=Path(state), listeners=[], reload=False)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(serve(director))
        finally:
            director.close()
    return 0


def _viewer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--viewer-port", type=int, default=None,
                        help="port of the live viewer page (default: the show's viewer.port, "
                        "8765; 0 picks a free port)")
    parser.add_argument("--viewer-host", default=None,
                        help="address the viewer listens on (default 127.0.0.1)")
    parser.add_argument("--allow-remote-viewer", action="store_true",
                        help="allow --viewer-host to be something other than 127.0.0.1 (the "
                        "control API is then reachable from the network, behind its token)")


def cmd_listen(args: argparse.Namespace) -> int:
    """Connect one listener and print its events as JSON lines (no ledger, no show)."""
    import yaml

    from director.clock import RealClock
    from director.errors import Place
    from director.events import Money, event_to_record
    from director.listeners import listener_kinds, platform_records
    from director.spec import Checker

    setup_logging(args.log_level)
    kinds = listener_kinds()
    if args.platform not in kinds:
        from director.spec import did_you_mean

        print(f"director: unknown platform '{args.platform}' "
              f"({did_you_mean(args.platform, kinds)})", file=sys.stderr)
        return 2
    raw: dict[str, object] = {"kind": args.platform}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep:
            print(f"director: settings are key=value, got '{item}'", file=sys.stderr)
            return 2
        raw[key] = yaml.safe_load(value) if value else ""
    if args.url:
        raw["url"] = args.url
    ck = Checker()
    settings = platform_records()[args.platform].check(raw, Place("<command line>", 1, 1), "",
                                                       ck)
    if ck.errors:
        for error in ck.errors:
            print(f"director: {error.message}" + (f" ({error.hint})" if error.hint else ""),
                  file=sys.stderr)
        return 2
    rates: dict[str, float] = {}
    for item in args.rate:
        unit, _, value = item.partition("=")
        rates[unit.upper()] = float(value)
    clock = RealClock()
    listener = kinds[args.platform].from_settings(
        settings, clock=clock, money=Money(base=args.currency.upper(), rates=rates))

    def emit(event: Event) -> bool:
        record = event_to_record(event)
        record["platform"] = event.platform
        record["t"] = round(clock.now(), 3)
        print(json.dumps(record, ensure_ascii=False), flush=True)
        return True

    async def main() -> None:
        task = asyncio.create_task(listener.run(emit))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        waiter = asyncio.create_task(stop.wait())
        timer = asyncio.create_task(asyncio.sleep(args.duration if args.duration else 1e9))
        await asyncio.wait({task, waiter, timer}, return_when=asyncio.FIRST_COMPLETED)
        for t in (task, waiter, timer):
            t.cancel()
        await asyncio.gather(task, waiter, timer, return_exceptions=True)

    asyncio.run(main())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="director", description="A show director for AI VTubers.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a show")
    run.add_argument("show", help="show file (YAML)")
    run.add_argument("--headless", action="store_true", help="open no window and no audio device")
    run.add_argument("--duration", type=float, default=None,
                     help="stop after this many seconds of show time")
    run.add_argument("--events", help="replace the show's listeners with a sim JSONL file")
    run.add_argument("--speed", type=float, default=1.0,
                     help="replay faster than real time on the simulated clock (e.g. 20)")
    run.add_argument("--state", help="state folder holding the ledger (default: per show, under "
                     "the user's data dir)")
    run.add_argument("--report", help="write a JSON run report here at exit")
    run.add_argument("--no-reload", action="store_true", help="do not reload the show on edits")
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.add_argument("--no-viewer", action="store_true", help="serve no live viewer page")
    run.add_argument("--audio-out", help="record the show's audio (the program mix) to this WAV")
    run.add_argument("--voice", help="speak with this voice profile (voices/NAME.yaml) instead "
                     "of the show's voice")
    run.add_argument("--avatar", help="avatar to draw: 'builtin', a Live2D model file or an "
                     "avatar mapping (avatars/NAME.yaml); default: the show's avatar.model")
    run.add_argument("--fps", type=float, choices=[30.0, 60.0], default=None,
                     help="frames per second the avatar renderer draws (default: the show's, 30)")
    run.add_argument("--record-video", help="record the avatar (with the show's audio when the "
                     "voice records it) to this video file (.mp4)")
    _viewer_options(run)
    run.set_defaults(func=cmd_run)

    snap = sub.add_parser("snapshot", help="render one avatar frame to a PNG (transparent "
                          "background)")
    snap.add_argument("--avatar", default="builtin", help="'builtin', a Live2D model file or an "
                      "avatar mapping (avatars/NAME.yaml)")
    snap.add_argument("--mapping", default="", help="avatar mapping YAML for a model file")
    snap.add_argument("--expression", default="neutral", help="neutral, happy, excited, shy, "
                      "surprised, sad or whisper")
    snap.add_argument("--mouth", type=float, default=0.0, help="mouth open level 0..1")
    snap.add_argument("--size", default="1280x720", help="frame size WIDTHxHEIGHT")
    snap.add_argument("--out", required=True, help="PNG file to write")
    snap.set_defaults(func=cmd_snapshot)

    say = sub.add_parser("say", help="speak one line with a voice profile into a WAV file")
    say.add_argument("text", help="what to say")
    say.add_argument("--voice", default="voices/sakura.yaml", help="voice profile (YAML)")
    say.add_argument("--emotion", default="neutral", help="neutral, happy, excited, shy, sad or "
                     "whisper")
    say.add_argument("--out", required=True, help="WAV file to write")
    say.set_defaults(func=cmd_say)

    view = sub.add_parser("view", help="open the live viewer page on a show without running it")
    view.add_argument("show", help="show file (YAML)")
    view.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    view.add_argument("--log-level", default="info",
                      choices=["debug", "info", "warning", "error"])
    _viewer_options(view)
    view.set_defaults(func=cmd_view)

    validate = sub.add_parser("validate", help="check shows without running them")
    validate.add_argument("shows", nargs="+")
    validate.set_defaults(func=cmd_validate)

    schema = sub.add_parser("schema", help="print the JSON Schema of show files")
    schema.set_defaults(func=cmd_schema)

    listen = sub.add_parser("listen", help="connect one platform listener and print its events "
                            "as JSON lines")
    listen.add_argument("platform", help="listener kind (bilibili, douyin, youtube, twitch, ...)")
    listen.add_argument("settings", nargs="*", help="settings as key=value (e.g. room_id=123)")
    listen.add_argument("--url", help="connect to this endpoint instead (e.g. a local test server)")
    listen.add_argument("--duration", type=float, default=None, help="stop after N seconds")
    listen.add_argument("--currency", default="CNY", help="currency values are printed in")
    listen.add_argument("--rate", action="append", default=[],
                        help="exchange rate UNIT=VALUE into --currency (e.g. USD=7.2)")
    listen.add_argument("--log-level", default="info",
                        choices=["debug", "info", "warning", "error"])
    listen.set_defaults(func=cmd_listen)

    viewers = sub.add_parser("viewers", help="list the viewers a show remembers")
    viewers.add_argument("show", nargs="?", help="show file (its default state folder)")
    viewers.add_argument("--state", help="state folder the show ran with")
    viewers.add_argument("--platform", help="only viewers on this platform")
    viewers.add_argument("--top", type=int, default=None, help="only the first N (biggest "
                         "supporters first)")
    viewers.set_defaults(func=cmd_viewers)

    forget = sub.add_parser("forget", help="delete everything a show remembers about a viewer")
    forget.add_argument("viewer", help="viewer name, or platform:id")
    forget.add_argument("show", nargs="?", help="show file (its default state folder)")
    forget.add_argument("--state", help="state folder the show ran with")
    forget.set_defaults(func=cmd_forget)

    chat = sub.add_parser("chat", help="answer one chat message in persona (the show's "
                          "dialogue model) and print the reply and its emotion")
    chat.add_argument("show", help="show file (YAML)")
    chat.add_argument("message", help="the viewer's message")
    chat.add_argument("--viewer", default="viewer", help="the viewer's name (a viewer the show "
                      "remembers brings their facts into the prompt)")
    chat.add_argument("--model", help="a GGUF file to use instead of the show's model")
    chat.add_argument("--engine", choices=["llama", "openai", "templates"],
                      help="override dialogue.engine")
    chat.add_argument("--state", help="state folder for viewer memory (default: the show's)")
    chat.add_argument("--seed", type=int, default=7, help="sampling seed")
    chat.set_defaults(func=cmd_chat)

    tree = sub.add_parser("tree", help="print a show's tree with node paths and places")
    tree.add_argument("show")
    tree.set_defaults(func=cmd_tree)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DirectorError as exc:
        print(f"director: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
