"""The avatar renderer: frames per second against raw live2d-py, the built-in avatar, latency.

    .venv/bin/python bench/render.py              # ~1 min on 2 cores (Live2D samples fetched)
    .venv/bin/python bench/render.py --sinks      # also each sink (bench/sinks.py), ~2 min more

In one run, at 1280x720 and 1920x1080 (unpaced: as fast as it goes, so the figures are headroom):

- raw live2d-py: `Update()` + `Draw()` + `fbo.read()` on a moderngl EGL context, the floor;
- ours, Live2D: the renderer's per-frame work (read the newest state from the shared-memory
  channel, pick the lip-sync level from the published envelope, animate, draw, the flip and
  un-premultiply pass, read back, report status) with the state and mouth changing every frame;
- ours, built-in avatar: the same loop with the shader-drawn character;
- sustained: the real renderer process paced at 30 fps for a few seconds (its measured rate);
- decision-to-frame: an expression decided in the main process (as a behaviour does, then
  published as the tick does) until the renderer has read back the first frame showing it, in
  frames at 30 fps (max and median over several decisions).

Targets (issue 5): ours within 1.15x of the raw loop; 720p 30 fps sustained with the built-in
avatar; decision-to-frame under 3 frames.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from renderer.gl import import_live2d  # noqa: E402

HARU = ROOT / "assets/live2d/haru/01/assets/haru01.model.json"
SHIZUKU = ROOT / "assets/live2d/shizuku/assets/shizuku.model.json"
SIZES = ((1280, 720), (1920, 1080))


def frames_for(width: int) -> int:
    return 30 if width <= 1280 else 15


class RawLoop:
    """The floor: live2d-py as its README draws it, plus the read-back every sink needs.

    It shares the GL context of the scene it is compared with (so blocks of the two can
    alternate, which keeps the comparison fair on a busy machine) and frames the model as the
    mapping does (scale, offset), so both loops draw the same pixels.
    """

    def __init__(self, ctx: Any, mapping_path: Path, width: int, height: int) -> None:
        from renderer.mapping import load_mapping

        live2d = import_live2d()
        mapping = load_mapping(mapping_path)
        self.live2d = live2d
        self.fbo = ctx.simple_framebuffer((width, height), components=4)
        self.fbo.use()
        live2d.glInit()
        self.model = live2d.Model()
        self.model.LoadModelJson(str(mapping.model))
        self.model.Resize(width, height)
        self.model.SetScale(mapping.scale)
        self.model.SetOffset(*mapping.offset)
        self.data = b""

    def frame(self) -> None:
        self.fbo.use()
        self.live2d.clearBuffer(0, 0, 0, 0)
        self.model.Update(1 / 30)
        self.model.Draw()
        self.data = self.fbo.read(components=4)

    def release(self) -> None:
        if not any(self.data[3::4]):
            raise SystemExit("raw live2d-py drew nothing")
        self.model.DestroyRenderer()
        self.fbo.release()


class OurLoop:
    """The renderer process's per-frame work, unpaced, with the state changing every frame:
    publish (main side), read the newest state, pick the lip-sync level from the envelope,
    animate, draw, finish pass, read back, report status."""

    expressions = ("neutral", "happy", "excited", "shy")

    def __init__(self, avatar: str, width: int, height: int) -> None:
        from renderer.channel import Channel
        from renderer.scene import Scene

        self.scene = Scene(avatar=avatar, width=width, height=height)
        self.main = Channel.create()
        self.child = Channel.attach(self.main.name)
        self.status: dict[str, Any] = {"frames": 0}
        self.i = 0

    def frame(self) -> None:
        from renderer.animation import Drive
        from renderer.process import mouth_at

        i = self.i = self.i + 1
        wall = time.monotonic()
        self.main.publish({
            "version": i, "expression": self.expressions[(i // 15) % 4], "motion": "nod",
            "motion_count": i // 30, "look": [0.2, 0.0], "mouth": 0.5,
            "mouth_ahead": [abs((i + k) % 10 - 5) / 5 for k in range(15)], "wall": wall,
            "speed": 1.0, "show_time": i / 30, "decided_wall": wall})
        _, state = self.child.latest()
        assert state is not None
        look = state["look"]
        drive = Drive(expression=state["expression"], motion=state["motion"],
                      motion_count=state["motion_count"], look=(look[0], look[1]),
                      mouth=mouth_at(state, time.monotonic()))
        self.scene.frame(drive, 1 / 30)
        self.status["frames"] += 1
        self.status["shown_version"] = i
        self.child.report(self.status)

    def release(self) -> None:
        self.scene.release()
        self.child.close()
        self.main.close()


def _rate(step: Any, n: int) -> tuple[float, float]:
    """(frames per second of wall time, CPU ms per frame over all threads, llvmpipe's too).

    The CPU figure barely depends on what else the machine runs; on an idle machine the wall
    rate approaches cores / CPU time per frame (llvmpipe spreads a frame over the cores).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        step()
    return n / (time.perf_counter() - t0), (time.process_time() - c0) / n * 1e3


def compare(avatar: str, width: int, height: int, *, rounds: int) -> dict[str, float]:
    """Best-of-`rounds` fps of our loop and (for a Live2D avatar) of the raw loop, alternating
    blocks of frames so both see the same background load."""
    n = frames_for(width)
    mine = OurLoop(avatar, width, height)
    if avatar != "builtin" and mine.scene.kind != "live2d":
        raise SystemExit(f"{avatar} did not load as Live2D: {mine.scene.fallback}")
    raw = RawLoop(mine.scene.ctx, Path(avatar), width, height) if avatar != "builtin" else None
    for _ in range(3):
        mine.frame()
        if raw is not None:
            raw.frame()
    ours_fps, raw_fps, ours_cpu, raw_cpu = [], [], [], []
    for _ in range(rounds):
        if raw is not None:
            fps, cpu = _rate(raw.frame, n)
            raw_fps.append(fps)
            raw_cpu.append(cpu)
        fps, cpu = _rate(mine.frame, n)
        ours_fps.append(fps)
        ours_cpu.append(cpu)
    if raw is not None:
        raw.release()
    mine.release()
    out = {"ours": max(ours_fps), "ours_median": statistics.median(ours_fps),
           "ours_cpu": min(ours_cpu)}
    if raw_fps:
        out.update(raw=max(raw_fps), raw_median=statistics.median(raw_fps), raw_cpu=min(raw_cpu))
    return out


def sustained_and_latency(avatar: str, width: int, height: int, *, seconds: float = 6.0,
                          fps: float = 30.0) -> dict[str, Any]:
    """The real renderer process, paced: its frame rate and decision-to-frame latency."""
    from director.services.avatar import Avatar
    from renderer.process import RendererConfig, RendererProcess

    proc = RendererProcess(config=RendererConfig(avatar=avatar, width=width, height=height,
                                                 fps=fps))
    avatar_state = Avatar(renderer=proc)
    proc.start()
    try:
        end = time.monotonic() + 60
        while proc.status().get("frames", 0) < 10:
            if time.monotonic() > end:
                raise SystemExit(f"renderer did not start: {proc.status()}")
            time.sleep(0.05)
        latencies: list[int] = []
        latencies_ms: list[float] = []
        start_frames = proc.status()["frames"]
        cpu0 = _cpu_seconds(proc.pid)
        t0 = time.monotonic()
        names = ("happy", "sad", "excited", "neutral", "surprised", "shy")
        i = 0
        while time.monotonic() - t0 < seconds:
            avatar_state.express(names[i % len(names)], float(i))
            avatar_state.publish(now=float(i))
            version = avatar_state.state.version
            deadline = time.monotonic() + 2.0
            while proc.status().get("shown_version") != version:
                if time.monotonic() > deadline:
                    raise SystemExit("the renderer never showed a decision")
                time.sleep(0.001)
            st = proc.status()
            latencies.append(int(st["latency_frames"]))
            latencies_ms.append(float(st["latency_ms"]))
            i += 1
            time.sleep(0.2 + 0.037 * (i % 5))  # decisions land at different phases of a frame
        elapsed = time.monotonic() - t0
        frames = proc.status()["frames"] - start_frames
        cpu = _cpu_seconds(proc.pid) - cpu0
        kind = proc.status().get("avatar")
    finally:
        proc.stop()
    return {"kind": kind, "fps": frames / elapsed, "cpu_ms": cpu / max(frames, 1) * 1e3,
            "cores": cpu / elapsed, "lat_max": max(latencies),
            "lat_median": statistics.median(latencies), "lat_ms_median":
            statistics.median(latencies_ms), "lat_ms_max": max(latencies_ms), "n": len(latencies)}


def _cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sink_rows(width: int, height: int) -> list[dict[str, Any]]:
    """Per-sink figures: bench/sinks.py (the sinks helper's) measures each sink at this size.

    This is the place the renderer's report adds the sinks: everything a sink costs is paid in
    the renderer process on top of the frame rates above.
    """
    try:
        from sinks import measure_sinks  # bench/sinks.py
    except ImportError as exc:
        print(f"  (no per-sink figures: bench/sinks.py not importable: {exc})")
        return []
    rows: list[dict[str, Any]] = measure_sinks(width, height, browser=False)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sinks", action="store_true", help="also measure each frame sink")
    parser.add_argument("--seconds", type=float, default=6.0, help="sustained-run length")
    parser.add_argument("--rounds", type=int, default=5, help="alternating blocks per figure")
    args = parser.parse_args()
    have_samples = HARU.is_file() and SHIZUKU.is_file()
    if have_samples:
        import_live2d()  # before any GL context in this process (renderer/gl.py)
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start; "
          "fps unpaced unless noted; CPU ms/frame counts every thread (best block)")
    for width, height in SIZES:
        print(f"\n{width}x{height}   (best of {args.rounds} alternating blocks; median in ())")
        if have_samples:
            for name, mapping in (("Haru", "avatars/haru.yaml"),
                                  ("Shizuku", "avatars/shizuku.yaml")):
                r = compare(str(ROOT / mapping), width, height, rounds=args.rounds)
                print(f"  {name:8} raw live2d-py update+draw+read  {r['raw']:6.1f} fps "
                      f"({r['raw_median']:5.1f})  {r['raw_cpu']:6.1f} CPU ms/frame")
                print(f"  {name:8} ours (state, lip-sync, finish)  {r['ours']:6.1f} fps "
                      f"({r['ours_median']:5.1f})  {r['ours_cpu']:6.1f} CPU ms/frame   "
                      f"ours/raw CPU {r['ours_cpu'] / r['raw_cpu']:.2f}x, raw/ours fps "
                      f"{r['raw'] / r['ours']:.2f}x (target <= 1.15x)")
        else:
            print("  (Live2D samples not fetched: scripts/fetch-live2d.sh)")
        b = compare("builtin", width, height, rounds=args.rounds)
        print(f"  built-in ours (state, lip-sync)          {b['ours']:6.1f} fps "
              f"({b['ours_median']:5.1f})  {b['ours_cpu']:6.1f} CPU ms/frame")
        if args.sinks:
            from sinks import print_rows

            print_rows(width, height, sink_rows(width, height))
    print("\nrenderer process paced at 30 fps, 1280x720: sustained rate and decision-to-frame")
    avatars = [("built-in", "builtin")]
    if have_samples:
        avatars.append(("Haru", str(ROOT / "avatars/haru.yaml")))
    for label, avatar in avatars:
        r = sustained_and_latency(avatar, 1280, 720, seconds=args.seconds)
        print(f"  {label:8} {r['kind']:8} {r['fps']:5.1f} fps sustained, {r['cpu_ms']:.1f} CPU "
              f"ms/frame ({r['cores']:.2f} cores busy); decision-to-frame "
              f"median {r['lat_median']} max {r['lat_max']} frames ({r['lat_ms_median']:.0f} / "
              f"{r['lat_ms_max']:.0f} ms, {r['n']} decisions; target < 3 frames)")


if __name__ == "__main__":
    main()
