"""The ledger: events stored once, their states, runs on the show clock, speech and segments.

Every check reads the SQLite file back (through a fresh `Ledger` where it matters), because what
counts after a crash is what is on disk, not what the object remembers.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from director.errors import LedgerError
from director.events import Chat, Event, Gift, Like, Membership, Viewer
from director.ledger import SCHEMA_VERSION, Ledger, SegmentRow, key_of


def viewer(name: str = "小明", platform: str = "sim") -> Viewer:
    return Viewer(platform=platform, id=f"id-{name}", name=name)


def gift(msg_id: str, *, platform: str = "sim", received: float = 0.0, value: float = 1.0,
         currency: str = "CNY") -> Gift:
    return Gift(platform=platform, msg_id=msg_id, viewer=viewer(platform=platform),
                received=received, gift="小心心", count=2, value=value, currency=currency)


def chat(msg_id: str, text: str = "hello", *, received: float = 0.0) -> Chat:
    return Chat(platform="sim", msg_id=msg_id, viewer=viewer("Mika"), text=text,
                received=received)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger.open(tmp_path / "state")
    led.start_run("test show")
    yield led
    led.close()


def rows(led: Ledger) -> dict[str, dict[str, Any]]:
    return {r["msg_id"]: r for r in led.event_rows()}


# -- recording --------------------------------------------------------------------------------
def test_record_stores_an_event_once(ledger: Ledger) -> None:
    first = gift("g1", received=3.0)
    assert ledger.record(first) is True
    resent = gift("g1", received=9.0, value=99.0)
    assert ledger.record(resent) is False, "a resend of the same (platform, msg_id) was stored"
    stored = list(ledger.event_rows())
    assert len(stored) == 1, stored
    row = stored[0]
    # the duplicate changed nothing: time and payload are the first one's
    assert row["received_s"] == 3.0 and row["state"] == "received" and row["run"] == 1, row
    assert ledger.unfinished() == [first]


def test_same_msg_id_on_another_platform_is_another_event(ledger: Ledger) -> None:
    assert ledger.record(gift("42", platform="bilibili"))
    assert ledger.record(gift("42", platform="youtube"))
    assert ledger.record(gift("42", platform="bilibili")) is False
    assert sorted(r["platform"] for r in ledger.event_rows()) == ["bilibili", "youtube"]


def test_record_notes_the_run_it_arrived_in(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path)
    led.start_run("s")
    led.record(gift("a"))
    led.start_run("s")
    led.record(gift("b"))
    assert {m: r["run"] for m, r in rows(led).items()} == {"a": 1, "b": 2}
    led.close()


# -- states -----------------------------------------------------------------------------------
def test_claim_release_done(ledger: Ledger) -> None:
    g = gift("g1", received=1.0)
    ledger.record(g)
    k = key_of(g)
    assert k == ("sim", "g1")

    ledger.claim([k], "show/gifts/thank gifts", 2.0)
    r = rows(ledger)["g1"]
    assert (r["state"], r["reacted_s"], r["outcome"]) == ("claimed", 2.0, None), r

    ledger.release([k])
    r = rows(ledger)["g1"]
    # released: waits again, but the first reaction time is kept for the report
    assert (r["state"], r["reacted_s"]) == ("received", 2.0), r

    ledger.claim([k], "show/urgent", 5.0)
    assert rows(ledger)["g1"]["reacted_s"] == 2.0, "a second claim moved the first reaction time"

    ledger.done([(k, "thanked")], "show/urgent", 6.5, "detail text")
    r = rows(ledger)["g1"]
    assert (r["state"], r["outcome"], r["by"], r["done_s"], r["detail"]) == (
        "done", "thanked", "show/urgent", 6.5, "detail text"), r


def test_done_without_claim_sets_reacted(ledger: Ledger) -> None:
    c = chat("c1")
    ledger.record(c)
    ledger.done([(key_of(c), "moderated")], "chat screen", 4.0)
    r = rows(ledger)["c1"]
    assert (r["reacted_s"], r["done_s"], r["outcome"]) == (4.0, 4.0, "moderated"), r


def test_done_is_final(ledger: Ledger) -> None:
    g = gift("g1")
    ledger.record(g)
    k = key_of(g)
    ledger.done([(k, "thanked")], "first", 1.0)
    ledger.done([(k, "merged")], "second", 2.0)
    ledger.claim([k], "third", 3.0)
    ledger.release([k])
    r = rows(ledger)["g1"]
    assert (r["state"], r["outcome"], r["by"], r["done_s"], r["reacted_s"]) == (
        "done", "thanked", "first", 1.0, 1.0), f"a done event was changed: {r}"
    assert ledger.unfinished() == []


def test_unfinished_returns_equal_events_and_releases_claims(ledger: Ledger) -> None:
    waiting = gift("g1", received=1.5, value=7.2)
    claimed = Membership(platform="sim", msg_id="m1", viewer=viewer("星星"), received=2.0,
                         level=3, months=2, value=30.0)
    finished = chat("c1", received=2.5)
    liked = Like(platform="sim", msg_id="l1", viewer=viewer("lurker"), received=3.0, count=30)
    for e in (waiting, claimed, finished, liked):
        assert ledger.record(e)
    ledger.claim([key_of(claimed)], "show/gifts", 2.2)
    ledger.done([(key_of(finished), "replied")], "show/chat", 3.0)

    back = ledger.unfinished()
    assert back == [waiting, claimed, liked], back  # oldest first, decoded to equal objects
    assert [type(e) for e in back] == [Gift, Membership, Like]
    assert rows(ledger)["m1"]["state"] == "received"
    raw = ledger.db.execute("SELECT claimed_by FROM events WHERE msg_id='m1'").fetchone()
    assert raw == (None,), "unfinished() left the claim on the event"


def test_unfinished_decodes_events_of_a_show_with_another_base_currency(ledger: Ledger) -> None:
    # a JPY show stores values already converted to JPY; a restart must read them back as they are
    yen = gift("g1", received=1.0, value=500.0, currency="JPY")
    ledger.record(yen)
    assert ledger.unfinished() == [yen]


def test_outcome_counts(ledger: Ledger) -> None:
    for i in range(4):
        ledger.record(gift(f"g{i}"))
    ledger.done([(("sim", "g0"), "thanked"), (("sim", "g1"), "merged")], "x", 1.0)
    ledger.done([(("sim", "g2"), "thanked")], "x", 2.0)
    assert ledger.outcome_counts() == {"thanked": 2, "merged": 1, "pending": 1}


# -- runs -------------------------------------------------------------------------------------
def test_runs_continue_the_show_clock(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path)
    assert led.start_run("s") == (1, 0.0)
    led.heartbeat(12.5)
    led.close()  # like a kill: the run never ended

    led = Ledger.open(tmp_path)
    assert led.start_run("s") == (2, 12.5)
    assert (led.run, led.offset) == (2, 12.5)
    led.heartbeat(20.0)
    led.end_run(31.25)
    led.close()

    led = Ledger.open(tmp_path)
    assert led.start_run("s") == (3, 31.25)
    assert led.runs() == 3
    table = led.db.execute("SELECT run, offset_s, last_s, ended FROM runs ORDER BY run").fetchall()
    assert table == [(1, 0.0, 12.5, 0), (2, 12.5, 31.25, 1), (3, 31.25, 31.25, 0)], table
    led.close()


def test_a_restart_starts_after_rows_written_since_the_last_heartbeat(tmp_path: Path) -> None:
    # kill -9 between heartbeats: the events and segments written after the last one are on disk,
    # and the next run must not start before them (report times never go backwards)
    led = Ledger.open(tmp_path)
    led.start_run("s")
    led.heartbeat(12.0)
    g = gift("g1", received=12.4)
    led.record(g)
    led.claim([key_of(g)], "show/gifts", 12.6)
    led.close()
    led = Ledger.open(tmp_path)
    assert led.start_run("s") == (2, 12.6)
    led.save_segment(SegmentRow("seg", 12.9, None, 0.0, 0, []))
    led.close()
    led = Ledger.open(tmp_path)
    assert led.start_run("s") == (3, 12.9)
    led.close()


# -- speech and segments ----------------------------------------------------------------------
def test_speech_rows(ledger: Ledger) -> None:
    a = ledger.speech_start(1.0, 3.0, "谢谢小明的小心心～", "subtitles", "gift")
    b = ledger.speech_start(3.0, 5.0, "Mm, Mika.", "subtitles", "chat")
    c = ledger.speech_start(5.0, 6.0, "Shh...", "subtitles", "idle")
    assert a < b < c
    ledger.speech_cut(a, 2.0)
    ledger.speech_moved(b, 2.0, 4.0)
    assert ledger.speech_rows() == [
        {"start_s": 1.0, "end_s": 2.0, "text": "谢谢小明的小心心～", "voice": "subtitles",
         "reason": "gift", "run": 1, "cut": True},
        {"start_s": 2.0, "end_s": 4.0, "text": "Mm, Mika.", "voice": "subtitles",
         "reason": "chat", "run": 1, "cut": False},
        {"start_s": 5.0, "end_s": 6.0, "text": "Shh...", "voice": "subtitles",
         "reason": "idle", "run": 1, "cut": False},
    ]
    cancelled = ledger.db.execute("SELECT id, cancelled FROM speech ORDER BY id").fetchall()
    assert cancelled == [(a, 1), (b, 0), (c, 0)]


def test_segment_rows_round_trip(ledger: Ledger) -> None:
    assert ledger.load_segments() == {}
    row = SegmentRow("rain whispers", 40.0, None, 18.5, 2,
                     [{"at_s": 58.0, "resumed_s": 62.5, "by": "show/urgent"},
                      {"at_s": 80.0, "resumed_s": None, "by": None}])
    ledger.save_segment(row)
    ledger.save_segment(SegmentRow("ear brushing", None, None, 0.0, 0, []))
    assert ledger.load_segments() == {"rain whispers": row,
                                      "ear brushing": SegmentRow("ear brushing", None, None,
                                                                 0.0, 0, [])}
    finished = SegmentRow("rain whispers", 40.0, 172.5, 120.0, 4, row.interruptions)
    ledger.save_segment(finished)  # an update, not a second row
    assert ledger.load_segments()["rain whispers"] == finished
    assert len(ledger.load_segments()) == 2


# -- durability and errors --------------------------------------------------------------------
def test_reopening_keeps_everything(tmp_path: Path) -> None:
    led = Ledger.open(tmp_path)
    led.start_run("s")
    events: list[Event] = [gift("g1", received=1.0), chat("c1", received=2.0),
                           gift("g2", received=3.0)]
    for e in events:
        led.record(e)
    led.done([(key_of(events[1]), "replied")], "show/chat", 4.0)
    led.claim([key_of(events[2])], "show/gifts", 4.5)
    led.speech_start(4.0, 6.0, "line", "subtitles", "chat")
    seg = SegmentRow("seg", 1.0, None, 3.0, 1, [{"at_s": 2.0, "resumed_s": None, "by": None}])
    led.save_segment(seg)
    led.heartbeat(5.0)
    before = list(led.event_rows())
    led.close()

    led = Ledger.open(tmp_path)
    try:
        assert list(led.event_rows()) == before
        assert led.speech_rows() == [{"start_s": 4.0, "end_s": 6.0, "text": "line",
                                      "voice": "subtitles", "reason": "chat", "run": 1,
                                      "cut": False}]
        assert led.load_segments() == {"seg": seg}
        assert led.runs() == 1
        assert led.unfinished() == [events[0], events[2]]
        assert led.start_run("s") == (2, 5.0)
    finally:
        led.close()


def test_the_database_is_in_wal_mode(ledger: Ledger) -> None:
    assert ledger.db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_schema_version_mismatch_is_refused(tmp_path: Path) -> None:
    Ledger.open(tmp_path).close()
    db = sqlite3.connect(tmp_path / "ledger.sqlite3")
    db.execute("UPDATE meta SET value='999' WHERE key='schema'")
    db.commit()
    db.close()
    with pytest.raises(LedgerError) as info:
        Ledger.open(tmp_path)
    message = str(info.value)
    assert "ledger.sqlite3" in message and "schema 999" in message, message
    assert "new --state folder" in message, message
    assert SCHEMA_VERSION != "999"


def test_unwritable_state_dir(tmp_path: Path) -> None:
    # a file where the state folder should be: fails even for root, unlike a chmod
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(LedgerError) as info:
        Ledger.open(blocker / "state")
    message = str(info.value)
    assert "cannot open the ledger at" in message and "not-a-folder" in message, message
    assert "--state DIR with a writable folder" in message, message


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "ledger.sqlite3").write_bytes(b"this is not sqlite, just a text file " * 20)
    with pytest.raises(LedgerError, match="cannot open the ledger at"):
        Ledger.open(tmp_path)
