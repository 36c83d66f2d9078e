"""Crash restart: every gift thanked exactly once, the show clock and segments continue.

Two levels: Director objects closed mid-thanks and reopened on the same state (fast, exact), and
the real CLI killed with SIGKILL in the middle of the ASMR night and run again to the end.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent
TICK = 1 / 30

SHOW = """\
name: restart test
persona: {name: Tester, languages: [en], topics: [tea]}
gifts:
  combo_window_s: 1
  tiers:
    - {name: small, min: 0, lines: {en: "THANKS {viewer} x{count} {gift}"}}
segments:
  - name: story
    at: 10s
    duration: 20s
    lines: ["LINE one of the story.", "LINE two of the story.", "LINE three of the story.",
            "LINE four of the story."]
tree:
  priority: show
  children:
    - thank_gifts: thank gifts
    - asmr_segment: story segment
    - idle: idle
      self_talk: false
"""


def ledger_rows(h: ShowHarness) -> dict[str, dict[str, Any]]:
    return {r["msg_id"]: r for r in h.director.ledger.event_rows()}


def run_until_state(h: ShowHarness, msg_id: str, state: str, limit: float = 10.0) -> None:
    end = h.now + limit
    while ledger_rows(h)[msg_id]["state"] != state:
        assert h.now < end, f"{msg_id} never became {state}:\n{h.tree_text()}"
        h.tick()


def test_a_thanks_cut_by_a_crash_is_said_again_and_done_once(
        harness: type[ShowHarness], tmp_path: Path) -> None:
    h1 = harness.from_text(tmp_path, SHOW)
    h1.send("gift", viewer="Ann", gift="rose", msg_id="g-ann")
    run_until_state(h1, "g-ann", "done")
    ann_done = ledger_rows(h1)["g-ann"]
    h1.send("gift", viewer="Bob", gift="tulip", msg_id="g-bob")
    run_until_state(h1, "g-bob", "claimed")
    h1.tick(40)  # mid-line (and past a heartbeat)
    assert ledger_rows(h1)["g-bob"]["state"] == "claimed", h1.tree_text()
    crash_time = h1.now
    h1.close()  # no end_run, no settle: what kill -9 leaves behind

    h2 = harness.from_text(tmp_path, SHOW)
    d2 = h2.director
    assert d2.run_number == 2
    # the clock continues from the last heartbeat (at most a second before the crash)
    assert crash_time - 1.0 <= d2.offset <= crash_time, (d2.offset, crash_time)
    assert len(d2.ctx.gifts) == 1, "a gift already thanked before the crash was queued again"
    run_until_state(h2, "g-bob", "done")
    h2.run_for(3)

    rows = ledger_rows(h2)
    assert rows["g-ann"] == ann_done, "a done event changed after the restart"
    bob = rows["g-bob"]
    assert (bob["outcome"], bob["run"]) == ("thanked", 1), bob
    assert bob["done_s"] >= d2.offset
    lines = Counter((s["text"], s["run"]) for s in h2.speech() if s["reason"] == "gift")
    assert lines == {("THANKS Ann x1 rose", 1): 1, ("THANKS Bob x1 tulip", 1): 1,
                     ("THANKS Bob x1 tulip", 2): 1}, lines
    report = h2.report()
    assert report["runs"] == 2 and report["run"] == 2
    assert [e["msg_id"] for e in report["events"]] == ["g-ann", "g-bob"]


def test_a_segment_resumes_after_a_restart(harness: type[ShowHarness], tmp_path: Path) -> None:
    h1 = harness.from_text(tmp_path, SHOW)
    h1.run_until(17.0)
    seg1 = h1.director.ledger.load_segments()["story"]
    assert seg1.start_s is not None and seg1.end_s is None, seg1
    spoken1 = [s["text"] for s in h1.speech() if s["reason"] == "asmr"]
    assert spoken1, f"no segment line by 17 s:\n{h1.tree_text()}"
    h1.close()

    h2 = harness.from_text(tmp_path, SHOW)
    h2.run_until(h2.now + 30)
    seg2 = h2.director.ledger.load_segments()["story"]
    assert seg2.start_s == seg1.start_s, "the segment started over instead of resuming"
    assert seg2.end_s is not None and seg2.elapsed_s == 20.0, seg2
    # 20 s of segment time, plus at most the second lost between heartbeat and crash
    assert seg2.end_s - seg2.start_s <= 20.0 + 1.0 + 2 * TICK, seg2
    said = [s["text"] for s in h2.speech() if s["reason"] == "asmr"]
    # every line once; only a line cut by the crash may be said twice
    counts = Counter(said)
    assert set(counts) == {f"LINE {n} of the story." for n in ("one", "two", "three", "four")}
    repeated = [t for t, n in counts.items() if n > 1]
    assert len(repeated) <= 1 and all(t == spoken1[-1] for t in repeated), said


# -- the real thing: SIGKILL in the middle of the ASMR night ----------------------------------
ASMR = ROOT / "shows" / "asmr_night.yaml"
ASMR_EVENTS = ROOT / "shows" / "events" / "asmr_night.jsonl"
GIFTISH = ("gift", "membership")
CROWD = ("follow", "enter", "like")


def director_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "director", "run", *args]


def read_ledger(path: Path) -> dict[str, Any] | None:
    """A read-only look at a running show's ledger; None while it cannot be read yet."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error:
        return None
    try:
        db.row_factory = sqlite3.Row
        events = [dict(r) for r in db.execute("SELECT * FROM events ORDER BY seq")]
        segments = {r["name"]: dict(r) for r in db.execute("SELECT * FROM segments")}
        speech = [dict(r) for r in db.execute("SELECT * FROM speech ORDER BY id")]
        runs = [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY run")]
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return {"events": events, "segments": segments, "speech": speech, "runs": runs}


def tail(path: Path, n: int = 3000) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-n:] if path.exists() else ""


@pytest.mark.slow
def test_kill_9_mid_show_then_restart(tmp_path: Path) -> None:
    state = tmp_path / "state"
    db_path = state / "ledger.sqlite3"
    r1, r2 = tmp_path / "r1.json", tmp_path / "r2.json"
    log1 = tmp_path / "run1.log"
    all_ids = [json.loads(x)["msg_id"] for x in ASMR_EVENTS.read_text("utf-8").splitlines()
               if x.strip()]
    gift_ids = {json.loads(x)["msg_id"] for x in ASMR_EVENTS.read_text("utf-8").splitlines()
                if x.strip() and json.loads(x)["kind"] in GIFTISH}

    # run 1 at 20x; kill it once >= 5 gifts are done and the first segment has started,
    # preferably while a thanks is being said (so it is cut off), else by ~70 s of show time
    with log1.open("w") as err:
        proc = subprocess.Popen(
            director_cmd(str(ASMR), "--headless", "--speed", "20", "--state", str(state),
                         "--report", str(r1), "--no-reload"),
            cwd=ROOT, stdout=err, stderr=subprocess.STDOUT)
    snapshot: dict[str, Any] | None = None
    deadline = time.monotonic() + 60
    try:
        while True:
            assert proc.poll() is None, f"run 1 ended by itself (rc {proc.returncode}):\n" \
                                        f"{tail(log1)}"
            assert time.monotonic() < deadline, f"no kill point in 60 s:\n{tail(log1)}"
            look = read_ledger(db_path)
            if look is not None and look["runs"]:
                done = [e for e in look["events"] if e["kind"] in GIFTISH and e["state"] == "done"]
                claimed = [e for e in look["events"] if e["kind"] in GIFTISH
                           and e["state"] == "claimed"]
                seg = look["segments"].get("rain whispers")
                started = seg is not None and seg["start_s"] is not None
                clock = look["runs"][-1]["last_s"]
                if len(done) >= 5 and started and (claimed or clock >= 70):
                    break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not r1.exists(), "a killed run wrote a report"
    snapshot = read_ledger(db_path)
    assert snapshot is not None
    kill_clock = snapshot["runs"][-1]["last_s"]
    done1 = {e["msg_id"]: e for e in snapshot["events"] if e["state"] == "done"}
    received1 = {e["msg_id"]: e for e in snapshot["events"]}
    gifts_done1 = [m for m in done1 if m in gift_ids]
    assert 5 <= len(gifts_done1) < len(gift_ids), gifts_done1
    # thanks being said at the kill: said again in run 2 (each claim group is one line)
    inflight = {(e["claimed_by"], e["reacted_s"]) for e in snapshot["events"]
                if e["state"] == "claimed" and e["kind"] in GIFTISH + CROWD}
    seg1 = snapshot["segments"]["rain whispers"]

    # run 2 at 50x on the same state, to well past the last gift (thanked near 495 s)
    duration = 540 - kill_clock
    run2 = subprocess.run(
        director_cmd(str(ASMR), "--headless", "--speed", "50", "--duration", f"{duration:.3f}",
                     "--state", str(state), "--report", str(r2), "--no-reload"),
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run2.returncode == 0, run2.stderr[-3000:]
    assert "Traceback" not in run2.stderr, run2.stderr[-3000:]
    report = json.loads(r2.read_text("utf-8"))
    final = read_ledger(db_path)
    assert final is not None
    events = report["events"]
    by_id = {e["msg_id"]: e for e in events}
    context = (f"killed at {kill_clock:.2f} s, in flight {inflight}; "
               f"outcomes {report['outcomes']}")

    # runs and the show clock
    assert report["runs"] == 2 and report["run"] == 2, context
    offset2 = final["runs"][1]["offset_s"]
    last1 = max(t for e in snapshot["events"]
                for t in (e["received_s"], e["reacted_s"], e["done_s"]) if t is not None)
    # run 2 starts where run 1's clock stopped: its last heartbeat, or a later row of it
    assert kill_clock <= offset2 <= kill_clock + 1.0 + TICK, (offset2, context)
    assert offset2 >= last1, (offset2, last1, context)
    assert report["duration_s"] == pytest.approx(offset2 + duration, abs=0.05), context
    assert report["ticks"]["rate_hz"] == pytest.approx(30.0, rel=0.01)

    # every event once; every gift and membership thanked or merged, none pending
    assert len(events) == len(by_id), "an event appears twice in the report"
    assert sorted(by_id) == sorted(all_ids), set(all_ids) ^ set(by_id)
    for msg_id in gift_ids:
        e = by_id[msg_id]
        assert e["outcome"] in ("thanked", "merged") and e["by"], (e, context)
    # done in run 1 stays as it was; received in run 1 stays run 1
    for msg_id, before in done1.items():
        after = by_id[msg_id]
        assert (after["outcome"], after["by"], after["done_s"]) == (
            before["outcome"], before["by"], round(before["done_s"], 3)), (before, after)
    for e in events:
        assert e["run"] == (1 if e["msg_id"] in received1 else 2), e
        if e["run"] == 2:
            assert e["received_s"] >= round(offset2, 3), e
        if e["msg_id"] not in done1 and e["done_s"] is not None:
            assert e["done_s"] >= round(offset2, 3), (e, "done in run 2 before run 2 began")

    # exactly once, by what was said: each thanks settled in run 2 is one gift/crowd line of
    # run 2 (a thanks cut off by the kill is said again there, a finished one never is); in run 1,
    # lines beyond its settled thanks are only those cut off by the kill
    def thanks_settled(rows: list[dict[str, Any]]) -> int:
        return sum(1 for e in rows if e["outcome"] == "thanked" and e["kind"] in GIFTISH + CROWD)

    lines = [s for s in report["speech"] if s["reason"] == "gift"]
    lines1 = [s for s in lines if s["run"] == 1]
    lines2 = [s for s in lines if s["run"] == 2]
    settled1 = thanks_settled(list(done1.values()))
    settled2 = thanks_settled(events) - settled1
    said = "\n".join(f"run {s['run']} {s['start_s']}: {s['text']}" for s in lines)
    assert len(lines2) == settled2, (
        f"run 2 said {len(lines2)} thank-you lines for {settled2} thanks; {context}\n{said}")
    assert 0 <= len(lines1) - settled1 <= len(inflight), (
        f"run 1 said {len(lines1)} lines for {settled1} thanks, {len(inflight)} cut off; "
        f"{context}\n{said}")
    for s in report["speech"]:
        if s["run"] == 2:
            assert s["start_s"] >= round(offset2, 3), s
    # the clock never goes back: nothing in run 2 happens before what run 1 recorded last
    first2 = min([e["received_s"] for e in events if e["run"] == 2]
                 + [e["reacted_s"] for e in events
                    if e["msg_id"] not in received1 and e["reacted_s"] is not None]
                 + [e["done_s"] for e in events
                    if e["msg_id"] not in done1 and e["done_s"] is not None])
    assert first2 >= round(last1, 3), (
        f"run 2 recorded {first2} s, before run 1's last time {last1} s "
        f"(run 2 started at {offset2} s)")

    # segments resumed, not restarted
    segments = {s["name"]: s for s in report["segments"]}
    assert set(segments) == {"rain whispers", "ear brushing"}, segments
    rain = segments["rain whispers"]
    assert rain["start_s"] == round(seg1["start_s"], 3), (seg1, rain)
    assert rain["end_s"] is not None and rain["elapsed_s"] == 120.0, rain
    before = json.loads(seg1["interruptions"])
    assert [i["at_s"] for i in rain["interrupted"][:len(before)]] == [
        i["at_s"] for i in before], (before, rain["interrupted"])
    assert all(i["resumed_s"] is not None for i in rain["interrupted"]), rain
    for name, seg in segments.items():
        assert seg["end_s"] is not None, seg
        row1 = snapshot["segments"].get(name)
        if row1 is not None and row1["start_s"] is not None:
            assert seg["start_s"] == round(row1["start_s"], 3), (row1, seg)
        else:
            assert seg["start_s"] >= round(offset2, 3), seg
    # lines of the segment finished before the kill are not said again
    finished1 = {s["text"] for s in snapshot["speech"]
                 if s["reason"] == "asmr" and not s["cancelled"] and s["end_s"] < kill_clock - 0.1}
    again = [s["text"] for s in report["speech"] if s["run"] == 2 and s["text"] in finished1]
    assert again == [], f"segment lines repeated after the restart: {again}"
