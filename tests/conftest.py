"""Shared fixtures: project paths, and a harness factory that closes its ledgers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[type[ShowHarness]]:
    """`harness.from_text(tmp_path, yaml, files=...)`; every harness made is closed at the end."""
    made: list[ShowHarness] = []

    class Tracked(ShowHarness):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, **kwargs)
            made.append(self)

    yield Tracked
    for h in made:
        h.close()
