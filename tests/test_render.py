"""The built-in avatar, the animator, the state channel and mappings: real frames over EGL.

The Live2D tests run in subprocesses (tests/test_render_live2d.py): live2d-py must be
initialised before any GL context exists in a process, and this file creates contexts freely.
"""

from __future__ import annotations

import itertools
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from director.cli import main
from renderer.animation import EXPRESSIONS, Animator, Drive
from renderer.builtin import unit_for
from renderer.channel import Channel
from renderer.mapping import MappingError, check_model, load_mapping, resolve_avatar
from renderer.scene import Scene, snapshot

ROOT = Path(__file__).resolve().parent.parent


def egl_available() -> bool:
    from renderer.gl import open_context

    try:
        open_context().release()
    except RuntimeError:
        return False
    return True


pytestmark = pytest.mark.skipif(not egl_available(), reason="no EGL/OpenGL here (install "
                                "libegl1 libegl-mesa0 libgl1-mesa-dri)")


def where(width: int, height: int, x: float, y: float) -> tuple[int, int]:
    """(row, col) of a point in the built-in avatar's character space (y up, head ~0.3)."""
    unit = unit_for(width, height)
    return round(height - (y + 1.0) * unit), round(width / 2 + x * unit)


@pytest.fixture(scope="module")
def scene() -> Scene:
    s = Scene(width=640, height=360, life=False)
    yield s
    s.release()


def still(scene: Scene, expression: str = "neutral", mouth: float = 0.0) -> np.ndarray:
    scene.animator = Animator(life=False)
    return scene.frame(Drive(expression=expression, mouth=mouth), 0.0, snap=True).copy()


def test_transparent_around_the_avatar(scene: Scene) -> None:
    frame = still(scene)
    assert frame.shape == (360, 640, 4) and frame.dtype == np.uint8
    alpha = frame[..., 3]
    assert alpha[:, :100].max() == 0 and alpha[:, -100:].max() == 0, "sides not transparent"
    assert alpha[:20].max() == 0, "above the head not transparent"
    row, col = where(640, 360, 0.0, 0.16)  # the face, between the eyes
    assert alpha[row, col] == 255
    assert 0.15 < (alpha > 0).mean() < 0.6
    # straight alpha: opaque face pixels are skin-coloured, not darkened
    assert frame[row, col, :3].min() > 180


def test_mouth_region_follows_the_mouth_level(scene: Scene) -> None:
    closed, opened = still(scene, mouth=0.0), still(scene, mouth=1.0)
    diff = np.abs(closed.astype(int) - opened.astype(int)).sum(axis=2)
    row, col = where(640, 360, 0.0, 0.03)
    mouth = diff[row - 20: row + 20, col - 25: col + 25]
    assert (mouth > 60).sum() > 150, "the mouth did not open"
    erow, _ = where(640, 360, 0.0, 0.2)
    assert diff[: erow + 10].sum() == 0, "something above the mouth changed"
    half = still(scene, mouth=0.5)
    opened_px = (np.abs(closed.astype(int) - half.astype(int)).sum(axis=2) > 60).sum()
    assert 0 < opened_px < (mouth > 60).sum(), "half open should be between closed and open"


def test_expressions_differ(scene: Scene) -> None:
    frames = {name: still(scene, name) for name in EXPRESSIONS}
    names = list(frames)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            changed = (np.abs(frames[a].astype(int) - frames[b].astype(int)).sum(axis=2) > 30)
            assert changed.sum() > 200, f"{a} and {b} look the same"


def test_idle_life_moves_pixels_over_time() -> None:
    s = Scene(width=320, height=180, life=True, seed=3)
    try:
        drive = Drive()
        frames = [s.frame(drive, 1 / 30).copy()]
        for _ in range(3):
            for _ in range(14):
                s.frame(drive, 1 / 30)
            frames.append(s.frame(drive, 1 / 30).copy())
        for a, b in itertools.pairwise(frames):
            assert (a != b).any(), "two frames half a second apart are identical"
    finally:
        s.release()


@pytest.mark.parametrize("size", [(160, 90), (512, 512), (720, 1280), (1920, 1080)])
def test_builtin_renders_at_several_sizes(size: tuple[int, int]) -> None:
    width, height = size
    frame, scene = snapshot(width=width, height=height)
    scene.release()
    alpha = frame[..., 3]
    assert frame.shape == (height, width, 4)
    assert alpha[0].max() == 0 and alpha[:, 0].max() == 0 and alpha[:, -1].max() == 0
    row, col = where(width, height, 0.0, 0.16)
    assert alpha[row, col] == 255, "no face where it belongs"
    assert (alpha > 0).mean() > 0.05


def test_animator_motions_replay_and_overrides() -> None:
    anim = Animator(life=False)
    rest = anim.step(Drive(), 0.1)["angle_y"]
    nod = Drive(motion="nod", motion_count=1)
    mid = [anim.step(nod, 0.1)["angle_y"] for _ in range(3)]
    assert min(mid) < rest - 3, "nod did not move the head"
    for _ in range(10):
        anim.step(nod, 0.1)
    assert anim.step(nod, 0.1)["angle_y"] == pytest.approx(rest, abs=0.5)
    again = Drive(motion="nod", motion_count=2)  # the same motion, played again
    assert min(anim.step(again, 0.1)["angle_y"] for _ in range(3)) < rest - 3
    held = anim.step(Drive(overrides={"blush": 0.9, "nope": 1.0}), 0.1)
    assert held["blush"] == 0.9 and "nope" not in held
    assert anim.step(Drive(expression="no-such-face"), 0.1)["mouth_form"] == pytest.approx(
        EXPRESSIONS["neutral"]["mouth_form"], abs=0.05)


def test_channel_keeps_only_the_latest_state() -> None:
    ch = Channel.create()
    reader = Channel.attach(ch.name)
    try:
        assert reader.latest() == (0, None) and ch.status() == {}
        ch.publish({"version": 1})
        ch.publish({"version": 2, "expression": "happy"})
        seq, state = reader.latest()
        assert state == {"version": 2, "expression": "happy"} and seq % 2 == 0
        assert reader.latest()[0] == seq  # nothing new: same sequence, same state
        reader.report({"frames": 5})
        assert ch.status() == {"frames": 5}
        # a write caught half-way (odd sequence) is never read as a state
        struct.pack_into("<Q", ch.buf, 0, seq + 1)
        assert reader.latest() == (seq, state)
    finally:
        reader.close()
        ch.close()


def test_mappings_report_path_and_reason(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"missing\.model\.json: model file not found"):
        check_model(tmp_path / "missing.model.json")
    with pytest.raises(MappingError, match="unsupported avatar file"):
        load_mapping(tmp_path / "avatar.vrm")
    broken = tmp_path / "x.model.json"
    broken.write_text('{"model": "x.moc", "textures": []}')
    (tmp_path / "x.moc").write_bytes(b"garbage")
    with pytest.raises(MappingError, match=r"x\.moc is not a Cubism 2 moc file"):
        check_model(broken)
    (tmp_path / "x.moc").write_bytes(b"moc\x09....")
    assert check_model(broken) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: x.model.json\nparams:\n  mouth: PARAM_MOUTH_OPEN_Y\n")
    with pytest.raises(MappingError, match=r"params\.mouth: unknown parameter"):
        load_mapping(bad)
    v3 = tmp_path / "m.model3.json"
    v3.write_text(json.dumps({"FileReferences": {"Moc": "m.moc3", "Textures": []}}))
    (tmp_path / "m.moc3").write_bytes(b"MOC3....")
    mapping = load_mapping(v3)
    assert mapping.version == 3 and mapping.params["mouth_open"].ids == ("ParamMouthOpenY",)
    assert resolve_avatar("builtin") is None
    shipped = load_mapping(ROOT / "avatars" / "haru.yaml") if (
        ROOT / "assets/live2d/haru/01/assets/haru01.model.json").is_file() else None
    if shipped is not None:
        assert shipped.expressions["happy"] == "f05" and shipped.motions["nod"] == ("tap_body", 0)


def test_missing_model_falls_back_to_builtin() -> None:
    s = Scene(avatar="no/such/avatar.model.json", width=160, height=90)
    try:
        assert s.kind == "builtin"
        assert s.fallback is not None and "no/such/avatar.model.json" in s.fallback
        assert s.frame(Drive(), 1 / 30)[..., 3].max() == 255
    finally:
        s.release()


def test_snapshot_command_writes_a_transparent_png(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    out = tmp_path / "avatar.png"
    assert main(["snapshot", "--expression", "happy", "--mouth", "0.6", "--size", "320x180",
                 "--out", str(out)]) == 0
    img = np.asarray(Image.open(out))
    assert img.shape == (180, 320, 4) and img[0, 0, 3] == 0 and img[..., 3].max() == 255
    assert "builtin avatar, happy" in capsys.readouterr().out
    assert main(["snapshot", "--size", "big", "--out", str(out)]) == 2
