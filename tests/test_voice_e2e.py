"""End to end: a headless run of the default show with its real CPU voices (Piper for English,
Kokoro for Chinese) records a WAV in which faster-whisper hears the lines the report says were
spoken, in both languages, exactly where the report puts them, and nothing where it puts none."""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly  # type: ignore[import-untyped]

from director.asr import transcribe
from director.language import detect_language
from director.services.audio import SAMPLE_RATE, read_wav

ROOT = Path(__file__).resolve().parent.parent
EVENTS = [  # two gifts: thanked in English and in Chinese after their combo window
    {"t": 1, "kind": "gift", "msg_id": "e1", "viewer": {"id": "k", "name": "Ken", "level": 0},
     "gift": "Rose", "count": 1, "value": 0.1},
    {"t": 2, "kind": "gift", "msg_id": "e2", "viewer": {"id": "a", "name": "阿杰", "level": 0},
     "gift": "小花花", "count": 1, "value": 1.5},  # the blossom tier: a longer line
]


def sounds(text: str, lang: str) -> list[str]:
    """What to compare: English words, or the pinyin of Chinese characters (whisper may write
    traditional characters or a homophone for a name)."""
    if lang == "zh":
        from pypinyin import lazy_pinyin

        return list(lazy_pinyin(re.sub(r"[^\u4e00-\u9fff]", "", text)))
    return re.findall(r"[a-z']+", text.lower())


def test_default_show_speaks_english_and_chinese_that_whisper_hears(tmp_path: Path) -> None:
    events, wav, report = tmp_path / "ev.jsonl", tmp_path / "show.wav", tmp_path / "r.json"
    events.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in EVENTS))
    env = {k: v for k, v in os.environ.items() if k != "DIRECTOR_VOICE"}
    subprocess.run(
        [sys.executable, "-m", "director", "run", "shows/asmr_night.yaml", "--headless",
         "--duration", "28", "--events", str(events), "--audio-out", str(wav),
         "--state", str(tmp_path / "state"), "--report", str(report), "--no-viewer",
         "--no-reload"], cwd=ROOT, check=True, timeout=120, capture_output=True, env=env)
    rate, x = read_wav(wav)
    assert rate == SAMPLE_RATE
    speech = [s for s in json.loads(report.read_text())["speech"] if s["voice"] == "tts"]
    assert {detect_language(s["text"]) for s in speech if not s["cut"]} == {"en", "zh"}, speech

    hop = rate // 100  # 10 ms frames: sound where the report says, and nowhere else
    loud = np.abs(x[:len(x) // hop * hop, 0]).reshape(-1, hop).max(axis=1) > 0.01
    heard = np.zeros_like(loud)
    edges = [0] + [int(s["start_s"] * 100) for s in speech[1:]] + [len(loud)]
    for i, s in enumerate(speech):
        a, b = int(s["start_s"] * 100), int(s["end_s"] * 100)
        heard[max(0, a - 5):b + 6] = True
        lo = max(0, a - 10, int(speech[i - 1]["end_s"] * 100) if i else 0)
        hi = min(b + 10, edges[i + 1])  # up to where the next line starts
        frames = np.nonzero(loud[lo:hi])[0] + lo
        assert len(frames) and frames[0] / 100 == pytest.approx(s["start_s"], abs=0.05), s
        if not s["cut"]:
            assert frames[-1] / 100 == pytest.approx(s["end_s"], abs=0.05), s
    assert not (loud & ~heard).any(), "sound where the report has no speech"

    for s in speech:
        if s["cut"]:
            continue
        lang = detect_language(s["text"])
        clip = x[int(s["start_s"] * rate):int((s["end_s"] + 0.2) * rate)].mean(axis=1)
        pad = np.zeros(8000, dtype=np.float32)  # half a second of silence either side
        audio = np.concatenate([pad, resample_poly(clip, 1, 3).astype(np.float32), pad])
        text, _ = transcribe(audio, language=lang)
        said, got = sounds(s["text"], lang), sounds(text, lang)
        ratio = difflib.SequenceMatcher(None, said, got).ratio()
        # names and the joins of separately made sentences are where whisper slips; unrelated
        # speech or noise scores well under 0.3
        assert ratio >= 0.6, (s["text"], text)
