"""End to end: `director run` on the two shipped shows, checked against the run report contract.

The report is the contract between a run and whoever reads it (the viewer, CI, a streamer's own
scripts), so every field's type is checked, not only the interesting values. The two show runs are
started together once per module (they mostly sleep at --speed 100) and shared by the tests.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTCOMES = {"thanked", "merged", "replied", "skipped", "moderated", "pending"}
REASONS = {"gift", "chat", "asmr", "idle"}
GIFTISH = {"gift", "membership"}

pytestmark = pytest.mark.slow


def director(*args: str) -> list[str]:
    return [sys.executable, "-m", "director", *args]


def is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def contract_problems(report: dict[str, Any]) -> list[str]:
    """Every way `report` departs from the documented run report format."""
    bad: list[str] = []

    def need(cond: bool, what: str) -> None:
        if not cond:
            bad.append(what)

    need(isinstance(report.get("show"), str) and report["show"] != "", "show: non-empty str")
    need(is_num(report.get("duration_s")), "duration_s: number")
    need(isinstance(report.get("runs"), int) and report["runs"] >= 1, "runs: int >= 1")
    ticks = report.get("ticks")
    if not isinstance(ticks, dict):
        return [*bad, "ticks: object"]
    need(isinstance(ticks.get("count"), int) and ticks["count"] > 0, "ticks.count: int > 0")
    need(is_num(ticks.get("rate_hz")), "ticks.rate_hz: number")
    for name in ("cost_ms", "lateness_ms"):
        summary = ticks.get(name)
        need(isinstance(summary, dict) and set(summary) >= {"p50", "p99", "max"}
             and all(is_num(summary[k]) and summary[k] >= 0 for k in ("p50", "p99", "max"))
             and summary["p50"] <= summary["p99"] <= summary["max"] * 1.02 + 1e-9,
             f"ticks.{name}: {{p50 <= p99 <= max}} numbers, got {summary}")
    for i, e in enumerate(report.get("events") or []):
        where = f"events[{i}] {e.get('msg_id')}"
        need(all(isinstance(e.get(k), str) and e[k] for k in ("msg_id", "kind", "platform")),
             f"{where}: msg_id/kind/platform str")
        need(isinstance(e.get("viewer"), str), f"{where}: viewer str")
        need(is_num(e.get("received_s")), f"{where}: received_s number")
        for k in ("reacted_s", "done_s"):
            need(k in e and (e[k] is None or is_num(e[k])), f"{where}: {k} number or null")
        need(e.get("outcome") in OUTCOMES, f"{where}: outcome {e.get('outcome')!r}")
        need("by" in e and (e["by"] is None or isinstance(e["by"], str)), f"{where}: by")
        need(isinstance(e.get("run"), int) and e["run"] >= 1, f"{where}: run int")
        if e.get("outcome") == "pending":
            need(e.get("done_s") is None, f"{where}: pending but done_s set")
        elif is_num(e.get("done_s")):
            need(e["received_s"] <= e["done_s"], f"{where}: done before received")
            need(e.get("reacted_s") is not None and e["reacted_s"] <= e["done_s"],
                 f"{where}: reacted_s missing or after done_s")
        else:
            bad.append(f"{where}: outcome {e.get('outcome')} without done_s")
    need(isinstance(report.get("events"), list), "events: list")
    for i, s in enumerate(report.get("segments") or []):
        where = f"segments[{i}] {s.get('name')}"
        need(isinstance(s.get("name"), str), f"{where}: name str")
        need(is_num(s.get("start_s")), f"{where}: start_s number")
        need("end_s" in s and (s["end_s"] is None or is_num(s["end_s"])), f"{where}: end_s")
        ints = s.get("interrupted")
        need(isinstance(ints, list), f"{where}: interrupted list")
        for j, it in enumerate(ints or []):
            need(is_num(it.get("at_s")), f"{where}.interrupted[{j}].at_s number")
            need("resumed_s" in it and (it["resumed_s"] is None or is_num(it["resumed_s"])),
                 f"{where}.interrupted[{j}].resumed_s")
            need("by" in it and (it["by"] is None or isinstance(it["by"], str)),
                 f"{where}.interrupted[{j}].by")
    need(isinstance(report.get("segments"), list), "segments: list")
    for i, s in enumerate(report.get("speech") or []):
        where = f"speech[{i}] {s.get('text')!r}"
        need(is_num(s.get("start_s")) and is_num(s.get("end_s"))
             and s["start_s"] <= s["end_s"], f"{where}: start_s <= end_s numbers")
        need(isinstance(s.get("text"), str) and s["text"] != "", f"{where}: text")
        need(isinstance(s.get("voice"), str) and s["voice"] != "", f"{where}: voice")
        need(s.get("reason") in REASONS, f"{where}: reason {s.get('reason')!r}")
    need(isinstance(report.get("speech"), list) and report["speech"] != [], "speech: list")
    return bad


@dataclass
class Run:
    show: str
    proc: subprocess.CompletedProcess[str]
    report: dict[str, Any]
    event_ids: list[str]

    @property
    def events(self) -> dict[str, dict[str, Any]]:
        return {e["msg_id"]: e for e in self.report["events"]}


@pytest.fixture(scope="module")
def show_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    base = tmp_path_factory.mktemp("e2e")
    plans = {"asmr_night": 560, "chat_party": 180}
    started = {}
    for name, duration in plans.items():
        report = base / f"{name}.json"
        args = director("run", f"shows/{name}.yaml", "--headless", "--speed", "100",
                        "--duration", str(duration), "--state", str(base / f"{name}-state"),
                        "--report", str(report), "--no-reload")
        started[name] = (subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True), report)
    runs = {}
    for name, (proc, report_path) in started.items():
        out, err = proc.communicate(timeout=120)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        assert proc.returncode == 0, f"{name}: rc {proc.returncode}\n{err[-3000:]}"
        ids = [json.loads(x)["msg_id"] for x in
               (ROOT / "shows" / "events" / f"{name}.jsonl").read_text("utf-8").splitlines()
               if x.strip()]
        runs[name] = Run(name, done, json.loads(report_path.read_text("utf-8")), ids)
    return runs


SHOWS = ["asmr_night", "chat_party"]


@pytest.mark.parametrize("name", SHOWS)
def test_report_follows_the_contract(show_runs: dict[str, Run], name: str) -> None:
    run = show_runs[name]
    problems = contract_problems(run.report)
    assert problems == [], "\n".join(problems)
    assert "Traceback" not in run.proc.stderr


@pytest.mark.parametrize(("name", "duration", "title"), [
    ("asmr_night", 560, "ASMR Night with Sakura"),
    ("chat_party", 180, "Friday Chat Party with Sakura"),
])
def test_run_summary(show_runs: dict[str, Run], name: str, duration: float, title: str) -> None:
    r = show_runs[name].report
    assert r["show"] == title
    assert r["runs"] == 1
    assert r["duration_s"] == pytest.approx(duration, abs=0.05)
    assert r["ticks"]["rate_hz"] == pytest.approx(30.0, rel=0.02), r["ticks"]
    assert r["ticks"]["count"] == pytest.approx(duration * 30, abs=2), r["ticks"]


@pytest.mark.parametrize("name", SHOWS)
def test_every_event_is_in_the_report_once(show_runs: dict[str, Run], name: str) -> None:
    run = show_runs[name]
    ids = [e["msg_id"] for e in run.report["events"]]
    assert len(ids) == len(set(ids)), "an event appears twice"
    assert set(ids) <= set(run.event_ids), set(ids) - set(run.event_ids)
    # a line that did not play must have been reported, at its line number, as skipped
    events_file = ROOT / "shows" / "events" / f"{name}.jsonl"
    for missing in set(run.event_ids) - set(ids):
        number = run.event_ids.index(missing) + 1  # the files have no blank or comment lines
        assert f"{events_file}:{number}:" in run.proc.stderr and "(line skipped)" in \
            run.proc.stderr, f"{missing} (line {number}) vanished without a warning"
    assert all(e["run"] == 1 and e["platform"] == "sim" for e in run.report["events"])
    for e in run.report["events"]:
        if e["kind"] in GIFTISH:
            assert e["outcome"] in ("thanked", "merged") and e["by"], e
    counts = run.report["outcomes"]
    assert sum(counts.values()) == len(ids)


def test_asmr_night_handles_everything(show_runs: dict[str, Run]) -> None:
    pending = [e for e in show_runs["asmr_night"].report["events"] if e["outcome"] == "pending"]
    assert pending == [], pending


@pytest.mark.parametrize(("name", "segments"), [
    ("asmr_night", {"rain whispers", "ear brushing"}),
    ("chat_party", {"story time"}),
])
def test_segments_ran_and_were_interrupted(show_runs: dict[str, Run], name: str,
                                           segments: set[str]) -> None:
    found = {s["name"]: s for s in show_runs[name].report["segments"]}
    assert set(found) == segments, found
    for seg in found.values():
        assert seg["end_s"] is not None and seg["end_s"] > seg["start_s"], seg
        assert seg["interrupted"], f"{seg['name']} was never interrupted: {seg}"
        for it in seg["interrupted"]:
            # named after the node that took over, and given back once it finished
            assert it["by"] and "/urgent/" in it["by"], seg
            assert it["resumed_s"] is not None and it["at_s"] <= it["resumed_s"], seg


@pytest.mark.parametrize("name", SHOWS)
def test_speech_reasons(show_runs: dict[str, Run], name: str) -> None:
    speech = show_runs[name].report["speech"]
    assert {s["reason"] for s in speech} == REASONS
    assert {s["voice"] for s in speech} == {"subtitles"}
    duration = show_runs[name].report["duration_s"]
    assert all(0 <= s["start_s"] <= duration for s in speech)


@pytest.mark.parametrize(("name", "msg_id", "banned"), [
    ("asmr_night", "an-0010", "stupid bot"),  # troll: "you are a stupid bot"
    ("chat_party", "cp-0092", "idiot"),       # a viewer named idiot_king
])
def test_moderated_text_is_never_spoken(show_runs: dict[str, Run], name: str, msg_id: str,
                                        banned: str) -> None:
    event = show_runs[name].events[msg_id]
    assert event["outcome"] == "moderated", event
    said = [s["text"] for s in show_runs[name].report["speech"] if banned in s["text"].lower()]
    assert said == [], said


# -- options and failures ---------------------------------------------------------------------
def test_events_file_replaces_the_show_listeners(tmp_path: Path) -> None:
    events = tmp_path / "mine.jsonl"
    events.write_text("\n".join([
        '{"t": 1, "kind": "chat", "msg_id": "mine-1", "viewer": {"id": "a", "name": "Ann"}, '
        '"text": "hello there"}',
        '{"t": 2, "kind": "gift", "msg_id": "mine-2"}',
        '{"t": 2, "kind": "gift", "msg_id": "mine-3", "viewer": {"id": "b", "name": "Bob"}, '
        '"gift": "rose", "value": 2, "currency": "USD"}',
        '{"t": 3, "kind": "follow", "msg_id": "mine-4", "viewer": {"id": "c", "name": "Cat"}}',
    ]) + "\n", encoding="utf-8")
    report = tmp_path / "r.json"
    proc = subprocess.run(
        director("run", "shows/asmr_night.yaml", "--headless", "--speed", "100", "--duration",
                 "20", "--state", str(tmp_path / "state"), "--events", str(events),
                 "--report", str(report), "--no-reload"),
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the bad line is reported where it is, and the rest plays
    assert f"{events}:2:1: an event needs 'viewer' (line skipped)" in proc.stderr, \
        proc.stderr[-3000:]
    r = json.loads(report.read_text("utf-8"))
    got = {e["msg_id"]: e for e in r["events"]}
    assert set(got) == {"mine-1", "mine-3", "mine-4"}, sorted(got)
    assert got["mine-3"]["outcome"] == "thanked" and got["mine-1"]["outcome"] == "replied", got
    assert any("Bob" in s["text"] for s in r["speech"]), r["speech"]


def wait_for_clock(db_path: Path, proc: subprocess.Popen[str], show_s: float,
                   timeout: float = 30) -> None:
    """Until the running show's heartbeat reaches `show_s` (so its signal handlers are in place)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the show exited early: {proc.communicate()[1][-3000:]}"
        if db_path.exists():
            try:
                db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1)
                try:
                    row = db.execute("SELECT MAX(last_s) FROM runs").fetchone()
                finally:
                    db.close()
                if row and row[0] and row[0] >= show_s:
                    return
            except sqlite3.Error:
                pass
        time.sleep(0.02)
    raise AssertionError("the show never started ticking")


def test_ctrl_c_still_writes_the_report(tmp_path: Path) -> None:
    state, report = tmp_path / "state", tmp_path / "r.json"
    proc = subprocess.Popen(
        director("run", "shows/asmr_night.yaml", "--headless", "--speed", "10", "--state",
                 str(state), "--report", str(report), "--no-reload"),
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_clock(state / "ledger.sqlite3", proc, 4.0)  # past the first chat reply
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    r = json.loads(report.read_text("utf-8"))
    problems = contract_problems(r)
    assert problems == [], "\n".join(problems)
    assert r["runs"] == 1 and 4.0 <= r["duration_s"] < 560, r["duration_s"]
    assert r["events"], "no events by the time of Ctrl-C"
    db = sqlite3.connect(state / "ledger.sqlite3")
    try:
        ended = db.execute("SELECT ended, last_s FROM runs").fetchall()
    finally:
        db.close()
    assert ended == [(1, pytest.approx(r["duration_s"], abs=0.01))], ended


BROKEN = """\
name: broken
persona: {name: X, languages: [en], topics: [tea]}
tree:
  priority: show
  children:
    - thank_giftz: thanks
"""


def test_a_broken_show_exits_2_without_a_traceback(tmp_path: Path) -> None:
    show = tmp_path / "broken.yaml"
    show.write_text(BROKEN, encoding="utf-8")
    proc = subprocess.run(
        director("run", str(show), "--headless", "--speed", "100", "--duration", "1",
                 "--state", str(tmp_path / "state")),
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert f"{show}:6:" in proc.stderr and "thank_giftz" in proc.stderr, proc.stderr
    assert "problem" in proc.stderr and "found" in proc.stderr, proc.stderr
    assert not (tmp_path / "state").exists(), "a show that does not load opened a ledger"


def test_a_missing_events_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    proc = subprocess.run(
        director("run", "shows/asmr_night.yaml", "--headless", "--speed", "100", "--duration",
                 "1", "--state", str(tmp_path / "state"), "--events", str(missing)),
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"director: events file not found: {missing}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unusable_state_folder_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = subprocess.run(
        director("run", "shows/asmr_night.yaml", "--headless", "--speed", "100", "--duration",
                 "1", "--state", str(blocker / "state")),
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "director: cannot open the ledger at" in proc.stderr, proc.stderr
    assert "--state DIR with a writable folder" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("speed", ["0", "-3"])
def test_a_bad_speed_exits_2(tmp_path: Path, speed: str) -> None:
    proc = subprocess.run(
        director("run", "shows/asmr_night.yaml", "--headless", f"--speed={speed}",
                 "--state", str(tmp_path / "state")),
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "--speed must be greater than 0" in proc.stderr

