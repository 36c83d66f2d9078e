"""Conditions and blackboard keys: compile-time checks with places, and what a predicate decides.

Most tests compile a condition written as YAML (parsed with places, file `cond.yaml`) straight
through `compile_condition`; a few load whole shows, to check the places of conditions inside
nodes and the `blackboard:` and `set` rules. Failing assertions print every error reported.
"""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest

from director.blackboard import BUILTIN_KEYS, KeyDecl
from director.conditions import OPERATORS, Predicate, compile_condition
from director.errors import (
    BadParameter,
    Place,
    ShowErrors,
    ShowLoadError,
    UndeclaredKey,
    UnknownName,
)
from director.showfile import Show, load_show
from director.spec import Checker
from director.yamlsource import parse_yaml

CUSTOM = {
    "party.hype": KeyDecl("party.hype", "int", 0),
    "party.mood": KeyDecl("party.mood", "str", "calm"),
    "party.tags": KeyDecl("party.tags", "list", []),
    "party.heat": KeyDecl("party.heat", "float", 0.0),
}
KEYS = {**BUILTIN_KEYS, **CUSTOM}


def listing(errors: list[ShowLoadError]) -> str:
    return "errors reported:\n" + "\n".join(
        f"  {type(e).__name__}: {e.render()}" for e in errors) if errors else "no errors"


def compile_yaml(text: str) -> tuple[Predicate, str, list[ShowLoadError]]:
    value = parse_yaml(textwrap.dedent(text), "cond.yaml")
    ck = Checker()
    pred, readable = compile_condition(value, Place("cond.yaml", 1, 1), "when", KEYS, ck)
    return pred, readable, ck.errors


def compiled(text: str) -> tuple[Predicate, str]:
    pred, readable, errors = compile_yaml(text)
    assert not errors, listing(errors)
    return pred, readable


def one_error(text: str) -> ShowLoadError:
    _, _, errors = compile_yaml(text)
    assert len(errors) == 1, f"want exactly one error\n{listing(errors)}"
    return errors[0]


def at(error: ShowLoadError) -> tuple[int, int]:
    return (error.place.line, error.place.col)


def board(**values: Any) -> dict[str, Any]:
    """Default values of every key, with `a__b=` meaning key `a.b`."""
    bb = {name: decl.default for name, decl in KEYS.items()}
    for name, value in values.items():
        key = name.replace("__", ".")
        assert key in bb, f"test typo: no key {key}"
        bb[key] = value
    return bb


def load(tmp_path: Path, text: str) -> Show:
    path = tmp_path / "show.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return load_show(path)


def load_errors(tmp_path: Path, text: str) -> list[ShowLoadError]:
    try:
        show = load(tmp_path, text)
    except ShowErrors as exc:
        return exc.errors
    pytest.fail(f"the show should not load; its tree: {[n.path for n in show.tree.walk()]}")


def only(errors: list[ShowLoadError]) -> ShowLoadError:
    assert len(errors) == 1, f"want exactly one error\n{listing(errors)}"
    return errors[0]


# -- compile-time errors -------------------------------------------------------------------------


def test_undeclared_key_suggests_a_builtin() -> None:
    error = one_error("key: gifts.toptier\ngte: 3\n")
    assert isinstance(error, UndeclaredKey)
    assert error.render() == ("cond.yaml:1:6: undeclared blackboard key 'gifts.toptier' "
                              "(did you mean 'gifts.top_tier'?)")


def test_undeclared_key_far_from_any_says_how_to_declare() -> None:
    error = one_error("key: weather\neq: rain\n")
    assert isinstance(error, UndeclaredKey)
    assert error.hint == "declare it under 'blackboard:' in the show"


def test_unknown_operator_suggests_the_closest() -> None:
    error = one_error("key: gifts.top_tier\ngreater_equal: 3\n")
    assert isinstance(error, UnknownName)
    assert error.message == "unknown condition operator 'greater_equal'"
    assert at(error) == (2, 1)


def test_unknown_operator_without_a_close_match_lists_them_all() -> None:
    error = one_error("key: gifts.top_tier\nzz: 3\n")
    assert error.hint == "expected one of: " + ", ".join(sorted(OPERATORS))


def test_two_operators() -> None:
    error = one_error("key: gifts.top_tier\ngte: 1\nlte: 3\n")
    assert isinstance(error, BadParameter)
    assert error.message == "'when' has more than one test (gte, lte)"
    assert error.hint == "use 'all:' to combine tests"
    assert at(error) == (3, 1)


def test_no_operator() -> None:
    error = one_error("key: gifts.top_tier\n")
    assert error.message == "'when' on 'gifts.top_tier' has no test"
    assert error.hint == "add one of: " + ", ".join(OPERATORS)


def test_no_key() -> None:
    error = one_error("gte: 3\n")
    assert error.message == "'when' needs 'key' (a blackboard key) or all/any/not"


def test_key_must_be_text() -> None:
    error = one_error("key: [gifts.top_tier]\ngte: 3\n")
    assert error.message == "'when.key' must be a blackboard key name"
    assert at(error) == (1, 6)


def test_condition_must_be_a_mapping() -> None:
    error = one_error("- key: chat.ready\n  eq: true\n")
    assert error.message == "'when' must be a condition mapping"


@pytest.mark.parametrize(("text", "message", "place"), [
    ("key: chat.ready\ngte: true\n",
     "'gte' cannot order a bool key ('chat.ready')", (2, 1)),
    ("key: chat.ready\ngte: 1\n",
     "'chat.ready' holds bool; cannot compare it with 1", (2, 6)),
    ("key: party.tags\nlt: [a]\n",
     "'lt' cannot order a list key ('party.tags')", (2, 1)),
    ("key: gifts.top_tier\neq: '3'\n",
     "'gifts.top_tier' holds int; cannot compare it with '3'", (2, 5)),
    ("key: gifts.top_tier\ngte: 2.5\n",
     "'gifts.top_tier' holds int; cannot compare it with 2.5", (2, 6)),
    ("key: gifts.top_tier\neq: true\n",
     "'gifts.top_tier' holds int; cannot compare it with True", (2, 5)),
    ("key: segment.due\neq: 3\n",
     "'segment.due' holds str; cannot compare it with 3", (2, 5)),
    ("key: idle.silence_s\ngt: ten\n",
     "'idle.silence_s' holds float; cannot compare it with 'ten'", (2, 5)),
    ("key: chat.ready\neq: 'true'\n",
     "'chat.ready' holds bool; cannot compare it with 'true'", (2, 5)),
], ids=["order-bool", "int-vs-bool", "order-list", "str-vs-int", "float-vs-int", "bool-vs-int",
        "int-vs-str", "str-vs-float", "str-vs-bool"])
def test_operand_type_mismatch(text: str, message: str, place: tuple[int, int]) -> None:
    error = one_error(text)
    assert isinstance(error, BadParameter)
    assert error.message == message
    assert at(error) == place


@pytest.mark.parametrize(("text", "message", "place"), [
    ("key: gifts.top_tier\nin: 3\n", "'in' needs a list of int values for 'gifts.top_tier'",
     (2, 5)),
    ("key: gifts.top_tier\nin: [1, '2']\n",
     "'in' needs a list of int values for 'gifts.top_tier'", (2, 5)),
    ("key: segment.due\nnot_in: rain\n", "'not_in' needs a list of str values for 'segment.due'",
     (2, 9)),
    ("key: gifts.top_tier\ncontains: 3\n",
     "'contains' needs a text or list key; 'gifts.top_tier' holds int", (2, 1)),
    ("key: chat.pending\nempty: 0\n", "write 'empty: true'", (2, 8)),
    ("key: chat.pending\nnot_empty: false\n", "write 'not_empty: true'", (2, 12)),
], ids=["in-scalar", "in-mixed", "not_in-scalar", "contains-int", "empty-0", "not_empty-false"])
def test_operator_operand_shape(text: str, message: str, place: tuple[int, int]) -> None:
    error = one_error(text)
    assert error.message == message
    assert at(error) == place


def test_float_key_accepts_int_operands() -> None:
    pred, _ = compiled("key: idle.silence_s\ngte: 30\n")
    assert pred(board(idle__silence_s=30.0)) and not pred(board(idle__silence_s=29.5))


@pytest.mark.parametrize(("text", "message", "place"), [
    ("all: []\n", "'all' needs a non-empty list of conditions", (1, 6)),
    ("any: {key: chat.ready, eq: true}\n", "'any' needs a non-empty list of conditions", (1, 6)),
    ("all:\n  - {key: chat.ready, eq: true}\nkey: chat.ready\n",
     "'all' cannot be mixed with 'key'", (3, 1)),
    ("not: {key: chat.ready, eq: true}\neq: true\n", "'not' cannot be mixed with 'eq'", (2, 1)),
])
def test_combinator_shape(text: str, message: str, place: tuple[int, int]) -> None:
    _, _, errors = compile_yaml(text)
    assert errors, "no error reported"
    assert errors[0].message == message, listing(errors)
    assert at(errors[0]) == place, listing(errors)


def test_errors_deep_inside_combinators_keep_their_places() -> None:
    _, _, errors = compile_yaml("""\
        all:
          - key: gifts.top_tier
            gte: 3
          - any:
              - {key: chat.redy, eq: true}
              - not: {key: segment.due, gte: 3}
        """)
    assert [(at(e), type(e).__name__) for e in errors] == [
        ((5, 15), "UndeclaredKey"), ((6, 38), "BadParameter")], listing(errors)
    assert errors[0].hint == "did you mean 'chat.ready'?"


# -- what predicates decide ----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value", "expected"), [
    ("eq: 3", 3, True), ("eq: 3", 2, False), ("ne: 3", 2, True), ("ne: 3", 3, False),
    ("gt: 3", 4, True), ("gt: 3", 3, False), ("gte: 3", 3, True), ("gte: 3", 2, False),
    ("lt: 3", 2, True), ("lt: 3", 3, False), ("lte: 3", 3, True), ("lte: 3", 4, False),
    ("in: [1, 3]", 3, True), ("in: [1, 3]", 2, False),
    ("not_in: [1, 3]", 2, True), ("not_in: [1, 3]", 1, False),
    ("empty: true", 0, True), ("empty: true", 5, False),
    ("not_empty: true", 5, True), ("not_empty: true", 0, False),
])
def test_each_operator_on_an_int_key(text: str, value: int, expected: bool) -> None:
    pred, readable = compiled(f"key: gifts.top_tier\n{text}\n")
    assert pred(board(gifts__top_tier=value)) is expected, f"{readable} with {value}"


@pytest.mark.parametrize(("key", "text", "value", "expected"), [
    ("segment.due", "contains: rain", "rain whispers", True),
    ("segment.due", "contains: rain", "story", False),
    ("party.tags", "contains: vip", ["vip", "new"], True),
    ("party.tags", "contains: vip", ["new"], False),
    ("party.tags", "empty: true", [], True),
    ("segment.due", "not_empty: true", "", False),
    ("party.mood", "in: [calm, sleepy]", "sleepy", True),
    ("chat.ready", "eq: true", True, True),
    ("chat.ready", "ne: true", True, False),
    ("party.heat", "gt: 0.5", 0.75, True),
    ("party.mood", "gte: b", "calm", True),
    ("party.mood", "lt: b", "calm", False),
])
def test_operators_on_other_key_types(key: str, text: str, value: Any, expected: bool) -> None:
    pred, readable = compiled(f"key: {key}\n{text}\n")
    assert pred(board(**{key.replace(".", "__"): value})) is expected, f"{readable} with {value!r}"


NESTED = """\
    all:
      - key: gifts.top_tier
        gte: 2
      - any:
          - {key: chat.ready, eq: true}
          - not:
              key: segment.due
              in: [rain, fire]
    """


def test_nested_all_any_not_truth_table() -> None:
    pred, readable = compiled(NESTED)
    rows = []
    for tier, ready, due in itertools.product([0, 1, 2, 3], [False, True],
                                              ["", "rain", "fire", "story"]):
        bb = board(gifts__top_tier=tier, chat__ready=ready, segment__due=due)
        want = tier >= 2 and (ready or due not in ("rain", "fire"))
        rows.append((tier, ready, due, pred(bb), want))
    wrong = [r for r in rows if r[3] != r[4]]
    assert not wrong, f"{readable}\n(tier, ready, due, got, want):\n" + "\n".join(map(str, wrong))
    assert {r[4] for r in rows} == {True, False}, "the table must exercise both outcomes"


def test_readable_text_of_a_nested_condition() -> None:
    _, readable = compiled(NESTED)
    assert readable == ("(gifts.top_tier gte 2 and (chat.ready eq True or "
                        "not segment.due in ['rain', 'fire']))")


def test_any_is_false_when_nothing_holds_and_not_inverts() -> None:
    pred, _ = compiled("any:\n  - {key: chat.pending, gt: 0}\n  - {key: speech.pending, gt: 0}\n")
    assert not pred(board())
    assert pred(board(speech__pending=1))
    negated, _ = compiled("not:\n  any:\n    - {key: chat.pending, gt: 0}\n")
    assert negated(board()) and not negated(board(chat__pending=2))


def test_predicate_reads_the_live_dict() -> None:
    # compiled once at load, then evaluated against the same dict as the show runs
    pred, _ = compiled("key: urgent.pending\ngte: 1\n")
    bb = board()
    assert not pred(bb)
    bb["urgent.pending"] = 1
    assert pred(bb)


# -- conditions in shows -------------------------------------------------------------------------


def test_condition_places_inside_a_show(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, """\
        name: t
        persona: {name: T}
        tree:
          priority: p
          children:
            - guard: big gifts
              when: {key: gifts.toptier, gte: 3}
              child: {idle: i}
            - condition: ready
              key: chat.ready
              gte: 1
        """)
    assert [(at(e), type(e).__name__) for e in errors] == [
        ((7, 19), "UndeclaredKey"), ((11, 12), "BadParameter")], listing(errors)
    assert errors[0].hint == "did you mean 'gifts.top_tier'?"


def test_guard_when_must_be_a_condition(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, """\
        name: t
        persona: {name: T}
        tree:
          guard: g
          when: chat.ready
          child: {idle: i}
        """)
    error = only(errors)
    assert error.message == "'g.when' must be a condition mapping", listing(errors)
    assert at(error) == (5, 9), listing(errors)


def test_guard_condition_compiles_into_the_node(tmp_path: Path) -> None:
    show = load(tmp_path, """\
        name: t
        persona: {name: T}
        tree:
          guard: g
          when: {key: chat.ready, eq: true}
          child: {idle: i}
        """)
    pred, readable = show.tree.params["check"]
    assert readable == "chat.ready eq True"
    assert pred(board(chat__ready=True)) and not pred(board())


CUSTOM_SHOW = """\
    name: t
    persona: {name: T}
    blackboard:
      party.hype: {type: int, default: 2, doc: how warm the party is}
      mood: {type: str}
    tree:
      sequence: s
      children:
        - condition: warm
          key: party.hype
          gte: 1
        - condition: calm
          key: mood
          eq: ''
        - set: heat up
          key: party.hype
          value: 3
    """


def test_custom_keys_are_declared_and_usable(tmp_path: Path) -> None:
    try:
        show = load(tmp_path, CUSTOM_SHOW)
    except ShowErrors as exc:
        pytest.fail(listing(exc.errors))
    assert show.keys == {
        "party.hype": KeyDecl("party.hype", "int", 2, "how warm the party is"),
        "mood": KeyDecl("mood", "str", "", ""),
    }
    warm = show.tree.children[0].params["check"][0]
    assert warm({"party.hype": 2}) and not warm({"party.hype": 0})
    assert show.tree.children[2].params == {"key": "party.hype", "value": 3}


def test_custom_key_is_not_seen_by_another_show(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, """\
        name: t
        persona: {name: T}
        tree:
          condition: warm
          key: party.hype
          gte: 1
        """)
    error = only(errors)
    assert isinstance(error, UndeclaredKey), listing(errors)
    assert at(error) == (5, 8), listing(errors)


@pytest.mark.parametrize(("decl", "message", "col"), [
    ("show.paused: {type: bool}", "'show.paused' is a built-in blackboard key", 3),
    ("hype: {type: int, default: 'x'}", "default of 'hype' must be a int, got 'x'", 3),
    ("hype: {type: int, default: true}", "default of 'hype' must be a int, got True", 3),
    ("hype: {type: integer}", "'blackboard.hype.type' cannot be 'integer'", 16),
    ("hype: {default: 1}", "'blackboard.hype' is missing the required key 'type'", 9),
    ("Hype: {type: int}", "'blackboard' has an invalid key 'Hype'", 3),
], ids=["builtin", "default-type", "default-bool", "bad-type", "no-type", "bad-name"])
def test_blackboard_declarations(tmp_path: Path, decl: str, message: str, col: int) -> None:
    errors = load_errors(tmp_path, f"name: t\npersona: {{name: T}}\nblackboard:\n  {decl}\n"
                                   "tree: {idle: i}\n")
    error = only(errors)
    assert error.message == message, listing(errors)
    assert at(error) == (4, col), listing(errors)


@pytest.mark.parametrize(("key", "value", "message", "place", "hint"), [
    ("party.hyp", "1", "undeclared blackboard key 'party.hyp'", (7, 8),
     "did you mean 'party.hype'?"),
    ("chat.ready", "true", "'chat.ready' is built in and read-only", (7, 8),
     "declare a key of your own under 'blackboard:'"),
    ("party.hype", "loud", "'party.hype' holds int, not 'loud'", (8, 10), ""),
    ("party.hype", "true", "'party.hype' holds int, not True", (8, 10), ""),
    ("party.hype", "1.5", "'party.hype' holds int, not 1.5", (8, 10), ""),
    ("party.hype", "", "'party.hype' holds int, not None", (8, 9), ""),
], ids=["undeclared", "builtin", "str-for-int", "bool-for-int", "float-for-int", "null"])
def test_set_key_rules(tmp_path: Path, key: str, value: str, message: str,
                       place: tuple[int, int], hint: str) -> None:
    errors = load_errors(tmp_path, f"""\
        name: t
        persona: {{name: T}}
        blackboard:
          party.hype: {{type: int}}
        tree:
          set: s
          key: {key}
          value: {value}
        """)
    error = only(errors)
    assert error.message == message, listing(errors)
    assert error.hint == hint, listing(errors)
    assert at(error) == place, listing(errors)


def test_set_on_an_undeclared_key_in_a_show_without_keys(tmp_path: Path) -> None:
    errors = load_errors(tmp_path, "name: t\npersona: {name: T}\n"
                                   "tree:\n  set: s\n  key: party.hype\n  value: 1\n")
    error = only(errors)
    assert isinstance(error, UndeclaredKey), listing(errors)
    assert error.hint == "declare it under 'blackboard:' in the show", listing(errors)
    assert at(error) == (5, 8), listing(errors)


@pytest.mark.parametrize(("lines", "missing"), [("  value: 1\n", "key"), ("  key: x\n", "value")])
def test_set_missing_a_parameter_is_one_error(tmp_path: Path, lines: str, missing: str) -> None:
    errors = load_errors(tmp_path, "name: t\npersona: {name: T}\nblackboard:\n  x: {type: int}\n"
                                   "tree:\n  set: s\n" + lines)
    error = only(errors)
    assert error.message == f"set node 's' is missing the required key '{missing}'", (
        listing(errors))
    assert at(error) == (6, 3), listing(errors)
