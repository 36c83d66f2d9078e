"""The TTS voice: profiles, streaming, cancel fades, the cache and prewarmed gift openings,
language routing, and the real Piper engine (the end-to-end run is in test_voice_e2e.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from director.clock import SimClock
from director.engine import Director
from director.ledger import Ledger
from director.services.audio import FADE_S, SAMPLE_RATE, Mixer
from director.services.tts import (
    FunctionEngine,
    PiperEngine,
    Prosody,
    TtsHandle,
    TtsVoice,
    VoiceProfileError,
    load_profile,
    split_sentences,
)
from director.services.voice import SubtitlesVoice
from director.showfile import load_show

ROOT = Path(__file__).resolve().parent.parent
SAKURA = ROOT / "voices" / "sakura.yaml"


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.5 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)


def make_voice(ledger: Ledger,
               fn: Callable[[str, Prosody], np.ndarray]) -> tuple[TtsVoice, SimClock]:
    clock = SimClock()
    voice = TtsVoice(clock=clock, ledger=ledger, profile=load_profile(SAKURA),
                     engines={"en": FunctionEngine(fn)}, mixer=Mixer())
    return voice, clock


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.perf_counter() + timeout
    while not cond():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.002)


def test_split_sentences() -> None:
    assert split_sentences("Hi there! How are you? Fine.") == ["Hi there!", "How are you?", "Fine."]
    assert split_sentences("谢谢你！欢迎。") == ["谢谢你！", "欢迎。"]


def test_sentences_stream_in_order_and_the_first_plays_before_the_rest_is_made(
        ledger: Ledger) -> None:
    go, release = threading.Event(), threading.Event()
    made: list[str] = []

    def engine(text: str, _p: Prosody) -> np.ndarray:
        (release if made else go).wait(5)
        made.append(text)
        return tone(0.5 if text.startswith("One") else 0.3)

    voice, clock = make_voice(ledger, engine)
    handle = voice.speak("One two. Three four!", reason="chat")
    assert isinstance(handle, TtsHandle) and not handle.started
    go.set()
    wait_for(lambda: len(handle.line.audio) == 1)
    clock.advance(0.1)
    assert not handle.done() and handle.started and len(handle.clips) == 1  # playing already
    assert handle.start == pytest.approx(0.1) and not handle.line.synthesised
    release.set()
    voice.wait_idle()
    clock.advance(0.1)
    assert not handle.done()
    first, second = handle.clips
    assert second.start == pytest.approx(first.end)  # sentence 2 right after sentence 1
    assert made == ["One two.", "Three four!"]
    assert handle.end == pytest.approx(second.end)
    row = ledger.speech_rows()[-1]
    assert (row["start_s"], row["end_s"]) == pytest.approx((handle.start, handle.end))
    while clock.now() < handle.end - 1e-9:
        assert voice.busy
        clock.advance(1 / 30)
    assert handle.done() and not voice.busy
    voice.close()


def test_cancel_mid_line_fades_and_moves_the_end(ledger: Ledger) -> None:
    voice, clock = make_voice(ledger, lambda _t, _p: tone(2.0))
    handle = voice.speak("A long line.", reason="chat")
    voice.wait_idle()
    clock.advance(1 / 30)
    assert not handle.done() and handle.started
    clock.advance(0.5)
    handle.cancel()
    cut = clock.now()
    assert handle.done() and handle.end == pytest.approx(cut)
    row = ledger.speech_rows()[-1]
    assert row["cut"] and row["end_s"] == pytest.approx(cut)
    x = voice.mixer.render(0.0, cut + 0.2)[:, 0]
    steps = np.abs(np.diff(x))
    assert steps.max() < 0.03  # the 200 Hz tone's own step; no click at the cut
    assert np.abs(x[int((cut + FADE_S + 0.002) * SAMPLE_RATE):]).max() == 0.0
    assert not voice.busy
    voice.close()


def test_cache_makes_the_second_gift_line_instant(ledger: Ledger) -> None:
    calls: list[str] = []

    def engine(text: str, _p: Prosody) -> np.ndarray:
        calls.append(text)
        return tone(0.4)

    voice, clock = make_voice(ledger, engine)
    first = voice.speak("Thank you, Leo!", reason="gift", emotion="happy")
    voice.wait_idle()
    while not first.done():
        clock.advance(1 / 30)
    second = voice.speak("Thank you, Leo!", reason="gift", emotion="happy")
    assert isinstance(second, TtsHandle) and second.started  # audio placed at speak()
    assert second.start == pytest.approx(clock.now()) and calls == ["Thank you, Leo!"]
    other = voice.speak("Thank you, Leo!", reason="gift", emotion="sad")  # another emotion
    voice.wait_idle()
    assert len(calls) == 2 and not other.done()
    voice.close()


def test_a_gift_line_starts_from_its_prewarmed_fixed_part(ledger: Ledger) -> None:
    calls: list[str] = []

    def engine(text: str, _p: Prosody) -> np.ndarray:
        calls.append(text)
        return tone(0.4)

    voice, clock = make_voice(ledger, engine)
    queued = voice.prewarm_gifts({"tiers": [
        {"expression": "shy", "lines": {"en": ["Thank you for the {gift}, {viewer}.",
                                               "{viewer}, thanks!"]}},
        {"expression": "happy", "lines": {"en": ["So kind, {viewer}!", "Wow. Thanks!"]}}]})
    assert queued == ["Thank you for the", "So kind,", "Wow. Thanks!"]
    assert voice.wait_prewarmed(5)
    calls.clear()
    handle = voice.speak("Thank you for the rose, Leo.", reason="gift", emotion="shy")
    assert isinstance(handle, TtsHandle) and handle.started  # first audio placed at speak()
    assert handle.start == clock.now() and handle.clips
    voice.wait_idle()
    assert calls == ["rose, Leo."]  # only the part that was not cached
    assert not handle.done() and len(handle.clips) == 2
    assert handle.clips[1].start == pytest.approx(handle.clips[0].end)
    whole = voice.speak("Wow. Thanks!", reason="gift", emotion="happy")
    assert whole.line.synthesised and calls == ["rose, Leo."]  # type: ignore[attr-defined]
    # (a fixed line is cached whole; it waits for the line before it to end)
    other = voice.speak("Thank you for the rose, Leo.", reason="gift", emotion="happy")
    voice.wait_idle()
    assert other.line.skip == 0  # type: ignore[attr-defined]  # another emotion: made anew
    voice.close()


def test_language_routing_zh_falls_back_to_subtitle_timing(
        ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    voice, clock = make_voice(ledger, lambda t, _p: (calls.append(t), tone(0.3))[1])
    with caplog.at_level(logging.WARNING, logger="director.voice"):
        zh = voice.speak("谢谢你的礼物！", reason="gift")
        voice.speak("再见。", reason="gift")
        en = voice.speak("Thanks!", reason="gift")
        voice.wait_idle()
        while not en.done():
            clock.advance(1 / 30)
    assert calls == ["Thanks!"]
    assert zh.end - zh.start > 0.5 and not zh.clips  # timed, silent
    warnings = [r.getMessage() for r in caplog.records
                if "no engine for language" in r.getMessage()]
    assert len(warnings) == 1 and "'zh'" in warnings[0] and "sakura.yaml" in warnings[0]
    voice.close()


@pytest.mark.parametrize(("body", "needle"), [
    ("languages: {en: {engine: festival, model: joe}}",
     "languages.en.engine: unknown engine 'festival'"),
    ("languages: {en: {engine: piper, model: nope.onnx}}",
     "languages.en.model: model file "),
    ("emotions: {angry: {rate: 1}}", "emotions.angry: unknown emotion"),
], ids=["engine", "model", "emotion"])
def test_bad_profile_is_named(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(VoiceProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_bad_profile_falls_back_to_subtitles(tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("languages: {en: {engine: piper, model: missing.onnx}}")
    with caplog.at_level(logging.ERROR, logger="director"):
        director = Director(load_show(ROOT / "shows" / "asmr_night.yaml"),
                            state_dir=tmp_path / "state", speed=20, listeners=[], reload=False,
                            voice_profile=bad)
    try:
        assert isinstance(director.stage.voice, SubtitlesVoice)
        assert any(str(bad) in r.getMessage() and "missing.onnx" in r.getMessage()
                   and "subtitles voice" in r.getMessage() for r in caplog.records)
    finally:
        director.close()


def test_piper_speaks_a_short_line_at_48k() -> None:
    engine = PiperEngine("joe", device="cpu")
    audio = engine.synthesize("Hello there.", Prosody())
    assert audio.dtype == np.float32 and 0.4 < len(audio) / SAMPLE_RATE < 2.0
    assert np.sqrt(np.mean(audio ** 2)) > 0.02 and np.abs(audio).max() <= 1.0
