"""The OpenGL context of the renderer process, and the pass that turns a drawing into frames.

Two facts about live2d-py 1.0 shape this module (both are tested in `tests/test_render_live2d.py`
in fresh subprocesses, so an upgrade that changes them is caught):

- `live2d.init()` must run before any GL context exists in the process; once Mesa has loaded,
  `LoadModelJson` aborts the process (std::bad_alloc inside the library). `open_context` therefore
  takes `live2d=True` and initialises the library first.
- live2d's shaders are GLSL 1.20: the context must be a compatibility profile, which glcontext
  gives when `GLCONTEXT_GLVERSION=210` is set before `create_standalone_context`; with a core
  profile nothing is drawn and no error is raised.

Every avatar draws into an offscreen framebuffer (`Canvas`). `Canvas.read()` runs one small
shader pass that flips the image (GL's row 0 is the bottom, frames' row 0 is the top) and turns
premultiplied colour (what live2d's blending leaves) into straight alpha, then reads it back as a
`(H, W, 4)` uint8 array: the frame sinks' format. Doing the flip and un-premultiply on the GPU
costs one textured quad; in numpy it was ~12 ms a 720p frame.
"""

from __future__ import annotations

import contextlib
import io
import os
from typing import Any

import moderngl
import numpy as np
from numpy.typing import NDArray

Frame = NDArray[np.uint8]

_FINISH_VS = """
#version 330
in vec2 in_pos;
out vec2 uv;
void main() {
    uv = vec2(in_pos.x * 0.5 + 0.5, 0.5 - in_pos.y * 0.5);  // flipped: row 0 ends up on top
    gl_Position = vec4(in_pos, 0.0, 1.0);
}
"""

_FINISH_FS = """
#version 330
uniform sampler2D src;
uniform bool premultiplied;
in vec2 uv;
out vec4 color;
void main() {
    // texelFetch, not texture(): no filtering, a third of the cost on llvmpipe
    ivec2 size = textureSize(src, 0);
    vec4 c = texelFetch(src, ivec2(gl_FragCoord.x, float(size.y) - gl_FragCoord.y), 0);
    if (premultiplied) {
        c.rgb = c.a > 0.0 ? min(c.rgb / c.a, vec3(1.0)) : vec3(0.0);
    }
    color = c;
}
"""


_live2d: Any = None


def import_live2d() -> Any:
    """Import and initialise live2d-py once (quietly: it prints a banner on import)."""
    global _live2d
    if _live2d is None:
        with contextlib.redirect_stdout(io.StringIO()):
            import live2d  # type: ignore[import-untyped]
        live2d.enableLog(False)  # before init(): it logs to the process's stdout
        live2d.init()
        _live2d = live2d
    return _live2d


def open_context(*, live2d: bool = False) -> moderngl.Context:
    """A headless moderngl context (EGL, compatibility profile), live2d initialised first if asked.

    Raises RuntimeError with the reason when no OpenGL is available (no EGL library, no driver).
    """
    if live2d:
        import_live2d()
    os.environ["GLCONTEXT_GLVERSION"] = "210"
    try:
        return moderngl.create_standalone_context(backend="egl")  # type: ignore[arg-type]
    except Exception as exc:
        raise RuntimeError(
            f"no headless OpenGL (EGL) context: {exc}. Install Mesa's EGL and GL drivers "
            "(Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1 libgl1-mesa-dri)"
        ) from exc


class Canvas:
    """An offscreen RGBA framebuffer of one size, and its flip + un-premultiply read-back."""

    def __init__(self, ctx: moderngl.Context, *, width: int, height: int) -> None:
        self.ctx = ctx
        self.width, self.height = width, height
        self.color = ctx.texture((width, height), 4)
        self.fbo = ctx.framebuffer(color_attachments=[self.color])
        self.out_tex = ctx.texture((width, height), 4)
        self.out_fbo = ctx.framebuffer(color_attachments=[self.out_tex])
        self.prog = ctx.program(vertex_shader=_FINISH_VS, fragment_shader=_FINISH_FS)
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype="f4")
        self.vbo = ctx.buffer(quad.tobytes())
        self.vao = ctx.vertex_array(self.prog, [(self.vbo, "2f", "in_pos")])
        self._out = np.empty((height, width, 4), dtype=np.uint8)

    def use(self) -> None:
        """Make this canvas the draw target and clear it to transparent."""
        self.fbo.use()
        self.ctx.viewport = (0, 0, self.width, self.height)
        self.fbo.clear(0.0, 0.0, 0.0, 0.0)

    def read(self, *, premultiplied: bool, flipped: bool = False) -> Frame:
        """The drawing as straight-alpha RGBA, row 0 on top. The array is reused: copy to keep.

        `flipped`: the drawing already has row 0 on top (and straight alpha, as the built-in
        avatar draws it): read it as it is, without the finish pass.
        """
        if flipped and not premultiplied:
            self.fbo.read_into(self._out, components=4)
            return self._out
        self.out_fbo.use()
        self.ctx.viewport = (0, 0, self.width, self.height)
        # live2d leaves its own GL state behind (culling, blending): set what this pass needs
        self.ctx.disable(moderngl.BLEND | moderngl.CULL_FACE | moderngl.DEPTH_TEST)
        self.ctx.scissor = None
        self.color.use(0)
        self.prog["src"] = 0
        self.prog["premultiplied"] = premultiplied
        self.vao.render(moderngl.TRIANGLE_STRIP)
        self.out_fbo.read_into(self._out, components=4)
        return self._out

    def release(self) -> None:
        for obj in (self.vao, self.vbo, self.prog, self.out_fbo, self.out_tex, self.fbo,
                    self.color):
            obj.release()
