"""The avatar renderer: its own process, a moderngl context, Live2D models and a built-in avatar.

- `process`: the renderer process's frame loop, and `RendererProcess`, the supervisor in the
  show's process (start, publish, watch, restart);
- `channel`: the shared-memory mailbox between them (the newest state; the renderer's status);
- `scene`: one avatar, its animator and a canvas; `snapshot` for one frame;
- `animation`: expressions, motions, gaze and idle life as parameter values;
- `builtin`: the shader-drawn default avatar; `live2d_avatar` and `mapping`: Live2D models and
  their per-model mappings (`avatars/*.yaml`);
- `gl`: the EGL context (and live2d-py's ordering rules) and the read-back pass;
- `sinks`, `browser_source`: where frames go (window, virtual camera, OBS, video file).

Nothing here is imported by `director` until a renderer is needed, and the main process never
creates a GL context.
"""
