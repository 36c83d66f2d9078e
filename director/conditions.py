"""Structured conditions on blackboard keys: no eval, no code in YAML.

    {key: gifts.top_tier, gte: 3}
    {key: segment.due, not_empty: true}
    {all: [{key: chat.ready, eq: true}, {not: {key: show.paused, eq: true}}]}

A condition compiles once, at load, into a closure over the blackboard's value dict, so checking it
on the 30 Hz path is one dict lookup and one comparison. Operands are type-checked against the
key's declared type at load time.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from director.blackboard import KEY_TYPES, KeyDecl
from director.errors import Place, UndeclaredKey
from director.spec import Checker, did_you_mean
from director.yamlsource import YList, YMap

Predicate = Callable[[dict[str, Any]], bool]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gte": operator.ge,
    "lt": operator.lt, "lte": operator.le,
}
_ORDERED = {"gt", "gte", "lt", "lte"}
OPERATORS = (*_COMPARE, "in", "not_in", "contains", "empty", "not_empty")


def _combine(combinator: str, preds: tuple[Predicate, ...]) -> Predicate:
    if combinator == "all":
        return lambda bb: all(p(bb) for p in preds)
    return lambda bb: any(p(bb) for p in preds)


def _operand_ok(decl: KeyDecl, value: Any) -> bool:
    types = KEY_TYPES[decl.type]
    if isinstance(value, bool) and decl.type != "bool":
        return False
    return isinstance(value, types)


def compile_condition(
    value: Any, place: Place, label: str, keys: dict[str, KeyDecl], ck: Checker,
) -> tuple[Predicate, str]:
    """Compile a condition mapping. Returns (predicate, readable text); problems go to `ck`."""
    def never(_: dict[str, Any]) -> bool:
        return False

    if not isinstance(value, dict):
        ck.bad(place, f"'{label}' must be a condition mapping",
               "for example {key: chat.ready, eq: true}")
        return never, "?"

    def vplace(k: str) -> Place:
        return value.value_place(k) if isinstance(value, YMap) else place

    def kplace(k: str) -> Place:
        return value.key_place(k) if isinstance(value, YMap) else place

    for combinator in ("all", "any"):
        if combinator in value:
            extra = [k for k in value if k != combinator]
            if extra:
                ck.bad(kplace(extra[0]), f"'{combinator}' cannot be mixed with '{extra[0]}'",
                       f"put each test inside the '{combinator}' list")
            items = value[combinator]
            if not isinstance(items, list) or not items:
                ck.bad(vplace(combinator), f"'{combinator}' needs a non-empty list of conditions")
                return never, "?"
            parts = [
                compile_condition(item, items.item_place(i) if isinstance(items, YList) else place,
                                  f"{label}.{combinator}[{i}]", keys, ck)
                for i, item in enumerate(items)
            ]
            preds = tuple(p for p, _ in parts)
            joiner = " and " if combinator == "all" else " or "
            text = "(" + joiner.join(t for _, t in parts) + ")"
            return _combine(combinator, preds), text
    if "not" in value:
        extra = [k for k in value if k != "not"]
        if extra:
            ck.bad(kplace(extra[0]), f"'not' cannot be mixed with '{extra[0]}'",
                   "put the test inside 'not'")
        inner, text = compile_condition(value["not"], vplace("not"), f"{label}.not", keys, ck)
        return (lambda bb: not inner(bb)), f"not {text}"

    if "key" not in value:
        ck.bad(place, f"'{label}' needs 'key' (a blackboard key) or all/any/not",
               "for example {key: gifts.top_tier, gte: 3}")
        return never, "?"
    key = value["key"]
    ops = [k for k in value if k != "key"]
    if not isinstance(key, str):
        ck.bad(vplace("key"), f"'{label}.key' must be a blackboard key name")
        return never, "?"
    decl = keys.get(key)
    if decl is None:
        ck.add(UndeclaredKey(
            vplace("key"), f"undeclared blackboard key '{key}'",
            did_you_mean(key, keys) or "declare it under 'blackboard:' in the show",
        ))
    if len(ops) != 1:
        if not ops:
            ck.bad(place, f"'{label}' on '{key}' has no test",
                   "add one of: " + ", ".join(OPERATORS))
        else:
            ck.bad(kplace(ops[1]), f"'{label}' has more than one test ({', '.join(ops)})",
                   "use 'all:' to combine tests")
        return never, "?"
    op = ops[0]
    operand = value[op]
    if op not in OPERATORS:
        ck.unknown(kplace(op), f"unknown condition operator '{op}'", did_you_mean(op, OPERATORS))
        return never, "?"
    text = f"{key} {op} {operand!r}"
    if decl is not None:
        if op in _COMPARE:
            if not _operand_ok(decl, operand):
                ck.bad(vplace(op), f"'{key}' holds {decl.type}; cannot compare it with {operand!r}",
                       f"write a {decl.type} value")
            elif op in _ORDERED and decl.type in ("bool", "list"):
                ck.bad(kplace(op), f"'{op}' cannot order a {decl.type} key ('{key}')",
                       "use eq or ne")
        elif op in ("in", "not_in"):
            if not isinstance(operand, list) or not all(_operand_ok(decl, o) for o in operand):
                ck.bad(vplace(op), f"'{op}' needs a list of {decl.type} values for '{key}'")
        elif op == "contains":
            if decl.type not in ("str", "list"):
                ck.bad(kplace(op),
                       f"'contains' needs a text or list key; '{key}' holds {decl.type}")
        elif operand is not True:
            ck.bad(vplace(op), f"write '{op}: true'", "empty/not_empty take no operand")
    if op in _COMPARE:
        fn = _COMPARE[op]
        return (lambda bb: bool(fn(bb[key], operand))), text
    if op == "in":
        options = tuple(operand) if isinstance(operand, list) else ()
        return (lambda bb: bb[key] in options), text
    if op == "not_in":
        options = tuple(operand) if isinstance(operand, list) else ()
        return (lambda bb: bb[key] not in options), text
    if op == "contains":
        return (lambda bb: operand in bb[key]), text
    if op == "empty":
        return (lambda bb: not bb[key]), f"{key} is empty"
    return (lambda bb: bool(bb[key])), f"{key} is not empty"
