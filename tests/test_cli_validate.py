"""`director validate` as a streamer runs it: the real command line, in a subprocess.

Exit 0 and one "ok" line per valid show; exit 2 and one `path:line:col: message` line per problem,
then a count, and never a traceback. Failing assertions print the command's whole output.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIRECTOR = ".venv/bin/director"
ERROR_LINE = re.compile(r"^.+:\d+:\d+: ")
SUMMARY = re.compile(r"^(\d+) problems? found$")

pytestmark = pytest.mark.slow

BROKEN = """\
    name: broken
    persona: {name: T}
    tree:
      priority: show
      children:
        - thank_gift: thanks
        - wait: pause
          seconds: soon
    gift: {}
    """


class Run:
    def __init__(self, *args: str) -> None:
        done = subprocess.run([DIRECTOR, *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
        self.rc = done.returncode
        self.out = done.stdout.splitlines()
        self.err = done.stderr.splitlines()
        self.text = f"exit {self.rc}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def assert_error_report(run: Run) -> list[str]:
    """Every stderr line is a placed error except a final count that matches; returns errors."""
    assert "Traceback" not in run.text, run.text
    assert run.err, run.text
    errors = [line for line in run.err if not SUMMARY.match(line)]
    assert all(ERROR_LINE.match(line) for line in errors), run.text
    return errors


def test_valid_shows_exit_0_with_ok() -> None:
    run = Run("validate", "shows/asmr_night.yaml", "shows/chat_party.yaml")
    assert run.rc == 0, run.text
    assert run.err == [], run.text
    assert len(run.out) == 2, run.text
    for line, name in zip(run.out, ["asmr_night", "chat_party"], strict=True):
        assert re.fullmatch(rf"shows/{name}\.yaml: ok \(\d+ nodes, \d+ segments, "
                            r"\d+ subtree files\)", line), run.text


def test_broken_show_exits_2_with_one_line_per_error(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yaml", BROKEN)
    run = Run("validate", str(path))
    assert run.rc == 2, run.text
    assert run.out == [], run.text
    errors = assert_error_report(run)
    assert [line.split(": ", 1)[0] for line in errors] == [
        f"{path}:6:7", f"{path}:8:16", f"{path}:9:1"], run.text
    assert errors[0].endswith("unknown node kind 'thank_gift' (did you mean 'thank_gifts'?)")
    assert run.err[-1] == "3 problems found", run.text


def test_yaml_syntax_error_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "syntax.yaml", "name: t\npersona: {name: T\ntree: {idle: i}\n")
    run = Run("validate", str(path))
    assert run.rc == 2, run.text
    errors = assert_error_report(run)
    assert len(errors) == 1 and errors[0].startswith(f"{path}:3:"), run.text
    assert "YAML syntax error" in errors[0], run.text
    assert run.err[-1] == "1 problem found", run.text


def test_missing_show_file(tmp_path: Path) -> None:
    run = Run("validate", str(tmp_path / "nope.yaml"))
    assert run.rc == 2, run.text
    errors = assert_error_report(run)
    assert errors == [f"{tmp_path / 'nope.yaml'}:1:1: file not found: {tmp_path / 'nope.yaml'} "
                      "(check the path; relative paths are resolved from the file that names "
                      "them)"], run.text


def test_several_shows_in_one_call(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.yaml", BROKEN)
    other = write(tmp_path, "other.yaml", "name: t\npersona: {name: T}\ntree: {idel: i}\n")
    run = Run("validate", "shows/asmr_night.yaml", str(broken), "shows/chat_party.yaml",
              str(other))
    assert run.rc == 2, run.text
    assert [line.split(":")[0] for line in run.out] == [
        "shows/asmr_night.yaml", "shows/chat_party.yaml"], run.text
    errors = assert_error_report(run)
    assert sum(line.startswith(f"{broken}:") for line in errors) == 3, run.text
    assert [line for line in errors if line.startswith(f"{other}:")] == [
        f"{other}:3:8: unknown node kind 'idel' (did you mean 'idle'?)"], run.text
    assert [line for line in run.err if SUMMARY.match(line)] == [
        "3 problems found", "1 problem found"], run.text


def test_error_in_a_subtree_names_the_subtree(tmp_path: Path) -> None:
    (tmp_path / "trees").mkdir()
    sub = write(tmp_path, "trees/sub.yaml", "tree:\n  wait: w\n  secs: 3\n")
    show = write(tmp_path, "show.yaml",
                 "name: t\npersona: {name: T}\ntree: {include: trees/sub.yaml}\n")
    run = Run("validate", str(show))
    assert run.rc == 2, run.text
    errors = assert_error_report(run)
    assert len(errors) == 2, run.text
    assert all(line.startswith(f"{sub.resolve()}:") for line in errors), run.text
    assert {line.split(": ", 1)[0] for line in errors} == {
        f"{sub.resolve()}:2:3", f"{sub.resolve()}:3:3"}, run.text


def test_validate_needs_a_show() -> None:
    run = Run("validate")
    assert run.rc == 2, run.text
    assert "Traceback" not in run.text, run.text
    assert any("usage" in line for line in run.err), run.text
