"""The LLM adapters: llama.cpp in-process, or any OpenAI-compatible server, streamed.

In-process (LlamaCppModel): the chat template comes from the GGUF file itself
(llama.cpp applies it), so any instruct GGUF drops in. The model is loaded once
per process; llama.cpp keeps the KV cache of the previous prompt and reuses its
longest common prefix, so the fixed instruction and worked examples (rag.prompt)
are not evaluated again for each question (RAG_PROMPT_CACHE=0 turns that off,
to compare). The reuse stops where the last message begins: that message is
always read whole, in one batch. llama.cpp's logits are not bit-for-bit the
same for a prompt read in one batch and one whose last token alone is read
again (its server documents this for cache_prompt), and with SmolLM2 the same
question asked twice got two different answers; reading the last message whole
makes a prompt's answer independent of what was asked before. One llama.cpp
context generates one answer at a time, so the adapter serialises calls with a
lock: the page and the HTTP API can both ask.

Remote (OpenAICompatModel): llama.cpp's server, vLLM, Ollama or anything else
speaking /v1/chat/completions. The server applies the chat template and
handles concurrency. The prompt must still be trimmed to the context, which
needs token counts: llama.cpp's servers have a tokenize endpoint, which is
used when present (one loopback call per count, cached); other servers get
an estimate of one token per 3 characters. English text averages about 4
characters a token, so the estimate trims passages a little more than needed
rather than overflowing; text in scripts with more tokens per character
(Chinese, Japanese) can still overflow, which the server reports and the
adapter turns into a ContextOverflowError.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from typing import Protocol

from rag.errors import ContextOverflowError, ModelError, RagError
from rag.models import resolve_model
from rag.settings import Settings

log = logging.getLogger(__name__)

Message = dict[str, str]

# The words the model begins its reply with: whether the passages state the answer (rag.prompt).
YES, NO = "YES", "NO"
# Fixed prefixes whose KV cache is kept to restore (the answer's and the check's: 12 and 7 MB
# with the standard model, restored in 2 to 9 ms)
SAVED_PREFIXES = 4


@dataclass(frozen=True)
class Verdict:
    """The model's first word, weighed: the probability that it says YES, the passages answer."""

    p_yes: float
    said: bool = True  # False: the reply began with neither YES nor NO (p_yes 1 by default)


def verdict_of(text: str) -> Verdict | None:
    """The verdict a reply's first word gives: 1 for YES, 0 for NO, 1 for any other word (a
    model that answers straight away; its answer is checked all the same); None while the
    first word may still grow."""
    head = text.lstrip(" *\n")
    word = re.match(r"[A-Za-z]+", head)
    if word is None and not head:
        return None
    if word is not None and word.end() == len(head):
        return None
    said = word is not None and word.group().upper() in (YES, NO)
    return Verdict(0.0 if said and word.group().upper() == NO else 1.0, said)


def without_verdict(text: str) -> str:
    """The reply without its leading YES or NO (and the punctuation after it)."""
    return _VERDICT_WORD.sub("", text, count=1) if _VERDICT_WORD.match(text) else text


_VERDICT_WORD = re.compile(rf"^[\s*]*(?:{YES}|{NO})\b[\s*.,:;!-]*", re.IGNORECASE)


def stream_after_verdict(pieces: Iterator[str]) -> Iterator[Verdict | str]:
    """A reply's verdict, read from its first word, then the rest of its text piece by piece."""
    head = ""
    for piece in pieces:
        head += piece
        verdict = verdict_of(head)
        if verdict is not None:
            yield verdict
            rest = without_verdict(head)
            if rest:
                yield rest
            yield from pieces
            return
    verdict = verdict_of(head + " ")
    yield verdict or Verdict(0.0)  # a reply of one word, or none
    rest = without_verdict(head) if verdict is not None else ""
    if rest:
        yield rest


class ChatModel(Protocol):
    """What the pipeline needs from an LLM (callable from several threads at once)."""

    name: str
    n_ctx: int

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of text."""
        ...

    def stream_chat(self, messages: list[Message], max_tokens: int,
                    temperature: float) -> Iterator[str]:
        """Yield the answer's text piece by piece."""
        ...

    def stream_answer(self, messages: list[Message], max_tokens: int,
                      temperature: float) -> Iterator[Verdict | str]:
        """For a prompt that asks the reply to begin with YES or NO: first the Verdict, then
        the rest of the reply's text piece by piece (closing the generator stops it)."""
        ...


def check_gguf(path: str) -> Path:
    """The path as a Path, if it names a readable GGUF file; ModelError otherwise."""
    if not path:
        raise ModelError("No LLM configured: pass --model with a name from `rag models` or the "
                         "path of a .gguf file, or set RAG_MODEL.")
    file = Path(path).expanduser()
    if file.is_dir():
        raise ModelError(f"{file} is a folder: pass --model with the path of a .gguf file in it, "
                         "or a name from `rag models`.")
    if not file.is_file():
        raise ModelError(f"Model file {file} does not exist: pass --model with the path of a .gguf "
                         "file, or a name from `rag models`.")
    try:
        with open(file, "rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelError(f"Model file {file} cannot be read ({exc.strerror}): check its permissions.") from exc
    if magic != b"GGUF":
        raise ModelError(f"{file} is not a GGUF model (bad header): download a .gguf file, see models.md.")
    return file


class LlamaCppModel:
    """A GGUF chat model run in-process by llama.cpp."""

    def __init__(self, path: str, n_ctx: int, threads: int, seed: int = 0,
                 reuse_prefix: bool = True) -> None:
        file = check_gguf(path)
        self.reuse_prefix = reuse_prefix  # False: every prompt is read whole, as a fresh llama.cpp would
        from llama_cpp import Llama

        try:
            with _quiet_stderr():
                # use_mmap=False: on x86 llama.cpp repacks the quantised weights into anonymous
                # memory for its faster kernels, and a memory-mapped file stays resident beside
                # the copy. The 1.5B model serving measured 1.85 GB RSS mapped, 1.24 GB read in,
                # at the same speed (README, Performance).
                self._llm = Llama(model_path=str(file), n_ctx=n_ctx, n_threads=threads,
                                  n_threads_batch=threads, seed=seed, verbose=False, use_mmap=False)
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"llama.cpp could not load {file} ({exc}): the file may be truncated or "
                             "of an unsupported architecture; download it again, see models.md.") from exc
        self.name = file.name
        self.n_ctx = self._llm.n_ctx()
        # Two generations at once would interleave one KV cache and sampler state.
        self._busy = threading.Lock()
        yes, no = self._first_tokens(YES), self._first_tokens(NO)
        self._yes, self._no = sorted(yes - no), sorted(no - yes)  # a token both may start says neither
        self._earlier = self._earlier_messages_format()
        self._prefixes: dict[tuple[int, ...], bytes] = {}  # KV cache copies of fixed prefixes (_start_from)

    def _earlier_messages_format(self):
        """The GGUF's chat template, without the assistant's opening: it renders the messages
        before the last one as the prompt begins (None for a model without a template)."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self._llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        def text(token: int) -> str:  # as llama-cpp-python gives the template its eos and bos
            return self._llm.detokenize([token], special=True).decode("utf-8", "replace") if token != -1 else ""

        return Jinja2ChatFormatter(template, eos_token=text(self._llm.token_eos()),
                                   bos_token=text(self._llm.token_bos()), add_generation_prompt=False)

    def _earlier_tokens(self, messages: list[Message]) -> list[int]:
        """The tokens of the messages before the last one, which the KV cache may hold from an
        earlier prompt (none when the prefix cache is off, or without a template)."""
        if not self.reuse_prefix or self._earlier is None or len(messages) < 2:
            return []
        earlier = self._earlier(messages=messages[:-1])
        return self._llm.tokenize(earlier.prompt.encode("utf-8"), add_bos=not earlier.added_special,
                                  special=True)

    def _start_from(self, earlier: list[int]) -> None:
        """Hold exactly `earlier` in the KV cache, reused from it, restored from a saved copy, or
        read and saved. Prompts of two kinds (the answer's and the check's, rag.prompt) take
        turns, and each kind's fixed instruction and examples are read once per process."""
        from llama_cpp import llama_state_seq_get_data, llama_state_seq_get_size, llama_state_seq_set_data

        llm = self._llm
        common = llm.longest_token_prefix(llm.input_ids[: llm.n_tokens].tolist(), earlier)
        if common < len(earlier):
            key = tuple(earlier)
            if key in self._prefixes:
                state = self._prefixes.pop(key)
                llm._ctx.kv_cache_seq_rm(-1, 0, -1)
                buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
                llama_state_seq_set_data(llm._ctx.ctx, buffer, len(state), 0)
                llm.input_ids[: len(earlier)] = earlier
            else:
                llm.n_tokens = common
                llm.eval(earlier[common:])
                size = llama_state_seq_get_size(llm._ctx.ctx, 0)
                buffer = (ctypes.c_uint8 * size)()
                state = bytes(buffer[: llama_state_seq_get_data(llm._ctx.ctx, buffer, size, 0)])
            self._prefixes[key] = state  # the most recently used last
            while len(self._prefixes) > SAVED_PREFIXES:
                self._prefixes.pop(next(iter(self._prefixes)))
        # llama.cpp reuses the longest common prefix of the tokens it holds; never the last message
        llm.n_tokens = len(earlier)

    def _first_tokens(self, word: str) -> set[int]:
        """The ids of the tokens a reply beginning with word (in any case) begins with."""
        forms = {word, word.capitalize(), word.lower(), f" {word}", f" {word.capitalize()}"}
        return {self._llm.tokenize(f.encode("utf-8"), add_bos=False, special=False)[0] for f in forms}

    def count_tokens(self, text: str) -> int:
        """Tokens the model's tokenizer makes of text."""
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream_chat(self, messages: list[Message], max_tokens: int,
                    temperature: float) -> Iterator[str]:
        """Yield the answer's text piece by piece; waits while another answer is generated.

        The lock is held until the stream ends or is closed, so a caller that stops
        early must close the generator (the page's Stop and the API do).
        """
        yield from self._stream(messages, max_tokens, temperature, None)

    def stream_answer(self, messages: list[Message], max_tokens: int,
                      temperature: float) -> Iterator[Verdict | str]:
        """The Verdict, weighed from the first token's logits (P(YES) against P(NO), whatever
        is sampled), then the rest of the reply without its YES or NO."""
        first: list[Verdict] = []

        def weigh(input_ids, scores):
            if not first:
                yes, no = np.logaddexp.reduce(scores[self._yes]), np.logaddexp.reduce(scores[self._no])
                first.append(Verdict(float(1.0 / (1.0 + np.exp(no - yes)))))
            return scores

        for item in stream_after_verdict(self._stream(messages, max_tokens, temperature, weigh)):
            yield first[0] if isinstance(item, Verdict) and first else item

    def _stream(self, messages: list[Message], max_tokens: int, temperature: float,
                processor) -> Iterator[str]:
        """The reply's text pieces, under the lock; processor(ids, logits) sees each step's logits."""
        from llama_cpp import LogitsProcessorList

        try:
            with self._busy:
                self._start_from(self._earlier_tokens(messages))
                stream = self._llm.create_chat_completion(
                    messages=messages, max_tokens=max_tokens, temperature=temperature,
                    top_p=0.95, repeat_penalty=1.1, stream=True,
                    logits_processor=LogitsProcessorList([processor]) if processor else None)
                for part in stream:
                    delta = part["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
        except ValueError as exc:
            if "exceed context window" in str(exc):
                raise ContextOverflowError(
                    f"The prompt does not fit the model's {self.n_ctx}-token context: shorten the "
                    "question, lower --k, or raise RAG_N_CTX.") from exc
            raise


class OpenAICompatModel:
    """A chat model behind an OpenAI-compatible server: llama.cpp's server, vLLM, Ollama."""

    def __init__(self, url: str, model: str = "", api_key: str = "", n_ctx: int = 2048,
                 timeout: float = 120.0, seed: int = 0) -> None:
        import httpx
        import openai

        if not url.startswith(("http://", "https://")):
            raise ModelError(f"RAG_LLM_URL must be an http:// or https:// URL such as "
                             f"http://127.0.0.1:8080/v1, not {url!r}: see models.md.")
        self.url = url.rstrip("/")
        self.n_ctx, self.seed, self.timeout = n_ctx, seed, timeout
        limits = httpx.Timeout(timeout, connect=min(timeout, 5.0))
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=limits, headers=headers)  # one connection pool for both
        self._client = openai.OpenAI(base_url=self.url, api_key=api_key or "none",
                                     timeout=limits, max_retries=0, http_client=self._http)
        self.name = model  # named in error messages until the server confirms it
        self.name = self._pick_model(model)
        self._tokenize = self._find_tokenizer()
        # The prompt builder counts the same sentences and instructions again and again.
        self._count = functools.lru_cache(maxsize=4096)(
            lambda text: self._count_remote(self._tokenize, text))

    def count_tokens(self, text: str) -> int:
        """Tokens the server's tokenizer makes of text, or an estimate (see the module docstring)."""
        if self._tokenize is None:
            return -(-len(text) // 3)
        return self._count(text)

    def stream_chat(self, messages: list[Message], max_tokens: int,
                    temperature: float) -> Iterator[str]:
        """Yield the answer's text piece by piece; closing the generator ends the request."""
        import openai

        try:
            stream = self._client.chat.completions.create(
                model=self.name, messages=messages, max_tokens=max_tokens,
                temperature=temperature, top_p=0.95, seed=self.seed, stream=True)
            with stream:
                for chunk in stream:
                    delta = chunk.choices[0].delta.content if chunk.choices else None
                    if delta:
                        yield delta
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc

    def stream_answer(self, messages: list[Message], max_tokens: int,
                      temperature: float) -> Iterator[Verdict | str]:
        """The Verdict read from the reply's first word (a server gives no logits: 1 or 0), then
        the rest of the reply."""
        yield from stream_after_verdict(self.stream_chat(messages, max_tokens, temperature))

    def _pick_model(self, model: str) -> str:
        """The model to ask for, checked against the server's list when it has one."""
        import openai

        try:
            served = [m.id for m in self._client.models.list()]
        except openai.NotFoundError:
            served = []  # a server without /models: trust the setting
        except openai.OpenAIError as exc:
            raise self._error(exc) from exc
        if not model and len(served) == 1:
            return served[0]
        listing = ", ".join(served[:10])
        if not model and not served:
            raise ModelError(f"The LLM server at {self.url} lists no models: check that RAG_LLM_URL "
                             "ends in /v1, or set RAG_LLM_MODEL.")
        if not model:
            raise ModelError(f"The LLM server at {self.url} serves {listing}: set RAG_LLM_MODEL "
                             "to the model to use.")
        if served and model not in served and f"{model}:latest" not in served:
            raise ModelError(f"The LLM server at {self.url} has no model {model!r} (it serves "
                             f"{listing}): set RAG_LLM_MODEL to one of those.")
        return model

    def _find_tokenizer(self) -> str | None:
        """The URL of a llama.cpp tokenize endpoint on the server, if it has one."""
        root = self.url.removesuffix("/v1")
        for endpoint in (f"{root}/extras/tokenize/count", f"{root}/tokenize"):
            try:
                self._count_remote(endpoint, "probe")
                return endpoint
            except (RagError, ValueError, KeyError, TypeError):
                continue
        log.info("%s has no tokenize endpoint: estimating 3 characters a token", self.url)
        return None

    def _count_remote(self, endpoint: str, text: str) -> int:
        """One call to a tokenize endpoint (llama_cpp.server's or llama-server's)."""
        import httpx

        python_server = endpoint.endswith("/count")
        body = {"input": text} if python_server else {"content": text, "add_special": False}
        try:
            response = self._http.post(endpoint, json=body)
        except httpx.HTTPError as exc:
            raise ModelError(f"Cannot reach the LLM server at {self.url} ({exc}): start it, or "
                             "fix RAG_LLM_URL.") from exc
        if response.status_code != 200:
            raise ModelError(f"The LLM server's tokenizer at {endpoint} answered HTTP "
                             f"{response.status_code}: check the server's log.")
        data = response.json()
        return int(data["count"]) if python_server else len(data["tokens"])

    def _error(self, exc: Exception) -> RagError:
        """A library error as a message that says what to do."""
        import openai

        where = f"the LLM server at {self.url}"
        if isinstance(exc, openai.APITimeoutError):
            return ModelError(f"{where.capitalize()} did not answer within {self.timeout:g} s: check "
                              "that it is running and not overloaded, or raise RAG_LLM_TIMEOUT.")
        if isinstance(exc, openai.APIConnectionError):
            return ModelError(f"Cannot reach {where}: start the server (see models.md), or fix "
                              "RAG_LLM_URL.")
        if isinstance(exc, (openai.AuthenticationError, openai.PermissionDeniedError)):
            return ModelError(f"{where.capitalize()} refused the API key (HTTP {exc.status_code}): "
                              "set RAG_LLM_API_KEY to a key it accepts.")
        if isinstance(exc, openai.NotFoundError):
            return ModelError(f"{where.capitalize()} has no model {self.name!r} or no chat endpoint "
                              "(HTTP 404): set RAG_LLM_MODEL to a model it serves, and check that "
                              "RAG_LLM_URL ends in /v1.")
        message = " ".join(str(getattr(exc, "message", exc)).split())[:300]
        if isinstance(exc, openai.BadRequestError) and "context" in message.lower():
            return ContextOverflowError(
                f"The prompt does not fit the served model's context ({message}): lower --k, or set "
                "RAG_N_CTX to the server's context size.")
        if isinstance(exc, openai.APIStatusError):
            return ModelError(f"{where.capitalize()} answered HTTP {exc.status_code} ({message}): "
                              "check the server's log.")
        return ModelError(f"{where.capitalize()} failed ({message}): check the server's log.")


def load_chat_model(settings: Settings) -> ChatModel:
    """The configured LLM: the server at RAG_LLM_URL if set, else the GGUF model in-process
    (a model named in `rag models` is joined and verified first, see rag.models)."""
    if settings.llm_url:
        return OpenAICompatModel(settings.llm_url, settings.llm_model,
                                 settings.llm_api_key.get_secret_value(), settings.n_ctx,
                                 settings.llm_timeout, settings.seed)
    path = resolve_model(settings.model, settings.models_dir)
    return LlamaCppModel(path, settings.n_ctx, settings.threads, settings.seed, settings.prompt_cache)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level load chatter, which verbose=False does not fully stop."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)
