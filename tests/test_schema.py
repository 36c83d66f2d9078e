"""`director schema`: valid JSON Schema, matching what the loader accepts for the shipped shows.

The schema is for editors (completion and red squiggles), so it must be a valid Draft 2020-12
schema, accept every shipped show, and reject the mistakes the loader rejects that a schema can
express. A failing assertion prints the validator's messages with their JSON paths.
"""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from director.kinds import node_kinds
from director.schema import show_schema
from director.testing import MINIMAL_SHOW

ROOT = Path(__file__).resolve().parent.parent
SHOWS = ["asmr_night", "chat_party"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    done = subprocess.run([str(ROOT / ".venv/bin/director"), "schema"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema)


def problems(validator: jsonschema.Draft202012Validator, doc: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
            for e in validator.iter_errors(doc)]


def shipped(name: str) -> dict[str, Any]:
    with open(ROOT / "shows" / f"{name}.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_schema_is_valid_draft_2020_12(schema: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_cli_prints_the_same_schema_as_the_library(schema: dict[str, Any]) -> None:
    assert schema == json.loads(json.dumps(show_schema()))


def test_every_node_kind_is_described(schema: dict[str, Any]) -> None:
    variants = schema["$defs"]["node"]["anyOf"]
    described = set()
    for v in variants:
        body = v["allOf"][0] if "allOf" in v else v
        described.update(k for k in body["required"] if k in node_kinds() or k == "include")
    assert described == {*node_kinds(), "include"}


@pytest.mark.parametrize("name", SHOWS)
def test_shipped_shows_validate(validator: jsonschema.Draft202012Validator, name: str) -> None:
    found = problems(validator, shipped(name))
    assert not found, "\n".join(found)


def test_minimal_show_validates(validator: jsonschema.Draft202012Validator) -> None:
    found = problems(validator, yaml.safe_load(MINIMAL_SHOW))
    assert not found, "\n".join(found)


def break_show(change: Any) -> dict[str, Any]:
    show = copy.deepcopy(shipped("chat_party"))
    change(show)
    return show


def set_child(show: dict[str, Any], node: dict[str, Any]) -> None:
    show["tree"]["children"][0] = node


@pytest.mark.parametrize("change", [
    lambda s: s.update(tree={"thank_gift": "thanks"}),
    lambda s: set_child(s, {"thank_gift": "thanks"}),
    lambda s: set_child(s, {"idle": "i", "wait": "w", "seconds": 3}),
    lambda s: set_child(s, {"idle": "i", "self_tlk": False}),
    lambda s: set_child(s, {"wait": "w"}),
    lambda s: set_child(s, {"wait": "w", "seconds": "soon"}),
    lambda s: set_child(s, {"thank_gifts": "t", "min_tier": "three"}),
    lambda s: set_child(s, {"guard": "g", "when": {"key": "chat.ready", "eq": True},
                            "abort": "sideways", "child": {"idle": "i"}}),
    lambda s: set_child(s, {"guard": "g", "when": {"key": "chat.ready"}, "child": {"idle": "i"}}),
    lambda s: set_child(s, {"sequence": "s"}),
    lambda s: set_child(s, {"invert": "i"}),
    lambda s: s.pop("tree"),
    lambda s: s.pop("persona"),
    lambda s: s.update(gift={"combo_window_s": 3}),
    lambda s: s["segments"][0].update(at="soon"),
    lambda s: s.update(voice="espeak"),
], ids=["unknown-root-kind", "unknown-child-kind", "two-kinds", "unknown-param",
        "missing-param", "bad-duration", "str-for-int", "bad-choice", "condition-without-test",
        "composite-without-children", "decorator-without-child", "no-tree", "no-persona",
        "unknown-section", "bad-segment-time", "bad-voice"])
def test_broken_shows_do_not_validate(validator: jsonschema.Draft202012Validator,
                                      change: Any) -> None:
    assert problems(validator, shipped("chat_party")) == []
    broken = break_show(change)
    assert not validator.is_valid(broken), json.dumps(broken["tree"], ensure_ascii=False)[:500]


def test_includes_with_parameters_validate(validator: jsonschema.Draft202012Validator) -> None:
    show = break_show(lambda s: set_child(
        s, {"include": "trees/crowd.yaml", "name": "rest", "with": {"every_s": 5.0}}))
    found = problems(validator, show)
    assert not found, "\n".join(found)
