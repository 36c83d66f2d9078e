"""Declarative value specs: one description per setting gives validation, defaults and JSON Schema.

Show sections and behaviour parameters are described with these specs as class data, so
`director validate` checks a show without running it, `director schema` prints the same rules for
editors, and the two can never disagree. A spec's `check` returns the converted value (defaults
filled in) and records every problem in a `Checker` instead of raising, so one pass finds them all.

Rejected alternative: validating with JSON Schema (the `jsonschema` package) and mapping its error
paths back to places. Its messages ("'x' is not of type 'number'") name neither the setting nor the
fix, and did-you-mean hints would need a second pass anyway.
"""

from __future__ import annotations

import difflib
import math
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from director.errors import BadParameter, Place, ShowLoadError, UnknownName
from director.yamlsource import YList, YMap


def did_you_mean(name: str, options: Iterable[str]) -> str:
    options = list(options)
    if not options:  # callers fall back to their own hint ("declare it under ...") on ''
        return ""
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if len(options) <= 12:
        return "expected one of: " + ", ".join(sorted(options))
    return ""


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, (dict, YMap)):
        return "a mapping"
    if isinstance(value, (list, YList)):
        return "a list"
    return repr(value)


class Checker:
    """Collects problems found while checking values."""

    def __init__(self) -> None:
        self.errors: list[ShowLoadError] = []

    def bad(self, place: Place, message: str, hint: str = "") -> None:
        self.errors.append(BadParameter(place, message, hint))

    def unknown(self, place: Place, message: str, hint: str = "") -> None:
        self.errors.append(UnknownName(place, message, hint))

    def add(self, error: ShowLoadError) -> None:
        self.errors.append(error)


class Spec:
    """A kind of value. `check` converts and validates; `schema` describes it as JSON Schema."""

    doc = ""

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.__class__.__name__.lower()


class Str(Spec):
    def __init__(self, *, non_empty: bool = False, pattern: str | None = None) -> None:
        self.non_empty = non_empty
        self.pattern = re.compile(pattern) if pattern else None

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            ck.bad(place, f"'{label}' must be text, got {_type_name(value)}", "quote it")
            return None
        if self.non_empty and not value.strip():
            ck.bad(place, f"'{label}' must not be empty")
        if self.pattern and not self.pattern.fullmatch(value):
            ck.bad(place, f"'{label}' has an invalid value {value!r}",
                   f"it must match {self.pattern.pattern}")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        if self.pattern:
            out["pattern"] = self.pattern.pattern
        return out

    def describe(self) -> str:
        return "text"


class Number(Spec):
    def __init__(self, *, minimum: float | None = None, maximum: float | None = None,
                 integer: bool = False) -> None:
        self.minimum, self.maximum, self.integer = minimum, maximum, integer

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.integer and isinstance(value, float):
            ok = value.is_integer()
        if not ok:
            what = "a whole number" if self.integer else "a number"
            ck.bad(place, f"'{label}' must be {what}, got {_type_name(value)}")
            return None
        if self.minimum is not None and value < self.minimum:
            ck.bad(place, f"'{label}' must be at least {self.minimum:g}, got {value:g}")
        if self.maximum is not None and value > self.maximum:
            ck.bad(place, f"'{label}' must be at most {self.maximum:g}, got {value:g}")
        return int(value) if self.integer else float(value)

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer" if self.integer else "number"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out

    def describe(self) -> str:
        return "whole number" if self.integer else "number"


def Int(*, minimum: float | None = None, maximum: float | None = None) -> Number:  # noqa: N802
    return Number(minimum=minimum, maximum=maximum, integer=True)


_DURATION = re.compile(r"^(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$")


def parse_duration(value: Any) -> float | None:
    """Seconds from 90, 90.5, "90s", "1m30s", "1h", "01:30" or "1:00:00"; None if not a duration."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) else None
    m = _CLOCK.match(text)
    if m:
        return int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    m = _DURATION.match(text)
    if m and text and any(m.groups()):
        return int(m.group(1) or 0) * 3600 + int(m.group(2) or 0) * 60 + float(m.group(3) or 0)
    return None


class Duration(Spec):
    """Seconds, written as a number or as "90s", "1m30s", "01:30"."""

    def __init__(self, *, minimum: float = 0.0) -> None:
        self.minimum = minimum

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        seconds = parse_duration(value)
        if seconds is None:
            ck.bad(place, f"'{label}' must be a duration, got {_type_name(value)}",
                   "write seconds (90) or a time like 1m30s or 01:30")
            return None
        if seconds < self.minimum:
            ck.bad(place, f"'{label}' must be at least {self.minimum:g} s, got {seconds:g}")
        return seconds

    def schema(self) -> dict[str, Any]:
        pattern = (r"^\s*(\d+(\.\d+)?|(?=\d)(\d+h)?\s*(\d+m)?\s*(\d+(\.\d+)?s)?|"
                   r"(\d+:)?\d+:\d+(\.\d+)?)\s*$")
        return {"anyOf": [{"type": "number", "minimum": self.minimum},
                          {"type": "string", "pattern": pattern}]}

    def describe(self) -> str:
        return "duration"


class Bool(Spec):
    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        if not isinstance(value, bool):
            ck.bad(place, f"'{label}' must be true or false, got {_type_name(value)}")
            return None
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}

    def describe(self) -> str:
        return "true/false"


class Choice(Spec):
    def __init__(self, *options: str) -> None:
        self.options = options

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        if value not in self.options:
            hint = did_you_mean(str(value), self.options) if isinstance(value, str) else (
                "expected one of: " + ", ".join(self.options))
            ck.bad(place, f"'{label}' cannot be {_type_name(value)}", hint)
            return None
        return value

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.options)}

    def describe(self) -> str:
        return "one of " + "|".join(self.options)


class AnyValue(Spec):
    """A scalar of any type (used for blackboard values, whose type is checked elsewhere)."""

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        return _plain(value)

    def schema(self) -> dict[str, Any]:
        return {}

    def describe(self) -> str:
        return "value"


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class ListOf(Spec):
    def __init__(self, item: Spec, *, min_items: int = 0, scalar_ok: bool = False) -> None:
        self.item, self.min_items, self.scalar_ok = item, min_items, scalar_ok

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        if self.scalar_ok and not isinstance(value, list) and value is not None:
            return [self.item.check(value, place, label, ck)]
        if not isinstance(value, list):
            ck.bad(place, f"'{label}' must be a list, got {_type_name(value)}",
                   "write one item per line starting with '- '")
            return []
        if len(value) < self.min_items:
            ck.bad(place, f"'{label}' needs at least {self.min_items} item(s)")
        out = []
        for index, item in enumerate(value):
            item_place = value.item_place(index) if isinstance(value, YList) else place
            out.append(self.item.check(item, item_place, f"{label}[{index}]", ck))
        return out

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.min_items:
            out["minItems"] = self.min_items
        if self.scalar_ok:
            return {"anyOf": [out, self.item.schema()]}
        return out

    def describe(self) -> str:
        return f"list of {self.item.describe()}"


class MapOf(Spec):
    """A mapping with free keys (e.g. currency rates, per-language lines)."""

    def __init__(self, value: Spec, *, key_pattern: str | None = None) -> None:
        self.value = value
        self.key_pattern = re.compile(key_pattern) if key_pattern else None

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        if not isinstance(value, dict):
            ck.bad(place, f"'{label}' must be a mapping, got {_type_name(value)}")
            return {}
        out = {}
        for key, item in value.items():
            kp = value.key_place(key) if isinstance(value, YMap) else place
            vp = value.value_place(key) if isinstance(value, YMap) else place
            if self.key_pattern and not self.key_pattern.fullmatch(str(key)):
                ck.bad(kp, f"'{label}' has an invalid key '{key}'",
                       f"keys must match {self.key_pattern.pattern}")
            out[str(key)] = self.value.check(item, vp, f"{label}.{key}", ck)
        return out

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "additionalProperties": self.value.schema()}
        if self.key_pattern:
            out["propertyNames"] = {"pattern": self.key_pattern.pattern}
        return out

    def describe(self) -> str:
        return f"mapping of {self.value.describe()}"


class Template(Spec):
    """Text with {placeholders}; only the listed names may be used."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        if not isinstance(value, str):
            ck.bad(place, f"'{label}' must be text, got {_type_name(value)}")
            return None
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            ck.bad(place, f"'{label}' is not a valid template: {exc}",
                   "write {{ and }} for literal braces")
            return None
        for name in fields:
            base = re.split(r"[.\[!:]", name, maxsplit=1)[0]
            if base not in self.names:
                ck.unknown(place, f"'{label}' uses an unknown placeholder {{{name}}}",
                           did_you_mean(base, self.names))
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "description": "placeholders: " + ", ".join(self.names)}

    def describe(self) -> str:
        return "template"


@dataclass
class Field:
    spec: Spec
    doc: str = ""
    required: bool = False
    default: Any = None


@dataclass
class Record(Spec):
    """A mapping with known keys, each described by a Field."""

    fields: dict[str, Field]
    doc: str = ""
    extra: Spec | None = None  # spec for keys not in `fields`; None = unknown keys are errors
    short: str | None = None  # a field that a bare scalar fills (e.g. `voice: subtitles`)
    owner: str = ""  # what to call the mapping in messages (e.g. "wait node 'pause'")

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        if value is None:
            value = {}
        if self.short is not None and not isinstance(value, dict):
            value = {self.short: value}
            fake = YMap(value)
            fake.place, fake.key_places, fake.value_places = place, {}, {self.short: place}
            value = fake
        if not isinstance(value, dict):
            ck.bad(place, f"'{label}' must be a mapping, got {_type_name(value)}",
                   "write one 'key: value' per line")
            return {k: f.default for k, f in self.fields.items()}
        out: dict[str, Any] = {}
        for key, item in value.items():
            kp = value.key_place(key) if isinstance(value, YMap) else place
            vp = value.value_place(key) if isinstance(value, YMap) else place
            sub = f"{label}.{key}" if label else key
            f = self.fields.get(key)
            if f is None:
                if self.extra is not None:
                    out[key] = self.extra.check(item, vp, sub, ck)
                    continue
                where = f" in '{label}'" if label else ""
                ck.unknown(kp, f"unknown key '{key}'{where}", did_you_mean(key, self.fields))
                continue
            if item is None and not f.required and f.default is not None:
                out[key] = f.default
                continue
            out[key] = f.spec.check(item, vp, sub, ck)
        for key, f in self.fields.items():
            if key in out:
                continue
            if f.required:
                where = self.owner or (f"'{label}'" if label else "this mapping")
                ck.bad(value.place if isinstance(value, YMap) else place,
                       f"{where} is missing the required key '{key}'",
                       f"add '{key}:' ({f.doc or f.spec.describe()})")
            else:
                out[key] = _copy_default(f.default)
        return out

    def schema(self) -> dict[str, Any]:
        props = {}
        for key, f in self.fields.items():
            s = dict(f.spec.schema())
            if f.doc:
                s["description"] = f.doc
            if f.default is not None and not isinstance(f.default, (dict, list)):
                s["default"] = f.default
            props[key] = s
        out: dict[str, Any] = {"type": "object", "properties": props}
        if self.doc:
            out["description"] = self.doc
        required = [k for k, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        out["additionalProperties"] = self.extra.schema() if self.extra is not None else False
        if self.short is not None:
            return {"anyOf": [out, self.fields[self.short].spec.schema()]}
        return out

    def describe(self) -> str:
        return "mapping"


def _copy_default(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return value


class Tagged(Spec):
    """A mapping whose `tag` key picks which Record checks it (e.g. a platform's `kind`)."""

    def __init__(self, tag: str, variants: Callable[[], dict[str, Record]]) -> None:
        self.tag = tag
        self._variants = variants  # called lazily: registries import modules

    def check(self, value: Any, place: Place, label: str, ck: Checker) -> Any:
        variants = self._variants()
        if not isinstance(value, dict):
            ck.bad(place, f"'{label}' must be a mapping with '{self.tag}'",
                   f"{self.tag}: one of {', '.join(sorted(variants))}")
            return None
        kind = value.get(self.tag)
        if kind not in variants:
            where = value.value_place(self.tag) if isinstance(value, YMap) else place
            if kind is None:
                ck.bad(place, f"'{label}' needs '{self.tag}'",
                       f"one of: {', '.join(sorted(variants))}")
            else:
                ck.unknown(where, f"unknown {self.tag} '{kind}' in '{label}'",
                           did_you_mean(str(kind), variants))
            return None
        return variants[kind].check(value, place, label, ck)

    def schema(self) -> dict[str, Any]:
        out = []
        for kind, record in sorted(self._variants().items()):
            s = record.schema()
            s["properties"] = {**s["properties"], self.tag: {"const": kind}}
            out.append(s)
        return {"anyOf": out}

    def describe(self) -> str:
        return f"mapping with {self.tag}"
