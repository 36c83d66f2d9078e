"""OBS control against the fake obs-websocket server: what must hold when OBS misbehaves."""

from __future__ import annotations

import time

import pytest
from obs_fake import FakeObs, free_port

from director.services import obs_ws
from director.services.obs import OfflineObs
from director.services.obs_ws import ObsWebSocket, make_obs, obs_settings

SETTINGS = {
    "enabled": True, "host": "127.0.0.1", "password": "secret",
    "scenes": {"default": "Main", "asmr": "ASMR"}, "subtitles": "Subtitles", "banner": "",
    "effects": {"petals": {"scene": "Main", "source": "Petals", "seconds": 0.3}},
    "virtual_camera": False, "start_streaming": False,
}


@pytest.fixture
def fake():
    server = FakeObs(password="secret").start()
    yield server
    server.stop()


@pytest.fixture
def clients():
    made: list[ObsWebSocket] = []

    def make(port: int, **over) -> ObsWebSocket:
        client = ObsWebSocket(settings={**SETTINGS, "port": port, **over}, timeout=1.0)
        made.append(client)
        client.start()
        return client

    yield make
    for client in made:
        client.close()


def test_env_overrides_the_show_settings():
    show = {"enabled": False, "host": "obs.local", "port": 4455, "password_env": "MY_PW"}
    assert obs_settings(show, {"MY_PW": "a"})["password"] == "a"
    got = obs_settings(show, {"DIRECTOR_OBS_URL": "ws://127.0.0.1:4460", "MY_PW": "a",
                              "DIRECTOR_OBS_PASSWORD": "b"})
    assert (got["enabled"], got["host"], got["port"], got["password"]) == (
        True, "127.0.0.1", 4460, "b")
    assert isinstance(make_obs(show, {}), OfflineObs)
    client = make_obs(show, {"DIRECTOR_OBS_URL": "ws://127.0.0.1:4460"})
    assert isinstance(client, ObsWebSocket)
    client.close()


def test_scene_subtitle_text_and_effect_reach_obs(fake, clients):
    obs = clients(fake.port)
    assert fake.wait_for(lambda: obs.connected), obs.state()
    obs.switch_scene("ASMR", 1.0)
    obs.set_subtitle("晚安，大家", 1.0)
    obs.set_text("Subtitles", "hello", 1.5)
    obs.show_effect("petals", 2.0)
    assert fake.wait_for(lambda: fake.enabled.get(("Main", 2)) is True), fake.requests
    assert fake.program == "ASMR"
    assert fake.wait_for(lambda: fake.inputs["Subtitles"]["text"] == "hello")
    assert fake.sent("SetInputSettings")[0]["inputSettings"] == {"text": "晚安，大家"}
    # shown for `seconds`, then hidden again
    assert fake.wait_for(lambda: fake.enabled.get(("Main", 2)) is False, timeout=3)
    assert obs.problems == [] and obs.last_error == "", obs.state()


def test_wrong_password_is_reported_and_the_show_goes_on(fake, clients):
    obs = clients(fake.port, password="wrong")
    assert fake.wait_for(lambda: "password" in obs.last_error), obs.state()
    t0 = time.perf_counter()
    for i in range(100):
        obs.switch_scene(f"S{i % 2}", float(i))
        obs.set_subtitle(f"line {i}", float(i))
    assert time.perf_counter() - t0 < 0.1  # the show's calls never wait for OBS
    assert not obs.connected and fake.sent("SetCurrentProgramScene") == []


def test_obs_late_then_only_the_latest_scene_is_sent(clients):
    port = free_port()
    obs = clients(port)
    for scene in ("ASMR", "Main", "ASMR"):
        obs.switch_scene(scene, 0.0)
    time.sleep(0.3)
    assert "not running" in obs.last_error, obs.state()
    server = FakeObs(password="secret", port=port).start()
    try:
        assert server.wait_for(lambda: server.program == "ASMR", timeout=8), server.requests
        assert server.sent("SetCurrentProgramScene") == [{"sceneName": "ASMR"}]
    finally:
        server.stop()


def test_stale_subtitle_is_dropped(monkeypatch, clients):
    monkeypatch.setattr(obs_ws, "STALE_SECONDS", 0.2)
    port = free_port()
    obs = clients(port)
    obs.set_subtitle("said long ago", 0.0)
    time.sleep(0.4)
    server = FakeObs(password="secret", port=port).start()
    try:
        assert server.wait_for(lambda: obs.connected, timeout=8)
        time.sleep(0.2)
        assert server.sent("SetInputSettings") == []
        assert obs.dropped == 1
    finally:
        server.stop()


def test_restart_mid_show_reconnects_and_restores_the_scene(fake, clients):
    obs = clients(fake.port)
    obs.switch_scene("ASMR", 0.0)
    assert fake.wait_for(lambda: fake.program == "ASMR")
    fake.restart(down_for=0.3)  # OBS comes back on its saved scene
    assert fake.program == "Main"
    assert fake.wait_for(lambda: fake.program == "ASMR", timeout=8), obs.state()
    obs.set_subtitle("after the restart", 5.0)
    assert fake.wait_for(lambda: fake.inputs["Subtitles"]["text"] == "after the restart")
    assert obs.connected


def test_dropped_connection_resends_the_latest_subtitle(fake, clients):
    obs = clients(fake.port)
    assert fake.wait_for(lambda: obs.connected)
    fake.drop_on = {"SetInputSettings"}
    obs.set_subtitle("first try", 1.0)
    assert fake.wait_for(lambda: fake.connections >= 2, timeout=8), obs.state()
    fake.drop_on = set()
    assert fake.wait_for(lambda: fake.inputs["Subtitles"]["text"] == "first try", timeout=8)


def test_slow_answer_is_an_error_not_a_stall(fake, clients):
    obs = clients(fake.port)
    assert fake.wait_for(lambda: obs.connected)
    fake.delay["SetCurrentProgramScene"] = 3.0
    t0 = time.perf_counter()
    obs.switch_scene("ASMR", 1.0)
    assert time.perf_counter() - t0 < 0.05
    assert fake.wait_for(lambda: "in time" in obs.last_error, timeout=5), obs.state()
    fake.delay.clear()
    assert fake.wait_for(lambda: obs.connected, timeout=8), obs.state()


def test_unknown_names_are_reported_against_obs_lists(fake, clients):
    obs = clients(fake.port, scenes={"default": "Main", "asmr": "ASRM"}, subtitles="Subtitle",
                  effects={"petals": {"scene": "Main", "source": "Petal", "seconds": 1}})
    assert fake.wait_for(lambda: len(obs.problems) == 3), obs.problems
    text = "\n".join(obs.problems)
    assert "obs.scenes.asmr: OBS has no scene 'ASRM' (did you mean 'ASMR'?)" in text
    assert "obs.subtitles: OBS has no source 'Subtitle' (did you mean 'Subtitles'?)" in text
    assert "obs.effects.petals.source" in text and "'Petals'" in text
    obs.show_effect("confeti", 1.0)
    assert "effect 'confeti' is not under obs.effects" in obs.problems[-1]


def test_virtual_camera_604_is_reported_and_streaming_follows_the_show(fake, clients):
    obs = clients(fake.port, virtual_camera=True, start_streaming=True)
    assert fake.wait_for(lambda: fake.streaming), fake.requests
    assert "virtual camera did not start" in obs.last_error and "604" in obs.last_error
    assert "v4l2loopback" in obs.last_error
    obs.close()
    assert not fake.streaming
    assert fake.sent("StopStream") == [{}]


SHOW = """\
name: obs show
persona: {name: Tester, languages: [en]}
obs:
  enabled: true
  port: %d
  scenes: {default: Main}
  subtitles: Subtitles
  effects:
    petals: {scene: Main, source: Petals, seconds: 0.2}
tree:
  sequence: steps
  children:
    - scene: ASMR
    - set_text: caption
      source: Subtitles
      text: welcome
    - effect: petals
    - speak: greet
      lines: {en: "hello everyone"}
"""


def test_a_show_tree_drives_obs(fake, harness, tmp_path, monkeypatch):
    monkeypatch.setenv("DIRECTOR_OBS_PASSWORD", "secret")
    monkeypatch.delenv("DIRECTOR_OBS_URL", raising=False)
    h = harness.from_text(tmp_path, SHOW % fake.port)
    h.run_for(3)
    obs = h.director.stage.obs
    assert isinstance(obs, ObsWebSocket)
    assert fake.wait_for(lambda: fake.program == "ASMR"), obs.state()
    # the spoken line became the subtitle when it started
    assert fake.wait_for(lambda: fake.inputs["Subtitles"]["text"] == "hello everyone"), (
        fake.requests)
    assert {"inputName": "Subtitles", "inputSettings": {"text": "welcome"}, "overlay": True} in (
        fake.sent("SetInputSettings"))
    assert fake.wait_for(lambda: fake.enabled.get(("Main", 2)) is False, timeout=3)
    assert fake.sent("SetSceneItemEnabled")[0]["sceneItemEnabled"] is True
