"""The errors a streamer can cause, and how they are reported.

    DirectorError
    ├── ShowError                  a show cannot be loaded or run as written
    │   └── ShowLoadError          one problem at file:line:col, with a fix hint
    │       ├── YamlSyntaxError
    │       ├── UnknownName        unknown node kind, behaviour, section or key (did-you-mean)
    │       ├── BadParameter       wrong type, bad value, missing required parameter
    │       ├── UndeclaredKey      a blackboard key the show never declared
    │       ├── IncludeCycle
    │       └── MissingFile
    ├── ShowErrors                 every ShowLoadError of one validation, sorted by place
    ├── EventsFileError            a sim events file cannot be opened
    └── LedgerError                the state directory cannot hold a ledger

Validation collects every problem rather than stopping at the first, so a streamer fixes a show in
one pass; `ShowErrors` carries them all and prints one `path:line:col: message` line each.
"""

from __future__ import annotations

from dataclasses import dataclass


class DirectorError(Exception):
    """Base of every error the director raises on purpose."""


class ShowError(DirectorError):
    """A show cannot be loaded or run as written."""


@dataclass(frozen=True)
class Place:
    """Where something is in a YAML file (1-based line and column)."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class ShowLoadError(ShowError):
    """One problem in a show file, at a place, with a hint that says how to fix it."""

    def __init__(self, place: Place, message: str, hint: str = "") -> None:
        self.place = place
        self.message = message
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.place}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class YamlSyntaxError(ShowLoadError):
    """The file is not valid YAML."""


class UnknownName(ShowLoadError):
    """A node kind, behaviour, section or key that does not exist."""


class BadParameter(ShowLoadError):
    """A parameter with the wrong type or value, or a required one that is missing."""


class UndeclaredKey(ShowLoadError):
    """A blackboard key that is neither built in nor declared by the show."""


class IncludeCycle(ShowLoadError):
    """A subtree that includes itself, directly or through others."""


class MissingFile(ShowLoadError):
    """A referenced file (subtree, events, show) that does not exist."""


class ShowErrors(ShowError):
    """Every problem found in one validation pass."""

    def __init__(self, errors: list[ShowLoadError]) -> None:
        self.errors = sorted(errors, key=lambda e: (e.place.file, e.place.line, e.place.col))
        super().__init__("\n".join(e.render() for e in self.errors))


class EventsFileError(DirectorError):
    """A sim events file that cannot be read at all."""


class LedgerError(DirectorError):
    """The ledger's state directory or database cannot be used."""
