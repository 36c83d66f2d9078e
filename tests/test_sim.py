"""The sim listener: JSONL replay on the show clock; bad lines reported at file:line and skipped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from director.clock import SimClock
from director.errors import EventsFileError
from director.events import Event, Gift, Money
from director.ledger import Ledger
from director.listeners import SimListener, read_events_file

TICK = 1 / 30


def line(t: Any, msg_id: Any, kind: str = "chat", **fields: Any) -> str:
    obj: dict[str, Any] = {"t": t, "kind": kind, "msg_id": msg_id,
                           "viewer": {"id": "u1", "name": "小明"}}
    if kind == "chat":
        obj["text"] = "hi"
    obj.update(fields)
    return json.dumps(obj, ensure_ascii=False)


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Line numbers matter: the problems must point at these exact lines.
MIXED = [
    line(1, "ok-1"),                                           # 1
    "{not json",                                               # 2
    line(2, None),                                             # 3 missing msg_id
    line(3, "raid-1", kind="raid"),                            # 4 unknown kind
    line(-1, "neg-1"),                                         # 5 negative t
    line(4, "bad-text", text=5),                               # 6 wrong type
    "",                                                        # 7 blank: ignored
    "# a comment",                                             # 8 ignored
    line("5", "str-t"),                                        # 9 t as a string
    line(6, "bad-count", kind="gift", gift="rose", count=True),  # 10 bool for int
    "[1, 2, 3]",                                               # 11 not an object
    line(2.5, "ok-2"),                                         # 12
    line(7, "gbp", kind="gift", gift="rose", value=1, currency="GBP"),  # 13 unknown currency
    "// another comment",                                      # 14
    line(0.5, "ok-0"),                                         # 15 out of order: sorted
]


def test_bad_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, MIXED)
    events, problems = read_events_file(path, money=Money(rates={"USD": 7.2}))
    assert [(t, e.msg_id) for t, e in events] == [(0.5, "ok-0"), (1.0, "ok-1"), (2.5, "ok-2")]
    where = {p.split(": ", 1)[0]: p for p in problems}
    expected = {
        2: "not valid JSON",
        3: "non-empty 'msg_id'",
        4: "unknown kind 'raid'",
        5: "'t' must be a number of seconds",
        6: "'text' must be str, got int",
        9: "'t' must be a number of seconds",
        10: "'count' must be int, got bool",
        11: "an event must be a JSON object",
        13: "no exchange rate for GBP",
    }
    got_lines = sorted(int(k.split(":")[1]) for k in where)
    assert got_lines == sorted(expected), "\n".join(problems)
    for number, message in expected.items():
        problem = next(p for p in problems if p.startswith(f"{path}:{number}:"))
        assert message in problem and problem.endswith("(line skipped)"), problem
    assert problems[0].startswith(f"{path}:2:2: not valid JSON"), problems[0]  # column too


def test_missing_file_is_an_events_file_error(tmp_path: Path) -> None:
    with pytest.raises(EventsFileError, match=r"cannot read events file .*nope\.jsonl"):
        read_events_file(tmp_path / "nope.jsonl")


def test_currency_is_converted_to_the_show_base(tmp_path: Path) -> None:
    path = write(tmp_path, [
        line(1, "usd", kind="gift", gift="Heart", count=5, value=0.7, currency="USD"),
        line(2, "cny", kind="gift", gift="Heart", value=3),
        line(3, "sc", kind="super_chat", text="hi", value=10, currency="usd"),
    ])
    events, problems = read_events_file(path, money=Money(base="CNY", rates={"USD": 7.2}))
    assert problems == []
    by_id = {e.msg_id: e for _, e in events}
    usd = by_id["usd"]
    assert isinstance(usd, Gift)
    assert usd.value == pytest.approx(5.04) and usd.currency == "CNY"
    assert by_id["cny"].money == 3.0
    assert by_id["sc"].money == pytest.approx(72.0)


def test_platform_is_stamped_on_events(tmp_path: Path) -> None:
    path = write(tmp_path, [line(1, "a"), line(2, "b", platform="youtube")])
    events, _ = read_events_file(path, platform="bilibili")
    assert [(e.platform, e.viewer.platform) for _, e in events] == [
        ("bilibili", "bilibili"), ("youtube", "youtube")]


# -- replay on the show clock -----------------------------------------------------------------
def replay(listener: SimListener, clock: SimClock, until: float,
           emit: Any = None) -> list[tuple[str, float, float]]:
    """Run the listener as a task and advance the clock one tick at a time, like the director."""
    got: list[tuple[str, float, float]] = []

    def record(event: Event) -> bool:
        got.append((event.msg_id, event.received, clock.now()))
        return True if emit is None else bool(emit(event))

    async def main() -> None:
        task = asyncio.create_task(listener.run(record))
        await asyncio.sleep(0)
        while clock.now() < until:
            clock.advance(TICK)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())
    return got


def test_events_are_emitted_at_their_time(tmp_path: Path,
                                          caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, MIXED)
    clock = SimClock()
    listener = SimListener(path, clock=clock, money=Money(rates={"USD": 7.2}))
    with caplog.at_level(logging.WARNING, logger="director.listeners.sim"):
        got = replay(listener, clock, until=3.0)
    assert [g[0] for g in got] == ["ok-0", "ok-1", "ok-2"]
    for (msg_id, received, at), t in zip(got, (0.5, 1.0, 2.5), strict=True):
        assert received == at, f"{msg_id} carries {received}, emitted at {at}"
        assert t <= at < t + TICK + 1e-9, f"{msg_id} due at {t}, emitted at {at}"
    assert listener.finished and listener.received == 3 and listener.errors == 9
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 9, warned
    assert any(w.startswith(f"{path}:4:") and "unknown kind 'raid'" in w for w in warned), warned


def test_events_already_due_play_at_once(tmp_path: Path) -> None:
    # after a restart the clock starts late: everything before it is emitted on the first tick
    path = write(tmp_path, [line(1, "a"), line(2, "b"), line(50, "c")])
    clock = SimClock(offset=10.0)
    got = replay(SimListener(path, clock=clock), clock, until=50.1)
    assert [m for m, _, _ in got] == ["a", "b", "c"], got
    assert all(at <= 10.0 + TICK + 1e-9 for _, _, at in got[:2]), f"not on the first tick: {got}"
    assert got[2][0] == "c" and 50 <= got[2][2] < 50 + TICK + 1e-9, got


def test_missing_file_is_logged_and_the_listener_finishes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = SimClock()
    listener = SimListener(tmp_path / "gone.jsonl", clock=clock)
    with caplog.at_level(logging.ERROR, logger="director.listeners.sim"):
        got = replay(listener, clock, until=0.1)
    assert got == [] and listener.finished and listener.errors == 1
    assert any("gone.jsonl" in r.getMessage() for r in caplog.records)


def test_duplicate_msg_ids_in_one_file_are_kept_once(tmp_path: Path) -> None:
    path = write(tmp_path, [
        line(1, "dup", kind="gift", gift="rose", value=1),
        line(2, "other"),
        line(3, "dup", kind="gift", gift="rose", value=999),
    ])
    ledger = Ledger.open(tmp_path / "state")
    ledger.start_run("sim test")
    try:
        clock = SimClock()
        listener = SimListener(path, clock=clock)
        replay(listener, clock, until=3.1, emit=ledger.record)
        stored = list(ledger.event_rows())
        assert sorted(r["msg_id"] for r in stored) == ["dup", "other"], stored
        dup = next(r for r in stored if r["msg_id"] == "dup")
        assert dup["received_s"] < 2, "the later copy replaced the first"
        assert listener.received == 3 and listener.duplicates == 1
        (back,) = [e for e in ledger.unfinished() if e.msg_id == "dup"]
        assert back.money == 1.0
    finally:
        ledger.close()
