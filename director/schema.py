"""`director schema`: the show format as JSON Schema, from the same specs the validator uses."""

from __future__ import annotations

from typing import Any

from director.conditions import OPERATORS
from director.kinds import node_kinds
from director.showfile import SHOW_FIELDS
from director.spec import Record


def show_schema() -> dict[str, Any]:
    fields = dict(SHOW_FIELDS)
    body = Record(fields, doc="a director show").schema()
    body["properties"]["tree"] = {"$ref": "#/$defs/node"}
    node_variants: list[dict[str, Any]] = []
    for name, kind in sorted(node_kinds().items()):
        props: dict[str, Any] = {name: {"type": ["string", "null"],
                                        "description": f"{kind.doc} (value: the node's name)"}}
        required = [name]
        if kind.condition_params:
            node_variants.append({"allOf": [
                {"type": "object", "properties": props, "required": required},
                {"$ref": "#/$defs/condition"}], "description": kind.doc})
            continue
        for pname, f in kind.params.items():
            s = dict(f.spec.schema())
            if f.doc:
                s["description"] = f.doc
            props[pname] = s
            if f.required and pname not in required:  # `scene: Main` names its own param
                required.append(pname)
        if kind.category == "composite":
            props["children"] = {"type": "array", "items": {"$ref": "#/$defs/node"}}
            required.append("children")
        elif kind.category == "decorator":
            props["child"] = {"$ref": "#/$defs/node"}
            required.append("child")
        node_variants.append({"type": "object", "properties": props, "required": required,
                              "additionalProperties": False, "description": kind.doc})
    node_variants.append({
        "type": "object", "description": "a subtree from trees/, with parameters",
        "properties": {"include": {"type": "string"}, "name": {"type": "string"},
                       "with": {"type": "object"}},
        "required": ["include"], "additionalProperties": False})
    compare: dict[str, Any] = {op: {} for op in OPERATORS}
    condition: dict[str, Any] = {"anyOf": [
        {"type": "object", "properties": {"key": {"type": "string"}, **compare},
         "required": ["key"], "minProperties": 2, "maxProperties": 3},
        {"type": "object", "properties": {"all": {"type": "array",
                                                  "items": {"$ref": "#/$defs/condition"}}},
         "required": ["all"]},
        {"type": "object", "properties": {"any": {"type": "array",
                                                  "items": {"$ref": "#/$defs/condition"}}},
         "required": ["any"]},
        {"type": "object", "properties": {"not": {"$ref": "#/$defs/condition"}},
         "required": ["not"]},
    ]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://director.invalid/show.schema.json",
        "title": "director show",
        **body,
        "$defs": {"node": {"anyOf": node_variants}, "condition": condition},
    }
