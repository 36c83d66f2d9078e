"""The built-in avatar: a stylised anime character drawn by one fragment shader, no asset files.

It is the default avatar (a fresh machine runs `director run` with it) and the fallback when a
Live2D model is missing or broken. The character is a bust: long pastel-pink hair with bangs, an
ahoge and a star clip, big teal eyes with two highlights, brows, a mouth that opens with the
voice and bends with the expression, blush, and a navy sailor top with a white collar and a red
ribbon. It takes the same parameters as a Live2D model (see `renderer.animation`).

Design: every part is a signed distance function, composited back to front (premultiplied) in
one fragment shader that writes straight alpha, upside down, so the canvas is read back as the
frame with no finish pass (a Live2D drawing needs one: see `renderer.gl`). Only a quad around the
character is drawn, and small parts (face features, brows, ribbon, star clip, ahoge, side locks)
are evaluated only near where they are, so llvmpipe on 2 cores keeps 720p above 30 fps. Head
turn is faked with parallax: features move more than the face outline, the back hair moves
against them. The rejected alternative was a set of textured quads (a sprite rig): it needs
image assets, and an SDF stays sharp at any size.
"""

from __future__ import annotations

import moderngl
import numpy as np

from renderer.animation import PARAMS

VERTEX = """
#version 330
uniform vec2 res;
uniform float unit;
in vec2 in_pos;      // character space: x -0.85..0.85, y -1.05..1.0
out vec2 p;
void main() {
    p = in_pos;
    vec2 px = vec2(res.x * 0.5 + in_pos.x * unit, (in_pos.y + 1.0) * unit);
    vec2 ndc = px / res * 2.0 - 1.0;
    gl_Position = vec4(ndc.x, -ndc.y, 0.0, 1.0);  // drawn upside down: GL row 0 = top row
}
"""

FRAGMENT = """
#version 330
uniform float unit;
uniform float angle_x, angle_y, angle_z, body_x, body_y, body_z;
uniform float eye_open_l, eye_open_r, eye_smile, eye_x, eye_y;
uniform float brow_y, brow_angle, mouth_open, mouth_form, blush, breath;
uniform float time;
in vec2 p;
out vec4 color;

const vec3 OUTLINE = vec3(0.33, 0.19, 0.28);
const vec3 SKIN = vec3(1.0, 0.9, 0.84);
const vec3 SKIN_SHADE = vec3(0.96, 0.76, 0.74);
const vec3 HAIR = vec3(0.98, 0.68, 0.82);
const vec3 HAIR_SHADE = vec3(0.80, 0.48, 0.70);
const vec3 HAIR_LIGHT = vec3(1.0, 0.88, 0.94);
const vec3 CLOTH = vec3(0.24, 0.28, 0.50);
const vec3 CLOTH_SHADE = vec3(0.17, 0.19, 0.36);
const vec3 RIBBON = vec3(0.93, 0.29, 0.40);

float px;
vec4 acc = vec4(0.0);

mat2 rot(float a) { float c = cos(a), s = sin(a); return mat2(c, s, -s, c); }
float cover(float d) { return clamp(0.5 - d / px, 0.0, 1.0); }
void over(vec3 c, float a) { acc = vec4(c * a, a) + acc * (1.0 - a); }
// a filled shape with an outline of width w
void shape(float d, vec3 fill, float w) {
    float a = cover(d);
    if (a <= 0.0) return;
    over(mix(OUTLINE, fill, cover(d + w)), a);
}
float smin(float a, float b, float k) {
    float h = clamp(0.5 + 0.5 * (b - a) / k, 0.0, 1.0);
    return mix(b, a, h) - k * h * (1.0 - h);
}
float ellipse(vec2 q, vec2 r) { return (length(q / r) - 1.0) * min(r.x, r.y); }
float box(vec2 q, vec2 b, float r) {
    vec2 d = abs(q) - b + r;
    return length(max(d, 0.0)) + min(max(d.x, d.y), 0.0) - r;
}
float segment(vec2 q, vec2 a, vec2 b) {
    vec2 pa = q - a, ba = b - a;
    float h = clamp(dot(pa, ba) / dot(ba, ba), 0.0, 1.0);
    return length(pa - ba * h);
}
// a strand: a capsule whose radius shrinks from ra at a to rb at b
float strand(vec2 q, vec2 a, vec2 b, float ra, float rb) {
    vec2 pa = q - a, ba = b - a;
    float h = clamp(dot(pa, ba) / dot(ba, ba), 0.0, 1.0);
    return length(pa - ba * h) - mix(ra, rb, h);
}
float star(vec2 q, float r) {
    float a = atan(q.y, q.x) + 1.5708;
    float k = cos(floor(0.5 + a / 1.2566) * 1.2566 - a);
    return length(q) - r * (0.55 + 0.45 * pow(abs(k), 6.0));
}
vec3 hair_color(vec2 q) {
    float streak = 0.5 + 0.5 * sin(q.x * 46.0 + q.y * 9.0);
    vec3 c = mix(HAIR_SHADE, HAIR, smoothstep(-0.6, 0.55, q.y));
    return mix(c, c * 0.93, streak * 0.5);
}

// one eye; s = -1 (viewer's left) or 1
void eye(vec2 q, float open, float s) {
    q.x *= s;
    float sm = clamp(eye_smile, 0.0, 1.0);
    float o = clamp(open, 0.0, 1.35) * (1.0 - sm);   // smiling eyes close into arches
    float top = -0.08 + 0.165 * o - 1.6 * q.x * q.x;              // upper lid, arched
    float bot = -0.075 + 1.2 * q.x * q.x;                            // lower lid
    float shape_d = max(ellipse(q, vec2(0.072, 0.09 + 0.02 * max(o - 1.0, 0.0))),
                        max(q.y - top, bot - q.y));
    float inside = cover(shape_d);
    if (inside > 0.0) {
        vec3 white = mix(vec3(1.0), vec3(0.82, 0.85, 0.95), smoothstep(top - 0.04, top, q.y));
        over(white, inside);
        vec2 iq = q - vec2(eye_x * 0.024 * s, eye_y * 0.02 - 0.004);
        float iris = ellipse(iq, vec2(0.052, 0.068));
        float ia = cover(iris) * inside;
        if (ia > 0.0) {
            vec3 ic = mix(vec3(0.14, 0.26, 0.52), vec3(0.30, 0.78, 0.86),
                          smoothstep(0.06, -0.06, iq.y));
            ic = mix(ic, vec3(0.1, 0.12, 0.3), smoothstep(-0.012, 0.0, iris) * 0.7);  // rim
            float pupil = ellipse(iq - vec2(0.0, 0.006), vec2(0.022, 0.032));
            ic = mix(ic, vec3(0.08, 0.08, 0.22), cover(pupil));
            over(ic, ia);
            // highlights: a big one up-left, a small one down-right, and a glint when excited
            float h1 = ellipse(iq - vec2(-0.018 * s, 0.026), vec2(0.018, 0.022));
            float h2 = length(iq - vec2(0.02 * s, -0.03)) - 0.009;
            over(vec3(1.0), cover(min(h1, h2)) * inside);
            float glint = star(iq - vec2(0.016 * s, 0.005), 0.02);
            over(vec3(1.0, 1.0, 0.9), cover(glint) * inside * smoothstep(1.08, 1.18, open));
        }
        // shadow of the lid on the white
        over(vec3(0.5, 0.45, 0.6), inside * 0.25 * smoothstep(top - 0.025, top, q.y));
    }
    // upper lash line: follows the lid, thicker at the outer corner, a small wing outside
    float x = clamp(q.x, -0.075, 0.078);
    float closed = 1.0 - smoothstep(0.05, 0.25, o);
    float curve = mix(top, mix(-0.005 + 2.4 * x * x, 0.012 - 4.5 * x * x, sm), closed);
    float lash = abs(q.y - curve) - mix(0.006, 0.014, smoothstep(-0.06, 0.07, q.x));
    lash = max(lash, abs(q.x) - 0.08);
    float wing = strand(q, vec2(0.065, curve + 0.0), vec2(0.095, curve + 0.022), 0.008, 0.002);
    lash = min(lash, wing);
    over(OUTLINE * 0.75, cover(lash));
    // a short lower lash at the outer corner
    float low = max(abs(q.y - (bot - 0.004)) - 0.003, abs(q.x - 0.045) - 0.02);
    over(OUTLINE, cover(low) * (1.0 - closed) * 0.8);
}

void face_features(vec2 f) {
    // each pixel is on one side of the face: only that side's blush and eye are evaluated
    float s = f.x < 0.0 ? -1.0 : 1.0;
    // blush (soft), with three little hatch strokes when strong
    vec2 c = f - vec2(0.165 * s, 0.095);
    if (blush > 0.01 && abs(c.x) < 0.075 && abs(c.y) < 0.045) {
        float d = ellipse(c, vec2(0.065, 0.032));
        float a = clamp(-d / 0.03, 0.0, 1.0) * blush * 0.7;
        over(vec3(1.0, 0.5, 0.58), a);
        if (blush > 0.45) {
            vec2 h = c;
            h.x = mod(h.x + 0.018, 0.024) - 0.012;
            float hatch = max(segment(h, vec2(-0.004, -0.01), vec2(0.006, 0.012)) - 0.0025,
                              abs(c.x) - 0.035);
            over(vec3(0.92, 0.38, 0.48), cover(hatch) * smoothstep(0.45, 0.8, blush));
        }
    }
    vec2 e = f - vec2(0.125 * s, 0.2);
    if (abs(e.x) < 0.11 && e.y > -0.11 && e.y < 0.14) {
        eye(e, s < 0.0 ? eye_open_l : eye_open_r, s);
    }
    // nose: a tiny stroke
    if (abs(f.x) < 0.02 && abs(f.y - 0.11) < 0.02) {
        over(SKIN_SHADE * 0.85,
             cover(segment(f, vec2(0.004, 0.115), vec2(-0.004, 0.105)) - 0.004));
    }
    if (abs(f.x) > 0.1 || f.y > 0.09 || f.y < -0.07) {
        return;
    }
    // mouth
    vec2 m = f - vec2(0.0, 0.035);
    float form = mouth_form;
    float open = clamp(mouth_open, 0.0, 1.0);
    float w = 0.045 + 0.012 * form - 0.012 * open * step(form, 0.0);
    float h = 0.065 * open;
    m.y -= form * 11.0 * m.x * m.x;                    // corners up when smiling
    if (h > 0.006) {
        // "D" shape: a flat top lip when smiling, a rounder one otherwise
        float top = mix(h * 0.45, 0.004, max(form, 0.0));
        float d = max(ellipse(m - vec2(0.0, top - h * 0.5), vec2(w, h * 0.75 + 0.006)),
                      m.y - top);
        float a = cover(d);
        if (a > 0.0) {
            over(OUTLINE, a);
            float inner = cover(d + 0.006);
            over(vec3(0.62, 0.18, 0.26), inner);
            float tongue = ellipse(m - vec2(0.0, top - h * 1.25), vec2(w * 0.7, h * 0.6));
            over(vec3(0.97, 0.52, 0.56), cover(max(tongue, d + 0.006)));
            float teeth = max(d + 0.006, top - 0.012 - m.y);
            over(vec3(1.0), cover(teeth) * step(0.15, open));
        }
    } else {
        float d = max(abs(m.y) - 0.0045, abs(m.x) - w * 0.8);
        over(OUTLINE, cover(d));
    }
}

void main() {
    px = 1.2 / unit;
    vec2 b = p;
    b.y -= body_y + 0.012 * breath;
    b.x -= body_x * 0.006;
    b = rot(body_z * 0.012) * (b - vec2(0.0, -1.0)) + vec2(0.0, -1.0);
    // head space: rotate about the neck
    vec2 pivot = vec2(0.0, -0.02);
    vec2 hp = rot(-angle_z * 0.0174533) * (b - pivot) + pivot;
    hp.y -= 0.006 * breath;
    vec2 turn = vec2(angle_x / 30.0, angle_y / 30.0);
    vec2 fp = hp - vec2(turn.x * 0.085, turn.y * 0.06);    // features move most
    vec2 sp = hp - vec2(turn.x * 0.03, turn.y * 0.02);     // face outline and bangs
    vec2 bp = hp + vec2(turn.x * 0.035, turn.y * 0.02);    // back hair moves against them

    // back hair: the mass behind the head, down past the shoulders, wavy ends
    if (bp.y > -0.7) {  // (the bottom of the frame is only the torso: skip the rest there)
        float w = 0.4 + 0.07 * clamp(-bp.y, 0.0, 1.0);
        float d = smin(ellipse(bp - vec2(0.0, 0.33), vec2(0.405, 0.39)),
                       box(bp - vec2(0.0, -0.15), vec2(w, 0.45), 0.14), 0.12);
        float ends = bp.y + 0.56 + 0.04 * sin(bp.x * 22.0) - 0.05 * abs(bp.x);
        d = max(d, -ends);
        vec3 c = hair_color(bp) * mix(0.62, 0.9, smoothstep(0.18, 0.3, abs(bp.x)));
        shape(d, c, 0.008);
    }
    // neck and shoulders
    {
        float neck = box(b - vec2(0.0, -0.2), vec2(0.072, 0.23), 0.04);
        shape(neck, mix(SKIN_SHADE, SKIN, smoothstep(-0.1, -0.28, b.y)), 0.007);
        float torso = box(b - vec2(0.0, -1.0), vec2(0.56, 0.8), 0.24);
        torso = -smin(-torso, -(b.y + 0.27 + 0.4 * abs(b.x)) / 1.08, 0.06);  // sloped shoulders
        if (torso < px * 2.0) {
            float v = (-0.62 + abs(b.x) * 1.45 - b.y) / 1.76;   // the V neckline, < 0 inside
            vec3 cloth = mix(CLOTH_SHADE, CLOTH, smoothstep(-0.55, 0.4, b.x + 0.3 * b.y));
            vec3 c = cloth;
            c = mix(c, vec3(0.97, 0.97, 1.0), step(0.0, v) * step(v, 0.085));       // collar
            c = mix(c, CLOTH, step(abs(v - 0.055), 0.009));                        // stripe
            c = mix(c, SKIN, step(v, 0.0));                                        // skin in V
            c = mix(c, SKIN_SHADE, step(v, 0.0) * smoothstep(-0.36, -0.44, b.y) * 0.8);
            shape(torso, c, 0.008);
            over(OUTLINE, cover(abs(v - 0.085) - 0.003) * cover(torso + 0.004));
            over(OUTLINE, cover(abs(v) - 0.003) * cover(torso + 0.004));
            // ribbon: two loops, a knot and two tails
            vec2 r = b - vec2(0.0, -0.62);
            if (abs(r.x) < 0.16 && abs(r.y + 0.03) < 0.14) {
                vec2 ra = vec2(abs(r.x), r.y);
                float loops = ellipse(rot(-0.35) * (ra - vec2(0.06, 0.01)), vec2(0.06, 0.035));
                float tails = strand(ra, vec2(0.01, -0.01), vec2(0.05, -0.12), 0.02, 0.012);
                shape(min(loops, tails), RIBBON, 0.007);
                shape(ellipse(r, vec2(0.025, 0.024)), RIBBON * 0.85, 0.007);
            }
        }
    }
    // the face
    if (sp.y > -0.12) {
        vec2 q = sp - vec2(0.0, 0.27);
        q.x *= 1.0 + 0.6 * clamp(-q.y / 0.3, 0.0, 1.0);   // a narrower, pointed chin
        float d = ellipse(q, vec2(0.295, 0.31));
        // ears
        vec2 e = vec2(abs(sp.x) - 0.29, sp.y - 0.2);
        d = smin(d, ellipse(e, vec2(0.035, 0.06)), 0.02);
        vec3 skin = mix(SKIN, SKIN_SHADE, smoothstep(0.36, 0.44, sp.y) * 0.8);
        shape(d, skin, 0.008);
        if (d < 0.0 && abs(fp.x) < 0.32 && fp.y > -0.06 && fp.y < 0.34) {
            face_features(fp);
        }
    }
    // brows (drawn through the bangs, as anime does)
    vec3 brow_col = HAIR_SHADE * 0.8;
    float brows = 1.0;
    if (abs(fp.y - 0.3) < 0.08) {
        vec2 q = fp - vec2(0.0, 0.315 + 0.028 * brow_y);
        float s = sign(q.x);
        vec2 a = vec2(0.07 * s, 0.022 * brow_angle);
        vec2 c = vec2(0.175 * s, -0.008 - 0.018 * brow_angle);
        brows = strand(q, a, c, 0.007, 0.004);
    }
    // bangs: the top of the head, cut into pointed strands above the eyes
    if (sp.y > -0.6) {
        float d = ellipse(sp - vec2(0.0, 0.33), vec2(0.37, 0.37));
        // strands of uneven width, the longest between the eyes, swept to one side
        float u = sp.x * 5.2 + 0.35 + 0.9 * sp.y;
        float cell = floor(u);
        float tri = abs(fract(u) - 0.5) * 2.0;
        float len = 0.05 * sin(cell * 2.7) + 0.03 * abs(sp.x) / 0.3;
        float line = 0.235 + len + 0.12 * pow(tri, 1.6);
        d = max(d, line - sp.y);
        // side locks in front of the shoulders
        vec2 sl = vec2(abs(sp.x), sp.y);
        if (sl.x > 0.18) {
            float lock = strand(sl, vec2(0.3, 0.3), vec2(0.37, -0.38), 0.075, 0.012);
            lock = smin(lock, strand(sl, vec2(0.34, -0.2), vec2(0.4, -0.5), 0.03, 0.006), 0.04);
            d = min(d, lock);
        }
        // ahoge
        if (sp.y > 0.6) {
            float ah = strand(sp, vec2(0.02, 0.68), vec2(0.1, 0.83), 0.022, 0.004);
            ah = min(ah, strand(sp, vec2(0.1, 0.83), vec2(0.16, 0.78), 0.004, 0.002));
            d = min(d, ah);
        }
        float a = cover(d);
        if (a > 0.0) {
            vec3 c = hair_color(sp);
            // the "angel ring" highlight
            float ring = abs(length((sp - vec2(0.0, 0.3)) * vec2(1.0, 1.3)) - 0.33) - 0.018
                         + 0.01 * abs(sin(sp.x * 40.0));
            c = mix(c, HAIR_LIGHT, cover(ring) * smoothstep(0.3, 0.45, sp.y));
            over(mix(OUTLINE, c, cover(d + 0.008)), a);
        }
        over(brow_col, cover(brows) * 0.9);
        // a yellow star clip
        vec2 sc = sp - vec2(0.25, 0.52);
        if (dot(sc, sc) < 0.006) {
            shape(star(rot(0.3) * sc, 0.055), vec3(1.0, 0.85, 0.35), 0.007);
        }
    }
    color = vec4(acc.a > 0.0 ? acc.rgb / acc.a : vec3(0.0), acc.a);  // straight alpha
}
"""

# the quad around the character, in character space (see VERTEX)
BOUNDS = (-0.75, -1.05, 0.75, 1.0)


def unit_for(width: int, height: int) -> float:
    """Pixels per character unit: the bust fills the height, and fits narrow frames too."""
    return min(height / 2.0, width / 1.9)


class BuiltinAvatar:
    """Draws the built-in character into the current framebuffer."""

    kind = "builtin"
    premultiplied = False
    flipped = True  # already straight alpha with row 0 on top: read without the finish pass

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.prog = ctx.program(vertex_shader=VERTEX, fragment_shader=FRAGMENT)
        x0, y0, x1, y1 = BOUNDS
        quad = np.array([x0, y0, x1, y0, x0, y1, x1, y1], dtype="f4")
        self.vbo = ctx.buffer(quad.tobytes())
        self.vao = ctx.vertex_array(self.prog, [(self.vbo, "2f", "in_pos")])
        self.size = (0, 0)
        self._uniforms = {name: self.prog[name] for name in PARAMS if name in self.prog}

    def resize(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.prog["res"] = (float(width), float(height))
        self.prog["unit"] = unit_for(width, height)

    def start(self, name: str) -> None:
        """Motions of the built-in avatar are procedural (renderer.animation)."""

    def express(self, name: str) -> None:
        """Expressions of the built-in avatar are parameter targets (renderer.animation)."""

    def draw(self, values: dict[str, float], dt: float) -> None:
        for name, uniform in self._uniforms.items():
            uniform.value = float(values.get(name, 0.0))  # type: ignore[union-attr]
        self.ctx.disable(moderngl.BLEND)
        self.vao.render(moderngl.TRIANGLE_STRIP)

    def release(self) -> None:
        for obj in (self.vao, self.vbo, self.prog):
            obj.release()
