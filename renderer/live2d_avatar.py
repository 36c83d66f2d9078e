"""A Live2D model (Cubism 2 `.model.json` or 3+ `.model3.json`) through live2d-py 1.0.

The model does what it is good at (its own idle motions, physics, breathing, expressions and the
motions a mapping names); our animator adds what the show decides (gaze, head turns, sway,
procedural motions for unmapped names) and holds the mouth to the voice's lip-sync level. Our
values are applied after `Update()` (live2d-py draws the parameters as they are at `Draw()`),
each as the mapping says: `set`, `add` on top of the model's motion, or `mult` (the lids, so a
blink also closes wide "surprised" eyes). Auto-blink is off: the animator blinks.

`live2d.init()` must have run before the GL context was created (see `renderer.gl`).

live2d's Cubism 2 renderer sets vertex attributes on whatever vertex array object is bound, and
moderngl leaves its last one bound: the finish pass's quad lost its attributes and drew nothing.
So a scratch VAO of our own is bound before every `Draw()`, for live2d to scribble on.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import moderngl

from renderer.mapping import AvatarMapping, ParamBinding

log = logging.getLogger("director.renderer")


class Live2DAvatar:
    """Draws one Live2D model into the current framebuffer."""

    kind = "live2d"
    premultiplied = True

    def __init__(self, mapping: AvatarMapping, live2d: Any, ctx: moderngl.Context) -> None:
        self.mapping = mapping
        self.live2d = live2d
        self._scratch_prog = ctx.program(
            vertex_shader="#version 330\nin float x; void main() { gl_Position = vec4(x); }",
            fragment_shader="#version 330\nout vec4 c; void main() { c = vec4(0.0); }")
        self._scratch_vbo = ctx.buffer(reserve=16)
        self._scratch = ctx.vertex_array(self._scratch_prog, [(self._scratch_vbo, "f", "x")])
        live2d.glInit()
        model = live2d.Model()
        model.LoadModelJson(str(mapping.model))
        self.model = model
        model.SetAutoBlink(False)
        model.SetAutoBreath(True)
        known = set(model.GetParamIds())
        self.bindings: list[tuple[str, ParamBinding, list[tuple[str, float, float]]]] = []
        for name, binding in mapping.params.items():
            ids = [(pid, model.GetParamMinById(pid), model.GetParamMaxById(pid))
                   for pid in binding.ids if pid in known]
            if ids:
                self.bindings.append((name, binding, ids))
        self.expressions = set(model.GetExpressions())
        self.groups = model.GetMotionGroups()
        for name, expression in mapping.expressions.items():
            if expression and expression not in self.expressions:
                log.warning("%s: expression '%s' for %s is not in the model (it has: %s)",
                            mapping.source or mapping.model, expression, name,
                            ", ".join(sorted(self.expressions)) or "none")
        for name, (group, _) in mapping.motions.items():
            if group not in self.groups:
                log.warning("%s: motion group '%s' for %s is not in the model (it has: %s)",
                            mapping.source or mapping.model, group, name,
                            ", ".join(sorted(self.groups)) or "none")
        self.size = (0, 0)

    def handles_expression(self, name: str) -> bool:
        """True when the model shows this expression itself (the animator then stays neutral)."""
        return name in self.mapping.expressions

    def handles_motion(self, name: str) -> bool:
        target = self.mapping.motions.get(name)
        return target is not None and target[0] in self.groups

    def resize(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.model.Resize(width, height)
        self.model.SetScale(self.mapping.scale)

    def express(self, name: str) -> None:
        expression = self.mapping.expressions.get(name)
        if expression is None:
            return
        if expression and expression in self.expressions:
            self.model.SetExpression(expression)
        else:
            self.model.ResetExpression()

    def start(self, name: str) -> None:
        target = self.mapping.motions.get(name)
        if target is None or target[0] not in self.groups:
            return
        group, index = target
        priority = 3  # FORCE: a motion the show asked for replaces what plays
        if index is None:
            self.model.StartRandomMotion(group, priority)
        else:
            self.model.StartMotion(group, min(index, max(0, self.groups[group] - 1)), priority)

    def draw(self, values: dict[str, float], dt: float) -> None:
        model = self.model
        ox, oy = self.mapping.offset
        model.SetOffset(ox, oy + values.get("body_y", 0.0))
        model.Update(dt)
        own: list[tuple[str, float]] = []
        for name, binding, ids in self.bindings:
            value = values.get(name)
            if value is None:
                continue
            value *= binding.scale
            for pid, low, high in ids:
                before = model.GetParamValueById(pid)
                own.append((pid, before))
                if binding.mode == "set":
                    v = value
                elif binding.mode == "mult":
                    v = before * value
                else:
                    v = before + value
                model.SetParamById(pid, min(high, max(low, v)))
        self._scratch.bind(0, "f", self._scratch_vbo, "1f")  # binds it: see the module doc
        model.Draw()
        # give the model its own values back: parameters that no motion drives keep their value
        # from frame to frame, so an "add" left in place would accumulate
        for pid, before in reversed(own):
            model.SetParamById(pid, before)

    def release(self) -> None:
        with contextlib.suppress(Exception):  # the context may already be gone at exit
            self.model.DestroyRenderer()
        for obj in (self._scratch, self._scratch_vbo, self._scratch_prog):
            obj.release()
