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

if TYPE_CHECKING:
    from director.engine import Director
    from director.showfile import Show
    from director.viewer import Viewer

log = logging.getLogger("director")


class _ShowTimeFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self.clock = None

    def format(self, record: logging.LogRecord) -> str:
        stamp = f"{self.clock.now():8.2f}s" if self.clock is not None else "   -    "
        name = record.name.removeprefix("director.").removeprefix("director")
        where = f" {name}" if name else ""
        text = f"{stamp} {record.levelname.lower():7}{where}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _setup_logging(level: str) -> _ShowTimeFormatter:
    handler = logging.StreamHandler(sys.stderr)
    formatter = _ShowTimeFormatter()
    handler.setFormatter(formatter)
    root = logging.getLogger("director")
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    root.propagate = False
    return formatter


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

    formatter = _setup_logging(args.log_level)
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
                        headless=args.headless)
    formatter.clock = director.clock  # type: ignore[assignment]
    log.info("show '%s' (run %d, state %s)%s", show.name, director.run_number, state,
             "" if args.speed == 1 else f" at {args.speed:g}x")
    if not args.headless:
        log.info("no renderer window in this build yet: running headless")
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


def cmd_say(args: argparse.Namespace) -> int:
    import tempfile

    from director.clock import SimClock
    from director.ledger import Ledger
    from director.services.audio import Mixer, WavSink
    from director.services.tts import VoiceProfileError, build_tts_voice

    _setup_logging("warning")
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

    _setup_logging(args.log_level)
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

    _setup_logging(args.log_level)
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
    _viewer_options(run)
    run.set_defaults(func=cmd_run)

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
