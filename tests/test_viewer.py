"""The live viewer, server side: snapshot/diff format, token guard, control API, /metrics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from py_trees.common import Status

from director.cli import main
from director.showfile import load_show
from director.testing import ShowHarness
from director.viewer import Tracker, Viewer, ViewerError, check_host

ROOT = Path(__file__).resolve().parent.parent
SHOW = ROOT / "shows" / "asmr_night.yaml"
THANK = "show/gifts/thank gifts"


@pytest.fixture
def harness(tmp_path: Path) -> ShowHarness:
    h = ShowHarness(load_show(SHOW), state_dir=tmp_path / "state")
    yield h
    h.close()


def with_viewer(h: ShowHarness, body: Callable[[Viewer, aiohttp.ClientSession, str],
                                                Awaitable[None]]) -> None:
    async def go() -> None:
        viewer = Viewer(h.director, port=0, token="secret-token")
        url = await viewer.start()
        try:
            async with aiohttp.ClientSession() as session:
                await body(viewer, session, url)
        finally:
            await viewer.stop()
    asyncio.run(go())


AUTH = {"Authorization": "Bearer secret-token"}


# -- snapshot and diffs ---------------------------------------------------------------------------
def test_structure_names_kinds_places_and_idle_statuses(harness: ShowHarness) -> None:
    msg = Tracker(harness.director).structure()
    assert msg["type"] == "structure"
    nodes = {n["path"]: n for n in msg["nodes"]}
    assert nodes["show"]["kind"] == "priority" and nodes["show"]["parent"] is None
    thank = nodes[THANK]
    assert thank["kind"] == "thank_gifts" and thank["name"] == "thank gifts"
    assert thank["place"].endswith("gift_reactions.yaml:11"), thank
    assert thank["parent"] == "show/gifts"
    assert set(msg["status"].values()) == {"idle"}
    json.dumps(msg)  # all JSON


def test_diffs_carry_only_changes(harness: ShowHarness) -> None:
    tracker = Tracker(harness.director)
    tracker.structure()
    assert tracker.take() is None
    harness.tick()
    first = tracker_tick(tracker, harness)
    assert first["type"] == "tick" and first["status"], first
    harness.tick()
    second = tracker_tick(tracker, harness)
    # nothing changed in the tree between two quiet ticks: no statuses, only the clock
    assert "status" not in second, (second, harness.tree_text())
    assert set(second.get("blackboard", {})) <= {"show.time_s", "idle.silence_s"}
    harness.send("gift", gift="rose", value=5)
    for _ in range(200):  # the gift waits out its combo window (3 s) first
        harness.tick()
        third = tracker_tick(tracker, harness)
        if third.get("status", {}).get(THANK) == "running":
            break
    assert third["status"][THANK] == "running", harness.tree_text()
    assert "show/gifts/thank big gifts" not in third["status"] or \
        third["status"]["show/gifts/thank big gifts"] != "idle"
    assert third["events"][0]["kind"] == "gift"
    assert len(third["status"]) < len(tracker.structure()["nodes"])


def tracker_tick(tracker: Tracker, h: ShowHarness) -> dict[str, Any]:
    tracker.on_tick(t=h.now, cost=0.0001, lateness=0.0, reactions=list(h.director.ctx.reactions))
    msg = tracker.take()
    assert msg is not None
    return msg


def test_accumulates_between_sends(harness: ShowHarness) -> None:
    tracker = Tracker(harness.director)
    tracker.structure()
    harness.send("gift", gift="rose", value=5)
    for _ in range(120):
        harness.tick()
        tracker.on_tick(t=harness.now, cost=0.001, lateness=0.0, reactions=[])
    msg = tracker.take()
    assert msg is not None and len(msg["cost_ms"]) == 120
    assert msg["status"][THANK] == "running"


def test_reload_sends_a_new_structure(harness: ShowHarness, tmp_path: Path) -> None:
    tracker = Tracker(harness.director)
    tracker.structure()
    text = SHOW.read_text(encoding="utf-8").replace(
        "    - include: trees/idle.yaml", "    - include: trees/idle.yaml\n"
        "    - idle: extra idle")
    copy = SHOW.parent / "_viewer_reload_test.yaml"
    copy.write_text(text, encoding="utf-8")
    try:
        harness.director.apply_show(load_show(copy))
    finally:
        copy.unlink()
    assert tracker.reloaded()
    tracker.on_tick(t=1.0, cost=0.0, lateness=0.0, reactions=[])
    assert tracker.structure_due
    paths = [n["path"] for n in tracker.structure()["nodes"]]
    assert "show/extra idle" in paths


# -- the HTTP API ----------------------------------------------------------------------------
def test_control_needs_the_token(harness: ShowHarness) -> None:
    async def body(viewer: Viewer, s: aiohttp.ClientSession, url: str) -> None:
        gift = {"kind": "gift", "msg_id": "g1", "viewer": {"id": "u", "name": "U"},
                "gift": "rose", "value": 5}
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "secret-token"}):
            for path in ("/api/events", "/api/pause", "/api/skip"):
                async with s.post(url + path.lstrip("/"), json=gift, headers=headers) as r:
                    assert r.status == 401, (path, headers)
                    assert "token" in (await r.json())["error"]
        assert harness.director.ledger.unfinished() == []
        assert harness.bb["show.paused"] is False
        async with s.post(url + "api/events", json=gift, headers=AUTH) as r:
            assert r.status == 200, await r.text()
        async with s.get(url) as r:  # viewing needs no token
            assert r.status == 200 and "<canvas" in await r.text()
    with_viewer(harness, body)


def test_posted_gift_is_thanked(harness: ShowHarness) -> None:
    async def body(viewer: Viewer, s: aiohttp.ClientSession, url: str) -> None:
        gift = {"kind": "gift", "viewer": {"id": "u9", "name": "Mika"}, "gift": "rose",
                "count": 3, "value": 5}
        async with s.post(url + "api/events", json=gift, headers=AUTH) as r:
            answer = await r.json()
            assert r.status == 200 and answer["ok"], answer
        harness.run_for(3.5)  # the combo window
        assert harness.status(THANK) == Status.RUNNING, harness.tree_text()
        harness.run_for(8.0)
        assert harness.outcomes()[answer["msg_id"]] == "thanked", harness.outcomes()
        assert any("Mika" in row["text"] for row in harness.speech())
    with_viewer(harness, body)


def test_bad_event_is_400_with_the_reason(harness: ShowHarness) -> None:
    async def body(viewer: Viewer, s: aiohttp.ClientSession, url: str) -> None:
        for record, reason in (({"kind": "gift", "viewer": {"id": "u"}}, "gift"),
                               ({"kind": "tip", "viewer": {"id": "u"}}, "unknown kind"),
                               ({"kind": "gift", "viewer": {"id": "u"}, "gift": "x",
                                 "value": 1, "currency": "XXX"}, "XXX")):
            async with s.post(url + "api/events", json=record, headers=AUTH) as r:
                assert r.status == 400
                assert reason in (await r.json())["error"]
        async with s.post(url + "api/events", data="{nope", headers=AUTH) as r:
            assert r.status == 400
    with_viewer(harness, body)


def test_pause_resume_and_skip(harness: ShowHarness) -> None:
    async def body(viewer: Viewer, s: aiohttp.ClientSession, url: str) -> None:
        async with s.post(url + "api/pause", headers=AUTH) as r:
            assert r.status == 200
        harness.tick(2)
        assert harness.bb["show.paused"] is True
        assert harness.status("show/paused") == Status.RUNNING, harness.tree_text()
        async with s.post(url + "api/resume", headers=AUTH) as r:
            assert r.status == 200
        harness.tick(2)
        assert harness.bb["show.paused"] is False
        harness.send("chat", text="hello Sakura, a long message to read aloud slowly")
        for _ in range(400):
            harness.tick()
            if harness.bb["speech.busy"]:
                break
        assert harness.bb["speech.busy"], harness.tree_text()
        line = next(h for h in harness.director.stage.voice.queue if not h.done())
        async with s.post(url + "api/skip", headers=AUTH) as r:
            assert (await r.json())["skipped"] == line.text
        assert line.cancelled and line.done()
    with_viewer(harness, body)


def test_websocket_sends_structure_then_ticks(harness: ShowHarness) -> None:
    async def body(viewer: Viewer, s: aiohttp.ClientSession, url: str) -> None:
        async with s.ws_connect(url + "ws") as ws:
            first = await ws.receive_json(timeout=2)
            assert first["type"] == "structure"
            harness.send("gift", gift="rose", value=5)
            harness.run_for(3.5)
            seen: dict[str, str] = {}
            for _ in range(20):
                msg = await ws.receive_json(timeout=2)
                assert msg["type"] == "tick", msg
                seen.update(msg.get("status", {}))
                if THANK in seen:
                    break
            assert seen[THANK] == "running", seen
    with_viewer(harness, body)


def test_metrics_parse_and_have_the_families(harness: ShowHarness) -> None:
    async def body(viewer: Viewer, s: aiohttp.ClientSession, url: str) -> None:
        harness.send("gift", gift="rose", value=5)
        harness.send("chat", text="hi")
        for _ in range(200):
            harness.tick()
        async with s.get(url + "metrics") as r:
            text = await r.text()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        for name in ("director_tick_seconds", "director_tick_lateness_seconds",
                     "director_gift_reaction_seconds", "director_chat_reaction_seconds",
                     "director_events_received", "director_events_handled",
                     "director_queue_size", "director_listener_connected",
                     "director_obs_connected"):
            assert name in families, sorted(families)
        received = {(s.labels["kind"], s.labels["platform"]): s.value
                    for s in families["director_events_received"].samples
                    if s.name.endswith("_total")}
        assert received[("gift", "sim")] == 1 and received[("chat", "sim")] == 1
        count = [s.value for s in families["director_tick_seconds"].samples
                 if s.name == "director_tick_seconds_count"]
        assert count == [200]
        gift = [s.value for s in families["director_gift_reaction_seconds"].samples
                if s.name.endswith("_count")]
        assert gift == [1]
    with_viewer(harness, body)


def test_viewer_errors_never_reach_the_tick(harness: ShowHarness) -> None:
    viewer = Viewer(harness.director, port=0)
    viewer.clients.add(object())  # type: ignore[arg-type]
    viewer.tracker.structure()
    viewer.tracker._nodes = None  # type: ignore[assignment]  # breaks on_tick
    harness.director.tick_watchers.append(viewer._on_tick)
    harness.tick(3)
    assert viewer._errors == 3 and harness.director.ticks == 3


# -- hosts -------------------------------------------------------------------------------------
def test_non_loopback_host_refused_without_the_flag(
        harness: ShowHarness, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ViewerError, match="--allow-remote-viewer"):
        check_host("0.0.0.0", allow_remote=False)
    with pytest.raises(ViewerError):
        Viewer(harness.director, host="192.168.1.5")
    check_host("0.0.0.0", allow_remote=True)
    check_host("127.0.0.1", allow_remote=False)
    assert main(["run", str(SHOW), "--headless", "--viewer-host", "0.0.0.0",
                 "--duration", "1"]) == 2
    assert "--allow-remote-viewer" in capsys.readouterr().err


def test_showfile_viewer_section(tmp_path: Path) -> None:
    show = tmp_path / "s.yaml"
    show.write_text("name: s\npersona: {name: P}\nviewer: {port: 9999, enabled: false}\n"
                    "tree:\n  idle: idle\n", encoding="utf-8")
    assert load_show(show).viewer == {"port": 9999, "enabled": False, "host": "127.0.0.1"}
    assert load_show(SHOW).viewer["port"] == 8765
