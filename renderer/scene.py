"""One avatar on one canvas: opens the avatar (Live2D or built-in), animates it, returns frames.

Used by the renderer process for every frame and by `director snapshot` for one. Opening never
fails for a bad model: a missing, broken or unsupported Live2D model (or live2d-py itself missing)
is logged with the path and the reason, and the scene shows the built-in avatar instead
(`fallback` holds the reason). Only the absence of OpenGL itself raises.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import moderngl

from renderer.animation import Animator, Drive
from renderer.builtin import BuiltinAvatar
from renderer.gl import Canvas, Frame, import_live2d, open_context
from renderer.mapping import MappingError, resolve_avatar

log = logging.getLogger("director.renderer")


class AvatarDrawer(Protocol):
    kind: str
    premultiplied: bool

    def resize(self, width: int, height: int) -> None: ...
    def express(self, name: str) -> None: ...
    def start(self, name: str) -> None: ...
    def draw(self, values: dict[str, float], dt: float) -> None: ...
    def release(self) -> None: ...


class Scene:
    """An avatar, its animator and a canvas of one size."""

    def __init__(self, *, avatar: str = "builtin", mapping: str = "", width: int = 1280,
                 height: int = 720, seed: int = 1, life: bool = True) -> None:
        self.fallback: str | None = None
        self.width, self.height = width, height
        drawer: AvatarDrawer | None = None
        found = None
        live2d: Any = None
        if avatar != "builtin":
            try:
                found = resolve_avatar(avatar, mapping)
                live2d = import_live2d()  # before the GL context exists (see renderer.gl)
            except MappingError as exc:
                self.fallback = str(exc)
            except ImportError as exc:
                self.fallback = f"{avatar}: live2d-py is not installed ({exc}); pip install " \
                                "live2d-py==1.0.0"
        self.ctx: moderngl.Context = open_context()
        if found is not None and live2d is not None:
            from renderer.live2d_avatar import Live2DAvatar

            try:
                drawer = Live2DAvatar(found, live2d, self.ctx)
            except Exception as exc:  # the library raises plain RuntimeErrors on bad files
                self.fallback = f"{found.model}: Live2D could not load it ({exc})"
        if drawer is None:
            if self.fallback:
                log.error("%s; showing the built-in avatar instead", self.fallback)
            drawer = BuiltinAvatar(self.ctx)
        self.avatar: AvatarDrawer = drawer
        self.kind = drawer.kind
        self.canvas = Canvas(self.ctx, width=width, height=height)
        self.canvas.use()
        drawer.resize(width, height)
        self.animator = Animator(seed=seed, life=life)
        self._expression = "neutral"
        self._motion_count = 0

    def _native_expression(self, name: str) -> bool:
        handles = getattr(self.avatar, "handles_expression", None)
        return bool(handles is not None and handles(name))

    def _native_motion(self, name: str) -> bool:
        handles = getattr(self.avatar, "handles_motion", None)
        return bool(handles is not None and handles(name))

    def frame(self, drive: Drive, dt: float, *, snap: bool = False) -> Frame:
        """Animate by dt seconds and draw; the frame (reused buffer) is straight-alpha RGBA."""
        if drive.expression != self._expression:
            self._expression = drive.expression
            self.avatar.express(drive.expression)
        native_motion = False
        if drive.motion_count != self._motion_count:
            self._motion_count = drive.motion_count
            if drive.motion and self._native_motion(drive.motion):
                self.avatar.start(drive.motion)
                native_motion = True
        anim = drive
        if self._native_expression(drive.expression) or native_motion:
            anim = Drive(expression="neutral" if self._native_expression(drive.expression)
                         else drive.expression,
                         motion="" if native_motion else drive.motion,
                         motion_count=drive.motion_count, look=drive.look, mouth=drive.mouth,
                         overrides=drive.overrides)
        values = self.animator.step(anim, dt, snap=snap)
        self.canvas.use()
        self.avatar.draw(values, dt)
        return self.canvas.read(premultiplied=self.avatar.premultiplied,
                                flipped=getattr(self.avatar, "flipped", False))

    def release(self) -> None:
        self.avatar.release()
        self.canvas.release()
        self.ctx.release()


def snapshot(*, avatar: str = "builtin", mapping: str = "", expression: str = "neutral",
             mouth: float = 0.0, width: int = 1280, height: int = 720,
             settle_s: float = 0.6) -> tuple[Frame, Scene]:
    """One frame: the expression fully shown, idle life paused (repeatable), mouth held open."""
    scene = Scene(avatar=avatar, mapping=mapping, width=width, height=height, life=False)
    drive = Drive(expression=expression, mouth=mouth)
    frame = scene.frame(drive, 0.0, snap=True)
    # a Live2D model fades its expressions in over ~0.5 s: let it settle
    steps = int(settle_s * 30) if scene.kind == "live2d" else 0
    for _ in range(steps):
        frame = scene.frame(drive, 1 / 30, snap=True)
    return frame.copy(), scene
