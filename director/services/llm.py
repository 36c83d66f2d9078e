"""Dialogue from a language model: llama.cpp in-process, or an OpenAI-compatible server.

Design decisions:

* One worker thread per dialogue runs the model; the tick only starts replies and polls their
  `ReplyStream` (director.services.dialogue). A llama.cpp context is not thread-safe and a 2-core
  machine gains nothing from two generations at once, so replies are generated one at a time, in
  order. The model loads on that thread too, when the show starts running (`prepare`) or with the
  first reply, so a show starts at once, and a Director that never runs never loads it.
* The model is a `TokenSource`: one method, `stream(messages, ...) -> Iterator[str]` of text
  deltas. `LlamaSource` (llama-cpp-python's `create_chat_completion`, which applies the GGUF's own
  chat template, or `chat_format` when the file has none) and `OpenAISource` (`/v1/chat/completions`
  with `stream: true`, server-sent events; llama.cpp's server, vLLM, Ollama) are the real ones;
  `FunctionSource` wraps a plain function (scripted sources in tests, like httpx's MockTransport).
  Rejected: the `openai` package (a dependency for one POST request and an SSE loop).
* Everything between the model and the voice is shared: the persona prompt
  (director.services.persona_prompt), sentence streaming, emotion tags and the cutting of echoes,
  repeats and run-ons (director.services.reply_shaper), and the fallback to the persona's template
  line on timeout, crash or empty output (ReplyStream).
* Cancelling a reply, or the shaper deciding it is long enough, closes the token iterator: the
  model stops at the next token instead of generating into the void.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import Any

from director.events import Event, Speech, SuperChat
from director.language import pick_language
from director.services.dialogue import Dialogue, Reply, ReplyStream, TemplateResponder
from director.services.handles import Handle
from director.services.persona_prompt import (
    Exchange,
    Message,
    ViewerMemoryLike,
    chat_messages,
    talk_messages,
    vary_messages,
    viewer_notes,
)
from director.services.reply_shaper import ReplyShaper, classify_emotion

log = logging.getLogger("director.dialogue")


class DialogueError(RuntimeError):
    """A model that cannot be used (missing file, bad server answer): says what and the fix."""


# -- token sources ----------------------------------------------------------------------------

class TokenSource:
    """A chat model: turns messages into a stream of text deltas. `load` runs on the worker."""

    name = "model"

    def load(self) -> None:
        """Prepare the model (called once, on the dialogue's worker thread)."""

    def stream(self, messages: list[Message], *, max_tokens: int,
               temperature: float) -> Iterator[str]:
        raise NotImplementedError

    def warm(self, messages: list[Message]) -> None:
        """Read a prompt ahead of time (its shared start is then not read again per reply)."""

    def close(self) -> None:
        """Free the model."""


class FunctionSource(TokenSource):
    """A source from a plain function `(messages, max_tokens, temperature) -> Iterator[str]`."""

    name = "function"

    def __init__(self, fn: Callable[[list[Message], int, float], Iterator[str]]) -> None:
        self.fn = fn

    def stream(self, messages: list[Message], *, max_tokens: int,
               temperature: float) -> Iterator[str]:
        return self.fn(messages, max_tokens, temperature)


class LlamaSource(TokenSource):
    """A GGUF model run in-process by llama-cpp-python."""

    name = "llama"

    def __init__(self, *, model_path: Path, n_gpu_layers: int = 0, n_ctx: int = 2048,
                 n_threads: int = 0, chat_format: str = "", seed: int = 7) -> None:
        self.model_path = model_path
        self.n_gpu_layers = n_gpu_layers
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.chat_format = chat_format
        self.seed = seed
        self.llm: Any = None
        self.load_s = 0.0

    def load(self) -> None:
        if self.llm is not None:
            return
        if not self.model_path.is_file():
            raise DialogueError(f"dialogue model not found: {self.model_path} (run "
                                f"`python -m director.llm_models`, or fix dialogue.model)")
        from llama_cpp import Llama

        t0 = time.perf_counter()
        # All cores but one: llama.cpp's threads spin-wait at every step, so when one of them
        # loses its core (to the voice synthesising the sentence before, the renderer, anything)
        # all of them wait; measured on 2 busy cores, 2 threads read a prompt 2x slower than 1.
        threads = self.n_threads or max(1, (os.cpu_count() or 1) - 1)
        self.llm = Llama(model_path=str(self.model_path), n_ctx=self.n_ctx,
                         n_gpu_layers=self.n_gpu_layers, n_threads=threads,
                         n_threads_batch=threads,
                         chat_format=self.chat_format or None, seed=self.seed, verbose=False)
        self.load_s = time.perf_counter() - t0
        log.info("dialogue model %s loaded in %.2f s (n_ctx %d, n_gpu_layers %d)",
                 self.model_path.name, self.load_s, self.n_ctx, self.n_gpu_layers)

    def stream(self, messages: list[Message], *, max_tokens: int,
               temperature: float) -> Iterator[str]:
        self.load()
        chunks = self.llm.create_chat_completion(
            messages=messages, stream=True, max_tokens=max_tokens, temperature=temperature,
            top_p=0.9, repeat_penalty=1.1)
        try:
            for chunk in chunks:
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta
        finally:
            chunks.close()  # stops llama.cpp at the next token

    def warm(self, messages: list[Message]) -> None:
        # llama-cpp-python keeps the evaluated tokens and reuses the longest common prefix, so
        # the persona's system message is read here once instead of in the first reply
        self.load()
        self.llm.create_chat_completion(messages=messages, max_tokens=1, temperature=0.0)

    def close(self) -> None:
        if self.llm is not None:
            self.llm.close()
            self.llm = None


class OpenAISource(TokenSource):
    """An OpenAI-compatible chat server (`POST {url}/chat/completions`, streamed)."""

    name = "openai"

    def __init__(self, *, url: str, model: str = "", api_key: str | None = None,
                 timeout_s: float = 10.0) -> None:
        url = url.rstrip("/")
        self.endpoint = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = timeout_s

    def stream(self, messages: list[Message], *, max_tokens: int,
               temperature: float) -> Iterator[str]:
        body = {"model": self.model or "default", "messages": messages, "stream": True,
                "max_tokens": max_tokens, "temperature": temperature}
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.endpoint, data=json.dumps(body).encode(),
                                         headers=headers, method="POST")
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)
        except urllib.error.HTTPError as exc:
            detail = exc.read(300).decode("utf-8", "replace")
            raise DialogueError(f"{self.endpoint} answered HTTP {exc.code}: {detail}") from None
        except OSError as exc:
            raise DialogueError(f"cannot reach the dialogue server {self.endpoint}: {exc} "
                                "(is it running? check dialogue.url)") from None
        with response:
            for raw in response:  # one SSE line at a time
                line = raw.decode("utf-8", "replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    choices = json.loads(data).get("choices") or []
                except json.JSONDecodeError:
                    raise DialogueError(f"{self.endpoint} sent a malformed event: "
                                        f"{data[:120]!r}") from None
                if choices:
                    delta = (choices[0].get("delta") or {}).get("content")
                    if delta:
                        yield delta


# -- the dialogue -----------------------------------------------------------------------------

@dataclass
class _Job:
    stream: ReplyStream
    messages: list[Message]
    viewer_text: str
    names: tuple[str, ...]
    exchange: tuple[str, str, str] | None  # (viewer, text, user turn) to remember with the answer


class LlmDialogue(Dialogue):
    """Replies in persona from a TokenSource, streamed sentence by sentence."""

    name = "model"
    first_clause_chars = 16  # an opening clause this long is said before its sentence ends

    def __init__(self, *, persona: dict[str, Any], source: TokenSource, rng: random.Random,
                 memory: ViewerMemoryLike | None = None, max_tokens: int = 96,
                 temperature: float = 0.7, timeout_s: float = 10.0, max_sentences: int = 2,
                 max_chars: int = 140, history: int = 2) -> None:
        self.persona = persona
        self.source = source
        self.memory = memory
        self.templates = TemplateResponder(persona, rng)
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.max_sentences = max_sentences
        self.max_chars = max_chars
        self.history: deque[Exchange] = deque(maxlen=history)
        self.recent: deque[str] = deque(maxlen=3)  # the last replies' sentences, not to repeat
        self.load_error: BaseException | None = None
        self.loaded = threading.Event()  # set once the model is loaded (or failed to load)
        self._prepared = False
        self._closing = False
        self._current: ReplyStream | None = None
        self._lock = threading.Lock()
        self._jobs: Queue[_Job | str | None] = Queue()
        self._worker = threading.Thread(target=self._work, name=f"dialogue-{source.name}",
                                        daemon=True)
        self._worker.start()

    # -- the tick side --------------------------------------------------------------------------
    def reply(self, event: Event, *, topic: str = "", segment: str = "") -> Handle[Reply]:
        text = getattr(event, "text", "")
        viewer = event.viewer
        language = pick_language(text or viewer.name, self.persona["languages"])
        kind = "speech" if isinstance(event, Speech) else (
            "super_chat" if isinstance(event, SuperChat) else "chat")
        notes = viewer_notes(self.memory, viewer.platform, viewer.id, viewer.name) \
            if self.memory is not None and not isinstance(event, Speech) else []
        with self._lock:
            # earlier exchanges in the same language only: a small model answers in the
            # language of the last answer it sees, whatever it is told
            history = [ex for ex in self.history
                       if pick_language(ex.text, self.persona["languages"]) == language]
        messages = chat_messages(
            self.persona, viewer=viewer.name, text=text, kind=kind, language=language,
            segment=segment, topic=topic, notes=notes, history=history,
            max_sentences=self.max_sentences)

        def fallback() -> Reply:
            result = self.templates.reply(event, topic=topic, segment=segment).result
            return result or Reply("", "neutral", language)

        return self._start(messages, language=language, fallback=fallback, viewer_text=text,
                           names=(self.persona["name"], viewer.name),
                           exchange=(viewer.name, text, messages[-1]["content"]))

    def talk(self, *, topic: str, language: str, segment: str = "") -> Handle[Reply]:
        messages = talk_messages(self.persona, topic=topic, language=language, segment=segment,
                                 max_sentences=self.max_sentences)

        def fallback() -> Reply:
            return self.templates.talk(topic=topic, language=language).result or Reply("")

        return self._start(messages, language=language, fallback=fallback, viewer_text="",
                           names=(self.persona["name"],), exchange=None)

    def vary(self, line: str, *, language: str, emotion: str = "happy") -> Handle[Reply]:
        messages = vary_messages(self.persona, line=line, language=language,
                                 max_sentences=self.max_sentences)
        return self._start(messages, language=language,
                           fallback=lambda: Reply(line, emotion, language), viewer_text="",
                           names=(self.persona["name"],), exchange=None)

    def _start(self, messages: list[Message], *, language: str, fallback: Callable[[], Reply],
               viewer_text: str, names: tuple[str, ...],
               exchange: tuple[str, str, str] | None) -> ReplyStream:
        stream = ReplyStream(language=language, fallback=fallback,
                             deadline=time.perf_counter() + self.timeout_s,
                             joiner="" if language in ("zh", "ja") else " ")
        if self.load_error is not None:  # a model that failed to load: the persona line now
            stream.complete(None, self.load_error)
        else:
            self._jobs.put(_Job(stream, messages, viewer_text, names, exchange))
        return stream

    def prepare(self) -> None:
        """Load the model in the background now (the show calls this when it starts running).

        Without it the model loads with the first reply. A Director that is built but never run
        (`director view`, tests) never loads it.
        """
        if not self._prepared:
            self._prepared = True
            self._jobs.put("prepare")

    def close(self, *, wait: bool = True) -> None:
        """Stop the worker after the reply in hand; it frees the model itself (never under a
        generation still running). `wait=False` returns at once (a show reload).

        At shutdown (`wait=True`) the reply being generated is cancelled and queued ones are
        dropped, so closing never waits for a generation to run its course.
        """
        if wait:
            self._closing = True
            current = self._current
            if current is not None and not current.done():
                current.cancel()
        self._jobs.put(None)
        if wait:
            self._worker.join(timeout=10)

    # -- the worker thread ----------------------------------------------------------------------
    def _load(self) -> None:
        if self.loaded.is_set():
            return
        try:
            self.source.load()
            language = (self.persona.get("languages") or ["en"])[0]
            self.source.warm(chat_messages(self.persona, viewer="", text="", language=language,
                                           max_sentences=self.max_sentences))
        except Exception as exc:  # the show goes on with the persona's lines
            log.error("the dialogue model could not be loaded (%s); replies use the persona's "
                      "template lines", exc)
            self.load_error = exc
        self.loaded.set()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            self._load()
            if isinstance(job, str):  # "prepare"
                continue
            if self.load_error is not None:
                job.stream.complete(None, self.load_error)
                continue
            if job.stream.stopping or self._closing:  # cancelled or expired while it waited
                job.stream.complete(None)
                continue
            self._current = job.stream
            self._generate(job)
            self._current = None
        self.source.close()

    def _generate(self, job: _Job) -> None:
        stream = job.stream
        with self._lock:
            previous = list(self.recent)
        shaper = ReplyShaper(viewer_text=job.viewer_text, names=job.names, previous=previous,
                             max_sentences=self.max_sentences, max_chars=self.max_chars,
                             first_clause_chars=self.first_clause_chars)
        error: BaseException | None = None
        t0 = time.perf_counter()
        tokens = self.source.stream(job.messages, max_tokens=self.max_tokens,
                                    temperature=self.temperature)
        try:
            for delta in tokens:
                for sentence in shaper.feed(delta):
                    if not stream.push(sentence, shaper.emotion or "neutral"):
                        shaper.stopped = True
                if shaper.stopped or stream.stopping:
                    break
            else:
                for sentence in shaper.finish():
                    stream.push(sentence, shaper.emotion or "neutral")
        except Exception as exc:  # a crashed generation: what was said stands, else fallback
            error = exc
            log.error("dialogue generation failed after %.2f s: %s", time.perf_counter() - t0,
                      exc)
        finally:
            close = getattr(tokens, "close", None)
            if close is not None:
                close()
        if shaper.emotion is None:
            shaper.emotion = shaper.tag or classify_emotion(shaper.text)
        for reason, sentence in shaper.dropped:
            log.info("dialogue: dropped a sentence (%s): %s", reason, sentence)
        if shaper.stop_reason in ("repeat", "run-on"):
            log.info("dialogue: reply cut (%s) after %d sentence(s)", shaper.stop_reason,
                     len(shaper.sentences))
        text = shaper.text
        if not text and error is None:
            log.warning("dialogue: the model's reply was empty after cutting (raw %r); the "
                        "persona line is used", shaper.raw[:200])
        reply = Reply(text, shaper.emotion or "neutral", stream.language) if text else None
        stream.complete(reply, error)
        if text:
            with self._lock:
                self.recent.extend(shaper.sentences)
                if job.exchange is not None:
                    viewer, said, prompt = job.exchange
                    self.history.append(Exchange(viewer, said,
                                                 f"[{shaper.emotion or 'neutral'}] {text}",
                                                 prompt))


class LlamaDialogue(LlmDialogue):
    """Replies from a local GGUF model through llama-cpp-python."""

    name = "llama"

    def __init__(self, *, persona: dict[str, Any], model_path: Path, rng: random.Random,
                 n_gpu_layers: int = 0, n_ctx: int = 2048, n_threads: int = 0,
                 chat_format: str = "", memory: ViewerMemoryLike | None = None,
                 **options: Any) -> None:
        source = LlamaSource(model_path=model_path, n_gpu_layers=n_gpu_layers, n_ctx=n_ctx,
                             n_threads=n_threads, chat_format=chat_format,
                             seed=rng.randrange(1 << 30))
        super().__init__(persona=persona, source=source, rng=rng, memory=memory, **options)


class OpenAIDialogue(LlmDialogue):
    """Replies from an OpenAI-compatible server (llama.cpp's llama-server, vLLM, Ollama)."""

    name = "openai"

    def __init__(self, *, persona: dict[str, Any], url: str, rng: random.Random,
                 model: str = "", api_key: str | None = None,
                 memory: ViewerMemoryLike | None = None, **options: Any) -> None:
        source = OpenAISource(url=url, model=model, api_key=api_key,
                              timeout_s=float(options.get("timeout_s", 10.0)))
        super().__init__(persona=persona, source=source, rng=rng, memory=memory, **options)


# -- from the show ----------------------------------------------------------------------------

def resolve_model(model: str, show_path: Path | None) -> Path:
    """The GGUF a show names: beside the show, in the working folder, or in the project."""
    from director.llm_models import DEFAULT_MODEL, ROOT

    if not model:
        return DEFAULT_MODEL
    path = Path(os.path.expanduser(model))
    if path.is_absolute():
        return path
    candidates = [path]
    if show_path is not None:
        candidates.insert(0, show_path.parent / path)
    candidates.append(ROOT / path)
    return next((c for c in candidates if c.is_file()), candidates[0])


def build_dialogue(settings: dict[str, Any], persona: dict[str, Any], *, rng: random.Random,
                   show_path: Path | None = None, memory: ViewerMemoryLike | None = None,
                   realtime: bool = True) -> Dialogue:
    """The show's dialogue service. Never raises: a model that cannot be used is logged and the
    persona's template lines answer instead (the show goes on).

    `realtime=False` (a replay faster than real time) also answers from the templates: a model
    cannot keep up with a simulated clock, and replays are for checking the show's logic.
    """
    engine = settings.get("engine", "templates")
    templates = TemplateResponder(persona, rng)
    if engine == "templates":
        return templates
    options = {key: settings[key] for key in ("max_tokens", "temperature", "timeout_s",
                                               "max_sentences", "max_chars", "history")
               if key in settings}
    if not realtime:
        if engine != "auto":
            log.info("dialogue: this run is faster than real time, so replies use the persona's "
                     "template lines instead of the %s model", engine)
        return templates
    if engine == "openai":
        url = settings.get("url", "")
        if not url:
            log.error("dialogue.engine is 'openai' but dialogue.url is empty (set it to the "
                      "server's base URL, e.g. http://127.0.0.1:8080/v1); replies use the "
                      "persona's template lines")
            return templates
        key_env = settings.get("api_key_env") or ""
        return OpenAIDialogue(persona=persona, url=url, model=settings.get("model", ""),
                              api_key=os.environ.get(key_env) if key_env else None, rng=rng,
                              memory=memory, **options)
    path = resolve_model(settings.get("model", ""), show_path)
    if not path.is_file():
        if engine == "auto":
            log.info("dialogue: the default model %s is not installed (run `python -m "
                     "director.llm_models`); replies use the persona's template lines", path)
        else:
            log.error("dialogue.model %s not found (looked beside the show, in the working "
                      "folder and in the project); replies use the persona's template lines",
                      path)
        return templates
    return LlamaDialogue(persona=persona, model_path=path, rng=rng,
                         n_gpu_layers=int(settings.get("n_gpu_layers", 0)),
                         n_ctx=int(settings.get("n_ctx", 2048)),
                         n_threads=int(settings.get("n_threads", 0)),
                         chat_format=settings.get("chat_format", ""), memory=memory, **options)
