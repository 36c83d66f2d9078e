"""Shared fixtures: project paths, an open ledger, and a harness factory that closes its ledgers."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from director.ledger import Ledger
from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent

# The default show speaks with real CPU voices; tests that replay shows at 100x would wait on
# them. Shows here are subtitled unless a test names a voice (--voice, voice_profile=) or drops
# this variable (tests/test_voice_e2e.py).
os.environ.setdefault("DIRECTOR_VOICE", "subtitles")


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """A ledger in this test's folder with a run started (test_ledger.py has its own)."""
    led = Ledger.open(tmp_path / "state")
    led.start_run("test")
    yield led
    led.close()


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
