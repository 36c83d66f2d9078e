"""The blackboard: named values the tree reads and writes, every key declared with a type.

Built-in keys are refreshed by the director before each tick from the queues (gifts waiting, chat
ready, segment due, silence...). A show may declare its own keys under `blackboard:`; a tree may
only read or write declared keys, which the validator checks, so a typo in a condition is an error
at load time rather than a branch that silently never runs.

Rejected alternative: py_trees' own blackboard. Its storage is process-global (tests must clear it,
two shows cannot share a process) and every access goes through client permission checks that cost
more than the conditions themselves on the 30 Hz path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KEY_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
}


@dataclass(frozen=True)
class KeyDecl:
    name: str
    type: str
    default: Any
    doc: str = ""
    builtin: bool = False


def _k(name: str, type_: str, default: Any, doc: str) -> KeyDecl:
    return KeyDecl(name, type_, default, doc, builtin=True)


BUILTIN_KEYS: dict[str, KeyDecl] = {k.name: k for k in (
    _k("show.time_s", "float", 0.0, "seconds since the show started (show clock)"),
    _k("show.paused", "bool", False, "the operator paused the show"),
    _k("gifts.pending", "int", 0, "gift thanks ready to be said (combos settled)"),
    _k("gifts.waiting", "int", 0, "gift thanks queued, including combos still counting"),
    _k("gifts.top_tier", "int", 0, "highest tier among ready gift thanks (0 = none)"),
    _k("urgent.pending", "int", 0,
       "events allowed to interrupt the current segment (big gifts, super chats) ready now"),
    _k("superchats.pending", "int", 0, "super chats waiting for a reply"),
    _k("chat.pending", "int", 0, "chat messages that could be answered"),
    _k("chat.ready", "bool", False, "a chat message is waiting and the reply interval has passed"),
    _k("speech.pending", "int", 0, "operator speech (microphone) waiting for an answer"),
    _k("crowd.pending", "int", 0, "follows, entries and likes waiting to be acknowledged"),
    _k("segment.due", "str", "", "name of the scheduled segment that should run now ('' = none)"),
    _k("segment.active", "str", "", "name of the segment in progress, also while interrupted"),
    _k("segment.remaining_s", "float", 0.0, "time left in the active segment"),
    _k("speech.busy", "bool", False, "the voice is speaking"),
    _k("idle.silence_s", "float", 0.0, "seconds since the avatar last spoke"),
    _k("viewers.last", "str", "", "name of the last viewer who sent anything"),
)}


class Blackboard:
    """Values by key. `values` is public for the hot path (conditions read it directly)."""

    __slots__ = ("decls", "values")

    def __init__(self, custom: dict[str, KeyDecl] | None = None) -> None:
        self.decls: dict[str, KeyDecl] = dict(BUILTIN_KEYS)
        if custom:
            self.decls.update(custom)
        self.values: dict[str, Any] = {name: d.default for name, d in self.decls.items()}

    def declare(self, decls: dict[str, KeyDecl]) -> None:
        """Add or retype custom keys (hot reload); existing values of unchanged keys are kept."""
        for name, decl in decls.items():
            old = self.decls.get(name)
            self.decls[name] = decl
            if old is None or old.type != decl.type:
                self.values[name] = decl.default

    def get(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any) -> None:
        decl = self.decls.get(key)
        if decl is None:
            raise KeyError(f"undeclared blackboard key '{key}'")
        if not isinstance(value, KEY_TYPES[decl.type]) or (
            isinstance(value, bool) and decl.type in ("int", "float")
        ):
            raise TypeError(f"blackboard key '{key}' holds {decl.type}, not {value!r}")
        self.values[key] = value

    def snapshot(self) -> dict[str, Any]:
        return dict(self.values)
