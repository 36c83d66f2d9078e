"""The mic listener: WAVs made by the project's own TTS go through the real Silero VAD and
faster-whisper; barge-in cuts the avatar's line and the operator is answered first.

No sound card is opened: `WavSource` plays the files as if spoken. Whisper runs are few (tiny.en
for English; base once, for Chinese made with the Kokoro voice).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from test_asr import speak_wav

from director.asr import SAMPLE_RATE, load_model
from director.clock import SimClock
from director.engine import Director
from director.errors import ShowErrors
from director.events import Speech
from director.listeners.mic import (
    DeviceSource,
    MicError,
    MicListener,
    Utterance,
    VoiceActivity,
    VoiceStart,
    WavSource,
    read_mono,
)
from director.services.audio import write_wav
from director.showfile import load_show
from director.testing import RecordingEmit


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("speech")
    return {
        "story": speak_wav("Sakura, please tell us a story about the rain.",
                           folder / "story.wav"),
        "game": speak_wav("What game are we playing tonight?", folder / "game.wav"),
    }


def test_vad_hears_where_speech_starts_and_ends(wavs: dict[str, Path]) -> None:
    speech = read_mono(wavs["story"])
    lead, tail = np.zeros(SAMPLE_RATE // 2, np.float32), np.zeros(SAMPLE_RATE, np.float32)
    vad = VoiceActivity()
    events = []
    stream = np.concatenate([lead, speech, tail])
    for i in range(0, len(stream), 1600):
        events += vad.feed(stream[i:i + 1600])
    assert [type(e) for e in events] == [VoiceStart, Utterance], events
    start, utterance = events
    assert isinstance(start, VoiceStart) and isinstance(utterance, Utterance)
    spoken = np.flatnonzero(np.abs(speech) > 0.02)
    first, last = (0.5 + spoken[0] / SAMPLE_RATE, 0.5 + spoken[-1] / SAMPLE_RATE)
    assert abs(start.at_s - first) < 0.15, (start, first)
    assert abs(utterance.end_s - last) < 0.3, (utterance.end_s, last)
    assert utterance.heard_s - utterance.end_s == pytest.approx(0.6, abs=0.07)
    # a click shorter than min_speech_ms, or silence, is not a voice
    quiet = VoiceActivity()
    blip = np.concatenate([lead, speech[int(spoken[0]):int(spoken[0]) + 1600], tail, tail])
    assert quiet.feed(blip) + quiet.flush() == []


def test_mic_turns_spoken_wavs_into_speech_events(wavs: dict[str, Path]) -> None:
    emit = RecordingEmit()
    mic = MicListener(clock=SimClock(), source=WavSource([wavs["story"], wavs["game"]]),
                      model="tiny.en", speaker="Host")
    asyncio.run(mic.run(emit))
    assert mic.finished and mic.state == "finished" and mic.errors == 0, mic.last_error
    assert mic.voice_starts == 2
    texts = [e.text.lower() for e in emit.events]
    assert len(texts) == 2, texts
    assert "tell us a story about the" in texts[0] and "tonight" in texts[1], texts
    event = emit.events[0]
    assert isinstance(event, Speech) and event.language == "en" and event.platform == "mic"
    assert (event.viewer.id, event.viewer.name) == ("operator", "Host")
    assert len({e.msg_id for e in emit.events}) == 2
    assert all(t["asr_s"] > 0 and t["heard_s"] > t["end_s"] for t in mic.timings)


def test_the_multilingual_model_hears_chinese(tmp_path: Path) -> None:
    wav = speak_wav("今天晚上给我们讲一个下雨的故事吧。", tmp_path / "zh.wav", lang="zh")
    emit = RecordingEmit()
    asyncio.run(MicListener(clock=SimClock(), source=WavSource([wav]), model="base").run(emit))
    assert len(emit.events) == 1
    event = emit.events[0]
    assert isinstance(event, Speech) and event.language == "zh", event
    assert "下雨的故事" in event.text, event.text


SHOW = """\
name: barge-in test
persona:
  name: Tester
  languages: [en]
  replies:
    chat: {{en: "{long_line}"}}
    speech: {{en: "OP {{text}}"}}
chat: {{reply_interval_s: 1}}
platforms:
  - kind: sim
    events: events.jsonl
  - kind: mic
    model: tiny.en
    device: cpu
    files: [{wav}]
tree:
  priority: show
  children:
    - reply_chat: answer the operator
      kinds: [speech]
    - reply_chat: chat
      kinds: [chat]
    - idle: idle
      self_talk: false
"""


def test_barge_in_cuts_the_line_and_the_operator_is_answered_first(
        tmp_path: Path, wavs: dict[str, Path]) -> None:
    # the operator starts talking 2 s into the mic "recording", while a long reply is said
    wav = tmp_path / "operator.wav"
    padded = np.concatenate([np.zeros(2 * SAMPLE_RATE, np.float32), read_mono(wavs["game"])])
    from scipy.signal import resample_poly

    write_wav(wav, np.repeat(resample_poly(padded, 3, 1).astype(np.float32)[:, None], 2, axis=1))
    (tmp_path / "events.jsonl").write_text(
        '{"t": 0.2, "kind": "chat", "msg_id": "c1", "viewer": {"id": "u1", "name": "Ann"}, '
        '"text": "tell me everything"}\n', encoding="utf-8")
    long_line = " ".join(["and then the rain kept falling softly on the roof"] * 7)
    (tmp_path / "show.yaml").write_text(SHOW.format(long_line=long_line, wav=wav),
                                        encoding="utf-8")
    show = load_show(tmp_path / "show.yaml")
    load_model("tiny.en", device="cpu")  # warm: the voice must come while the line is said
    director = Director(show, state_dir=tmp_path / "state", speed=4.0, reload=False)
    assert any(isinstance(x, MicListener) and x.on_voice_start is not None
               for x in director.listeners)

    def stop_once_answered(_cost: float) -> None:
        op = [r for r in director.ledger.speech_rows() if r["text"].startswith("OP ")]
        if op and director.clock.now() >= op[0]["end_s"]:
            director.stop()

    director.tick_watchers.append(stop_once_answered)
    try:
        asyncio.run(director.run(duration=120))
        report = director.report()
    finally:
        director.close()
    speech = report["speech"]
    assert speech[0]["text"] == long_line and speech[0]["cut"], speech
    assert speech[0]["end_s"] - speech[0]["start_s"] < 15, speech  # the line was ~27 s long
    assert report["barge_ins"] == 1
    op = [s for s in speech if s["text"].startswith("OP ")]
    assert len(op) == 1 and "tonight" in op[0]["text"].lower(), speech
    assert op[0]["start_s"] >= speech[0]["end_s"]
    rows = {e["msg_id"]: e for e in report["events"]}
    mic_rows = [e for e in report["events"] if e["platform"] == "mic"]
    assert len(mic_rows) == 1 and mic_rows[0]["outcome"] == "replied", report["events"]
    assert rows["c1"]["outcome"] == "replied"


def test_without_a_device_or_file_the_error_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(MicError, match=r"no audio input device.*`files:`"):
        DeviceSource("")
    mic = MicListener(clock=SimClock(), files=[tmp_path / "missing.wav"], model="tiny.en")
    asyncio.run(mic.run(RecordingEmit()))
    assert mic.finished and mic.state == "failed" and "missing.wav" in mic.last_error


def test_mic_settings_are_checked_with_the_show(tmp_path: Path) -> None:
    base = "name: t\npersona: {name: T}\ntree: {idle: idle}\nplatforms:\n"
    path = tmp_path / "show.yaml"
    path.write_text(base + "  - {kind: mic, device: cuda, model: tiny.en, language: zh}\n",
                    encoding="utf-8")
    plat = load_show(path).platforms[0]
    assert (plat["device"], plat["model"], plat["barge_in"]) == ("cuda", "tiny.en", True)
    path.write_text(base + "  - {kind: mic, device: tpu}\n", encoding="utf-8")
    with pytest.raises(ShowErrors, match="tpu"):
        load_show(path)
