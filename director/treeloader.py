"""Tree nodes in YAML → checked `NodeSpec`s (not yet behaviours), with `trees/` includes.

A node is a mapping whose one node-kind key names the kind and whose value is the node's name;
the other keys are its parameters:

    priority: show                 # composite: children
    children:
      - guard: big gifts first     # decorator: child
        when: {key: urgent.pending, gte: 1}
        abort: lower
        child:
          thank_gifts: thank big
          min_tier: 3
      - include: trees/idle.yaml   # a subtree, with parameters
        with: {look_every_s: 5}

Specs are checked completely before anything is built, so `director validate` runs no show code.
Subtree files hold `params:` (name → {type, default, doc}) and `tree:`; inside them `$name` stands
for a parameter's value and `${name}` interpolates it into text.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from director.blackboard import KEY_TYPES, KeyDecl
from director.errors import (
    IncludeCycle,
    MissingFile,
    Place,
    ShowErrors,
    ShowLoadError,
)
from director.kinds import NodeKind, node_kinds
from director.spec import Checker, did_you_mean
from director.yamlsource import YList, YMap, read_yaml

_WHOLE_PARAM = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
_INNER_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
INCLUDE = "include"


@dataclass
class NodeSpec:
    """One checked node: what to build, and where it was written."""

    kind: str
    name: str
    params: dict[str, Any]
    children: list[NodeSpec]
    place: Place
    own_hash: str = ""  # kind, name and parameters
    full_hash: str = ""  # own_hash and every descendant's
    path: str = ""  # slash-separated names from the root; unique
    source: str = ""  # the include that produced this node, if any

    def walk(self) -> list[NodeSpec]:
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _hash(*parts: Any) -> str:
    data = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=repr)
    return hashlib.blake2b(data.encode(), digest_size=8).hexdigest()


class TreeLoader:
    """Loads a show's tree and every subtree it includes, collecting errors in `checker`."""

    def __init__(self, *, show_path: Path, keys: dict[str, KeyDecl], checker: Checker,
                 segments: set[str] | None = None) -> None:
        self.show_path = show_path
        self.keys = keys
        self.ck = checker
        self.segments = segments or set()
        self.kinds = node_kinds()
        self.files: list[Path] = []
        self._stack: list[Path] = [show_path.resolve()]

    def load_root(self, value: Any, place: Place) -> NodeSpec | None:
        root = self.load_node(value, place, Path(self.show_path))
        if root is not None:
            _assign_paths(root, "")
        return root

    # -- nodes --------------------------------------------------------------------------------
    def load_node(self, value: Any, place: Place, file: Path, source: str = "") -> NodeSpec | None:
        if not isinstance(value, YMap):
            self.ck.bad(place, "a tree node must be a mapping such as 'sequence: my steps'",
                        "start the node with its kind, e.g. 'idle:' or 'priority: show'")
            return None
        found = [k for k in value if k in self.kinds or k == INCLUDE]
        if not found:
            first = next(iter(value), "")
            self.ck.unknown(value.key_place(first) if first else value.place,
                            f"unknown node kind '{first}'" if first else "empty tree node",
                            did_you_mean(first, [*self.kinds, INCLUDE]))
            return None
        if len(found) > 1:
            self.ck.bad(value.key_place(found[1]),
                        f"one node cannot be both '{found[0]}' and '{found[1]}'",
                        "put the second one in a list of children")
            return None
        kind_name = found[0]
        if kind_name == INCLUDE:
            return self._include(value, file)
        kind = self.kinds[kind_name]
        name = value[kind_name]
        if name is None:
            name = kind_name
        elif not isinstance(name, str):
            name = str(name)
        if "/" in name:
            self.ck.bad(value.value_place(kind_name), f"node name '{name}' contains '/'",
                        "'/' separates node paths; use another character")
            name = name.replace("/", "-")
        params_raw = {k: v for k, v in value.items() if k != kind_name}
        if kind_name in kind.params:
            # `scene: Main`, `effect: confetti`: a parameter named like its kind cannot be written
            # beside the kind key (YAML keys are unique), so the node's name gives its value
            params_raw[kind_name] = name
        node = NodeSpec(kind=kind_name, name=name.strip() or kind_name, params={}, children=[],
                        place=value.key_place(kind_name), source=source)
        self._load_params(kind, node, value, params_raw, file, source)
        own = {k: _plain(v) for k, v in params_raw.items() if k not in ("children", "child")}
        node.own_hash = _hash(kind_name, node.name, own)
        node.full_hash = _hash(node.own_hash, [c.full_hash for c in node.children])
        return node

    def _load_params(self, kind: NodeKind, node: NodeSpec, value: YMap,
                     params_raw: dict[str, Any], file: Path, source: str) -> None:
        if kind.category == "composite":
            children = params_raw.pop("children", None)
            if children is None:
                self.ck.bad(node.place, f"'{kind.name}' needs 'children' (a list of nodes)",
                            "add 'children:' with one '- node' per line")
            elif not isinstance(children, YList):
                self.ck.bad(value.value_place("children"), "'children' must be a list of nodes",
                            "write one '- node' per line")
            elif not children:
                self.ck.bad(value.value_place("children"),
                            f"'{kind.name}' node '{node.name}' has no children",
                            "give it at least one child, or remove it")
            else:
                for index, child in enumerate(children):
                    spec = self.load_node(child, children.item_place(index), file, source)
                    if spec is not None:
                        node.children.append(spec)
        elif kind.category == "decorator":
            child = params_raw.pop("child", None)
            if child is None:
                self.ck.bad(node.place, f"'{kind.name}' needs 'child' (the node it decorates)",
                            "add 'child:' with one node under it")
            else:
                spec = self.load_node(child, value.value_place("child"), file, source)
                if spec is not None:
                    node.children.append(spec)
        if kind.condition_params:
            from director.conditions import compile_condition

            cond = YMap(params_raw)
            cond.place = node.place
            cond.key_places = {k: value.key_place(k) for k in params_raw}
            cond.value_places = {k: value.value_place(k) for k in params_raw}
            node.params["check"] = compile_condition(cond, node.place, node.name, self.keys,
                                                     self.ck)
            return
        from director.spec import Record

        sub = YMap(params_raw)
        sub.place = node.place
        sub.key_places = {k: value.key_place(k) for k in params_raw}
        sub.value_places = {k: value.value_place(k) for k in params_raw}
        record = Record(kind.params, owner=f"{kind.name} node '{node.name}'")
        node.params = record.check(sub, node.place, "", self.ck)
        if kind.validate is not None:
            kind.validate(node, sub, self)

    # -- includes -------------------------------------------------------------------------------
    SEARCH_UP = 3  # folders above the show searched for includes (shows/x.yaml -> trees/)

    def resolve(self, name: str, file: Path) -> Path | None:
        show_dir = self.show_path.resolve().parent
        candidates = [file.parent / name, show_dir / name]
        candidates += [parent / name for parent in show_dir.parents[: self.SEARCH_UP]]
        for candidate in candidates:
            if candidate.is_file():
                return candidate.resolve()
        return None

    def _include(self, value: YMap, file: Path) -> NodeSpec | None:
        target = value[INCLUDE]
        allowed = {INCLUDE, "with", "name"}
        for key in value:
            if key not in allowed:
                self.ck.unknown(value.key_place(key), f"unknown key '{key}' in an include",
                                did_you_mean(key, allowed))
        if not isinstance(target, str) or not target:
            self.ck.bad(value.value_place(INCLUDE), "'include' needs a subtree file path",
                        "for example include: trees/idle.yaml")
            return None
        path = self.resolve(target, file)
        if path is None:
            self.ck.add(MissingFile(
                value.value_place(INCLUDE), f"subtree file not found: {target}",
                f"looked next to {file.name}, in the show's folder and "
                f"{self.SEARCH_UP} folders above it"))
            return None
        if path in self._stack:
            chain = " -> ".join(p.name for p in [*self._stack[self._stack.index(path):], path])
            self.ck.add(IncludeCycle(value.value_place(INCLUDE), f"include cycle: {chain}",
                                     "a subtree cannot include itself"))
            return None
        display = _display(path)
        try:
            raw = read_yaml(path, display=display, referenced_at=value.value_place(INCLUDE))
        except ShowErrors as exc:
            self.ck.errors.extend(exc.errors)
            return None
        except ShowLoadError as exc:
            self.ck.add(exc)
            return None
        if path not in self.files:
            self.files.append(path)
        if not isinstance(raw, YMap) or "tree" not in raw:
            self.ck.bad(raw.place if isinstance(raw, (YMap, YList)) else Place(display, 1, 1),
                        "a subtree file needs 'tree:' (and optionally 'params:')")
            return None
        for key in raw:
            if key not in ("params", "tree", "doc"):
                self.ck.unknown(raw.key_place(key), f"unknown key '{key}' in a subtree file",
                                did_you_mean(key, ("params", "tree", "doc")))
        args = value.get("with") or {}
        if not isinstance(args, YMap):
            if args:
                self.ck.bad(value.value_place("with"), "'with' must map parameter names to values")
            args = YMap()
            args.place, args.key_places, args.value_places = value.place, {}, {}
        params = self._bind_params(raw.get("params"), raw, args, display)
        # declared but left without a value: reported once at the include, not at every use
        decls = raw.get("params")
        unbound = frozenset(decls).difference(params) if isinstance(decls, YMap) else frozenset()
        tree = _substitute(raw["tree"], params, self.ck, raw.value_place("tree"), unbound)
        self._stack.append(path)
        try:
            node = self.load_node(tree, raw.value_place("tree"), path,
                                  source=f"{display} via {value.value_place(INCLUDE)}")
        finally:
            self._stack.pop()
        if node is not None and isinstance(value.get("name"), str):
            node.name = value["name"]
            node.own_hash = _hash(node.own_hash, node.name)
            node.full_hash = _hash(node.own_hash, [c.full_hash for c in node.children])
        return node

    def _bind_params(self, decls: Any, raw: YMap, args: YMap, display: str) -> dict[str, Any]:
        declared: dict[str, dict[str, Any]] = {}
        if decls is not None and not isinstance(decls, YMap):
            self.ck.bad(raw.value_place("params"), "'params' must map names to {type, default}")
        elif isinstance(decls, YMap):
            for pname, decl in decls.items():
                place = decls.value_place(pname)
                if not isinstance(decl, YMap) or decl.get("type") not in KEY_TYPES:
                    self.ck.bad(place, f"parameter '{pname}' needs 'type' (one of "
                                f"{', '.join(KEY_TYPES)})", "e.g. {type: int, default: 3}")
                    continue
                declared[pname] = dict(decl)
        values: dict[str, Any] = {}
        for pname, arg in args.items():
            if pname not in declared:
                self.ck.unknown(args.key_place(pname),
                                f"'{display}' has no parameter '{pname}'",
                                did_you_mean(pname, declared) if declared else
                                "this subtree takes no parameters")
                continue
            typ = declared[pname]["type"]
            if not isinstance(arg, KEY_TYPES[typ]) or (isinstance(arg, bool) and typ in
                                                       ("int", "float")):
                self.ck.bad(args.value_place(pname),
                            f"parameter '{pname}' must be {typ}, got {arg!r}")
                continue
            values[pname] = arg
        for pname, decl in declared.items():
            if pname in values:
                continue
            if "default" in decl and decl["default"] is not None:
                values[pname] = decl["default"]
            else:
                self.ck.bad(args.place, f"include of '{display}' is missing parameter '{pname}'",
                            f"add it under 'with:' ({decl.get('doc') or decl['type']})")
        return values


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _substitute(value: Any, params: dict[str, Any], ck: Checker, place: Place,
                unbound: frozenset[str] = frozenset()) -> Any:
    if isinstance(value, YMap):
        out = YMap()
        out.place, out.key_places = value.place, dict(value.key_places)
        out.value_places = dict(value.value_places)
        for k, v in value.items():
            out[k] = _substitute(v, params, ck, value.value_place(k), unbound)
        return out
    if isinstance(value, YList):
        items = YList()
        items.place, items.item_places = value.place, list(value.item_places)
        items.extend(_substitute(v, params, ck, value.item_place(i), unbound)
                     for i, v in enumerate(value))
        return items
    if isinstance(value, str):
        whole = _WHOLE_PARAM.match(value)
        if whole:
            name = whole.group(1)
            if name not in params:
                if name not in unbound:
                    ck.unknown(place, f"unknown subtree parameter '${name}'",
                               did_you_mean(name, params) or "declare it under 'params:'")
                return None
            return params[name]

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in params:
                if name not in unbound:
                    ck.unknown(place, f"unknown subtree parameter '${{{name}}}'",
                               did_you_mean(name, params) or "declare it under 'params:'")
                return m.group(0)
            return str(params[name])

        return _INNER_PARAM.sub(repl, value)
    return value


def _assign_paths(node: NodeSpec, parent: str) -> None:
    node.path = f"{parent}/{node.name}" if parent else node.name
    taken: set[str] = set()
    for child in node.children:
        # a sibling may already be called 'x #2', so count on until the name is free
        name, count = child.name, 1
        while name in taken:
            count += 1
            name = f"{child.name} #{count}"
        taken.add(name)
        child.name = name
        _assign_paths(child, node.path)


def node_by_path(root: NodeSpec, path: str) -> NodeSpec | None:
    for node in root.walk():
        if node.path == path:
            return node
    return None


__all__ = ["NodeSpec", "TreeLoader", "node_by_path"]

