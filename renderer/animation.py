"""From the avatar state to parameter values, frame by frame: expressions, motions, gaze, life.

Both avatars (Live2D and the built-in one) are driven by one vocabulary of parameters, named and
scaled like Live2D's standard parameters, so a Live2D mapping is a table of ids (`avatars/*.yaml`)
and the built-in shader reads the same numbers:

| parameter | range | meaning |
|---|---|---|
| angle_x / angle_y / angle_z | -30..30 (deg) | head turn, nod, tilt |
| body_x / body_z | -10..10 | body sway sideways, lean |
| body_y | -1..1 | bounce (up is positive) |
| eye_open_l / eye_open_r | 0..1.3 | lids (1 = normal, >1 = wide) |
| eye_smile | 0..1 | smiling eyes (lower lids up) |
| eye_x / eye_y | -1..1 | where the eyes look |
| brow_y / brow_angle | -1..1 | brows up/down; inner ends up (worried) |
| mouth_open | 0..1 | jaw; the voice's lip-sync level opens it |
| mouth_form | -1..1 | frown .. smile |
| blush | 0..1 | cheeks |
| breath | 0..1 | breathing cycle |

Expressions are targets that the values ease towards (~120 ms, so a change shows on the next
frame and completes within a few); motions are short procedural curves layered on top; idle life
(blinks at random 2–6 s intervals, breathing, slow sway, eye saccades) never stops, so no two
frames are identical. Parameter overrides from the show are applied last.

Time is the renderer's wall clock, not the show clock: life must move at a steady pace even in a
`--speed 20` replay. Randomness is seeded, so snapshots and tests are repeatable.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

PARAMS = ("angle_x", "angle_y", "angle_z", "body_x", "body_y", "body_z", "eye_open_l",
          "eye_open_r", "eye_smile", "eye_x", "eye_y", "brow_y", "brow_angle", "mouth_open",
          "mouth_form", "blush", "breath")

EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {"mouth_form": 0.35, "blush": 0.15},
    "happy": {"eye_smile": 1.0, "mouth_form": 1.0, "mouth_open": 0.25, "brow_y": 0.3,
              "blush": 0.45},
    "excited": {"eye_open": 1.2, "mouth_form": 1.0, "mouth_open": 0.5, "brow_y": 0.7,
                "blush": 0.6, "angle_y": 4.0},
    "shy": {"eye_open": 0.75, "eye_x": -0.6, "eye_y": -0.5, "blush": 1.0, "mouth_form": 0.1,
            "brow_angle": 0.6, "angle_z": 8.0, "angle_x": -8.0, "angle_y": -4.0},
    "surprised": {"eye_open": 1.3, "brow_y": 1.0, "mouth_open": 0.6, "mouth_form": -0.4,
                  "angle_y": 3.0},
    "sad": {"eye_open": 0.7, "brow_angle": 1.0, "brow_y": -0.3, "mouth_form": -0.9,
            "angle_y": -9.0, "blush": 0.0},
    "whisper": {"eye_open": 0.55, "mouth_form": 0.3, "angle_z": -7.0, "angle_x": 6.0,
                "blush": 0.35, "brow_y": -0.1, "body_z": 3.0},
}
ALIASES = {"smile": "happy", "joy": "happy", "calm": "neutral", "asmr": "whisper",
           "thanks": "happy", "angry": "sad", "embarrassed": "shy", "wow": "surprised"}

# motion name -> (seconds, curve); curves get u in 0..1 and return parameter offsets
MOTION_SECONDS = {"nod": 0.9, "wave": 1.4, "cheer": 1.2, "jump": 1.3, "shake": 1.0,
                  "look_around": 2.6, "breathe": 3.0, "sway": 3.0, "bow": 1.6, "tilt": 1.2}


def expression_targets(name: str) -> dict[str, float]:
    """Parameter targets for an expression name (unknown names read as neutral)."""
    return EXPRESSIONS.get(ALIASES.get(name, name), EXPRESSIONS["neutral"])


def motion_offsets(name: str, u: float) -> dict[str, float]:
    """A procedural motion's parameter offsets at progress u (0..1); {} for an unknown name."""
    env = math.sin(math.pi * min(1.0, max(0.0, u)))  # eases in and out
    tau = 2 * math.pi
    if name == "nod":
        return {"angle_y": -14.0 * abs(math.sin(tau * u)) * env}
    if name == "bow":
        return {"angle_y": -20.0 * env, "body_z": 0.0, "body_y": -0.03 * env}
    if name == "wave":
        return {"angle_z": 9.0 * math.sin(2 * tau * u) * env, "body_x": 5.0 * math.sin(tau * u)}
    if name in ("cheer", "jump"):
        hops = 2 if name == "cheer" else 1
        height = 0.05 if name == "cheer" else 0.11
        return {"body_y": height * abs(math.sin(math.pi * hops * u)),
                "angle_y": 8.0 * env, "eye_open_l": 0.15 * env, "eye_open_r": 0.15 * env}
    if name == "shake":
        return {"angle_x": 16.0 * math.sin(2 * tau * u) * env}
    if name == "tilt":
        return {"angle_z": 12.0 * env}
    if name == "look_around":
        side = math.sin(tau * u)
        return {"angle_x": 18.0 * side * env, "eye_x": 0.8 * side * env}
    if name == "breathe":
        return {"breath": 0.6 * env, "body_y": 0.01 * env}
    if name == "sway":
        return {"body_x": 7.0 * math.sin(tau * u) * env, "angle_z": 4.0 * math.sin(tau * u) * env}
    return {}


@dataclass
class Drive:
    """What the animator follows: the latest avatar state as the renderer received it."""

    expression: str = "neutral"
    motion: str = ""
    motion_count: int = 0
    look: tuple[float, float] = (0.0, 0.0)
    mouth: float = 0.0
    overrides: dict[str, float] | None = None


class Animator:
    """Parameter values for each frame: expression easing, motions, gaze and idle life."""

    EASE_S = 0.12  # expression change time constant
    GAZE_S = 0.25

    def __init__(self, *, seed: int = 1, life: bool = True) -> None:
        self.rng = random.Random(seed)
        self.life = life
        self.values = dict.fromkeys(PARAMS, 0.0)
        self.values.update({"eye_open_l": 1.0, "eye_open_r": 1.0})
        self._targets = self._expression("neutral")
        self.values.update(self._targets)
        self.t = 0.0
        self._next_blink = 1.5 + self.rng.uniform(0, 2.5)
        self._blink_at = -10.0
        self._saccade = (0.0, 0.0)
        self._next_saccade = 0.6
        self._look = [0.0, 0.0]
        self._motion = ""
        self._motion_at = 0.0
        self._motion_count = 0
        self.expression = "neutral"

    def _expression(self, name: str) -> dict[str, float]:
        base = dict.fromkeys(PARAMS, 0.0)
        base.update({"eye_open_l": 1.0, "eye_open_r": 1.0})
        targets = expression_targets(name)
        for key, value in targets.items():
            if key == "eye_open":
                base["eye_open_l"] = base["eye_open_r"] = value
            else:
                base[key] = value
        return base

    def start_motion(self, name: str) -> None:
        self._motion, self._motion_at = name, self.t

    def step(self, drive: Drive, dt: float, *, snap: bool = False) -> dict[str, float]:
        """Advance by dt seconds and return this frame's parameters (a fresh dict)."""
        self.t += dt
        t = self.t
        if drive.expression != self.expression:
            self.expression = drive.expression
            self._targets = self._expression(drive.expression)
        if drive.motion_count != self._motion_count:
            self._motion_count = drive.motion_count
            if drive.motion:
                self.start_motion(drive.motion)
        k = 1.0 if snap else 1.0 - math.exp(-dt / self.EASE_S)
        values = self.values
        for key, target in self._targets.items():
            values[key] += (target - values[key]) * k
        g = 1.0 if snap else 1.0 - math.exp(-dt / self.GAZE_S)
        self._look[0] += (drive.look[0] - self._look[0]) * g
        self._look[1] += (drive.look[1] - self._look[1]) * g
        out = dict(values)
        lx, ly = self._look
        out["angle_x"] += 14.0 * lx
        out["angle_y"] += 9.0 * ly
        out["eye_x"] = max(-1.0, min(1.0, out["eye_x"] + lx))
        out["eye_y"] = max(-1.0, min(1.0, out["eye_y"] + ly))
        if self.life:
            self._live(out, t)
        if self._motion:
            seconds = MOTION_SECONDS.get(self._motion, 1.2)
            u = (t - self._motion_at) / seconds
            if u >= 1.0:
                self._motion = ""
            else:
                for key, offset in motion_offsets(self._motion, u).items():
                    out[key] += offset
        # the voice opens the mouth from wherever the expression holds it
        base = out["mouth_open"]
        out["mouth_open"] = base + (1.0 - base) * max(0.0, min(1.0, drive.mouth))
        if drive.overrides:
            for key, value in drive.overrides.items():
                if key in out:
                    out[key] = value
        return out

    def _live(self, out: dict[str, float], t: float) -> None:
        # blink: 70 ms closing, 40 ms closed, 110 ms opening
        if t >= self._next_blink:
            self._blink_at = t
            double = self.rng.random() < 0.15
            self._next_blink = t + (0.35 if double else self.rng.uniform(2.0, 6.0))
        b = t - self._blink_at
        if b < 0.07:
            lid = 1.0 - b / 0.07
        elif b < 0.11:
            lid = 0.0
        elif b < 0.22:
            lid = (b - 0.11) / 0.11
        else:
            lid = 1.0
        out["eye_open_l"] *= lid
        out["eye_open_r"] *= lid
        breath = 0.5 + 0.5 * math.sin(2 * math.pi * t / 3.6)
        out["breath"] = min(1.0, out["breath"] + breath)
        out["body_x"] += 2.5 * math.sin(2 * math.pi * t / 7.3)
        out["angle_z"] += 2.0 * math.sin(2 * math.pi * t / 5.9 + 1.0)
        out["angle_x"] += 3.0 * math.sin(2 * math.pi * t / 9.7 + 2.0)
        out["angle_y"] += 1.5 * math.sin(2 * math.pi * t / 4.3)
        if t >= self._next_saccade:
            self._saccade = (self.rng.uniform(-0.15, 0.15), self.rng.uniform(-0.1, 0.1))
            self._next_saccade = t + self.rng.uniform(0.4, 2.2)
        out["eye_x"] = max(-1.0, min(1.0, out["eye_x"] + self._saccade[0]))
        out["eye_y"] = max(-1.0, min(1.0, out["eye_y"] + self._saccade[1]))
