"""The mic listener: the operator (or a guest) talks to the avatar; speech becomes `Speech` events.

Pipeline, per 100 ms of audio: the source (a sound card through sounddevice, or WAV files played
as if spoken, for rehearsals and tests) → 16 kHz mono → Silero VAD (the ONNX model faster-whisper
ships, run window by window with its LSTM state carried, so it decides as the audio arrives; the
same numbers as faster-whisper's batch `vad_filter`) → at the end of an utterance, faster-whisper
(`vad_filter=True`, whisper's no-speech rule) → `Speech(text, language)` from the viewer
`mic:operator`. The VAD and Whisper each run on their own worker thread: Whisper transcribing one
utterance never delays noticing the next one, and neither blocks the tick.

Barge-in: once the VAD has heard `min_speech_ms` of voice (a cough or a door is shorter), the
listener calls `on_voice_start`; the director sets it to cut the line being said (it fades out
over 30 ms), before the words are even transcribed. When they arrive, speech events are urgent in
the default trees (`interrupts.speech`), so the tree answers the operator before anything else.

An utterance ends after `min_silence_ms` of silence (the main part of speech-end-to-event
latency, with Whisper's time) or at `max_utterance_s`. A missing input device, PortAudio or model
is said once, clearly, and the listener retries every 30 s (a USB microphone plugged in later is
picked up); the show never stops for it. Rejected: transcribing a rolling window continuously
(a Whisper run every second for nothing, most of the time, on 2 cores).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from director.asr import (
    SAMPLE_RATE,
    AsrModelError,
    LoadedModel,
    load_model,
    resolve_device,
    transcribe,
)
from director.clock import Clock
from director.events import Money, Speech, Viewer
from director.listeners.base import Emit, Listener
from director.spec import Bool, Choice, Field, Int, ListOf, Number, Str

Samples = np.ndarray[Any, np.dtype[np.float32]]
WINDOW = 512  # Silero VAD v6 at 16 kHz: 32 ms windows
CONTEXT = 64  # samples of the previous window the model sees
RETRY_S = 30.0


class MicError(RuntimeError):
    """The audio input cannot be opened; the message says what to plug in or set."""


# -- sources --------------------------------------------------------------------------------------
class AudioSource:
    """Where sound comes from: `chunks()` yields mono float32 blocks at `rate` Hz."""

    rate: int = SAMPLE_RATE
    finite = False  # a file source ends; a microphone does not

    def chunks(self) -> AsyncIterator[Samples]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device (called once the listener stops reading)."""


def _resample(samples: Samples, rate: int) -> Samples:
    if rate == SAMPLE_RATE:
        return samples.astype(np.float32, copy=False)
    from scipy.signal import resample_poly  # type: ignore[import-untyped]

    ratio = Fraction(SAMPLE_RATE, rate).limit_denominator(1000)
    out = resample_poly(samples, ratio.numerator, ratio.denominator)
    return np.asarray(out, dtype=np.float32)


def read_mono(path: Path) -> Samples:
    """A WAV file as 16 kHz mono float32 (any rate, 16-bit PCM or what soundfile reads)."""
    try:
        import soundfile  # type: ignore[import-untyped]

        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except ImportError:
        from director.services.audio import read_wav

        rate, data = read_wav(path)
    except Exception as exc:
        raise MicError(f"mic file {path}: cannot read it as sound ({exc})") from None
    return _resample(np.asarray(data, dtype=np.float32).mean(axis=1), int(rate))


class WavSource(AudioSource):
    """WAV files played as if spoken into a microphone, each followed by `gap_s` of silence.

    `clock` set: paced in real time on the show clock (rehearsals); None: as fast as the listener
    reads (tests, benchmarks). `on_chunk(seconds_of_audio_delivered)` is for measurements.
    """

    finite = True

    def __init__(self, paths: Sequence[Path], *, clock: Clock | None = None, gap_s: float = 1.0,
                 lead_s: float = 0.3, chunk_s: float = 0.1) -> None:
        missing = [str(p) for p in paths if not Path(p).is_file()]
        if missing:
            raise MicError(f"mic file not found: {', '.join(missing)} (the `files` setting is "
                           "relative to the working folder)")
        self.paths = [Path(p) for p in paths]
        self.clock = clock
        self.gap_s, self.lead_s = gap_s, lead_s
        self.block = int(chunk_s * SAMPLE_RATE)
        self.delivered_s = 0.0
        self.on_chunk: Callable[[float], None] | None = None

    async def chunks(self) -> AsyncIterator[Samples]:
        audio = [np.zeros(int(self.lead_s * SAMPLE_RATE), dtype=np.float32)]
        for path in self.paths:
            audio += [read_mono(path), np.zeros(int(self.gap_s * SAMPLE_RATE), dtype=np.float32)]
        stream = np.concatenate(audio)
        start = self.clock.now() if self.clock is not None else 0.0
        for i in range(0, len(stream), self.block):
            block = stream[i:i + self.block]
            if self.clock is not None:
                await self.clock.sleep_until(start + (i + len(block)) / SAMPLE_RATE)
            else:
                await asyncio.sleep(0)
            self.delivered_s = (i + len(block)) / SAMPLE_RATE
            if self.on_chunk is not None:
                self.on_chunk(self.delivered_s)
            yield block


class DeviceSource(AudioSource):
    """The operator's microphone (PortAudio through sounddevice), resampled to 16 kHz."""

    def __init__(self, device: str = "", *, chunk_s: float = 0.1) -> None:
        try:
            import sounddevice as sd  # type: ignore[import-untyped]
        except (ImportError, OSError) as exc:
            raise MicError(f"no sound input: sounddevice/PortAudio is not usable ({exc}); "
                           "install libportaudio2, or set `files:` to rehearse with WAV "
                           "files") from None
        self.sd = sd
        self.device: str | int | None = int(device) if device.isdigit() else (device or None)
        try:
            info = sd.query_devices(self.device, kind="input")
        except Exception as exc:
            raise MicError(
                f"no audio input device{f' {device!r}' if device else ''} ({exc}); plug in a "
                "microphone, pick one with `input_device:` (names: python -m sounddevice), or "
                "set `files:` to rehearse with WAV files") from None
        self.rate = int(info["default_samplerate"])
        self.block = int(chunk_s * self.rate)
        self.stream: Any = None

    async def chunks(self) -> AsyncIterator[Samples]:
        loop = asyncio.get_running_loop()
        blocks: asyncio.Queue[Samples] = asyncio.Queue(maxsize=100)

        def callback(indata: Any, _frames: int, _time: Any, _status: Any) -> None:
            block = np.asarray(indata[:, 0], dtype=np.float32).copy()
            loop.call_soon_threadsafe(_offer, blocks, block)

        self.stream = self.sd.InputStream(samplerate=self.rate, channels=1, dtype="float32",
                                          blocksize=self.block, device=self.device,
                                          callback=callback)
        self.stream.start()
        while True:
            yield _resample(await blocks.get(), self.rate)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
            self.stream.close()
            self.stream = None


def _offer(blocks: asyncio.Queue[Samples], block: Samples) -> None:
    if blocks.full():  # the listener fell behind by 10 s: drop the oldest audio
        blocks.get_nowait()
    blocks.put_nowait(block)


# -- voice activity -------------------------------------------------------------------------------
@dataclass(frozen=True)
class VoiceStart:
    at_s: float  # stream seconds where the voice began


@dataclass(frozen=True)
class Utterance:
    audio: Samples
    start_s: float  # stream seconds
    end_s: float  # where the voice stopped (before the closing silence)
    heard_s: float  # stream seconds when the end was decided


class VoiceActivity:
    """Silero VAD run as audio arrives: `feed(block)` → VoiceStart / Utterance events."""

    def __init__(self, *, threshold: float = 0.5, min_speech_ms: int = 250,
                 min_silence_ms: int = 600, pad_ms: int = 200, max_utterance_s: float = 20.0,
                 ) -> None:
        from faster_whisper.vad import get_vad_model  # type: ignore[import-untyped]

        self.session = get_vad_model().session
        self.threshold = threshold
        self.neg_threshold = max(threshold - 0.15, 0.01)
        self.min_speech = int(min_speech_ms * SAMPLE_RATE / 1000)
        self.min_silence = int(min_silence_ms * SAMPLE_RATE / 1000)
        self.max_utterance = int(max_utterance_s * SAMPLE_RATE)
        self.pad = deque[Samples](maxlen=max(1, pad_ms * SAMPLE_RATE // 1000 // WINDOW))
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)
        self.pending = np.zeros(0, dtype=np.float32)
        self.position = 0  # samples consumed
        self.voice: list[Samples] = []  # the utterance so far (with its leading pad)
        self.voice_start = 0
        self.voiced = 0  # samples judged speech in this utterance
        self.silence = 0  # samples of silence since the last speech
        self.confirmed = False

    def probability(self, window: Samples) -> float:
        x = np.concatenate([self.context, window])[None, :]
        out, self.h, self.c = self.session.run(None, {"input": x, "h": self.h, "c": self.c})
        self.context = window[-CONTEXT:]
        return float(np.asarray(out).reshape(-1)[0])

    def feed(self, block: Samples) -> list[VoiceStart | Utterance]:
        events: list[VoiceStart | Utterance] = []
        data = np.concatenate([self.pending, block.astype(np.float32, copy=False)])
        whole = len(data) // WINDOW * WINDOW
        self.pending = data[whole:]
        for i in range(0, whole, WINDOW):
            window = data[i:i + WINDOW]
            prob = self.probability(window)
            self.position += WINDOW
            if not self.voice:
                if prob >= self.threshold:
                    self.voice = [*self.pad, window]
                    self.voice_start = self.position - WINDOW
                    self.voiced, self.silence, self.confirmed = WINDOW, 0, False
                else:
                    self.pad.append(window)
                continue
            self.voice.append(window)
            if prob >= self.neg_threshold:
                self.voiced += WINDOW
                self.silence = 0
            else:
                self.silence += WINDOW
            if not self.confirmed and self.voiced >= self.min_speech:
                self.confirmed = True
                events.append(VoiceStart(self.voice_start / SAMPLE_RATE))
            length = self.position - self.voice_start
            if self.silence >= self.min_silence or length >= self.max_utterance:
                if self.confirmed:
                    events.append(self.finish())
                self._reset()
        return events

    def flush(self) -> list[VoiceStart | Utterance]:
        """The source ended: an utterance still open ends here."""
        events: list[VoiceStart | Utterance] = []
        if self.voice and self.confirmed:
            events.append(self.finish())
        self._reset()
        return events

    def finish(self) -> Utterance:
        # trailing silence is kept only as long as the leading pad
        trailing = max(0, self.silence // WINDOW - (self.pad.maxlen or 0))
        keep = self.voice[: max(1, len(self.voice) - trailing)]
        end = self.position - self.silence
        return Utterance(np.concatenate(keep), self.voice_start / SAMPLE_RATE,
                         end / SAMPLE_RATE, self.position / SAMPLE_RATE)

    def _reset(self) -> None:
        self.voice = []
        self.pad.clear()
        self.voiced = self.silence = 0
        self.confirmed = False


# -- the listener ---------------------------------------------------------------------------------
class MicListener(Listener):
    """Speech from a microphone (or WAV files) as `Speech` events; see the module docstring."""

    name = "mic"
    kind = "mic"
    doc = ("the operator talking to the avatar: voice activity detection + faster-whisper turn a "
           "microphone (or WAV files) into speech events, and a voice cuts the avatar's line")
    settings = {
        "model": Field(Str(non_empty=True), "Whisper model: 'base' (multilingual, default), "
                       "'tiny.en' (English, faster) or a CTranslate2 model folder",
                       default="base"),
        "device": Field(Choice("auto", "cpu", "cuda"), "where Whisper runs (cuda on a GPU PC)",
                        default="auto"),
        "language": Field(Str(), "language code to expect (zh, en, ...); empty: detect",
                          default=""),
        "input_device": Field(Str(), "sound input device name or number (python -m "
                              "sounddevice lists them); empty: the system default",
                              default=""),
        "files": Field(ListOf(Str(non_empty=True)), "WAV files to play as if spoken, instead "
                       "of a microphone (rehearsals), relative to the working folder",
                       default=[]),
        "speaker": Field(Str(non_empty=True), "who is talking (the viewer name on the events)",
                         default="operator"),
        "barge_in": Field(Bool(), "a voice cuts the line the avatar is saying", default=True),
        "threshold": Field(Number(minimum=0.05, maximum=0.95), "VAD speech probability",
                           default=0.5),
        "min_speech_ms": Field(Int(minimum=32), "voice this long counts (shorter: a cough)",
                               default=250),
        "min_silence_ms": Field(Int(minimum=100), "silence this long ends an utterance",
                                default=600),
        "beam_size": Field(Int(minimum=1, maximum=10), "Whisper beam size (1: fastest)",
                           default=5),
        "hotwords": Field(Str(), "names Whisper should expect (e.g. '小樱 Sakura'); they help "
                          "it spell them, and can also bend other words: try it first",
                          default=""),
    }

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, clock: Clock, money: Money) -> Listener:
        files = [Path(f) for f in settings.get("files") or []]
        return cls(clock=clock, files=files, input_device=settings["input_device"],
                   model=settings["model"], device=settings["device"],
                   language=settings["language"], speaker=settings["speaker"],
                   barge_in=settings["barge_in"], threshold=settings["threshold"],
                   min_speech_ms=settings["min_speech_ms"],
                   min_silence_ms=settings["min_silence_ms"], beam_size=settings["beam_size"],
                   hotwords=settings["hotwords"])

    def __init__(self, *, clock: Clock, source: AudioSource | None = None,
                 files: Sequence[Path] = (), input_device: str = "", model: str = "base",
                 device: str = "auto", language: str = "", speaker: str = "operator",
                 barge_in: bool = True, threshold: float = 0.5, min_speech_ms: int = 250,
                 min_silence_ms: int = 600, beam_size: int = 5, hotwords: str = "") -> None:
        super().__init__()
        self.clock = clock
        self.source = source
        self.files = list(files)
        self.input_device = input_device
        self.model, self.device, self.language = model, device, language or None
        self.viewer = Viewer("mic", "operator", speaker)
        self.barge_in = barge_in
        self.threshold, self.min_speech_ms = threshold, min_speech_ms
        self.min_silence_ms = min_silence_ms
        self.beam_size = beam_size
        self.hotwords = hotwords
        #: called on the event loop when a voice starts (the director cuts the current line)
        self.on_voice_start: Callable[[], None] | None = None
        self.session = f"{int(time.time() * 1000):x}"  # msg ids stay unique across restarts
        self._ids = itertools.count(1)
        self.last_error = ""
        self.voice_starts = 0
        # (utterance end in stream s, decided in stream s, emitted: perf_counter, wall of end)
        self.timings: list[dict[str, float]] = []

    def _load(self) -> LoadedModel:
        """The Whisper model; a GPU that fails to load it means the CPU, said once."""
        try:
            return load_model(self.model, device=self.device)
        except AsrModelError:
            raise
        except Exception as exc:
            if resolve_device(self.device) != "cuda":
                raise AsrModelError(f"whisper {self.model}: cannot load it ({exc})") from exc
            self.log.warning("whisper %s could not load on CUDA (%s); using the CPU",
                             self.model, exc)
            self.device = "cpu"
            return load_model(self.model, device="cpu")

    def _open(self) -> AudioSource:
        if self.source is not None:
            return self.source
        if self.files:
            return WavSource(self.files, clock=self.clock)
        return DeviceSource(self.input_device)

    def _fail(self, text: str) -> None:
        self.errors += 1
        self.state = "failed"
        if text != self.last_error:
            self.log.error("%s", text)
        self.last_error = text

    async def run(self, emit: Emit) -> None:
        loop = asyncio.get_running_loop()
        vad_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mic-vad")
        asr_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mic-asr")
        try:
            while True:
                self.state = "connecting"
                try:
                    loaded = await loop.run_in_executor(asr_pool, self._load)
                    self.log.info("whisper %s on %s loaded in %.2f s", loaded.name,
                                  loaded.device, loaded.load_s)
                    source = self._open()
                except (MicError, AsrModelError) as exc:
                    self._fail(str(exc))
                    if self.files or self.source is not None or isinstance(exc, AsrModelError):
                        self.finished = True  # a missing file or model will not appear
                        return
                    await asyncio.sleep(RETRY_S)
                    continue
                try:
                    await self._listen(source, emit, vad_pool, asr_pool)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the device went away, PortAudio failed: retry
                    self._fail(f"sound input stopped: {type(exc).__name__}: {exc}")
                finally:
                    source.close()
                if source.finite:
                    self.finished = True
                    if self.state != "failed":
                        self.state = "finished"
                    return
                await asyncio.sleep(RETRY_S)
        finally:
            vad_pool.shutdown(wait=False, cancel_futures=True)
            asr_pool.shutdown(wait=False, cancel_futures=True)

    async def _listen(self, source: AudioSource, emit: Emit,
                      vad_pool: concurrent.futures.Executor,
                      asr_pool: concurrent.futures.Executor) -> None:
        loop = asyncio.get_running_loop()
        vad = await loop.run_in_executor(vad_pool, lambda: VoiceActivity(
            threshold=self.threshold, min_speech_ms=self.min_speech_ms,
            min_silence_ms=self.min_silence_ms))
        self.state = "connected"
        pending: list[asyncio.Future[None]] = []
        try:
            async for block in source.chunks():
                for event in await loop.run_in_executor(vad_pool, vad.feed, block):
                    self._on_vad(event, emit, asr_pool, pending)
            for event in vad.flush():
                self._on_vad(event, emit, asr_pool, pending)
            await asyncio.gather(*pending)
        finally:
            for future in pending:
                future.cancel()

    def _on_vad(self, event: VoiceStart | Utterance, emit: Emit,
                asr_pool: concurrent.futures.Executor, pending: list[asyncio.Future[None]],
                ) -> None:
        if isinstance(event, VoiceStart):
            self.voice_starts += 1
            if self.barge_in and self.on_voice_start is not None:
                try:
                    self.on_voice_start()
                except Exception:  # the show's hook must not stop listening
                    self.log.exception("barge-in hook failed")
            return
        decided = time.perf_counter()
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(asr_pool, self._transcribe, event.audio)
        pending[:] = [f for f in pending if not f.done()]
        pending.append(asyncio.ensure_future(self._deliver(job, event, decided, emit)))

    def _transcribe(self, audio: Samples) -> tuple[str, str]:
        return transcribe(audio, model=self.model, language=self.language, device=self.device,
                          beam_size=self.beam_size, vad_filter=True, hotwords=self.hotwords)

    async def _deliver(self, job: asyncio.Future[tuple[str, str]], utterance: Utterance,
                       decided: float, emit: Emit) -> None:
        try:
            text, language = await job
        except Exception as exc:  # one bad transcription loses one utterance, not the mic
            self.errors += 1
            self.log.warning("transcription failed: %s", exc)
            return
        if not text:
            return
        event = Speech(platform="mic", msg_id=f"mic-{self.session}-{next(self._ids)}",
                       viewer=self.viewer, text=text, language=language,
                       received=self.clock.now())
        self.timings.append({"end_s": utterance.end_s, "heard_s": utterance.heard_s,
                             "asr_s": time.perf_counter() - decided,
                             "audio_s": len(utterance.audio) / SAMPLE_RATE})
        self.log.info("heard (%s): %s", language, text)
        self.deliver(emit, event)
