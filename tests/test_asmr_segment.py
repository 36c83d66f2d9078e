"""ASMR segments with sound: the ambience bed under the segment, triggers at their schedule and
pan, whispered lines low-passed by the whisper chain, and smooth gain dips when a gift interrupts
and when the segment resumes. Everything is read back from the show's real program mix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from behaviours.asmr import BED_GAIN, DIP_S, DUCK, FADE_IN_S
from director.clock import SimClock
from director.ledger import Ledger
from director.services.asmr_audio import AMBIENCE_PEAK, BANK
from director.services.audio import SAMPLE_RATE, Mixer
from director.services.tts import FunctionEngine, Prosody, TtsVoice, load_profile
from director.testing import ShowHarness

ROOT = Path(__file__).resolve().parent.parent
SHOW = """\
name: asmr sound test
persona: {name: Tester, languages: [en], topics: [tea]}
interrupts: {gift_tier: 3, super_chat: true}
segments:
  - name: rain
    at: 5
    duration: 30
    ambience: rain
    lines: [hush now]
    triggers:
      - {sound: tapping, every_s: 4, gain: 0.8, pan: -0.8}
tree:
  priority: show
  children:
    - include: trees/urgent.yaml
    - include: trees/segment.yaml
    - idle: idle
      self_talk: false
"""
SUBTREES = {f"trees/{n}.yaml": (ROOT / "trees" / f"{n}.yaml").read_text(encoding="utf-8")
            for n in ("urgent", "segment")}


def rms(x: np.ndarray[Any, Any]) -> float:
    return float(np.sqrt(np.mean(x ** 2)))


@pytest.fixture
def h(harness: type[ShowHarness], tmp_path: Path) -> ShowHarness:
    made = harness.from_text(tmp_path, SHOW, files=SUBTREES)
    BANK.wait()  # the sounds are rendered on a thread when the tree is built
    return made


def test_bed_and_triggers_follow_the_segment_and_dip_smoothly_on_a_gift(h: ShowHarness) -> None:
    h.run_until(15)
    h.send("gift", viewer="Cal", gift="cake", value=50)  # tier 3: interrupts after its combo window
    h.run_until(60)
    mixer = h.director.audio
    [row] = h.report()["segments"]
    start, [stop] = row["start_s"], row["interrupted"]
    cut, resumed = stop["at_s"], stop["resumed_s"]
    assert start == pytest.approx(5, abs=0.1) and 18 <= cut < 19 and resumed > cut + 1

    amb = mixer.render(0, 60, layers=("ambience",))
    win = SAMPLE_RATE // 20  # 50 ms windows
    level = np.sqrt(np.mean(amb[:len(amb) // win * win].reshape(-1, win, 2) ** 2, axis=(1, 2)))
    t = np.arange(len(level)) / 20
    assert level[t < start - 0.1].max() == 0.0  # nothing before the segment
    steady = level[(t > start + FADE_IN_S) & (t < cut)]
    assert steady.min() > 0.02 and steady.max() < AMBIENCE_PEAK * BED_GAIN  # under things
    # the fade-in and the dip are ramps: no 50 ms window jumps by more than a small step
    ramp = level[(t > start - 0.1) & (t < start + FADE_IN_S + 0.2)]
    assert np.abs(np.diff(ramp)).max() < 0.35 * steady.mean()
    dip = level[(t > cut - 0.5) & (t < cut + DIP_S + 0.5)]
    assert np.abs(np.diff(dip)).max() < 0.35 * steady.mean()
    ducked = level[(t > cut + DIP_S + 0.1) & (t < cut + DIP_S + 1.0)]
    assert ducked.mean() == pytest.approx(DUCK * steady.mean(), rel=0.35)
    assert mixer.gain_at("ambience", cut + DIP_S / 2) == pytest.approx((1 + DUCK) / 2, abs=0.05)
    assert mixer.gain_at("ambience", resumed + 3) == 1.0
    end = start + 30 + (resumed - cut)
    assert level[(t > end + 2.5)].max() == 0.0  # faded out after the segment

    # triggers: every 4 s of segment time (the interruption does not count), panned left
    taps = sorted(c.start for c in mixer.clips if c.layer == "triggers")
    due = [start + k for k in range(4, 31, 4)]
    want = [d if d - start < cut - start else d + (resumed - cut) for d in due]
    assert taps == pytest.approx(want, abs=0.1)
    trig = mixer.render(taps[0], taps[0] + 1.0, layers=("triggers",))
    assert rms(trig[:, 0]) > 3 * rms(trig[:, 1]) > 0
    assert mixer.gain_at("triggers", cut + DIP_S + 0.01) == 0.0


def test_whispered_lines_are_low_passed_and_panned(ledger: Ledger) -> None:
    rng = np.random.default_rng(1)

    def noise(_text: str, _p: Prosody) -> np.ndarray[Any, Any]:  # flat spectrum to 24 kHz
        return (0.3 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)

    voice = TtsVoice(clock=SimClock(), ledger=ledger, profile=load_profile(ROOT / "voices" /
                     "sakura.yaml"), engines={"en": FunctionEngine(noise)}, mixer=Mixer())
    try:
        said = voice.speak("Hush.", reason="asmr", emotion="whisper")
        plain = voice.speak("Hi.", reason="chat")
        voice.wait_idle()
        whisper = said.line.audio[0]  # type: ignore[attr-defined]
        assert whisper.ndim == 2  # stereo out of the chain
        spectrum = np.abs(np.fft.rfft(whisper.mean(axis=1)))
        freqs = np.fft.rfftfreq(len(whisper), 1 / SAMPLE_RATE)
        low, high = spectrum[(freqs > 300) & (freqs < 3000)].mean(), spectrum[freqs > 9000].mean()
        assert high < low / 30
        flat = np.abs(np.fft.rfft(plain.line.audio[0]))  # type: ignore[attr-defined]
        f2 = np.fft.rfftfreq(len(plain.line.audio[0]), 1 / SAMPLE_RATE)  # type: ignore[attr-defined]
        assert flat[f2 > 9000].mean() > flat[(f2 > 300) & (f2 < 3000)].mean() / 3
        left, right = whisper[:, 0], whisper[:, 1]
        assert not np.allclose(left, right, atol=1e-3)  # really stereo, not a copy
    finally:
        voice.close()
