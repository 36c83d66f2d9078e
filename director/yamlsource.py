"""YAML with places: every mapping and list remembers where each of its items came from.

PyYAML's composed node tree has `start_mark` on every node; we build plain Python values from it
(so the rest of the loader works on dicts and lists) but use `YMap`/`YList`, which carry the place
of every key and item. Errors can then name `file:line:col` for any value, which is the whole point
of the show language's error messages. Duplicate keys are an error here (PyYAML silently keeps the
last), because a duplicated `children:` loses half a tree without a word.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from director.errors import MissingFile, Place, ShowLoadError, YamlSyntaxError


class YMap(dict[str, Any]):
    """A mapping that knows the place of itself, each key and each value."""

    place: Place
    key_places: dict[str, Place]
    value_places: dict[str, Place]

    def key_place(self, key: str) -> Place:
        return self.key_places.get(key, self.place)

    def value_place(self, key: str) -> Place:
        return self.value_places.get(key, self.key_place(key))


class YList(list[Any]):
    """A list that knows the place of itself and each item."""

    place: Place
    item_places: list[Place]

    def item_place(self, index: int) -> Place:
        if 0 <= index < len(self.item_places):
            return self.item_places[index]
        return self.place


def place_of(node: yaml.Node, file: str) -> Place:
    mark = node.start_mark
    return Place(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.constructor = SafeConstructor()
        self.errors: list[ShowLoadError] = []

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            result = YMap()
            result.place = place_of(node, self.file)
            result.key_places = {}
            result.value_places = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.errors.append(ShowLoadError(
                        place_of(key_node, self.file), "YAML merge keys (<<) are not supported",
                        "write the keys out, or use an include with parameters",
                    ))
                    continue
                # A plain key is its text: YAML 1.1 reads `on:` (once's parameter), `yes:` or
                # `off:` as booleans, which would make them the key 'True' or 'False'.
                key = (key_node.value if isinstance(key_node, yaml.ScalarNode)
                       else self.build(key_node))
                if not isinstance(key, str):
                    key = str(key)
                if key in result:
                    first = result.key_places[key]
                    self.errors.append(ShowLoadError(
                        place_of(key_node, self.file), f"duplicate key '{key}'",
                        f"it is already set at line {first.line}; keep one",
                    ))
                    continue
                result.key_places[key] = place_of(key_node, self.file)
                result.value_places[key] = place_of(value_node, self.file)
                result[key] = self.build(value_node)
            return result
        if isinstance(node, yaml.SequenceNode):
            items = YList()
            items.place = place_of(node, self.file)
            items.item_places = [place_of(n, self.file) for n in node.value]
            items.extend(self.build(n) for n in node.value)
            return items
        return self.constructor.construct_object(node, deep=True)


def parse_yaml(text: str, file: str) -> Any:
    """Parse YAML text into YMap/YList/scalars. Raises ShowLoadError (first syntax problem)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        raise YamlSyntaxError(
            Place(file, line, col), f"YAML syntax error: {problem}",
            "check the indentation and that every ':' in a value is quoted",
        ) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Place(file, 1, 1), f"YAML error: {exc}") from None
    if node is None:
        return None
    builder = _Builder(file)
    try:
        value = builder.build(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        place = Place(file, mark.line + 1, mark.column + 1) if mark else Place(file, 1, 1)
        raise YamlSyntaxError(place, f"YAML error: {exc.problem}", "") from None
    if builder.errors:
        from director.errors import ShowErrors

        raise ShowErrors(builder.errors)
    return value


def read_yaml(path: Path, *, display: str | None = None, referenced_at: Place | None = None) -> Any:
    """Read and parse a YAML file; a missing file is reported at the place that named it."""
    shown = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingFile(
            referenced_at or Place(shown, 1, 1), f"file not found: {shown}",
            "check the path; relative paths are resolved from the file that names them",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MissingFile(
            referenced_at or Place(shown, 1, 1), f"cannot read {shown}: {exc}", "",
        ) from None
    return parse_yaml(text, shown)
