"""Avatar mappings: which Live2D expressions, motions and parameter ids mean what for one model.

A mapping is a small YAML file (`avatars/haru.yaml`, `avatars/shizuku.yaml`), found either by
path (`--avatar avatars/haru.yaml`, `avatar: {model: ..., mapping: ...}` in a show) or next to
the model (`NAME.avatar.yaml` beside `NAME.model.json`). Without one, a model gets the standard
parameter ids of its Cubism version and no expression or motion mapping: it still blinks,
breathes, sways, looks around and lip-syncs.

    model: ../assets/live2d/haru/01/assets/haru01.model.json   # relative to this file
    scale: 1.0              # on top of the model's own layout
    offset: [0.0, 0.0]      # in the model's view units (y up)
    expressions:            # our expression -> the model's expression id ("" = its default)
      happy: f02
    motions:                # a motion the show plays (gift tiers, idle) -> GROUP or GROUP:INDEX
      nod: tap_body:0
    params:                 # our parameter -> the model's id(s), or {id, scale, mode: set|add|mult}
      mouth_open: PARAM_MOUTH_OPEN_Y

Every problem is a `MappingError` naming the file, the key and the fix; the renderer then shows
the built-in avatar and the show goes on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from renderer.animation import PARAMS

MODEL_SUFFIXES = (".model.json", ".model3.json")

# How our values combine with what the model's own motions and expressions do: the mouth is
# held (lip-sync), the lids multiply (a blink closes even wide "surprised" eyes), the rest adds.
# Breathing is the model's own (auto breath), so `breath` is not mapped by default.
SET_PARAMS = frozenset({"mouth_open"})
MULT_PARAMS = frozenset({"eye_open_l", "eye_open_r"})


def default_mode(name: str) -> str:
    return "set" if name in SET_PARAMS else "mult" if name in MULT_PARAMS else "add"

STANDARD_V2 = {
    "angle_x": "PARAM_ANGLE_X", "angle_y": "PARAM_ANGLE_Y", "angle_z": "PARAM_ANGLE_Z",
    "body_x": "PARAM_BODY_ANGLE_X", "body_z": "PARAM_BODY_ANGLE_Z",
    "eye_open_l": "PARAM_EYE_L_OPEN", "eye_open_r": "PARAM_EYE_R_OPEN",
    "eye_smile": "PARAM_EYE_L_SMILE", "eye_x": "PARAM_EYE_BALL_X", "eye_y": "PARAM_EYE_BALL_Y",
    "brow_y": "PARAM_BROW_L_Y", "brow_angle": "PARAM_BROW_L_ANGLE",
    "mouth_open": "PARAM_MOUTH_OPEN_Y", "mouth_form": "PARAM_MOUTH_FORM", "blush": "PARAM_TERE",
}
STANDARD_V3 = {
    "angle_x": "ParamAngleX", "angle_y": "ParamAngleY", "angle_z": "ParamAngleZ",
    "body_x": "ParamBodyAngleX", "body_z": "ParamBodyAngleZ",
    "eye_open_l": "ParamEyeLOpen", "eye_open_r": "ParamEyeROpen", "eye_smile": "ParamEyeLSmile",
    "eye_x": "ParamEyeBallX", "eye_y": "ParamEyeBallY", "brow_y": "ParamBrowLY",
    "brow_angle": "ParamBrowLAngle", "mouth_open": "ParamMouthOpenY",
    "mouth_form": "ParamMouthForm", "blush": "ParamCheek",
}
# a few parameters drive a pair of ids (left and right) in the standard sets
PAIRS_V2 = {"eye_smile": "PARAM_EYE_R_SMILE", "brow_y": "PARAM_BROW_R_Y",
            "brow_angle": "PARAM_BROW_R_ANGLE"}
PAIRS_V3 = {"eye_smile": "ParamEyeRSmile", "brow_y": "ParamBrowRY",
            "brow_angle": "ParamBrowRAngle"}


class MappingError(ValueError):
    """A model or mapping that cannot be used: the message names the file, the reason, the fix."""


@dataclass(frozen=True)
class ParamBinding:
    ids: tuple[str, ...]
    scale: float = 1.0
    mode: str = "add"


@dataclass
class AvatarMapping:
    model: Path
    version: int
    scale: float = 1.0
    offset: tuple[float, float] = (0.0, 0.0)
    expressions: dict[str, str] = field(default_factory=dict)
    motions: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    params: dict[str, ParamBinding] = field(default_factory=dict)
    source: Path | None = None


def model_version(path: Path) -> int:
    """2 for a Cubism 2 `.model.json`, 3 for a Cubism 3+ `.model3.json`."""
    return 3 if path.name.endswith(".model3.json") else 2


def check_model(path: Path) -> int:
    """Check a model file and the files it names; returns its Cubism version or raises."""
    if not path.name.endswith(MODEL_SUFFIXES):
        raise MappingError(f"{path}: not a Live2D model (expected a .model.json or .model3.json "
                           "file, or an avatar mapping .yaml, or 'builtin')")
    if not path.is_file():
        raise MappingError(f"{path}: model file not found (run scripts/fetch-live2d.sh for the "
                           "samples, or fix the avatar path)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MappingError(f"{path}: not readable JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise MappingError(f"{path}: not a Live2D model setting (a JSON object is expected)")
    version = model_version(path)
    if version == 2:
        moc = data.get("model")
        textures = data.get("textures", [])
    else:
        refs = data.get("FileReferences", {})
        moc = refs.get("Moc") if isinstance(refs, dict) else None
        textures = refs.get("Textures", []) if isinstance(refs, dict) else []
    if not isinstance(moc, str) or not moc:
        key = "model" if version == 2 else "FileReferences.Moc"
        raise MappingError(f"{path}: no moc file named (key '{key}')")
    for name in [moc, *[t for t in textures if isinstance(t, str)]]:
        if not (path.parent / name).is_file():
            raise MappingError(f"{path}: missing file {path.parent / name}")
    # live2d-py aborts the whole process on a corrupt moc: check its magic number first
    magic = b"moc" if version == 2 else b"MOC3"
    try:
        with open(path.parent / moc, "rb") as fh:
            head = fh.read(len(magic))
    except OSError as exc:
        raise MappingError(f"{path}: cannot read {path.parent / moc} ({exc})") from exc
    if head != magic:
        raise MappingError(f"{path}: {path.parent / moc} is not a Cubism {version} moc file "
                           f"(it does not start with {magic!r}); a Cubism 3+ model needs a "
                           ".model3.json, a Cubism 2 model a .model.json")
    return version


def _binding(value: Any, where: str) -> ParamBinding:
    if isinstance(value, str) and value:
        return ParamBinding((value,))
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return ParamBinding(tuple(value))
    if isinstance(value, dict) and "id" in value:
        ids = value["id"]
        ids_t = (ids,) if isinstance(ids, str) else tuple(ids)
        mode = value.get("mode", "add")
        if mode not in ("set", "add", "mult"):
            raise MappingError(f"{where}.mode: '{mode}' is not set, add or mult")
        return ParamBinding(ids_t, float(value.get("scale", 1.0)), mode)
    raise MappingError(f"{where}: expected a parameter id, a list of ids or {{id, scale, mode}}")


def default_mapping(model: Path, version: int) -> AvatarMapping:
    ids = STANDARD_V3 if version == 3 else STANDARD_V2
    pairs = PAIRS_V3 if version == 3 else PAIRS_V2
    params = {}
    for name, pid in ids.items():
        both = (pid, pairs[name]) if name in pairs else (pid,)
        params[name] = ParamBinding(both, 1.0, default_mode(name))
    return AvatarMapping(model=model, version=version, params=params)


def load_mapping(path: Path) -> AvatarMapping:
    """A mapping YAML (with its model checked), or a model file with the standard mapping."""
    if path.name.endswith(MODEL_SUFFIXES):
        beside = path.with_name(path.name.split(".model")[0] + ".avatar.yaml")
        if beside.is_file():
            return load_mapping(beside)
        return default_mapping(path, check_model(path))
    if path.suffix not in (".yaml", ".yml"):
        raise MappingError(f"{path}: unsupported avatar file (use 'builtin', a Live2D "
                           ".model.json/.model3.json, or an avatar mapping .yaml)")
    if not path.is_file():
        raise MappingError(f"{path}: avatar mapping not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise MappingError(f"{path}: not readable YAML ({exc})") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), str):
        raise MappingError(f"{path}: key 'model' (the .model.json/.model3.json path, relative to "
                           "this file) is required")
    model = (path.parent / raw["model"]).resolve()
    mapping = default_mapping(model, check_model(model))
    mapping.source = path
    mapping.scale = float(raw.get("scale", 1.0))
    off = raw.get("offset", [0.0, 0.0])
    if not (isinstance(off, list) and len(off) == 2):
        raise MappingError(f"{path}: offset: expected [x, y]")
    mapping.offset = (float(off[0]), float(off[1]))
    for key in ("expressions", "motions", "params"):
        if not isinstance(raw.get(key, {}), dict):
            raise MappingError(f"{path}: {key}: expected a mapping of names")
    mapping.expressions = {str(k): str(v or "") for k, v in raw.get("expressions", {}).items()}
    for name, target in raw.get("motions", {}).items():
        group, _, index = str(target).partition(":")
        if index and not index.isdigit():
            raise MappingError(f"{path}: motions.{name}: '{target}' is not GROUP or GROUP:INDEX")
        mapping.motions[str(name)] = (group, int(index) if index else None)
    for name, value in raw.get("params", {}).items():
        if name not in PARAMS:
            raise MappingError(f"{path}: params.{name}: unknown parameter; known: "
                               f"{', '.join(PARAMS)}")
        binding = _binding(value, f"{path}: params.{name}")
        if isinstance(value, (str, list)):  # shorthand keeps the default mode
            binding = ParamBinding(binding.ids, 1.0, default_mode(name))
        mapping.params[name] = binding
    return mapping


def resolve_avatar(avatar: str, mapping: str = "") -> AvatarMapping | None:
    """The mapping for an avatar setting: None for 'builtin'; raises MappingError when unusable.

    `avatar` is a model file or a mapping YAML; `mapping`, when given, is a mapping YAML whose
    expressions, motions and ids apply to the model file named by `avatar`.
    """
    if avatar == "builtin":
        return None
    if not mapping:
        return load_mapping(Path(avatar))
    loaded = load_mapping(Path(mapping))
    if Path(avatar).name.endswith(MODEL_SUFFIXES):
        model = Path(avatar)
        loaded.version = check_model(model)
        loaded.model = model
    return loaded
